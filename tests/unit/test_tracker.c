/* Tracker: windows, distinct counting, escalation, caps, classification. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "helpers.h"
#include "t.h"
#include "state.h"
#include "tracker.h"

struct bans {
	int n;
	struct ban last;
	usec_t durations[32];
};

static void on_ban(void *arg, const struct ban *b)
{
	struct bans *x = arg;

	if (x->n < 32)
		x->durations[x->n] = b->duration;
	x->n++;
	x->last = *b;
}

static void hit(struct tracker *t, usec_t now, const char *addr, const char *rcpt)
{
	rcpt_event(t, now, addr, EC_RCPT_REJECTED, 550, rcpt);
}

#define S(x) ((usec_t)(x) * USEC_PER_SEC)

TEST(tracker_window_slides)
{
	struct config *c = cfg_new("");
	struct bans b = { 0 };
	struct tracker *t = tracker_new(c, on_ban, &b);
	char r[32];

	/* 9 in the first minute, then 9 more after the window: no ban. */
	for (int i = 0; i < 9; i++) {
		snprintf(r, sizeof(r), "a%d@x", i);
		hit(t, S(1000 + i), "198.18.0.1", r);
	}
	for (int i = 0; i < 9; i++) {
		snprintf(r, sizeof(r), "b%d@x", i);
		hit(t, S(1000 + 620 + i), "198.18.0.1", r);
	}
	CHECK_EQ(b.n, 0);
	/* One more inside the second group's window: the tenth. */
	hit(t, S(1000 + 700), "198.18.0.1", "c@x");
	CHECK_EQ(b.n, 1);
	CHECK_EQ(b.last.count, 10);
	CHECK_EQ(tracker_active_bans(t), 1);
	tracker_free(t);
	cfg_del(c);
}

TEST(tracker_distinct_and_all)
{
	struct config *c = cfg_new("rule d {\n class = rcpt_rejected\n threshold = 3\n}\n"
				   "rule a {\n class = rcpt_rejected\n threshold = 5\n count = all\n prefix4 = 24\n}\n");
	struct bans b = { 0 };
	struct tracker *t = tracker_new(c, on_ban, &b);

	for (int i = 0; i < 4; i++)
		hit(t, S(10 + i), "198.18.0.1", "same@x");
	CHECK_EQ(b.n, 0);
	CHECK_EQ(tracker_stats(t)->duplicates, 3);
	hit(t, S(20), "198.18.0.2", "same@x");	/* other /32, same /24 */
	CHECK_EQ(b.n, 1);
	CHECK_STR(b.last.rule_name, "a");
	CHECK_EQ(b.last.key.len, 24);
	tracker_free(t);
	cfg_del(c);
}

TEST(tracker_escalation_doubles_to_cap)
{
	struct config *c = cfg_new("rule h {\n class = rcpt_rejected\n threshold = 1\n ban = 1h\n"
				   " factor = 2\n max_ban = 7d\n}\n");
	struct bans b = { 0 };
	struct tracker *t = tracker_new(c, on_ban, &b);
	usec_t now = S(1000);
	static const int hours[] = { 1, 2, 4, 8, 16, 32, 64, 128, 168, 168 };

	for (int i = 0; i < 10; i++) {
		char r[16];

		snprintf(r, sizeof(r), "r%d@x", i);
		hit(t, now, "198.18.0.9", r);
		CHECK_EQ(b.n, i + 1);
		CHECK_EQ(b.durations[i], S(3600) * hours[i]);
		CHECK_EQ(b.last.nth, i + 1);
		/* While banned, nothing counts. */
		hit(t, now + 1, "198.18.0.9", "during@x");
		CHECK_EQ(b.n, i + 1);
		now += b.durations[i] + S(1);
		tracker_advance(t, now);
		CHECK_EQ(tracker_active_bans(t), 0);
	}
	CHECK_EQ(tracker_stats(t)->unbans, 10);
	tracker_free(t);
	cfg_del(c);
}

