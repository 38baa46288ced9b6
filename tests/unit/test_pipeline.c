/* The whole middle of rcptguard on synthesised sessions: link layers,
 * reassembly oddities, SMTP features, and what reaches the tracker. */
#define _GNU_SOURCE 1
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "helpers.h"
#include "t.h"

struct step {
	int dir;
	const char *text;
};

/* A harvest: 12 unknown recipients, non-pipelined. */
static const struct step harvest[] = {
	{ SRV, "220 mx.example ESMTP\r\n" },
	{ CLI, "EHLO probe.example\r\n" },
	{ SRV, "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-CHUNKING\r\n250 8BITMIME\r\n" },
	{ CLI, "MAIL FROM:<x@probe.example>\r\n" },
	{ SRV, "250 2.1.0 Ok\r\n" },
	{ CLI, "RCPT TO:<admin@example.org>\r\n" },
	{ SRV, "550 5.1.1 <admin@example.org>: Recipient address rejected: User unknown\r\n" },
	{ CLI, "RCPT TO:<info@example.org>\r\n" },
	{ SRV, "550 5.1.1 <info@example.org>: Recipient address rejected\r\n" },
	{ CLI, "rcpt to:<sales@example.org>\r\n" },
	{ SRV, "550 5.1.1 rejected\r\n" },
	{ CLI, "RCPT TO:<Info@Example.org>\r\n" },	/* same as info@, distinct counts once */
	{ SRV, "550 5.1.1 rejected\r\n" },
	{ CLI, "RCPT TO:<bob@example.org>\r\n" },
	{ SRV, "550 5.1.1 rejected\r\n" },
	{ CLI, "RCPT TO:<alice@example.org>\r\n" },
	{ SRV, "550 5.1.1 rejected\r\n" },
	{ CLI, "RCPT TO:<carol@example.org>\r\n" },
	{ SRV, "550 5.1.1 rejected\r\n" },
	{ CLI, "RCPT TO:<dave@example.org>\r\n" },
	{ SRV, "550 5.1.1 rejected\r\n" },
	{ CLI, "RCPT TO:<erin@example.org>\r\n" },
	{ SRV, "550 5.1.1 rejected\r\n" },
	{ CLI, "RCPT TO:<frank@example.org>\r\n" },
	{ SRV, "550 5.1.1 rejected\r\n" },
	{ CLI, "RCPT TO:<grace@example.org>\r\n" },
	{ SRV, "550 5.1.1 rejected\r\n" },
	{ CLI, "RCPT TO:<heidi@example.org>\r\n" },
	{ SRV, "550 5.1.1 rejected\r\n" },
	{ CLI, "QUIT\r\n" },
	{ SRV, "221 2.0.0 Bye\r\n" },
};

/* A legitimate delivery with a body that looks like commands and replies. */
static const struct step delivery[] = {
	{ SRV, "220 mx.example ESMTP\r\n" },
	{ CLI, "EHLO good.example\r\n" },
	{ SRV, "250-mx.example\r\n250 PIPELINING\r\n" },
	{ CLI, "MAIL FROM:<a@good.example>\r\nRCPT TO:<user@example.org>\r\nDATA\r\n" },
	{ SRV, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n" },
	{ CLI, "Subject: test\r\n\r\nRCPT TO:<evil@example.org>\r\n550 5.1.1 fake\r\n"
	       "..leading dot\r\n.not the end\r\n" },
	{ CLI, "last line\r\n.\r\n" },
	{ SRV, "250 2.0.0 Ok: queued as ABC\r\n" },
	{ CLI, "QUIT\r\n" },
	{ SRV, "221 2.0.0 Bye\r\n" },
};

static void run_steps(struct tcpsess *s, const struct step *st, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sess_sendstr(s, st[i].dir, st[i].text);
}

static struct rec *harvest_over(int link, const char *cli, const char *srv,
				void (*tweak)(struct tcpsess *))
{
	struct rec *r = rec_new(NULL, link);
	struct tcpsess s;

	rec_sess(r, &s, cli, srv, 1000, 5000);
	if (tweak)
		tweak(&s);
	sess_handshake(&s);
	run_steps(&s, harvest, ARRAY_LEN(harvest));
	sess_close(&s);
	return r;
}

TEST(pipeline_harvest_bans_at_threshold)
{
	struct rec *r = harvest_over(PW_EN10MB, "198.18.0.10", "198.18.1.1", NULL);

	CHECK_EQ(r->ncls[EC_RCPT_REJECTED], 12);
	CHECK_EQ(r->nverified, r->nev);
	/* Info@ repeats info@: the tenth distinct recipient is grace@. */
	CHECK_EQ(r->nban, 1);
	CHECK_EQ(r->ban[0].count, 10);
	CHECK_EQ(r->ban[0].duration, 3600 * USEC_PER_SEC);
	CHECK_EQ(r->ban[0].nth, 1);
	CHECK_EQ(r->ban[0].key.len, 32);
	CHECK_EQ(r->ban[0].nevidence, 4);
	CHECK_STR(r->ban[0].evidence[3], "grace@example.org");
	CHECK_STR(r->ban[0].evidence[0], "dave@example.org");
	CHECK_EQ(tracker_stats(r->p.tracker)->duplicates, 1);
	rec_free(r);
}

TEST(pipeline_legit_delivery_no_events)
{
	struct rec *r = rec_new(NULL, PW_EN10MB);
	struct tcpsess s;

	rec_sess(r, &s, "198.18.0.20", "198.18.1.1", 7, 9);
	sess_handshake(&s);
	run_steps(&s, delivery, ARRAY_LEN(delivery));
	sess_close(&s);
	CHECK_EQ(r->ncls[EC_RCPT_REJECTED], 0);
	CHECK_EQ(r->ncls[EC_RCPT_ACCEPTED], 1);
	CHECK_EQ(r->nban, 0);
	CHECK_EQ(r->p.smtp.st.bodies, 1);
	CHECK_EQ(r->p.smtp.st.desyncs, 0);
	CHECK(strstr(r->sig, "EOM 250 message_accepted |") != NULL);
	CHECK(strstr(r->sig, "QUIT 221") != NULL);
	CHECK(strstr(r->sig, "evil") == NULL);
	rec_free(r);
}

/* Baseline signature of a dialogue sent whole. */
static void dialogue_sig(const struct step *st, size_t n, char *out, size_t outlen)
{
	struct rec *r = rec_new(NULL, PW_EN10MB);
	struct tcpsess s;

	rec_sess(r, &s, "198.18.0.30", "198.18.1.1", 100, 200);
	sess_handshake(&s);
	run_steps(&s, st, n);
	snprintf(out, outlen, "%s", r->sig);
	rec_free(r);
}

TEST(pipeline_every_split_point_same_events)
{
	static char base[65536];
	int bad = 0, runs = 0;
	const struct step *st = harvest;
	size_t n = ARRAY_LEN(harvest);

	dialogue_sig(st, n, base, sizeof(base));
	CHECK(strlen(base) > 100);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(st[i].text);

		for (size_t k = 1; k < len; k++) {
			struct rec *r = rec_new(NULL, PW_EN10MB);
			struct tcpsess s;

			rec_sess(r, &s, "198.18.0.30", "198.18.1.1", 100, 200);
			sess_handshake(&s);
			for (size_t j = 0; j < n; j++) {
				if (j != i) {
					sess_sendstr(&s, st[j].dir, st[j].text);
					continue;
				}
				sess_segment(&s, st[j].dir, 0x18, s.seq[st[j].dir], st[j].text, (uint32_t)k);
				s.seq[st[j].dir] += (uint32_t)k;
				sess_segment(&s, st[j].dir, 0x18, s.seq[st[j].dir], st[j].text + k,
					     (uint32_t)(len - k));
				s.seq[st[j].dir] += (uint32_t)(len - k);
			}
			runs++;
			if (strcmp(r->sig, base))
				bad++;
			rec_free(r);
		}
	}
	CHECK(runs > 500);
	CHECK_EQ(bad, 0);
}

