/* TLS records after STARTTLS: the record layer, the ServerHello, the
 * calibration, the inference and its gate, on records built here. */
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "t.h"
#include "tls.h"

static const struct ipaddr srv = { .af = 4, .b = { 198, 18, 0, 1 } };

struct got {
	uint32_t n, lower, calls;
};

static void on_rejects(void *arg, uint32_t n, uint32_t lower, uint32_t accepted, bool unexplained)
{
	struct got *g = arg;

	(void)accepted;
	(void)unexplained;
	g->n += n;
	g->lower += lower;
	g->calls++;
}

/* A cleartext reply of a server, for its calibration. */
static void seen(struct tls_ctx *c, uint8_t verb, uint16_t code, int cls, uint16_t cmd_len,
		 uint16_t reply_len, uint16_t rcpt_len)
{
	struct smtp_event ev = { .verb = verb, .code = code, .cmd_len = cmd_len, .reply_len = reply_len,
				 .rcpt_len = rcpt_len };

	tls_calib_observe(&c->cal, &srv, &ev, cls);
}

/* Postfix's lengths (../shared/notes/starttls.md): reject 81 + L, the
 * rest constant; or an Exim-like server whose reject is a constant 18. */
static void calibrate(struct tls_ctx *c, bool postfix)
{
	for (int i = 0; i < 6; i++) {
		uint16_t L = (uint16_t)(14 + i);

		seen(c, V_RCPT, 550, EC_RCPT_REJECTED, (uint16_t)(12 + L), postfix ? (uint16_t)(81 + L) : 18, L);
		seen(c, V_RCPT, 250, EC_RCPT_ACCEPTED, (uint16_t)(12 + L), 14, L);
	}
	seen(c, V_MAIL, 250, -1, 37, postfix ? 14 : 8, 0);
	seen(c, V_DATA, 354, -1, 6, 37, 0);
	seen(c, V_EOM, 250, EC_MESSAGE_ACCEPTED, 0, 37, 0);
	seen(c, V_RSET, 250, -1, 6, 14, 0);
	seen(c, V_QUIT, 221, -1, 6, 15, 0);
}

static void rec(struct tls_ctx *c, struct tls *t, int dir, uint8_t type, uint16_t len, struct got *g)
{
	uint8_t *b = calloc(1, (size_t)len + 5);

	b[0] = type;
	b[1] = 3;
	b[2] = 3;
	b[3] = (uint8_t)(len >> 8);
	b[4] = (uint8_t)len;
	tls_data(c, t, dir, b, (uint32_t)len + 5, g);
	free(b);
}

/* A ServerHello record: TLS 1.3 (supported_versions) or 1.2, a suite,
 * encrypt_then_mac or not. */
static void hello(struct tls_ctx *c, struct tls *t, bool v13, uint16_t suite, bool etm, struct got *g)
{
	uint8_t b[128] = { 22, 3, 3, 0, 0, 2, 0, 0, 0, 3, 3 };
	size_t n = 11 + 32, ext;

	b[n++] = 0;			/* no session id */
	b[n++] = (uint8_t)(suite >> 8);
	b[n++] = (uint8_t)suite;
	b[n++] = 0;			/* compression */
	ext = n;
	n += 2;
	if (v13) {
		memcpy(b + n, "\x00\x2b\x00\x02\x03\x04", 6);
		n += 6;
	}
	if (etm) {
		memcpy(b + n, "\x00\x16\x00\x00", 4);
		n += 4;
	}
	b[ext] = (uint8_t)((n - ext - 2) >> 8);
	b[ext + 1] = (uint8_t)(n - ext - 2);
	b[6] = (uint8_t)((n - 9) >> 16);
	b[7] = (uint8_t)((n - 9) >> 8);
	b[8] = (uint8_t)(n - 9);
	b[3] = (uint8_t)((n - 5) >> 8);
	b[4] = (uint8_t)(n - 5);
	tls_data(c, t, 1, b, (uint32_t)n, g);
}

