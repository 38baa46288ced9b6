/* capcheck CAPTURE: read a capture twice, once with libpcap's
 * pcap_next_ex and once with replay's reader (src/cli/capfile.c, which
 * maps a classic pcap file), and compare every frame: time, captured
 * length and bytes, then how each read ended. Prints
 *   frames=N end=R mapped=M
 * where R is the last answer (-2 the end, -1 an error) and M whether the
 * file was mapped; exit 0 when the two agree, 1 with the first
 * difference on stderr.
 *
 * capcheck swap IN OUT: write IN, a classic pcap file of this host's byte
 * order, in the other byte order (for the test of swapped files).
 * capcheck poke FILE OFFSET VALUE: write VALUE as a 32-bit word of this
 * host's order at OFFSET of FILE (to damage a header on purpose). */
#include <byteswap.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capfile.h"

static void swap32_at(unsigned char *p)
{
	uint32_t w;

	memcpy(&w, p, sizeof(w));
	w = bswap_32(w);
	memcpy(p, &w, sizeof(w));
}

static void swap16_at(unsigned char *p)
{
	uint16_t s;

	memcpy(&s, p, sizeof(s));
	s = bswap_16(s);
	memcpy(p, &s, sizeof(s));
}

static int swap_file(const char *in, const char *out)
{
	static unsigned char buf[CAPFILE_CAPLEN_MAX];
	FILE *fi = fopen(in, "rb"), *fo = fopen(out, "wb");
	unsigned char h[CAPFILE_HEADER], r[CAPFILE_RECORD];

	if (!fi || !fo || fread(h, sizeof(h), 1, fi) != 1)
		return 2;
	/* The magic, two 16-bit version numbers, then four words. */
	swap32_at(h);
	swap16_at(h + 4);
	swap16_at(h + 6);
	for (int i = 8; i < 24; i += 4)
		swap32_at(h + i);
	fwrite(h, sizeof(h), 1, fo);
	while (fread(r, sizeof(r), 1, fi) == 1) {
		uint32_t caplen;

		memcpy(&caplen, r + 8, 4);
		if (caplen > sizeof(buf) || fread(buf, 1, caplen, fi) != caplen)
			return 2;
		for (int i = 0; i < 16; i += 4)
			swap32_at(r + i);
		fwrite(r, sizeof(r), 1, fo);
		fwrite(buf, 1, caplen, fo);
	}
	return fclose(fo) || fclose(fi) ? 2 : 0;
}

static int poke(const char *path, long off, uint32_t v)
{
	FILE *f = fopen(path, "r+b");

	if (!f || fseek(f, off, SEEK_SET) || fwrite(&v, sizeof(v), 1, f) != 1)
		return 2;
	return fclose(f) ? 2 : 0;
}

static pcap_t *open_file(const char *path)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, err);

	if (!pc)
		fprintf(stderr, "capcheck: %s: %s\n", path, err);
	return pc;
}

int main(int argc, char **argv)
{
	pcap_t *a, *b;
	struct capfile cf;
	unsigned long long n = 0;
	int ra, rb;

	if (argc == 4 && !strcmp(argv[1], "swap"))
		return swap_file(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "poke"))
		return poke(argv[2], strtol(argv[3], NULL, 0), (uint32_t)strtoul(argv[4], NULL, 0));
	if (argc != 2) {
		fprintf(stderr, "usage: capcheck CAPTURE | swap IN OUT | poke FILE OFFSET VALUE\n");
		return 2;
	}
	a = open_file(argv[1]);
	b = open_file(argv[1]);
	if (!a || !b)
		return 2;
	capfile_open(&cf, b);
	for (;;) {
		struct pcap_pkthdr *h;
		const u_char *d;
		struct capframe fr;

		ra = pcap_next_ex(a, &h, &d);
		rb = capfile_next(&cf, &fr);
		if (ra != rb) {
			fprintf(stderr, "capcheck: frame %llu: libpcap says %d (%s), replay's reader %d (%s)\n",
				n + 1, ra, ra == PCAP_ERROR ? pcap_geterr(a) : "", rb,
				rb == PCAP_ERROR ? capfile_err(&cf) : "");
			return 1;
		}
		if (ra != 1)
			break;
		n++;
		if (fr.ts != (usec_t)h->ts.tv_sec * USEC_PER_SEC + h->ts.tv_usec ||
		    fr.caplen != h->caplen || memcmp(fr.data, d, h->caplen)) {
			fprintf(stderr, "capcheck: frame %llu differs (caplen %u and %u)\n", n, h->caplen,
				fr.caplen);
			return 1;
		}
	}
	if (ra == PCAP_ERROR)
		fprintf(stderr, "capcheck: both stop at frame %llu: libpcap: %s; replay's reader: %s\n",
			n + 1, pcap_geterr(a), capfile_err(&cf));
	printf("frames=%llu end=%d mapped=%d\n", n, ra, capfile_mapped(&cf));
	capfile_close(&cf);
	pcap_close(a);
	pcap_close(b);
	return 0;
}
