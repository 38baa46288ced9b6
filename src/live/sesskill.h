/* Cut the established TCP sessions of a banned source to the SMTP ports on
 * this host (SOCK_DESTROY over inet_diag, as ss -K does), so that the mail
 * server's process is freed at once instead of waiting for its timeout. */
#ifndef RCPTGUARD_SESSKILL_H
#define RCPTGUARD_SESSKILL_H

#include "addr.h"
#include "config.h"

/* For n sources, with one socket dump per family however many: a wave
 * bans dozens at once, and a dump each would stall the loop. killed[i]
 * gets source i's count of sockets destroyed; -1 with errno when a dump
 * failed. */
int sessions_kill_many(const struct prefix *src, size_t n, const struct config *cfg, int *killed);

#endif
