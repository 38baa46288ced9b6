#include "enforce.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "clock.h"
#include "log.h"

/* Delete an element, and succeed when it is not there (Linux 6.3): a
 * re-ban whose element has just expired then needs no second round trip.
 * The number is the kernel's (enum nf_tables_msg_types); older headers
 * lack the name. */
#ifndef NFT_MSG_DESTROYSETELEM
#define NFT_MSG_DESTROYSETELEM 30
#endif

/* nft's datatype numbers for the set keys, so that `nft list` shows them. */
#define NFT_TYPE_IPADDR 7
#define NFT_TYPE_IP6ADDR 8
/* Before the usual filter chains (priority 0): a banned source costs
 * nothing further down. */
#define CHAIN_PRIORITY (-10)

struct pending {
	struct prefix key;
	uint64_t timeout_ms;
	bool reban;		/* the element may still be in the set */
	bool del;		/* delete only (unban) */
};

struct setdef {
	int af;
	unsigned plen;
	char name[32];
};

struct enforcer {
	const struct config *cfg;
	struct mnl_socket *nl;
	struct mnl_socket *mon;	/* nftables events */
	uint32_t portid;
	uint32_t seq;
	struct setdef sets[2 * MAX_RULES];
	size_t nsets;
	struct pending *q;
	size_t nq, capq;
	char *buf;		/* batch buffer */
	size_t buflen;
	int queue_how;		/* enum queue_how */
	uint16_t del_msg;	/* NFT_MSG_DESTROYSETELEM where the kernel has it */
	struct enforce_stats st;
};

void enforcer_set_name(int af, unsigned plen, char *buf, size_t len)
{
	snprintf(buf, len, "banned%d_%u", af, plen);
}

/* ---- batches ---- */

struct batch {
	struct mnl_nlmsg_batch *b;
	uint32_t first, next;	/* sequence numbers of our messages */
};

static void batch_begin(struct enforcer *e, struct batch *bt, size_t need)
{
	if (need > e->buflen) {
		free(e->buf);
		e->buflen = need;
		e->buf = xcalloc(1, e->buflen);
	}
	bt->b = mnl_nlmsg_batch_start(e->buf, e->buflen);
	nftnl_batch_begin(mnl_nlmsg_batch_current(bt->b), e->seq++);
	mnl_nlmsg_batch_next(bt->b);
	bt->first = bt->next = e->seq;
}

static struct nlmsghdr *batch_msg(struct enforcer *e, struct batch *bt, uint16_t type,
				  uint16_t family, uint16_t flags)
{
	bt->next = e->seq + 1;
	return nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(bt->b), type, family,
				     flags | NLM_F_ACK, e->seq++);
}

static void batch_next(struct batch *bt)
{
	mnl_nlmsg_batch_next(bt->b);
}

/* Send and read one answer per message. failed[i] (when given) is set to
 * the errno of message first + i. Returns the number of failed messages,
 * or -1 when the exchange itself failed. */
static int batch_send(struct enforcer *e, struct batch *bt, int *failed, size_t nfailed)
{
	uint32_t n = bt->next - bt->first, got = 0;
	int bad = 0;
	char rbuf[65536];

	nftnl_batch_end(mnl_nlmsg_batch_current(bt->b), e->seq++);
	mnl_nlmsg_batch_next(bt->b);
	if (mnl_socket_sendto(e->nl, mnl_nlmsg_batch_head(bt->b), mnl_nlmsg_batch_size(bt->b)) < 0) {
		mnl_nlmsg_batch_stop(bt->b);
		return -1;
	}
	mnl_nlmsg_batch_stop(bt->b);
	while (got < n) {
		ssize_t r = mnl_socket_recvfrom(e->nl, rbuf, sizeof(rbuf));
		struct nlmsghdr *nlh = (struct nlmsghdr *)rbuf;
		int left = (int)r;

		if (r < 0)
			return -1;
		while (mnl_nlmsg_ok(nlh, left)) {
			if (nlh->nlmsg_type == NLMSG_ERROR && nlh->nlmsg_seq == bt->first - 1) {
				/* An answer to the batch itself: refused whole,
				 * e.g. EPERM without CAP_NET_ADMIN. */
				const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);

				if (err->error) {
					errno = -err->error;
					return -1;
				}
			} else if (nlh->nlmsg_type == NLMSG_ERROR && nlh->nlmsg_seq >= bt->first &&
				   nlh->nlmsg_seq < bt->next) {
				const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);

				got++;
				if (err->error) {
					bad++;
					if (failed && nlh->nlmsg_seq - bt->first < nfailed)
						failed[nlh->nlmsg_seq - bt->first] = -err->error;
				}
			}
			nlh = mnl_nlmsg_next(nlh, &left);
		}
	}
	return bad;
}

/* ---- the ruleset (managed mode) ---- */

static struct nftnl_expr *ex_meta(uint32_t key)
{
	struct nftnl_expr *x = nftnl_expr_alloc("meta");