/* Up to the data phase: the handshake, the client's Finished (TLS 1.3),
 * EHLO and its reply. hs: the server's encrypted handshake lengths. */
static void start(struct tls_ctx *c, struct tls *t, bool v13, uint16_t suite, bool etm,
		  const uint16_t *hs, size_t nhs, uint16_t ehlo_reply, struct got *g)
{
	tls_init(c, t, &srv);
	rec(c, t, 0, 22, 200, g);	/* ClientHello */
	hello(c, t, v13, suite, etm, g);
	for (size_t i = 0; i < nhs; i++)
		rec(c, t, 1, 23, hs[i], g);
	rec(c, t, 0, 20, 1, g);
	if (v13)
		rec(c, t, 0, 23, 53, g);	/* Finished */
	else
		rec(c, t, 0, 22, 40, g);
	rec(c, t, 0, 23, 21 + 17, g);		/* EHLO */
	rec(c, t, 1, 23, ehlo_reply, g);	/* its reply */
}

static const uint16_t hs13[] = { 23, 1100, 281, 53 };

TEST(tls_plaintext_per_cipher)
{
	struct tls t = { .cipher = TLSC_AEAD13 };
	struct tls_rec r;

	CHECK(tls_plaintext(&t, 31, &r));
	CHECK_EQ(r.lo, 14);
	CHECK_EQ(r.hi, 14);
	t.cipher = TLSC_GCM12;
	CHECK(tls_plaintext(&t, 38, &r));
	CHECK_EQ(r.lo, 14);
	t.cipher = TLSC_CHACHA12;
	CHECK(tls_plaintext(&t, 30, &r));
	CHECK_EQ(r.hi, 14);
	/* CBC-SHA1 with encrypt-then-MAC: 16 + 16 * ceil((p + 1) / 16) + 20. */
	t.cipher = TLSC_CBC_ETM;
	t.mac = 20;
	CHECK(tls_plaintext(&t, 52, &r));
	CHECK_EQ(r.lo, 0);
	CHECK_EQ(r.hi, 15);
	CHECK(tls_plaintext(&t, 148, &r));
	CHECK(r.lo <= 100 && r.hi >= 100);	/* a reject of L = 19 */
	/* MAC-then-encrypt: 16 + 16 * ceil((p + 21) / 16). */
	t.cipher = TLSC_CBC_MTE;
	CHECK(tls_plaintext(&t, 64, &r));
	CHECK(r.lo <= 14 && r.hi >= 14);
	t.cipher = TLSC_OTHER;
	CHECK(!tls_plaintext(&t, 64, &r));
}

TEST(tls_calibration_fits_postfix_and_exim)
{
	struct tls_ctx c;
	const struct tls_calib *cal;
	struct tls_len l;

	tls_ctx_init(&c, NULL);
	calibrate(&c, true);
	cal = tls_calib_find(&c.cal, &srv, false);
	CHECK(cal != NULL);
	CHECK(tls_calib_len(cal, true, TC_RCPT_REJ, &l));
	CHECK_EQ(l.m, 1);
	CHECK_EQ(l.lo, 81);
	CHECK_EQ(l.hi, 81);
	CHECK(tls_calib_len(cal, true, TC_RCPT_ACC, &l));
	CHECK_EQ(l.m, 0);
	CHECK_EQ(l.lo, 14);
	CHECK(tls_calib_len(cal, false, TC_RCPT_ACC, &l));
	CHECK_EQ(l.m, 1);
	CHECK_EQ(l.lo, 12);
	/* Another address of the host takes this one's fits; a gateway's
	 * other server does not. */
	{
		const struct ipaddr v6 = { .af = 6, .b = { 0xfd, 0, 0, 0x18, [15] = 1 } };

		CHECK(tls_calib_find(&c.cal, &v6, true) == cal);
		CHECK(tls_calib_find(&c.cal, &v6, false) == NULL);
	}
	tls_ctx_init(&c, NULL);
	calibrate(&c, false);
	cal = tls_calib_find(&c.cal, &srv, false);
	CHECK(tls_calib_len(cal, true, TC_RCPT_REJ, &l));
	CHECK_EQ(l.m, 0);
	CHECK_EQ(l.lo, 18);
}

