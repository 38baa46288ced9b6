/* mkbench OUT.pcap [SESSIONS [TLS_PERCENT]]: the benchmark capture.
 * SESSIONS (default 100000) SMTP sessions, 400 at a time interleaved as
 * on a busy MX: 60% harvests (half of them pipelined) from 6,000 sources,
 * 40% deliveries with bodies of 1 to 100 KB (log-uniform) and one in a
 * thousand of 1 MB, from 20,000 senders; a tenth of it over IPv6.
 * TLS_PERCENT of the sessions (default 0) say STARTTLS and go on as TLS
 * 1.3 records of the lengths the cleartext ones have (a ServerHello that
 * parses, records of zeros): the load of the inference inside TLS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcapw.h"

#define ACTIVE 400

static struct pcapw w;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

struct job {
	struct tcpsess s;
	bool tls;
	int kind;		/* 0 harvest, 1 pipelined harvest, 2 delivery */
	int step;
	int probes;
	size_t body;
	uint32_t tag;
};

static char *bodybuf;
static int tls_percent;

/* What was len bytes of SMTP as TLS 1.3 records (16384 at most each). */
static void tls_send(struct tcpsess *s, int from, size_t len)
{
	uint8_t *buf = malloc(len + (len / 16384 + 1) * (5 + 17)), *p = buf;

	do {
		size_t n = len > 16384 ? 16384 : len, r = n + 17;

		p[0] = 23;
		p[1] = 3;
		p[2] = 3;
		p[3] = (uint8_t)(r >> 8);
		p[4] = (uint8_t)r;
		memset(p + 5, 0, r);
		p += 5 + r;
		len -= n;
	} while (len);
	sess_send(s, from, buf, (size_t)(p - buf));
	free(buf);
}

static void tls_sendstr(struct tcpsess *s, int from, const char *str)
{
	tls_send(s, from, strlen(str));
}

