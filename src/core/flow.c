#include "flow.h"

#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX
#define LRU_GRAIN USEC_PER_SEC

/* Field by field, each read as it was written: a key just built on the
 * stack and read back as words across its fields' edges costs a stalled
 * load per word (the store cannot be forwarded), which made hashing a
 * 38-byte key a tenth of the replay reader's time. An IPv4 address is
 * its four bytes (the rest are zero, see struct ipaddr), so equal keys
 * hash alike whichever way they are read. */
uint64_t flow_hash_of(uint64_t seed, const struct ipaddr *cli, const struct ipaddr *srv,
		      uint16_t cport, uint16_t sport)
{
	uint64_t h = seed ^ ((uint64_t)cport << 32 | (uint64_t)sport << 48 |
			     (uint64_t)cli->af << 8 | srv->af);

	if (cli->af == 4 && srv->af == 4) {
		h = hash_step(h * UINT64_C(0x9e3779b97f4a7c15),
			      hash_load32(cli->b) << 32 | hash_load32(srv->b));
	} else {
		h = hash_step(h * UINT64_C(0x9e3779b97f4a7c15), hash_load64(cli->b));
		h = hash_step(h, hash_load64(cli->b + 8));
		h = hash_step(h, hash_load64(srv->b));
		h = hash_step(h, hash_load64(srv->b + 8));
	}
	return mix64(h);
}

uint64_t flow_hash(uint64_t seed, const struct flowkey *k)
{
	return flow_hash_of(seed, &k->cli, &k->srv, k->cport, k->sport);
}

static uint32_t bucket_of(const struct flowtab *t, const struct flowkey *k)
{
	return (uint32_t)flow_hash(t->seed, k) & (t->nbucket - 1);
}

static uint32_t idx(const struct flowtab *t, const struct flow *f)
{
	return (uint32_t)(f - t->f);
}

static void list_unlink(struct flowtab *t, uint32_t i)
{
	struct flow *f = &t->f[i];

	if (f->prev != NIL)
		t->f[f->prev].next = f->next;
	else
		t->head[f->state] = f->next;
	if (f->next != NIL)
		t->f[f->next].prev = f->prev;
	else
		t->tail[f->state] = f->prev;
}

static void list_push(struct flowtab *t, uint32_t i)
{
	struct flow *f = &t->f[i];

	f->prev = NIL;
	f->next = t->head[f->state];
	if (f->next != NIL)
		t->f[f->next].prev = i;
	t->head[f->state] = i;
	if (t->tail[f->state] == NIL)
		t->tail[f->state] = i;
}

void flowtab_init(struct flowtab *t, uint32_t max, const usec_t timeout[FS_NSTATES],
		  uint64_t seed, flow_release_fn release, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->max = max ? max : 1;
	t->nbucket = 1;
	while (t->nbucket < t->max && t->nbucket < (1u << 24))
		t->nbucket <<= 1;
	t->bucket = malloc(sizeof(*t->bucket) * t->nbucket);
	if (!t->bucket)
		abort();
	memset(t->bucket, 0xff, sizeof(*t->bucket) * t->nbucket);
	t->free_list = NIL;
	t->last = NIL;
	for (int s = 0; s < FS_NSTATES; s++) {
		t->head[s] = t->tail[s] = NIL;
		t->timeout[s] = timeout[s];
	}
	t->seed = seed;
	t->release = release;
	t->arg = arg;
}

void flowtab_free(struct flowtab *t)
{
	for (int s = 0; s < FS_NSTATES; s++)
		while (t->head[s] != NIL)
			flow_remove(t, &t->f[t->head[s]]);
	free(t->f);
	free(t->bucket);
	memset(t, 0, sizeof(*t));
}

static bool key_is(const struct flowkey *fk, const struct ipaddr *cli, const struct ipaddr *srv,
		   uint16_t cport, uint16_t sport)
{
	return fk->cport == cport && fk->sport == sport && addr_eq(&fk->cli, cli) &&
	       addr_eq(&fk->srv, srv);
}

