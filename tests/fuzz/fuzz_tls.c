/* libFuzzer: the TLS record follower and the inference behind it.
 *
 * Byte 0 picks the mode. Even: the rest are raw stream bytes, each chunk
 * 1 byte (bit 7: server side; bits 0-6: length) then that many bytes, a
 * length of 0 a gap: the record parser against anything. Odd: a server
 * calibrated like Postfix (bit 1: like Exim) and a valid TLS 1.3 (bit
 * 2: TLS 1.2 CBC) handshake, then records of the lengths the input gives,
 * 3 bytes each (side, length): the inference against any mix of lengths.
 * At most 512 records an input, so that each input is quick. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "tls.h"

static const struct ipaddr srv = { .af = 4, .b = { 198, 18, 0, 1 } };
static uint64_t rejected;

static void on_rejects(void *arg, uint32_t n, uint32_t lower, uint32_t accepted, bool unexplained)
{
	(void)accepted;
	(void)unexplained;
	(void)arg;
	if (lower > n)
		abort();
	rejected += n;
}

static void rec(struct tls_ctx *c, struct tls *t, int dir, uint8_t type, uint16_t len)
{
	static uint8_t b[65536 + 5];

	b[0] = type;
	b[1] = 3;
	b[2] = 3;
	b[3] = (uint8_t)(len >> 8);
	b[4] = (uint8_t)len;
	tls_data(c, t, dir, b, (uint32_t)len + 5, NULL);
}

static void seen(struct tls_ctx *c, uint8_t verb, uint16_t code, int cls, uint16_t cmd, uint16_t reply,
		 uint16_t L)
{
	struct smtp_event ev = { .verb = verb, .code = code, .cmd_len = cmd, .reply_len = reply, .rcpt_len = L };

	tls_calib_observe(&c->cal, &srv, &ev, cls);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_ctx c;
	struct tls t;
	size_t i = 1, n = 0;

	if (size < 1)
		return 0;
	tls_ctx_init(&c, on_rejects);
	if (data[0] & 1) {
		bool exim = data[0] & 2, cbc = data[0] & 4;
		/* ServerHello: TLS 1.3 AES-128-GCM, or TLS 1.2 CBC-SHA1 with EtM. */
		uint8_t hello[] = { 22, 3, 3, 0, 0, 2, 0, 0, 0, 3, 3, [43] = 0,
				    cbc ? 0xc0 : 0x13, cbc ? 0x13 : 0x01, 0, 0, 6,
				    0, cbc ? 0x16 : 0x2b, 0, cbc ? 0 : 2, 3, 4 };
		size_t hl = sizeof(hello) - (cbc ? 2 : 0);

		if (cbc)
			hello[48] = 4;
		hello[3] = (uint8_t)((hl - 5) >> 8);
		hello[4] = (uint8_t)(hl - 5);
		hello[8] = (uint8_t)(hl - 9);
		for (uint16_t L = 10; L < 20; L++) {
			seen(&c, V_RCPT, 550, EC_RCPT_REJECTED, (uint16_t)(12 + L), exim ? 18 : (uint16_t)(81 + L), L);
			seen(&c, V_RCPT, 250, EC_RCPT_ACCEPTED, (uint16_t)(12 + L), 14, L);
		}
		seen(&c, V_MAIL, 250, -1, 37, 14, 0);
		seen(&c, V_DATA, 354, -1, 6, 37, 0);
		seen(&c, V_EOM, 250, EC_MESSAGE_ACCEPTED, 0, 37, 0);
		seen(&c, V_RSET, 250, -1, 6, 14, 0);
		seen(&c, V_QUIT, 221, -1, 6, 15, 0);
		tls_init(&c, &t, &srv);
		tls_data(&c, &t, 1, hello, (uint32_t)hl, NULL);
		rec(&c, &t, 1, 23, 1100);
		rec(&c, &t, 0, 23, 53);
		if (!cbc)
			rec(&c, &t, 0, 23, 38);
		rec(&c, &t, 1, 23, 167);
		for (; i + 3 <= size && n < 512; i += 3, n++)
			rec(&c, &t, data[i] & 1, (data[i] & 2) ? 21 : 23, (uint16_t)(data[i + 1] << 8 | data[i + 2]));
	} else {
		tls_init(&c, &t, &srv);
		while (i < size && n++ < 4096) {
			uint8_t h = data[i++];
			uint32_t len = h & 0x7f;
			int dir = h >> 7;

			if (!len) {
				tls_data(&c, &t, dir, NULL, 1, NULL);
				continue;
			}
			if (len > size - i)
				len = (uint32_t)(size - i);
			tls_data(&c, &t, dir, data + i, len, NULL);
			i += len;
		}
	}
	tls_end(&c, &t, NULL);
	if (c.st.rejected_lower > c.st.rejected)
		abort();
	return 0;
}
