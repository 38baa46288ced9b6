/* mkday SEED OUT.pcap TRUTH.tsv: one MX over a day, with known intent.
 *
 * Harvesters of every kind and legitimate senders of every kind share
 * the day; the truth file says, per source key (IPv4 /32, IPv6 /64), its
 * class, whether it must be banned, when it was first seen and when its
 * first session ended. tests/day.sh replays the capture and holds the bans
 * against it. The seed changes order, timing, counts and which recipients
 * are gone; the classes and what they must show stay.
 *
 * Server 198.18.0.25 and fd00::25; clients from 198.18.0.0/15 and
 * fd00::/8 only. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcapw.h"

#define S(x) ((int64_t)(x) * 1000000)
#define MIN(x) S((int64_t)(x) * 60)
#define HOUR(x) MIN((int64_t)(x) * 60)
/* 2026-11-02 00:00:00 UTC, a Monday. */
#define DAY0 S(1793577600)
#define MAXRCPT 320

enum { HARVEST_PLAIN, HARVEST_PIPELINED, HARVEST_MIXED, HARVEST_SLOW, HARVEST_DISTRIBUTED,
       LIST, PROVIDER, CORRESPONDENT, RETRIER, GREYLISTED, NCLASS };

static const char *const class_name[NCLASS] = {
	"harvest_plain", "harvest_pipelined", "harvest_mixed", "harvest_slow",
	"harvest_distributed", "list_server", "provider", "correspondent",
	"stale_retrier", "greylisted",
};

/* What the server says to one recipient. */
enum { R_OK, R_UNKNOWN, R_GREY };

struct job {
	int64_t t;
	char cli[48];
	int src;		/* index into sources */
	bool pipelined;
	bool deliver;		/* DATA when something was accepted */
	int n;
	char (*rcpt)[64];
	uint8_t *ans;
};

struct source {
	char key[48];
	int cls;
	int64_t first, first_end;
};