TEST(tracker_never_bans_special_or_allowlisted)
{
	struct config *c = cfg_new("allowlist = 198.18.5.0/24 fd00:5::/32\n"
				   "rule h {\n class = rcpt_rejected\n threshold = 1\n}\n");
	struct bans b = { 0 };
	struct tracker *t = tracker_new(c, on_ban, &b);
	static const char *never[] = {
		"127.0.0.1", "::1", "fe80::1", "169.254.1.1", "198.18.5.7", "fd00:5::9",
		"::ffff:127.0.0.1",
	};

	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		hit(t, S(1), never[i], "x@y");
	CHECK_EQ(b.n, 0);
	CHECK_EQ(tracker_sources(t), 0);
	hit(t, S(1), "198.18.6.7", "x@y");
	CHECK_EQ(b.n, 1);
	tracker_free(t);
	cfg_del(c);
}

TEST(tracker_evicts_least_recent_unbanned)
{
	struct config *c = cfg_new("max_sources = 16\n"
				   "rule h {\n class = rcpt_rejected\n threshold = 3\n}\n");
	struct bans b = { 0 };
	struct tracker *t = tracker_new(c, on_ban, &b);
	char a[32], r[32];

	/* Source 0 gets two hits, then 1000 other sources pass through. */
	hit(t, S(1), "198.18.9.0", "p@x");
	hit(t, S(1), "198.18.9.0", "q@x");
	for (int i = 1; i <= 1000; i++) {
		snprintf(a, sizeof(a), "198.18.%d.%d", 10 + i / 250, i % 250);
		snprintf(r, sizeof(r), "u%d@x", i);
		hit(t, S(2), a, r);
	}
	CHECK(tracker_sources(t) <= 16);
	CHECK(tracker_stats(t)->evictions >= 985);
	/* Its earlier hits were forgotten with it: one more is not enough. */
	hit(t, S(3), "198.18.9.0", "r@x");
	CHECK_EQ(b.n, 0);
	/* But a burst still bans. */
	hit(t, S(3), "198.18.9.0", "s@x");
	hit(t, S(3), "198.18.9.0", "t@x");
	CHECK_EQ(b.n, 1);
	CHECK(tracker_memory(t) > 0);
	tracker_free(t);
	cfg_del(c);
}

static void hit_hint(struct tracker *t, usec_t now, const char *addr, const char *rcpt, uint32_t *hint)
{
	struct ipaddr a;
	struct smtp_event e = { .verb = V_RCPT, .code = 550, .in_txn = true };

	addr_parse(addr, &a);
	e.rcpt = rcpt;
	e.rcpt_len = (uint16_t)strlen(rcpt);
	e.rcpt_hash = (uint32_t)hash_bytes(rcpt, strlen(rcpt), 0);
	tracker_event_hint(t, now, &a, EC_RCPT_REJECTED, &e, hint);
}

/* A flow's memory of where its client's source lies is checked before it
 * is used: once the source is evicted and its place given to another, an
 * event through the old hint counts for its own source, not the other. */
