#include "tracker.h"

#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX
/* Slots per wheel: a hit leaves its count between one window and one
 * window plus 1/63 of it after it happened. */
#define WHEEL_SLOTS 64
/* Recipients kept for ban evidence, shared by all sources. */
#define EVIDENCE_SLOTS 4096

struct source {
	struct ipaddr key;
	uint8_t plen;
	uint8_t banned;
	uint16_t bans;		/* times banned so far */
	uint32_t hnext;		/* hash chain */
	uint32_t prev, next;	/* LRU of unbanned sources */
	usec_t until;		/* ban end, when banned */
};

/* Per source and rule: the live hits, oldest first. */
struct rstate {
	uint32_t count;
	uint32_t head, tail;
};

/* One counted event. It sits on two lists: its source's (per rule,
 * oldest first) and its wheel slot's (doubly linked, so that a source
 * banned or evicted gives its hits back at once: the hits held are those
 * of tracked sources, never more). */
struct hit {
	uint32_t src;
	uint32_t snext;		/* next hit of the same source and rule */
	uint32_t wnext, wprev;	/* wheel slot list; wprev NIL at the head */
	uint32_t rcpt_hash;
	uint32_t ev;		/* evidence ring position */
	uint8_t rule, slot;	/* which wheel and slot list it is on */
};

struct wheel {
	usec_t width;
	int64_t pos;		/* slot number last turned to */
	uint32_t slot[WHEEL_SLOTS];
};

/* An active ban: in a heap by end time. What it was for lives here, not in
 * the source, so sources that were never banned pay nothing for it. */
struct banent {
	usec_t until;
	usec_t since;
	uint32_t src;
	uint32_t count;
	int32_t rule;
};

struct tracker {
	const struct config *cfg;
	ban_fn on_ban;
	void *arg;
	size_t nrules;

	struct source *src;
	struct rstate *rs;	/* nrules per source */
	uint32_t nsrc, cap, max;
	uint32_t free_src;	/* chained through hnext */
	uint32_t *bucket;
	uint32_t nbucket;	/* power of two */
	uint32_t lru_head, lru_tail;	/* head = most recent */
	uint32_t last;		/* the source found last: events come in runs */

	struct hit *hit;
	uint32_t nhit, hitcap, free_hit;

	struct wheel wheel[MAX_RULES];

	struct banent *heap;
	uint32_t nheap, heapcap;

	uint32_t ev_pos;
	char (*evidence)[SMTP_RCPT_MAX];

	struct tracker_stats st;
};

int classify(const struct smtp_event *ev)
{
	unsigned cls = ev->code / 100;

	if (ev->code == 500 || ev->code == 502)
		return EC_UNKNOWN_COMMAND;
	switch (ev->verb) {
	case V_RCPT:
		if (cls == 2)
			return EC_RCPT_ACCEPTED;
		if (cls == 4)
			return EC_RCPT_TEMPFAIL;
		if (cls != 5)
			return -1;
		/* Outside an accepted MAIL, a refusal says nothing about the
		 * recipient: pipelined RCPTs after a refused MAIL get 503 or
		 * 501 from real servers. x.5.3 is a recipient-count limit. */
		if (!ev->in_txn || ev->code == 503 ||
		    (ev->has_enh && ev->enh[1] == 5 && ev->enh[2] == 3))
			return EC_RCPT_SEQUENCE;
		if (ev->has_enh) {
			if (ev->enh[1] == 7)
				return EC_RCPT_POLICY;
			if (ev->enh[1] == 1 || (ev->enh[1] == 2 && ev->enh[2] == 4))
				return EC_RCPT_REJECTED;
			return EC_RCPT_OTHER;
		}
		/* No enhanced code (Exim, OpenSMTPD): 55x is about the address,
		 * 501/504 about syntax. */
		return ev->code >= 550 ? EC_RCPT_REJECTED : EC_RCPT_OTHER;
	case V_VRFY:
	case V_EXPN:
		return cls == 5 ? EC_VRFY_REJECTED : -1;
	case V_AUTH:
		return ev->code == 535 ? EC_AUTH_FAILED : -1;
	default:
		return -1;
	}
}

