/* The daemon's log: standard error in the foreground (-f), syslog
 * (LOG_DAEMON) otherwise. One line per message. */
#ifndef RCPTGUARD_LOG_H
#define RCPTGUARD_LOG_H

#include <syslog.h>

#include <stdio.h>

void log_open(int to_stderr);
/* Every line to f instead (the tests read what the daemon logs). */
void log_to(FILE *f);
__attribute__((format(printf, 2, 3)))
void logmsg(int prio, const char *fmt, ...);

#endif