TEST(tracker_stale_hint_never_credits_another_source)
{
	struct config *c = cfg_new("max_sources = 16\n"
				   "rule h {\n class = rcpt_rejected\n threshold = 3\n}\n");
	struct bans b = { 0 };
	struct tracker *t = tracker_new(c, on_ban, &b);
	struct prefix x, y;
	uint32_t hx = UINT32_MAX, stale, hy = UINT32_MAX;
	char a[32], r[32], ya[32] = "";

	hit_hint(t, S(1), "198.18.9.0", "p@x", &hx);
	CHECK(hx != UINT32_MAX);
	stale = hx;
	/* New sources, one hit each, until one is given X's place (X, the
	 * least recent, is the first evicted). */
	for (int i = 1; i <= 64 && !ya[0]; i++) {
		snprintf(a, sizeof(a), "198.18.10.%d", i);
		snprintf(r, sizeof(r), "u%d@x", i);
		hy = UINT32_MAX;
		hit_hint(t, S(2), a, r, &hy);
		if (hy == stale)
			snprintf(ya, sizeof(ya), "%s", a);
	}
	CHECK(ya[0] != 0);
	CHECK(tracker_stats(t)->evictions >= 1);
	/* X again, twice, each time through the hint that now names Y's
	 * place. Trusted, it would give Y three hits and a ban. */
	for (int i = 0; i < 2; i++) {
		hx = stale;
		snprintf(r, sizeof(r), "q%d@x", i);
		hit_hint(t, S(3), "198.18.9.0", r, &hx);
		CHECK(hx != stale);
	}
	CHECK_EQ(b.n, 0);
	/* X's third hit (its first was forgotten with it) bans X, by X's key. */
	hit_hint(t, S(3), "198.18.9.0", "q2@x", &hx);
	CHECK_EQ(b.n, 1);
	CHECK_EQ(b.last.count, 3);
	CHECK_EQ(prefix_parse("198.18.9.0/32", &x), 0);
	CHECK(addr_eq(&b.last.key.a, &x.a) && b.last.key.len == 32);
	/* Y has its own one hit, and one more through its own hint: two, no
	 * ban. */
	hit_hint(t, S(3), ya, "u-again@x", &hy);
	CHECK_EQ(hy, stale);
	CHECK_EQ(b.n, 1);
	hit(t, S(3), ya, "u-third@x");
	CHECK_EQ(b.n, 2);
	CHECK_EQ(prefix_parse(ya, &y), 0);
	CHECK(addr_eq(&b.last.key.a, &y.a));
	tracker_free(t);
	cfg_del(c);
}

static int cls(int verb, int code, bool txn, const char *enh)
{
	struct smtp_event ev = { .verb = (uint8_t)verb, .code = (uint16_t)code, .in_txn = txn };

	if (enh) {
		ev.has_enh = true;
		sscanf(enh, "%hu.%hu.%hu", &ev.enh[0], &ev.enh[1], &ev.enh[2]);
	}
	return classify(&ev);
}

TEST(tracker_classify_table)
{
	CHECK_EQ(cls(V_RCPT, 550, true, "5.1.1"), EC_RCPT_REJECTED);
	CHECK_EQ(cls(V_RCPT, 550, true, NULL), EC_RCPT_REJECTED);	/* Exim */
	CHECK_EQ(cls(V_RCPT, 524, true, "5.2.4"), EC_RCPT_REJECTED);	/* OpenSMTPD */
	CHECK_EQ(cls(V_RCPT, 554, true, "5.7.1"), EC_RCPT_POLICY);
	CHECK_EQ(cls(V_RCPT, 550, true, "5.7.1"), EC_RCPT_POLICY);
	CHECK_EQ(cls(V_RCPT, 552, true, "5.2.2"), EC_RCPT_OTHER);	/* mailbox full */
	CHECK_EQ(cls(V_RCPT, 501, true, NULL), EC_RCPT_OTHER);
	CHECK_EQ(cls(V_RCPT, 503, true, "5.5.1"), EC_RCPT_SEQUENCE);
	CHECK_EQ(cls(V_RCPT, 452, true, "4.5.3"), EC_RCPT_TEMPFAIL);
	CHECK_EQ(cls(V_RCPT, 552, true, "5.5.3"), EC_RCPT_SEQUENCE);
	CHECK_EQ(cls(V_RCPT, 550, false, "5.1.1"), EC_RCPT_SEQUENCE);	/* no MAIL */
	CHECK_EQ(cls(V_RCPT, 450, true, "4.2.0"), EC_RCPT_TEMPFAIL);
	CHECK_EQ(cls(V_RCPT, 250, true, "2.1.5"), EC_RCPT_ACCEPTED);
	CHECK_EQ(cls(V_VRFY, 550, false, "5.1.1"), EC_VRFY_REJECTED);
	CHECK_EQ(cls(V_EXPN, 550, false, NULL), EC_VRFY_REJECTED);
	CHECK_EQ(cls(V_VRFY, 252, false, NULL), -1);
	CHECK_EQ(cls(V_AUTH, 535, false, "5.7.8"), EC_AUTH_FAILED);
	CHECK_EQ(cls(V_UNKNOWN, 500, false, "5.5.2"), EC_UNKNOWN_COMMAND);
	CHECK_EQ(cls(V_VRFY, 502, false, "5.5.1"), EC_UNKNOWN_COMMAND);
	CHECK_EQ(cls(V_MAIL, 550, false, "5.7.1"), -1);
}