/* ---- sources ---- */

static uint32_t key_bucket(const struct tracker *t, const struct ipaddr *a, uint8_t plen)
{
	uint64_t h = hash_bytes(a, sizeof(*a), plen);

	return (uint32_t)h & (t->nbucket - 1);
}

static void lru_unlink(struct tracker *t, uint32_t i)
{
	struct source *s = &t->src[i];

	if (s->prev != NIL)
		t->src[s->prev].next = s->next;
	else
		t->lru_head = s->next;
	if (s->next != NIL)
		t->src[s->next].prev = s->prev;
	else
		t->lru_tail = s->prev;
	s->prev = s->next = NIL;
}

static void lru_push_head(struct tracker *t, uint32_t i)
{
	struct source *s = &t->src[i];

	s->prev = NIL;
	s->next = t->lru_head;
	if (t->lru_head != NIL)
		t->src[t->lru_head].prev = i;
	t->lru_head = i;
	if (t->lru_tail == NIL)
		t->lru_tail = i;
}

static void rehash(struct tracker *t, uint32_t nbucket)
{
	free(t->bucket);
	t->nbucket = nbucket;
	t->bucket = malloc(sizeof(*t->bucket) * nbucket);
	if (!t->bucket)
		abort();
	memset(t->bucket, 0xff, sizeof(*t->bucket) * nbucket);
	for (uint32_t i = 0; i < t->cap; i++) {
		struct source *s = &t->src[i];

		if (s->key.af == 0)
			continue;	/* on the free list */
		uint32_t b = key_bucket(t, &s->key, s->plen);

		s->hnext = t->bucket[b];
		t->bucket[b] = i;
	}
}

static void free_hit(struct tracker *t, uint32_t h)
{
	t->hit[h].src = NIL;
	t->hit[h].wnext = t->free_hit;
	t->free_hit = h;
	t->nhit--;
}

/* Take a hit off its wheel slot and free it. */
static void unlink_hit(struct tracker *t, uint32_t h)
{
	struct hit *x = &t->hit[h];

	if (x->wprev != NIL)
		t->hit[x->wprev].wnext = x->wnext;
	else
		t->wheel[x->rule].slot[x->slot] = x->wnext;
	if (x->wnext != NIL)
		t->hit[x->wnext].wprev = x->wprev;
	free_hit(t, h);
}

/* A source banned or evicted: its hits go now, not when their slots turn. */
static void drop_hits(struct tracker *t, uint32_t si)
{
	for (size_t r = 0; r < t->nrules; r++) {
		struct rstate *rs = &t->rs[(size_t)si * t->nrules + r];

		for (uint32_t h = rs->head, next; h != NIL; h = next) {
			next = t->hit[h].snext;
			unlink_hit(t, h);
		}
		rs->count = 0;
		rs->head = rs->tail = NIL;
	}
}

static void evict(struct tracker *t, uint32_t si)
{
	struct source *s = &t->src[si];
	uint32_t *pp = &t->bucket[key_bucket(t, &s->key, s->plen)];

	while (*pp != si)
		pp = &t->src[*pp].hnext;
	*pp = s->hnext;
	drop_hits(t, si);
	lru_unlink(t, si);
	if (t->last == si)
		t->last = NIL;
	memset(&s->key, 0, sizeof(s->key));
	s->hnext = t->free_src;
	t->free_src = si;
	t->nsrc--;
}

