/* libFuzzer: the reassembler driven by a sequence of segments. Each
 * record: 2 bytes of sequence offset from the start, 1 byte of length,
 * 1 byte of flags (bit 0: an ACK of the offset instead of data), then the
 * data. What comes out must be a prefix of what went in, in order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reasm.h"

struct out {
	uint64_t bytes;
};

static void sink(void *arg, const uint8_t *d, uint32_t n)
{
	struct out *o = arg;

	(void)d;
	o->bytes += n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reasm_ctx c = { .dir_cap = 4096, .global_cap = 8192 };
	struct reasm r;
	struct out o = { 0 };
	/* Near the wrap, so that sequence arithmetic crosses zero. */
	uint32_t isn = size > 4 ? 0xffffff00u + data[0] : 1000;
	size_t i = 0;

	memset(&r, 0, sizeof(r));
	reasm_open(&r, isn);
	while (i + 4 <= size) {
		uint32_t off = (uint32_t)data[i] << 8 | data[i + 1];
		uint32_t len = data[i + 2];
		uint8_t flags = data[i + 3];

		i += 4;
		if (flags & 1) {
			reasm_ack(&c, &r, isn + off, sink, &o);
			continue;
		}
		if (len > size - i)
			len = (uint32_t)(size - i);
		reasm_push(&c, &r, isn + off, data + i, len, sink, &o);
		i += len;
	}
	if (c.global_held > c.global_cap)
		abort();	/* the cap is a promise */
	reasm_free(&c, &r);
	if (c.global_held != 0)
		abort();
	return 0;
}
