/* tlsbench [ROUNDS]: the inference inside TLS alone (src/core/tls.c).
 *
 * A server calibrated like Postfix, then sessions of TLS 1.3 records:
 * probes one at a time (an exchange of two records each), and batches of
 * 10 and 50 pipelined RCPTs (one record each way). Printed: nanoseconds
 * per record and per exchange (best of ROUNDS), against the same dialogue
 * in the clear through the SMTP parser (what the session costs when it
 * can be read), in the same run; and the memory of a TLS session and of
 * a calibrated server.
 * Nothing is asserted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classify.h"
#include "tls.h"

static const struct ipaddr srv = { .af = 4, .b = { 198, 18, 0, 1 } };
static uint64_t rejected;

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_rejects(void *arg, uint32_t n, uint32_t lower, uint32_t accepted, bool unexplained)
{
	(void)accepted;
	(void)unexplained;
	(void)arg;
	(void)lower;
	rejected += n;
}

/* The records of one session, both sides, as (side, bytes) runs. */
struct stream {
	uint8_t *buf;
	size_t len, cap;
	struct run { int dir; size_t off, len; } *runs;
	size_t nruns, capruns, records, exchanges;
};

static void put(struct stream *s, int dir, uint8_t type, uint16_t len)
{
	size_t need = (size_t)len + 5;

	if (s->len + need > s->cap) {
		s->cap = (s->len + need) * 2;
		s->buf = realloc(s->buf, s->cap);
	}
	s->buf[s->len] = type;
	s->buf[s->len + 1] = 3;
	s->buf[s->len + 2] = 3;
	s->buf[s->len + 3] = (uint8_t)(len >> 8);
	s->buf[s->len + 4] = (uint8_t)len;
	memset(s->buf + s->len + 5, 0, len);
	if (s->nruns == s->capruns) {
		s->capruns = s->capruns ? s->capruns * 2 : 64;
		s->runs = realloc(s->runs, s->capruns * sizeof(*s->runs));
	}
	s->runs[s->nruns++] = (struct run){ dir, s->len, need };
	s->len += need;
	s->records++;
}

static void session(struct stream *s, int probes, int batch)
{
	static const uint8_t hello[] = { 22, 3, 3, 0, 50, 2, 0, 0, 46, 3, 3, [43] = 0, 0x13, 0x01, 0, 0, 6,
					 0, 0x2b, 0, 2, 3, 4 };

	memset(s, 0, sizeof(*s));
	put(s, 0, 22, 200);
	/* The ServerHello's bytes, not zeros. */
	put(s, 1, 22, sizeof(hello) - 5);
	memcpy(s->buf + s->runs[1].off, hello, sizeof(hello));
	put(s, 1, 23, 1100);
	put(s, 0, 20, 1);
	put(s, 0, 23, 53);
	put(s, 0, 23, 38);
	put(s, 1, 23, 167);
	put(s, 0, 23, 37 + 17);
	put(s, 1, 23, 14 + 17);
	for (int i = 0; i < probes; i += batch) {
		int L = 14 + i % 7, k = batch;

		put(s, 0, 23, (uint16_t)(k * (12 + L) + 17));
		put(s, 1, 23, (uint16_t)(k * (81 + L) + 17));
		s->exchanges++;
	}
	put(s, 0, 23, 6 + 17);
	put(s, 1, 23, 15 + 17);
	s->exchanges += 2;
}

static void calibrate(struct tls_ctx *c)
{
	for (uint16_t L = 10; L < 25; L++) {
		struct smtp_event r = { .verb = V_RCPT, .code = 550, .cmd_len = (uint16_t)(12 + L),
					.reply_len = (uint16_t)(81 + L), .rcpt_len = L };
		struct smtp_event a = { .verb = V_RCPT, .code = 250, .cmd_len = (uint16_t)(12 + L),
					.reply_len = 14, .rcpt_len = L };

		tls_calib_observe(&c->cal, &srv, &r, EC_RCPT_REJECTED);
		tls_calib_observe(&c->cal, &srv, &a, EC_RCPT_ACCEPTED);
	}
	tls_calib_observe(&c->cal, &srv, &(struct smtp_event){ .verb = V_MAIL, .code = 250, .cmd_len = 37,
							       .reply_len = 14 }, -1);
	tls_calib_observe(&c->cal, &srv, &(struct smtp_event){ .verb = V_QUIT, .code = 221, .cmd_len = 6,
							       .reply_len = 15 }, -1);
}