static uint32_t source_get(struct tracker *t, const struct ipaddr *key, uint8_t plen)
{
	uint32_t b, i;
	struct source *s;

	if (t->last != NIL && t->src[t->last].plen == plen && addr_eq(&t->src[t->last].key, key))
		return t->last;
	b = key_bucket(t, key, plen);
	for (i = t->bucket[b]; i != NIL; i = t->src[i].hnext)
		if (t->src[i].plen == plen && addr_eq(&t->src[i].key, key))
			return t->last = i;

	if (t->free_src == NIL && t->cap < t->max) {
		uint32_t ncap = t->cap ? t->cap * 2 : 1024;

		if (ncap > t->max)
			ncap = t->max;
		t->src = xrealloc(t->src, sizeof(*t->src) * ncap);
		t->rs = xrealloc(t->rs, sizeof(*t->rs) * ncap * t->nrules);
		for (uint32_t j = ncap; j-- > t->cap;) {
			memset(&t->src[j], 0, sizeof(t->src[j]));
			t->src[j].hnext = t->free_src;
			t->free_src = j;
		}
		t->cap = ncap;
		if (t->cap > t->nbucket)
			rehash(t, t->nbucket * 2 >= t->cap ? t->nbucket * 2 : t->cap);
		b = key_bucket(t, key, plen);
	}
	if (t->free_src == NIL) {
		if (t->lru_tail == NIL) {
			t->st.table_full++;
			return NIL;
		}
		t->st.evictions++;
		evict(t, t->lru_tail);
	}
	i = t->free_src;
	s = &t->src[i];
	t->free_src = s->hnext;
	memset(s, 0, sizeof(*s));
	s->key = *key;
	s->plen = plen;
	s->prev = s->next = NIL;
	for (size_t r = 0; r < t->nrules; r++) {
		struct rstate *rs = &t->rs[(size_t)i * t->nrules + r];

		rs->count = 0;
		rs->head = rs->tail = NIL;
	}
	s->hnext = t->bucket[b];
	t->bucket[b] = i;
	lru_push_head(t, i);
	if (++t->nsrc > t->st.sources_peak)
		t->st.sources_peak = t->nsrc;
	return t->last = i;
}

/* ---- bans ---- */

static void heap_push(struct tracker *t, const struct banent *be)
{
	uint32_t i;
	usec_t until = be->until;

	if (t->nheap == t->heapcap) {
		t->heapcap = t->heapcap ? t->heapcap * 2 : 64;
		t->heap = xrealloc(t->heap, sizeof(*t->heap) * t->heapcap);
	}
	i = t->nheap++;
	while (i) {
		uint32_t p = (i - 1) / 2;

		if (t->heap[p].until <= until)
			break;
		t->heap[i] = t->heap[p];
		i = p;
	}
	t->heap[i] = *be;
}

/* Remove entry i (the root for an expiry, any other for a lifted ban). */
static void heap_remove(struct tracker *t, uint32_t i)
{
	struct banent last = t->heap[--t->nheap];

	if (i == t->nheap)
		return;
	/* Up first: the last entry may end sooner than i's parent. */
	while (i) {
		uint32_t p = (i - 1) / 2;

		if (t->heap[p].until <= last.until)
			break;
		t->heap[i] = t->heap[p];
		i = p;
	}
	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= t->nheap)
			break;
		if (c + 1 < t->nheap && t->heap[c + 1].until < t->heap[c].until)
			c++;
		if (last.until <= t->heap[c].until)
			break;
		t->heap[i] = t->heap[c];
		i = c;
	}
	t->heap[i] = last;
}

static void heap_pop(struct tracker *t)
{
	heap_remove(t, 0);
}

static usec_t ban_duration(const struct rule *r, uint32_t previous)
{
	usec_t d = r->ban;

	for (uint32_t k = 0; k < previous && d < r->max_ban; k++) {
		if (d > r->max_ban / (r->factor ? r->factor : 1))
			d = r->max_ban;
		else
			d *= r->factor;
	}
	return d < r->max_ban ? d : r->max_ban;
}

