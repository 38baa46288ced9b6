/* nfqfloor [QUEUE]: the least an NFQUEUE consumer can do: read each
 * packet and accept it, with the same socket settings and batch verdicts
 * as rcptguard, but no parsing. Runs until SIGTERM or SIGINT, then prints
 * packets=N. The benchmark compares rcptguard's packet rate with this. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "nfqcap.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct config cfg;
	char err[256];
	struct nfqcap *q;
	struct pollfd pfd;

	config_defaults(&cfg);
	if (argc > 1)
		cfg.queue_first = cfg.queue_last = (uint16_t)atoi(argv[1]);
	q = nfqcap_open(&cfg, err, sizeof(err));
	if (!q) {
		fprintf(stderr, "nfqfloor: %s\n", err);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	fprintf(stderr, "nfqfloor: ready\n");
	pfd.fd = nfqcap_fd(q);
	pfd.events = POLLIN;
	while (!stop)
		if (poll(&pfd, 1, 200) == 1)
			nfqcap_read(q, NULL);
	printf("packets=%llu enobufs=%llu\n", (unsigned long long)nfqcap_stats(q)->packets,
	       (unsigned long long)nfqcap_stats(q)->enobufs);
	nfqcap_close(q);
	return 0;
}
