/* The nf_tables netlink socket behind struct nft_transport. */
#include "nftnl_transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <linux/netfilter/nfnetlink.h>

#include "util.h"

struct nl_transport {
	struct nft_transport t;
	struct mnl_socket *nl;
	uint32_t portid;
};

static int nl_exchange(struct nft_transport *tp, const void *buf, size_t len, uint32_t first,
		       uint32_t n, int *failed, size_t nfailed)
{
	struct nl_transport *t = (struct nl_transport *)tp;
	uint32_t got = 0;
	int bad = 0;
	char rbuf[65536];

	if (mnl_socket_sendto(t->nl, buf, len) < 0)
		return -1;
	while (got < n) {
		ssize_t r = mnl_socket_recvfrom(t->nl, rbuf, sizeof(rbuf));
		struct nlmsghdr *nlh = (struct nlmsghdr *)rbuf;
		int left = (int)r;

		if (r < 0)
			return -1;
		while (mnl_nlmsg_ok(nlh, left)) {
			if (nlh->nlmsg_type == NLMSG_ERROR && nlh->nlmsg_seq == first - 1) {
				/* An answer to the batch itself: refused whole. */
				const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);

				if (err->error) {
					errno = -err->error;
					return -1;
				}
			} else if (nlh->nlmsg_type == NLMSG_ERROR && nlh->nlmsg_seq >= first &&
				   nlh->nlmsg_seq < first + n) {
				const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);

				got++;
				if (err->error) {
					bad++;
					if (failed && nlh->nlmsg_seq - first < nfailed)
						failed[nlh->nlmsg_seq - first] = -err->error;
				}
			}
			nlh = mnl_nlmsg_next(nlh, &left);
		}
	}
	return bad;
}

static int nl_request(struct nft_transport *tp, const void *req, size_t len, uint32_t seq,
		      mnl_cb_t cb, void *data)
{
	struct nl_transport *t = (struct nl_transport *)tp;
	size_t bufsz = 1 << 20;
	char *buf;
	int rc;

	if (mnl_socket_sendto(t->nl, req, len) < 0)
		return -1;
	buf = xcalloc(1, bufsz);
	do {
		ssize_t n = mnl_socket_recvfrom(t->nl, buf, bufsz);

		if (n < 0) {
			free(buf);
			return -1;
		}
		rc = mnl_cb_run(buf, (size_t)n, seq, t->portid, cb, data);
	} while (rc > 0);
	free(buf);
	return rc < 0 ? -1 : 0;
}

static void nl_close(struct nft_transport *tp)
{
	struct nl_transport *t = (struct nl_transport *)tp;

	if (t->nl)
		mnl_socket_close(t->nl);
	free(t);
}

struct nft_transport *nft_transport_netlink(char *err, size_t errlen)
{
	struct nl_transport *t = xcalloc(1, sizeof(*t));
	int sz = 16 << 20;
	/* The kernel answers every message; should an answer never come, the
	 * loop must not wait for it forever. */
	struct timeval tv = { .tv_sec = 1 };
	int fd;

	t->t.exchange = nl_exchange;
	t->t.request = nl_request;
	t->t.close = nl_close;
	t->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!t->nl || mnl_socket_bind(t->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "netlink: %s", strerror(errno));
		nl_close(&t->t);
		return NULL;
	}
	t->portid = mnl_socket_get_portid(t->nl);
	fd = mnl_socket_get_fd(t->nl);
	/* Room for a batch of many thousand elements and their answers. The
	 * FORCE variants need CAP_NET_ADMIN; without it the default buffers
	 * still work for small batches, and a large one reports ENOBUFS. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		snprintf(err, errlen, "netlink: cannot set a receive timeout: %s", strerror(errno));
		nl_close(&t->t);
		return NULL;
	}
	return &t->t;
}
