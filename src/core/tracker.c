#include "tracker.h"

#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX
/* Slots per wheel: a hit leaves its count between one window and one
 * window plus 1/63 of it after it happened. */
#define WHEEL_SLOTS 64
/* Recipients kept for ban evidence and leaked addresses, shared by all
 * sources (1 MB). */
#define EVIDENCE_SLOTS 8192
/* Sources judged again, most recent first, when a wave starts. */
#define WAVE_REJUDGE 65536
/* (source, rule) pairs a batch can hold before it is judged early. */
#define BATCH_MAX 64

struct source {
	struct ipaddr key;
	uint8_t plen;
	uint8_t banned;
	uint16_t bans;		/* times banned so far */
	uint32_t hnext;		/* hash chain */
	/* An unbanned source is on the LRU; a banned one is not, and knows
	 * where its ban is in the heap instead (reconciliation and unban
	 * find it in O(1)). When a ban ends lives in its heap entry: no
	 * 8-byte field here keeps a source at 36 bytes. */
	union {
		uint32_t prev;	/* unbanned: LRU */
		uint32_t hpos;	/* banned: index of its entry in the ban heap */
	};
	uint32_t next;
	/* Its per-rule state in t->rs, or NIL: a source that only holds a
	 * ban (a fleet's 100,000) counts nothing and keeps none. */
	uint32_t rsi;
};

/* Per source and rule: the live hits, oldest first, and how many of each
 * kind. count is what the rule's class counts, acc the distinct recipients
 * accepted. Messages and sessions only explain a ban, so they cost no hit:
 * they count from the start of the current window period (epoch), between
 * none and one window of them. */
struct rstate {
	uint32_t count;
	uint32_t acc;
	uint32_t head, tail;
	uint32_t epoch;
	uint16_t msgs, sess;	/* saturating */
};

enum hit_kind { K_COUNT, K_ACC, K_MSG, K_SESS };

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
	uint32_t dnext;		/* distinct table chain */
	uint8_t rule, slot;	/* which wheel and slot list it is on */
	uint8_t kind;		/* enum hit_kind */
	uint8_t distinct;	/* in the distinct table */
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
	int16_t rule;		/* < MAX_RULES, RULE_MANUAL or RULE_FLEET */
	uint16_t nlisted;	/* <= BAN_LEAKED */
	uint32_t nleaked;
	uint32_t tag;		/* the caller's (tracker_set_tag) */
	char (*leaked)[SMTP_RCPT_MAX];	/* nlisted of them, or NULL */
};

struct tracker {
	const struct config *cfg;
	ban_fn on_ban;
	void *arg;
	size_t nrules;

	struct source *src;
	uint32_t nsrc, cap, max;
	uint32_t used_src;	/* src[used_src, cap) never handed out, never touched */
	uint32_t free_src;	/* chained through hnext */
	struct rstate *rs;	/* nrules per slot, for sources that count */
	uint32_t rscap, used_rs, free_rs;	/* free slots chained through head */
	uint32_t *bucket;
	uint32_t nbucket;	/* power of two */
	uint32_t lru_head, lru_tail;	/* head = most recent */
	uint32_t last;		/* the source found last: events come in runs */

	struct hit *hit;
	uint32_t nhit, hitcap, free_hit;
	/* Distinct counting: (source, rule, kind, recipient) -> hit, so that
	 * "seen this recipient already?" costs O(1), not a walk of the
	 * source's hits. A bucket for every two to four hits. */
	uint32_t *dbucket;
	uint32_t ndbucket;

	/* Pairs touched by the open batch. */
	bool in_batch;
	bool dup;		/* this event repeated a recipient */
	uint32_t ev_this;	/* this event's evidence slot, or NIL */
	bool rejudge_pending;	/* a wave started in the open batch */
	usec_t batch_now;
	uint32_t nbatch;
	struct { uint32_t src; uint8_t rule; struct ipaddr a; } batch[BATCH_MAX];

	/* Waves. */
	struct wave_info wave;
	int64_t wave_min_pos;	/* minute number of bucket[pos % span] */
	uint32_t wave_bucket[WAVE_SPAN_MIN];
	wave_fn on_wave;
	void *wave_arg;

	struct wheel wheel[MAX_RULES];
	/* The earliest time tracker_advance can have anything to do: a
	 * wheel's next slot, the first ban's end or the wave's next minute.
	 * Events come far more often than any of these, and each of those
	 * checks costs a division. Never later than the truth; earlier
	 * only costs a look. */
	usec_t next_advance;

	struct banent *heap;
	uint32_t nheap, heapcap;

	uint32_t ev_pos;
	char (*evidence)[SMTP_RCPT_MAX];

