/* How the enforcer's netlink messages reach nf_tables: a small interface
 * with the kernel's socket as one implementation, and a fake in the tests
 * that parses what it is sent, answers as the kernel would, and refuses
 * what a test tells it to. Everything above it (rule building, element
 * batches, the retry of refused elements, reconciliation) is tested
 * without a kernel. */
#ifndef RCPTGUARD_NFTNL_TRANSPORT_H
#define RCPTGUARD_NFTNL_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

struct nft_transport {
	/* A batch (its begin and end messages included) of which the
	 * messages with sequence numbers [first, first + n) want an answer.
	 * failed[i] (for i < nfailed) gets the errno of message first + i.
	 * Returns how many failed (the kernel then applied none: a batch is
	 * atomic), or -1 with errno when the exchange failed or the batch
	 * was refused whole (EPERM without CAP_NET_ADMIN). */
	int (*exchange)(struct nft_transport *t, const void *buf, size_t len, uint32_t first,
			uint32_t n, int *failed, size_t nfailed);
	/* One request (seq) whose answers go to cb until the kernel is done:
	 * a dump, or a get with NLM_F_ACK. 0, or -1 with errno. */
	int (*request)(struct nft_transport *t, const void *req, size_t len, uint32_t seq,
		       mnl_cb_t cb, void *data);
	void (*close)(struct nft_transport *t);
};

/* The kernel's nf_tables over a netlink socket. NULL with the cause. */
struct nft_transport *nft_transport_netlink(char *err, size_t errlen);

#endif
