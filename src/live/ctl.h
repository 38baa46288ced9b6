/* The control socket: a unix stream socket with a one-line protocol.
 *
 * The client sends one request line, at most CTL_MAX_REQUEST bytes with
 * its newline; the daemon answers "OK" or "ERR" on the first line, then
 * the body, and closes the connection. Requests are handled whole inside
 * one loop iteration; replies are written without blocking, so a client
 * that does not read cannot stall packet processing: it is dropped when
 * its reply is not gone within CTL_TIMEOUT_SEC, as is one that never
 * finishes its request. */
#ifndef RCPTGUARD_CTL_H
#define RCPTGUARD_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_MAX_REQUEST 1024
#define CTL_MAX_CLIENTS 16
#define CTL_TIMEOUT_SEC 10

/* Exit codes of the client commands. */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_REFUSED = 1,	/* the daemon answered ERR */
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_NOT_RUNNING = 3,
	CTL_EXIT_PROTOCOL = 4,	/* no answer in time, or a garbled one */
};

struct ctl_stats {
	uint64_t requests;
	uint64_t errors;	/* malformed, oversized, or refused */
	uint64_t dropped;	/* timed out or over the client limit */
};

struct ctl_server;

/* handler: fill out with the reply body; return 0 for OK, else ERR. */
typedef int (*ctl_handler)(void *arg, char *request, FILE *out);

/* Make the socket (mode 0600) and, if missing, its directory. NULL with
 * the reason in err. */
struct ctl_server *ctl_open(const char *path, int epfd, ctl_handler h, void *arg, char *err,
			    size_t errlen);
/* Whether fd (from epoll) is the listening socket or one of its clients;
 * if so, handle what is ready and return true. */
bool ctl_event(struct ctl_server *s, int fd, uint32_t events);
/* Once a second: drop clients past their time. */
void ctl_tick(struct ctl_server *s);
const struct ctl_stats *ctl_stats(const struct ctl_server *s);
void ctl_close(struct ctl_server *s);

#endif
