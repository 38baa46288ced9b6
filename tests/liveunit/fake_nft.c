/* The fake nf_tables of fake_nft.h. */
#include "fake_nft.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#ifndef NFT_MSG_DESTROYSETELEM
#define NFT_MSG_DESTROYSETELEM 30
#endif

/* The kernel's state a batch works on: applied only if nothing failed. */
struct state {
	bool table;
	char sets[FAKE_MAX_SETS][32];
	int nsets;
	struct fake_elem el[FAKE_MAX_ELEMS];
	int nel;
	unsigned rules;
	unsigned adds, dels;
};

static int find(const struct state *s, const char *set, const uint8_t *key, uint32_t klen)
{
	for (int i = 0; i < s->nel; i++)
		if (!strcmp(s->el[i].set, set) && s->el[i].klen == klen && !memcmp(s->el[i].key, key, klen) &&
		    !s->el[i].interval_end)
			return i;
	return -1;
}

static bool in_sets(char (*sets)[32], int nsets, const char *name)
{
	for (int i = 0; i < nsets; i++)
		if (!strcmp(sets[i], name))
			return true;
	return false;
}

static bool has_set(struct state *s, const char *name)
{
	return in_sets(s->sets, s->nsets, name);
}

struct elemctx {
	struct fake_nft *f;
	struct state *s;
	const char *set;
	int type;
	int err;
	int n;
};

/* One element, as the kernel reads it: key, flags, timeout. */
static void on_elem(struct elemctx *x, const uint8_t *key, uint32_t klen, uint32_t flags,
		    bool has_timeout, uint64_t timeout_ms)
{
	bool end = flags & NFT_SET_ELEM_INTERVAL_END;
	int i;

	x->n++;
	if (x->err || !key || klen > 16)
		return;
	i = end ? -1 : find(x->s, x->set, key, klen);
	if (x->type == NFT_MSG_NEWSETELEM) {
		struct fake_elem *e;

		for (int r = 0; r < x->f->nrefuse; r++) {
			const struct prefix *p = &x->f->refuse[r].key;

			if ((p->a.af == 4 ? 4u : 16u) == klen && !memcmp(p->a.b, key, klen)) {
				x->err = x->f->refuse[r].err;
				return;
			}
		}
		if (i >= 0)
			return;	/* there already: the timeout is not renewed */
		if (x->s->nel == FAKE_MAX_ELEMS) {
			x->err = ENFILE;
			return;
		}
		e = &x->s->el[x->s->nel++];
		memset(e, 0, sizeof(*e));
		snprintf(e->set, sizeof(e->set), "%s", x->set);
		memcpy(e->key, key, klen);
		e->klen = klen;
		e->interval_end = end;
		if (has_timeout)
			e->timeout_ms = e->expires_ms = timeout_ms;
		x->s->adds++;
	} else {
		if (i < 0) {
			if (x->type == NFT_MSG_DELSETELEM)
				x->err = ENOENT;
			return;
		}
		x->s->el[i] = x->s->el[--x->s->nel];
		x->s->dels++;
	}
}

/* The element list of a NEWSETELEM/DELSETELEM, read with libmnl: the
 * kernel ignores the type of each element's nest, and libnftnl 1.2.4
 * numbers them 1, 2, 3, ... when it builds a list but accepts only 1
 * when it parses one, so its parser cannot read what it wrote. */
static int parse_elems(const struct nlmsghdr *nlh, struct elemctx *x, char *name, size_t namelen)
{
	const struct nlattr *a, *list = NULL;

	name[0] = 0;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_SET)
			snprintf(name, namelen, "%s", mnl_attr_get_str(a));
		else if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_ELEMENTS)
			list = a;
	}
	if (!name[0])
		return EINVAL;
	x->set = name;
	if (!list || !x->s)
		return 0;
	mnl_attr_for_each_nested(a, list) {
		const struct nlattr *f;
		const uint8_t *key = NULL;
		uint32_t klen = 0, flags = 0;
		uint64_t timeout = 0;
		bool has_timeout = false;

		mnl_attr_for_each_nested(f, a) {
			switch (mnl_attr_get_type(f)) {
			case NFTA_SET_ELEM_KEY: {
				const struct nlattr *v;

				mnl_attr_for_each_nested(v, f)
					if (mnl_attr_get_type(v) == NFTA_DATA_VALUE) {
						key = mnl_attr_get_payload(v);
						klen = mnl_attr_get_payload_len(v);
					}
				break;
			}
			case NFTA_SET_ELEM_FLAGS:
				flags = ntohl(mnl_attr_get_u32(f));
				break;
			case NFTA_SET_ELEM_TIMEOUT:
				timeout = be64toh(mnl_attr_get_u64(f));
				has_timeout = true;
				break;
			}
		}
		on_elem(x, key, klen, flags, has_timeout, timeout);
	}
	return 0;
}

