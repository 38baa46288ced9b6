/* libFuzzer: the SMTP dialogue parser driven by two interleaved byte
 * streams. Each record: 1 byte (bit 7: server side; bits 0-6: length),
 * then that many bytes; a length of 0 is a gap of 1 to 255 bytes given by
 * the next byte. A second parser takes the same bytes, each client write
 * told whether it is plain (smtp_plain, as replay's reader tells the
 * pipeline): the two must count the same and end in the same state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

static void on_event(void *arg, const struct smtp_event *ev)
{
	if (ev->rcpt_len > SMTP_RCPT_MAX)
		abort();
	(*(uint64_t *)arg)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The context (recipient ring, counters) is shared by every session
	 * in the daemon too: made once, not per input. */
	static struct smtp_ctx c, c2;
	static bool ready;
	struct smtp s, s2;
	uint64_t n1 = 0, n2 = 0;
	size_t i = 1;

	if (size < 1)
		return 0;
	if (!ready) {
		smtp_ctx_init(&c, 64, 512, on_event);
		smtp_ctx_init(&c2, 64, 512, on_event);
		ready = true;
	}
	smtp_init(&s, data[0] & 1);
	smtp_init(&s2, data[0] & 1);
	while (i < size) {
		uint8_t h = data[i++];
		uint32_t len = h & 0x7f;
		bool server = h & 0x80;

		if (len == 0) {
			uint32_t gap = i < size ? data[i++] + 1u : 1u;

			if (server) {
				smtp_server_gap(&c, &s, gap);
				smtp_server_gap(&c2, &s2, gap);
			} else {
				smtp_client_gap(&c, &s, gap);
				smtp_client_gap(&c2, &s2, gap);
			}
			continue;
		}
		if (len > size - i)
			len = (uint32_t)(size - i);
		if (server) {
			smtp_server(&c, &s, data + i, len, &n1);
			smtp_server(&c2, &s2, data + i, len, &n2);
		} else {
			smtp_client(&c, &s, data + i, len, &n1);
			smtp_client_plain(&c2, &s2, data + i, len, smtp_plain(data + i, len), &n2);
		}
		i += len;
	}
	if (n1 != n2 || memcmp(&c.st, &c2.st, sizeof(c.st)) || s.cmode != s2.cmode ||
	    s.body_state != s2.body_state || s.txn != s2.txn || s.synced != s2.synced)
		abort();
	smtp_free(&s);
	smtp_free(&s2);
	return 0;
}