/* Postfix, TLS 1.3: one probe at a time, then a pipelined batch of 10
 * rejects, then an accepted recipient and a message. */
TEST(tls_postfix_probes_counted_exactly)
{
	struct tls_ctx c;
	struct tls t;
	struct got g = { 0 };

	tls_ctx_init(&c, on_rejects);
	calibrate(&c, true);
	start(&c, &t, true, 0x1301, false, hs13, 4, 150 + 17, &g);
	rec(&c, &t, 0, 23, 37 + 17, &g);		/* MAIL */
	CHECK_EQ(c.st.counted, 1);	/* judged at the first record of the data */
	rec(&c, &t, 1, 23, 14 + 17, &g);
	for (int i = 0; i < 3; i++) {
		uint16_t L = (uint16_t)(15 + i);

		rec(&c, &t, 0, 23, (uint16_t)(12 + L + 17), &g);
		rec(&c, &t, 1, 23, (uint16_t)(81 + L + 17), &g);
	}
	/* Ten RCPTs in one record (L 10..19), ten rejects in one. */
	rec(&c, &t, 0, 23, (uint16_t)(10 * 12 + 145 + 17), &g);
	rec(&c, &t, 1, 23, (uint16_t)(10 * 81 + 145 + 17), &g);
	/* An accepted one, DATA, the message in two records, QUIT. */
	rec(&c, &t, 0, 23, 12 + 17 + 17, &g);
	rec(&c, &t, 1, 23, 14 + 17, &g);
	rec(&c, &t, 0, 23, 6 + 17, &g);
	rec(&c, &t, 1, 23, 37 + 17, &g);
	rec(&c, &t, 0, 23, 16384 + 17, &g);
	rec(&c, &t, 0, 23, 900 + 17, &g);
	rec(&c, &t, 1, 23, 37 + 17, &g);
	rec(&c, &t, 0, 23, 6 + 17, &g);
	rec(&c, &t, 1, 23, 15 + 17, &g);
	tls_end(&c, &t, &g);
	CHECK_EQ(g.n, 13);
	CHECK_EQ(c.st.rejected, 13);
	CHECK_EQ(c.st.accepted, 1);
	CHECK_EQ(c.st.unexplained, 0);
}

/* An Exim-like server: constant texts, 4 bytes apart. AEAD tells them
 * apart; CBC (16-byte quantum) must not count at all. */
TEST(tls_gate_on_the_reject_accept_gap)
{
	struct tls_ctx c;
	struct tls t;
	struct got g = { 0 };

	tls_ctx_init(&c, on_rejects);
	calibrate(&c, false);
	start(&c, &t, true, 0x1302, false, hs13, 4, 150 + 17, &g);
	rec(&c, &t, 0, 23, 37 + 17, &g);
	CHECK_EQ(c.st.counted, 1);
	rec(&c, &t, 1, 23, 8 + 17, &g);
	rec(&c, &t, 0, 23, 12 + 20 + 17, &g);
	rec(&c, &t, 1, 23, 18 + 17, &g);
	rec(&c, &t, 0, 23, 12 + 20 + 17, &g);
	rec(&c, &t, 1, 23, 14 + 17, &g);
	tls_end(&c, &t, &g);
	CHECK_EQ(g.n, 1);

	memset(&g, 0, sizeof(g));
	start(&c, &t, false, 0xc013, true, NULL, 0, 196, &g);	/* CBC-SHA1, EtM */
	rec(&c, &t, 0, 23, 84, &g);
	CHECK_EQ(c.st.blind[TLSB_GAP], 1);
	rec(&c, &t, 1, 23, 68, &g);
	tls_end(&c, &t, &g);
	CHECK_EQ(g.n, 0);
	CHECK_EQ(c.st.counted, 1);
}