/* STARTTLS and a TLS 1.3 handshake's records. */
static void tls_start(struct tcpsess *s)
{
	static const uint8_t hello[] = { 22, 3, 3, 0, 50, 2, 0, 0, 46, 3, 3, [43] = 0, 0x13, 0x01, 0, 0, 6,
					 0, 0x2b, 0, 2, 3, 4 };
	uint8_t ch[205] = { 22, 3, 3, 0, 200, 1 };

	sess_sendstr(s, CLI, "STARTTLS\r\n");
	sess_sendstr(s, SRV, "220 2.0.0 Ready to start TLS\r\n");
	sess_send(s, CLI, ch, sizeof(ch));
	sess_send(s, SRV, hello, sizeof(hello));
	sess_send(s, SRV, "\x14\x03\x03\x00\x01\x01", 6);
	tls_send(s, SRV, 1100 - 17);
	sess_send(s, CLI, "\x14\x03\x03\x00\x01\x01", 6);
	tls_send(s, CLI, 53 - 17);
	tls_sendstr(s, CLI, "EHLO client.example\r\n");
	tls_send(s, SRV, 250);
	tls_sendstr(s, SRV, "250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
}

/* The session's bytes, in the clear or as records. */
static void say(struct job *j, int from, const char *str)
{
	if (j->tls)
		tls_sendstr(&j->s, from, str);
	else
		sess_sendstr(&j->s, from, str);
}

static void say_n(struct job *j, int from, const char *data, size_t len)
{
	if (j->tls)
		tls_send(&j->s, from, len);
	else
		sess_send(&j->s, from, data, len);
}
static int64_t clock_us = INT64_C(1790000000) * 1000000;

/* Route every frame through one clock so that interleaved sessions keep
 * the capture in time order. */
static void emit(void *arg, int64_t ts, const uint8_t *f, uint32_t len)
{
	(void)ts;
	(void)arg;
	clock_us += 2;
	pcapw_frame(&w, clock_us, f, len);
}

static void start(struct job *j, long n)
{
	char cli[64];
	const char *srv;
	uint32_t r = rnd();
	bool v6 = r % 10 == 0;
	int src;

	memset(j, 0, sizeof(*j));
	j->kind = r % 100 < 60 ? (r % 2) : 2;
	src = (int)(j->kind == 2 ? 6000 + rnd() % 20000 : rnd() % 6000);
	if (v6) {
		snprintf(cli, sizeof(cli), "fd00:%x:%x::%x", src >> 8, src & 0xff, 1 + rnd() % 200);
		srv = "fd00::25";
	} else {
		snprintf(cli, sizeof(cli), "198.%d.%d.%d", 18 + (src >> 16), (src >> 8) & 0xff, src & 0xff);
		srv = "198.18.255.25";
	}
	sess_init(&j->s, emit, NULL, PW_EN10MB, cli, (uint16_t)(1024 + n % 60000), srv, 25,
		  rnd(), rnd());
	j->s.tcp_ts = true;
	j->s.ack_every = 2;
	j->probes = 5 + (int)(rnd() % 30);
	if (j->kind == 2) {
		double u = (double)(rnd() % 1000000) / 1e6;

		j->body = rnd() % 1000 == 0 ? (1 << 20) : (size_t)(1024.0 * __builtin_pow(100.0, u));
	}
	j->tag = (uint32_t)n;
	j->tls = (int)(rnd() % 100) < tls_percent;
}

/* One exchange; returns 0 when the session is over. */
static int step(struct job *j)
{
	struct tcpsess *s = &j->s;
	char line[256];

	switch (j->step++) {
	case 0:
		sess_handshake(s);
		return 1;
	case 1:
		sess_sendstr(s, SRV, "220 mx.example.org ESMTP\r\n");
		return 1;
	case 2:
		sess_sendstr(s, CLI, "EHLO client.example\r\n");
		sess_sendstr(s, SRV, "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
				     "250-8BITMIME\r\n250-STARTTLS\r\n250 CHUNKING\r\n");
		if (j->tls)
			tls_start(s);
		return 1;
	case 3:
		if (j->kind == 2) {
			say(j, CLI, "MAIL FROM:<news@sender.example>\r\n"
				    "RCPT TO:<alice@example.org>\r\nDATA\r\n");
			say(j, SRV, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
				    "354 End data with <CR><LF>.<CR><LF>\r\n");
		} else {
			say(j, CLI, "MAIL FROM:<x@harvest.example>\r\n");
			say(j, SRV, "250 2.1.0 Ok\r\n");
		}
		return 1;
	default:
		break;
	}
	if (j->kind == 2) {
		if (j->step == 5) {
			char saved[5];

			/* One shared body buffer: put the end marker in place
			 * for this message only, or a shorter message's marker
			 * would end a longer one early. */
			memcpy(saved, bodybuf + j->body, 5);
			memcpy(bodybuf + j->body, "\r\n.\r\n", 5);
			say_n(j, CLI, bodybuf, j->body + 5);
			memcpy(bodybuf + j->body, saved, 5);
			say(j, SRV, "250 2.0.0 Ok: queued as 4ABCDEF\r\n");
			return 1;
		}
	} else if (j->kind == 1 && j->step == 5) {
		char cmd[8192], rep[8192];
		size_t cl = 0, rl = 0;

		for (int i = 0; i < j->probes; i++) {
			cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "RCPT TO:<u%u.%d@example.org>\r\n", j->tag, i);
			rl += (size_t)snprintf(rep + rl, sizeof(rep) - rl,
					       "550 5.1.1 <u%u.%d@example.org>: Recipient address rejected\r\n",
					       j->tag, i);
		}
		say_n(j, CLI, cmd, cl);
		say_n(j, SRV, rep, rl);
		return 1;
	} else if (j->kind == 0 && j->step - 5 < j->probes) {
		snprintf(line, sizeof(line), "RCPT TO:<u%u.%d@example.org>\r\n", j->tag, j->step - 5);
		say(j, CLI, line);
		if (tls_percent) {
			/* The same reply text as the pipelined ones: one server. */
			snprintf(line, sizeof(line), "550 5.1.1 <u%u.%d@example.org>: Recipient address rejected\r\n",
				 j->tag, j->step - 5);
			say(j, SRV, line);
		} else {
			sess_sendstr(s, SRV, "550 5.1.1 Recipient address rejected: User unknown\r\n");
		}
		return 1;
	}
	say(j, CLI, "QUIT\r\n");
	say(j, SRV, "221 2.0.0 Bye\r\n");
	sess_close(s);
	return 0;
}

int main(int argc, char **argv)
{
	long total = argc > 2 ? atol(argv[2]) : 100000, started = 0, done = 0;
	struct job *jobs = calloc(ACTIVE, sizeof(*jobs));
	bool *live = calloc(ACTIVE, sizeof(*live));

	tls_percent = argc > 3 ? atoi(argv[3]) : 0;
	if (argc < 2 || total < 1 || tls_percent < 0 || tls_percent > 100) {
		fprintf(stderr, "usage: mkbench OUT.pcap [SESSIONS [TLS_PERCENT]]\n");
		return 1;
	}
	bodybuf = malloc((1 << 20) + 8);
	for (size_t i = 0; i < (1 << 20); i++)
		bodybuf[i] = (i % 76 == 75) ? '\n' : (char)('A' + i % 26);
	if (pcapw_open(&w, argv[1], PW_EN10MB, 65535)) {
		perror(argv[1]);
		return 1;
	}
	while (done < total) {
		for (int k = 0; k < ACTIVE; k++) {
			if (!live[k]) {
				if (started == total)
					continue;
				start(&jobs[k], started++);
				live[k] = true;
			}
			if (!step(&jobs[k])) {
				live[k] = false;
				done++;
			}
		}
	}
	if (pcapw_close(&w)) {
		perror(argv[1]);
		return 1;
	}
	printf("mkbench: %ld sessions, %llu frames\n", total, (unsigned long long)w.frames);
	return 0;
}
