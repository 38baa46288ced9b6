/* NFQUEUE capture: packets lent by the kernel, parsed, and accepted at once
 * (rcptguard never holds or changes mail traffic). libmnl with
 * libnetfilter_queue's netlink-message helpers. */
#ifndef RCPTGUARD_NFQCAP_H
#define RCPTGUARD_NFQCAP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "pipeline.h"

struct nfqcap_stats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t truncated;	/* the kernel copied less than the packet */
	uint64_t enobufs;	/* receive buffer overran: the kernel accepted them unseen */
	uint64_t verdicts;	/* batch verdict messages sent */
	uint64_t verdict_errors;
	uint64_t bad_messages;
	uint64_t marked;	/* sessions let past the queue from here (opaque_mark) */
};

struct nfqcap;

/* Bind the configured queues; on failure returns NULL with the reason. */
struct nfqcap *nfqcap_open(const struct config *cfg, char *err, size_t errlen);
/* Queues first to last only, on a socket of their own (a worker's). */
struct nfqcap *nfqcap_open_range(const struct config *cfg, uint16_t first, uint16_t last, char *err,
				 size_t errlen);
int nfqcap_fd(const struct nfqcap *q);
/* Read what is waiting (bounded), feed the pipeline, accept it all. With
 * p NULL, only accept: the floor the benchmark compares against. */
void nfqcap_read(struct nfqcap *q, struct pipeline *p);
/* Called after each read's packets are parsed and before they are
 * accepted: bans decided on them go into the kernel before any later
 * packet of the banned source is let through. */
void nfqcap_set_hook(struct nfqcap *q, void (*fn)(void *), void *arg);
const struct nfqcap_stats *nfqcap_stats(const struct nfqcap *q);
void nfqcap_close(struct nfqcap *q);

#endif