	struct tracker_stats st;
};

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
	for (uint32_t i = 0; i < t->used_src; i++) {
		struct source *s = &t->src[i];

		if (s->key.af == 0)
			continue;	/* on the free list */
		uint32_t b = key_bucket(t, &s->key, s->plen);

		s->hnext = t->bucket[b];
		t->bucket[b] = i;
	}
}

/* ---- distinct counting ---- */

static uint32_t dbucket_of(const struct tracker *t, uint32_t src, uint8_t rule, uint8_t kind,
			   uint32_t rcpt_hash)
{
	uint64_t x = ((uint64_t)src << 32 | rcpt_hash) ^ ((uint64_t)(rule * 4u + kind) << 56);

	x ^= x >> 29;
	x *= UINT64_C(0x9e3779b97f4a7c15);
	return (uint32_t)(x >> 32) & (t->ndbucket - 1);
}

static void distinct_insert(struct tracker *t, uint32_t h)
{
	struct hit *x = &t->hit[h];
	uint32_t b = dbucket_of(t, x->src, x->rule, x->kind, x->rcpt_hash);

	x->dnext = t->dbucket[b];
	x->distinct = 1;
	t->dbucket[b] = h;
}

static void distinct_remove(struct tracker *t, uint32_t h)
{
	struct hit *x = &t->hit[h];
	uint32_t *pp;

	if (!x->distinct)
		return;
	pp = &t->dbucket[dbucket_of(t, x->src, x->rule, x->kind, x->rcpt_hash)];
	while (*pp != h)
		pp = &t->hit[*pp].dnext;
	*pp = x->dnext;
	x->distinct = 0;
}

static bool distinct_seen(const struct tracker *t, uint32_t src, uint8_t rule, uint8_t kind,
			  uint32_t rcpt_hash)
{
	for (uint32_t h = t->dbucket[dbucket_of(t, src, rule, kind, rcpt_hash)]; h != NIL;
	     h = t->hit[h].dnext) {
		const struct hit *x = &t->hit[h];

		if (x->src == src && x->rcpt_hash == rcpt_hash && x->rule == rule && x->kind == kind)
			return true;
	}
	return false;
}

static void distinct_rebuild(struct tracker *t)
{
	uint32_t nb;

	/* A power of two at least the hit slots: chains of one at most on
	 * average. Most lookups are of a recipient not seen yet, which walks
	 * the whole chain, a cache miss per hit on it: with a bucket for
	 * every two to four hits, this walk was half of tracker_event's time
	 * on the replay bench. The table holds indices, so a grown hit array
	 * needs no new one until the size changes. */
	for (nb = 1; nb < t->hitcap; nb *= 2)
		;
	if (nb == t->ndbucket && t->dbucket)
		return;
	free(t->dbucket);
	t->ndbucket = nb;
	t->dbucket = xrealloc(NULL, sizeof(*t->dbucket) * t->ndbucket);
	memset(t->dbucket, 0xff, sizeof(*t->dbucket) * t->ndbucket);
	for (uint32_t h = 0; h < t->hitcap; h++)
		if (t->hit[h].src != NIL && t->hit[h].distinct)
			distinct_insert(t, h);
}

