/* The reader thread and its hand-over to the pipeline.
 *
 * The two threads share a ring of FEED_CHUNKS chunks. The reader fills a
 * chunk with records (a frame's time, length and decode result, then for
 * a decoded TCP segment where it goes, its header fields and its payload:
 * the rest of the frame is not needed again) and hands it over; the
 * pipeline thread reads the records where they lie, with no copy out, and
 * hands the chunk back. A chunk changes hands through one atomic
 * word, so the packet path takes no lock; a thread that finds nothing to
 * do spins a little, then sleeps on that word (futex) until the other
 * hands a chunk over: at most one wake-up per chunk of hundreds of
 * packets, none when neither sleeps, and a reader that is ahead sleeps
 * until half the ring is free.
 *
 * The frames come from capfile_next: from a mapped file they are copied
 * once, from the file's pages into the chunk. They are copied all the
 * same, though the pipeline could read them where they lie: the copy
 * takes the misses on the reader's core, streaming, and the pipeline then
 * finds what it reads in the chunk, recently written, where from the file
 * it would take each miss itself (measured: 2.3 s of CPU for the
 * pipeline over the bench capture, against 1.5 s). So the pipeline
 * never reads the file, and the file's pages go as the reader moves on.
 *
 * Decoding a frame and placing its segment (pipeline_place) can be done
 * on either side: the reader does it for a chunk when the pipeline is
 * behind, else copies the frames whole and leaves it to the pipeline,
 * which would otherwise sit waiting for the reader. */
#define _GNU_SOURCE 1
#include "feed.h"

#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "decode.h"
#include "util.h"

#define FEED_CHUNKS 8
/* Room for the largest frame libpcap hands out (262144 bytes) with its
 * record, so that any frame fits an empty chunk. */
#define FEED_CHUNK_BYTES ((size_t)512 * 1024)
#define FEED_SPINS 512

/* A record's result when the reader left the frame undecoded. */
#define REC_RAW UINT32_MAX

struct rec {
	usec_t ts;
	uint32_t caplen;
	uint32_t result;	/* enum dec_result, or REC_RAW */
	/* With DEC_OK: where it goes, a struct pkt, then its payload, to 8
	 * bytes. With REC_RAW: the frame, to 8 bytes. */
};

/* A cache line each: the reader fills one while the pipeline reads
 * another, and neither may make the other's line bounce. */
struct chunk {
	_Alignas(64) _Atomic uint32_t full;	/* 0: the reader's to fill; 1: the pipeline's */
	uint32_t nrec;
	size_t used;
	long pos;		/* the file's position after the chunk's last frame */
	bool last;		/* the capture ends with this chunk */
	unsigned char *buf;
};

struct feed {
	struct chunk ch[FEED_CHUNKS];
	/* Threads asleep on a chunk's word: 0 most of the time. Its own
	 * line, read by both on every hand-over. */
	_Alignas(64) _Atomic uint32_t sleepers;
	struct capfile *cf;	/* the reader's */
	const struct config *cfg;	/* read only, by both */
	uint64_t seed;			/* the pipeline's flow table's */
	int link;
	enum feed_decoding decoding;
	/* Written by the reader before it hands over the last chunk. */
	int rc;
	uint64_t packets;
	uint64_t chunks, chunks_decoded;
	double cpu, waited;
	char err[PCAP_ERRBUF_SIZE];
};

/* Records lie at multiples of 8 in a chunk, which is how far apart each
 * of their parts must be for the pipeline to read them where they lie. */
_Static_assert(sizeof(struct rec) % 8 == 0 && sizeof(struct pkt_place) % 8 == 0 &&
	       sizeof(struct pkt) % 8 == 0 && _Alignof(struct pkt) <= 8 &&
	       _Alignof(struct pkt_place) <= 8, "records keep 8-byte alignment");

/* A decoded segment's record after its struct rec: where it goes, the
 * packet, then its payload. */
