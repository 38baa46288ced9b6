/* mkpcap SCENARIO OUT.pcap: write one synthetic capture for the fixture
 * tests. Each scenario is an edge case that a real capture rarely shows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcapw.h"

static struct pcapw w;

static void session(struct tcpsess *s, int link, const char *cli, uint16_t cport,
		    const char *srv, uint32_t isn)
{
	sess_init(s, pcapw_frame, &w, link, cli, cport, srv, 25, isn, isn * 7 + 3);
}

/* Greeting, EHLO, MAIL, n rejected RCPTs, QUIT. pipelined: all RCPTs in
 * one segment and all replies in another. */
static void harvest(struct tcpsess *s, int n, bool pipelined, const char *tag)
{
	char cmd[65536], rep[65536];
	size_t cl = 0, rl = 0;

	sess_handshake(s);
	sess_sendstr(s, SRV, "220 mx.example.org ESMTP\r\n");
	sess_sendstr(s, CLI, "EHLO harvester.example\r\n");
	sess_sendstr(s, SRV, "250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
	if (!pipelined) {
		sess_sendstr(s, CLI, "MAIL FROM:<probe@harvester.example>\r\n");
		sess_sendstr(s, SRV, "250 2.1.0 Ok\r\n");
		for (int i = 0; i < n; i++) {
			char line[128];

			snprintf(line, sizeof(line), "RCPT TO:<%s%d@example.org>\r\n", tag, i);
			sess_sendstr(s, CLI, line);
			snprintf(line, sizeof(line),
				 "550 5.1.1 <%s%d@example.org>: Recipient address rejected: "
				 "User unknown in local recipient table\r\n", tag, i);
			sess_sendstr(s, SRV, line);
		}
	} else {
		cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "MAIL FROM:<probe@harvester.example>\r\n");
		rl += (size_t)snprintf(rep + rl, sizeof(rep) - rl, "250 2.1.0 Ok\r\n");
		for (int i = 0; i < n; i++) {
			cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "RCPT TO:<%s%d@example.org>\r\n", tag, i);
			rl += (size_t)snprintf(rep + rl, sizeof(rep) - rl,
					       "550 5.1.1 <%s%d@example.org>: Recipient address rejected\r\n",
					       tag, i);
		}
		cl += (size_t)snprintf(cmd + cl, sizeof(cmd) - cl, "DATA\r\n");
		rl += (size_t)snprintf(rep + rl, sizeof(rep) - rl, "554 5.5.1 Error: no valid recipients\r\n");
		sess_send(s, CLI, cmd, cl);
		sess_send(s, SRV, rep, rl);
	}
	sess_sendstr(s, CLI, "QUIT\r\n");
	sess_sendstr(s, SRV, "221 2.0.0 Bye\r\n");
	sess_close(s);
}