static int rule_expr(struct nftnl_expr *e, void *data)
{
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (name && !strcmp(name, "queue"))
		*(bool *)data = true;
	return 0;
}

/* One message applied to s; 0 or an errno. */
static int apply(struct fake_nft *f, struct state *s, const struct nlmsghdr *nlh)
{
	int type = NFNL_MSG_TYPE(nlh->nlmsg_type);

	switch (type) {
	case NFT_MSG_NEWTABLE:
		s->table = true;
		return 0;
	case NFT_MSG_DELTABLE:
		if (!s->table)
			return ENOENT;
		s->table = false;
		s->nsets = s->nel = 0;
		s->rules = 0;
		return 0;
	case NFT_MSG_NEWSET: {
		struct nftnl_set *set = nftnl_set_alloc();
		int rc = 0;

		if (!s->table)
			rc = ENOENT;
		else if (nftnl_set_nlmsg_parse(nlh, set) < 0)
			rc = EINVAL;
		else if (!has_set(s, nftnl_set_get_str(set, NFTNL_SET_NAME)) && s->nsets < FAKE_MAX_SETS)
			snprintf(s->sets[s->nsets++], 32, "%s", nftnl_set_get_str(set, NFTNL_SET_NAME));
		nftnl_set_free(set);
		return rc;
	}
	case NFT_MSG_NEWRULE: {
		struct nftnl_rule *r = nftnl_rule_alloc();
		bool queue = false;

		nftnl_rule_nlmsg_parse(nlh, r);
		nftnl_expr_foreach(r, rule_expr, &queue);
		nftnl_rule_free(r);
		if (queue && f->no_queue_expr)
			return ENOENT;
		s->rules++;
		return 0;
	}
	case NFT_MSG_DELRULE:
		return 0;	/* a chain flush: counted in rules only as adds */
	case NFT_MSG_NEWCHAIN:
	case NFT_MSG_DELCHAIN:
		return s->table ? 0 : ENOENT;
	case NFT_MSG_DESTROYSETELEM:
		if (f->no_destroy)
			return EOPNOTSUPP;
		/* fall through */
	case NFT_MSG_NEWSETELEM:
	case NFT_MSG_DELSETELEM: {
		struct elemctx x = { .f = f, .type = type };
		char name[64];

		if (parse_elems(nlh, &x, name, sizeof(name)))
			return EINVAL;
		if (!has_set(s, name))
			return ENOENT;
		x.s = s;
		parse_elems(nlh, &x, name, sizeof(name));
		if (!x.n && type == NFT_MSG_DELSETELEM) {
			/* No elements: the whole set flushed. */
			for (int i = s->nel - 1; i >= 0; i--)
				if (!strcmp(s->el[i].set, name))
					s->el[i] = s->el[--s->nel];
		}
		return x.err;
	}
	default:
		return 0;
	}
}

static void load(const struct fake_nft *f, struct state *s)
{
	s->table = f->table;
	memcpy(s->sets, f->sets, sizeof(s->sets));
	s->nsets = f->nsets;
	memcpy(s->el, f->el, sizeof(s->el));
	s->nel = f->nel;
	s->rules = f->rules;
	s->adds = s->dels = 0;
}

static void store(struct fake_nft *f, const struct state *s)
{
	f->table = s->table;
	memcpy(f->sets, s->sets, sizeof(f->sets));
	f->nsets = s->nsets;
	memcpy(f->el, s->el, sizeof(f->el));
	f->nel = s->nel;
	f->rules = s->rules;
	f->elem_adds += s->adds;
	f->elem_dels += s->dels;
}

static int fake_exchange(struct nft_transport *t, const void *buf, size_t len, uint32_t first,
			 uint32_t n, int *failed, size_t nfailed)
{
	struct fake_nft *f = (struct fake_nft *)t;
	struct state *s = malloc(sizeof(*s));
	const struct nlmsghdr *nlh = buf;
	int left = (int)len, bad = 0;

	f->batches++;
	if (f->refuse_batches) {
		free(s);
		f->failed_batches++;
		errno = EPERM;
		return -1;
	}
	load(f, s);
	while (mnl_nlmsg_ok(nlh, left)) {
		if (nlh->nlmsg_seq >= first && nlh->nlmsg_seq < first + n) {
			int err = apply(f, s, nlh);

			f->messages++;
			if (err) {
				bad++;
				if (failed && nlh->nlmsg_seq - first < nfailed)
					failed[nlh->nlmsg_seq - first] = err;
			}
		}
		nlh = mnl_nlmsg_next(nlh, &left);
	}
	if (bad)
		f->failed_batches++;
	else
		store(f, s);
	free(s);
	return bad;
}

