/* A small pcap writer and TCP session synthesiser for tests, fixtures and
 * the benchmark capture. Frames go to a sink: a pcap file, or a function
 * (unit tests feed them straight into the pipeline). */
#ifndef RCPTGUARD_TEST_PCAPW_H
#define RCPTGUARD_TEST_PCAPW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef void (*frame_fn)(void *arg, int64_t ts_us, const uint8_t *frame, uint32_t len);

struct pcapw {
	FILE *f;
	uint32_t snaplen;
	uint64_t frames;
};

int pcapw_open(struct pcapw *w, const char *path, int linktype, uint32_t snaplen);
void pcapw_frame(void *w, int64_t ts_us, const uint8_t *frame, uint32_t len);
int pcapw_close(struct pcapw *w);

/* Link types the synthesiser can frame (pcap LINKTYPE_ numbers). */
enum {
	PW_NULL = 0, PW_EN10MB = 1, PW_RAW = 101, PW_LOOP = 108,
	PW_SLL = 113, PW_IPV4 = 228, PW_IPV6 = 229, PW_SLL2 = 276,
};

enum { CLI = 0, SRV = 1 };

struct tcpsess {
	frame_fn emit;
	void *arg;
	int link;		/* PW_* */
	int vlan_tags;		/* Ethernet: 0, 1 (802.1Q) or 2 (QinQ) */
	bool ip4_options;	/* add a 4-byte IPv4 option (NOP x4... router alert) */
	bool ip6_ext;		/* hop-by-hop + destination options before TCP */
	bool tcp_ts;		/* TCP timestamp option on every segment */
	int af;			/* 4 or 6 */
	uint8_t addr[2][16];
	uint16_t port[2];
	uint32_t seq[2];	/* next sequence number each side sends */
	uint32_t mss;		/* payload per segment */
	uint32_t ack_every;	/* peer ACKs every n segments (0: once at the end) */
	int64_t t;		/* current time, us */
	int64_t step;		/* time between frames, us */
	uint32_t ip_id;
};

/* A session between cli and srv (text addresses, v4 or v6). */
void sess_init(struct tcpsess *s, frame_fn emit, void *arg, int link,
	       const char *cli, uint16_t cport, const char *srv, uint16_t sport,
	       uint32_t cli_isn, uint32_t srv_isn);
/* One raw segment, exactly as given. */
void sess_segment(struct tcpsess *s, int from, uint8_t flags, uint32_t seq,
		  const void *data, uint32_t len);
void sess_handshake(struct tcpsess *s);
/* Data from one side in mss-sized segments, then the peer's ACK. */
void sess_send(struct tcpsess *s, int from, const void *data, size_t len);
void sess_sendstr(struct tcpsess *s, int from, const char *str);
void sess_close(struct tcpsess *s);

/* Build one frame into out (at least 256 + len bytes); returns its length. */
uint32_t sess_build(struct tcpsess *s, int from, uint8_t flags, uint32_t seq, uint32_t ack,
		    const void *data, uint32_t len, uint8_t *out);

#endif