struct collect {
	int n;
	struct ban_record v[64];
};

static void collect(void *arg, const struct ban_record *r)
{
	struct collect *x = arg;

	if (x->n < 64)
		x->v[x->n] = *r;
	x->n++;
}

/* Manual bans and unbans, in any order: the ban heap keeps ending the
 * soonest first, and an unbanned source can be banned again. */
TEST(tracker_manual_ban_unban_keeps_heap_order)
{
	struct config *c = cfg_new("allowlist = 198.18.9.0/24");
	struct tracker *t = tracker_new(c, NULL, NULL);
	char k[32];
	int order[] = { 7, 3, 11, 1, 9, 5, 12, 2, 8, 4, 10, 6 };
	struct collect all = { 0 };

	for (int i = 0; i < 12; i++) {
		struct prefix p;

		snprintf(k, sizeof(k), "198.18.1.%d/32", order[i]);
		p = pfx(k);
		CHECK_EQ(tracker_ban(t, S(100), &p, S(order[i] * 10), RULE_MANUAL, 0), TRACK_OK);
	}
	CHECK_EQ(tracker_active_bans(t), 12);
	/* Lift three from the middle of the heap. */
	for (int i = 4; i <= 6; i++) {
		struct prefix p;

		snprintf(k, sizeof(k), "198.18.1.%d/32", i);
		p = pfx(k);
		CHECK(tracker_unban(t, &p));
		CHECK(!tracker_unban(t, &p));
	}
	CHECK_EQ(tracker_active_bans(t), 9);
	/* Time passes: bans end in order; the lifted ones never come back. */
	for (int s = 1; s <= 12; s++) {
		tracker_advance(t, S(100 + s * 10));
		CHECK_EQ(tracker_active_bans(t), (uint32_t)(12 - s - (s < 4 ? 3 : s < 7 ? 3 - (s - 3) : 0)));
	}
	CHECK_EQ(tracker_active_bans(t), 0);
	/* Banned before: the next manual ban is its second. */
	{
		struct prefix p = pfx("198.18.1.7/32");
		struct ban_record r;

		CHECK_EQ(tracker_ban(t, S(500), &p, S(10), RULE_MANUAL, 0), TRACK_OK);
		CHECK(tracker_lookup(t, &p, &r));
		CHECK_EQ(r.nth, 2);
		CHECK_EQ(r.rule, -1);
		CHECK_STR(tracker_rule_name(t, r.rule), "manual");
	}
	/* Allowlisted and special addresses are refused. */
	{
		struct prefix a = pfx("198.18.9.5/32"), l = pfx("127.0.0.1/32");

		CHECK_EQ(tracker_ban(t, S(500), &a, S(10), RULE_MANUAL, 0), TRACK_ALLOWLISTED);
		CHECK_EQ(tracker_ban(t, S(500), &l, S(10), RULE_MANUAL, 0), TRACK_NEVER_BAN);
	}
	tracker_foreach_ban(t, false, collect, &all);
	CHECK_EQ(all.n, 12);	/* 1 active, 11 with history */
	tracker_free(t);
	cfg_del(c);
}