/* GETSET (does the set exist) and GETSETELEM (a dump of it). */
static int fake_request(struct nft_transport *t, const void *req, size_t len, uint32_t seq,
			mnl_cb_t cb, void *data)
{
	struct fake_nft *f = (struct fake_nft *)t;
	const struct nlmsghdr *nlh = req;
	struct nftnl_set *q = nftnl_set_alloc();
	const char *name;
	int type = NFNL_MSG_TYPE(nlh->nlmsg_type);

	(void)len;
	if (type == NFT_MSG_GETSET)
		nftnl_set_nlmsg_parse(nlh, q);
	else
		nftnl_set_elems_nlmsg_parse(nlh, q);
	name = nftnl_set_get_str(q, NFTNL_SET_NAME);
	if (!name || !f->table || !in_sets(f->sets, f->nsets, name)) {
		nftnl_set_free(q);
		errno = ENOENT;
		return -1;
	}
	if (type == NFT_MSG_GETSETELEM && cb) {
		/* One answer message per element, as small dumps come. */
		for (int i = 0; i < f->nel; i++) {
			char buf[1024];
			struct nftnl_set *a;
			struct nftnl_set_elem *e;
			struct nlmsghdr *m;

			if (strcmp(f->el[i].set, name))
				continue;
			a = nftnl_set_alloc();
			e = nftnl_set_elem_alloc();
			nftnl_set_set_u32(a, NFTNL_SET_FAMILY, NFPROTO_INET);
			nftnl_set_set_str(a, NFTNL_SET_TABLE, nftnl_set_get_str(q, NFTNL_SET_TABLE));
			nftnl_set_set_str(a, NFTNL_SET_NAME, name);
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, f->el[i].key, f->el[i].klen);
			if (f->el[i].timeout_ms) {
				nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, f->el[i].timeout_ms);
				nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_EXPIRATION, f->el[i].expires_ms);
			}
			nftnl_set_elem_add(a, e);
			m = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWSETELEM, NFPROTO_INET, NLM_F_MULTI, seq);
			nftnl_set_elems_nlmsg_build_payload(m, a);
			nftnl_set_free(a);
			if (cb(m, data) < 0) {
				nftnl_set_free(q);
				return -1;
			}
		}
	}
	nftnl_set_free(q);
	return 0;
}

static void fake_close(struct nft_transport *t)
{
	(void)t;	/* the test owns the fake */
}

struct fake_nft *fake_nft_new(void)
{
	struct fake_nft *f = calloc(1, sizeof(*f));

	f->t.exchange = fake_exchange;
	f->t.request = fake_request;
	f->t.close = fake_close;
	return f;
}

struct nft_transport *fake_nft_transport(struct fake_nft *f)
{
	return &f->t;
}

void fake_nft_refuse(struct fake_nft *f, const char *prefix, int err)
{
	if (f->nrefuse < 8 && prefix_parse(prefix, &f->refuse[f->nrefuse].key) == 0)
		f->refuse[f->nrefuse++].err = err;
}

const struct fake_elem *fake_nft_find(const struct fake_nft *f, const char *set, const char *key)
{
	struct prefix p;

	if (prefix_parse(key, &p))
		return NULL;
	for (int i = 0; i < f->nel; i++)
		if (!strcmp(f->el[i].set, set) && f->el[i].klen == (p.a.af == 4 ? 4u : 16u) &&
		    !memcmp(f->el[i].key, p.a.b, f->el[i].klen) && !f->el[i].interval_end)
			return &f->el[i];
	return NULL;
}

void fake_nft_put(struct fake_nft *f, const char *set, const char *key, uint64_t timeout_ms,
		  uint64_t left_ms)
{
	struct fake_elem *e = &f->el[f->nel++];
	struct prefix p;

	prefix_parse(key, &p);
	memset(e, 0, sizeof(*e));
	snprintf(e->set, sizeof(e->set), "%s", set);
	e->klen = p.a.af == 4 ? 4 : 16;
	memcpy(e->key, p.a.b, e->klen);
	e->timeout_ms = timeout_ms;
	e->expires_ms = left_ms;
}

int fake_nft_count(const struct fake_nft *f, const char *set)
{
	int n = 0;

	for (int i = 0; i < f->nel; i++)
		n += !strcmp(f->el[i].set, set);
	return n;
}