static void delivery(struct tcpsess *s, size_t body)
{
	char *b = malloc(body + 8);

	for (size_t i = 0; i < body; i++)
		b[i] = (i % 72 == 71) ? '\n' : (char)('a' + i % 26);
	memcpy(b + body, "\r\n.\r\n", 6);
	sess_handshake(s);
	sess_sendstr(s, SRV, "220 mx.example.org ESMTP\r\n");
	sess_sendstr(s, CLI, "EHLO good.example\r\n");
	sess_sendstr(s, SRV, "250-mx.example.org\r\n250 PIPELINING\r\n");
	sess_sendstr(s, CLI, "MAIL FROM:<a@good.example>\r\nRCPT TO:<postmaster@example.org>\r\nDATA\r\n");
	sess_sendstr(s, SRV, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
	sess_send(s, CLI, b, body + 5);
	sess_sendstr(s, SRV, "250 2.0.0 Ok: queued as 4XYZ\r\n");
	sess_sendstr(s, CLI, "QUIT\r\n");
	sess_sendstr(s, SRV, "221 2.0.0 Bye\r\n");
	sess_close(s);
	free(b);
}

static int scenario(const char *name, const char *out)
{
	struct tcpsess s;
	int link = PW_EN10MB;

	if (!strcmp(name, "unknown-link")) {
		/* A link type rcptguard does not decode (DLT_USER0). */
		static const uint8_t frame[40];

		if (pcapw_open(&w, out, 147, 65535))
			return -1;
		pcapw_frame(&w, 0, frame, sizeof(frame));
		return pcapw_close(&w);
	}
	if (!strcmp(name, "sll2-ipv6-ext"))
		link = PW_SLL2;
	else if (!strcmp(name, "raw-mixed"))
		link = PW_RAW;
	else if (!strcmp(name, "null-loopback"))
		link = PW_NULL;
	else if (!strcmp(name, "snaplen"))
		link = PW_SLL;
	if (pcapw_open(&w, out, link, !strcmp(name, "snaplen") ? 96 : 65535))
		return -1;

	if (!strcmp(name, "qinq-pipelined")) {
		/* Two tags, IPv4 options, one pipelined burst of 40 probes. */
		session(&s, link, "198.18.10.1", 41000, "198.18.0.25", 1000);
		s.vlan_tags = 2;
		s.ip4_options = true;
		harvest(&s, 40, true, "q");
	} else if (!strcmp(name, "sll2-ipv6-ext")) {
		/* IPv6 with extension headers, two hosts of one /64 and a
		 * legitimate sender from another. */
		session(&s, link, "fd00:66::1", 41000, "fd00::25", 2000);
		s.ip6_ext = true;
		harvest(&s, 6, false, "a");
		session(&s, link, "fd00:66::2", 41001, "fd00::25", 3000);
		s.ip6_ext = true;
		harvest(&s, 6, false, "b");
		session(&s, link, "fd00:77::1", 41002, "fd00::25", 4000);
		delivery(&s, 3000);
	} else if (!strcmp(name, "raw-mixed")) {
		/* Raw IP, tiny segments, a delivery then a harvest. */
		session(&s, link, "198.18.11.1", 41000, "198.18.0.25", 5000);
		s.mss = 3;
		delivery(&s, 200);
		session(&s, link, "198.18.11.2", 41001, "198.18.0.25", 6000);
		s.mss = 3;
		harvest(&s, 12, false, "r");
	} else if (!strcmp(name, "null-loopback")) {
		session(&s, link, "198.18.12.1", 41000, "198.18.0.25", 0xfffff000u);
		harvest(&s, 11, false, "w");	/* sequence numbers wrap */
	} else if (!strcmp(name, "snaplen")) {
		/* Captured with a 96-byte snaplen: replies are cut, the
		 * events cannot be read, and nothing is made up. */
		session(&s, link, "198.18.13.1", 41000, "198.18.0.25", 7000);
		harvest(&s, 12, false, "s");
	} else if (!strcmp(name, "malformed")) {
		uint8_t junk[64];

		/* Frames cut inside every header, then a normal harvest. */
		session(&s, link, "198.18.14.1", 41000, "198.18.0.25", 8000);
		for (uint32_t n = 0; n < 60; n += 6) {
			uint32_t len = sess_build(&s, CLI, 0x18, 1, 1, "QUIT\r\n", 6, junk);

			pcapw_frame(&w, s.t, junk, n < len ? n : len);
		}
		memset(junk, 0xff, sizeof(junk));
		pcapw_frame(&w, s.t, junk, sizeof(junk));	/* not IP */
		harvest(&s, 10, false, "m");
	} else {
		fprintf(stderr, "mkpcap: unknown scenario %s\n", name);
		pcapw_close(&w);
		return -1;
	}
	return pcapw_close(&w);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mkpcap SCENARIO OUT.pcap\n");
		return 1;
	}
	if (scenario(argv[1], argv[2])) {
		fprintf(stderr, "mkpcap: %s: failed\n", argv[2]);
		return 1;
	}
	return 0;
}
