#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
	const char *suffix;
	usec_t mult;
} duration_units[] = {
	{ "us", 1 },
	{ "ms", 1000 },
	{ "s", USEC_PER_SEC },
	{ "m", 60 * USEC_PER_SEC },
	{ "h", 3600 * USEC_PER_SEC },
	{ "d", 86400 * USEC_PER_SEC },
	{ "w", USEC_PER_SEC * 7 * 86400 },
};

int parse_duration(const char *s, usec_t *out)
{
	char *end;
	unsigned long long v;
	usec_t mult = USEC_PER_SEC;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (*end) {
		size_t i;

		for (i = 0; i < ARRAY_LEN(duration_units); i++)
			if (strcmp(end, duration_units[i].suffix) == 0)
				break;
		if (i == ARRAY_LEN(duration_units))
			return -1;
		mult = duration_units[i].mult;
	}
	if (v > (unsigned long long)(INT64_MAX / mult))
		return -1;
	*out = (usec_t)v * mult;
	return 0;
}

char *fmt_duration(usec_t us, char *buf, size_t len)
{
	size_t i;

	if (us == 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	/* Largest unit that divides exactly; weeks read worse than days. */
	for (i = ARRAY_LEN(duration_units) - 1; i > 0; i--) {
		if (strcmp(duration_units[i].suffix, "w") == 0)
			continue;
		if (us % duration_units[i].mult == 0)
			break;
	}
	snprintf(buf, len, "%lld%s", (long long)(us / duration_units[i].mult),
		 duration_units[i].suffix);
	return buf;
}

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (ascii_lower(*end)) {
	case 0:
		break;
	case 'k':
		shift = 10;
		break;
	case 'm':
		shift = 20;
		break;
	case 'g':
		shift = 30;
		break;
	default:
		return -1;
	}
	if (*end && end[1])
		return -1;
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

char *fmt_size(uint64_t v, char *buf, size_t len)
{
	if (v && v % (1u << 30) == 0)
		snprintf(buf, len, "%llug", (unsigned long long)(v >> 30));
	else if (v && v % (1u << 20) == 0)
		snprintf(buf, len, "%llum", (unsigned long long)(v >> 20));
	else if (v && v % (1u << 10) == 0)
		snprintf(buf, len, "%lluk", (unsigned long long)(v >> 10));
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

char *fmt_time(usec_t us, char *buf, size_t len)
{
	time_t t = (time_t)(us / USEC_PER_SEC);
	long frac = (long)(us % USEC_PER_SEC);
	struct tm tm;

	if (frac < 0) {
		frac += USEC_PER_SEC;
		t--;
	}
	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, frac);
	return buf;
}

/* One multiply per word and a full mix at the end: keys are short (a
 * recipient, an address) and hashed once per event. The bytes past the
 * last whole word are read as one word ending where the string ends
 * (overlapping the word before), never gathered byte by byte on the
 * stack: that costs a load that must wait for the stores before it. */
uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *b = p;
	uint64_t h = seed ^ (n * UINT64_C(0x9e3779b97f4a7c15));
	uint64_t tail;
	size_t left = n;

	while (left > 8) {
		h = hash_step(h, hash_load64(b));
		b += 8;
		left -= 8;
	}
	if (n >= 8)
		tail = hash_load64(b + left - 8);
	else if (n >= 4)
		tail = hash_load32(b) << 32 | hash_load32(b + n - 4);
	else if (n)
		tail = (uint64_t)b[0] << 16 | (uint64_t)b[n / 2] << 8 | b[n - 1];
	else
		tail = 0;
	return mix64((h ^ tail) * UINT64_C(0xc4ceb9fe1a85ec53));
}

static void out_of_memory(void)
{
	fputs("rcptguard: out of memory\n", stderr);
	abort();
}

void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (!p)
		out_of_memory();
	return p;
}

void *xnonnull(void *p)
{
	if (!p)
		out_of_memory();
	return p;
}

void *xrealloc(void *p, size_t sz)
{
	void *q = realloc(p, sz ? sz : 1);

	if (!q)
		out_of_memory();
	return q;
}

char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		out_of_memory();
	return d;
}

void json_escape(const char *in, size_t inlen, char *out, size_t outlen)
{
	size_t o = 0;

	if (!outlen)
		return;
	for (size_t i = 0; i < inlen && o + 7 < outlen; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			/* Recipients are untrusted bytes: keep the output ASCII. */
			o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = 0;
}
