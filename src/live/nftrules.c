/* The managed ruleset, built as nftnl objects (see nftrules.h). */
#include "nftrules.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

/* nft's datatype numbers for the set keys, so that `nft list` shows them. */
#define NFT_TYPE_IPADDR 7
#define NFT_TYPE_IP6ADDR 8
/* Before the usual filter chains (priority 0): a banned source costs
 * nothing further down. */
#define CHAIN_PRIORITY (-10)
/* After our drop chains: a banned source's packets are dropped before
 * they cost a trip to user space. */
#define QUEUE_PRIORITY (-5)

/* ---- the plan ---- */

static void plan_add(struct nft_plan *p, uint16_t type, uint16_t flags, enum nft_obj kind, void *obj)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 32;
		p->v = xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	p->v[p->n++] = (struct nft_msg){ .type = type, .flags = flags, .kind = kind, .obj = obj };
}

void nft_plan_free(struct nft_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		switch (p->v[i].kind) {
		case NFT_OBJ_TABLE:
			nftnl_table_free(p->v[i].obj);
			break;
		case NFT_OBJ_SET:
		case NFT_OBJ_ELEMS:
			nftnl_set_free(p->v[i].obj);
			break;
		case NFT_OBJ_CHAIN:
			nftnl_chain_free(p->v[i].obj);
			break;
		case NFT_OBJ_RULE:
			nftnl_rule_free(p->v[i].obj);
			break;
		}
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

static const char *msg_name(uint16_t type)
{
	switch (type) {
	case NFT_MSG_NEWTABLE: return "add table";
	case NFT_MSG_DELTABLE: return "delete table";
	case NFT_MSG_NEWCHAIN: return "add chain";
	case NFT_MSG_DELCHAIN: return "delete chain";
	case NFT_MSG_NEWRULE: return "add rule";
	case NFT_MSG_DELRULE: return "flush chain";
	case NFT_MSG_NEWSET: return "add set";
	case NFT_MSG_NEWSETELEM: return "add element";
	case NFT_MSG_DELSETELEM: return "delete element";
	default: return "message";
	}
}

void nft_plan_print(const struct nft_plan *p, FILE *f)
{
	char buf[16384];

	for (size_t i = 0; i < p->n; i++) {
		const struct nft_msg *m = &p->v[i];

		switch (m->kind) {
		case NFT_OBJ_TABLE:
			nftnl_table_snprintf(buf, sizeof(buf), m->obj, NFTNL_OUTPUT_DEFAULT, 0);
			break;
		case NFT_OBJ_SET:
		case NFT_OBJ_ELEMS:
			nftnl_set_snprintf(buf, sizeof(buf), m->obj, NFTNL_OUTPUT_DEFAULT, 0);
			break;
		case NFT_OBJ_CHAIN:
			nftnl_chain_snprintf(buf, sizeof(buf), m->obj, NFTNL_OUTPUT_DEFAULT, 0);
			break;
		case NFT_OBJ_RULE:
			nftnl_rule_snprintf(buf, sizeof(buf), m->obj, NFTNL_OUTPUT_DEFAULT, 0);
			break;
		}
		fprintf(f, "%s%s: %s\n", msg_name(m->type), m->flags & NLM_F_APPEND ? " (append)" : "", buf);
	}
}

/* ---- sets ---- */

void nftrules_set_name(int af, unsigned plen, char *buf, size_t len)
{
	snprintf(buf, len, "banned%d_%u", af, plen);
}

static size_t add_setdef(struct nft_setdef *v, size_t n, int af, unsigned plen)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].af == af && v[i].plen == plen)
			return n;
	v[n].af = af;
	v[n].plen = plen;
	nftrules_set_name(af, plen, v[n].name, sizeof(v[n].name));
	return n + 1;
}

size_t nftrules_sets(const struct config *cfg, struct nft_setdef *v)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->nrules; i++) {
		n = add_setdef(v, n, 4, cfg->rules[i].prefix4);
		n = add_setdef(v, n, 6, cfg->rules[i].prefix6);
		/* Narrowed prefix bans (see tracker.c) are full-length. */
		if (cfg->manage_ruleset && cfg->rules[i].prefix4 < 32)
			n = add_setdef(v, n, 4, 32);
		if (cfg->manage_ruleset && cfg->rules[i].prefix6 < 128)
			n = add_setdef(v, n, 6, 128);
	}
	return n;
}