TEST(pipeline_byte_by_byte_same_events)
{
	static char base[65536];
	struct rec *r;
	struct tcpsess s;

	dialogue_sig(delivery, ARRAY_LEN(delivery), base, sizeof(base));
	r = rec_new(NULL, PW_EN10MB);
	rec_sess(r, &s, "198.18.0.30", "198.18.1.1", 100, 200);
	s.mss = 1;
	sess_handshake(&s);
	run_steps(&s, delivery, ARRAY_LEN(delivery));
	CHECK_STR(r->sig, base);
	rec_free(r);

	dialogue_sig(harvest, ARRAY_LEN(harvest), base, sizeof(base));
	r = rec_new(NULL, PW_EN10MB);
	rec_sess(r, &s, "198.18.0.30", "198.18.1.1", 100, 200);
	s.mss = 1;
	sess_handshake(&s);
	run_steps(&s, harvest, ARRAY_LEN(harvest));
	CHECK_STR(r->sig, base);
	CHECK_EQ(r->nban, 1);
	rec_free(r);
}

/* Frames captured in memory, then fed reordered and duplicated. */
TEST(pipeline_reordered_and_duplicated_segments)
{
	static char base[65536];
	struct framelist fl = { 0 };
	struct tcpsess s;
	struct rec *r;
	int swaps = 0;

	dialogue_sig(harvest, ARRAY_LEN(harvest), base, sizeof(base));
	sess_init(&s, fl_add, &fl, PW_EN10MB, "198.18.0.30", 40000, "198.18.1.1", 25, 100, 200);
	s.mss = 7;
	sess_handshake(&s);
	run_steps(&s, harvest, ARRAY_LEN(harvest));
	/* Swap every other pair of frames after the handshake, and feed
	 * every fifth frame twice. */
	for (int i = 3; i + 1 < fl.n; i += 3) {
		typeof(fl.f[0]) tmp = fl.f[i];

		fl.f[i] = fl.f[i + 1];
		fl.f[i + 1] = tmp;
		swaps++;
	}
	r = rec_new(NULL, PW_EN10MB);
	for (int i = 0; i < fl.n; i++) {
		rec_frame(r, fl.f[i].ts, fl.f[i].data, fl.f[i].len);
		if (i % 5 == 0)
			rec_frame(r, fl.f[i].ts, fl.f[i].data, fl.f[i].len);
	}
	CHECK(swaps > 20);
	CHECK_STR(r->sig, base);
	CHECK(r->p.reasm.st.bytes_held > 0);
	CHECK(r->p.reasm.st.bytes_retrans > 0);
	CHECK_EQ(r->p.reasm.st.gaps, 0);
	rec_free(r);
	fl_free(&fl);
}

TEST(pipeline_sequence_wrap_mid_line)
{
	static char base[65536];
	struct rec *r = rec_new(NULL, PW_EN10MB);
	struct tcpsess s;

	dialogue_sig(harvest, ARRAY_LEN(harvest), base, sizeof(base));
	/* Both sides cross 2^32 a few hundred bytes in. */
	rec_sess(r, &s, "198.18.0.30", "198.18.1.1", 0xffffff00u, 0xfffffe80u);
	s.mss = 5;
	sess_handshake(&s);
	run_steps(&s, harvest, ARRAY_LEN(harvest));
	CHECK(s.seq[CLI] < 0x1000 && s.seq[SRV] < 0x1000);
	CHECK_STR(r->sig, base);
	rec_free(r);
}