#define FEED_HEAD (sizeof(struct pkt_place) + sizeof(struct pkt))
#define FEED_PAYLOAD_MAX (FEED_CHUNK_BYTES - sizeof(struct rec) - FEED_HEAD - 8)
/* The largest frame a raw record holds. */
#define FEED_FRAME_MAX (FEED_CHUNK_BYTES - sizeof(struct rec) - 8)

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static double clock_secs(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The time spent waiting is added to *waited: only a wait that outlasts
 * the spins is timed, which leaves the common case two loads. A thread
 * that goes to sleep says so in *sleepers first, so that the other makes
 * the system call that wakes it only then. */
static void wait_while(_Atomic uint32_t *w, uint32_t v, _Atomic uint32_t *sleepers, double *waited)
{
	double t0;

	for (int i = 0; i < FEED_SPINS; i++)
		if (atomic_load_explicit(w, memory_order_acquire) != v)
			return;
	t0 = clock_secs(CLOCK_MONOTONIC);
	atomic_fetch_add(sleepers, 1);
	/* Sequentially consistent, as hand_over's store and load: either
	 * this load sees the new value, or hand_over sees the sleeper. The
	 * kernel compares the word again before it puts the thread to
	 * sleep, so a value that moves on meanwhile is not missed. */
	while (atomic_load(w) == v)
		(void)syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
	atomic_fetch_sub(sleepers, 1);
	*waited += clock_secs(CLOCK_MONOTONIC) - t0;
}

static void hand_over(_Atomic uint32_t *w, uint32_t v, _Atomic uint32_t *sleepers)
{
	atomic_store(w, v);
	if (atomic_load(sleepers))
		(void)syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static struct chunk *take_empty(struct feed *f, uint64_t i)
{
	struct chunk *c = &f->ch[i % FEED_CHUNKS];

	if (atomic_load_explicit(&c->full, memory_order_acquire)) {
		/* The ring is full: the pipeline is behind. Sleep until it has
		 * handed back half of the ring (it takes the chunks in turn),
		 * not each chunk, so that it wakes this thread a quarter as
		 * often. */
		wait_while(&f->ch[(i + FEED_CHUNKS / 2 - 1) % FEED_CHUNKS].full, 1, &f->sleepers,
			   &f->waited);
		wait_while(&c->full, 1, &f->sleepers, &f->waited);
	}
	return c;
}

/* Whether the reader decodes the frames of the chunk it starts (and works
 * out where each segment goes, and its flow's hash) or copies them as
 * they are for the pipeline to do it: the side ahead does that work.
 * With half the ring or more waiting for the pipeline, the pipeline is
 * the slower side; else the reader is, and the pipeline would wait for it
 * anyway. Either way the pipeline gets what pipeline_frame would give it:
 * decoding and placing read the frame and the configuration only. */
static bool reader_decodes(struct feed *f)
{
	unsigned backlog = 0;

	if (f->decoding != FEED_DECODE_AHEAD)
		return f->decoding == FEED_DECODE_READER;
	for (int j = 0; j < FEED_CHUNKS; j++)
		backlog += atomic_load_explicit(&f->ch[j].full, memory_order_relaxed);
	return backlog >= FEED_CHUNKS / 2;
}

/* What the reader kept in its registers goes in with the chunk. */
static void publish(struct feed *f, struct chunk *c, uint32_t nrec, size_t used, bool last,
		    bool decoded)
{
	f->chunks++;
	f->chunks_decoded += decoded;
	c->nrec = nrec;
	c->used = used;
	c->last = last;
	c->pos = capfile_pos(f->cf);
	hand_over(&c->full, 1, &f->sleepers);
}

/* A record of need bytes starting with r: a full chunk is handed over
 * first. Returns where what follows r goes. The record's form is settled
 * by then; a new chunk changes only how the next ones are made (*dec). */
static unsigned char *put_rec(struct feed *f, struct chunk **c, uint64_t *i, uint32_t *nrec,
			      size_t *used, size_t need, bool *dec, const struct rec *r)
{
	unsigned char *at;

	if (*used + need > FEED_CHUNK_BYTES) {
		publish(f, *c, *nrec, *used, false, *dec);
		*c = take_empty(f, ++*i);
		*dec = reader_decodes(f);
		*nrec = 0;
		*used = 0;
	}
	at = (*c)->buf + *used;
	memcpy(at, r, sizeof(*r));
	return at + sizeof(*r);
}

static void *reader(void *arg)
{
	struct feed *f = arg;
	uint64_t i = 0;
	struct chunk *c = take_empty(f, i);
	struct capframe fr;
	uint64_t packets = 0;
	uint32_t nrec = 0;
	size_t used = 0;
	bool dec = reader_decodes(f);
	int rc;

	while ((rc = capfile_next(f->cf, &fr)) == 1) {
		struct rec r = {
			.ts = fr.ts,
			.caplen = fr.caplen,
			.result = REC_RAW,
		};
		unsigned char *at;
		size_t need;

		/* A frame too large for a chunk is decoded here whatever the
		 * chunk: its payload, cut if need be, fits. */
		if (!dec && fr.caplen <= FEED_FRAME_MAX) {
			need = sizeof(r) + align8(fr.caplen);
			at = put_rec(f, &c, &i, &nrec, &used, need, &dec, &r);
			memcpy(at, fr.data, fr.caplen);
		} else {
			struct pkt k;

			r.result = decode_packet(f->link, fr.data, fr.caplen, &k);
			/* Never so for the link types replay reads (libpcap
			 * refuses frames over 262144 bytes); were it so, the
			 * segment would be counted as cut by the capture, not
			 * overrun the chunk. */
			if (r.result == DEC_OK && k.len > FEED_PAYLOAD_MAX)
				k.len = FEED_PAYLOAD_MAX;
			need = sizeof(r) + (r.result == DEC_OK ? FEED_HEAD + align8(k.len) : 0);
			at = put_rec(f, &c, &i, &nrec, &used, need, &dec, &r);
			if (r.result == DEC_OK) {
				/* Where the pipeline will read them: it takes
				 * the records in place, copying nothing out. */
				struct pkt_place *pl = (struct pkt_place *)(void *)at;

				pipeline_place(f->cfg, f->seed, &k, pl);
				memcpy(at + FEED_HEAD, k.payload, k.len);
				/* Scanned here, where the copy has just been
				 * read, rather than by the pipeline's body
				 * scan: the side behind reads less. */
				if (pl->dir == 0 && pl->protected && k.len)
					pl->plain = smtp_plain(at + FEED_HEAD, k.len);
				k.payload = at + FEED_HEAD;
				memcpy(at + sizeof(struct pkt_place), &k, sizeof(k));
			}
		}
		used += need;
		nrec++;
		packets++;
	}
	f->packets = packets;
	f->rc = rc;
	f->cpu = clock_secs(CLOCK_THREAD_CPUTIME_ID);
	if (rc == PCAP_ERROR)
		snprintf(f->err, sizeof(f->err), "%s", capfile_err(f->cf));
	publish(f, c, nrec, used, true, dec);
	return NULL;
}

static void run_chunk(struct pipeline *p, const struct chunk *c, int link)
{
	const uint32_t nrec = c->nrec;
	size_t off = 0;

	for (uint32_t n = 0; n < nrec; n++) {
		const struct rec *r = (const void *)(c->buf + off);
		const struct pkt_place *pl;
		const struct pkt *k;

		off += sizeof(*r);
		if (r->result == REC_RAW) {
			pipeline_frame(p, r->ts, link, c->buf + off, r->caplen);
			off += align8(r->caplen);
			continue;
		}
		pipeline_count_frame(p, r->caplen, (enum dec_result)r->result);
		if (r->result != DEC_OK)
			continue;
		pl = (const void *)(c->buf + off);
		k = (const void *)(c->buf + off + sizeof(*pl));
		off += sizeof(*pl) + sizeof(*k) + align8(k->len);
		pipeline_placed(p, r->ts, k, pl);
	}
}

int feed_capture(struct capfile *cf, int link, struct pipeline *p, enum feed_decoding decoding,
	      feed_progress_fn progress, void *arg, struct feed_result *res)
{
	struct feed *f = xcalloc(1, sizeof(*f));
	unsigned char *mem = xcalloc(FEED_CHUNKS, FEED_CHUNK_BYTES);
	pthread_t t;
	uint64_t n = 0;
	double cpu0 = clock_secs(CLOCK_THREAD_CPUTIME_ID), waited = 0;

	f->cf = cf;
	f->link = link;
	f->decoding = decoding;
	f->cfg = p->cfg;
	f->seed = p->flows.seed;
	for (int i = 0; i < FEED_CHUNKS; i++)
		f->ch[i].buf = mem + (size_t)i * FEED_CHUNK_BYTES;
	if (pthread_create(&t, NULL, reader, f)) {
		free(mem);
		free(f);
		return -1;
	}
	for (uint64_t i = 0;; i++) {
		struct chunk *c = &f->ch[i % FEED_CHUNKS];
		bool last;

		wait_while(&c->full, 0, &f->sleepers, &waited);
		run_chunk(p, c, link);
		if (progress && (n >> 20) != ((n + c->nrec) >> 20))
			progress(arg, c->pos, n + c->nrec);
		n += c->nrec;
		last = c->last;
		hand_over(&c->full, 0, &f->sleepers);
		if (last)
			break;
	}
	res->pipeline_cpu = clock_secs(CLOCK_THREAD_CPUTIME_ID) - cpu0;
	res->pipeline_waited = waited;
	pthread_join(t, NULL);
	res->reader_cpu = f->cpu;
	res->reader_waited = f->waited;
	res->chunks = f->chunks;
	res->chunks_decoded = f->chunks_decoded;
	res->packets = f->packets;
	res->rc = f->rc;
	snprintf(res->err, sizeof(res->err), "%s", f->err);
	free(mem);
	free(f);
	return 0;
}