static struct pcapw w;
static uint64_t rng;
static struct job *jobs;
static size_t njobs, capjobs;
static struct source src[4096];
static int nsrc;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Uniform in [lo, hi]. */
static int64_t between(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static int source(const char *key, int cls)
{
	for (int i = 0; i < nsrc; i++)
		if (!strcmp(src[i].key, key))
			return i;
	if (nsrc == (int)(sizeof(src) / sizeof(src[0]))) {
		fprintf(stderr, "mkday: too many sources\n");
		exit(1);
	}
	snprintf(src[nsrc].key, sizeof(src[nsrc].key), "%s", key);
	src[nsrc].cls = cls;
	src[nsrc].first = INT64_MAX;
	return nsrc++;
}

static struct job *job(int64_t t, const char *cli, const char *key, int cls, bool pipelined,
		       bool deliver)
{
	struct job *j;

	if (njobs == capjobs) {
		capjobs = capjobs ? capjobs * 2 : 1024;
		jobs = realloc(jobs, capjobs * sizeof(*jobs));
		if (!jobs)
			abort();
	}
	j = &jobs[njobs++];
	memset(j, 0, sizeof(*j));
	j->t = t;
	snprintf(j->cli, sizeof(j->cli), "%s", cli);
	j->src = source(key, cls);
	j->pipelined = pipelined;
	j->deliver = deliver;
	j->rcpt = calloc(MAXRCPT, sizeof(*j->rcpt));
	j->ans = calloc(MAXRCPT, 1);
	if (!j->rcpt || !j->ans)
		abort();
	return j;
}

static void add_rcpt(struct job *j, const char *name, int ans)
{
	if (j->n == MAXRCPT)
		return;
	snprintf(j->rcpt[j->n], sizeof(j->rcpt[j->n]), "%s@example.org", name);
	j->ans[j->n++] = (uint8_t)ans;
}

/* A guessed name: what dictionaries try. */
static void add_guess(struct job *j)
{
	static const char *const stem[] = {
		"info", "sales", "admin", "office", "contact", "support", "john", "mary", "mike",
		"anna", "peter", "laura", "david", "sarah", "james", "linda", "robert", "susan",
		"marketing", "hr", "jobs", "billing", "accounts", "web", "news", "shop",
	};
	char name[48];

	snprintf(name, sizeof(name), "%s%" PRIu64, stem[rnd() % (sizeof(stem) / sizeof(stem[0]))],
		 rnd() % 100000);
	add_rcpt(j, name, R_UNKNOWN);
}

static void add_user(struct job *j, int user)
{
	char name[32];

	snprintf(name, sizeof(name), "user%d", user);
	add_rcpt(j, name, R_OK);
}

/* ---- the day ---- */

static void harvesters(void)
{
	char a[48];

	/* Classic: one session each, 40 to 80 guesses, one at a time. */
	for (int i = 1; i <= 3; i++) {
		struct job *j;

		snprintf(a, sizeof(a), "198.18.100.%d", i);
		j = job(DAY0 + between(HOUR(8), HOUR(19)), a, a, HARVEST_PLAIN, false, false);
		for (int k = between(40, 80); k > 0; k--)
			add_guess(j);
	}
	/* Pipelined: 50 to 200 guesses in one burst, and again later. */
	for (int i = 1; i <= 3; i++) {
		int64_t t = DAY0 + between(HOUR(8), HOUR(18));

		snprintf(a, sizeof(a), "198.18.101.%d", i);
		for (int s = 0; s < 2; s++, t += MIN(between(1, 30))) {
			struct job *j = job(t, a, a, HARVEST_PIPELINED, true, false);

			for (int k = between(50, 200); k > 0; k--)
				add_guess(j);
		}
	}
	/* Knows a few real addresses and spams them, guessing the rest: a
	 * third of its recipients are valid, the message is delivered. */
	for (int i = 1; i <= 3; i++) {
		int64_t t = DAY0 + between(HOUR(8), HOUR(18));
		int known = (int)between(2, 4);

		snprintf(a, sizeof(a), "198.18.102.%d", i);
		for (int s = 0; s < 6; s++, t += MIN(between(2, 8))) {
			struct job *j = job(t, a, a, HARVEST_MIXED, true, true);

			for (int k = 0; k < known; k++)
				add_user(j, 10 * i + k);
			for (int k = 2 * known; k > 0; k--)
				add_guess(j);
		}
	}
	/* Slow: one guess a session, every 60 to 120 s, for three hours. */
	for (int i = 1; i <= 3; i++) {
		int64_t t = DAY0 + between(HOUR(8), HOUR(10)), end = t + HOUR(3);

		snprintf(a, sizeof(a), "198.18.103.%d", i);
		for (; t < end; t += S(between(60, 120)))
			add_guess(job(t, a, a, HARVEST_SLOW, false, false));
	}
	/* Distributed: 300 bots from scattered networks (and 30 IPv6 /64s),
	 * 3 to 5 guesses each, in one or two sessions, within 20 minutes. */
	for (int i = 0; i < 330; i++) {
		int64_t t = DAY0 + HOUR(12) + between(0, MIN(18));
		int n = (int)between(3, 5), sessions = (int)between(1, 2);
		char key[48];

		if (i < 300) {
			snprintf(a, sizeof(a), "198.19.%d.%d", (int)(rnd() % 256), 1 + i % 250);
			snprintf(key, sizeof(key), "%s", a);
		} else {
			snprintf(a, sizeof(a), "fd00:b0:%x::%x", i, 1 + (unsigned)(rnd() % 0xfffe));
			snprintf(key, sizeof(key), "fd00:b0:%x::/64", i);
		}
		if (source(key, HARVEST_DISTRIBUTED) != nsrc - 1)
			continue;	/* the same /32 drawn twice: keep the first */
		for (int s = 0; s < sessions; s++, t += MIN(between(1, 2))) {
			struct job *j = job(t, a, key, HARVEST_DISTRIBUTED, false, false);

			for (int k = s ? n - n / 2 : (sessions == 1 ? n : n / 2); k > 0; k--)
				add_guess(j);
		}
	}
}

static void legitimate(void)
{
	char a[48];

	/* Mailing lists: hundreds of subscribers in one transaction, 5 to
	 * 15% gone; one list's transaction opens with 8 gone in a row. */
	for (int i = 1; i <= 3; i++) {
		for (int m = 0; m < 2; m++) {
			struct job *j;
			int n = (int)between(150, 300), gone = (int)between(5, 15);

			snprintf(a, sizeof(a), "198.18.110.%d", i);
			j = job(DAY0 + between(HOUR(8), HOUR(19)), a, a, LIST, true, true);
			for (int k = 0; k < n; k++) {
				char name[32];
				bool left = (i == 1 && m == 0 && k < 8) || (int)(rnd() % 100) < gone;

				snprintf(name, sizeof(name), "sub%d-%d", i, k);
				if (left)
					add_rcpt(j, name, R_UNKNOWN);
				else
					add_user(j, 1000 * i + k);
			}
		}
	}
	/* A provider's outbound hosts: a newsletter split over 40 sessions in
	 * ten minutes, 2 to 5 recipients each, one stale in most. The third
	 * sends from a pool of addresses in one /64. */
	for (int i = 1; i <= 3; i++) {
		int64_t t0 = DAY0 + between(HOUR(9), HOUR(17));
		char key[48];

		if (i < 3)
			snprintf(key, sizeof(key), "198.18.111.%d", i);
		else
			snprintf(key, sizeof(key), "fd00:ab::/64");
		for (int s = 0; s < 40; s++) {
			struct job *j;
			int n = (int)between(2, 5);

			if (i < 3)
				snprintf(a, sizeof(a), "%s", key);
			else
				snprintf(a, sizeof(a), "fd00:ab::%x", 1 + s % 10);
			j = job(t0 + between(0, MIN(10)), a, key, PROVIDER, true, true);
			if (rnd() % 4)
				add_guess(j);	/* a stale address looks like a guess */
			for (int k = 0; k < n - 1; k++)
				add_user(j, (int)(rnd() % 2000));
		}
	}
	/* Correspondents: a few sessions a day, a typo now and then; ten of
	 * them write during the distributed harvest, each with one typo. */
	for (int i = 1; i <= 60; i++) {
		snprintf(a, sizeof(a), "198.18.120.%d", i);
		for (int s = (int)between(1, 6); s > 0; s--) {
			bool wave = i <= 10 && s == 1;
			int64_t t = wave ? DAY0 + HOUR(12) + between(MIN(2), MIN(20))
					 : DAY0 + between(HOUR(8), HOUR(20));
			struct job *j = job(t, a, a, CORRESPONDENT, (i & 1) != 0, true);

			for (int k = (int)between(1, 3); k > 0; k--)
				add_user(j, (int)(rnd() % 2000));
			if (wave || rnd() % 20 == 0)
				add_rcpt(j, "jhon.smiht", R_UNKNOWN);
		}
	}
	/* A server retrying one stale address every ten minutes all day. */
	for (int i = 1; i <= 3; i++) {
		snprintf(a, sizeof(a), "198.18.121.%d", i);
		for (int64_t t = DAY0 + between(0, MIN(10)); t < DAY0 + HOUR(24); t += MIN(10)) {
			char name[32];

			snprintf(name, sizeof(name), "left%d", i);
			add_rcpt(job(t, a, a, RETRIER, false, false), name, R_UNKNOWN);
		}
	}
	/* Greylisted: 450 to everything, accepted on the retry. */
	for (int i = 1; i <= 10; i++) {
		int64_t t = DAY0 + between(HOUR(8), HOUR(19));
		int n = (int)between(1, 3), user = (int)(rnd() % 2000);
		struct job *j;

		snprintf(a, sizeof(a), "198.18.122.%d", i);
		j = job(t, a, a, GREYLISTED, true, true);
		for (int k = 0; k < n; k++) {
			char name[32];

			snprintf(name, sizeof(name), "user%d", user + k);
			add_rcpt(j, name, R_GREY);
		}
		j = job(t + MIN(between(5, 15)), a, a, GREYLISTED, true, true);
		for (int k = 0; k < n; k++)
			add_user(j, user + k);
	}
}

/* ---- writing it ---- */

static size_t reply(char *buf, size_t len, const char *rcpt, int ans)
{
	switch (ans) {
	case R_OK:
		return (size_t)snprintf(buf, len, "250 2.1.5 Ok\r\n");
	case R_GREY:
		return (size_t)snprintf(buf, len, "450 4.2.0 <%s>: Recipient address rejected: "
					"Greylisted, see https://example.org/grey\r\n", rcpt);
	default:
		return (size_t)snprintf(buf, len, "550 5.1.1 <%s>: Recipient address rejected: "
					"User unknown in virtual mailbox table\r\n", rcpt);
	}
}

/* Write one session from time t; returns when it ended. */
static int64_t run(const struct job *j, int64_t t, uint32_t isn)
{
	static char cmd[65536], rep[65536];
	struct tcpsess s;
	size_t cl = 0, rl = 0;
	bool any = false;
	bool v6 = strchr(j->cli, ':') != NULL;

	sess_init(&s, pcapw_frame, &w, PW_EN10MB, j->cli, (uint16_t)(1024 + isn % 60000),
		  v6 ? "fd00::25" : "198.18.0.25", 25, isn, isn * 7 + 3);
	s.t = t;
	s.step = 200;
	sess_handshake(&s);
	sess_sendstr(&s, SRV, "220 mx.example.org ESMTP\r\n");
	sess_sendstr(&s, CLI, "EHLO client.example\r\n");
	sess_sendstr(&s, SRV, "250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
	for (int i = 0; i < j->n; i++)
		any |= j->ans[i] == R_OK;
	if (j->pipelined) {
		cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "MAIL FROM:<sender@client.example>\r\n");
		rl += (size_t)snprintf(rep + rl, sizeof(rep) - rl, "250 2.1.0 Ok\r\n");
		for (int i = 0; i < j->n; i++) {
			cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "RCPT TO:<%s>\r\n", j->rcpt[i]);
			rl += reply(rep + rl, sizeof(rep) - rl, j->rcpt[i], j->ans[i]);
		}
		if (j->deliver) {
			cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "DATA\r\n");
			rl += (size_t)snprintf(rep + rl, sizeof(rep) - rl, any ? "354 End data with <CR><LF>.<CR><LF>\r\n"
					       : "554 5.5.1 Error: no valid recipients\r\n");
		}
		sess_send(&s, CLI, cmd, cl);
		sess_send(&s, SRV, rep, rl);
	} else {
		sess_sendstr(&s, CLI, "MAIL FROM:<sender@client.example>\r\n");
		sess_sendstr(&s, SRV, "250 2.1.0 Ok\r\n");
		for (int i = 0; i < j->n; i++) {
			char line[200];

			snprintf(line, sizeof(line), "RCPT TO:<%s>\r\n", j->rcpt[i]);
			sess_sendstr(&s, CLI, line);
			reply(line, sizeof(line), j->rcpt[i], j->ans[i]);
			sess_sendstr(&s, SRV, line);
		}
		if (j->deliver && any) {
			sess_sendstr(&s, CLI, "DATA\r\n");
			sess_sendstr(&s, SRV, "354 End data with <CR><LF>.<CR><LF>\r\n");
		}
	}
	if (j->deliver && any) {
		sess_sendstr(&s, CLI, "Subject: news\r\n\r\nSome text.\r\n.\r\n");
		sess_sendstr(&s, SRV, "250 2.0.0 Ok: queued as 4XyZ\r\n");
	}
	sess_sendstr(&s, CLI, "QUIT\r\n");
	sess_sendstr(&s, SRV, "221 2.0.0 Bye\r\n");
	sess_close(&s);
	/* Sessions run in time order: the first one seen is the first. */
	if (t < src[j->src].first) {
		src[j->src].first = t;
		src[j->src].first_end = s.t;
	}
	return s.t;
}

