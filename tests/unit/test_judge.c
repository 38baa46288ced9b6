/* Judgement: share of rejections, reply batches, distinct acceptances,
 * long windows, waves, leaked recipients, prefix bans narrowed. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "helpers.h"
#include "t.h"
#include "tracker.h"

struct jbans {
	int n;
	struct ban last;
	char keys[512][ADDR_STRLEN];
};

static void on_jban(void *arg, const struct ban *b)
{
	struct jbans *x = arg;

	if (x->n < 512)
		prefix_fmt(&b->key, x->keys[x->n], sizeof(x->keys[0]));
	x->n++;
	x->last = *b;
}

static bool was_banned(const struct jbans *x, const char *key)
{
	for (int i = 0; i < x->n && i < 512; i++)
		if (!strcmp(x->keys[i], key))
			return true;
	return false;
}

static void rej(struct tracker *t, usec_t now, const char *addr, const char *fmt, int i)
{
	char r[64];

	snprintf(r, sizeof(r), fmt, i);
	rcpt_event(t, now, addr, EC_RCPT_REJECTED, 550, r);
}

static void acc(struct tracker *t, usec_t now, const char *addr, const char *fmt, int i)
{
	char r[64];

	snprintf(r, sizeof(r), fmt, i);
	rcpt_event(t, now, addr, EC_RCPT_ACCEPTED, 250, r);
}

#define S(x) ((usec_t)(x) * USEC_PER_SEC)
#define T0 S(1790000000)

TEST(judge_list_server_spared_by_share)
{
	struct config *c = cfg_new("");
	struct jbans b = { 0 };
	struct tracker *t = tracker_new(c, on_jban, &b);

	/* 250 subscribers, every 12th gone: 20 rejected, 230 accepted,
	 * in batches of 25 replies as a pipelining server answers. */
	for (int i = 0, n = 0; i < 250; i++) {
		if (i % 25 == 0)
			tracker_batch_begin(t);
		if (i % 12 == 5 && n < 20) {
			rej(t, T0, "198.18.0.1", "gone%d@x", i);
			n++;
		} else {
			acc(t, T0, "198.18.0.1", "sub%d@x", i);
		}
		if (i % 25 == 24)
			tracker_batch_end(t);
	}
	CHECK_EQ(b.n, 0);
	CHECK(tracker_stats(t)->share_spared > 0);
	tracker_free(t);
	cfg_del(c);
}

TEST(judge_harvester_with_a_third_valid_is_banned)
{
	struct config *c = cfg_new("");
	struct jbans b = { 0 };
	struct tracker *t = tracker_new(c, on_jban, &b);

	/* It knows 5 addresses and sends to them between its guesses. */
	for (int i = 0; i < 30 && !b.n; i++) {
		if (i % 3 == 0)
			acc(t, T0 + S(i), "198.18.0.2", "known%d@x", i / 3 % 5);
		else
			rej(t, T0 + S(i), "198.18.0.2", "guess%d@x", i);
	}
	CHECK_EQ(b.n, 1);
	CHECK_STR(b.last.rule_name, "harvest");
	CHECK_EQ(b.last.rejected, 10);
	CHECK_EQ(b.last.accepted, 5);
	CHECK_EQ(b.last.share, 66);
	/* The valid recipients it learned are named in the ban. */
	CHECK_EQ(b.last.nleaked, 5);
	CHECK_STR(b.last.leaked[0], "known0@x");
	CHECK_STR(b.last.leaked[4], "known4@x");
	CHECK_EQ(b.last.leaked[5][0], 0);
	CHECK_EQ(tracker_stats(t)->leaked, 5);
	tracker_free(t);
	cfg_del(c);
}

TEST(judge_repeating_a_valid_address_buys_nothing)
{
	struct config *c = cfg_new("");
	struct jbans b = { 0 };
	struct tracker *t = tracker_new(c, on_jban, &b);

	/* postmaster@ accepted between every guess: one distinct accepted. */
	for (int i = 0; i < 10; i++) {
		acc(t, T0 + S(i), "198.18.0.3", "postmaster@x", 0);
		acc(t, T0 + S(i), "198.18.0.3", "postmaster@x", 0);
		rej(t, T0 + S(i), "198.18.0.3", "guess%d@x", i);
	}
	CHECK_EQ(b.n, 1);
	CHECK_EQ(b.last.accepted, 1);
	CHECK_EQ(b.last.share, 90);
	tracker_free(t);
	cfg_del(c);
}

