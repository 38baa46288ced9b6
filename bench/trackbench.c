/* trackbench [ROUNDS]: the tracker alone, with the default rules, at 1k,
 * 100k and 1M sources.
 *
 * Each source has a session, an accepted recipient and two rejected ones
 * (the evidence every default rule keeps), in a random order of sources,
 * within one hour. Printed per size: nanoseconds per event (best of
 * ROUNDS), the ratio to the 1k case (flat means O(1) per event), tracker
 * memory in total, per source and per hit. The baseline is the same loop
 * of address and recipient generation without the tracker, measured in
 * the same run. Nothing is asserted. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "tracker.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t bans;

static void on_ban(void *arg, const struct ban *b)
{
	(void)arg;
	(void)b;
	bans++;
}

/* One event of source i: kind 0 session, 1 accepted, 2-3 rejected. */
static void make(uint32_t i, int kind, struct ipaddr *a, struct smtp_event *ev, char *rcpt, int *cls)
{
	/* fd00:0:HI:LO::1, one /64 (one source) each. */
	memset(a, 0, sizeof(*a));
	a->af = 6;
	a->b[0] = 0xfd;
	a->b[4] = (uint8_t)(i >> 24);
	a->b[5] = (uint8_t)(i >> 16);
	a->b[6] = (uint8_t)(i >> 8);
	a->b[7] = (uint8_t)i;
	a->b[15] = 1;
	memset(ev, 0, sizeof(*ev));
	ev->verb = kind ? V_RCPT : V_GREETING;
	ev->code = kind == 0 ? 220 : kind == 1 ? 250 : 550;
	ev->in_txn = true;
	if (kind) {
		int n = snprintf(rcpt, 64, "user%u-%d@example.org", i, kind);

		ev->rcpt = rcpt;
		ev->rcpt_len = (uint16_t)n;
		ev->rcpt_hash = (uint32_t)hash_bytes(rcpt, (size_t)n, 0);
	}
	*cls = kind == 0 ? EC_SESSION : kind == 1 ? EC_RCPT_ACCEPTED : EC_RCPT_REJECTED;
}

/* The floor any per-source table pays: one lookup-or-insert per event in
 * a plain open-addressing table of 64-byte slots (a cache line a source,
 * as small as a tracker could hope for), same sources, same order. */
static double floor_run(uint32_t nsrc, const uint32_t *order)
{
	uint32_t cap = 1;
	struct slot { uint64_t key, n[7]; } *tab;
	double s, e;

	while (cap < nsrc * 2)
		cap *= 2;
	tab = calloc(cap, sizeof(*tab));
	s = mono();
	for (int kind = 0; kind < 4; kind++)
		for (uint32_t k = 0; k < nsrc; k++) {
			uint64_t key = (uint64_t)order[k] + 1, h = key * UINT64_C(0x9e3779b97f4a7c15);
			uint32_t i = (uint32_t)(h >> 32) & (cap - 1);

			while (tab[i].key && tab[i].key != key)
				i = (i + 1) & (cap - 1);
			tab[i].key = key;
			tab[i].n[kind]++;
		}
	e = mono();
	free(tab);
	return (e - s) * 1e9 / (4.0 * nsrc);
}

static double floor_ns;

static double run(uint32_t nsrc, bool with_tracker, uint64_t *mem, size_t *per_src,
		  uint64_t *events)
{
	struct config cfg;
	struct tracker *t;
	uint32_t *order = malloc(sizeof(*order) * nsrc);
	usec_t t0 = (usec_t)1790000000 * USEC_PER_SEC;
	uint64_t n = 0, sink = 0;
	double s, e;
	char rcpt[64];

	config_defaults(&cfg);
	config_load_string(&cfg, "", "bench", stderr);
	t = tracker_new(&cfg, on_ban, NULL);
	for (uint32_t i = 0; i < nsrc; i++)
		order[i] = i;
	for (uint32_t i = nsrc; i > 1; i--) {
		uint32_t j = (uint32_t)(rnd() % i), x = order[i - 1];

		order[i - 1] = order[j];
		order[j] = x;
	}
	s = mono();
	for (int kind = 0; kind < 4; kind++) {
		for (uint32_t k = 0; k < nsrc; k++) {
			struct ipaddr a;
			struct smtp_event ev;
			int cls;
			/* Four passes over the sources within one hour. */
			usec_t now = t0 + (usec_t)((double)(kind * nsrc + k) / (4.0 * nsrc) * 3600e6);

			make(order[k], kind, &a, &ev, rcpt, &cls);
			if (with_tracker)
				tracker_event(t, now, &a, cls, &ev);
			else
				sink += a.b[1] ^ ev.rcpt_hash ^ (uint64_t)now;
			n++;
		}
	}
	e = mono();
	if (!with_tracker)
		floor_ns = floor_run(nsrc, order);
	*mem = tracker_memory(t);
	*per_src = tracker_bytes_per_source(t);
	*events = n;
	if (sink == 42)
		fputc(' ', stderr);
	tracker_free(t);
	config_free(&cfg);
	free(order);
	return (e - s) * 1e9 / (double)n;
}

