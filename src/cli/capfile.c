/* Frames out of a capture file, mapped where the file allows it. */
#include "capfile.h"

#include <byteswap.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The file's magic numbers as read on this host: micro- or nanosecond
 * time stamps, written on a host of this byte order or of the other. */
#define MAGIC_USEC 0xa1b2c3d4u
#define MAGIC_NSEC 0xa1b23c4du

static uint32_t get32(const struct capfile *cf, const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return cf->swapped ? bswap_32(v) : v;
}

static uint16_t get16(const struct capfile *cf, const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return cf->swapped ? bswap_16(v) : v;
}

/* Whether the mapped file is one that this reader and libpcap read
 * alike: the magic of a classic pcap file, version 2.4 (older versions
 * stored the two lengths the other way round, which libpcap untangles),
 * and the byte order that libpcap found too. */
static bool classic_pcap(struct capfile *cf)
{
	uint32_t magic;

	memcpy(&magic, cf->map, sizeof(magic));
	if (magic == MAGIC_USEC || magic == MAGIC_NSEC)
		cf->swapped = false;
	else if (magic == bswap_32(MAGIC_USEC) || magic == bswap_32(MAGIC_NSEC))
		cf->swapped = true;
	else
		return false;
	cf->nsec = magic == MAGIC_NSEC || magic == bswap_32(MAGIC_NSEC);
	return get16(cf, cf->map + 4) == 2 && get16(cf, cf->map + 6) == 4 &&
	       cf->swapped == (pcap_is_swapped(cf->pc) == 1);
}

void capfile_open(struct capfile *cf, pcap_t *pc)
{
	FILE *file = pcap_file(pc);
	struct stat st;
	void *m;

	memset(cf, 0, sizeof(*cf));
	cf->pc = pc;
	/* libpcap has read the header of a file it opened itself, from its
	 * start: what follows is the first frame's record. */
	if (!file || fstat(fileno(file), &st) || !S_ISREG(st.st_mode) ||
	    (uintmax_t)st.st_size < CAPFILE_HEADER || (uintmax_t)st.st_size > SIZE_MAX ||
	    ftell(file) != CAPFILE_HEADER)
		return;
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fileno(file), 0);
	if (m == MAP_FAILED)
		return;
	cf->map = m;
	cf->size = (size_t)st.st_size;
	if (!classic_pcap(cf)) {
		capfile_close(cf);
		cf->pc = pc;
		return;
	}
	(void)madvise(m, cf->size, MADV_SEQUENTIAL);
	cf->off = CAPFILE_HEADER;
	cf->snap = (uint32_t)pcap_snapshot(pc);
	if (cf->snap == 0 || cf->snap > CAPFILE_CAPLEN_MAX)
		cf->snap = CAPFILE_CAPLEN_MAX;
}

void capfile_close(struct capfile *cf)
{
	if (cf->map)
		munmap((void *)cf->map, cf->size);
	memset(cf, 0, sizeof(*cf));
}

/* The pages before the reader's position: the frames there are done
 * with, the caller having asked for the next. Only the mapping's pages
 * go: the file stays in the page cache, and a page touched again would be
 * mapped again, not lost. */
static void release(struct capfile *cf)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), upto = cf->off / page * page;

	(void)madvise((void *)(cf->map + cf->released), upto - cf->released, MADV_DONTNEED);
	cf->released = upto;
}

/* Every frame that the inline path leaves: libpcap's, a swapped file's,
 * a frame longer than the snapshot length, the file's end, whole or cut
 * short, and a frame after another step of pages was read. */
int capfile_next_slow(struct capfile *cf, struct capframe *fr)
{
	const unsigned char *h;
	size_t left;
	uint32_t sec, frac, caplen;

	if (!cf->map) {
		struct pcap_pkthdr *ph;
		const u_char *data;
		int rc = pcap_next_ex(cf->pc, &ph, &data);

		if (rc == 1) {
			fr->ts = (usec_t)ph->ts.tv_sec * USEC_PER_SEC + ph->ts.tv_usec;
			fr->caplen = ph->caplen;
			fr->data = data;
		}
		return rc;
	}
	if (cf->off - cf->released >= CAPFILE_RELEASE_STEP)
		release(cf);
	h = cf->map + cf->off;
	left = cf->size - cf->off;
	if (left == 0)
		return PCAP_ERROR_BREAK;
	if (left < CAPFILE_RECORD) {
		snprintf(cf->err, sizeof(cf->err),
			 "truncated capture: the record header has %zu of its %u bytes", left, CAPFILE_RECORD);
		return PCAP_ERROR;
	}
	sec = get32(cf, h);
	frac = get32(cf, h + 4);
	caplen = get32(cf, h + 8);
	if (caplen > CAPFILE_CAPLEN_MAX) {
		snprintf(cf->err, sizeof(cf->err), "invalid captured length %u, more than %u", caplen,
			 CAPFILE_CAPLEN_MAX);
		return PCAP_ERROR;
	}
	if (caplen > left - CAPFILE_RECORD) {
		snprintf(cf->err, sizeof(cf->err),
			 "truncated capture: the frame has %zu of its %u captured bytes",
			 left - CAPFILE_RECORD, caplen);
		return PCAP_ERROR;
	}
	fr->ts = capfile_stamp(cf, sec, frac);
	fr->data = h + CAPFILE_RECORD;
	/* Longer than the file says any frame is: the rest is skipped, as
	 * libpcap skips it. */
	fr->caplen = caplen > cf->snap ? cf->snap : caplen;
	cf->off += CAPFILE_RECORD + caplen;
	return 1;
}

const char *capfile_err(struct capfile *cf)
{
	return cf->map ? cf->err : pcap_geterr(cf->pc);
}

long capfile_pos(struct capfile *cf)
{
	FILE *file;

	if (cf->map)
		return (long)cf->off;
	file = pcap_file(cf->pc);
	return file ? ftell(file) : -1;
}
