#include "sesskill.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Every state in which a peer still holds a server process. */
#define KILL_STATES ((1u << TCP_ESTABLISHED) | (1u << TCP_SYN_RECV) | (1u << TCP_CLOSE_WAIT) | \
		     (1u << TCP_FIN_WAIT1) | (1u << TCP_FIN_WAIT2) | (1u << TCP_LAST_ACK))
#define MAX_VICTIMS 256

struct req {
	struct nlmsghdr nlh;
	struct inet_diag_req_v2 r;
};

/* Which of the n sources m's peer belongs to, or -1. */
static int victim(const struct inet_diag_msg *m, const struct prefix *src, size_t n,
		  const struct config *cfg)
{
	struct ipaddr a = { .af = m->idiag_family == AF_INET ? 4 : 6 };

	if (!config_is_smtp_port(cfg, ntohs(m->id.idiag_sport)))
		return -1;
	memcpy(a.b, m->id.idiag_dst, a.af == 4 ? 4 : 16);
	for (size_t i = 0; i < n; i++)
		if (src[i].a.af == a.af && prefix_contains(&src[i], &a))
			return (int)i;
	return -1;
}

/* One dump of family af's sockets, then a destroy per victim. */
static int kill_family(int af, const struct prefix *src, size_t nsrc, const struct config *cfg,
		       int *killed)
{
	struct inet_diag_sockid ids[MAX_VICTIMS];
	int owner[MAX_VICTIMS];
	struct req q = { 0 };
	char buf[32768];
	int fd, n = 0;
	bool done = false;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -1;
	{
		struct timeval tv = { .tv_sec = 1 };

		/* Without a timeout a lost answer would hang the loop. */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
			close(fd);
			return -1;
		}
	}
	q.nlh.nlmsg_len = sizeof(q);
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	q.r.sdiag_family = af == 4 ? AF_INET : AF_INET6;
	q.r.sdiag_protocol = IPPROTO_TCP;
	q.r.idiag_states = KILL_STATES;
	if (send(fd, &q, sizeof(q), 0) < 0)
		goto fail;
	/* Collect first, destroy after: the dump must not change under us. */
	while (!done) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;

		if (len < 0)
			goto fail;
		for (; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			int who;

			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = true;
				break;
			}
			if (n < MAX_VICTIMS && (who = victim(NLMSG_DATA(h), src, nsrc, cfg)) >= 0) {
				owner[n] = who;
				ids[n++] = ((struct inet_diag_msg *)NLMSG_DATA(h))->id;
			}
		}
	}
	for (int i = 0; i < n; i++) {
		struct req k = q;

		k.nlh.nlmsg_type = SOCK_DESTROY;
		k.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
		k.r.idiag_states = KILL_STATES;
		k.r.id = ids[i];
		if (send(fd, &k, sizeof(k), 0) < 0)
			continue;
		if (recv(fd, buf, sizeof(buf), 0) > 0) {
			struct nlmsghdr *h = (struct nlmsghdr *)buf;

			if (h->nlmsg_type == NLMSG_ERROR &&
			    ((struct nlmsgerr *)NLMSG_DATA(h))->error == 0)
				killed[owner[i]]++;
		}
	}
	close(fd);
	return 0;
fail:
	{
		int e = errno;

		close(fd);
		errno = e;
	}
	return -1;
}

int sessions_kill_many(const struct prefix *src, size_t n, const struct config *cfg, int *killed)
{
	bool fam[2] = { false, false };
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		killed[i] = 0;
		fam[src[i].a.af == 6] = true;
	}
	for (int f = 0; f < 2; f++)
		if (fam[f] && kill_family(f ? 6 : 4, src, n, cfg, killed) < 0)
			rc = -1;
	return rc;
}