TEST(judge_batch_sees_rejections_and_acceptances_together)
{
	struct config *c = cfg_new("");
	struct jbans b = { 0 };
	struct tracker *t = tracker_new(c, on_jban, &b);

	/* A transaction whose first replies are 12 rejections in a row, then
	 * 40 acceptances, all in one reply batch: 23% rejected, not banned. */
	tracker_batch_begin(t);
	for (int i = 0; i < 12; i++)
		rej(t, T0, "198.18.0.4", "gone%d@x", i);
	for (int i = 0; i < 40; i++)
		acc(t, T0, "198.18.0.4", "sub%d@x", i);
	tracker_batch_end(t);
	CHECK_EQ(b.n, 0);
	/* Judged one reply at a time, the same replies ban it at the 10th:
	 * the batch is what spares it. */
	for (int i = 0; i < 12; i++)
		rej(t, T0, "198.18.0.5", "gone%d@x", i);
	CHECK_EQ(b.n, 1);
	CHECK_EQ(b.last.rejected, 10);
	/* A pipelined harvester's batch: banned at its end, with all of it. */
	tracker_batch_begin(t);
	for (int i = 0; i < 50; i++)
		rej(t, T0, "198.18.0.6", "guess%d@x", i);
	CHECK_EQ(b.n, 1);
	tracker_batch_end(t);
	CHECK_EQ(b.n, 2);
	CHECK_EQ(b.last.rejected, 50);
	tracker_free(t);
	cfg_del(c);
}

TEST(judge_slow_harvester_and_stale_retrier_over_a_day)
{
	struct config *c = cfg_new("wave_min = 0\n");
	struct jbans b = { 0 };
	struct tracker *t = tracker_new(c, on_jban, &b);
	usec_t banned_at = 0;

	/* One guess every 90 s, and one stale address every 10 minutes, for
	 * 24 hours. */
	for (usec_t now = T0; now < T0 + S(86400); now += S(90)) {
		int i = (int)((now - T0) / S(90));

		if (!banned_at)
			rej(t, now, "198.18.0.7", "guess%d@x", i);
		if (b.n && !banned_at)
			banned_at = now;
		if ((now - T0) % S(600) < S(90))
			rej(t, now, "198.18.0.8", "left@x", 0);
	}
	CHECK_EQ(b.n, 1);
	CHECK_STR(b.last.rule_name, "harvest_slow");
	CHECK_EQ(b.last.rejected, 20);
	/* The 20th guess came 19 x 90 s after the first. */
	CHECK_EQ(banned_at - T0, S(19 * 90));
	CHECK(!was_banned(&b, "198.18.0.8/32"));
	CHECK(tracker_stats(t)->duplicates >= 140);
	tracker_free(t);
	cfg_del(c);
}

TEST(judge_wave_bans_bots_after_a_few_probes_not_correspondents)
{
	struct config *c = cfg_new("");
	struct jbans b = { 0 };
	struct tracker *t = tracker_new(c, on_jban, &b);
	usec_t now = T0;
	char a[32];

	/* A quiet hour: a typo now and then sets the baseline. */
	for (int m = 0; m < 60; m++) {
		snprintf(a, sizeof(a), "198.18.1.%d", 1 + m % 50);
		acc(t, now + S(60 * m), a, "user%d@x", m);
		if (m % 10 == 0)
			rej(t, now + S(60 * m), a, "typo%d@x", m);
	}
	now += S(3600);
	CHECK_EQ(b.n, 0);
	CHECK(!tracker_wave(t)->on);
	/* 60 bots, 3 probes each, within 6 minutes. */
	for (int i = 0; i < 60; i++) {
		snprintf(a, sizeof(a), "198.19.%d.1", i);
		for (int k = 0; k < 3; k++)
			rej(t, now + S(6 * i + k), a, "guess%d@x", 100 * i + k);
	}
	CHECK(tracker_wave(t)->on);
	CHECK_EQ(tracker_wave(t)->waves, 1);
	/* Every bot is banned, also those whose probes came before the wave
	 * began (judged again when it did). */
	for (int i = 0; i < 60; i++) {
		snprintf(a, sizeof(a), "198.19.%d.1/32", i);
		CHECK(was_banned(&b, a));
	}
	CHECK_EQ(b.n, 60);
	CHECK(b.last.wave && b.last.wave_on);
	CHECK_EQ(tracker_stats(t)->wave_bans, 60);
	/* During it: a correspondent's one typo, and a sender with 3 gone
	 * among accepted recipients, are not banned. */
	now += S(370);
	rej(t, now, "198.18.1.7", "jhon@x", 0);
	acc(t, now, "198.18.2.1", "a@x", 0);
	for (int k = 0; k < 3; k++)
		rej(t, now, "198.18.2.1", "gone%d@x", k);
	CHECK_EQ(b.n, 60);
	CHECK(tracker_wave(t)->on);
	/* Quiet again: the wave ends. */
	tracker_advance(t, now + S(600));
	CHECK(!tracker_wave(t)->on);
	tracker_free(t);
	cfg_del(c);
}

