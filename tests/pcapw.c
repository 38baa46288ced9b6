#include "pcapw.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

int pcapw_open(struct pcapw *w, const char *path, int linktype, uint32_t snaplen)
{
	/* The classic pcap header, microsecond timestamps, our byte order. */
	struct {
		uint32_t magic;
		uint16_t major, minor;
		int32_t zone;
		uint32_t sigfigs, snaplen, linktype;
	} h = { 0xa1b2c3d4, 2, 4, 0, 0, snaplen, (uint32_t)linktype };

	memset(w, 0, sizeof(*w));
	w->snaplen = snaplen;
	w->f = fopen(path, "wb");
	if (!w->f)
		return -1;
	/* Big buffers: the benchmark capture is a few hundred megabytes. */
	setvbuf(w->f, NULL, _IOFBF, 1 << 20);
	return fwrite(&h, sizeof(h), 1, w->f) == 1 ? 0 : -1;
}

void pcapw_frame(void *arg, int64_t ts, const uint8_t *frame, uint32_t len)
{
	struct pcapw *w = arg;
	uint32_t cap = len < w->snaplen ? len : w->snaplen;
	uint32_t rec[4] = {
		(uint32_t)(ts / 1000000), (uint32_t)(ts % 1000000), cap, len,
	};

	fwrite(rec, sizeof(rec), 1, w->f);
	fwrite(frame, 1, cap, w->f);
	w->frames++;
}

int pcapw_close(struct pcapw *w)
{
	int rc = ferror(w->f) ? -1 : 0;

	if (fclose(w->f))
		rc = -1;
	w->f = NULL;
	return rc;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

void sess_init(struct tcpsess *s, frame_fn emit, void *arg, int link,
	       const char *cli, uint16_t cport, const char *srv, uint16_t sport,
	       uint32_t cli_isn, uint32_t srv_isn)
{
	memset(s, 0, sizeof(*s));
	s->emit = emit;
	s->arg = arg;
	s->link = link;
	s->af = strchr(cli, ':') ? 6 : 4;
	inet_pton(s->af == 4 ? AF_INET : AF_INET6, cli, s->addr[CLI]);
	inet_pton(s->af == 4 ? AF_INET : AF_INET6, srv, s->addr[SRV]);
	s->port[CLI] = cport;
	s->port[SRV] = sport;
	s->seq[CLI] = cli_isn;
	s->seq[SRV] = srv_isn;
	s->mss = 1448;
	s->t = INT64_C(1790000000) * 1000000;	/* 2026-09-21, any fixed instant */
	s->step = 100;
	s->ip_id = 1;
}

uint32_t sess_build(struct tcpsess *s, int from, uint8_t flags, uint32_t seq, uint32_t ack,
		    const void *data, uint32_t len, uint8_t *out)
{
	int to = 1 - from;
	uint8_t *p = out, *ip, *tcp;
	uint32_t tcplen = 20 + (s->tcp_ts ? 12 : 0), iphlen, sum;
	uint16_t ethertype = s->af == 4 ? 0x0800 : 0x86dd;

	switch (s->link) {
	case PW_EN10MB: {
		static const uint8_t mac[2][6] = {
			{ 0x02, 0, 0, 0, 0, 0x01 }, { 0x02, 0, 0, 0, 0, 0x02 },
		};

		memcpy(p, mac[to], 6);
		memcpy(p + 6, mac[from], 6);
		p += 12;
		for (int i = 0; i < s->vlan_tags; i++) {
			put16(p, i == 0 && s->vlan_tags == 2 ? 0x88a8 : 0x8100);
			put16(p + 2, (uint16_t)(100 + i));
			p += 4;
		}
		put16(p, ethertype);
		p += 2;
		break;
	}
	case PW_SLL:
		put16(p, from == SRV ? 4 : 0);	/* the capture is on the server */
		put16(p + 2, 1);
		put16(p + 4, 6);
		memset(p + 6, 0, 8);
		p[6 + 5] = (uint8_t)(from + 1);
		put16(p + 14, ethertype);
		p += 16;
		break;
	case PW_SLL2:
		put16(p, ethertype);
		put16(p + 2, 0);
		put32(p + 4, 2);		/* ifindex */
		put16(p + 8, 1);		/* ARPHRD_ETHER */
		p[10] = from == SRV ? 4 : 0;
		p[11] = 6;
		memset(p + 12, 0, 8);
		p += 20;
		break;
	case PW_NULL: {
		uint32_t af = s->af == 4 ? 2 : 24;

		memcpy(p, &af, 4);		/* host order, as BSD writes it */
		p += 4;
		break;
	}
	case PW_LOOP:
		put32(p, s->af == 4 ? 2 : 24);
		p += 4;
		break;
	default:			/* raw IP */
		break;
	}
	ip = p;
	if (s->af == 4) {
		iphlen = 20 + (s->ip4_options ? 4 : 0);
		memset(ip, 0, iphlen);
		ip[0] = (uint8_t)(0x40 | iphlen / 4);
		put16(ip + 2, (uint16_t)(iphlen + tcplen + len));
		put16(ip + 4, (uint16_t)s->ip_id++);
		put16(ip + 6, 0x4000);		/* DF */
		ip[8] = 64;
		ip[9] = 6;
		memcpy(ip + 12, s->addr[from], 4);
		memcpy(ip + 16, s->addr[to], 4);
		if (s->ip4_options) {
			ip[20] = 0x94;		/* router alert */
			ip[21] = 4;
		}
		put16(ip + 10, csum_fold(csum_add(0, ip, iphlen)));
	} else {
		uint32_t ext = s->ip6_ext ? 16 : 0;

		iphlen = 40 + ext;
		memset(ip, 0, iphlen);
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)(ext + tcplen + len));
		ip[6] = s->ip6_ext ? 0 : 6;	/* hop-by-hop first */
		ip[7] = 64;
		memcpy(ip + 8, s->addr[from], 16);
		memcpy(ip + 24, s->addr[to], 16);
		if (s->ip6_ext) {
			ip[40] = 60;		/* then destination options */
			ip[41] = 0;		/* 8 bytes: PadN */
			ip[42] = 1;
			ip[43] = 4;
			ip[48] = 6;		/* then TCP */
			ip[49] = 0;
			ip[50] = 1;
			ip[51] = 4;
		}
	}
	tcp = ip + iphlen;
	memset(tcp, 0, tcplen);
	put16(tcp, s->port[from]);
	put16(tcp + 2, s->port[to]);
	put32(tcp + 4, seq);
	put32(tcp + 8, ack);
	tcp[12] = (uint8_t)((tcplen / 4) << 4);
	tcp[13] = flags;
	put16(tcp + 14, 65535);
	if (s->tcp_ts) {
		tcp[20] = 1;
		tcp[21] = 1;
		tcp[22] = 8;
		tcp[23] = 10;
		put32(tcp + 24, (uint32_t)(s->t / 1000));
		put32(tcp + 28, 0);
	}
	if (len)
		memcpy(tcp + tcplen, data, len);
	/* TCP checksum over the pseudo-header, so that tshark is happy. */
	sum = 0;
	if (s->af == 4) {
		sum = csum_add(sum, ip + 12, 8);
	} else {
		sum = csum_add(sum, ip + 8, 32);
	}
	sum += 6 + tcplen + len;
	sum = csum_add(sum, tcp, tcplen + len);
	put16(tcp + 16, csum_fold(sum));
	return (uint32_t)(tcp + tcplen + len - out);
}

