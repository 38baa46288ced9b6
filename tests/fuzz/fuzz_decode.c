/* libFuzzer: the packet decoder. The first byte picks the link type, the
 * rest is the frame as a capture would hand it. */
#include <stddef.h>
#include <stdint.h>

#include "decode.h"

static const int links[] = { 1, 113, 276, 12, 14, 101, 228, 229, 0, 108 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt k;

	if (size < 1)
		return 0;
	decode_packet(links[data[0] % (sizeof(links) / sizeof(links[0]))], data + 1,
		      (uint32_t)(size - 1), &k);
	return 0;
}