static void ban(struct tracker *t, usec_t now, uint32_t si, size_t ri, uint32_t count)
{
	struct source *s = &t->src[si];
	const struct rule *r = &t->cfg->rules[ri];
	struct rstate *rs = &t->rs[(size_t)si * t->nrules + ri];
	struct ban b = {
		.time = now,
		.rule = (int)ri,
		.rule_name = r->name,
		.count = count,
		.duration = ban_duration(r, s->bans),
		.nth = s->bans + 1u,
	};
	uint32_t skip = rs->count > BAN_EVIDENCE ? rs->count - BAN_EVIDENCE : 0;

	b.key.a = s->key;
	b.key.len = s->plen;
	/* The last few recipients that counted, oldest first. */
	for (uint32_t h = rs->head; h != NIL; h = t->hit[h].snext) {
		const struct hit *x = &t->hit[h];

		if (skip) {
			skip--;
			continue;
		}
		if (x->ev != NIL && t->ev_pos - x->ev <= EVIDENCE_SLOTS &&
		    b.nevidence < BAN_EVIDENCE) {
			memcpy(b.evidence[b.nevidence], t->evidence[x->ev % EVIDENCE_SLOTS],
			       SMTP_RCPT_MAX);
			b.nevidence++;
		}
	}
	drop_hits(t, si);
	lru_unlink(t, si);
	s->banned = 1;
	s->bans++;
	s->until = now + b.duration;
	heap_push(t, &(struct banent){ .until = s->until, .since = now, .src = si,
				       .count = count, .rule = (int32_t)ri });
	t->st.bans++;
	t->st.bans_by_rule[ri]++;
	if (t->on_ban)
		t->on_ban(t->arg, &b);
}

/* ---- wheels ---- */

static void expire_slot(struct tracker *t, size_t ri, uint32_t slot)
{
	struct wheel *w = &t->wheel[ri];
	uint32_t h = w->slot[slot];

	w->slot[slot] = NIL;
	while (h != NIL) {
		struct hit *x = &t->hit[h];
		uint32_t next = x->wnext;

		if (x->src != NIL) {
			struct rstate *rs = &t->rs[(size_t)x->src * t->nrules + ri];

			/* A source's hits in this slot are its oldest ones, so
			 * taking its head once per such hit removes just them,
			 * whatever order the slot lists them in. */
			rs->head = t->hit[rs->head].snext;
			if (rs->head == NIL)
				rs->tail = NIL;
			rs->count--;
		}
		free_hit(t, h);
		h = next;
	}
}

static void wheel_turn(struct tracker *t, size_t ri, usec_t now)
{
	struct wheel *w = &t->wheel[ri];
	int64_t target = now / w->width;

	if (target <= w->pos)
		return;
	if (target - w->pos >= WHEEL_SLOTS) {
		for (uint32_t k = 0; k < WHEEL_SLOTS; k++)
			expire_slot(t, ri, k);
	} else {
		for (int64_t k = w->pos + 1; k <= target; k++)
			expire_slot(t, ri, (uint32_t)(k % WHEEL_SLOTS));
	}
	w->pos = target;
}

void tracker_advance(struct tracker *t, usec_t now)
{
	for (size_t r = 0; r < t->nrules; r++)
		wheel_turn(t, r, now);
	while (t->nheap && t->heap[0].until <= now) {
		uint32_t si = t->heap[0].src;

		if (t->heap[0].rule >= 0)
			t->st.unbans_by_rule[t->heap[0].rule]++;
		else
			t->st.unbans_manual++;
		heap_pop(t);
		t->src[si].banned = 0;
		lru_push_head(t, si);
		t->st.unbans++;
	}
}

static uint32_t hit_alloc(struct tracker *t)
{
	uint32_t h;

	if (t->free_hit == NIL) {
		uint32_t ncap = t->hitcap ? t->hitcap * 2 : 1024;

		t->hit = xrealloc(t->hit, sizeof(*t->hit) * ncap);
		for (uint32_t j = ncap; j-- > t->hitcap;) {
			t->hit[j].wnext = t->free_hit;
			t->free_hit = j;
		}
		t->hitcap = ncap;
	}
	h = t->free_hit;
	t->free_hit = t->hit[h].wnext;
	t->nhit++;
	return h;
}