	nftnl_expr_set_u32(x, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(x, NFTNL_EXPR_META_DREG, NFT_REG_1);
	return x;
}

static struct nftnl_expr *ex_cmp(uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *x = nftnl_expr_alloc("cmp");

	nftnl_expr_set_u32(x, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(x, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(x, NFTNL_EXPR_CMP_DATA, data, len);
	return x;
}

static struct nftnl_expr *ex_payload(uint32_t base, uint32_t off, uint32_t len)
{
	struct nftnl_expr *x = nftnl_expr_alloc("payload");

	nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	return x;
}

static struct nftnl_expr *ex_mask(const void *mask, uint32_t len)
{
	static const uint8_t zero[16];
	struct nftnl_expr *x = nftnl_expr_alloc("bitwise");

	nftnl_expr_set_u32(x, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(x, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(x, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(x, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(x, NFTNL_EXPR_BITWISE_XOR, zero, len);
	return x;
}

static void flush_chain(struct enforcer *e, struct batch *bt, const char *name)
{
	struct nftnl_rule *flush = nftnl_rule_alloc();
	struct nlmsghdr *nlh;

	nftnl_rule_set_u32(flush, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(flush, NFTNL_RULE_TABLE, e->cfg->table);
	nftnl_rule_set_str(flush, NFTNL_RULE_CHAIN, name);
	nlh = batch_msg(e, bt, NFT_MSG_DELRULE, NFPROTO_INET, 0);
	nftnl_rule_nlmsg_build_payload(nlh, flush);
	batch_next(bt);
	nftnl_rule_free(flush);
}

/* A rule in one of our chains, to be filled with expressions. */
static struct nftnl_rule *new_rule(const struct enforcer *e, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, e->cfg->table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	return r;
}

/* meta l4proto tcp tcp dport|sport PORT */
static void match_tcp_port(struct nftnl_rule *r, uint16_t port, bool by_source)
{
	uint8_t tcp = IPPROTO_TCP;
	uint16_t nport = htons(port);

	nftnl_rule_add_expr(r, ex_meta(NFT_META_L4PROTO));
	nftnl_rule_add_expr(r, ex_cmp(NFT_CMP_EQ, &tcp, 1));
	nftnl_rule_add_expr(r, ex_payload(NFT_PAYLOAD_TRANSPORT_HEADER, by_source ? 0 : 2, 2));
	nftnl_rule_add_expr(r, ex_cmp(NFT_CMP_EQ, &nport, 2));
}

/* Append r to its chain in the batch, and free it. */
static void append_rule(struct enforcer *e, struct batch *bt, struct nftnl_rule *r)
{
	struct nlmsghdr *nlh = batch_msg(e, bt, NFT_MSG_NEWRULE, NFPROTO_INET, NLM_F_CREATE | NLM_F_APPEND);

	nftnl_rule_nlmsg_build_payload(nlh, r);
	batch_next(bt);
	nftnl_rule_free(r);
}

/* meta nfproto AF */
static void match_nfproto(struct nftnl_rule *r, int af)
{
	uint8_t nfproto = af == 4 ? NFPROTO_IPV4 : NFPROTO_IPV6;

	nftnl_rule_add_expr(r, ex_meta(NFT_META_NFPROTO));
	nftnl_rule_add_expr(r, ex_cmp(NFT_CMP_EQ, &nfproto, 1));
}

/* @SET counter VERDICT, on what register 1 holds. */
static void lookup_verdict(struct nftnl_rule *r, const char *set, uint32_t verdict)
{
	struct nftnl_expr *lk = nftnl_expr_alloc("lookup"), *v = nftnl_expr_alloc("immediate");

	nftnl_expr_set_u32(lk, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_str(lk, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_rule_add_expr(r, lk);
	nftnl_rule_add_expr(r, nftnl_expr_alloc("counter"));
	nftnl_expr_set_u32(v, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(v, NFTNL_EXPR_IMM_VERDICT, verdict);
	nftnl_rule_add_expr(r, v);
}

/* meta nfproto AF meta l4proto tcp tcp dport PORT [tcp flags & (syn|ack)
 * == syn] ip(6) saddr [& MASK] @SET counter drop */
static struct nftnl_rule *drop_rule(const struct enforcer *e, const char *chain,
				    const struct setdef *sd, uint16_t port)
{
	struct nftnl_rule *r = new_rule(e, chain);
	uint32_t alen = sd->af == 4 ? 4 : 16;

	match_nfproto(r, sd->af);
	match_tcp_port(r, port, false);
	if (e->cfg->drop == DROP_NEW) {
		/* A SYN without ACK opens a connection; sessions in progress
		 * are left alone. */
		uint8_t synack = 0x12, syn = 0x02;

		nftnl_rule_add_expr(r, ex_payload(NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1));
		nftnl_rule_add_expr(r, ex_mask(&synack, 1));
		nftnl_rule_add_expr(r, ex_cmp(NFT_CMP_EQ, &syn, 1));
	}
	nftnl_rule_add_expr(r, ex_payload(NFT_PAYLOAD_NETWORK_HEADER, sd->af == 4 ? 12 : 8, alen));
	if (sd->plen < alen * 8) {
		struct ipaddr ones, m;

		memset(&ones, 0xff, sizeof(ones));
		ones.af = (uint8_t)sd->af;
		addr_mask(&ones, sd->plen, &m);
		nftnl_rule_add_expr(r, ex_mask(m.b, alen));
	}
	lookup_verdict(r, sd->name, NF_DROP);
	return r;
}

/* A base chain of ours on hook at prio, created (a no-op when it exists)
 * and emptied: adopting a table from an earlier run replaces what its
 * chains held. With keep false it is deleted in the same atomic batch
 * (gateway or manage_queue turned off since). Returns keep. */
static bool base_chain(struct enforcer *e, struct batch *bt, const char *name, uint32_t hook,
		       int prio, bool keep)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, e->cfg->table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nlh = batch_msg(e, bt, NFT_MSG_NEWCHAIN, NFPROTO_INET, NLM_F_CREATE);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	batch_next(bt);
	flush_chain(e, bt, name);
	if (!keep) {
		nlh = batch_msg(e, bt, NFT_MSG_DELCHAIN, NFPROTO_INET, 0);
		nftnl_chain_nlmsg_build_payload(nlh, c);
		batch_next(bt);
	}
	nftnl_chain_free(c);
	return keep;
}

/* ---- the allow sets ---- */

/* Sources that no drop rule may touch, whatever a set holds: the
 * allowlist and the host's own addresses. A prefix ban is narrowed in the
 * tracker so as not to cover them; this makes it so in the kernel too,
 * also for elements added by hand or by another tool. */
static const char *const allow_set[2] = { "allow4", "allow6" };

/* meta nfproto AF ip(6) saddr @allowN accept */
static struct nftnl_rule *allow_rule(const struct enforcer *e, const char *chain, int af)
{
	struct nftnl_rule *r = new_rule(e, chain);

	match_nfproto(r, af);
	nftnl_rule_add_expr(r, ex_payload(NFT_PAYLOAD_NETWORK_HEADER, af == 4 ? 12 : 8, af == 4 ? 4 : 16));
	lookup_verdict(r, allow_set[af == 6], NF_ACCEPT);
	return r;
}

static void new_allow_set(struct enforcer *e, struct batch *bt, int af)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, e->cfg->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, allow_set[af == 6]);
	nftnl_set_set_u32(s, NFTNL_SET_ID, (uint32_t)(2 * MAX_RULES + (af == 6) + 1));
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, af == 4 ? 4 : 16);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, af == 4 ? NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR);
	nlh = batch_msg(e, bt, NFT_MSG_NEWSET, NFPROTO_INET, NLM_F_CREATE);
	nftnl_set_nlmsg_build_payload(nlh, s);
	batch_next(bt);
	nftnl_set_free(s);
}

/* A prefix as the half-open range [lo, hi); top: hi would wrap. */
struct range {
	uint8_t lo[16], hi[16];
	bool top;
};

static void prefix_range(const struct prefix *p, struct range *r)
{
	unsigned bits = addr_bits(&p->a);
	int carry = 1;

	memset(r, 0, sizeof(*r));
	memcpy(r->lo, p->a.b, 16);
	memcpy(r->hi, p->a.b, 16);
	for (unsigned i = p->len; i < bits; i++)
		r->hi[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	for (int i = (int)bits / 8 - 1; i >= 0 && carry; i--) {
		carry = r->hi[i] == 0xff;
		r->hi[i]++;
	}
	r->top = carry;
}

static int range_cmp(const void *a, const void *b)
{
	return memcmp(((const struct range *)a)->lo, ((const struct range *)b)->lo, 16);
}

/* The allowlist and our own addresses of family af, sorted and merged:
 * an interval set refuses overlapping elements. Returns how many. */
static size_t allow_ranges(const struct enforcer *e, int af, struct range **out)
{
	const struct prefixlist *l[2] = { &e->cfg->allowlist, e->cfg->servers_any ? NULL : &e->cfg->servers };
	struct range *v = NULL;
	size_t n = 0, m = 0;

	for (int k = 0; k < 2; k++)
		for (size_t i = 0; l[k] && i < l[k]->n; i++)
			if (l[k]->v[i].a.af == af) {
				v = xrealloc(v, (n + 1) * sizeof(*v));
				prefix_range(&l[k]->v[i], &v[n++]);
			}
	if (n)
		qsort(v, n, sizeof(*v), range_cmp);
	for (size_t i = 0; i < n; i++) {
		if (m && (v[m - 1].top || memcmp(v[i].lo, v[m - 1].hi, 16) <= 0)) {
			/* Overlaps or touches the last one: extend it. */
			if (!v[m - 1].top && (v[i].top || memcmp(v[i].hi, v[m - 1].hi, 16) > 0)) {
				memcpy(v[m - 1].hi, v[i].hi, 16);
				v[m - 1].top = v[i].top;
			}
			continue;
		}
		v[m++] = v[i];
	}
	*out = v;
	return m;
}

/* Empty both allow sets and fill them again, in batch bt. */
static void fill_allow(struct enforcer *e, struct batch *bt)
{
	for (int af = 4; af <= 6; af += 2) {
		struct nftnl_set *s = nftnl_set_alloc();
		struct nlmsghdr *nlh;
		struct range *v;
		size_t n = allow_ranges(e, af, &v);
		uint32_t alen = af == 4 ? 4 : 16;

		nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
		nftnl_set_set_str(s, NFTNL_SET_TABLE, e->cfg->table);
		nftnl_set_set_str(s, NFTNL_SET_NAME, allow_set[af == 6]);
		/* No elements: the whole set is flushed. */
		nlh = batch_msg(e, bt, NFT_MSG_DELSETELEM, NFPROTO_INET, 0);
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		batch_next(bt);
		if (n) {
			for (size_t i = 0; i < n; i++) {
				struct nftnl_set_elem *el = nftnl_set_elem_alloc();

				nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, v[i].lo, alen);
				nftnl_set_elem_add(s, el);
				if (v[i].top)
					continue;	/* up to the last address */
				el = nftnl_set_elem_alloc();
				nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, v[i].hi, alen);
				nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
				nftnl_set_elem_add(s, el);
			}
			nlh = batch_msg(e, bt, NFT_MSG_NEWSETELEM, NFPROTO_INET, NLM_F_CREATE);
			nftnl_set_elems_nlmsg_build_payload(nlh, s);
			batch_next(bt);
		}
		nftnl_set_free(s);
		free(v);
	}
}

int enforcer_sync_allow(struct enforcer *e)
{
	struct batch bt;

	batch_begin(e, &bt, 1 << 20);
	fill_allow(e, &bt);
	if (batch_send(e, &bt, NULL, 0)) {
		logmsg(LOG_WARNING, "nft: cannot fill sets allow4/allow6 of table inet %s: %s%s",
		       e->cfg->table, strerror(errno), e->cfg->manage_ruleset ? "" :
		       " (manage_ruleset = no: load the current nft/rcptguard.nft); allowlisted "
		       "addresses rely on the tracker alone");
		return -1;
	}
	return 0;
}

static void add_chain(struct enforcer *e, struct batch *bt, const char *name, uint32_t hook,
		      bool keep)
{
	if (!base_chain(e, bt, name, hook, CHAIN_PRIORITY, keep))
		return;
	/* Allowed sources first: no drop rule below sees them. */
	append_rule(e, bt, allow_rule(e, name, 4));
	append_rule(e, bt, allow_rule(e, name, 6));
	for (size_t s = 0; s < e->nsets; s++)
		for (size_t p = 0; p < e->cfg->nports; p++)
			append_rule(e, bt, drop_rule(e, name, &e->sets[s], e->cfg->ports[p]));
}

/* ---- the queue rules (manage_queue) ---- */

/* After our drop chains (-10): a banned source's packets are dropped
 * before they cost a trip to user space. */
#define QUEUE_PRIORITY (-5)

/* meta l4proto tcp tcp dport|sport PORT queue num Q[-R] bypass, with the
 * nft queue expression or, on kernels without it, the xtables NFQUEUE
 * target through nf_tables' compat layer (what iptables-nft emits). */
static struct nftnl_rule *queue_rule(const struct enforcer *e, const char *chain, uint16_t port,
				     bool by_source)
{
	struct nftnl_rule *r = new_rule(e, chain);
	uint16_t total = (uint16_t)(e->cfg->queue_last - e->cfg->queue_first + 1);
	struct nftnl_expr *q;

	match_tcp_port(r, port, by_source);
	if (e->queue_how == QUEUE_EXPR) {
		q = nftnl_expr_alloc("queue");
		nftnl_expr_set_u16(q, NFTNL_EXPR_QUEUE_NUM, e->cfg->queue_first);
		nftnl_expr_set_u16(q, NFTNL_EXPR_QUEUE_TOTAL, total);
		nftnl_expr_set_u16(q, NFTNL_EXPR_QUEUE_FLAGS, NFT_QUEUE_FLAG_BYPASS);
	} else {
		/* libnftnl keeps (and later frees) the info pointer itself. */
		struct xt_NFQ_info_v3 *info = xcalloc(1, sizeof(*info));

		info->queuenum = e->cfg->queue_first;
		info->queues_total = total;
		info->flags = NFQ_FLAG_BYPASS;
		q = nftnl_expr_alloc("target");
		nftnl_expr_set_str(q, NFTNL_EXPR_TG_NAME, "NFQUEUE");
		nftnl_expr_set_u32(q, NFTNL_EXPR_TG_REV, 3);
		nftnl_expr_set(q, NFTNL_EXPR_TG_INFO, info, sizeof(*info));
	}
	nftnl_rule_add_expr(r, q);
	return r;
}

static void add_queue_chain(struct enforcer *e, struct batch *bt, const char *name, uint32_t hook,
			    bool keep)
{
	if (!base_chain(e, bt, name, hook, QUEUE_PRIORITY, keep))
		return;
	for (size_t p = 0; p < e->cfg->nports; p++) {
		for (int by_source = 0; by_source < 2; by_source++) {
			/* Input sees the clients' packets, output the replies;
			 * forward sees both. */
			if ((hook == NF_INET_LOCAL_IN && by_source) ||
			    (hook == NF_INET_LOCAL_OUT && !by_source))
				continue;
			append_rule(e, bt, queue_rule(e, name, e->cfg->ports[p], by_source));
		}
	}
}

static int install(struct enforcer *e, char *err, size_t errlen)
{
	int failed[512] = { 0 };
	struct batch bt;
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	int rc;

	batch_begin(e, &bt, 1 << 20);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, e->cfg->table);
	nlh = batch_msg(e, &bt, NFT_MSG_NEWTABLE, NFPROTO_INET, NLM_F_CREATE);
	nftnl_table_nlmsg_build_payload(nlh, t);
	batch_next(&bt);
	nftnl_table_free(t);
	for (size_t i = 0; i < e->nsets; i++) {
		struct nftnl_set *s = nftnl_set_alloc();

		nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
		nftnl_set_set_str(s, NFTNL_SET_TABLE, e->cfg->table);
		nftnl_set_set_str(s, NFTNL_SET_NAME, e->sets[i].name);
		nftnl_set_set_u32(s, NFTNL_SET_ID, (uint32_t)i + 1);
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_TIMEOUT);
		/* A full set refuses the next element (ENFILE): bounded
		 * kernel memory, and the refusal is logged and counted. */
		nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, e->cfg->set_size);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, e->sets[i].af == 4 ? 4 : 16);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE,
				  e->sets[i].af == 4 ? NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR);
		/* Per-element counters: how much each ban dropped. */
		nftnl_set_add_expr(s, nftnl_expr_alloc("counter"));
		nlh = batch_msg(e, &bt, NFT_MSG_NEWSET, NFPROTO_INET, NLM_F_CREATE);
		nftnl_set_nlmsg_build_payload(nlh, s);
		batch_next(&bt);
		nftnl_set_free(s);
	}
	new_allow_set(e, &bt, 4);
	new_allow_set(e, &bt, 6);
	fill_allow(e, &bt);
	add_chain(e, &bt, "input", NF_INET_LOCAL_IN, true);
	add_chain(e, &bt, "forward", NF_INET_FORWARD, e->cfg->gateway);
	add_queue_chain(e, &bt, "queue_in", NF_INET_LOCAL_IN, e->queue_how != QUEUE_NONE);
	add_queue_chain(e, &bt, "queue_out", NF_INET_LOCAL_OUT, e->queue_how != QUEUE_NONE);
	add_queue_chain(e, &bt, "queue_fwd", NF_INET_FORWARD,
			e->queue_how != QUEUE_NONE && e->cfg->gateway);
	rc = batch_send(e, &bt, failed, ARRAY_LEN(failed));
	if (rc) {
		int why = errno;

		for (size_t i = 0; rc > 0 && i < ARRAY_LEN(failed); i++)
			if (failed[i]) {
				why = failed[i];
				break;
			}
		snprintf(err, errlen, "cannot install table inet %s: %s%s", e->cfg->table, strerror(why),
			 why == EPERM ? " (rcptguard needs CAP_NET_ADMIN)" :
			 why == EEXIST ? " (a set of that name exists with other properties: "
					 "delete the table, or change 'table')" : "");
		return -(why ? why : EIO);
	}
	e->st.installs++;
	return 0;
}