/* What tracker_foreach_ban gives, tracker_restore takes back: a restart
 * keeps the ban, its rule, and the count that makes the next one longer. */
TEST(tracker_restore_round_trip_keeps_escalation)
{
	struct config *c = cfg_new("rule h {\n class = rcpt_rejected\n threshold = 3\n ban = 10s\n factor = 3\n}\n");
	struct bans b = { 0 };
	struct tracker *t = tracker_new(c, on_ban, &b), *u;
	struct collect all = { 0 };

	hit(t, S(10), "198.18.0.1", "a@x");
	hit(t, S(11), "198.18.0.1", "b@x");
	hit(t, S(12), "198.18.0.1", "c@x");
	CHECK_EQ(b.n, 1);
	tracker_foreach_ban(t, false, collect, &all);
	CHECK_EQ(all.n, 1);
	CHECK_EQ(all.v[0].until, S(22));
	CHECK_EQ(all.v[0].count, 3);
	u = tracker_new(c, on_ban, &b);
	CHECK_EQ(tracker_restore(u, S(15), &all.v[0]), TRACK_OK);
	CHECK_EQ(tracker_active_bans(u), 1);
	/* Still banned at 20 s: events are not counted. */
	hit(u, S(20), "198.18.0.1", "d@x");
	CHECK_EQ(tracker_stats(u)->while_banned, 1);
	/* After the end, the second ban is three times as long. */
	hit(u, S(30), "198.18.0.1", "e@x");
	hit(u, S(31), "198.18.0.1", "f@x");
	hit(u, S(32), "198.18.0.1", "g@x");
	CHECK_EQ(b.n, 2);
	CHECK_EQ(b.last.nth, 2);
	CHECK_EQ(b.last.duration, S(30));
	/* A longer restored ban extends, a shorter one does not shorten. */
	{
		struct ban_record r = all.v[0];

		r.until = S(100);
		CHECK_EQ(tracker_restore(u, S(33), &r), TRACK_OK);
		r.until = S(40);
		CHECK_EQ(tracker_restore(u, S(33), &r), TRACK_OK);
		CHECK(tracker_lookup(u, &r.key, &r));
		CHECK_EQ(r.until, S(100));
	}
	tracker_free(u);
	tracker_free(t);
	cfg_del(c);
}

/* The state file: saved and loaded back; bad lines reported as FILE:LINE
 * and skipped, the good ones kept. */
TEST(state_file_round_trip_and_bad_lines)
{
	struct config *c = cfg_new("rule h {\n class = rcpt_rejected\n threshold = 3\n}\n"
				   "allowlist = 198.18.9.9");
	struct tracker *t = tracker_new(c, NULL, NULL), *u = tracker_new(c, NULL, NULL);
	char path[] = "/tmp/rcptguard-state-XXXXXX", err[4096] = "";
	struct prefix p4 = pfx("198.18.0.1/32"), p6 = pfx("fd00:18::/64");
	struct state_counts n;
	struct ban_record r;
	FILE *f, *e = fmemopen(err, sizeof(err), "w");
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(tracker_ban(t, S(1000), &p4, S(60), RULE_MANUAL, 0), TRACK_OK);
	CHECK_EQ(tracker_ban(t, S(1000), &p6, S(5), RULE_MANUAL, 0), TRACK_OK);
	tracker_advance(t, S(1010));	/* p6's ban ended: history only */
	CHECK_EQ(state_save(path, t, NULL), 0);
	f = fopen(path, "a");
	fputs("not a line\n198.18.9.9/32 h 1 3 1000000000 1060000000\n", f);
	fclose(f);
	CHECK_EQ(state_load(path, u, NULL, c, S(1010), &n, e), 0);
	fclose(e);
	CHECK_EQ(n.bans, 1);
	CHECK_EQ(n.history, 1);
	CHECK_EQ(n.bad, 1);
	CHECK_EQ(n.refused, 1);	/* allowlisted */
	CHECK(strstr(err, ":4: not a state line") != NULL);
	CHECK(tracker_lookup(u, &p4, &r));
	CHECK_EQ(r.until, S(1060));
	CHECK(tracker_lookup(u, &p6, &r));
	CHECK_EQ(r.nth, 1);
	CHECK_EQ(r.until, 0);
	/* A missing file is a first start, not an error. */
	unlink(path);
	CHECK_EQ(state_load(path, u, NULL, c, S(1010), &n, NULL), 0);
	tracker_free(u);
	tracker_free(t);
	cfg_del(c);
}