static struct nftnl_set *new_set(const struct config *cfg, const char *name)
{
	struct nftnl_set *s = xnonnull(nftnl_set_alloc());

	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, cfg->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	return s;
}

/* ---- expressions ---- */

static struct nftnl_expr *ex_meta(uint32_t key)
{
	struct nftnl_expr *x = xnonnull(nftnl_expr_alloc("meta"));

	nftnl_expr_set_u32(x, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(x, NFTNL_EXPR_META_DREG, NFT_REG_1);
	return x;
}

static struct nftnl_expr *ex_cmp(uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *x = xnonnull(nftnl_expr_alloc("cmp"));

	nftnl_expr_set_u32(x, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(x, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(x, NFTNL_EXPR_CMP_DATA, data, len);
	return x;
}

static struct nftnl_expr *ex_payload(uint32_t base, uint32_t off, uint32_t len)
{
	struct nftnl_expr *x = xnonnull(nftnl_expr_alloc("payload"));

	nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	return x;
}

static struct nftnl_expr *ex_mask(const void *mask, uint32_t len)
{
	static const uint8_t zero[16];
	struct nftnl_expr *x = xnonnull(nftnl_expr_alloc("bitwise"));

	nftnl_expr_set_u32(x, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(x, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(x, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(x, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(x, NFTNL_EXPR_BITWISE_XOR, zero, len);
	return x;
}

/* counter VERDICT: the end of every rule of ours that decides. */
static void counter_verdict(struct nftnl_rule *r, uint32_t verdict)
{
	struct nftnl_expr *v = xnonnull(nftnl_expr_alloc("immediate"));

	nftnl_rule_add_expr(r, xnonnull(nftnl_expr_alloc("counter")));
	nftnl_expr_set_u32(v, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(v, NFTNL_EXPR_IMM_VERDICT, verdict);
	nftnl_rule_add_expr(r, v);
}

/* ---- rules ---- */

/* A rule in one of our chains, to be filled with expressions. */
static struct nftnl_rule *new_rule(const struct config *cfg, const char *chain)
{
	struct nftnl_rule *r = xnonnull(nftnl_rule_alloc());

	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, cfg->table);
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
	struct nftnl_expr *lk = xnonnull(nftnl_expr_alloc("lookup"));

	nftnl_expr_set_u32(lk, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_str(lk, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_rule_add_expr(r, lk);
	counter_verdict(r, verdict);
}

/* meta nfproto AF meta l4proto tcp tcp dport PORT [tcp flags & (syn|ack)
 * == syn] ip(6) saddr [& MASK] @SET counter drop */
static struct nftnl_rule *drop_rule(const struct config *cfg, const char *chain,
				    const struct nft_setdef *sd, uint16_t port)
{
	struct nftnl_rule *r = new_rule(cfg, chain);
	uint32_t alen = sd->af == 4 ? 4 : 16;

	match_nfproto(r, sd->af);
	match_tcp_port(r, port, false);
	if (cfg->drop == DROP_NEW) {
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

/* Sources that no drop rule may touch, whatever a set holds: the
 * allowlist and the host's own addresses. A prefix ban is narrowed in the
 * tracker so as not to cover them; this makes it so in the kernel too,
 * also for elements added by hand or by another tool. */
static const char *const allow_set[2] = { "allow4", "allow6" };

/* meta nfproto AF ip(6) saddr @allowN counter accept */
static struct nftnl_rule *allow_rule(const struct config *cfg, const char *chain, int af)
{
	struct nftnl_rule *r = new_rule(cfg, chain);

	match_nfproto(r, af);
	nftnl_rule_add_expr(r, ex_payload(NFT_PAYLOAD_NETWORK_HEADER, af == 4 ? 12 : 8, af == 4 ? 4 : 16));
	lookup_verdict(r, allow_set[af == 6], NF_ACCEPT);
	return r;
}

/* meta l4proto tcp tcp dport|sport PORT queue num Q[-R] bypass, with the
 * nft queue expression or, on kernels without it, the xtables NFQUEUE
 * target through nf_tables' compat layer (what iptables-nft emits). */
static struct nftnl_rule *queue_rule(const struct config *cfg, enum queue_how how,
				     const char *chain, uint16_t port, bool by_source)
{
	struct nftnl_rule *r = new_rule(cfg, chain);
	uint16_t total = (uint16_t)(cfg->queue_last - cfg->queue_first + 1);
	struct nftnl_expr *q;

	match_tcp_port(r, port, by_source);
	if (how == QUEUE_EXPR) {
		q = xnonnull(nftnl_expr_alloc("queue"));
		nftnl_expr_set_u16(q, NFTNL_EXPR_QUEUE_NUM, cfg->queue_first);
		nftnl_expr_set_u16(q, NFTNL_EXPR_QUEUE_TOTAL, total);
		nftnl_expr_set_u16(q, NFTNL_EXPR_QUEUE_FLAGS, NFT_QUEUE_FLAG_BYPASS);
	} else {
		/* libnftnl keeps (and later frees) the info pointer itself. */
		struct xt_NFQ_info_v3 *info = xcalloc(1, sizeof(*info));

		info->queuenum = cfg->queue_first;
		info->queues_total = total;
		info->flags = NFQ_FLAG_BYPASS;
		q = xnonnull(nftnl_expr_alloc("target"));
		nftnl_expr_set_str(q, NFTNL_EXPR_TG_NAME, "NFQUEUE");
		nftnl_expr_set_u32(q, NFTNL_EXPR_TG_REV, 3);
		nftnl_expr_set(q, NFTNL_EXPR_TG_INFO, info, sizeof(*info));
	}
	nftnl_rule_add_expr(r, q);
	return r;
}

/* A TCP segment that carries nothing the dialogue needs: no SYN, FIN or
 * RST, and no payload. nft has no arithmetic for "IP length minus both
 * headers", so one rule per TCP data offset d (5 to 15 words) compares
 * the packet's length with its headers' (IPv4 without options, IPv6
 * without extension headers; anything else goes to the queue, the safe
 * side):
 *
 *   meta nfproto ipv4 meta l4proto tcp tcp dport|sport PORT @nh,0,8 0x45
 *   tcp flags & (fin|syn|rst) == 0 @th,96,4 d meta length <= 20 + 4d
 *   counter accept
 *
 * The pipeline never needs such a segment: the handshake is proven by
 * the first data segment continuing it as well as by the bare third ACK
 * (pipeline.c), and acknowledgments matter only on segments with data. */
static struct nftnl_rule *bare_ack_rule(const struct config *cfg, const char *chain, int af, uint16_t port,
					bool by_source, uint8_t doff)
{
	struct nftnl_rule *r = new_rule(cfg, chain);
	uint8_t v4 = 0x45, tcp = IPPROTO_TCP, flags_mask = 0x07, zero = 0, doff_mask = 0xf0, d = (uint8_t)(doff << 4);
	uint32_t max = htonl((af == 4 ? 20u : 40u) + 4u * doff);
	struct nftnl_expr *bo = xnonnull(nftnl_expr_alloc("byteorder"));

	match_nfproto(r, af);
	match_tcp_port(r, port, by_source);
	if (af == 4) {
		nftnl_rule_add_expr(r, ex_payload(NFT_PAYLOAD_NETWORK_HEADER, 0, 1));
		nftnl_rule_add_expr(r, ex_cmp(NFT_CMP_EQ, &v4, 1));
	} else {
		/* The next header is TCP itself: no extension header. */
		nftnl_rule_add_expr(r, ex_payload(NFT_PAYLOAD_NETWORK_HEADER, 6, 1));
		nftnl_rule_add_expr(r, ex_cmp(NFT_CMP_EQ, &tcp, 1));
	}
	nftnl_rule_add_expr(r, ex_payload(NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1));
	nftnl_rule_add_expr(r, ex_mask(&flags_mask, 1));
	nftnl_rule_add_expr(r, ex_cmp(NFT_CMP_EQ, &zero, 1));
	nftnl_rule_add_expr(r, ex_payload(NFT_PAYLOAD_TRANSPORT_HEADER, 12, 1));
	nftnl_rule_add_expr(r, ex_mask(&doff_mask, 1));
	nftnl_rule_add_expr(r, ex_cmp(NFT_CMP_EQ, &d, 1));
	/* meta length is in host order: compared in network order. */
	nftnl_rule_add_expr(r, ex_meta(NFT_META_LEN));
	nftnl_expr_set_u32(bo, NFTNL_EXPR_BYTEORDER_SREG, NFT_REG_1);
	nftnl_expr_set_u32(bo, NFTNL_EXPR_BYTEORDER_DREG, NFT_REG_1);
	nftnl_expr_set_u32(bo, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
	nftnl_expr_set_u32(bo, NFTNL_EXPR_BYTEORDER_LEN, 4);
	nftnl_expr_set_u32(bo, NFTNL_EXPR_BYTEORDER_SIZE, 4);
	nftnl_rule_add_expr(r, bo);
	nftnl_rule_add_expr(r, ex_cmp(NFT_CMP_LTE, &max, 4));
	counter_verdict(r, NF_ACCEPT);
	return r;
}

/* The rest of a session rcptguard can no longer read bypasses the queue:
 * the verdict marks one of its packets (opaque_mark), a chain right after
 * the queue's copies the mark to the connection, and the first rule of
 * the queue's chain accepts a marked connection.
 *
 *   ct mark & M == M counter accept                  (queue chains)
 *   meta mark & M == M ct mark set ct mark | M       (mark chains) */
/* ct mark (ct) or meta mark & m == m */
static void match_bits(struct nftnl_rule *r, bool ct, uint32_t m)
{
	if (ct) {
		struct nftnl_expr *x = xnonnull(nftnl_expr_alloc("ct"));

		nftnl_expr_set_u32(x, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
		nftnl_expr_set_u32(x, NFTNL_EXPR_CT_DREG, NFT_REG_1);
		nftnl_rule_add_expr(r, x);
	} else {
		nftnl_rule_add_expr(r, ex_meta(NFT_META_MARK));
	}
	nftnl_rule_add_expr(r, ex_mask(&m, 4));
	nftnl_rule_add_expr(r, ex_cmp(NFT_CMP_EQ, &m, 4));
}

static struct nftnl_rule *opaque_accept_rule(const struct config *cfg, const char *chain)
{
	struct nftnl_rule *r = new_rule(cfg, chain);

	match_bits(r, true, cfg->opaque_mark);
	counter_verdict(r, NF_ACCEPT);
	return r;
}

static struct nftnl_rule *opaque_save_rule(const struct config *cfg, const char *chain)
{
	struct nftnl_rule *r = new_rule(cfg, chain);
	struct nftnl_expr *ct = xnonnull(nftnl_expr_alloc("ct"));
	struct nftnl_expr *or = xnonnull(nftnl_expr_alloc("bitwise"));
	struct nftnl_expr *set = xnonnull(nftnl_expr_alloc("ct"));
	uint32_t keep = ~cfg->opaque_mark, bits = cfg->opaque_mark;

	match_bits(r, false, cfg->opaque_mark);
	/* x | M, as nft writes it: (x & ~M) ^ M. */
	nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
	nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, ct);
	nftnl_expr_set_u32(or, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(or, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(or, NFTNL_EXPR_BITWISE_LEN, 4);
	nftnl_expr_set(or, NFTNL_EXPR_BITWISE_MASK, &keep, 4);
	nftnl_expr_set(or, NFTNL_EXPR_BITWISE_XOR, &bits, 4);
	nftnl_rule_add_expr(r, or);
	nftnl_expr_set_u32(set, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
	nftnl_expr_set_u32(set, NFTNL_EXPR_CT_SREG, NFT_REG_1);
	nftnl_rule_add_expr(r, set);
	return r;
}

/* ---- chains ---- */

/* A base chain of ours on hook at prio, created (a no-op when it exists)
 * and emptied: adopting a table from an earlier run replaces what its
 * chains held. With keep false it is deleted in the same atomic batch
 * (gateway or manage_queue turned off since). Returns keep. */
static bool base_chain(const struct config *cfg, struct nft_plan *p, const char *name,
		       uint32_t hook, int prio, bool keep)
{
	struct nftnl_chain *c = xnonnull(nftnl_chain_alloc());
	struct nftnl_rule *flush = new_rule(cfg, name);

	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, cfg->table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	plan_add(p, NFT_MSG_NEWCHAIN, NLM_F_CREATE, NFT_OBJ_CHAIN, c);
	/* A rule message with no handle: every rule of the chain. */
	plan_add(p, NFT_MSG_DELRULE, 0, NFT_OBJ_RULE, flush);
	if (!keep) {
		struct nftnl_chain *d = xnonnull(nftnl_chain_alloc());

		nftnl_chain_set_u32(d, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
		nftnl_chain_set_str(d, NFTNL_CHAIN_TABLE, cfg->table);
		nftnl_chain_set_str(d, NFTNL_CHAIN_NAME, name);
		plan_add(p, NFT_MSG_DELCHAIN, 0, NFT_OBJ_CHAIN, d);
	}
	return keep;
}

static void append_rule(struct nft_plan *p, struct nftnl_rule *r)
{
	plan_add(p, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, NFT_OBJ_RULE, r);
}

static void drop_chain(const struct config *cfg, const struct nft_setdef *sets, size_t nsets,
		       struct nft_plan *p, const char *name, uint32_t hook, bool keep)
{
	if (!base_chain(cfg, p, name, hook, CHAIN_PRIORITY, keep))
		return;
	/* Allowed sources first: no drop rule below sees them. */
	append_rule(p, allow_rule(cfg, name, 4));
	append_rule(p, allow_rule(cfg, name, 6));
	for (size_t s = 0; s < nsets; s++)
		for (size_t i = 0; i < cfg->nports; i++)
			append_rule(p, drop_rule(cfg, name, &sets[s], cfg->ports[i]));
}

static void queue_chain(const struct config *cfg, enum queue_how how, struct nft_plan *p,
			const char *name, uint32_t hook, bool keep)
{
	if (!base_chain(cfg, p, name, hook, QUEUE_PRIORITY, keep))
		return;
	if (cfg->opaque_mark)
		append_rule(p, opaque_accept_rule(cfg, name));
	for (size_t i = 0; i < cfg->nports; i++) {
		for (int by_source = 0; by_source < 2; by_source++) {
			/* Input sees the clients' packets, output the replies;
			 * forward sees both. */
			if ((hook == NF_INET_LOCAL_IN && by_source) ||
			    (hook == NF_INET_LOCAL_OUT && !by_source))
				continue;
			/* Bare ACKs pass without a round trip to user space. */
			for (int af = 4; !cfg->queue_acks && af <= 6; af += 2)
				for (uint8_t doff = 5; doff <= 15; doff++)
					append_rule(p, bare_ack_rule(cfg, name, af, cfg->ports[i], by_source, doff));
			append_rule(p, queue_rule(cfg, how, name, cfg->ports[i], by_source));
		}
	}
}

/* Right after the queue's chain on the same hook: a packet the verdict
 * marked passes here, and its connection keeps the mark. */
static void mark_chain(const struct config *cfg, struct nft_plan *p, const char *name, uint32_t hook, bool keep)
{
	if (base_chain(cfg, p, name, hook, QUEUE_PRIORITY + 1, keep))
		append_rule(p, opaque_save_rule(cfg, name));
}

/* ---- the allow sets ---- */

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
static size_t allow_ranges(const struct config *cfg, int af, struct range **out)
{
	const struct prefixlist *l[2] = { &cfg->allowlist, cfg->servers_any ? NULL : &cfg->servers };
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

static void new_allow_set(const struct config *cfg, struct nft_plan *p, int af)
{
	struct nftnl_set *s = new_set(cfg, allow_set[af == 6]);

	nftnl_set_set_u32(s, NFTNL_SET_ID, (uint32_t)(2 * MAX_RULES + (af == 6) + 1));
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, af == 4 ? 4 : 16);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, af == 4 ? NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR);
	plan_add(p, NFT_MSG_NEWSET, NLM_F_CREATE, NFT_OBJ_SET, s);
}

void nftrules_fill_allow(const struct config *cfg, struct nft_plan *p)
{
	for (int af = 4; af <= 6; af += 2) {
		struct range *v;
		size_t n = allow_ranges(cfg, af, &v);
		uint32_t alen = af == 4 ? 4 : 16;

		/* No elements: the whole set is flushed. */
		plan_add(p, NFT_MSG_DELSETELEM, 0, NFT_OBJ_ELEMS, new_set(cfg, allow_set[af == 6]));
		if (n) {
			struct nftnl_set *s = new_set(cfg, allow_set[af == 6]);

			for (size_t i = 0; i < n; i++) {
				struct nftnl_set_elem *el = xnonnull(nftnl_set_elem_alloc());

				nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, v[i].lo, alen);
				nftnl_set_elem_add(s, el);
				if (v[i].top)
					continue;	/* up to the last address */
				el = xnonnull(nftnl_set_elem_alloc());
				nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, v[i].hi, alen);
				nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
				nftnl_set_elem_add(s, el);
			}
			plan_add(p, NFT_MSG_NEWSETELEM, NLM_F_CREATE, NFT_OBJ_ELEMS, s);
		}
		free(v);
	}
}

/* ---- the table ---- */

static struct nftnl_table *table_obj(const struct config *cfg)
{
	struct nftnl_table *t = xnonnull(nftnl_table_alloc());

	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, cfg->table);
	return t;
}

void nftrules_install(const struct config *cfg, const struct nft_setdef *sets, size_t nsets,
		      enum queue_how how, struct nft_plan *p)
{
	plan_add(p, NFT_MSG_NEWTABLE, NLM_F_CREATE, NFT_OBJ_TABLE, table_obj(cfg));
	for (size_t i = 0; i < nsets; i++) {
		struct nftnl_set *s = new_set(cfg, sets[i].name);

		nftnl_set_set_u32(s, NFTNL_SET_ID, (uint32_t)i + 1);
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_TIMEOUT);
		/* A full set refuses the next element (ENFILE): bounded
		 * kernel memory, and the refusal is logged and counted. */
		nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, cfg->set_size);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, sets[i].af == 4 ? 4 : 16);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, sets[i].af == 4 ? NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR);
		/* Per-element counters: how much each ban dropped. */
		nftnl_set_add_expr(s, xnonnull(nftnl_expr_alloc("counter")));
		plan_add(p, NFT_MSG_NEWSET, NLM_F_CREATE, NFT_OBJ_SET, s);
	}
	new_allow_set(cfg, p, 4);
	new_allow_set(cfg, p, 6);
	nftrules_fill_allow(cfg, p);
	drop_chain(cfg, sets, nsets, p, "input", NF_INET_LOCAL_IN, true);
	drop_chain(cfg, sets, nsets, p, "forward", NF_INET_FORWARD, cfg->gateway);
	queue_chain(cfg, how, p, "queue_in", NF_INET_LOCAL_IN, how != QUEUE_NONE);
	queue_chain(cfg, how, p, "queue_out", NF_INET_LOCAL_OUT, how != QUEUE_NONE);
	queue_chain(cfg, how, p, "queue_fwd", NF_INET_FORWARD, how != QUEUE_NONE && cfg->gateway);
	mark_chain(cfg, p, "mark_in", NF_INET_LOCAL_IN, how != QUEUE_NONE && cfg->opaque_mark);
	mark_chain(cfg, p, "mark_out", NF_INET_LOCAL_OUT, how != QUEUE_NONE && cfg->opaque_mark);
	mark_chain(cfg, p, "mark_fwd", NF_INET_FORWARD, how != QUEUE_NONE && cfg->opaque_mark && cfg->gateway);
}

void nftrules_remove(const struct config *cfg, struct nft_plan *p)
{
	plan_add(p, NFT_MSG_DELTABLE, 0, NFT_OBJ_TABLE, table_obj(cfg));
}