/* ---- elements ---- */

static const struct setdef *set_for(const struct enforcer *e, const struct prefix *k)
{
	for (size_t i = 0; i < e->nsets; i++)
		if (e->sets[i].af == k->a.af && e->sets[i].plen == k->len)
			return &e->sets[i];
	return NULL;
}

/* One message adding (or deleting) the elements of q[from, to) that go to
 * set sd; up to ELEMS_PER_MSG of them. */
#define ELEMS_PER_MSG 1024

static void elem_msg(struct enforcer *e, struct batch *bt, const struct setdef *sd,
		     const struct pending *const *v, size_t n, uint16_t type)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, e->cfg->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, sd->name);
	for (size_t i = 0; i < n; i++) {
		struct nftnl_set_elem *el = nftnl_set_elem_alloc();

		nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, v[i]->key.a.b, v[i]->key.a.af == 4 ? 4 : 16);
		if (type == NFT_MSG_NEWSETELEM)
			nftnl_set_elem_set_u64(el, NFTNL_SET_ELEM_TIMEOUT, v[i]->timeout_ms);
		nftnl_set_elem_add(s, el);
	}
	nlh = batch_msg(e, bt, type, NFPROTO_INET, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	batch_next(bt);
	nftnl_set_free(s);
}

/* One batch for the elements [from, to): per set, the deletes of re-bans
 * (reban_del: kernels that ignore a re-add then still get the new timeout,
 * with no moment unprotected, since the batch is atomic) and the adds,
 * many elements a message. */