TEST(pipeline_pipelined_burst)
{
	struct rec *r = rec_new(NULL, PW_SLL);
	struct tcpsess s;
	char cmd[4096], rep[4096];
	size_t cl = 0, rl = 0;

	rec_sess(r, &s, "198.18.0.40", "198.18.1.1", 1, 2);
	sess_handshake(&s);
	sess_sendstr(&s, SRV, "220 mx\r\n");
	sess_sendstr(&s, CLI, "EHLO x\r\n");
	sess_sendstr(&s, SRV, "250-mx\r\n250 PIPELINING\r\n");
	cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "MAIL FROM:<>\r\n");
	rl += (size_t)snprintf(rep + rl, sizeof(rep) - rl, "250 2.1.0 Ok\r\n");
	for (int i = 0; i < 15; i++) {
		cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "RCPT TO:<u%d@example.org>\r\n", i);
		rl += (size_t)snprintf(rep + rl, sizeof(rep) - rl, "550 5.1.1 <u%d@example.org>: no\r\n", i);
	}
	cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "DATA\r\n");
	rl += (size_t)snprintf(rep + rl, sizeof(rep) - rl, "554 5.5.1 Error: no valid recipients\r\n");
	sess_send(&s, CLI, cmd, cl);	/* one burst, one segment */
	s.mss = 100;			/* replies batched, lines split across segments */
	sess_send(&s, SRV, rep, rl);
	sess_sendstr(&s, CLI, "QUIT\r\n");
	sess_sendstr(&s, SRV, "221 Bye\r\n");
	CHECK_EQ(r->ncls[EC_RCPT_REJECTED], 15);
	CHECK_EQ(r->nban, 1);
	CHECK(strstr(r->sig, "DATA 554") != NULL);
	CHECK(strstr(r->sig, "QUIT 221") != NULL);
	CHECK_EQ(r->p.smtp.st.desyncs, 0);
	rec_free(r);
}

/* A refused MAIL FROM followed by pipelined RCPTs: real servers answer 503
 * (or 501) to each; that must not count against a legitimate sender. */
TEST(pipeline_refused_mail_then_503_not_counted)
{
	struct rec *r = rec_new(NULL, PW_EN10MB);
	struct tcpsess s;
	char cmd[4096], rep[4096];
	size_t cl = 0, rl = 0;

	rec_sess(r, &s, "198.18.0.41", "198.18.1.1", 1, 2);
	sess_handshake(&s);
	sess_sendstr(&s, SRV, "220 mx\r\n");
	sess_sendstr(&s, CLI, "EHLO x\r\n");
	sess_sendstr(&s, SRV, "250 PIPELINING\r\n");
	cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "MAIL FROM:<big@list.example> SIZE=999999999\r\n");
	rl += (size_t)snprintf(rep + rl, sizeof(rep) - rl, "552 5.3.4 Message size exceeds limit\r\n");
	for (int i = 0; i < 30; i++) {
		cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "RCPT TO:<m%d@example.org>\r\n", i);
		rl += (size_t)snprintf(rep + rl, sizeof(rep) - rl,
				       i % 2 ? "503 5.5.1 Error: need MAIL command\r\n"
					     : "501 5.5.4 Syntax: need MAIL first\r\n");
	}
	sess_send(&s, CLI, cmd, cl);
	sess_send(&s, SRV, rep, rl);
	CHECK_EQ(r->ncls[EC_RCPT_REJECTED], 0);
	CHECK_EQ(r->ncls[EC_RCPT_SEQUENCE], 30);
	CHECK_EQ(r->nban, 0);
	rec_free(r);
}

TEST(pipeline_policy_rejections_not_harvest)
{
	struct rec *r = rec_new(NULL, PW_EN10MB);
	struct tcpsess s;

	rec_sess(r, &s, "198.18.0.42", "198.18.1.1", 1, 2);
	sess_handshake(&s);
	sess_sendstr(&s, SRV, "220 mx\r\n");
	sess_sendstr(&s, CLI, "HELO x\r\n");
	sess_sendstr(&s, SRV, "250 mx\r\n");
	sess_sendstr(&s, CLI, "MAIL FROM:<a@b.example>\r\n");
	sess_sendstr(&s, SRV, "250 2.1.0 Ok\r\n");
	for (int i = 0; i < 20; i++) {
		char line[64];

		snprintf(line, sizeof(line), "RCPT TO:<r%d@elsewhere.example>\r\n", i);
		sess_sendstr(&s, CLI, line);
		sess_sendstr(&s, SRV, "554 5.7.1 <r@elsewhere.example>: Relay access denied\r\n");
	}
	/* x.5.3: too many recipients, a limit not a verdict. */
	sess_sendstr(&s, CLI, "RCPT TO:<more@example.org>\r\n");
	sess_sendstr(&s, SRV, "552 5.5.3 Error: too many recipients\r\n");
	CHECK_EQ(r->ncls[EC_RCPT_POLICY], 20);
	CHECK_EQ(r->ncls[EC_RCPT_SEQUENCE], 1);
	CHECK_EQ(r->ncls[EC_RCPT_REJECTED], 0);
	CHECK_EQ(r->nban, 0);
	rec_free(r);
}

TEST(pipeline_bdat_chunks_skipped_by_length)
{
	struct rec *r = rec_new(NULL, PW_EN10MB);
	struct tcpsess s;
	const char *chunk = "RCPT TO:<inside@example.org>\r\n550 5.1.1 inside\r\n";
	char cmd[512];

	rec_sess(r, &s, "198.18.0.43", "198.18.1.1", 1, 2);
	sess_handshake(&s);
	sess_sendstr(&s, SRV, "220 mx\r\n");
	sess_sendstr(&s, CLI, "EHLO x\r\n");
	sess_sendstr(&s, SRV, "250-mx\r\n250 CHUNKING\r\n");
	sess_sendstr(&s, CLI, "MAIL FROM:<a@b.example>\r\n");
	sess_sendstr(&s, SRV, "250 2.1.0 Ok\r\n");
	sess_sendstr(&s, CLI, "RCPT TO:<ok@example.org>\r\n");
	sess_sendstr(&s, SRV, "250 2.1.5 Ok\r\n");
	/* Command and chunk in one segment, as RFC 3030 clients send them. */
	snprintf(cmd, sizeof(cmd), "BDAT %zu\r\n%s", strlen(chunk), chunk);
	sess_sendstr(&s, CLI, cmd);
	sess_sendstr(&s, SRV, "250 2.0.0 chunk ok\r\n");
	s.mss = 3;	/* the last chunk spread over tiny segments */
	snprintf(cmd, sizeof(cmd), "BDAT %zu LAST\r\n%s", strlen(chunk), chunk);
	sess_sendstr(&s, CLI, cmd);
	sess_sendstr(&s, SRV, "250 2.0.0 Ok: queued\r\n");
	sess_sendstr(&s, CLI, "RCPT TO:<after@example.org>\r\n");
	sess_sendstr(&s, SRV, "503 5.5.1 Error: need MAIL command\r\n");
	CHECK_EQ(r->ncls[EC_RCPT_ACCEPTED], 1);
	CHECK_EQ(r->ncls[EC_RCPT_REJECTED], 0);
	CHECK_EQ(r->ncls[EC_RCPT_SEQUENCE], 1);	/* after LAST the transaction is over */
	CHECK(strstr(r->sig, "BDAT 250 none |BDAT 250") != NULL);
	CHECK(strstr(r->sig, "inside") == NULL);
	CHECK_EQ(r->p.smtp.st.bdat_bytes, 2 * strlen(chunk));
	rec_free(r);
}