static void free_hit(struct tracker *t, uint32_t h)
{
	distinct_remove(t, h);
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

/* Source si's state for rule ri: only for a source that has some. */
static inline struct rstate *rstate_of(const struct tracker *t, uint32_t si, size_t ri)
{
	return &t->rs[(size_t)t->src[si].rsi * t->nrules + ri];
}

/* Give source si per-rule state (cleared) before it counts anything. */
static void rs_attach(struct tracker *t, uint32_t si)
{
	uint32_t j;

	if (t->src[si].rsi != NIL)
		return;
	if (t->free_rs != NIL) {
		j = t->free_rs;
		t->free_rs = t->rs[(size_t)j * t->nrules].head;
	} else {
		if (t->used_rs == t->rscap) {
			/* At most one slot a source: never more than max. */
			uint32_t ncap = t->rscap ? t->rscap * 2 : 1024;

			t->rscap = ncap < t->max ? ncap : t->max;
			t->rs = xrealloc(t->rs, sizeof(*t->rs) * t->rscap * t->nrules);
		}
		j = t->used_rs++;
	}
	t->src[si].rsi = j;
	for (size_t r = 0; r < t->nrules; r++) {
		struct rstate *rs = &t->rs[(size_t)j * t->nrules + r];

		memset(rs, 0, sizeof(*rs));
		rs->head = rs->tail = NIL;
	}
}

/* A source banned or evicted: its hits go now, not when their slots
 * turn, and its state with them (to be given afresh if it counts again). */
static void drop_hits(struct tracker *t, uint32_t si)
{
	uint32_t j = t->src[si].rsi;

	if (j == NIL)
		return;
	for (size_t r = 0; r < t->nrules; r++) {
		struct rstate *rs = rstate_of(t, si, r);

		for (uint32_t h = rs->head, next; h != NIL; h = next) {
			next = t->hit[h].snext;
			unlink_hit(t, h);
		}
	}
	t->rs[(size_t)j * t->nrules].head = t->free_rs;
	t->free_rs = j;
	t->src[si].rsi = NIL;
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

	if (t->free_src == NIL && t->used_src == t->cap && t->cap < t->max) {
		uint32_t ncap = t->cap ? t->cap * 2 : 1024;

		if (ncap > t->max)
			ncap = t->max;
		/* The new slots are handed out in order, not chained: memory
		 * the tracker has not used yet is not touched (a large block
		 * grows by mremap). */
		t->src = xrealloc(t->src, sizeof(*t->src) * ncap);
		t->cap = ncap;
		if (t->cap > t->nbucket)
			rehash(t, t->nbucket * 2 >= t->cap ? t->nbucket * 2 : t->cap);
		b = key_bucket(t, key, plen);
	}
	if (t->free_src == NIL && t->used_src == t->cap) {
		if (t->lru_tail == NIL) {
			t->st.table_full++;
			return NIL;
		}
		t->st.evictions++;
		evict(t, t->lru_tail);
	}
	if (t->free_src != NIL) {
		i = t->free_src;
		t->free_src = t->src[i].hnext;
	} else {
		i = t->used_src++;
	}
	s = &t->src[i];
	memset(s, 0, sizeof(*s));
	s->key = *key;
	s->plen = plen;
	s->prev = s->next = NIL;
	s->rsi = NIL;
	s->hnext = t->bucket[b];
	t->bucket[b] = i;
	lru_push_head(t, i);
	if (++t->nsrc > t->st.sources_peak)
		t->st.sources_peak = t->nsrc;
	return t->last = i;
}

/* source_get, trying first where the caller found the source last. A
 * source's place holds its key while it lives and a zeroed key once it
 * is evicted, and a key has one place at most: a place that holds this
 * key is the one the table would find. */
static uint32_t source_get_hint(struct tracker *t, const struct ipaddr *key, uint8_t plen,
				uint32_t *hint)
{
	uint32_t si;

	if (!hint)
		return source_get(t, key, plen);
	si = *hint;
	if (si < t->used_src && t->src[si].plen == plen && addr_eq(&t->src[si].key, key))
		return t->last = si;
	return *hint = source_get(t, key, plen);
}

/* ---- bans ---- */

/* Every move of a heap entry goes through here, so that its source keeps
 * the entry's index. */
static void heap_set(struct tracker *t, uint32_t i, const struct banent *be)
{
	t->heap[i] = *be;
	t->src[be->src].hpos = i;
	if (be->until < t->next_advance)
		t->next_advance = be->until;
}

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
		heap_set(t, i, &t->heap[p]);
		i = p;
	}
	heap_set(t, i, be);
}