int main(int argc, char **argv)
{
	static const uint32_t sizes[] = { 1000, 100000, 1000000 };
	int rounds = argc > 1 ? atoi(argv[1]) : 3;
	double first = 0;

	printf("# tracker, default rules (harvest 10m, harvest_slow 24h, vrfy), 4 events per source\n");
	printf("# (a session, one accepted and two rejected recipients), best of %d rounds\n", rounds);
	printf("%10s %10s %12s %12s %8s %12s %8s %12s %10s %8s\n", "sources", "events", "loop ns/ev",
	       "tracker ns/ev", "vs 1k", "floor ns/ev", "vs floor", "memory MB", "B/source", "B/hit");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		double best = 1e18, base = 1e18, fl = 1e18;
		uint64_t mem = 0, ev = 0;
		size_t per = 0;

		for (int r = 0; r < rounds; r++) {
			double x = run(sizes[i], false, &mem, &per, &ev);

			if (x < base)
				base = x;
			if (floor_ns < fl)
				fl = floor_ns;
			x = run(sizes[i], true, &mem, &per, &ev);
			if (x < best)
				best = x;
		}
		if (!first)
			first = best - base;
		printf("%10u %10" PRIu64 " %12.1f %12.1f %8.2f %12.1f %8.2f %12.1f %10zu %8zu\n", sizes[i], ev,
		       base, best - base, (best - base) / first, fl, (best - base) / fl, (double)mem / 1e6,
		       per, tracker_bytes_per_hit());
	}
	printf("# bans decided along the way: %" PRIu64 " (two rejections each stay under every threshold)\n",
	       bans);
	/* Hits per source: a list host's transaction, k distinct accepted
	 * recipients and k/20 rejected, one source. Distinct counting finds
	 * a recipient through a hash table, so the cost per event does not
	 * grow with k (a walk of the source's hits would: k/2 per event). */
	printf("\n# one source (a list host), k distinct accepted and k/20 rejected recipients\n");
	printf("%10s %12s %8s\n", "k", "ns/event", "vs 100");
	first = 0;
	for (uint32_t k = 100; k <= 100000; k *= 10) {
		double best = 1e18;

		for (int r = 0; r < rounds; r++) {
			struct config cfg;
			struct tracker *t;
			struct ipaddr a = { .af = 6, .b = { 0xfd, 0, 0, 0, 0, 0, 0, 7, [15] = 1 } };
			usec_t now = (usec_t)1790000000 * USEC_PER_SEC;
			char rcpt[64];
			double s, e;

			config_defaults(&cfg);
			config_load_string(&cfg, "", "bench", stderr);
			t = tracker_new(&cfg, on_ban, NULL);
			s = mono();
			for (uint32_t j = 0; j < k + k / 20; j++) {
				struct smtp_event ev = { .verb = V_RCPT, .in_txn = true };
				int n = snprintf(rcpt, sizeof(rcpt), "sub%u@example.org", j);

				ev.code = j % 21 == 20 ? 550 : 250;
				ev.rcpt = rcpt;
				ev.rcpt_len = (uint16_t)n;
				ev.rcpt_hash = (uint32_t)hash_bytes(rcpt, (size_t)n, 0);
				tracker_event(t, now, &a, ev.code == 550 ? EC_RCPT_REJECTED : EC_RCPT_ACCEPTED, &ev);
			}
			e = mono();
			tracker_free(t);
			config_free(&cfg);
			if ((e - s) * 1e9 / (k + k / 20) < best)
				best = (e - s) * 1e9 / (k + k / 20);
		}
		if (!first)
			first = best;
		printf("%10u %12.1f %8.2f\n", k, best, best / first);
	}
	return 0;
}