TEST(pipeline_starttls_goes_opaque)
{
	struct rec *r = rec_new(NULL, PW_EN10MB);
	struct tcpsess s;
	const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x00, 0x05, '\n', '5', '5', '0', ' ', '\r', '\n' };

	rec_sess(r, &s, "198.18.0.44", "198.18.1.1", 1, 2);
	sess_handshake(&s);
	sess_sendstr(&s, SRV, "220 mx\r\n");
	sess_sendstr(&s, CLI, "EHLO x\r\n");
	sess_sendstr(&s, SRV, "250-mx\r\n250 STARTTLS\r\n");
	sess_sendstr(&s, CLI, "STARTTLS\r\n");
	sess_sendstr(&s, SRV, "220 2.0.0 Ready to start TLS\r\n");
	sess_send(&s, CLI, tls, sizeof(tls));
	sess_send(&s, SRV, tls, sizeof(tls));
	sess_sendstr(&s, CLI, "RCPT TO:<x@example.org>\r\n");
	sess_sendstr(&s, SRV, "550 5.1.1 no\r\n");
	CHECK_EQ(r->p.smtp.st.opaque_starttls, 1);
	CHECK_EQ(r->ncls[EC_RCPT_REJECTED], 0);
	CHECK(strstr(r->sig, "STARTTLS 220") != NULL);
	CHECK_EQ(r->p.smtp.st.malformed_replies, 0);
	rec_free(r);
}

TEST(pipeline_auth_continuations_and_failure)
{
	struct rec *r = rec_new(NULL, PW_EN10MB);
	struct tcpsess s;

	rec_sess(r, &s, "198.18.0.45", "198.18.1.1", 1, 2);
	s.port[SRV] = 587;
	r->cfg.ports[r->cfg.nports++] = 587;
	sess_handshake(&s);
	sess_sendstr(&s, SRV, "220 mx\r\n");
	sess_sendstr(&s, CLI, "EHLO x\r\n");
	sess_sendstr(&s, SRV, "250-mx\r\n250 AUTH LOGIN PLAIN\r\n");
	sess_sendstr(&s, CLI, "AUTH LOGIN\r\n");
	sess_sendstr(&s, SRV, "334 VXNlcm5hbWU6\r\n");
	sess_sendstr(&s, CLI, "RCPT\r\n");		/* base64 that looks like a verb */
	sess_sendstr(&s, SRV, "334 UGFzc3dvcmQ6\r\n");
	sess_sendstr(&s, CLI, "cGFzcw==\r\n");
	sess_sendstr(&s, SRV, "535 5.7.8 Error: authentication failed\r\n");
	sess_sendstr(&s, CLI, "AUTH PLAIN AGZvbwBiYXI=\r\n");
	sess_sendstr(&s, SRV, "535 5.7.8 Error: authentication failed\r\n");
	sess_sendstr(&s, CLI, "QUIT\r\n");
	sess_sendstr(&s, SRV, "221 Bye\r\n");
	CHECK_EQ(r->ncls[EC_AUTH_FAILED], 2);
	CHECK_EQ(r->ncls[EC_UNKNOWN_COMMAND], 0);
	CHECK(strstr(r->sig, "RCPT") == NULL);
	CHECK(strstr(r->sig, "QUIT 221") != NULL);
	rec_free(r);
}

TEST(pipeline_unknown_and_vrfy)
{
	struct rec *r = rec_new(NULL, PW_EN10MB);
	struct tcpsess s;

	rec_sess(r, &s, "198.18.0.46", "198.18.1.1", 1, 2);
	sess_handshake(&s);
	sess_sendstr(&s, SRV, "220 mx\r\n");
	for (int i = 0; i < 10; i++) {
		sess_sendstr(&s, CLI, "VRFY someone\r\n");
		sess_sendstr(&s, SRV, "550 5.1.1 <someone>: Recipient address rejected\r\n");
	}
	sess_sendstr(&s, CLI, "XYZZY\r\n");
	sess_sendstr(&s, SRV, "502 5.5.2 Error: command not recognized\r\n");
	CHECK_EQ(r->ncls[EC_VRFY_REJECTED], 10);
	CHECK_EQ(r->ncls[EC_UNKNOWN_COMMAND], 1);
	CHECK_EQ(r->nban, 1);
	CHECK_STR(r->ban[0].rule_name, "vrfy");
	rec_free(r);
}

/* Picked up mid-stream: followed, resynced, but not counted by default. */
static struct rec *midstream(const char *cfg)
{
	struct rec *r = rec_new(cfg, PW_EN10MB);
	struct tcpsess s;

	rec_sess(r, &s, "198.18.0.50", "198.18.1.1", 5000, 9000);
	/* No handshake: start inside a harvest, mid-line on the client. */
	sess_sendstr(&s, CLI, "le.org>\r\n");
	sess_sendstr(&s, SRV, "550 5.1.1 rejected\r\n");
	sess_sendstr(&s, CLI, "MAIL FROM:<new@probe.example>\r\n");
	sess_sendstr(&s, SRV, "250 2.1.0 Ok\r\n");
	for (int i = 0; i < 12; i++) {
		char line[64];

		snprintf(line, sizeof(line), "RCPT TO:<m%d@example.org>\r\n", i);
		sess_sendstr(&s, CLI, line);
		sess_sendstr(&s, SRV, "550 5.1.1 rejected\r\n");
	}
	return r;
}

