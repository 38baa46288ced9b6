/* feedcheck CAPTURE [ahead|reader|pipeline]: the replay's two-thread
 * hand-over (src/cli/feed.c) over a capture, built with ThreadSanitizer
 * by make check, with the frames decoded by the side ahead (the default),
 * always by the reader, or always by the pipeline; prints what the
 * pipeline found, for comparison with rcptguard replay, then how many of
 * the chunks the reader decoded:
 *   packets=N rejected=N accepted=N bans=N rc=N
 *   decoded=N/N
 * A data race between the reader and the pipeline makes TSan fail it. */
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "feed.h"
#include "pipeline.h"

static void on_ban(void *arg, const struct ban *b)
{
	(void)b;
	(*(unsigned long long *)arg)++;
}

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct config cfg;
	struct pipeline p;
	struct feed_result fr;
	unsigned long long bans = 0;
	enum feed_decoding decoding = FEED_DECODE_AHEAD;
	struct capfile cf;
	pcap_t *pc;

	if (argc == 3 && !strcmp(argv[2], "reader"))
		decoding = FEED_DECODE_READER;
	else if (argc == 3 && !strcmp(argv[2], "pipeline"))
		decoding = FEED_DECODE_PIPELINE;
	else if (argc != 2 && !(argc == 3 && !strcmp(argv[2], "ahead"))) {
		fprintf(stderr, "usage: feedcheck CAPTURE [ahead|reader|pipeline]\n");
		return 2;
	}
	pc = pcap_open_offline_with_tstamp_precision(argv[1], PCAP_TSTAMP_PRECISION_MICRO, err);
	if (!pc) {
		fprintf(stderr, "feedcheck: %s\n", err);
		return 2;
	}
	config_defaults(&cfg);
	if (config_load_string(&cfg, "", "defaults", stderr))
		return 2;
	/* The seed of rcptguard replay, so that the figures compare. */
	pipeline_init(&p, &cfg, UINT64_C(0x72637074677561), on_ban, NULL, &bans);
	capfile_open(&cf, pc);
	if (feed_capture(&cf, pcap_datalink(pc), &p, decoding, NULL, NULL, &fr)) {
		fprintf(stderr, "feedcheck: no reader thread\n");
		return 2;
	}
	pipeline_finish(&p);
	printf("packets=%llu rejected=%llu accepted=%llu bans=%llu rc=%d\n",
	       (unsigned long long)p.st.packets, (unsigned long long)p.st.events[EC_RCPT_REJECTED],
	       (unsigned long long)p.st.events[EC_RCPT_ACCEPTED], bans, fr.rc);
	printf("decoded=%llu/%llu\n", (unsigned long long)fr.chunks_decoded, (unsigned long long)fr.chunks);
	pipeline_free(&p);
	config_free(&cfg);
	capfile_close(&cf);
	pcap_close(pc);
	return 0;
}
