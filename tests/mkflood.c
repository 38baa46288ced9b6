/* mkflood SCENARIO [N] [M] > capture.pcap: hostile captures, written to
 * standard output so that a million sessions never touch the disk.
 *
 *   synflood N M   N SYNs from N spoofed sources (fd00:5f::/32), with M
 *                  legitimate deliveries spread among them
 *   sources N M    N sources (one IPv6 /64 each) with one rejected
 *                  recipient each, and M harvesters (198.18.30.0/24)
 *                  with 12 each, spread among them
 *   patho          pathological streams: an endless line, a million
 *                  1-byte segments, retransmissions that differ, a reply
 *                  flood with no commands, rejections on flows picked up
 *                  mid-stream; then one legitimate delivery
 *
 * Sources of test traffic only: 198.18.0.0/15 and fd00::/8. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcapw.h"

static struct pcapw w;
static int64_t clock_us = INT64_C(1790000000) * 1000000;

static void sess6(struct tcpsess *s, uint32_t i, uint16_t net, uint32_t isn)
{
	char a[64];

	snprintf(a, sizeof(a), "fd00:%x:%x:%x::1", net, (i >> 16) & 0xffff, i & 0xffff);
	sess_init(s, pcapw_frame, &w, PW_EN10MB, a, (uint16_t)(1024 + i % 60000), "fd00::25", 25, isn,
		  isn ^ 0x5a5a5a5a);
	s->t = clock_us;
	s->step = 10;
}

static void sess4(struct tcpsess *s, const char *a, uint16_t port, uint32_t isn)
{
	sess_init(s, pcapw_frame, &w, PW_EN10MB, a, port, "198.18.0.25", 25, isn, isn * 7 + 3);
	s->t = clock_us;
	s->step = 10;
}

static void done(struct tcpsess *s)
{
	clock_us = s->t;
}

static void delivery(struct tcpsess *s)
{
	sess_handshake(s);
	sess_sendstr(s, SRV, "220 mx.example.org ESMTP\r\n");
	sess_sendstr(s, CLI, "EHLO good.example\r\n");
	sess_sendstr(s, SRV, "250-mx.example.org\r\n250 PIPELINING\r\n");
	sess_sendstr(s, CLI, "MAIL FROM:<a@good.example>\r\nRCPT TO:<postmaster@example.org>\r\nDATA\r\n");
	sess_sendstr(s, SRV, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n");
	sess_sendstr(s, CLI, "Subject: hello\r\n\r\nhello\r\n.\r\n");
	sess_sendstr(s, SRV, "250 2.0.0 Ok: queued\r\n");
	sess_sendstr(s, CLI, "QUIT\r\n");
	sess_sendstr(s, SRV, "221 2.0.0 Bye\r\n");
	sess_close(s);
	done(s);
}

/* One session: greeting, then the commands in one pipelined burst. */
static void probes(struct tcpsess *s, int n, const char *tag)
{
	char cmd[4096], rep[8192];
	size_t cl = 0, rl = 0;

	sess_handshake(s);
	sess_sendstr(s, SRV, "220 mx.example.org ESMTP\r\n");
	cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "EHLO x\r\nMAIL FROM:<p@x.example>\r\n");
	rl += (size_t)snprintf(rep + rl, sizeof(rep) - rl, "250 mx\r\n250 2.1.0 Ok\r\n");
	for (int i = 0; i < n; i++) {
		cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "RCPT TO:<%s%d@example.org>\r\n", tag, i);
		rl += (size_t)snprintf(rep + rl, sizeof(rep) - rl, "550 5.1.1 <%s%d@example.org>: unknown\r\n",
				       tag, i);
	}
	cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "QUIT\r\n");
	rl += (size_t)snprintf(rep + rl, sizeof(rep) - rl, "221 Bye\r\n");
	sess_send(s, CLI, cmd, cl);
	sess_send(s, SRV, rep, rl);
	sess_close(s);
	done(s);
}

static void synflood(long n, long legit)
{
	struct tcpsess s;
	long every = legit ? n / legit : n + 1;

	for (long i = 0; i < n; i++) {
		sess6(&s, (uint32_t)i, 0x5f, (uint32_t)i * 2654435761u);
		sess_segment(&s, CLI, 0x02, s.seq[CLI], NULL, 0);
		done(&s);
		if (legit && i % every == every / 2) {
			char a[32];

			snprintf(a, sizeof(a), "198.18.20.%ld", 1 + (i / every) % 250);
			sess4(&s, a, (uint16_t)(30000 + i / every), (uint32_t)i);
			delivery(&s);
		}
	}
}

static void sources(long n, long harvesters)
{
	struct tcpsess s;
	long every = harvesters ? n / harvesters : n + 1;

	for (long i = 0; i < n; i++) {
		sess6(&s, (uint32_t)i, 0x60, (uint32_t)i * 2654435761u);
		probes(&s, 1, "u");
		if (harvesters && i % every == every / 2) {
			char a[32];

			snprintf(a, sizeof(a), "198.18.30.%ld", 1 + (i / every) % 250);
			sess4(&s, a, (uint16_t)(30000 + i / every), (uint32_t)i);
			probes(&s, 12, "h");
		}
	}
}