TEST(pipeline_midstream_followed_not_counted)
{
	struct rec *r = midstream(NULL);

	CHECK_EQ(r->p.flows.st.midstream, 1);
	CHECK_EQ(r->p.flows.st.verified, 0);
	/* The partial first lines are dropped; the first line that starts
	 * after a complete reply (the first RCPT) is where pairing resumes. */
	CHECK_EQ(r->p.smtp.st.resyncs, 1);
	CHECK_EQ(r->ncls[EC_RCPT_REJECTED], 12);
	CHECK_EQ(r->nverified, 0);
	CHECK_EQ(r->nban, 0);
	rec_free(r);

	r = midstream("count_unverified = yes\n");
	CHECK_EQ(r->nban, 1);
	rec_free(r);
}

TEST(pipeline_capture_loss_resyncs_without_misattribution)
{
	struct framelist fl = { 0 };
	struct tcpsess s;
	struct rec *r;
	int dropped = -1;

	sess_init(&s, fl_add, &fl, PW_EN10MB, "198.18.0.51", 40000, "198.18.1.1", 25, 1, 2);
	sess_handshake(&s);
	run_steps(&s, harvest, ARRAY_LEN(harvest));
	/* Lose the client's fifth RCPT segment (the one for bob@): the
	 * server's 550 to it then has no command to pair with. */
	for (int i = 0, rcpts = 0; i < fl.n; i++) {
		const uint8_t *d = fl.f[i].data;

		for (uint32_t k = 0; k + 4 < fl.f[i].len; k++) {
			if (!memcmp(d + k, "RCPT", 4) || !memcmp(d + k, "rcpt", 4)) {
				if (++rcpts == 5) {
					dropped = i;
					free(fl.f[i].data);
					fl.f[i].data = NULL;
				}
				break;
			}
		}
		if (dropped >= 0)
			break;
	}
	CHECK(dropped > 0);
	r = rec_new(NULL, PW_EN10MB);
	fl_feed(&fl, r);
	CHECK_EQ(r->p.reasm.st.gaps, 1);
	CHECK_EQ(r->p.smtp.st.desyncs, 1);
	CHECK_EQ(r->p.smtp.st.resyncs, 1);
	/* After the hole the parser cannot tell whether it resumes at a line
	 * start, so it drops the next line too (alice@) and pairs again from
	 * the line after the next complete reply: 12 - 2 rejected, and no
	 * reply is ever paired with the wrong recipient. */
	CHECK_EQ(r->ncls[EC_RCPT_REJECTED], 10);
	CHECK(strstr(r->sig, "bob@") == NULL);
	CHECK(strstr(r->sig, "alice@") == NULL);
	CHECK(strstr(r->sig, "RCPT 550 rcpt_rejected carol@example.org|") != NULL);
	CHECK(strstr(r->sig, "RCPT 550 rcpt_rejected heidi@example.org|") != NULL);
	CHECK(strstr(r->sig, "QUIT 221") != NULL);
	rec_free(r);
	fl_free(&fl);
}

static void v6ext(struct tcpsess *s)
{
	s->ip6_ext = true;
	s->tcp_ts = true;
}

static void qinq(struct tcpsess *s)
{
	s->vlan_tags = 2;
	s->ip4_options = true;
}

