#include "enforce.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

struct pending {
	struct prefix key;
	uint64_t timeout_ms;
	bool reban;		/* the element may still be in the set */
	bool del;		/* delete only (unban) */
};

struct enforcer {
	const struct config *cfg;
	struct nft_transport *tp;
	struct mnl_socket *mon;	/* nftables events */
	bool lost;		/* the sets were missing after a deaf batch */
	uint32_t seq;
	struct nft_setdef sets[NFT_MAX_SETS];
	size_t nsets;
	struct pending *q;
	size_t nq, capq;
	char *buf;		/* batch buffer */
	size_t buflen;
	int queue_how;		/* enum queue_how */
	uint16_t del_msg;	/* NFT_MSG_DESTROYSETELEM where the kernel has it */
	struct enforce_stats st;
};


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
	bt->b = xnonnull(mnl_nlmsg_batch_start(e->buf, e->buflen));
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

/* Close the batch and exchange it; see nft_transport.exchange. */
static int batch_send(struct enforcer *e, struct batch *bt, int *failed, size_t nfailed)
{
	int rc;

	nftnl_batch_end(mnl_nlmsg_batch_current(bt->b), e->seq++);
	mnl_nlmsg_batch_next(bt->b);
	rc = e->tp->exchange(e->tp, mnl_nlmsg_batch_head(bt->b), mnl_nlmsg_batch_size(bt->b),
			     bt->first, bt->next - bt->first, failed, nfailed);
	mnl_nlmsg_batch_stop(bt->b);
	return rc;
}

/* Every message of a plan (nftrules.c) into the batch. */
static void batch_plan(struct enforcer *e, struct batch *bt, const struct nft_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct nft_msg *m = &p->v[i];
		struct nlmsghdr *nlh = batch_msg(e, bt, m->type, NFPROTO_INET, m->flags);

		switch (m->kind) {
		case NFT_OBJ_TABLE:
			nftnl_table_nlmsg_build_payload(nlh, m->obj);
			break;
		case NFT_OBJ_SET:
			nftnl_set_nlmsg_build_payload(nlh, m->obj);
			break;
		case NFT_OBJ_ELEMS:
			nftnl_set_elems_nlmsg_build_payload(nlh, m->obj);
			break;
		case NFT_OBJ_CHAIN:
			nftnl_chain_nlmsg_build_payload(nlh, m->obj);
			break;
		case NFT_OBJ_RULE:
			nftnl_rule_nlmsg_build_payload(nlh, m->obj);
			break;
		}
		batch_next(bt);
	}
}

int enforcer_sync_allow(struct enforcer *e)
{
	struct batch bt;
	struct nft_plan p = { 0 };
	int rc;

	nftrules_fill_allow(e->cfg, &p);
	batch_begin(e, &bt, 1 << 20);
	batch_plan(e, &bt, &p);
	nft_plan_free(&p);
	rc = batch_send(e, &bt, NULL, 0);
	if (rc) {
		logmsg(LOG_WARNING, "nft: cannot fill sets allow4/allow6 of table inet %s: %s%s",
		       e->cfg->table, strerror(errno), e->cfg->manage_ruleset ? "" :
		       " (manage_ruleset = no: load the current nft/rcptguard.nft); allowlisted "
		       "addresses rely on the tracker alone");
		return -1;
	}
	return 0;
}

static int install(struct enforcer *e, char *err, size_t errlen)
{
	struct nft_plan p = { 0 };
	struct batch bt;
	int *failed, rc;
	size_t nmsg;

	nftrules_install(e->cfg, e->sets, e->nsets, (enum queue_how)e->queue_how, &p);
	nmsg = p.n;
	failed = xcalloc(nmsg, sizeof(*failed));
	batch_begin(e, &bt, 1 << 20);
	batch_plan(e, &bt, &p);
	nft_plan_free(&p);
	rc = batch_send(e, &bt, failed, nmsg);
	if (rc) {
		int why = errno;

		for (size_t i = 0; rc > 0 && i < nmsg; i++)
			if (failed[i]) {
				why = failed[i];
				break;
			}
		free(failed);
		snprintf(err, errlen, "cannot install table inet %s: %s%s", e->cfg->table, strerror(why),
			 why == EPERM ? " (rcptguard needs CAP_NET_ADMIN)" :
			 why == EEXIST ? " (a set of that name exists with other properties: "
					 "delete the table, or change 'table')" : "");
		return -(why ? why : EIO);
	}
	free(failed);
	e->st.installs++;
	return 0;
}

/* ---- elements ---- */

static const struct nft_setdef *set_for(const struct enforcer *e, const struct prefix *k)
{
	for (size_t i = 0; i < e->nsets; i++)
		if (e->sets[i].af == k->a.af && e->sets[i].plen == k->len)
			return &e->sets[i];
	return NULL;
}

bool enforcer_has_set(const struct enforcer *e, const struct prefix *key)
{
	return set_for(e, key) != NULL;
}

/* One message adding (or deleting) the elements of q[from, to) that go to
 * set sd; up to ELEMS_PER_MSG of them. */
#define ELEMS_PER_MSG 1024

