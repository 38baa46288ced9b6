/* Replay on two cores: a thread of its own reads the capture file, while
 * the calling thread runs the pipeline over the packets in the order they
 * were read; each frame is decoded by whichever thread is ahead. What the
 * pipeline sees is what pipeline_frame would have given it, so the
 * results are those of a single-threaded run. */
#ifndef RCPTGUARD_FEED_H
#define RCPTGUARD_FEED_H

#include <pcap/pcap.h>
#include <stdint.h>

#include "capfile.h"
#include "pipeline.h"

struct feed_result {
	uint64_t packets;		/* frames handed to the pipeline */
	int rc;				/* capfile_next's last answer */
	char err[PCAP_ERRBUF_SIZE];	/* with rc == PCAP_ERROR */
	/* Where the time went, in seconds: each thread's CPU time, and how
	 * long each waited for the other (the reader for room, the pipeline
	 * for packets). The side that waits less is the one that bounds. */
	double reader_cpu, pipeline_cpu;
	double reader_waited, pipeline_waited;
	/* Chunks handed over, and those whose frames the reader decoded
	 * (the others the pipeline decoded: the side ahead does it). */
	uint64_t chunks, chunks_decoded;
};

/* Told now and then (every 2^20 packets) where the reader is. */
typedef void (*feed_progress_fn)(void *arg, long file_pos, uint64_t packets);

/* Who decodes each frame and places its segment (pipeline_place: where it
 * goes, its flow's hash): the side ahead, chunk by chunk, or always one of
 * them (for tests; the answers are the same). */
enum feed_decoding { FEED_DECODE_AHEAD, FEED_DECODE_READER, FEED_DECODE_PIPELINE };

/* Every frame of cf through p. Returns 0 when the file was read to its
 * end or to an error (in res), -1 when no thread could be started (then
 * nothing was read: the caller reads it on its own). */
int feed_capture(struct capfile *cf, int link, struct pipeline *p, enum feed_decoding decoding,
		 feed_progress_fn progress, void *arg, struct feed_result *res);

#endif
