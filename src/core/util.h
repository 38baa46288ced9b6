/* Small helpers shared by every stage: time, durations, sizes, hashing. */
#ifndef RCPTGUARD_UTIL_H
#define RCPTGUARD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

/* All times inside the pipeline are microseconds since the epoch, taken from
 * the packets themselves; no stage reads a clock. */
typedef int64_t usec_t;

#define USEC_PER_SEC INT64_C(1000000)

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* "30s", "10m", "1h", "7d", "250ms", bare number = seconds. */
int parse_duration(const char *s, usec_t *out);
/* Shortest exact form: 3600000000 -> "1h", 90 s -> "90s". */
char *fmt_duration(usec_t us, char *buf, size_t len);

/* "4096", "64k", "16m", "1g" (powers of 1024). */
int parse_size(const char *s, uint64_t *out);
char *fmt_size(uint64_t v, char *buf, size_t len);

/* ISO 8601 UTC with microseconds: 2026-11-23T08:00:01.123456Z */
char *fmt_time(usec_t us, char *buf, size_t len);

/* 64-bit hash of a short byte string; seeded so that a hostile peer cannot
 * aim packets at one bucket. */
uint64_t hash_bytes(const void *p, size_t n, uint64_t seed);

/* The pieces of hash_bytes, for hashes built word by word elsewhere (a
 * flow key read field by field): a word loaded from any alignment, one
 * word's step, and the final mix. */
static inline uint64_t hash_load32(const void *p)
{
	uint32_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

static inline uint64_t hash_load64(const void *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

static inline uint64_t hash_step(uint64_t h, uint64_t w)
{
	h = (h ^ w) * UINT64_C(0xff51afd7ed558ccd);
	return h ^ (h >> 29);
}

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 32;
	x *= UINT64_C(0xd6e8feb86659fd93);
	x ^= x >> 32;
	x *= UINT64_C(0xd6e8feb86659fd93);
	x ^= x >> 32;
	return x;
}

static inline int ascii_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* Sequence-space comparison (RFC 793 modular arithmetic). */
static inline int32_t seq_diff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t sz);
char *xstrdup(const char *s);
/* p, or the same end as a failed xcalloc: for allocators of libraries
 * (nftnl_*_alloc) that return NULL only when memory is out. */
void *xnonnull(void *p);

/* JSON string escaping into a caller buffer (always NUL-terminated). */
void json_escape(const char *in, size_t inlen, char *out, size_t outlen);

#endif