/* Bans found by key in O(1): each banned source keeps the index of its
 * heap entry through every sift. Many bans, half lifted in a scattered
 * order, the rest lengthened; each lookup must still see its own end
 * time, and expiry must end them in time order. */
TEST(tracker_ban_heap_index_survives_sifts)
{
	enum { N = 3000 };
	struct config *c = cfg_new("max_sources = 10000");
	struct tracker *t = tracker_new(c, NULL, NULL);
	struct ban_record r;
	usec_t until[N];
	int alive = 0;

	for (int i = 0; i < N; i++) {
		struct prefix k = { .a = { .af = 4, .b = { 198, 18, (uint8_t)(i >> 8), (uint8_t)i } },
				    .len = 32 };
		/* Scattered durations: every insertion sifts differently. */
		usec_t d = S(60 + (i * 7919) % 5000);

		CHECK_EQ(tracker_ban(t, S(1000), &k, d, RULE_MANUAL, 0), TRACK_OK);
		until[i] = S(1000) + d;
	}
	for (int i = 0; i < N; i++) {
		int j = (i * 1777) % N;	/* 1777 and 3000 are coprime: a permutation */
		struct prefix k = { .a = { .af = 4, .b = { 198, 18, (uint8_t)(j >> 8), (uint8_t)j } },
				    .len = 32 };

		if (j % 2) {
			CHECK(tracker_unban(t, &k));
			until[j] = 0;
		} else if (j % 3 == 0) {
			/* A longer ban of a banned source replaces its entry. */
			struct ban_record nr = { .key = k, .rule = -1, .nth = 2, .since = S(1000),
						 .until = until[j] + S(10000) };

			CHECK_EQ(tracker_restore(t, S(1000), &nr), TRACK_OK);
			until[j] = nr.until;
		}
	}
	for (int i = 0; i < N; i++) {
		struct prefix k = { .a = { .af = 4, .b = { 198, 18, (uint8_t)(i >> 8), (uint8_t)i } },
				    .len = 32 };

		if (!until[i]) {
			CHECK(!tracker_unban(t, &k));
			continue;
		}
		alive++;
		CHECK(tracker_lookup(t, &k, &r));
		if (r.until != until[i]) {
			CHECK_EQ(r.until, until[i]);
			break;
		}
	}
	CHECK_EQ(tracker_active_bans(t), (unsigned)alive);
	/* Half-way through the time: exactly the bans ending by then are gone. */
	{
		usec_t mid = S(1000 + 2600);
		unsigned left = 0;

		tracker_advance(t, mid);
		for (int i = 0; i < N; i++)
			left += until[i] > mid;
		CHECK_EQ(tracker_active_bans(t), left);
	}
	tracker_free(t);
	cfg_del(c);
}

/* An evicted source gives its hits back at once: a stream of one-event
 * sources through a small table does not grow the tracker. */
TEST(tracker_evicted_sources_free_their_hits)
{
	struct config *c = cfg_new("max_sources = 16");
	struct tracker *t = tracker_new(c, NULL, NULL);
	uint64_t after_warmup = 0;
	char a[32];

	for (int i = 0; i < 20000; i++) {
		snprintf(a, sizeof(a), "198.18.%d.%d", (i >> 8) & 0xff, i & 0xff);
		hit(t, S(100) + i, a, "x@y");	/* all within one window */
		if (i == 100)
			after_warmup = tracker_memory(t);
	}
	CHECK_EQ(tracker_sources(t), 16);
	CHECK_EQ(tracker_stats(t)->evictions, 20000 - 16);
	CHECK_EQ(tracker_memory(t), after_warmup);
	tracker_free(t);
	cfg_del(c);
}

