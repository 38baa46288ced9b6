/* Least privilege: once its sockets and ruleset are open, the daemon runs
 * as an unprivileged user with only the capabilities it still uses:
 *
 *   CAP_NET_ADMIN  every nfnetlink message (queue verdicts, set elements,
 *                  re-installing a flushed table) and SOCK_DESTROY;
 *   CAP_NET_RAW    kept with capture = pcap (the socket is open already;
 *                  kept so that a re-open after an interface change works).
 *
 * Every other capability leaves the bounding set too, and no_new_privs is
 * set, so nothing the process could execute would get any back. */
#ifndef RCPTGUARD_PRIVS_H
#define RCPTGUARD_PRIVS_H

#include <stdbool.h>
#include <stddef.h>

/* user "root": keep everything (logged). 0, or -1 with the reason. */
int privs_drop(const char *user, bool keep_raw, char *err, size_t errlen);

#endif
