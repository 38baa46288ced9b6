#include "nfqcap.h"
#include "clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "decode.h"

/* Room for many packets a read; one GSO packet alone can be 64 KB. */
#define NFQ_BUF (1u << 20)
/* Reads per wakeup before the loop looks at its other descriptors. */
#define NFQ_READS_PER_CALL 16
#define NFQ_MAX_QUEUES 64

struct nfqcap {
	struct mnl_socket *nl;
	unsigned portid;
	uint16_t first, last;
	char *buf;
	/* The highest packet id seen per queue since the last verdict. */
	uint32_t max_id[NFQ_MAX_QUEUES];
	uint8_t pending[NFQ_MAX_QUEUES];
	struct nfqcap_stats st;
	struct pipeline *p;	/* during nfqcap_read */
	uint32_t opaque_mark;	/* with manage_queue: see on_packet */
	void (*hook)(void *);
	void *hook_arg;
};

void nfqcap_set_hook(struct nfqcap *q, void (*fn)(void *), void *arg)
{
	q->hook = fn;
	q->hook_arg = arg;
}

/* Send one message and wait for the kernel's answer to it. */
static int talk(struct nfqcap *q, struct nlmsghdr *nlh)
{
	char ack[MNL_SOCKET_BUFFER_SIZE];
	int n;

	nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	n = (int)mnl_socket_recvfrom(q->nl, ack, sizeof(ack));
	if (n < 0)
		return -1;
	return mnl_cb_run(ack, (size_t)n, 0, q->portid, NULL, NULL) < 0 ? -1 : 0;
}

static int bind_queue(struct nfqcap *q, uint16_t num, const struct config *cfg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	uint32_t flags = NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, num);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
	if (talk(q, nlh))
		return -1;
	/* Whole packets: an SMTP segment is at most 64 KB with GSO. */
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, num);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, cfg->queue_maxlen);
	/* GSO: large segments arrive whole. FAIL_OPEN: when the queue or our
	 * socket is full, the kernel accepts instead of dropping. */
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(flags));
	return talk(q, nlh);
}

struct nfqcap *nfqcap_open(const struct config *cfg, char *err, size_t errlen)
{
	return nfqcap_open_range(cfg, cfg->queue_first, cfg->queue_last, err, errlen);
}

struct nfqcap *nfqcap_open_range(const struct config *cfg, uint16_t first, uint16_t last, char *err,
				 size_t errlen)
{
	struct nfqcap *q = xcalloc(1, sizeof(*q));
	int rcvbuf = (int)cfg->queue_rcvbuf;
	uint16_t n;

	q->first = first;
	q->last = last;
	/* The rules that turn the mark into a bypass are ours only when we
	 * manage them. */
	q->opaque_mark = cfg->manage_queue && cfg->manage_ruleset ? cfg->opaque_mark : 0;
	q->buf = malloc(NFQ_BUF);
	q->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!q->buf || !q->nl) {
		snprintf(err, errlen, "netlink socket: %s", strerror(errno));
		goto fail;
	}
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "netlink bind: %s", strerror(errno));
		goto fail;
	}
	q->portid = mnl_socket_get_portid(q->nl);
	/* RCVBUFFORCE passes rmem_max with CAP_NET_ADMIN, which we have. */
	if (setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) &&
	    setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf))) {
		snprintf(err, errlen, "netlink receive buffer: %s", strerror(errno));
		goto fail;
	}
	/* ENOBUFS is left on: each one is counted (the kernel accepted the
	 * packets we could not take, as FAIL_OPEN asks). */
	for (n = q->first;; n++) {
		if (bind_queue(q, n, cfg)) {
			snprintf(err, errlen, "cannot bind NFQUEUE %u: %s%s", n, strerror(errno),
				 errno == EBUSY ? " (another program holds it)" :
				 errno == EPERM ? " (needs CAP_NET_ADMIN)" : "");
			goto fail;
		}
		if (n == q->last)
			break;
	}
	{
		int fd = mnl_socket_get_fd(q->nl), fl = fcntl(fd, F_GETFL);

		/* A blocking read would stall the loop: mail would wait. */
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			snprintf(err, errlen, "netlink socket: cannot make it non-blocking: %s",
				 strerror(errno));
			goto fail;
		}
	}
	return q;
fail:
	nfqcap_close(q);
	return NULL;
}

int nfqcap_fd(const struct nfqcap *q)
{
	return mnl_socket_get_fd(q->nl);
}

const struct nfqcap_stats *nfqcap_stats(const struct nfqcap *q)
{
	return &q->st;
}

