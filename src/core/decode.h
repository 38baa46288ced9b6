/* Link, network and transport headers to a flat view of one TCP segment.
 * Pure: reads only the bytes it is given, never past caplen. */
#ifndef RCPTGUARD_DECODE_H
#define RCPTGUARD_DECODE_H

#include <stdint.h>
#include "addr.h"

/* Link types, numbered as libpcap's DLT_ values on Linux. */
enum {
	LINK_NULL = 0,		/* BSD loopback, host-order AF */
	LINK_EN10MB = 1,
	LINK_RAW = 12,		/* DLT_RAW on Linux (LINKTYPE_RAW 101 in files) */
	LINK_RAW_ALT = 14,	/* DLT_RAW as OpenBSD numbers it */
	LINK_LOOP = 108,	/* BSD loopback, network-order AF */
	LINK_LINUX_SLL = 113,
	LINK_IPV4 = 228,
	LINK_IPV6 = 229,
	LINK_LINUX_SLL2 = 276,
};

/* Why a packet was not decoded; DEC_OK and the "not ours" outcomes are not
 * errors, everything from DEC_ERR_FIRST on is a malformed or cut packet. */
enum dec_result {
	DEC_OK = 0,
	DEC_NOT_IP,		/* ARP, LLDP, ...: ignored */
	DEC_NOT_TCP,		/* UDP, ICMP, ESP, ...: ignored */
	DEC_FRAGMENT,		/* IP fragment: counted and skipped */
	DEC_ERR_FIRST,
	DEC_LINK_TRUNC = DEC_ERR_FIRST,
	DEC_IP4_TRUNC,
	DEC_IP4_BAD_HLEN,
	DEC_IP4_BAD_LEN,
	DEC_IP6_TRUNC,
	DEC_IP6_EXT_TRUNC,
	DEC_IP_BAD_VERSION,
	DEC_TCP_TRUNC,
	DEC_TCP_BAD_OFFSET,
	DEC_UNKNOWN_LINK,
	DEC_NRESULTS
};

const char *dec_result_name(enum dec_result r);

/* Which way the packet went, when the link layer says (SLL packet type,
 * pcap direction, NFQUEUE hook); replies are only believed when outbound. */
enum pkt_dir { DIR_UNKNOWN = 0, DIR_IN, DIR_OUT };

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

struct pkt {
	struct ipaddr src, dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint8_t dir;		/* enum pkt_dir */
	const uint8_t *payload;
	uint32_t len;		/* payload bytes present in the capture */
	uint32_t wire_len;	/* payload bytes the segment carried */
};

enum dec_result decode_packet(int link, const uint8_t *p, uint32_t caplen, struct pkt *out);
/* Decode starting at the IP header (NFQUEUE hands us that). */
enum dec_result decode_ip(const uint8_t *p, uint32_t caplen, struct pkt *out);

#endif