TEST(judge_no_wave_without_a_surge)
{
	struct config *c = cfg_new("");
	struct jbans b = { 0 };
	struct tracker *t = tracker_new(c, on_jban, &b);
	char a[32];

	/* 29 rejections in 5 minutes from 29 sources: under wave_min. */
	for (int i = 0; i < 29; i++) {
		snprintf(a, sizeof(a), "198.19.0.%d", i + 1);
		rej(t, T0 + S(10 * i), a, "guess%d@x", i);
	}
	CHECK(!tracker_wave(t)->on);
	CHECK_EQ(b.n, 0);
	tracker_free(t);
	cfg_del(c);
}

TEST(judge_prefix_ban_narrowed_around_allowlisted_and_own)
{
	struct config *c = cfg_new("prefix4 = 24\nprefix6 = 64\nallowlist = 198.18.5.99\n"
				"servers = 198.18.0.25 fd00:18::1\n");
	struct jbans b = { 0 };
	struct tracker *t = tracker_new(c, on_jban, &b);

	for (int i = 0; i < 10; i++)
		rej(t, T0 + S(i), "198.18.5.10", "guess%d@x", i);
	CHECK_EQ(b.n, 1);
	CHECK_STR(b.keys[0], "198.18.5.10/32");
	CHECK(b.last.narrowed);
	CHECK_EQ(b.last.wide.len, 24);
	/* The same /64 as the server: only the harvester's address. */
	for (int i = 0; i < 10; i++)
		rej(t, T0 + S(i), "fd00:18::66", "guess%d@x", i);
	CHECK_EQ(b.n, 2);
	CHECK_STR(b.keys[1], "fd00:18::66/128");
	/* Elsewhere the prefix is banned whole. */
	for (int i = 0; i < 10; i++)
		rej(t, T0 + S(i), "198.18.6.10", "guess%d@x", i);
	CHECK_EQ(b.n, 3);
	CHECK_STR(b.keys[2], "198.18.6.0/24");
	CHECK_EQ(tracker_stats(t)->narrowed, 2);
	/* The narrowed address goes on (replies in flight): counted on the
	 * /24 again, it is not banned twice. */
	for (int i = 0; i < 10; i++)
		rej(t, T0 + S(30 + i), "198.18.5.10", "more%d@x", i);
	CHECK_EQ(b.n, 3);
	CHECK_EQ(tracker_active_bans(t), 3);
	/* The allowlisted neighbour still counts nothing and is never hit. */
	rej(t, T0 + S(20), "198.18.5.99", "x@x", 0);
	CHECK_EQ(tracker_stats(t)->allowlisted, 1);
	tracker_free(t);
	cfg_del(c);
}

TEST(judge_distinct_table_survives_growth_and_expiry)
{
	struct config *c = cfg_new("wave_min = 0\nrule r {\n class = rcpt_rejected\n threshold = 100000\n"
				" window = 10m\n share = 0\n}\n");
	struct jbans b = { 0 };
	struct tracker *t = tracker_new(c, on_jban, &b);
	char a[32];

	/* 5000 distinct recipients over 50 sources (the hit array and its
	 * table grow several times), each seen twice: 5000 duplicates. */
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 5000; i++) {
			snprintf(a, sizeof(a), "198.18.9.%d", i % 50);
			rej(t, T0 + S(round), a, "r%d@x", i);
		}
	CHECK_EQ(tracker_stats(t)->hits, 5000);
	CHECK_EQ(tracker_stats(t)->duplicates, 5000);
	/* After the window they are new again. */
	for (int i = 0; i < 5000; i++) {
		snprintf(a, sizeof(a), "198.18.9.%d", i % 50);
		rej(t, T0 + S(700), a, "r%d@x", i);
	}
	CHECK_EQ(tracker_stats(t)->hits, 10000);
	CHECK_EQ(tracker_stats(t)->duplicates, 5000);
	CHECK_EQ(b.n, 0);
	tracker_free(t);
	cfg_del(c);
}