/* Which way a packet went, from the hook it was queued at. Replies are only
 * believed when they leave this host (output, postrouting) or are routed
 * through it (forward). */
static uint8_t hook_dir(uint8_t hook)
{
	switch (hook) {
	case NF_INET_PRE_ROUTING:
	case NF_INET_LOCAL_IN:
		return DIR_IN;
	case NF_INET_LOCAL_OUT:
	case NF_INET_POST_ROUTING:
		return DIR_OUT;
	default:
		return DIR_UNKNOWN;
	}
}

static int on_packet(const struct nlmsghdr *nlh, void *data)
{
	struct nfqcap *q = data;
	struct nlattr *attr[NFQA_MAX + 1] = { NULL };
	struct nfqnl_msg_packet_hdr *ph;
	struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	uint16_t queue = ntohs(nfg->res_id);
	uint32_t id, len;
	usec_t now;

	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR]) {
		q->st.bad_messages++;
		return MNL_CB_OK;
	}
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	id = ntohl(ph->packet_id);
	if (queue >= q->first && queue <= q->last) {
		uint16_t i = (uint16_t)(queue - q->first);

		if (!q->pending[i] || id > q->max_id[i])
			q->max_id[i] = id;
		q->pending[i] = 1;
	}
	if (!attr[NFQA_PAYLOAD])
		return MNL_CB_OK;
	len = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	q->st.packets++;
	q->st.bytes += len;
	if (!q->p)
		return MNL_CB_OK;	/* no pipeline: the accept-only floor */
	if (attr[NFQA_CAP_LEN] && ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN])) != len)
		q->st.truncated++;
	if (attr[NFQA_TIMESTAMP]) {
		struct nfqnl_msg_packet_timestamp *ts = mnl_attr_get_payload(attr[NFQA_TIMESTAMP]);

		now = (usec_t)be64toh(ts->sec) * USEC_PER_SEC + (usec_t)be64toh(ts->usec);
	} else {
		now = clock_wall();
	}
	pipeline_ip(q->p, now, mnl_attr_get_payload(attr[NFQA_PAYLOAD]), len, hook_dir(ph->hook));
	/* A session with nothing more to read: this packet takes the mark
	 * (its own verdict, before the batch's), a rule after the queue
	 * copies it to the connection, and a rule before the queue accepts
	 * the rest of the session without a round trip. */
	if (q->p->last_opaque && q->opaque_mark) {
		uint32_t mark = attr[NFQA_MARK] ? ntohl(mnl_attr_get_u32(attr[NFQA_MARK])) : 0;
		char vbuf[256];
		struct nlmsghdr *v = nfq_nlmsg_put(vbuf, NFQNL_MSG_VERDICT, queue);

		if ((mark & q->opaque_mark) != q->opaque_mark) {
			nfq_nlmsg_verdict_put(v, (int)id, NF_ACCEPT);
			nfq_nlmsg_verdict_put_mark(v, mark | q->opaque_mark);
			if (mnl_socket_sendto(q->nl, v, v->nlmsg_len) < 0)
				q->st.verdict_errors++;
			else
				q->st.marked++;
		}
	}
	return MNL_CB_OK;
}

/* Accept everything up to the highest id seen, one message per queue. */
static void send_verdicts(struct nfqcap *q)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];

	for (uint16_t i = 0; i <= q->last - q->first; i++) {
		struct nlmsghdr *nlh;

		if (!q->pending[i])
			continue;
		nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT_BATCH, (uint32_t)(q->first + i));
		nfq_nlmsg_verdict_put(nlh, (int)q->max_id[i], NF_ACCEPT);
		if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
			q->st.verdict_errors++;
		else
			q->st.verdicts++;
		q->pending[i] = 0;
	}
}

void nfqcap_read(struct nfqcap *q, struct pipeline *p)
{
	q->p = p;
	for (int i = 0; i < NFQ_READS_PER_CALL; i++) {
		ssize_t n = mnl_socket_recvfrom(q->nl, q->buf, NFQ_BUF);

		if (n < 0) {
			if (errno == ENOBUFS) {
				q->st.enobufs++;
				continue;
			}
			break;		/* EAGAIN: drained */
		}
		if (mnl_cb_run(q->buf, (size_t)n, 0, q->portid, on_packet, q) < 0)
			q->st.bad_messages++;
		if (q->hook)
			q->hook(q->hook_arg);
		/* Accept after each read: packets are held only while parsed. */
		send_verdicts(q);
	}
	q->p = NULL;
}

void nfqcap_close(struct nfqcap *q)
{
	if (!q)
		return;
	if (q->nl)
		mnl_socket_close(q->nl);
	free(q->buf);
	free(q);
}
