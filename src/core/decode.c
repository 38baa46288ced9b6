#include "decode.h"

#include <string.h>

static const char *const dec_names[DEC_NRESULTS] = {
	[DEC_OK] = "ok",
	[DEC_NOT_IP] = "not_ip",
	[DEC_NOT_TCP] = "not_tcp",
	[DEC_FRAGMENT] = "ip_fragment",
	[DEC_LINK_TRUNC] = "link_truncated",
	[DEC_IP4_TRUNC] = "ipv4_truncated",
	[DEC_IP4_BAD_HLEN] = "ipv4_bad_header_length",
	[DEC_IP4_BAD_LEN] = "ipv4_bad_total_length",
	[DEC_IP6_TRUNC] = "ipv6_truncated",
	[DEC_IP6_EXT_TRUNC] = "ipv6_extension_truncated",
	[DEC_IP_BAD_VERSION] = "ip_bad_version",
	[DEC_TCP_TRUNC] = "tcp_truncated",
	[DEC_TCP_BAD_OFFSET] = "tcp_bad_data_offset",
	[DEC_UNKNOWN_LINK] = "unknown_link_type",
};

const char *dec_result_name(enum dec_result r)
{
	return (unsigned)r < DEC_NRESULTS ? dec_names[r] : "?";
}

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define IPPROTO_TCP_ 6

/* caplen: bytes present; wire: bytes the transport segment had on the wire. */
static enum dec_result decode_tcp(const uint8_t *p, uint32_t caplen, uint32_t wire,
				  struct pkt *out)
{
	uint32_t off;

	if (caplen < 20)
		return DEC_TCP_TRUNC;
	off = (uint32_t)(p[12] >> 4) * 4;
	if (off < 20 || off > wire)
		return DEC_TCP_BAD_OFFSET;
	if (off > caplen)
		return DEC_TCP_TRUNC;
	out->sport = rd16(p);
	out->dport = rd16(p + 2);
	out->seq = rd32(p + 4);
	out->ack = rd32(p + 8);
	out->flags = p[13] & 0x3f;
	out->payload = p + off;
	out->len = caplen - off;
	out->wire_len = wire - off;
	return DEC_OK;
}

static enum dec_result decode_ip4(const uint8_t *p, uint32_t caplen, struct pkt *out)
{
	uint32_t hlen, total;
	uint16_t frag;

	if (caplen < 20)
		return DEC_IP4_TRUNC;
	hlen = (uint32_t)(p[0] & 0x0f) * 4;
	if (hlen < 20)
		return DEC_IP4_BAD_HLEN;
	if (hlen > caplen)
		return DEC_IP4_TRUNC;
	total = rd16(p + 2);
	/* A zero total length is what a sender's capture shows under TCP
	 * segmentation offload: the kernel fills it in later. */
	if (total == 0)
		total = caplen;
	if (total < hlen)
		return DEC_IP4_BAD_LEN;
	frag = rd16(p + 6);
	if (frag & 0x3fff)		/* MF set or a non-zero offset */
		return DEC_FRAGMENT;
	if (p[9] != IPPROTO_TCP_)
		return DEC_NOT_TCP;
	memset(&out->src, 0, sizeof(out->src));
	memset(&out->dst, 0, sizeof(out->dst));
	out->src.af = out->dst.af = 4;
	memcpy(out->src.b, p + 12, 4);
	memcpy(out->dst.b, p + 16, 4);
	/* Ethernet pads short frames: trust the IP length, not caplen. */
	if (caplen > total)
		caplen = total;
	return decode_tcp(p + hlen, caplen - hlen, total - hlen, out);
}

static enum dec_result decode_ip6(const uint8_t *p, uint32_t caplen, struct pkt *out)
{
	uint32_t off = 40, wire;
	uint8_t nh;
	int hops;

	if (caplen < 40)
		return DEC_IP6_TRUNC;
	wire = 40u + rd16(p + 4);
	if (wire == 40)			/* jumbogram or TSO: use what we have */
		wire = caplen;
	if (caplen > wire)
		caplen = wire;
	nh = p[6];
	/* Every extension header is at least 8 bytes, so the chain is bounded
	 * by the packet length; the hop cap is belt and braces. */
	for (hops = 0; hops < 32; hops++) {
		switch (nh) {
		case IPPROTO_TCP_:
			memset(&out->src, 0, sizeof(out->src));
			memset(&out->dst, 0, sizeof(out->dst));
			out->src.af = out->dst.af = 6;
			memcpy(out->src.b, p + 8, 16);
			memcpy(out->dst.b, p + 24, 16);
			if (off > wire)
				return DEC_IP6_EXT_TRUNC;
			return decode_tcp(p + off, caplen - off, wire - off, out);
		case 0:		/* hop-by-hop options */
		case 43:	/* routing */
		case 60:	/* destination options */
		case 135:	/* mobility */
		case 139:	/* HIP */
		case 140:	/* shim6 */
			if (off + 8 > caplen)
				return DEC_IP6_EXT_TRUNC;
			nh = p[off];
			off += 8u + (uint32_t)p[off + 1] * 8;
			break;
		case 51:	/* authentication header counts 4-byte units */
			if (off + 8 > caplen)
				return DEC_IP6_EXT_TRUNC;
			nh = p[off];
			off += ((uint32_t)p[off + 1] + 2) * 4;
			break;
		case 44: {	/* fragment */
			uint16_t fo;

			if (off + 8 > caplen)
				return DEC_IP6_EXT_TRUNC;
			fo = rd16(p + off + 2);
			/* An atomic fragment (offset 0, no M flag) is whole. */
			if (fo & 0xfff9)
				return DEC_FRAGMENT;
			nh = p[off];
			off += 8;
			break;
		}
		default:	/* ESP, ICMPv6, UDP, no-next-header, ... */
			return DEC_NOT_TCP;
		}
		if (off > caplen)
			return DEC_IP6_EXT_TRUNC;
	}
	return DEC_IP6_EXT_TRUNC;
}