/* Padding to 256 (OpenSSL's RecordPadding): the handshake shows it, and
 * the session is blind even for Postfix (gap 70 < 256). Without
 * calibration, blind too; and bytes that are not records. */
TEST(tls_blind_padding_calibration_garbage)
{
	static const uint16_t padded[] = { 16 + 256, 16 + 1024, 16 + 512, 16 + 256 };
	struct tls_ctx c;
	struct tls t;
	struct got g = { 0 };
	static const uint8_t junk[] = "RCPT TO:<a@b>\r\n";

	tls_ctx_init(&c, on_rejects);
	calibrate(&c, true);
	start(&c, &t, true, 0x1301, false, padded, 4, 272, &g);
	rec(&c, &t, 0, 23, 272, &g);
	rec(&c, &t, 1, 23, 272, &g);
	CHECK_EQ(c.st.blind[TLSB_PADDING], 1);
	tls_end(&c, &t, &g);
	CHECK_EQ(g.n, 0);

	tls_ctx_init(&c, on_rejects);
	start(&c, &t, true, 0x1301, false, hs13, 4, 150 + 17, &g);
	rec(&c, &t, 0, 23, 37 + 17, &g);
	CHECK_EQ(c.st.blind[TLSB_CALIB], 1);

	tls_init(&c, &t, &srv);
	tls_data(&c, &t, 0, junk, sizeof(junk) - 1, &g);
	CHECK_EQ(c.st.blind[TLSB_BROKEN], 1);
	/* A cipher we do not model. */
	tls_init(&c, &t, &srv);
	hello(&c, &t, false, 0x0005, false, &g);	/* RC4 */
	CHECK_EQ(c.st.blind[TLSB_CIPHER], 1);
	CHECK_EQ(g.n, 0);
}

/* Records cut anywhere (the kernel packs several into one segment, GSO
 * sends one as a single segment): the same as whole ones. */
TEST(tls_records_split_anywhere)
{
	struct tls_ctx c;
	struct tls t;
	struct got g = { 0 };
	uint8_t buf[4096];
	size_t n = 0;
	static const uint16_t lens[] = { 37 + 17, 14 + 17, 12 + 16 + 17, 81 + 16 + 17, 12 + 18 + 17, 81 + 18 + 17 };
	static const int dirs[] = { 0, 1, 0, 1, 0, 1 };

	tls_ctx_init(&c, on_rejects);
	calibrate(&c, true);
	start(&c, &t, true, 0x1301, false, hs13, 4, 150 + 17, &g);
	for (size_t i = 0; i < 6; i++) {
		/* Each record byte by byte. */
		memset(buf, 0, sizeof(buf));
		buf[0] = 23;
		buf[1] = 3;
		buf[2] = 3;
		buf[3] = (uint8_t)(lens[i] >> 8);
		buf[4] = (uint8_t)lens[i];
		n = (size_t)lens[i] + 5;
		for (size_t k = 0; k < n; k++)
			tls_data(&c, &t, dirs[i], buf + k, 1, &g);
	}
	tls_flush(&c, &t, &g);
	CHECK_EQ(g.n, 2);
}

/* The calibration survives a restart: saved as state lines, loaded back
 * the same; a bad line is refused. */