static int send_elems(struct enforcer *e, size_t from, size_t to, bool reban_del, int *failed)
{
	struct batch bt;
	const struct pending **v = xcalloc(to - from, sizeof(const struct pending *));

	batch_begin(e, &bt, (to - from) * 128 + 8192);
	for (size_t si = 0; si < e->nsets; si++) {
		const struct setdef *sd = &e->sets[si];

		for (int pass = reban_del ? 0 : 1; pass < 2; pass++) {
			size_t n = 0;

			for (size_t i = from; i < to; i++) {
				const struct pending *p = &e->q[i];

				if (p->key.a.af != sd->af || p->key.len != sd->plen ||
				    (pass == 0 && !p->reban && !p->del) || (pass == 1 && p->del))
					continue;
				v[n++] = p;
				if (n == ELEMS_PER_MSG) {
					elem_msg(e, &bt, sd, v, n, pass ? NFT_MSG_NEWSETELEM : e->del_msg);
					n = 0;
				}
			}
			if (n)
				elem_msg(e, &bt, sd, v, n, pass ? NFT_MSG_NEWSETELEM : e->del_msg);
		}
	}
	free(v);
	return batch_send(e, &bt, failed, 2);
}

int enforcer_flush(struct enforcer *e)
{
	usec_t t0 = clock_mono();
	int rc, errors = 0;

	if (!e->nq)
		return 0;
	rc = send_elems(e, 0, e->nq, true, NULL);
	e->st.batches++;
	if (rc != 0) {
		/* The kernel took none of it (a batch is all or nothing): find
		 * the elements it refuses, one at a time, and keep the rest. */
		e->st.retries++;
		for (size_t i = 0; i < e->nq; i++) {
			int failed[2] = { 0, 0 };
			char k[ADDR_STRLEN];

			int why;

			if (send_elems(e, i, i + 1, true, failed) == 0)
				continue;
			/* An unban of an element that expired meanwhile: done. */
			if (e->q[i].del && failed[0] == ENOENT)
				continue;
			/* A re-ban whose element already expired: no delete. */
			if (e->q[i].reban && send_elems(e, i, i + 1, false, failed) == 0)
				continue;
			errors++;
			why = failed[0] ? failed[0] : failed[1] ? failed[1] : errno;
			e->st.element_errors++;
			if (why == ENFILE)
				e->st.set_full++;
			logmsg(LOG_ERR, "nft: cannot %s %s %s inet %s %s: %s%s", e->q[i].del ? "delete" : "add",
			       prefix_fmt(&e->q[i].key, k, sizeof(k)), e->q[i].del ? "from" : "to",
			       e->cfg->table, set_for(e, &e->q[i].key)->name, strerror(why),
			       why == ENFILE ? " (the set is full: raise set_size)" :
			       why == EPERM ? " (rcptguard needs CAP_NET_ADMIN)" :
			       why == ENOENT ? " (no such table or set)" : "");
		}
	}
	e->st.elements += e->nq - (size_t)errors;
	e->st.last_batch_us = (uint64_t)(clock_mono() - t0);
	e->nq = 0;
	return errors;
}