/* Remove entry i (the root for an expiry, any other for a lifted ban). */
static void heap_remove(struct tracker *t, uint32_t i)
{
	struct banent last;

	free(t->heap[i].leaked);
	last = t->heap[--t->nheap];

	if (i == t->nheap)
		return;
	/* Up first: the last entry may end sooner than i's parent. */
	while (i) {
		uint32_t p = (i - 1) / 2;

		if (t->heap[p].until <= last.until)
			break;
		heap_set(t, i, &t->heap[p]);
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
		heap_set(t, i, &t->heap[c]);
		i = c;
	}
	heap_set(t, i, &last);
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

/* Does key cover an address that must never be banned? */
static bool covers_protected(const struct tracker *t, const struct prefix *key)
{
	const struct config *c = t->cfg;

	for (size_t i = 0; i < c->allowlist.n; i++)
		if (prefix_overlaps(key, &c->allowlist.v[i]))
			return true;
	if (!c->servers_any)
		for (size_t i = 0; i < c->servers.n; i++)
			if (prefix_overlaps(key, &c->servers.v[i]))
				return true;
	return false;
}

static void copy_rcpt(char *dst, const struct tracker *t, uint32_t ev)
{
	memcpy(dst, t->evidence[ev % EVIDENCE_SLOTS], SMTP_RCPT_MAX);
}

static bool evidence_live(const struct tracker *t, uint32_t ev)
{
	return ev != NIL && t->ev_pos - ev <= EVIDENCE_SLOTS;
}

/* Fill b's evidence from source si's hits for rule ri: the last few
 * recipients that counted, oldest first, and the accepted ones. */
static void gather(const struct tracker *t, usec_t now, uint32_t si, size_t ri, struct ban *b)
{
	const struct rstate *rs = rstate_of(t, si, ri);
	bool fresh = rs->epoch == (uint32_t)(now / t->cfg->rules[ri].window);
	uint32_t skip = rs->count > BAN_EVIDENCE ? rs->count - BAN_EVIDENCE : 0;

	for (uint32_t h = rs->head; h != NIL; h = t->hit[h].snext) {
		const struct hit *x = &t->hit[h];

		if (x->kind == K_COUNT) {
			if (skip) {
				skip--;
				continue;
			}
			if (evidence_live(t, x->ev) && b->nevidence < BAN_EVIDENCE)
				copy_rcpt(b->evidence[b->nevidence++], t, x->ev);
		} else if (x->kind == K_ACC && evidence_live(t, x->ev) && b->nlisted < BAN_LEAKED) {
			copy_rcpt(b->leaked[b->nlisted++], t, x->ev);
		}
	}
	b->rejected = rs->count;
	b->accepted = rs->acc;
	b->messages = fresh ? rs->msgs : 0;
	b->sessions = fresh ? rs->sess : 0;
	b->share = (rs->count + rs->acc) ? (uint32_t)((uint64_t)rs->count * 100 / (rs->count + rs->acc)) : 0;
	b->nleaked = rs->acc;
}

/* What a ban keeps of its leaked recipients: only those it names. */
static char (*keep_leaked(const struct ban *b))[SMTP_RCPT_MAX]
{
	char (*v)[SMTP_RCPT_MAX];

	if (!b->nlisted)
		return NULL;
	v = xrealloc(NULL, b->nlisted * sizeof(*v));
	memcpy(v, b->leaked, b->nlisted * sizeof(*v));
	return v;
}

/* Ban source si for rule ri. a is the address whose event decided it,
 * or NULL (a wave's second look). */
static void ban(struct tracker *t, usec_t now, uint32_t si, size_t ri, const struct ipaddr *a,
		bool trap, bool wave)
{
	const struct rule *r = &t->cfg->rules[ri];
	struct ban *b = &(struct ban){ 0 };
	uint32_t target = si;
	struct source *s;

	b->time = now;
	b->rule = (int)ri;
	b->rule_name = r->name;
	b->trap = trap;
	b->wave = wave;
	b->wave_on = t->wave.on;
	b->key.a = t->src[si].key;
	b->key.len = t->src[si].plen;
	if (b->key.len < addr_bits(&b->key.a) && covers_protected(t, &b->key)) {
		/* The prefix holds an allowlisted address or one of ours: ban
		 * only the address that asked, never its neighbours. */
		if (!a) {
			t->st.refused++;
			return;
		}
		b->narrowed = true;
		b->wide = b->key;
		lru_unlink(t, si);	/* not to be evicted for the new one */
		target = source_get(t, a, (uint8_t)addr_bits(a));
		lru_push_head(t, si);
		if (target == NIL) {
			t->st.refused++;
			return;
		}
		if (t->src[target].banned) {
			/* Banned already (its in-flight replies still count on
			 * the prefix): the prefix starts afresh, nothing else. */
			drop_hits(t, si);
			return;
		}
		b->key.a = *a;
		b->key.len = (uint8_t)addr_bits(a);
		t->st.narrowed++;
	}
	gather(t, now, si, ri, b);
	b->count = trap ? r->threshold : b->rejected;
	s = &t->src[target];
	b->duration = ban_duration(r, s->bans);
	b->nth = s->bans + 1u;
	/* The prefix starts counting afresh, whichever was banned. */
	drop_hits(t, si);
	if (target != si)
		drop_hits(t, target);
	lru_unlink(t, target);
	s->banned = 1;
	s->bans++;
	heap_push(t, &(struct banent){ .until = now + b->duration, .since = now, .src = target,
				       .count = b->count, .rule = (int16_t)ri,
				       .nleaked = b->nleaked, .nlisted = (uint16_t)b->nlisted,
				       .leaked = keep_leaked(b) });
	t->st.bans++;
	t->st.bans_by_rule[ri]++;
	t->st.leaked += b->nleaked;
	if (wave) {
		t->st.wave_bans++;
		t->wave.bans++;
	}
	if (t->on_ban)
		t->on_ban(t->arg, b);
}

/* The rule's verdict on what source si shows now. */
static void judge(struct tracker *t, usec_t now, uint32_t si, size_t ri, const struct ipaddr *a)
{
	const struct rule *r = &t->cfg->rules[ri];
	const struct rstate *rs;

	/* No state: banned, freed or reset since it was batched. */
	if (t->src[si].banned || t->src[si].key.af == 0 || t->src[si].rsi == NIL)
		return;
	rs = rstate_of(t, si, ri);
	if (rs->count >= r->threshold) {
		if (!r->share || (uint64_t)rs->count * 100 >= (uint64_t)r->share * (rs->count + rs->acc)) {
			ban(t, now, si, ri, a, false, false);
			return;
		}
		t->st.share_spared++;
	}
	if (t->wave.on && r->wave_threshold && !rs->acc && rs->count >= r->wave_threshold)
		ban(t, now, si, ri, a, false, true);
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
			struct rstate *rs = rstate_of(t, x->src, ri);

			/* A source's hits in this slot are its oldest ones, so
			 * taking its head once per such hit removes just them,
			 * whatever order the slot lists them in. */
			rs->head = t->hit[rs->head].snext;
			if (rs->head == NIL)
				rs->tail = NIL;
			switch (x->kind) {
					case K_COUNT: rs->count--; break;
			default: rs->acc--; break;
			}
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

/* ---- waves ---- */

static uint32_t wave_rate(const struct tracker *t)
{
	uint32_t n = 0;

	for (int i = 0; i < WAVE_SPAN_MIN; i++)
		n += t->wave_bucket[i];
	return n;
}

double tracker_wave_level(const struct tracker *t)
{
	double f = t->wave.baseline * t->cfg->wave_factor;

	return f > t->cfg->wave_min ? f : t->cfg->wave_min;
}

static void rejudge(struct tracker *t, usec_t now)
{
	uint32_t n = 0;

	for (uint32_t i = t->lru_head, next; i != NIL && n < WAVE_REJUDGE; i = next, n++) {
		next = t->src[i].next;
		for (size_t ri = 0; ri < t->nrules; ri++)
			if (t->cfg->rules[ri].wave_threshold)
				judge(t, now, i, ri, NULL);
	}
}

/* A wave starts only on a rejection (so that no ban is decided outside
 * an event), and ends when the rate falls under half the level. */
static void wave_check(struct tracker *t, usec_t now, bool may_start)
{
	struct wave_info *w = &t->wave;

	if (!t->cfg->wave_min)
		return;
	w->rate = wave_rate(t);
	if (!w->on && may_start && w->rate >= tracker_wave_level(t)) {
		w->on = true;
		w->since = now;
		w->peak = w->rate;
		w->bans = 0;
		w->waves++;
		if (t->on_wave)
			t->on_wave(t->wave_arg, now, w);
		/* Sources already holding a few probes are judged now, not at
		 * their next one: a bot may have sent its last. In a batch, at
		 * its end, once the batch's acceptances are counted too. */
		if (t->in_batch)
			t->rejudge_pending = true;
		else
			rejudge(t, now);
	} else if (w->on) {
		if (w->rate > w->peak)
			w->peak = w->rate;
		if (w->rate * 2.0 < tracker_wave_level(t)) {
			w->on = false;
			w->since = now;
			if (t->on_wave)
				t->on_wave(t->wave_arg, now, w);
		}
	}
}

/* Close the minutes up to now's: each closed minute moves the baseline
 * (slowly during a wave, so that a lasting change of level ends it). */
static void wave_tick(struct tracker *t, usec_t now)
{
	int64_t m = now / (60 * USEC_PER_SEC), steps;
	double alpha = 60.0 * USEC_PER_SEC / (double)t->cfg->wave_baseline;

	if (m <= t->wave_min_pos)
		return;
	if (t->wave_min_pos == INT64_MIN) {
		t->wave_min_pos = m;
		return;
	}
	if (m - t->wave_min_pos > WAVE_SPAN_MIN)
		memset(t->wave_bucket, 0, sizeof(t->wave_bucket));
	steps = m - t->wave_min_pos;
	if (steps > 10080)
		steps = 10080;	/* a week of silence decays it all the same */
	for (int64_t k = 0; k < steps; k++) {
		double r = wave_rate(t);

		t->wave.baseline += (r - t->wave.baseline) * (t->wave.on ? alpha / 8 : alpha);
		t->wave_min_pos++;
		t->wave_bucket[t->wave_min_pos % WAVE_SPAN_MIN] = 0;
	}
	t->wave_min_pos = m;
	wave_check(t, now, false);
}

static void wave_count(struct tracker *t, usec_t now)
{
	wave_tick(t, now);
	t->wave_bucket[t->wave_min_pos % WAVE_SPAN_MIN]++;
	wave_check(t, now, true);
}

static void count_unban(struct tracker *t, int rule)
{
	if (rule >= 0)
		t->st.unbans_by_rule[rule]++;
	else if (rule == RULE_FLEET)
		t->st.unbans_fleet++;
	else
		t->st.unbans_manual++;
}

void tracker_advance(struct tracker *t, usec_t now)
{
	usec_t next;

	if (now < t->next_advance)
		return;
	for (size_t r = 0; r < t->nrules; r++)
		wheel_turn(t, r, now);
	while (t->nheap && t->heap[0].until <= now) {
		uint32_t si = t->heap[0].src;

		count_unban(t, t->heap[0].rule);
		heap_pop(t);
		t->src[si].banned = 0;
		lru_push_head(t, si);
		t->st.unbans++;
	}
	wave_tick(t, now);
	/* Every wheel is at now's slot or past it (time went back), the
	 * wave at now's minute or past it. */
	next = t->nheap ? t->heap[0].until : INT64_MAX;
	for (size_t r = 0; r < t->nrules; r++) {
		const struct wheel *w = &t->wheel[r];
		usec_t b = (w->pos + 1) * w->width;

		if (b < next)
			next = b;
	}
	if ((t->wave_min_pos + 1) * (60 * USEC_PER_SEC) < next)
		next = (t->wave_min_pos + 1) * (60 * USEC_PER_SEC);
	t->next_advance = next;
}

static uint32_t hit_alloc(struct tracker *t)
{
	uint32_t h;

	if (t->free_hit == NIL) {
		/* An eighth more, not double: hits are most of a busy tracker's
		 * memory, and the slack of doubling would be up to half of it.
		 * A large block grows in place (mremap), so growing often
		 * costs little. */
		uint32_t ncap = t->hitcap < 8192 ? t->hitcap + 1024 : t->hitcap + t->hitcap / 8;

		t->hit = xrealloc(t->hit, sizeof(*t->hit) * ncap);
		for (uint32_t j = ncap; j-- > t->hitcap;) {
			t->hit[j].src = NIL;
			t->hit[j].distinct = 0;
			t->hit[j].wnext = t->free_hit;
			t->free_hit = j;
		}
		t->hitcap = ncap;
		distinct_rebuild(t);
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

/* The event's recipient in the evidence ring, written once however many
 * rules keep a hit of it. */
static uint32_t event_evidence(struct tracker *t, const struct smtp_event *ev)
{
	if (t->ev_this == NIL)
		t->ev_this = keep_evidence(t, ev);
	return t->ev_this;
}

/* Count one event of the given kind for source si and rule ri. Returns
 * false when distinct counting (or saturation) left it out. */
static bool count_hit(struct tracker *t, usec_t now, uint32_t si, size_t ri,
		      const struct smtp_event *ev, uint8_t kind)
{
	const struct rule *r = &t->cfg->rules[ri];
	struct rstate *rs = rstate_of(t, si, ri);
	struct wheel *w = &t->wheel[ri];
	bool distinct = ev->rcpt_len && (kind == K_ACC || (kind == K_COUNT && r->distinct));
	uint32_t h, slot;

	if (distinct && distinct_seen(t, si, (uint8_t)ri, kind, ev->rcpt_hash)) {
		if (kind == K_COUNT)
			t->dup = true;
		return false;
	}
	if (kind == K_MSG || kind == K_SESS) {
		uint32_t epoch = (uint32_t)(now / r->window);
		uint16_t *n = kind == K_MSG ? &rs->msgs : &rs->sess;

		if (rs->epoch != epoch) {
			rs->epoch = epoch;
			rs->msgs = rs->sess = 0;
		}
		if (*n < UINT16_MAX)
			(*n)++;
		return true;
	}
	h = hit_alloc(t);
	slot = (uint32_t)((now / w->width) % WHEEL_SLOTS);
	t->hit[h] = (struct hit){
		.src = si,
		.snext = NIL,
		.wnext = w->slot[slot],
		.wprev = NIL,
		.rcpt_hash = ev->rcpt_hash,
		.ev = event_evidence(t, ev),
		.dnext = NIL,
		.rule = (uint8_t)ri,
		.slot = (uint8_t)slot,
		.kind = kind,
	};
	if (distinct)
		distinct_insert(t, h);
	if (w->slot[slot] != NIL)
		t->hit[w->slot[slot]].wprev = h;
	w->slot[slot] = h;
	if (rs->tail != NIL)
		t->hit[rs->tail].snext = h;
	else
		rs->head = h;
	rs->tail = h;
	if (kind == K_COUNT) {
		rs->count++;
		t->st.hits++;
	} else {
		rs->acc++;
	}
	return true;
}

static void batch_judge(struct tracker *t, usec_t now)
{
	for (uint32_t i = 0; i < t->nbatch; i++)
		judge(t, now, t->batch[i].src, t->batch[i].rule, &t->batch[i].a);
	t->nbatch = 0;
}

static void batch_add(struct tracker *t, usec_t now, uint32_t si, size_t ri, const struct ipaddr *a)
{
	/* The events of a batch come from one client, each seen by every
	 * rule: a look back over as many entries as rules finds the pair. */
	for (uint32_t i = t->nbatch, k = 0; i-- > 0 && k < MAX_RULES; k++)
		if (t->batch[i].src == si && t->batch[i].rule == ri)
			return;
	if (t->nbatch == BATCH_MAX)
		batch_judge(t, now);
	t->batch[t->nbatch].src = si;
	t->batch[t->nbatch].rule = (uint8_t)ri;
	t->batch[t->nbatch].a = *a;
	t->nbatch++;
	t->batch_now = now;
}

void tracker_batch_begin(struct tracker *t)
{
	t->in_batch = true;
}

void tracker_batch_end(struct tracker *t)
{
	t->in_batch = false;
	if (t->nbatch)
		batch_judge(t, t->batch_now);
	if (t->rejudge_pending) {
		t->rejudge_pending = false;
		rejudge(t, t->wave.since);
	}
}

static int kind_of(const struct rule *r, int cls)
{
	/* A rule of rejections inside TLS counts the cleartext ones too. */
	if (r->cls == cls || (r->cls == EC_RCPT_REJECTED_TLS && cls == EC_RCPT_REJECTED))
		return K_COUNT;
	if (!rule_has_evidence(r))
		return -1;
	switch (cls) {
	case EC_RCPT_ACCEPTED: case EC_RCPT_ACCEPTED_TLS: return K_ACC;
	case EC_MESSAGE_ACCEPTED: return K_MSG;
	case EC_SESSION: return K_SESS;
	default: return -1;
	}
}

void tracker_event(struct tracker *t, usec_t now, const struct ipaddr *a, int cls,
		   const struct smtp_event *ev)
{
	tracker_event_hint(t, now, a, cls, ev, NULL);
}

void tracker_event_hint(struct tracker *t, usec_t now, const struct ipaddr *a, int cls,
			const struct smtp_event *ev, uint32_t *hint)
{
	const struct config *cfg = t->cfg;
	bool trap = false, checked = false, fresh = false;
	/* The source the rule before found, and its prefix: rules of one
	 * prefix (all of the defaults) share one lookup. Nothing between two
	 * rules frees a source (only source_get evicts, to make room). */
	uint8_t last_plen = 0;
	uint32_t last_si = NIL;

	t->dup = false;
	t->ev_this = NIL;
	for (size_t ri = 0; ri < t->nrules; ri++) {
		const struct rule *r = &cfg->rules[ri];
		int kind = kind_of(r, cls);
		uint8_t plen;
		uint32_t si;

		if (kind < 0)
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
		}
		plen = a->af == 4 ? r->prefix4 : r->prefix6;
		if (last_si != NIL && plen == last_plen) {
			si = last_si;
		} else if (plen >= addr_bits(a)) {
			si = source_get_hint(t, a, plen, hint);
		} else {
			struct ipaddr key;

			addr_mask(a, plen, &key);
			si = source_get_hint(t, &key, plen, hint);
		}
		last_plen = plen;
		last_si = si;
		if (si == NIL)
			continue;
		if (t->src[si].banned) {
			if (kind == K_COUNT)
				t->st.while_banned++;
			continue;
		}
		if (t->lru_head != si) {
			lru_unlink(t, si);
			lru_push_head(t, si);
		}
		rs_attach(t, si);
		if (!count_hit(t, now, si, ri, ev, (uint8_t)kind) || kind != K_COUNT)
			continue;
		fresh = true;
		if (!trap && ev->rcpt_len && config_is_trap(cfg, ev->rcpt, ev->rcpt_len, ev->rcpt_hash))
			trap = true;
		if (trap) {
			t->st.trap_hits++;
			ban(t, now, si, ri, a, true, false);
		} else if (t->in_batch) {
			batch_add(t, now, si, ri, a);
		} else {
			judge(t, now, si, ri, a);
		}
	}
	/* Once per event, however many rules saw it again. */
	if (t->dup)
		t->st.duplicates++;
	/* The site-wide rate: new rejected recipients of sources still free
	 * (what a banned source goes on asking is not a wave). */
	if (fresh && (cls == EC_RCPT_REJECTED || cls == EC_RCPT_REJECTED_TLS))
		wave_count(t, now);
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
	t->free_rs = NIL;
	t->free_hit = NIL;
	t->lru_head = t->lru_tail = NIL;
	t->last = NIL;
	t->evidence = xcalloc(EVIDENCE_SLOTS, sizeof(*t->evidence));
	rehash(t, 1024);
	t->ndbucket = 1;
	t->dbucket = xrealloc(NULL, sizeof(*t->dbucket));
	t->dbucket[0] = NIL;
	t->wave_min_pos = INT64_MIN;
	t->next_advance = INT64_MIN;
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
	free(t->dbucket);
	for (uint32_t i = 0; i < t->nheap; i++)
		free(t->heap[i].leaked);
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
	r->rule = RULE_MANUAL;
	if (be) {
		r->rule = be->rule;
		r->tag = be->tag;
		r->count = be->count;
		r->since = be->since;
		r->until = be->until;
		r->nleaked = be->nleaked;
		r->nlisted = be->nlisted;
		r->leaked = be->leaked;
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
	uint32_t i = t->src[si].hpos;

	return t->src[si].banned && i < t->nheap && t->heap[i].src == si ? i : NIL;
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
	heap_push(t, &(struct banent){ .until = r->until, .since = r->since ? r->since : now,
				       .src = si, .count = r->count, .tag = r->tag,
				       .rule = (int16_t)(r->rule < (int)t->nrules && r->rule >= RULE_FLEET ?
							 r->rule : RULE_MANUAL) });
	return TRACK_OK;
}

bool tracker_set_tag(struct tracker *t, const struct prefix *key, uint32_t tag)
{
	uint32_t si = source_find(t, key), hi = si == NIL ? NIL : heap_find(t, si);

	if (hi == NIL)
		return false;
	t->heap[hi].tag = tag;
	return true;
}

int tracker_ban(struct tracker *t, usec_t now, const struct prefix *key, usec_t duration, int rule,
		uint32_t tag)
{
	int why = tracker_may_ban(t, &key->a);
	uint32_t si;
	struct ban_record r = { .key = *key, .rule = rule == RULE_FLEET ? RULE_FLEET : RULE_MANUAL,
				.since = now, .tag = tag };

	if (why != TRACK_OK)
		return why;
	/* Callers bound durations (MAX_DURATION); saturate all the same. */
	r.until = duration > INT64_MAX - now ? INT64_MAX : now + duration;
	si = source_find(t, key);
	r.nth = (si == NIL ? 0u : t->src[si].bans) + 1u;
	why = tracker_restore(t, now, &r);
	if (why == TRACK_OK && r.rule == RULE_FLEET)
		t->st.bans_fleet++;
	else if (why == TRACK_OK)
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
		count_unban(t, t->heap[hi].rule);
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

		if (t->src[i].rsi == NIL)
			continue;
		for (size_t r = 0; r < t->nrules; r++) {
			counts[r] = rstate_of(t, i, r)->count;
			any |= counts[r] != 0;
		}
		if (any)
			fn(arg, &key, counts);
	}
}

const char *tracker_rule_name(const struct tracker *t, int rule)
{
	return rule >= 0 && (size_t)rule < t->cfg->nrules ? t->cfg->rules[rule].name :
	       rule == RULE_FLEET ? "fleet" : "manual";
}

int tracker_rule_index(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nrules; i++)
		if (!strcmp(cfg->rules[i].name, name))
			return (int)i;
	return strcmp(name, "fleet") ? RULE_MANUAL : RULE_FLEET;
}

void tracker_set_config(struct tracker *t, const struct config *cfg)
{
	t->cfg = cfg;
}

void tracker_set_wave_fn(struct tracker *t, wave_fn fn, void *arg)
{
	t->on_wave = fn;
	t->wave_arg = arg;
}

const struct wave_info *tracker_wave(const struct tracker *t)
{
	return &t->wave;
}

void tracker_copy_wave(struct tracker *to, const struct tracker *from)
{
	to->wave = from->wave;
	to->wave_min_pos = from->wave_min_pos;
	to->next_advance = INT64_MIN;
	memcpy(to->wave_bucket, from->wave_bucket, sizeof(to->wave_bucket));
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

size_t tracker_bytes_per_hit(void)
{
	/* The hit and its share of the distinct table: one to two buckets. */
	return sizeof(struct hit) + 2 * sizeof(uint32_t);
}

uint64_t tracker_memory(const struct tracker *t)
{
	return (uint64_t)t->cap * sizeof(struct source) +
	       (uint64_t)t->rscap * t->nrules * sizeof(struct rstate) +
	       (uint64_t)t->nbucket * sizeof(uint32_t) +
	       (uint64_t)t->hitcap * sizeof(struct hit) +
	       (uint64_t)t->ndbucket * sizeof(uint32_t) +
	       (uint64_t)t->heapcap * sizeof(struct banent) +
	       (uint64_t)EVIDENCE_SLOTS * SMTP_RCPT_MAX;
}