static uint32_t keep_evidence(struct tracker *t, const struct smtp_event *ev)
{
	uint32_t pos;
	char *dst;

	if (!ev->rcpt_len)
		return NIL;
	pos = t->ev_pos++;
	if (t->ev_pos == NIL)
		t->ev_pos = 0;
	dst = t->evidence[pos % EVIDENCE_SLOTS];
	memcpy(dst, ev->rcpt, ev->rcpt_len);
	dst[ev->rcpt_len] = 0;
	return pos;
}

static void count_hit(struct tracker *t, usec_t now, uint32_t si, size_t ri,
		      const struct smtp_event *ev, bool trap)
{
	const struct rule *r = &t->cfg->rules[ri];
	struct rstate *rs = &t->rs[(size_t)si * t->nrules + ri];
	struct wheel *w = &t->wheel[ri];
	uint32_t h, slot;

	if (r->distinct && ev->rcpt_len) {
		for (h = rs->head; h != NIL; h = t->hit[h].snext) {
			if (t->hit[h].rcpt_hash == ev->rcpt_hash) {
				t->st.duplicates++;
				return;
			}
		}
	}
	h = hit_alloc(t);
	slot = (uint32_t)((now / w->width) % WHEEL_SLOTS);
	t->hit[h] = (struct hit){
		.src = si,
		.snext = NIL,
		.wnext = w->slot[slot],
		.wprev = NIL,
		.rcpt_hash = ev->rcpt_hash,
		.ev = keep_evidence(t, ev),
		.rule = (uint8_t)ri,
		.slot = (uint8_t)slot,
	};
	if (w->slot[slot] != NIL)
		t->hit[w->slot[slot]].wprev = h;
	w->slot[slot] = h;
	if (rs->tail != NIL)
		t->hit[rs->tail].snext = h;
	else
		rs->head = h;
	rs->tail = h;
	rs->count++;
	t->st.hits++;
	if (trap) {
		t->st.trap_hits++;
		ban(t, now, si, ri, r->threshold);
	} else if (rs->count >= r->threshold) {
		ban(t, now, si, ri, rs->count);
	}
}

void tracker_event(struct tracker *t, usec_t now, const struct ipaddr *a, int cls,
		   const struct smtp_event *ev)
{
	const struct config *cfg = t->cfg;
	bool trap = false, checked = false;

	for (size_t ri = 0; ri < t->nrules; ri++) {
		const struct rule *r = &cfg->rules[ri];
		struct ipaddr key;
		uint8_t plen;
		uint32_t si;

		if (r->cls != cls)
			continue;
		if (!checked) {
			/* Once per event, and only for events some rule counts. */
			checked = true;
			tracker_advance(t, now);
			switch (tracker_may_ban(t, a)) {
			case TRACK_ALLOWLISTED:
				t->st.allowlisted++;
				return;
			case TRACK_NEVER_BAN:
				/* Loopback, link-local, and our own servers. */
				t->st.never_ban++;
				return;
			}
			trap = ev->rcpt_len && config_is_trap(cfg, ev->rcpt, ev->rcpt_len,
							      ev->rcpt_hash);
		}
		plen = a->af == 4 ? r->prefix4 : r->prefix6;
		addr_mask(a, plen, &key);
		si = source_get(t, &key, plen);
		if (si == NIL)
			continue;
		if (t->src[si].banned) {
			t->st.while_banned++;
			continue;
		}
		lru_unlink(t, si);
		lru_push_head(t, si);
		count_hit(t, now, si, ri, ev, trap);
	}
}

struct tracker *tracker_new(const struct config *cfg, ban_fn fn, void *arg)
{
	struct tracker *t = xcalloc(1, sizeof(*t));