TEST(pipeline_link_layers_and_ip_options)
{
	static const struct {
		int link;
		const char *cli, *srv;
		void (*tweak)(struct tcpsess *);
	} cases[] = {
		{ PW_EN10MB, "198.18.0.60", "198.18.1.1", qinq },
		{ PW_EN10MB, "fd00::60", "fd00::1", v6ext },
		{ PW_SLL, "198.18.0.61", "198.18.1.1", NULL },
		{ PW_SLL2, "fd00::61", "fd00::1", v6ext },
		{ PW_RAW, "198.18.0.62", "198.18.1.1", NULL },
		{ PW_RAW, "fd00::62", "fd00::1", NULL },
		{ PW_IPV4, "198.18.0.63", "198.18.1.1", qinq },
		{ PW_IPV6, "fd00::63", "fd00::1", v6ext },
		{ PW_NULL, "198.18.0.64", "198.18.1.1", NULL },
		{ PW_NULL, "fd00::64", "fd00::1", NULL },
		{ PW_LOOP, "fd00::65", "fd00::1", NULL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct rec *r = harvest_over(cases[i].link, cases[i].cli, cases[i].srv,
					     cases[i].tweak);

		CHECK_EQ(r->ncls[EC_RCPT_REJECTED], 12);
		CHECK_EQ(r->nban, 1);
		CHECK_EQ(r->p.st.decode[DEC_OK], r->p.st.packets);
		if (r->nban)
			CHECK_EQ(r->ban[0].key.len, strchr(cases[i].cli, ':') ? 64 : 32);
		rec_free(r);
	}
}

TEST(pipeline_ipv6_prefix_aggregates_sources)
{
	struct rec *r = rec_new(NULL, PW_EN10MB);

	/* Five addresses of one /64, three probes each: one source, banned. */
	for (int a = 0; a < 5; a++) {
		struct tcpsess s;
		char cli[64];

		snprintf(cli, sizeof(cli), "fd00:1:2:3::%x", a + 1);
		rec_sess(r, &s, cli, "fd00::1", 10u * (unsigned)a, 7);
		s.port[CLI] = (uint16_t)(41000 + a);
		sess_handshake(&s);
		sess_sendstr(&s, SRV, "220 mx\r\n");
		sess_sendstr(&s, CLI, "MAIL FROM:<>\r\n");
		sess_sendstr(&s, SRV, "250 2.1.0 Ok\r\n");
		for (int i = 0; i < 3; i++) {
			char line[64];

			snprintf(line, sizeof(line), "RCPT TO:<a%d.%d@example.org>\r\n", a, i);
			sess_sendstr(&s, CLI, line);
			sess_sendstr(&s, SRV, "550 5.1.1 no\r\n");
		}
	}
	CHECK_EQ(r->nban, 1);
	if (r->nban) {
		char k[ADDR_STRLEN];

		CHECK_STR(prefix_fmt(&r->ban[0].key, k, sizeof(k)), "fd00:1:2:3::/64");
	}
	rec_free(r);
}

TEST(pipeline_untrusted_inbound_replies_ignored)
{
	struct rec *r = rec_new(NULL, PW_SLL);
	struct tcpsess s;
	int i;

	r->p.require_outbound_replies = true;
	rec_sess(r, &s, "198.18.0.70", "198.18.1.1", 1, 2);
	sess_handshake(&s);
	sess_sendstr(&s, SRV, "220 mx\r\n");
	sess_sendstr(&s, CLI, "MAIL FROM:<>\r\n");
	sess_sendstr(&s, SRV, "250 2.1.0 Ok\r\n");
	for (i = 0; i < 12; i++) {
		uint8_t buf[512];
		const char *forged = "550 5.1.1 forged\r\n";
		uint32_t n;

		sess_sendstr(&s, CLI, "RCPT TO:<victim@example.org>\r\n");
		/* The same reply, but marked as arriving from outside. */
		n = sess_build(&s, SRV, 0x18, s.seq[SRV], s.seq[CLI], forged,
			       (uint32_t)strlen(forged), buf);
		buf[1] = 0;	/* SLL packet type: to us, not outgoing */
		rec_frame(r, s.t, buf, n);
	}
	CHECK_EQ(r->ncls[EC_RCPT_REJECTED], 0);
	CHECK_EQ(r->p.st.untrusted_replies, 12);
	CHECK_EQ(r->nban, 0);
	rec_free(r);
}

TEST(pipeline_only_protected_servers)
{
	struct rec *r = rec_new("servers = 198.18.1.1/32 fd00::1\n", PW_EN10MB);
	struct tcpsess s;

	/* Our own outgoing mail to someone else's server: not counted. */
	rec_sess(r, &s, "198.18.1.1", "198.18.2.2", 1, 2);
	sess_handshake(&s);
	run_steps(&s, harvest, ARRAY_LEN(harvest));
	CHECK_EQ(r->nev, 0);
	CHECK(r->p.st.not_protected > 0);
	rec_sess(r, &s, "198.18.0.80", "198.18.1.1", 1, 2);
	sess_handshake(&s);
	run_steps(&s, harvest, ARRAY_LEN(harvest));
	CHECK_EQ(r->nban, 1);
	rec_free(r);
}

TEST(pipeline_allowlist_never_counted)
{
	struct rec *r = rec_new("allowlist = 198.18.0.0/24\n", PW_EN10MB);
	struct tcpsess s;

	rec_sess(r, &s, "198.18.0.90", "198.18.1.1", 1, 2);
	sess_handshake(&s);
	run_steps(&s, harvest, ARRAY_LEN(harvest));
	CHECK_EQ(r->ncls[EC_RCPT_REJECTED], 12);
	CHECK_EQ(r->nban, 0);
	/* 12 rejections and the greeting (a session is evidence too). */
	CHECK_EQ(tracker_stats(r->p.tracker)->allowlisted, 13);
	rec_free(r);
}

TEST(pipeline_trap_recipient_bans_at_once)
{
	struct rec *r = rec_new("trap_recipients = <Never-Was@example.org>\n", PW_EN10MB);
	struct tcpsess s;

	rec_sess(r, &s, "198.18.0.91", "198.18.1.1", 1, 2);
	sess_handshake(&s);
	sess_sendstr(&s, SRV, "220 mx\r\n");
	sess_sendstr(&s, CLI, "MAIL FROM:<>\r\n");
	sess_sendstr(&s, SRV, "250 2.1.0 Ok\r\n");
	sess_sendstr(&s, CLI, "RCPT TO:<never-was@EXAMPLE.org>\r\n");
	sess_sendstr(&s, SRV, "550 5.1.1 no\r\n");
	CHECK_EQ(r->nban, 1);
	CHECK_EQ(tracker_stats(r->p.tracker)->trap_hits, 1);
	rec_free(r);
}

TEST(pipeline_overlong_line_and_overflow_counted)
{
	struct rec *r = rec_new("max_pipeline = 4\nmax_line = 512\n", PW_EN10MB);
	struct tcpsess s;
	char big[2000];

	rec_sess(r, &s, "198.18.0.92", "198.18.1.1", 1, 2);
	sess_handshake(&s);
	sess_sendstr(&s, SRV, "220 mx\r\n");
	memset(big, 'A', sizeof(big));
	memcpy(big + sizeof(big) - 3, "\r\n", 3);
	sess_sendstr(&s, CLI, big);
	sess_sendstr(&s, SRV, "500 5.5.0 line too long\r\n");
	CHECK_EQ(r->p.smtp.st.overlong_lines, 1);
	sess_sendstr(&s, CLI, "NOOP\r\n");	/* resync after a quiet point */
	sess_sendstr(&s, SRV, "250 Ok\r\n");
	sess_sendstr(&s, CLI, "NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n");
	CHECK_EQ(r->p.smtp.st.pipeline_overflow, 1);
	CHECK_EQ(r->p.smtp.st.resyncs, 1);
	CHECK(strstr(r->sig, "NOOP 250") != NULL);
	rec_free(r);
}

TEST(pipeline_rset_closes_the_transaction)
{
	struct rec *r = rec_new(NULL, PW_EN10MB);
	struct tcpsess s;

	rec_sess(r, &s, "198.18.0.93", "198.18.1.1", 1, 2);
	sess_handshake(&s);
	sess_sendstr(&s, SRV, "220 mx\r\n");
	sess_sendstr(&s, CLI, "MAIL FROM:<a@b.example>\r\n");
	sess_sendstr(&s, SRV, "250 2.1.0 Ok\r\n");
	sess_sendstr(&s, CLI, "RCPT TO:<x@example.org>\r\n");
	sess_sendstr(&s, SRV, "550 5.1.1 no\r\n");
	sess_sendstr(&s, CLI, "RSET\r\n");
	sess_sendstr(&s, SRV, "250 2.0.0 Ok\r\n");
	sess_sendstr(&s, CLI, "RCPT TO:<y@example.org>\r\n");
	sess_sendstr(&s, SRV, "503 5.5.1 Error: need MAIL command\r\n");
	sess_sendstr(&s, CLI, "NOOP\r\n");
	sess_sendstr(&s, SRV, "250 2.0.0 Ok\r\n");
	CHECK_EQ(r->ncls[EC_RCPT_REJECTED], 1);
	CHECK_EQ(r->ncls[EC_RCPT_SEQUENCE], 1);
	CHECK(strstr(r->sig, "RSET 250 none |RCPT 503 rcpt_sequence y@example.org|NOOP 250") != NULL);
	rec_free(r);
}

/* The address pair's hash, the same both ways, as the kernel's queue
 * balancing and fanout hash are: which of two workers a packet goes to. */
static int worker_of(int link, const uint8_t *frame, uint32_t len)
{
	struct pkt k;
	uint32_t h = 0;

	if (decode_packet(link, frame, len, &k) != DEC_OK)
		return 0;
	for (size_t i = 0; i < sizeof(k.src.b); i++)
		h = h * 31 + (uint32_t)(k.src.b[i] ^ k.dst.b[i]);
	return (int)(h % 2);
}

/* The daemon's workers in one thread: two worker pipelines, their rings
 * judged by judge's tracker. */
struct split {
	struct pipeline w[2];
	struct evring ring[2];
};

/* Each frame to the worker its address pair hashes to, that worker's
 * ring judged at once, the one calibration handed back, as the daemon
 * does; then the ends of the capture. */
static void split_run(struct split *sp, struct rec *judge, const struct framelist *fl, int link,
		      uint32_t ring_cap)
{
	for (int i = 0; i < 2; i++) {
		evring_init(&sp->ring[i], ring_cap);
		pipeline_init_worker(&sp->w[i], &judge->cfg, (uint64_t)i, &sp->ring[i]);
	}
	for (int i = 0; i < fl->n; i++) {
		int n = worker_of(link, fl->f[i].data, fl->f[i].len);

		pipeline_frame(&sp->w[n], fl->f[i].ts, link, fl->f[i].data, fl->f[i].len);
		pipeline_judge(&judge->p, &sp->ring[n], SIZE_MAX);
		if (judge->p.calib_moved) {
			judge->p.calib_moved = false;
			sp->w[0].tls.cal = sp->w[1].tls.cal = judge->p.tls.cal;
		}
	}
	for (int i = 0; i < 2; i++)
		pipeline_finish(&sp->w[i]);
	for (int i = 0; i < 2; i++)
		pipeline_judge(&judge->p, &sp->ring[i], SIZE_MAX);
}

static void split_free(struct split *sp)
{
	for (int i = 0; i < 2; i++) {
		pipeline_free(&sp->w[i]);
		evring_free(&sp->ring[i]);
	}
}

/* What judge saw is what one saw: the events with a class (the workers
 * send nothing else), one by one, and the bans by key, count and time. */
static void check_same_judgement(const struct rec *judge, const struct rec *one)
{
	char *sig = strdup(one->sig), *o = sig;

	for (const char *p = one->sig, *bar; (bar = strchr(p, '|')); p = bar + 1)
		if (!memmem(p, (size_t)(bar - p), " none ", 6)) {
			memcpy(o, p, (size_t)(bar - p) + 1);
			o += bar - p + 1;
		}
	*o = 0;
	CHECK_STR(judge->sig, sig);
	free(sig);
	CHECK_EQ(judge->nban, one->nban);
	for (int i = 0; i < judge->nban && i < one->nban && i < 32; i++) {
		CHECK(!memcmp(&judge->ban[i].key, &one->ban[i].key, sizeof(one->ban[i].key)));
		CHECK_EQ(judge->ban[i].count, one->ban[i].count);
		CHECK_EQ(judge->ban[i].time, one->ban[i].time);
	}
}

/* Two worker pipelines split by the address pair, their events judged
 * by one tracker through their rings, give the same events and bans as
 * one pipeline: a /64 whose eight addresses land on both workers is one
 * source, banned once. */
TEST(pipeline_workers_same_events_and_bans)
{
	struct framelist fl = { 0 };
	struct tcpsess s;
	struct rec *one, *judge;
	struct split sp;
	char cli[64];

	for (int i = 0; i < 8; i++) {
		snprintf(cli, sizeof(cli), "fd00:1a::1:%d", i + 1);
		sess_init(&s, fl_add, &fl, PW_EN10MB, cli, (uint16_t)(40000 + i), "fd00:18::1", 25,
			  (uint32_t)(1000 + i), 5000);
		sess_handshake(&s);
		/* Three probes each: only their sum crosses the threshold. */
		run_steps(&s, harvest, 5);
		for (int j = 0; j < 3; j++) {
			char cmd[80];

			snprintf(cmd, sizeof(cmd), "RCPT TO:<guess%d.%d@example.org>\r\n", i, j);
			sess_sendstr(&s, CLI, cmd);
			sess_sendstr(&s, SRV, "550 5.1.1 rejected\r\n");
		}
		sess_close(&s);
	}
	sess_init(&s, fl_add, &fl, PW_EN10MB, "198.18.0.10", 41000, "198.18.1.1", 25, 7, 9);
	sess_handshake(&s);
	run_steps(&s, harvest, ARRAY_LEN(harvest));
	sess_close(&s);
	sess_init(&s, fl_add, &fl, PW_EN10MB, "198.18.0.77", 41001, "198.18.1.1", 25, 70, 90);
	sess_handshake(&s);
	run_steps(&s, delivery, ARRAY_LEN(delivery));
	sess_close(&s);

	one = rec_new(NULL, PW_EN10MB);
	fl_feed(&fl, one);
	judge = rec_new(NULL, PW_EN10MB);
	split_run(&sp, judge, &fl, LINK_EN10MB, 64);
	CHECK(sp.w[0].st.packets > 20 && sp.w[1].st.packets > 20);
	CHECK_EQ(sp.w[0].st.packets + sp.w[1].st.packets, one->p.st.packets);
	CHECK_EQ(sp.ring[0].full + sp.ring[1].full, 0);
	CHECK_EQ(one->ncls[EC_RCPT_REJECTED], 8 * 3 + 12);
	CHECK_EQ(judge->nban, 2);
	check_same_judgement(judge, one);
	split_free(&sp);
	rec_free(one);
	rec_free(judge);
	fl_free(&fl);
}

/* A full ring drops and counts, never waits; a batch is published with
 * its end marked, and the loop takes it whole. */
TEST(evring_full_counts_and_batches)
{
	struct evring r;
	struct ipaddr a = { 0 };
	struct smtp_event ev = { .verb = V_RCPT, .code = 550, .rcpt = "x@example.org", .rcpt_len = 13 };
	const struct evrec *e;
	int n = 0, ends = 0;

	evring_init(&r, 64);
	for (int i = 0; i < 100; i++)
		evring_put(&r, i, &a, EC_RCPT_REJECTED, true, &ev);
	CHECK(evring_peek(&r) == NULL);		/* nothing published yet */
	CHECK_EQ(evring_publish(&r), 64);
	CHECK_EQ(r.full, 36);
	while ((e = evring_peek(&r))) {
		CHECK_STR(e->ev.rcpt, "x@example.org");
		ends += (e->flags & EVR_END) != 0;
		n++;
		evring_next(&r);
	}
	CHECK_EQ(n, 64);
	CHECK_EQ(ends, 1);
	/* Room again once taken. */
	evring_put(&r, 1, &a, EC_RCPT_REJECTED, true, &ev);
	CHECK_EQ(evring_publish(&r), 65);
	CHECK_EQ(r.full, 36);
	evring_free(&r);
}

/* The real-Postfix fixtures, one pipeline against two workers split by
 * the address pair and judged by one tracker: the same events (those
 * with a class) and the same bans. */
TEST(pipeline_workers_fixtures_same_as_one)
{
	static const char *const names[] = { "delivery", "harvest", "pipelined", "starttls" };
	int bans = 0, events = 0;

	for (size_t k = 0; k < ARRAY_LEN(names); k++) {
		char path[128], ebuf[PCAP_ERRBUF_SIZE];
		struct framelist fl = { 0 };
		struct pcap_pkthdr *h;
		const u_char *d;
		struct rec *one, *judge;
		struct split sp;
		pcap_t *pc;
		int link;

		snprintf(path, sizeof(path), "tests/fixtures/postfix-%s.pcap", names[k]);
		pc = pcap_open_offline(path, ebuf);
		CHECK(pc != NULL);
		if (!pc)
			continue;
		link = pcap_datalink(pc);
		while (pcap_next_ex(pc, &h, &d) == 1)
			fl_add(&fl, (int64_t)h->ts.tv_sec * USEC_PER_SEC + h->ts.tv_usec, d, h->caplen);
		pcap_close(pc);
		one = rec_new("servers = any", PW_EN10MB);
		for (int i = 0; i < fl.n; i++)
			pipeline_frame(&one->p, fl.f[i].ts, link, fl.f[i].data, fl.f[i].len);
		pipeline_finish(&one->p);
		judge = rec_new("servers = any", PW_EN10MB);
		split_run(&sp, judge, &fl, link, 4096);
		check_same_judgement(judge, one);
		CHECK_EQ(sp.w[0].st.packets + sp.w[1].st.packets, one->p.st.packets);
		bans += one->nban;
		events += one->ncls[EC_RCPT_REJECTED] + one->ncls[EC_RCPT_ACCEPTED];
		split_free(&sp);
		rec_free(one);
		rec_free(judge);
		fl_free(&fl);
	}
	/* Not a run that compares nothing. */
	CHECK(bans >= 1);
	CHECK(events >= 30);
}

/* The reader thread hashes a flow from the packet's fields; the table
 * hashes the key it stored. Both ways, both families, they must agree. */
TEST(pipeline_place_hash_is_the_keys)
{
	struct config cfg;
	const char *addrs[][2] = { { "198.18.0.7", "198.18.1.25" }, { "fd00:18::7", "fd00:19::25" } };

	config_defaults(&cfg);
	CHECK_EQ(config_load_string(&cfg, "", "test", stderr), 0);
	for (int fam = 0; fam < 2; fam++) {
		struct pkt up, down;
		struct pkt_place a, b;
		struct flowkey key;
		uint64_t seed = 0x1234567890abcdefULL + (uint64_t)fam;

		memset(&up, 0, sizeof(up));
		CHECK_EQ(addr_parse(addrs[fam][0], &up.src), 0);
		CHECK_EQ(addr_parse(addrs[fam][1], &up.dst), 0);
		up.sport = 40001;
		up.dport = 25;
		down = up;
		down.src = up.dst;
		down.dst = up.src;
		down.sport = up.dport;
		down.dport = up.sport;
		key.cli = up.src;
		key.srv = up.dst;
		key.cport = 40001;
		key.sport = 25;
		pipeline_place(&cfg, seed, &up, &a);
		pipeline_place(&cfg, seed, &down, &b);
		CHECK_EQ(a.dir, 0);
		CHECK_EQ(b.dir, 1);
		CHECK(a.protected && b.protected);
		CHECK(a.hash == flow_hash(seed, &key));
		CHECK(b.hash == a.hash);
		/* Another client port is another flow. */
		up.sport = 40002;
		pipeline_place(&cfg, seed, &up, &b);
		CHECK(b.hash != a.hash);
	}
	config_free(&cfg);
}

/* Every length reads only its own bytes: the same string at another
 * place, with other bytes around it, hashes alike; one byte changed, it
 * does not. */
TEST(hash_bytes_reads_only_its_bytes)
{
	unsigned char x[64], y[80];

	for (size_t i = 0; i < sizeof(x); i++)
		x[i] = (unsigned char)(i * 37 + 11);
	for (size_t n = 0; n <= 40; n++) {
		memset(y, 0xa5, sizeof(y));
		memcpy(y + 13, x, n);
		CHECK(hash_bytes(x, n, 7) == hash_bytes(y + 13, n, 7));
		if (n) {
			y[13 + n - 1] ^= 1;
			CHECK(hash_bytes(x, n, 7) != hash_bytes(y + 13, n, 7));
			y[13 + n - 1] ^= 1;
			y[13] ^= 0x80;
			CHECK(hash_bytes(x, n, 7) != hash_bytes(y + 13, n, 7));
		}
		if (n < 40)
			CHECK(hash_bytes(x, n, 7) != hash_bytes(x, n + 1, 7));
	}
}