static void elem_msg(struct enforcer *e, struct batch *bt, const struct nft_setdef *sd,
		     const struct pending *const *v, size_t n, uint16_t type)
{
	struct nftnl_set *s = xnonnull(nftnl_set_alloc());
	struct nlmsghdr *nlh;

	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, e->cfg->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, sd->name);
	for (size_t i = 0; i < n; i++) {
		struct nftnl_set_elem *el = xnonnull(nftnl_set_elem_alloc());

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
		const struct nft_setdef *sd = &e->sets[si];

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

static int check_sets(struct enforcer *e, char *err, size_t errlen);

/* While the monitor listens, the kernel writes it a notification for
 * every element added, which was 60% of the time of a 100,000-element
 * load (and overran the socket: a needless reinstall). Bulk batches are
 * sent deaf; whether the table went meanwhile is then asked directly. */
#define DEAF_FROM 256

static bool monitor_listen(struct enforcer *e, bool on)
{
	int group = NFNLGRP_NFTABLES;

	return setsockopt(mnl_socket_get_fd(e->mon), SOL_NETLINK,
			  on ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP, &group, sizeof(group)) == 0;
}

int enforcer_flush(struct enforcer *e)
{
	usec_t t0 = clock_mono();
	int rc, errors = 0;
	bool deaf;

	if (!e->nq)
		return 0;
	deaf = e->mon && e->nq >= DEAF_FROM && monitor_listen(e, false);
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
	if (deaf) {
		char err[256];

		if (!monitor_listen(e, true))
			logmsg(LOG_WARNING, "nft: cannot follow ruleset changes again (%s)", strerror(errno));
		/* A flush of the ruleset while deaf: the sets are gone. */
		if (check_sets(e, err, sizeof(err)) < 0)
			e->lost = true;
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
	const struct nft_setdef *sd;
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
	struct nftnl_set *s = xnonnull(nftnl_set_alloc());

	if (nftnl_set_elems_nlmsg_parse(nlh, s) == 0)
		nftnl_set_elem_foreach(s, on_elem, x);
	nftnl_set_free(s);
	return MNL_CB_OK;
}

/* Every element of our sets, to fn; how many, or -1 with errno. */
static int enforcer_dump(struct enforcer *e, void (*fn)(void *arg, const struct elem_info *ei), void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int total = 0;

	for (size_t i = 0; i < e->nsets; i++) {
		struct dumpctx x = { .sd = &e->sets[i], .fn = fn, .arg = arg };
		struct nftnl_set *s = xnonnull(nftnl_set_alloc());
		struct nlmsghdr *nlh;
		uint32_t seq = e->seq++;

		nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
		nftnl_set_set_str(s, NFTNL_SET_TABLE, e->cfg->table);
		nftnl_set_set_str(s, NFTNL_SET_NAME, e->sets[i].name);
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP | NLM_F_ACK, seq);
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		nftnl_set_free(s);
		if (e->tp->request(e->tp, nlh, nlh->nlmsg_len, seq, on_dump, &x) < 0)
			return -1;
		total += (int)x.n;
	}
	return total;
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

bool enforcer_lost(const struct enforcer *e)
{
	return e->lost;
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
	t = xnonnull(nftnl_table_alloc());
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
	struct evctx x = { .gone = e->lost, .table = e->cfg->table };
	ssize_t n;

	e->lost = false;
	if (!e->mon)
		return x.gone;
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
		struct nftnl_set *s = xnonnull(nftnl_set_alloc());
		struct nlmsghdr *nlh;
		uint32_t seq = e->seq++;

		nftnl_set_set_str(s, NFTNL_SET_TABLE, e->cfg->table);
		nftnl_set_set_str(s, NFTNL_SET_NAME, e->sets[i].name);
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, NFPROTO_INET, NLM_F_ACK, seq);
		nftnl_set_nlmsg_build_payload(nlh, s);
		nftnl_set_free(s);
		if (e->tp->request(e->tp, nlh, nlh->nlmsg_len, seq, NULL, NULL) < 0) {
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
	struct pending zero = { .key = { .a = { .af = (uint8_t)e->sets[0].af },
					 .len = (uint8_t)e->sets[0].plen } };
	const struct pending *v = &zero;

	e->del_msg = NFT_MSG_DELSETELEM;
	batch_begin(e, &bt, 8192);
	elem_msg(e, &bt, &e->sets[0], &v, 1, NFT_MSG_DESTROYSETELEM);
	if (batch_send(e, &bt, NULL, 0) == 0)
		e->del_msg = NFT_MSG_DESTROYSETELEM;
}

struct enforcer *enforcer_open_on(const struct config *cfg, struct nft_transport *tp, char *err,
				   size_t errlen)
{
	struct enforcer *e = xcalloc(1, sizeof(*e));
	int rc;

	e->cfg = cfg;
	e->tp = tp;
	e->seq = (uint32_t)time(NULL);
	e->nsets = nftrules_sets(cfg, e->sets);
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
	if (rc) {
		enforcer_close(e, false);
		return NULL;
	}
	if (!cfg->manage_ruleset)
		enforcer_sync_allow(e);
	probe_destroy(e);
	return e;
}

struct enforcer *enforcer_open(const struct config *cfg, char *err, size_t errlen)
{
	struct nft_transport *tp = nft_transport_netlink(err, errlen);
	struct enforcer *e;

	if (!tp)
		return NULL;
	e = enforcer_open_on(cfg, tp, err, errlen);
	if (e && cfg->manage_ruleset) {
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
}

void enforcer_close(struct enforcer *e, bool remove)
{
	if (!e)
		return;
	if (remove && e->cfg->manage_ruleset) {
		struct nft_plan p = { 0 };
		struct batch bt;

		nftrules_remove(e->cfg, &p);
		batch_begin(e, &bt, 4096);
		batch_plan(e, &bt, &p);
		nft_plan_free(&p);
		if (batch_send(e, &bt, NULL, 0))
			logmsg(LOG_WARNING, "nft: could not remove table inet %s", e->cfg->table);
	}
	e->tp->close(e->tp);
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
