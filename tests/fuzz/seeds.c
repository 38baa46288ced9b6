/* Seed corpora for the fuzzers, from the test fixtures:
 *   seeds decode DIR PCAP...   each frame, prefixed with its link index
 *   seeds smtp DIR PCAP...     each capture's TCP payloads as records
 * (the formats fuzz_decode.c and fuzz_smtp.c read). */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

static const int links[] = { 1, 113, 276, 12, 14, 101, 228, 229, 0, 108 };

static int link_index(int dlt)
{
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (links[i] == dlt)
			return (int)i;
	return -1;
}

static void write_file(const char *dir, const char *name, int n, const void *p, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s-%04d", dir, name, n);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	int nfile = 0;

	if (argc < 4 || (strcmp(argv[1], "decode") && strcmp(argv[1], "smtp"))) {
		fprintf(stderr, "usage: seeds decode|smtp DIR PCAP...\n");
		return 2;
	}
	for (int a = 3; a < argc; a++) {
		pcap_t *pc = pcap_open_offline(argv[a], err);
		struct pcap_pkthdr *h;
		const u_char *d;
		int li, n = 0;
		uint8_t *rec = malloc(1 << 20);
		size_t rlen = 1;

		if (!pc) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		li = link_index(pcap_datalink(pc));
		rec[0] = 1;	/* verified session */
		while (li >= 0 && pcap_next_ex(pc, &h, &d) == 1) {
			if (!strcmp(argv[1], "decode")) {
				uint8_t buf[65536 + 1];

				if (n++ >= 40 || h->caplen > 65536)
					continue;
				buf[0] = (uint8_t)li;
				memcpy(buf + 1, d, h->caplen);
				write_file(argv[2], "frame", nfile++, buf, h->caplen + 1u);
			} else {
				struct pkt k;

				if (decode_packet(links[li], d, h->caplen, &k) != DEC_OK || !k.len)
					continue;
				for (uint32_t o = 0; o < k.len && rlen + 128 < (1 << 20);) {
					uint32_t len = k.len - o > 127 ? 127 : k.len - o;

					rec[rlen++] = (uint8_t)(len | (k.sport == 25 ? 0x80 : 0));
					memcpy(rec + rlen, k.payload + o, len);
					rlen += len;
					o += len;
				}
			}
		}
		if (!strcmp(argv[1], "smtp") && rlen > 1)
			write_file(argv[2], "session", nfile++, rec, rlen < 65536 ? rlen : 65536);
		free(rec);
		pcap_close(pc);
	}
	return 0;
}