void sess_segment(struct tcpsess *s, int from, uint8_t flags, uint32_t seq,
		  const void *data, uint32_t len)
{
	uint8_t *buf = malloc(len + 256);
	uint32_t n, ack = (flags & 0x10) ? s->seq[1 - from] : 0;

	n = sess_build(s, from, flags, seq, ack, data, len, buf);
	s->emit(s->arg, s->t, buf, n);
	s->t += s->step;
	free(buf);
}

void sess_handshake(struct tcpsess *s)
{
	sess_segment(s, CLI, 0x02, s->seq[CLI], NULL, 0);
	s->seq[CLI]++;
	sess_segment(s, SRV, 0x12, s->seq[SRV], NULL, 0);
	s->seq[SRV]++;
	sess_segment(s, CLI, 0x10, s->seq[CLI], NULL, 0);
}

void sess_send(struct tcpsess *s, int from, const void *data, size_t len)
{
	const uint8_t *d = data;
	uint32_t segs = 0;

	while (len) {
		uint32_t n = len < s->mss ? (uint32_t)len : s->mss;

		sess_segment(s, from, 0x18, s->seq[from], d, n);
		s->seq[from] += n;
		d += n;
		len -= n;
		if (s->ack_every && ++segs % s->ack_every == 0 && len)
			sess_segment(s, 1 - from, 0x10, s->seq[1 - from], NULL, 0);
	}
	sess_segment(s, 1 - from, 0x10, s->seq[1 - from], NULL, 0);
}

void sess_sendstr(struct tcpsess *s, int from, const char *str)
{
	sess_send(s, from, str, strlen(str));
}

void sess_close(struct tcpsess *s)
{
	sess_segment(s, SRV, 0x11, s->seq[SRV], NULL, 0);
	s->seq[SRV]++;
	sess_segment(s, CLI, 0x11, s->seq[CLI], NULL, 0);
	s->seq[CLI]++;
	sess_segment(s, SRV, 0x10, s->seq[SRV], NULL, 0);
}