enum dec_result decode_ip(const uint8_t *p, uint32_t caplen, struct pkt *out)
{
	if (caplen < 1)
		return DEC_IP4_TRUNC;
	switch (p[0] >> 4) {
	case 4:
		return decode_ip4(p, caplen, out);
	case 6:
		return decode_ip6(p, caplen, out);
	default:
		return DEC_IP_BAD_VERSION;
	}
}

static enum dec_result decode_ethertype(uint16_t type, const uint8_t *p, uint32_t caplen,
					struct pkt *out)
{
	int tags;

	/* 802.1Q, 802.1ad (QinQ) and the old 0x9100: four bytes each. */
	for (tags = 0; type == 0x8100 || type == 0x88a8 || type == 0x9100; tags++) {
		if (tags == 8 || caplen < 4)
			return DEC_LINK_TRUNC;
		type = rd16(p + 2);
		p += 4;
		caplen -= 4;
	}
	if (type == 0x0800) {
		if (caplen && (p[0] >> 4) != 4)
			return DEC_IP_BAD_VERSION;
		return decode_ip4(p, caplen, out);
	}
	if (type == 0x86dd) {
		if (caplen && (p[0] >> 4) != 6)
			return DEC_IP_BAD_VERSION;
		return decode_ip6(p, caplen, out);
	}
	return DEC_NOT_IP;
}

/* Address family numbers that BSD-style loopback headers use for IPv6 on
 * the various systems that write them. */
static enum dec_result decode_bsd_af(uint32_t af, const uint8_t *p, uint32_t caplen,
				     struct pkt *out)
{
	switch (af) {
	case 2:
		return decode_ip4(p, caplen, out);
	case 10: case 24: case 28: case 30:
		return decode_ip6(p, caplen, out);
	default:
		return DEC_NOT_IP;
	}
}

enum dec_result decode_packet(int link, const uint8_t *p, uint32_t caplen, struct pkt *out)
{
	out->dir = DIR_UNKNOWN;
	switch (link) {
	case LINK_EN10MB:
		if (caplen < 14)
			return DEC_LINK_TRUNC;
		return decode_ethertype(rd16(p + 12), p + 14, caplen - 14, out);
	case LINK_LINUX_SLL: {
		uint16_t pkttype;
		enum dec_result r;

		if (caplen < 16)
			return DEC_LINK_TRUNC;
		pkttype = rd16(p);
		r = decode_ethertype(rd16(p + 14), p + 16, caplen - 16, out);
		out->dir = pkttype == 4 ? DIR_OUT : DIR_IN;
		return r;
	}
	case LINK_LINUX_SLL2: {
		enum dec_result r;

		if (caplen < 20)
			return DEC_LINK_TRUNC;
		r = decode_ethertype(rd16(p), p + 20, caplen - 20, out);
		out->dir = p[10] == 4 ? DIR_OUT : DIR_IN;
		return r;
	}
	case LINK_RAW:
	case LINK_RAW_ALT:
		return decode_ip(p, caplen, out);
	case LINK_IPV4:
		if (caplen && (p[0] >> 4) != 4)
			return DEC_IP_BAD_VERSION;
		return decode_ip4(p, caplen, out);
	case LINK_IPV6:
		if (caplen && (p[0] >> 4) != 6)
			return DEC_IP_BAD_VERSION;
		return decode_ip6(p, caplen, out);
	case LINK_NULL: {
		uint32_t af;

		if (caplen < 4)
			return DEC_LINK_TRUNC;
		/* Host order of the machine that wrote the file: accept both. */
		memcpy(&af, p, 4);
		if (af > 0xffff)
			af = __builtin_bswap32(af);
		return decode_bsd_af(af, p + 4, caplen - 4, out);
	}
	case LINK_LOOP:
		if (caplen < 4)
			return DEC_LINK_TRUNC;
		return decode_bsd_af(rd32(p), p + 4, caplen - 4, out);
	default:
		return DEC_UNKNOWN_LINK;
	}
}