void enforcer_queue_key(struct enforcer *e, const struct prefix *key, usec_t timeout, bool reban)
{
	char k[ADDR_STRLEN];

	if (!set_for(e, key)) {
		logmsg(LOG_ERR, "nft: no set for %s", prefix_fmt(key, k, sizeof(k)));
		return;
	}
	if (e->nq == e->capq) {
		e->capq = e->capq ? e->capq * 2 : 64;
		e->q = xrealloc(e->q, e->capq * sizeof(*e->q));
	}
	e->q[e->nq].key = *key;
	e->q[e->nq].timeout_ms = (uint64_t)(timeout / 1000);
	e->q[e->nq].reban = reban;
	e->q[e->nq].del = false;
	e->nq++;
}

void enforcer_queue_del(struct enforcer *e, const struct prefix *key)
{
	enforcer_queue_key(e, key, 0, false);
	if (e->nq && set_for(e, key))
		e->q[e->nq - 1].del = true;
}

/* ---- reading the sets back ---- */

struct dumpctx {
	const struct setdef *sd;
	void (*fn)(void *arg, const struct elem_info *);
	void *arg;
	size_t n;
};

static int on_counter(struct nftnl_expr *x, void *data)
{
	struct elem_info *ei = data;
	const char *name = nftnl_expr_get_str(x, NFTNL_EXPR_NAME);

	if (name && !strcmp(name, "counter")) {
		ei->packets = nftnl_expr_get_u64(x, NFTNL_EXPR_CTR_PACKETS);
		ei->bytes = nftnl_expr_get_u64(x, NFTNL_EXPR_CTR_BYTES);
	}
	return 0;
}