/* The baseline: the same dialogue in the clear, as two strings. */
struct clear {
	char cli[8192], srv[16384];
	size_t ncli, nsrv;
};

static void clear_dialogue(struct clear *d, int probes, int batch)
{
	d->ncli = (size_t)snprintf(d->cli, sizeof(d->cli), "EHLO client.example\r\nMAIL FROM:<x@harvest.example>\r\n");
	d->nsrv = (size_t)snprintf(d->srv, sizeof(d->srv), "220 mx ESMTP\r\n250-mx\r\n250 PIPELINING\r\n250 2.1.0 Ok\r\n");
	for (int i = 0; i < probes; i++) {
		d->ncli += (size_t)snprintf(d->cli + d->ncli, sizeof(d->cli) - d->ncli, "RCPT TO:<u%d.%d@example.org>\r\n", i,
					    batch);
		d->nsrv += (size_t)snprintf(d->srv + d->nsrv, sizeof(d->srv) - d->nsrv,
					    "550 5.1.1 <u%d.%d@example.org>: Recipient address rejected\r\n", i, batch);
	}
	d->ncli += (size_t)snprintf(d->cli + d->ncli, sizeof(d->cli) - d->ncli, "QUIT\r\n");
	d->nsrv += (size_t)snprintf(d->srv + d->nsrv, sizeof(d->srv) - d->nsrv, "221 Bye\r\n");
}

static uint64_t clear_events;

static void on_event(void *arg, const struct smtp_event *ev)
{
	(void)arg;
	(void)ev;
	clear_events++;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 3;
	static const struct { const char *name; int probes, batch, sessions; } cases[] = {
		{ "one probe an exchange", 20, 1, 20000 },
		{ "pipelined by 10", 50, 10, 20000 },
		{ "pipelined by 50", 50, 50, 5000 },
	};
	struct tls_ctx c;
	struct smtp_ctx sc;

	printf("memory: a followed TLS session %zu bytes (allocated after STARTTLS only), "
	       "a calibrated server %zu bytes, the table of %d servers %zu bytes\n",
	       sizeof(struct tls), sizeof(struct tls_calib), TLS_CALIB_MAX, sizeof(struct tls_calibs));
	tls_ctx_init(&c, on_rejects);
	calibrate(&c);
	smtp_ctx_init(&sc, 1024, 2048, on_event);
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct stream s;
		struct clear d;
		double best = 1e9, floor_best = 1e9;

		session(&s, cases[k].probes, cases[k].batch);
		clear_dialogue(&d, cases[k].probes, cases[k].batch);
		for (int r = 0; r < rounds; r++) {
			double t0 = mono(), t1;

			for (int n = 0; n < cases[k].sessions; n++) {
				struct tls t;

				tls_init(&c, &t, &srv);
				for (size_t i = 0; i < s.nruns; i++)
					tls_data(&c, &t, s.runs[i].dir, s.buf + s.runs[i].off,
						 (uint32_t)s.runs[i].len, NULL);
				tls_end(&c, &t, NULL);
			}
			t1 = mono();
			if (t1 - t0 < best)
				best = t1 - t0;
			t0 = mono();
			for (int n = 0; n < cases[k].sessions; n++) {
				struct smtp m;

				/* Client first: the whole dialogue pipelined. */
				smtp_init(&m, true);
				smtp_client(&sc, &m, (const uint8_t *)d.cli, (uint32_t)d.ncli, NULL);
				smtp_server(&sc, &m, (const uint8_t *)d.srv, (uint32_t)d.nsrv, NULL);
				smtp_free(&m);
			}
			t1 = mono();
			if (t1 - t0 < floor_best)
				floor_best = t1 - t0;
		}
		printf("%-22s %6.1f ns/record, %7.1f ns/exchange (%zu records, %zu exchanges a session), "
		       "%.2f us a session; the same in the clear through the parser %.2f us, ratio %.1fx\n",
		       cases[k].name, best * 1e9 / ((double)cases[k].sessions * (double)s.records),
		       best * 1e9 / ((double)cases[k].sessions * (double)s.exchanges), s.records, s.exchanges,
		       best * 1e6 / cases[k].sessions, floor_best * 1e6 / cases[k].sessions,
		       best / (floor_best > 0 ? floor_best : 1e-9));
		free(s.buf);
		free(s.runs);
	}
	printf("inferred rejections, all rounds: %llu (unexplained %llu); cleartext events %llu\n",
	       (unsigned long long)rejected, (unsigned long long)c.st.unexplained,
	       (unsigned long long)clear_events);
	smtp_ctx_free(&sc);
	return 0;
}