	t->cfg = cfg;
	t->on_ban = fn;
	t->arg = arg;
	t->nrules = cfg->nrules ? cfg->nrules : 1;
	t->max = cfg->max_sources ? cfg->max_sources : 1;
	t->free_src = NIL;
	t->free_hit = NIL;
	t->lru_head = t->lru_tail = NIL;
	t->last = NIL;
	t->evidence = xcalloc(EVIDENCE_SLOTS, sizeof(*t->evidence));
	rehash(t, 1024);
	for (size_t r = 0; r < cfg->nrules; r++) {
		struct wheel *w = &t->wheel[r];

		w->width = cfg->rules[r].window / (WHEEL_SLOTS - 1);
		if (cfg->rules[r].window % (WHEEL_SLOTS - 1) || w->width == 0)
			w->width++;
		w->pos = INT64_MIN / 2;
		for (uint32_t k = 0; k < WHEEL_SLOTS; k++)
			w->slot[k] = NIL;
	}
	return t;
}

void tracker_free(struct tracker *t)
{
	if (!t)
		return;
	free(t->src);
	free(t->rs);
	free(t->bucket);
	free(t->hit);
	free(t->heap);
	free(t->evidence);
	free(t);
}

static void record_of(const struct tracker *t, uint32_t si, const struct banent *be,
		      struct ban_record *r)
{
	const struct source *s = &t->src[si];

	memset(r, 0, sizeof(*r));
	r->key.a = s->key;
	r->key.len = s->plen;
	r->nth = s->bans;
	r->rule = -1;
	if (be) {
		r->rule = be->rule;
		r->count = be->count;
		r->since = be->since;
		r->until = be->until;
	}
}

void tracker_foreach_ban(const struct tracker *t, bool active_only,
			 void (*fn)(void *arg, const struct ban_record *r), void *arg)
{
	struct ban_record r;

	for (uint32_t i = 0; i < t->nheap; i++) {
		record_of(t, t->heap[i].src, &t->heap[i], &r);
		fn(arg, &r);
	}
	if (active_only)
		return;
	/* Sources banned before and free now: their count of bans is what
	 * makes the next ban longer. */
	for (uint32_t i = t->lru_head; i != NIL; i = t->src[i].next) {
		if (!t->src[i].bans)
			continue;
		record_of(t, i, NULL, &r);
		fn(arg, &r);
	}
}

static uint32_t source_find(const struct tracker *t, const struct prefix *key)
{
	uint32_t b = key_bucket(t, &key->a, key->len);

	for (uint32_t i = t->bucket[b]; i != NIL; i = t->src[i].hnext)
		if (t->src[i].plen == key->len && addr_eq(&t->src[i].key, &key->a))
			return i;
	return NIL;
}

static uint32_t heap_find(const struct tracker *t, uint32_t si)
{
	/* Rare path (manual unban, reconciliation): a linear walk. */
	for (uint32_t i = 0; i < t->nheap; i++)
		if (t->heap[i].src == si)
			return i;
	return NIL;
}

bool tracker_lookup(const struct tracker *t, const struct prefix *key, struct ban_record *r)
{
	uint32_t si = source_find(t, key), hi;

	if (si == NIL || (!t->src[si].banned && !t->src[si].bans))
		return false;
	hi = t->src[si].banned ? heap_find(t, si) : NIL;
	record_of(t, si, hi == NIL ? NULL : &t->heap[hi], r);
	return true;
}

int tracker_may_ban(const struct tracker *t, const struct ipaddr *a)
{
	if (prefixlist_match(&t->cfg->allowlist, a))
		return TRACK_ALLOWLISTED;
	if (addr_is_special(a) || (!t->cfg->servers_any && prefixlist_match(&t->cfg->servers, a)))
		return TRACK_NEVER_BAN;
	return TRACK_OK;
}