static void sum_counts(void *arg, const struct prefix *key, const uint32_t *counts)
{
	uint64_t *sum = arg;

	(void)key;
	*sum += counts[0];
}

/* Fleet bans: their own rule and counters, the caller's tag; a source
 * that only holds a ban keeps no counting state, and counts from zero
 * once it is free again (the state given back is reused cleared). */
TEST(tracker_fleet_bans_and_state_reuse)
{
	enum { N = 3000 };
	struct config *c = cfg_new("max_sources = 10000\nrule h {\n class = rcpt_rejected\n threshold = 3\n}\n");
	struct bans b = { 0 };
	struct tracker *t = tracker_new(c, on_ban, &b), *u = tracker_new(c, NULL, NULL);
	struct prefix k = pfx("198.18.7.1/32"), free_k = pfx("198.18.7.2/32");
	char path[] = "/tmp/rcptguard-state-XXXXXX", a[32];
	struct state_counts n;
	struct ban_record r;
	uint64_t sum = 0;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	/* Two probes, then a fleet ban: the probes go with the ban. */
	hit(t, S(100), "198.18.7.1", "a@x");
	hit(t, S(101), "198.18.7.1", "b@x");
	CHECK_EQ(tracker_ban(t, S(102), &k, S(60), RULE_FLEET, 42), TRACK_OK);
	CHECK(tracker_lookup(t, &k, &r));
	CHECK_EQ(r.rule, RULE_FLEET);
	CHECK_EQ(r.tag, 42);
	CHECK(strcmp(tracker_rule_name(t, r.rule), "fleet") == 0);
	CHECK_EQ(tracker_stats(t)->bans_fleet, 1);
	CHECK_EQ(tracker_stats(t)->bans_manual, 0);
	CHECK(tracker_set_tag(t, &k, 43));
	CHECK(!tracker_set_tag(t, &free_k, 44));
	CHECK(tracker_lookup(t, &k, &r));
	CHECK_EQ(r.tag, 43);
	/* Saved and loaded as a fleet ban. */
	CHECK_EQ(state_save(path, t, NULL), 0);
	CHECK_EQ(state_load(path, u, NULL, c, S(103), &n, NULL), 0);
	unlink(path);
	CHECK_EQ(n.bans, 1);
	CHECK(tracker_lookup(u, &k, &r));
	CHECK_EQ(r.rule, RULE_FLEET);
	/* Ended: two probes are not the three of a ban. */
	tracker_advance(t, S(200));
	CHECK_EQ(tracker_stats(t)->unbans_fleet, 1);
	hit(t, S(201), "198.18.7.1", "c@x");
	hit(t, S(202), "198.18.7.1", "d@x");
	CHECK_EQ(b.n, 0);
	hit(t, S(203), "198.18.7.1", "e@x");
	CHECK_EQ(b.n, 1);
	CHECK_EQ(b.last.count, 3);

	/* Many: every other source fleet-banned, the others counting; then
	 * all free and counting again, through slots given back. */
	for (int i = 0; i < N; i++) {
		struct prefix p = { .a = { .af = 4, .b = { 198, 19, (uint8_t)(i >> 8), (uint8_t)i } },
				    .len = 32 };

		snprintf(a, sizeof(a), "198.19.%d.%d", (i >> 8) & 0xff, i & 0xff);
		if (i % 2)
			hit(t, S(300), a, "x@y");
		else
			CHECK_EQ(tracker_ban(t, S(300), &p, S(30), RULE_FLEET, (uint32_t)i), TRACK_OK);
	}
	tracker_foreach_source(t, sum_counts, &sum);
	CHECK_EQ(sum, N / 2);
	tracker_advance(t, S(340));
	for (int i = 0; i < N; i++) {
		snprintf(a, sizeof(a), "198.19.%d.%d", (i >> 8) & 0xff, i & 0xff);
		hit(t, S(341), a, "z@y");
	}
	sum = 0;
	tracker_foreach_source(t, sum_counts, &sum);
	CHECK_EQ(sum, N / 2 * 2 + N / 2);
	CHECK_EQ(b.n, 1);
	tracker_free(u);
	tracker_free(t);
	cfg_del(c);
}