static int on_elem(struct nftnl_set_elem *el, void *data)
{
	struct dumpctx *x = data;
	struct elem_info ei = { 0 };
	uint32_t len = 0;
	const void *key = nftnl_set_elem_get(el, NFTNL_SET_ELEM_KEY, &len);

	if (!key || len != (x->sd->af == 4 ? 4u : 16u))
		return 0;
	ei.key.a.af = (uint8_t)x->sd->af;
	memcpy(ei.key.a.b, key, len);
	ei.key.len = (uint8_t)x->sd->plen;
	if (nftnl_set_elem_is_set(el, NFTNL_SET_ELEM_TIMEOUT))
		ei.timeout_ms = nftnl_set_elem_get_u64(el, NFTNL_SET_ELEM_TIMEOUT);
	if (nftnl_set_elem_is_set(el, NFTNL_SET_ELEM_EXPIRATION))
		ei.expires_ms = nftnl_set_elem_get_u64(el, NFTNL_SET_ELEM_EXPIRATION);
	nftnl_set_elem_expr_foreach(el, on_counter, &ei);
	x->fn(x->arg, &ei);
	x->n++;
	return 0;
}

static int on_dump(const struct nlmsghdr *nlh, void *data)
{
	struct dumpctx *x = data;
	struct nftnl_set *s = nftnl_set_alloc();

	if (nftnl_set_elems_nlmsg_parse(nlh, s) == 0)
		nftnl_set_elem_foreach(s, on_elem, x);
	nftnl_set_free(s);
	return MNL_CB_OK;
}

