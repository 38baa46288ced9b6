#ifndef RCPTGUARD_CLIENT_H
#define RCPTGUARD_CLIENT_H

#include <stdio.h>

/* The client side: send request, copy the body to out (OK) or err (ERR).
 * Returns an enum ctl_exit. */
int ctl_request(const char *path, const char *request, FILE *out, FILE *err);

#endif