static void patho(void)
{
	struct tcpsess s;
	char *big = malloc(8 << 20);

	/* An endless line: 8 MB without CRLF after the greeting. */
	memset(big, 'A', 8 << 20);
	sess4(&s, "198.18.40.1", 40001, 1000);
	sess_handshake(&s);
	sess_sendstr(&s, SRV, "220 mx.example.org ESMTP\r\n");
	sess_send(&s, CLI, big, 8 << 20);
	sess_close(&s);
	done(&s);
	/* A million 1-byte segments: a body sent a byte at a time. */
	sess4(&s, "198.18.40.2", 40002, 2000);
	sess_handshake(&s);
	sess_sendstr(&s, SRV, "220 mx.example.org ESMTP\r\n");
	sess_sendstr(&s, CLI, "EHLO tiny\r\nMAIL FROM:<t@x>\r\nRCPT TO:<postmaster@example.org>\r\nDATA\r\n");
	sess_sendstr(&s, SRV, "250 mx\r\n250 Ok\r\n250 Ok\r\n354 go\r\n");
	s.mss = 1;
	s.ack_every = 1000000;
	memset(big, 'b', 1000000);
	memcpy(big + 1000000 - 5, "\r\n.\r\n", 5);
	sess_send(&s, CLI, big, 1000000);
	s.mss = 1448;
	sess_sendstr(&s, SRV, "250 Ok: queued\r\n");
	sess_close(&s);
	done(&s);
	/* Retransmissions with other content: the first copy wins, so the
	 * rejection is of the first recipient, and there is one. */
	sess4(&s, "198.18.40.3", 40003, 3000);
	sess_handshake(&s);
	sess_sendstr(&s, SRV, "220 mx.example.org ESMTP\r\n");
	sess_sendstr(&s, CLI, "EHLO x\r\nMAIL FROM:<r@x>\r\n");
	sess_sendstr(&s, SRV, "250 mx\r\n250 Ok\r\n");
	{
		uint32_t seq = s.seq[CLI];

		sess_segment(&s, CLI, 0x18, seq, "RCPT TO:<first@example.org>\r\n", 29);
		sess_segment(&s, CLI, 0x18, seq, "RCPT TO:<other@example.org>\r\n", 29);
		sess_segment(&s, CLI, 0x18, seq + 10, "XXXXXXXXXX", 10);
		s.seq[CLI] = seq + 29;
	}
	sess_sendstr(&s, SRV, "550 5.1.1 <first@example.org>: unknown\r\n");
	sess_close(&s);
	done(&s);
	/* A reply flood with no command: 100,000 unsolicited 550s. */
	sess4(&s, "198.18.40.4", 40004, 4000);
	sess_handshake(&s);
	sess_sendstr(&s, SRV, "220 mx.example.org ESMTP\r\n");
	for (int i = 0; i < 100; i++) {
		size_t o = 0;

		for (int k = 0; k < 1000; k++)
			o += (size_t)snprintf(big + o, 64, "550 5.1.1 flood\r\n");
		sess_send(&s, SRV, big, o);
	}
	sess_close(&s);
	done(&s);
	/* Mid-stream: 50 sources whose handshake was never seen, one
	 * rejected recipient after another, 20 each; unverified, they are
	 * reported but never ban. */
	for (int i = 0; i < 50; i++) {
		char a[32], line[64];

		snprintf(a, sizeof(a), "198.18.41.%d", i + 1);
		sess4(&s, a, (uint16_t)(41000 + i), (uint32_t)(5000 + i));
		sess_sendstr(&s, SRV, "250 ready\r\n");	/* maybe the tail of a line */
		sess_sendstr(&s, CLI, "MAIL FROM:<m@x>\r\n");
		sess_sendstr(&s, SRV, "250 Ok\r\n");
		for (int k = 0; k < 20; k++) {
			snprintf(line, sizeof(line), "RCPT TO:<m%d@example.org>\r\n", k);
			sess_sendstr(&s, CLI, line);
			sess_sendstr(&s, SRV, "550 5.1.1 unknown\r\n");
		}
		done(&s);
	}
	/* And mail still flows. */
	sess4(&s, "198.18.40.9", 40009, 9000);
	delivery(&s);
	free(big);
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 1000000, m = argc > 3 ? atol(argv[3]) : 100;

	if (argc < 2 || pcapw_open(&w, "/dev/stdout", PW_EN10MB, 65535)) {
		fprintf(stderr, "usage: mkflood synflood|sources|patho [N] [M] > out.pcap\n");
		return 2;
	}
	if (!strcmp(argv[1], "synflood"))
		synflood(n, m);
	else if (!strcmp(argv[1], "sources"))
		sources(n, m);
	else if (!strcmp(argv[1], "patho"))
		patho();
	else {
		fprintf(stderr, "mkflood: unknown scenario %s\n", argv[1]);
		return 2;
	}
	return pcapw_close(&w) ? 1 : 0;
}