TEST(tls_calibration_saved_and_loaded)
{
	struct tls_ctx c, d;
	char *a = NULL, *b = NULL, line[256];
	size_t na = 0, nb = 0;
	FILE *f = open_memstream(&a, &na), *g;
	char *fld[10];
	int nf;

	tls_ctx_init(&c, NULL);
	tls_ctx_init(&d, NULL);
	calibrate(&c, true);
	for (uint32_t e = 0; e < 14; e++)
		tls_calib_delay(&c.cal, &srv, e, e < 10 ? 3000 : 1001000);
	for (uint32_t e = 0; e < 14; e++)
		tls_calib_delay(&c.cal, &srv, e, e < 10 ? 2000 : 999000);
	tls_calib_save(&c.cal, f);
	fclose(f);
	f = fmemopen(a, na, "r");
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL;

		nf = 0;
		for (char *w = strtok_r(line, " \n", &save); w && nf < 10; w = strtok_r(NULL, " \n", &save))
			fld[nf++] = w;
		CHECK_EQ(tls_calib_load_line(&d.cal, fld, nf), 0);
	}
	fclose(f);
	free(a);
	f = open_memstream(&a, &na);
	g = open_memstream(&b, &nb);
	tls_calib_print(&c.cal, false, f);
	tls_calib_print(&d.cal, false, g);
	fclose(f);
	fclose(g);
	CHECK_STR(b, a);
	CHECK(strstr(a, "rcpt_rejected 81+L") != NULL);
	CHECK(strstr(a, "error sleep 1000 ms after 10 errors") != NULL);
	free(a);
	free(b);
	{
		char l1[] = "calib", l2[] = "198.18.0.1", l3[] = "reply", l4[] = "rcpt_rejected", l5[] = "3",
		     l6[] = "90", l7[] = "80", l8[] = "1", l9[] = "1";
		char *bad[] = { l1, l2, l3, l4, l5, l6, l7, l8, l9 };	/* lo above hi */

		CHECK_EQ(tls_calib_load_line(&d.cal, bad, 9), -1);
	}
}

/* Postfix's error sleep, learnt from cleartext reply delays: slow from
 * the soft limit on, fast before. A server slow from the start, or one
 * slow at random, has none; so has one that never sleeps. */
TEST(tls_error_sleep_learnt)
{
	struct tls_ctx c;
	const struct tls_calib *k;
	uint32_t after = 0, ms = 0;

	tls_ctx_init(&c, NULL);
	for (int s = 0; s < 3; s++)
		for (uint32_t e = 0; e < 21; e++)
			tls_calib_delay(&c.cal, &srv, e, e < 10 ? 1500u + e : 1000000u + 2000u * e);
	k = tls_calib_find(&c.cal, &srv, false);
	CHECK(k != NULL);
	CHECK(tls_calib_sleep(k, &after, &ms));
	CHECK_EQ(after, 10);
	CHECK(ms >= 1000 && ms <= 1041);
	/* One slow reply among the fast ones: the limit stands. */
	tls_calib_delay(&c.cal, &srv, 3, 900000);
	CHECK(tls_calib_sleep(k, &after, &ms));
	CHECK_EQ(after, 10);
	/* Fast replies past the limit: not a sleep any more. */
	for (int s = 0; s < 6; s++)
		tls_calib_delay(&c.cal, &srv, 15, 1000);
	CHECK(!tls_calib_sleep(k, &after, &ms));

	tls_ctx_init(&c, NULL);
	for (uint32_t e = 0; e < 12; e++) {
		tls_calib_delay(&c.cal, &srv, e, 500000);	/* slow from the start */
		tls_calib_delay(&c.cal, &srv, e, 500000);
	}
	CHECK(!tls_calib_sleep(tls_calib_find(&c.cal, &srv, false), &after, &ms));
	tls_ctx_init(&c, NULL);
	for (uint32_t e = 0; e < 30; e++) {
		tls_calib_delay(&c.cal, &srv, e, 2000);	/* never sleeps */
		tls_calib_delay(&c.cal, &srv, e, 2000);
	}
	CHECK(!tls_calib_sleep(tls_calib_find(&c.cal, &srv, false), &after, &ms));
}
