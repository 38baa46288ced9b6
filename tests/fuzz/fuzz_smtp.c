/* libFuzzer: the SMTP dialogue parser driven by two interleaved byte
 * streams. Each record: 1 byte (bit 7: server side; bits 0-6: length),
 * then that many bytes; a length of 0 is a gap of 1 to 255 bytes given by
 * the next byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

static uint64_t events;

static void on_event(void *arg, const struct smtp_event *ev)
{
	(void)arg;
	if (ev->rcpt_len > SMTP_RCPT_MAX)
		abort();
	events++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The context (recipient ring, counters) is shared by every session
	 * in the daemon too: made once, not per input. */
	static struct smtp_ctx c;
	static bool ready;
	struct smtp s;
	size_t i = 1;

	if (size < 1)
		return 0;
	if (!ready) {
		smtp_ctx_init(&c, 64, 512, on_event);
		ready = true;
	}
	smtp_init(&s, data[0] & 1);
	while (i < size) {
		uint8_t h = data[i++];
		uint32_t len = h & 0x7f;
		bool server = h & 0x80;

		if (len == 0) {
			uint32_t gap = i < size ? data[i++] + 1u : 1u;

			if (server)
				smtp_server_gap(&c, &s, gap);
			else
				smtp_client_gap(&c, &s, gap);
			continue;
		}
		if (len > size - i)
			len = (uint32_t)(size - i);
		if (server)
			smtp_server(&c, &s, data + i, len, NULL);
		else
			smtp_client(&c, &s, data + i, len, NULL);
		i += len;
	}
	smtp_free(&s);
	return 0;
}
