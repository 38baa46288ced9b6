/* Frames out of a capture file for replay.
 *
 * libpcap opens the file and says what it holds (link type, snapshot
 * length, byte order). When it is a classic pcap file (version 2.4, in
 * either byte order, with micro- or nanosecond time stamps) on a regular
 * file, its frames are then read where they lie: the file is mapped, and
 * each frame is handed out as a pointer into the mapping. libpcap would
 * have the kernel copy each frame out of the page cache into a buffer,
 * then copy it again into its own; here nothing is copied. As with
 * libpcap, a frame is valid until the next one is asked for: the pages
 * already read are given back as the reading goes on (they stay in the
 * page cache), so that a long replay does not hold the whole file in its
 * address space. Anything else (pcapng, a pipe, an older version) is read
 * through libpcap as before. Either way the frames, their times and
 * lengths, and the error that ends a damaged file at a given packet are
 * the same. */
#ifndef RCPTGUARD_CAPFILE_H
#define RCPTGUARD_CAPFILE_H

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util.h"

/* The largest captured length libpcap accepts for the link types replay
 * reads: a larger one is a damaged file. */
#define CAPFILE_CAPLEN_MAX 262144u
#define CAPFILE_HEADER 24u	/* the file's header */
#define CAPFILE_RECORD 16u	/* each frame's: seconds, fraction, captured and wire lengths */
/* Pages already read are given back in steps of this many bytes. */
#define CAPFILE_RELEASE_STEP ((size_t)8 << 20)

struct capfile {
	pcap_t *pc;
	/* Mapped: map is not NULL, and frames are read at off. */
	const unsigned char *map;
	size_t size, off;
	size_t released;	/* pages before this were given back */
	uint32_t snap;		/* longer frames are cut to this, as libpcap does */
	bool swapped, nsec;
	char err[PCAP_ERRBUF_SIZE];
};

struct capframe {
	usec_t ts;
	uint32_t caplen;
	const unsigned char *data;
};

/* Reads pc's frames, mapped when its file allows it (see above). */
void capfile_open(struct capfile *cf, pcap_t *pc);
/* Unmaps; pc is the caller's to close. */
void capfile_close(struct capfile *cf);

static inline bool capfile_mapped(const struct capfile *cf)
{
	return cf->map != NULL;
}

int capfile_next_slow(struct capfile *cf, struct capframe *fr);

/* A record's time: both fields are signed 32-bit in the file, as libpcap
 * reads them, the fraction in micro- or nanoseconds. */
static inline usec_t capfile_stamp(const struct capfile *cf, uint32_t sec, uint32_t frac)
{
	return (usec_t)(int32_t)sec * USEC_PER_SEC +
	       (cf->nsec ? (usec_t)(int32_t)frac / 1000 : (usec_t)(int32_t)frac);
}

/* What pcap_next_ex answers: 1 with a frame in *fr, PCAP_ERROR_BREAK at
 * the end of the file, PCAP_ERROR with the reason in capfile_err. */
static inline int capfile_next(struct capfile *cf, struct capframe *fr)
{
	const unsigned char *h;
	uint32_t w[4];

	if (!cf->map || cf->swapped || cf->size - cf->off < CAPFILE_RECORD ||
	    cf->off - cf->released >= CAPFILE_RELEASE_STEP)
		return capfile_next_slow(cf, fr);
	h = cf->map + cf->off;
	memcpy(w, h, sizeof(w));
	if (w[2] > cf->snap || w[2] > cf->size - cf->off - CAPFILE_RECORD)
		return capfile_next_slow(cf, fr);
	fr->ts = capfile_stamp(cf, w[0], w[1]);
	fr->caplen = w[2];
	fr->data = h + CAPFILE_RECORD;
	cf->off += CAPFILE_RECORD + w[2];
	return 1;
}

/* Why capfile_next answered PCAP_ERROR. */
const char *capfile_err(struct capfile *cf);
/* Where the reader is in the file, in bytes, or -1 if unknown. */
long capfile_pos(struct capfile *cf);

#endif