struct flow *flow_lookup(struct flowtab *t, const struct ipaddr *cli, const struct ipaddr *srv,
			 uint16_t cport, uint16_t sport, uint64_t h)
{
	if (t->last != NIL && key_is(&t->f[t->last].key, cli, srv, cport, sport))
		return &t->f[t->last];
	for (uint32_t i = t->bucket[(uint32_t)h & (t->nbucket - 1)]; i != NIL; i = t->f[i].hnext) {
		if (key_is(&t->f[i].key, cli, srv, cport, sport)) {
			t->last = i;
			return &t->f[i];
		}
	}
	return NULL;
}

void flow_remove(struct flowtab *t, struct flow *f)
{
	uint32_t i = idx(t, f);
	uint32_t *pp = &t->bucket[bucket_of(t, &f->key)];

	if (t->release)
		t->release(t->arg, f);
	if (t->last == i)
		t->last = NIL;
	while (*pp != i)
		pp = &t->f[*pp].hnext;
	*pp = f->hnext;
	list_unlink(t, i);
	f->hnext = t->free_list;
	t->free_list = i;
	t->n--;
}

/* The victim when full: closing flows first, then half-open ones, then the
 * quietest established session, so that a SYN flood evicts only itself. */
static void evict_one(struct flowtab *t)
{
	static const int order[] = { FS_CLOSING, FS_EMBRYONIC, FS_ESTABLISHED };

	for (size_t k = 0; k < ARRAY_LEN(order); k++) {
		if (t->tail[order[k]] != NIL) {
			t->st.evicted++;
			flow_remove(t, &t->f[t->tail[order[k]]]);
			return;
		}
	}
}

struct flow *flow_create(struct flowtab *t, const struct flowkey *k, int st, usec_t now)
{
	uint32_t i, b;
	struct flow *f;

	if (t->free_list == NIL && t->cap < t->max) {
		uint32_t ncap = t->cap ? t->cap * 2 : 256;

		if (ncap > t->max)
			ncap = t->max;
		t->f = xrealloc(t->f, sizeof(*t->f) * ncap);
		for (uint32_t j = ncap; j-- > t->cap;) {
			t->f[j].hnext = t->free_list;
			t->free_list = j;
		}
		t->cap = ncap;
	}
	/* Also when a reload lowered the cap below what was allocated. */
	if (t->free_list == NIL || t->n >= t->max)
		evict_one(t);
	i = t->free_list;
	f = &t->f[i];
	t->free_list = f->hnext;
	memset(f, 0, sizeof(*f));
	f->key = *k;
	f->state = (uint8_t)st;
	f->last = f->moved = now;
	f->src_hint = UINT32_MAX;
	b = bucket_of(t, k);
	f->hnext = t->bucket[b];
	t->bucket[b] = i;
	list_push(t, i);
	t->n++;
	t->st.created++;
	if (t->n > t->st.peak)
		t->st.peak = t->n;
	return f;
}

void flow_touch(struct flowtab *t, struct flow *f, int st, usec_t now)
{
	uint32_t i = idx(t, f);

	/* Packets of one capture can be a little out of time order between
	 * interfaces; the LRU stays ordered because time never goes back. */
	if (now > f->last)
		f->last = now;
	/* Relinking touches two neighbours' cache lines; a list ordered to
	 * the second is enough for timeouts of seconds to minutes. */
	if (f->state == st && (t->head[f->state] == i || f->last - f->moved < LRU_GRAIN))
		return;
	list_unlink(t, i);
	f->state = (uint8_t)st;
	f->moved = f->last;
	list_push(t, i);
}

void flow_expire(struct flowtab *t, usec_t now)
{
	for (int s = 0; s < FS_NSTATES; s++) {
		uint32_t i;

		/* The lists are ordered by the time each flow was last moved,
		 * so stop at the first flow not moved for a timeout; one that
		 * saw packets since is moved to the head instead of freed. */
		while ((i = t->tail[s]) != NIL && t->f[i].moved + t->timeout[s] < now) {
			if (t->f[i].last + t->timeout[s] >= now) {
				list_unlink(t, i);
				t->f[i].moved = t->f[i].last;
				list_push(t, i);
				continue;
			}
			t->st.expired[s]++;
			flow_remove(t, &t->f[i]);
		}
	}
}