int tracker_restore(struct tracker *t, usec_t now, const struct ban_record *r)
{
	int why = tracker_may_ban(t, &r->key.a);
	uint32_t si;
	struct source *s;

	if (why != TRACK_OK)
		return why;
	tracker_advance(t, now);
	si = source_get(t, &r->key.a, r->key.len);
	if (si == NIL)
		return TRACK_FULL;
	s = &t->src[si];
	if (r->nth > s->bans)
		s->bans = (uint16_t)(r->nth > UINT16_MAX ? UINT16_MAX : r->nth);
	if (r->until <= now)
		return TRACK_OK;	/* history only */
	if (s->banned) {
		uint32_t hi = heap_find(t, si);

		if (hi == NIL || t->heap[hi].until >= r->until)
			return TRACK_OK;
		heap_remove(t, hi);
	} else {
		drop_hits(t, si);
		lru_unlink(t, si);
		s->banned = 1;
	}
	s->until = r->until;
	heap_push(t, &(struct banent){ .until = r->until, .since = r->since ? r->since : now,
				       .src = si, .count = r->count,
				       .rule = r->rule < (int)t->nrules ? r->rule : -1 });
	return TRACK_OK;
}

int tracker_ban(struct tracker *t, usec_t now, const struct prefix *key, usec_t duration)
{
	int why = tracker_may_ban(t, &key->a);
	uint32_t si;
	struct ban_record r = { .key = *key, .rule = -1, .since = now };

	if (why != TRACK_OK)
		return why;
	/* Callers bound durations (MAX_DURATION); saturate all the same. */
	r.until = duration > INT64_MAX - now ? INT64_MAX : now + duration;
	si = source_find(t, key);
	r.nth = (si == NIL ? 0u : t->src[si].bans) + 1u;
	why = tracker_restore(t, now, &r);
	if (why == TRACK_OK)
		t->st.bans_manual++;
	return why;
}

bool tracker_unban(struct tracker *t, const struct prefix *key)
{
	uint32_t si = source_find(t, key), hi;

	if (si == NIL || !t->src[si].banned)
		return false;
	hi = heap_find(t, si);
	if (hi != NIL) {
		if (t->heap[hi].rule >= 0)
			t->st.unbans_by_rule[t->heap[hi].rule]++;
		else
			t->st.unbans_manual++;
		heap_remove(t, hi);
	}
	t->src[si].banned = 0;
	lru_push_head(t, si);
	t->st.unbans++;
	return true;
}

void tracker_foreach_source(const struct tracker *t,
			    void (*fn)(void *arg, const struct prefix *key, const uint32_t *counts),
			    void *arg)
{
	uint32_t counts[MAX_RULES];

	/* The unbanned ones: banned sources count nothing. */
	for (uint32_t i = t->lru_head; i != NIL; i = t->src[i].next) {
		struct prefix key = { .a = t->src[i].key, .len = t->src[i].plen };
		bool any = false;

		for (size_t r = 0; r < t->nrules; r++) {
			counts[r] = t->rs[(size_t)i * t->nrules + r].count;
			any |= counts[r] != 0;
		}
		if (any)
			fn(arg, &key, counts);
	}
}

const char *tracker_rule_name(const struct tracker *t, int rule)
{
	return rule >= 0 && (size_t)rule < t->cfg->nrules ? t->cfg->rules[rule].name : "manual";
}

void tracker_set_config(struct tracker *t, const struct config *cfg)
{
	t->cfg = cfg;
}

const struct tracker_stats *tracker_stats(const struct tracker *t)
{
	return &t->st;
}

uint32_t tracker_sources(const struct tracker *t)
{
	return t->nsrc;
}

uint32_t tracker_active_bans(const struct tracker *t)
{
	return t->nheap;
}

size_t tracker_bytes_per_source(const struct tracker *t)
{
	/* The source, its per-rule state, and its share of the hash table. */
	return sizeof(struct source) + t->nrules * sizeof(struct rstate) + sizeof(uint32_t);
}

uint64_t tracker_memory(const struct tracker *t)
{
	return (uint64_t)t->cap * (sizeof(struct source) + t->nrules * sizeof(struct rstate)) +
	       (uint64_t)t->nbucket * sizeof(uint32_t) +
	       (uint64_t)t->hitcap * sizeof(struct hit) +
	       (uint64_t)t->heapcap * sizeof(struct banent) +
	       (uint64_t)EVIDENCE_SLOTS * SMTP_RCPT_MAX;
}