/* The state file against what a disk, an editor or another version can
 * leave: every bad line named as FILE:LINE and skipped, every good one
 * read; a newer version's file not read and kept aside. */
TEST(state_file_bad_input)
{
	struct config *c = cfg_new("rule h {\n class = rcpt_rejected\n threshold = 3\n}\n");
	struct tracker *t;
	struct state_counts n;
	char *msg = NULL, text[2048], path[] = "/tmp/rcptguard-state-XXXXXX", aside[64];
	size_t mlen = 0;
	FILE *f, *e;
	int fd;
	const char *good = "198.18.7.1/32 h 1 3 1000000000 9000000000\n";

	/* Truncated mid-line, binary garbage, a line per future field, a
	 * very long line, a future kind of line: the good lines still read. */
	{
		static const char garbage[] = "\x01\x02\x00\xff garbage\n";
		size_t len = 0;

		len += (size_t)sprintf(text + len, "# rcptguard state 1: key rule times count since-us until-us\n%s", good);
		len += (size_t)sprintf(text + len, "198.18.7.2/32 h 1 3 1000000000 9000000000 fleet=7 origin=mx2\n");
		memcpy(text + len, garbage, sizeof(garbage) - 1);
		len += sizeof(garbage) - 1;
		len += (size_t)sprintf(text + len, "%0600d\n", 7);
		len += (size_t)sprintf(text + len, "future-kind 198.18.7.3 1 2 3\n198.18.7.4/32 h 1 3 10000");
		t = tracker_new(c, NULL, NULL);
		e = open_memstream(&msg, &mlen);
		f = fmemopen(text, len, "r");
	}
	CHECK_EQ(state_read(f, "state", t, NULL, c, S(2000), &n, e), 0);
	fclose(f);
	fclose(e);
	CHECK_EQ(n.bans, 2);	/* .1, and .2 with its future fields */
	CHECK_EQ(n.bad, 4);	/* garbage, long, future kind, truncated */
	CHECK(strstr(msg, "state:4: not text, skipped") != NULL);
	CHECK(strstr(msg, "state:5: line too long, skipped") != NULL);
	CHECK(strstr(msg, "state:6: not a state line, skipped") != NULL);
	CHECK(strstr(msg, "state:7: not a state line, skipped") != NULL);
	free(msg);
	tracker_free(t);

	/* A newer version's file: not read, renamed aside, nothing lost. */
	fd = mkstemp(path);
	CHECK(fd >= 0);
	f = fdopen(fd, "w");
	fprintf(f, "# rcptguard state 2: something else\n%s", good);
	fclose(f);
	t = tracker_new(c, NULL, NULL);
	msg = NULL;
	e = open_memstream(&msg, &mlen);
	CHECK_EQ(state_load(path, t, NULL, c, S(2000), &n, e), 0);
	fclose(e);
	CHECK_EQ(n.version, 2);
	CHECK_EQ(n.bans, 0);
	CHECK(strstr(msg, ":1: a state file of version 2, newer than this rcptguard's (1): not read") != NULL);
	snprintf(aside, sizeof(aside), "%s.v2", path);
	CHECK(access(path, F_OK) < 0);
	CHECK_EQ(access(aside, R_OK), 0);
	unlink(aside);
	free(msg);
	tracker_free(t);
	config_free(c);
	free(c);
}