static int by_time(const void *a, const void *b)
{
	const struct job *x = a, *y = b;

	return x->t < y->t ? -1 : x->t > y->t;
}

int main(int argc, char **argv)
{
	FILE *truth;
	int64_t last = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: mkday SEED OUT.pcap TRUTH.tsv\n");
		return 2;
	}
	rng = strtoull(argv[1], NULL, 10) * UINT64_C(0x9e3779b97f4a7c15) | 1;
	harvesters();
	legitimate();
	qsort(jobs, njobs, sizeof(*jobs), by_time);
	if (pcapw_open(&w, argv[2], PW_EN10MB, 65535)) {
		perror(argv[2]);
		return 1;
	}
	/* Sessions are written whole, one after the other: one that would
	 * start before the last ended waits for it, so time never goes back. */
	for (size_t i = 0; i < njobs; i++) {
		int64_t t = jobs[i].t > last ? jobs[i].t : last + 1000;

		last = run(&jobs[i], t, (uint32_t)(i * 2654435761u + 17));
	}
	if (pcapw_close(&w))
		return 1;
	truth = fopen(argv[3], "w");
	if (!truth) {
		perror(argv[3]);
		return 1;
	}
	fprintf(truth, "# key\tclass\tharvester\tfirst_s\tfirst_end_s\n");
	for (int i = 0; i < nsrc; i++)
		fprintf(truth, "%s%s\t%s\t%d\t%.6f\t%.6f\n", src[i].key,
			strchr(src[i].key, '/') ? "" : "/32", class_name[src[i].cls],
			src[i].cls < LIST, src[i].first / 1e6, src[i].first_end / 1e6);
	fclose(truth);
	fprintf(stderr, "mkday: %zu sessions, %d sources, %" PRIu64 " frames\n", njobs, nsrc, w.frames);
	for (size_t i = 0; i < njobs; i++) {
		free(jobs[i].rcpt);
		free(jobs[i].ans);
	}
	free(jobs);
	return 0;
}
