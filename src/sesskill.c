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

static bool victim(const struct inet_diag_msg *m, const struct prefix *src, const struct config *cfg)
{
	struct ipaddr a = { .af = src->a.af };

	if (!config_is_smtp_port(cfg, ntohs(m->id.idiag_sport)))
		return false;
	memcpy(a.b, m->id.idiag_dst, a.af == 4 ? 4 : 16);
	return prefix_contains(src, &a);
}

int sessions_kill(const struct prefix *src, const struct config *cfg)
{
	struct inet_diag_sockid ids[MAX_VICTIMS];
	struct req q = { 0 };
	char buf[32768];
	int fd, n = 0, killed = 0;
	bool done = false;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -1;
	{
		struct timeval tv = { .tv_sec = 1 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	q.nlh.nlmsg_len = sizeof(q);
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	q.r.sdiag_family = src->a.af == 4 ? AF_INET : AF_INET6;
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
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = true;
				break;
			}
			if (n < MAX_VICTIMS && victim(NLMSG_DATA(h), src, cfg))
				ids[n++] = ((struct inet_diag_msg *)NLMSG_DATA(h))->id;
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
				killed++;
		}
	}
	close(fd);
	return killed;
fail:
	{
		int e = errno;

		close(fd);
		errno = e;
	}
	return -1;
}