int enforcer_dump(struct enforcer *e, void (*fn)(void *arg, const struct elem_info *ei), void *arg)
{
	size_t bufsz = 1 << 20;
	char *buf = xcalloc(1, bufsz);
	int total = 0;

	for (size_t i = 0; i < e->nsets; i++) {
		struct dumpctx x = { .sd = &e->sets[i], .fn = fn, .arg = arg };
		struct nftnl_set *s = nftnl_set_alloc();
		struct nlmsghdr *nlh;
		uint32_t seq = e->seq++;
		int rc;

		nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
		nftnl_set_set_str(s, NFTNL_SET_TABLE, e->cfg->table);
		nftnl_set_set_str(s, NFTNL_SET_NAME, e->sets[i].name);
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP | NLM_F_ACK, seq);
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		nftnl_set_free(s);
		if (mnl_socket_sendto(e->nl, nlh, nlh->nlmsg_len) < 0) {
			free(buf);
			return -1;
		}
		do {
			ssize_t n = mnl_socket_recvfrom(e->nl, buf, bufsz);

			if (n < 0) {
				free(buf);
				return -1;
			}
			rc = mnl_cb_run(buf, (size_t)n, seq, e->portid, on_dump, &x);
		} while (rc > 0);
		if (rc < 0) {
			free(buf);
			return -1;
		}
		total += (int)x.n;
	}
	free(buf);
	return total;
}

void enforcer_queue(struct enforcer *e, const struct ban *b)
{
	enforcer_queue_key(e, &b->key, b->duration, b->nth > 1);
}

size_t enforcer_pending(const struct enforcer *e)
{
	return e->nq;
}

const struct enforce_stats *enforcer_stats(const struct enforcer *e)
{
	return &e->st;
}

void enforcer_set_config(struct enforcer *e, const struct config *cfg)
{
	e->cfg = cfg;
}

int enforcer_queue_how(const struct enforcer *e)
{
	return e->queue_how;
}

static void add_set(struct enforcer *e, int af, unsigned plen)
{
	for (size_t i = 0; i < e->nsets; i++)
		if (e->sets[i].af == af && e->sets[i].plen == plen)
			return;
	e->sets[e->nsets].af = af;
	e->sets[e->nsets].plen = plen;
	enforcer_set_name(af, plen, e->sets[e->nsets].name, sizeof(e->sets[e->nsets].name));
	e->nsets++;
}

int enforcer_monitor_fd(const struct enforcer *e)
{
	return e->mon ? mnl_socket_get_fd(e->mon) : -1;
}

struct evctx {
	bool gone;
	const char *table;
};

static int on_event(const struct nlmsghdr *nlh, void *data)
{
	struct evctx *x = data;
	struct nftnl_table *t;

	if (NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_DELTABLE)
		return MNL_CB_OK;
	t = nftnl_table_alloc();
	if (nftnl_table_nlmsg_parse(nlh, t) == 0 &&
	    nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY) == NFPROTO_INET &&
	    nftnl_table_is_set(t, NFTNL_TABLE_NAME) &&
	    !strcmp(nftnl_table_get_str(t, NFTNL_TABLE_NAME), x->table))
		x->gone = true;
	nftnl_table_free(t);
	return MNL_CB_OK;
}

bool enforcer_check(struct enforcer *e)
{
	char buf[65536];
	struct evctx x = { .gone = false, .table = e->cfg->table };
	ssize_t n;

	if (!e->mon)
		return false;
	while ((n = mnl_socket_recvfrom(e->mon, buf, sizeof(buf))) > 0)
		mnl_cb_run(buf, (size_t)n, 0, 0, on_event, &x);
	/* Events lost: assume the worst; reinstalling is harmless. */
	if (n < 0 && errno == ENOBUFS)
		x.gone = true;
	return x.gone;
}

int enforcer_reinstall(struct enforcer *e)
{
	char err[256];

	if (install(e, err, sizeof(err)) < 0) {
		logmsg(LOG_ERR, "%s", err);
		return -1;
	}
	return 0;
}

