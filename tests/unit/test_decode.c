/* Decoder: every link type, and no read past caplen at any truncation. */
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "pcapw.h"
#include "t.h"

static uint8_t frame[2048];

static uint32_t build(int link, const char *cli, const char *srv, void (*tweak)(struct tcpsess *))
{
	struct tcpsess s;

	sess_init(&s, NULL, NULL, link, cli, 40000, srv, 25, 1000, 2000);
	if (tweak)
		tweak(&s);
	return sess_build(&s, CLI, 0x18, 1001, 2001, "HELO x\r\n", 8, frame);
}

static int dlt(int link)
{
	return link == PW_RAW ? LINK_RAW : link;
}

static void v6ext(struct tcpsess *s) { s->ip6_ext = true; s->tcp_ts = true; }
static void qinq(struct tcpsess *s) { s->vlan_tags = 2; s->ip4_options = true; }
static void dot1q(struct tcpsess *s) { s->vlan_tags = 1; }

static const struct {
	int link;
	const char *cli, *srv;
	void (*tweak)(struct tcpsess *);
} cases[] = {
	{ PW_EN10MB, "198.18.0.1", "198.18.1.1", NULL },
	{ PW_EN10MB, "198.18.0.1", "198.18.1.1", dot1q },
	{ PW_EN10MB, "198.18.0.1", "198.18.1.1", qinq },
	{ PW_EN10MB, "fd00::1", "fd00::2", v6ext },
	{ PW_SLL, "198.18.0.1", "198.18.1.1", NULL },
	{ PW_SLL2, "fd00::1", "fd00::2", v6ext },
	{ PW_RAW, "198.18.0.1", "198.18.1.1", qinq },
	{ PW_RAW, "fd00::1", "fd00::2", NULL },
	{ PW_IPV4, "198.18.0.1", "198.18.1.1", NULL },
	{ PW_IPV6, "fd00::1", "fd00::2", v6ext },
	{ PW_NULL, "198.18.0.1", "198.18.1.1", NULL },
	{ PW_NULL, "fd00::1", "fd00::2", NULL },
	{ PW_LOOP, "198.18.0.1", "198.18.1.1", NULL },
};

TEST(decode_all_link_types)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t n = build(cases[i].link, cases[i].cli, cases[i].srv, cases[i].tweak);
		struct pkt k;

		CHECK_EQ(decode_packet(dlt(cases[i].link), frame, n, &k), DEC_OK);
		CHECK_EQ(k.sport, 40000);
		CHECK_EQ(k.dport, 25);
		CHECK_EQ(k.seq, 1001);
		CHECK_EQ(k.ack, 2001);
		CHECK_EQ(k.len, 8);
		CHECK_EQ(k.wire_len, 8);
		CHECK(memcmp(k.payload, "HELO x\r\n", 8) == 0);
		CHECK_EQ(k.src.af, strchr(cases[i].cli, ':') ? 6 : 4);
	}
}

/* Every prefix of every frame: an error or a shorter payload, never a read
 * beyond the end (ASan build watches; the copy makes the end exact). */
TEST(decode_every_truncation_is_safe)
{
	int errors = 0, cut_payload = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t n = build(cases[i].link, cases[i].cli, cases[i].srv, cases[i].tweak);

		for (uint32_t len = 0; len < n; len++) {
			uint8_t *copy = malloc(len ? len : 1);
			struct pkt k;
			enum dec_result r;

			memcpy(copy, frame, len);
			r = decode_packet(dlt(cases[i].link), copy, len, &k);
			if (r == DEC_OK) {
				CHECK(k.len < k.wire_len);
				cut_payload++;
			} else {
				CHECK(r >= DEC_ERR_FIRST);
				errors++;
			}
			free(copy);
		}
	}
	CHECK(errors > 500);
	CHECK(cut_payload > 50);
}

TEST(decode_fragments_and_other_protocols)
{
	uint32_t n = build(PW_RAW, "198.18.0.1", "198.18.1.1", NULL);
	struct pkt k;

	frame[6] = 0x20;	/* MF */
	CHECK_EQ(decode_packet(LINK_RAW, frame, n, &k), DEC_FRAGMENT);
	frame[6] = 0x00;
	frame[7] = 0x10;	/* offset 16 */
	CHECK_EQ(decode_packet(LINK_RAW, frame, n, &k), DEC_FRAGMENT);
	frame[7] = 0;
	frame[9] = 17;		/* UDP */
	CHECK_EQ(decode_packet(LINK_RAW, frame, n, &k), DEC_NOT_TCP);
	frame[0] = 0x35;	/* version 3 */
	CHECK_EQ(decode_packet(LINK_RAW, frame, n, &k), DEC_IP_BAD_VERSION);
	frame[0] = 0x44;	/* IHL 4 */
	CHECK_EQ(decode_packet(LINK_RAW, frame, n, &k), DEC_IP4_BAD_HLEN);

	n = build(PW_EN10MB, "198.18.0.1", "198.18.1.1", NULL);
	frame[12] = 0x08;
	frame[13] = 0x06;	/* ARP */
	CHECK_EQ(decode_packet(LINK_EN10MB, frame, n, &k), DEC_NOT_IP);
	CHECK_EQ(decode_packet(147, frame, n, &k), DEC_UNKNOWN_LINK);
}

TEST(decode_ipv6_fragment_header)
{
	struct tcpsess s;
	uint8_t pkt[256];
	uint32_t n;
	struct pkt k;

	sess_init(&s, NULL, NULL, PW_RAW, "fd00::1", 40000, "fd00::2", 25, 1, 2);
	s.ip6_ext = true;
	n = sess_build(&s, CLI, 0x18, 2, 3, "QUIT\r\n", 6, pkt);
	/* Turn the destination-options header into a fragment header. */
	pkt[40 + 0] = 44;	/* hop-by-hop -> fragment */
	pkt[48] = 6;
	pkt[49] = 0;
	pkt[50] = 0;
	pkt[51] = 0;		/* offset 0, M 0: an atomic fragment */
	CHECK_EQ(decode_packet(LINK_RAW, pkt, n, &k), DEC_OK);
	CHECK_EQ(k.len, 6);
	pkt[51] = 1;		/* M set: a real fragment */
	CHECK_EQ(decode_packet(LINK_RAW, pkt, n, &k), DEC_FRAGMENT);
}

TEST(decode_tcp_bad_offset)
{
	uint32_t n = build(PW_RAW, "198.18.0.1", "198.18.1.1", NULL);
	struct pkt k;

	frame[20 + 12] = 0x40;	/* data offset 4 words < 5 */
	CHECK_EQ(decode_packet(LINK_RAW, frame, n, &k), DEC_TCP_BAD_OFFSET);
	frame[20 + 12] = 0xf0;	/* 60 bytes, more than the segment */
	CHECK_EQ(decode_packet(LINK_RAW, frame, n, &k), DEC_TCP_BAD_OFFSET);
}