/* Self-managed mode: the sets must exist already. */
static int check_sets(struct enforcer *e, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];

	for (size_t i = 0; i < e->nsets; i++) {
		struct nftnl_set *s = nftnl_set_alloc();
		struct nlmsghdr *nlh;
		int n;

		nftnl_set_set_str(s, NFTNL_SET_TABLE, e->cfg->table);
		nftnl_set_set_str(s, NFTNL_SET_NAME, e->sets[i].name);
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, NFPROTO_INET, NLM_F_ACK, e->seq++);
		nftnl_set_nlmsg_build_payload(nlh, s);
		nftnl_set_free(s);
		if (mnl_socket_sendto(e->nl, nlh, nlh->nlmsg_len) < 0 ||
		    (n = (int)mnl_socket_recvfrom(e->nl, buf, sizeof(buf))) < 0 ||
		    mnl_cb_run(buf, (size_t)n, 0, e->portid, NULL, NULL) < 0) {
			snprintf(err, errlen, "set inet %s %s: %s (manage_ruleset = no: load nft/rcptguard.nft first)",
				 e->cfg->table, e->sets[i].name, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Whether the kernel takes NFT_MSG_DESTROYSETELEM: destroy an element
 * that is not there (the all-zero address) in the first set. */
static void probe_destroy(struct enforcer *e)
{
	struct batch bt;
	struct pending zero = { .key = { .a = { .af = (uint8_t)e->sets[0].af }, .len = (uint8_t)e->sets[0].plen } };
	const struct pending *v = &zero;

	e->del_msg = NFT_MSG_DELSETELEM;
	batch_begin(e, &bt, 8192);
	elem_msg(e, &bt, &e->sets[0], &v, 1, NFT_MSG_DESTROYSETELEM);
	if (batch_send(e, &bt, NULL, 0) == 0)
		e->del_msg = NFT_MSG_DESTROYSETELEM;
}

struct enforcer *enforcer_open(const struct config *cfg, char *err, size_t errlen)
{
	struct enforcer *e = xcalloc(1, sizeof(*e));
	int sz = 16 << 20, rc;

	e->cfg = cfg;
	e->seq = (uint32_t)time(NULL);
	for (size_t i = 0; i < cfg->nrules; i++) {
		add_set(e, 4, cfg->rules[i].prefix4);
		add_set(e, 6, cfg->rules[i].prefix6);
		/* Narrowed prefix bans (see tracker.c) are full-length. */
		if (cfg->manage_ruleset && cfg->rules[i].prefix4 < 32)
			add_set(e, 4, 32);
		if (cfg->manage_ruleset && cfg->rules[i].prefix6 < 128)
			add_set(e, 6, 128);
	}
	e->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!e->nl || mnl_socket_bind(e->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "netlink: %s", strerror(errno));
		goto fail;
	}
	e->portid = mnl_socket_get_portid(e->nl);
	/* Room for a batch of many thousand elements and their answers. */
	setsockopt(mnl_socket_get_fd(e->nl), SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
	setsockopt(mnl_socket_get_fd(e->nl), SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	/* The kernel answers every message; should an answer never come, the
	 * loop must not wait for it forever. */
	{
		struct timeval tv = { .tv_sec = 1 };

		setsockopt(mnl_socket_get_fd(e->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	if (cfg->manage_ruleset && cfg->manage_queue) {
		/* The nft queue expression where the kernel has it, else the
		 * xtables NFQUEUE target through the compat layer. */
		e->queue_how = QUEUE_EXPR;
		rc = install(e, err, errlen);
		if (rc == -ENOENT || rc == -EOPNOTSUPP) {
			logmsg(LOG_NOTICE, "nft: this kernel has no 'queue' expression (%s); "
			       "queueing with the xtables NFQUEUE target (compat)", strerror(-rc));
			e->queue_how = QUEUE_COMPAT;
			rc = install(e, err, errlen);
		}
		if (rc == 0)
			logmsg(LOG_NOTICE, "nft: queue rules for queue %u%s%.0u in table inet %s (%s)",
			       cfg->queue_first, cfg->queue_last != cfg->queue_first ? "-" : "",
			       cfg->queue_last != cfg->queue_first ? cfg->queue_last : 0, cfg->table,
			       e->queue_how == QUEUE_EXPR ? "nft queue expression" : "compat NFQUEUE target");
	} else {
		rc = cfg->manage_ruleset ? install(e, err, errlen) : check_sets(e, err, errlen);
	}
	if (rc)
		goto fail;
	if (!cfg->manage_ruleset)
		enforcer_sync_allow(e);
	probe_destroy(e);
	if (cfg->manage_ruleset) {
		/* Someone may wipe the ruleset (systemctl restart nftables runs
		 * 'flush ruleset'): hear about it. */
		e->mon = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (e->mon && mnl_socket_bind(e->mon, 1u << (NFNLGRP_NFTABLES - 1), MNL_SOCKET_AUTOPID) < 0) {
			mnl_socket_close(e->mon);
			e->mon = NULL;
		}
		if (!e->mon)
			logmsg(LOG_WARNING, "nft: cannot follow ruleset changes (%s); a flushed ruleset "
			       "will not be repaired", strerror(errno));
	}
	return e;
fail:
	enforcer_close(e, false);
	return NULL;
}

void enforcer_close(struct enforcer *e, bool remove)
{
	if (!e)
		return;
	if (remove && e->nl && e->cfg->manage_ruleset) {
		struct batch bt;
		struct nftnl_table *t = nftnl_table_alloc();
		struct nlmsghdr *nlh;

		batch_begin(e, &bt, 4096);
		nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
		nftnl_table_set_str(t, NFTNL_TABLE_NAME, e->cfg->table);
		nlh = batch_msg(e, &bt, NFT_MSG_DELTABLE, NFPROTO_INET, 0);
		nftnl_table_nlmsg_build_payload(nlh, t);
		batch_next(&bt);
		nftnl_table_free(t);
		if (batch_send(e, &bt, NULL, 0))
			logmsg(LOG_WARNING, "nft: could not remove table inet %s", e->cfg->table);
	}
	if (e->nl)
		mnl_socket_close(e->nl);
	if (e->mon)
		mnl_socket_close(e->mon);
	free(e->q);
	free(e->buf);
	free(e);
}

static void table_add(void *arg, const struct elem_info *ei)
{
	struct elem_table *t = arg;

	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	t->v[t->n++] = *ei;
}

int enforcer_snapshot(struct enforcer *e, struct elem_table *t)
{
	int rc = enforcer_dump(e, table_add, t);

	if (t->n)
		qsort(t->v, t->n, sizeof(*t->v), prefix_cmp);
	return rc < 0 ? -1 : 0;
}

const struct elem_info *elem_table_find(const struct elem_table *t, const struct prefix *key)
{
	return t->n ? bsearch(key, t->v, t->n, sizeof(*t->v), prefix_cmp) : NULL;
}

void elem_table_free(struct elem_table *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}
