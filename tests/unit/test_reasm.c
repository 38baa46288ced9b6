/* Reassembly: order, overlap (first copy wins), wrap, caps, gaps. */
#include <stdlib.h>
#include <string.h>

#include "reasm.h"
#include "t.h"

struct out {
	char buf[4096];
	size_t len;
	int gaps;
	uint32_t gap_bytes;
};

static void sink(void *arg, const uint8_t *d, uint32_t n)
{
	struct out *o = arg;

	if (!d) {
		o->gaps++;
		o->gap_bytes += n;
		memcpy(o->buf + o->len, "#", 1);
		o->len++;
		return;
	}
	memcpy(o->buf + o->len, d, n);
	o->len += n;
	o->buf[o->len] = 0;
}

static struct reasm_ctx ctx(void)
{
	struct reasm_ctx c = { .dir_cap = 1 << 16, .global_cap = 1 << 20 };

	return c;
}

TEST(reasm_in_order_and_out_of_order)
{
	struct reasm_ctx c = ctx();
	struct reasm r = { 0 };
	struct out o = { 0 };

	reasm_open(&r, 100);
	reasm_push(&c, &r, 106, (const uint8_t *)"world", 5, sink, &o);
	CHECK_EQ(o.len, 0);
	CHECK_EQ(r.held, 5);
	reasm_push(&c, &r, 100, (const uint8_t *)"hello ", 6, sink, &o);
	CHECK_STR(o.buf, "hello world");
	CHECK_EQ(r.held, 0);
	CHECK_EQ(c.global_held, 0);
	reasm_free(&c, &r);
}

TEST(reasm_first_copy_wins)
{
	struct reasm_ctx c = ctx();
	struct reasm r = { 0 };
	struct out o = { 0 };

	reasm_open(&r, 0);
	reasm_push(&c, &r, 4, (const uint8_t *)"AAAA", 4, sink, &o);
	reasm_push(&c, &r, 6, (const uint8_t *)"bbbbbb", 6, sink, &o);	/* overlaps the tail */
	reasm_push(&c, &r, 0, (const uint8_t *)"xxxxyyyyzzzz", 12, sink, &o);
	CHECK_STR(o.buf, "xxxxAAAAbbbb");
	reasm_push(&c, &r, 2, (const uint8_t *)"QQQQQQQQQQQ", 11, sink, &o);	/* old + 1 new */
	CHECK_STR(o.buf, "xxxxAAAAbbbbQ");
	CHECK(c.st.bytes_retrans >= 10);
	reasm_free(&c, &r);
}

TEST(reasm_sequence_wrap)
{
	struct reasm_ctx c = ctx();
	struct reasm r = { 0 };
	struct out o = { 0 };

	reasm_open(&r, 0xfffffffcu);
	reasm_push(&c, &r, 0x00000002u, (const uint8_t *)"CD", 2, sink, &o);
	reasm_push(&c, &r, 0xfffffffeu, (const uint8_t *)"ABxx", 4, sink, &o);
	CHECK_EQ(o.len, 0);
	reasm_push(&c, &r, 0xfffffffcu, (const uint8_t *)"12", 2, sink, &o);
	CHECK_STR(o.buf, "12ABxxCD");
	CHECK_EQ(r.next, 4);
	reasm_free(&c, &r);
}

TEST(reasm_cap_skips_hole)
{
	struct reasm_ctx c = { .dir_cap = 8, .global_cap = 1 << 20 };
	struct reasm r = { 0 };
	struct out o = { 0 };

	reasm_open(&r, 0);
	reasm_push(&c, &r, 10, (const uint8_t *)"abcdef", 6, sink, &o);
	reasm_push(&c, &r, 16, (const uint8_t *)"ghijkl", 6, sink, &o);	/* over the cap */
	CHECK_EQ(c.st.cap_flow, 1);
	CHECK_EQ(o.gaps, 1);
	CHECK_EQ(o.gap_bytes, 10);
	CHECK_STR(o.buf, "#abcdefghijkl");
	CHECK_EQ(r.held, 0);
	reasm_free(&c, &r);
}

TEST(reasm_global_cap)
{
	struct reasm_ctx c = { .dir_cap = 1000, .global_cap = 10 };
	struct reasm a = { 0 }, b = { 0 };
	struct out oa = { 0 }, ob = { 0 };

	reasm_open(&a, 0);
	reasm_open(&b, 0);
	reasm_push(&c, &a, 5, (const uint8_t *)"12345678", 8, sink, &oa);
	reasm_push(&c, &b, 5, (const uint8_t *)"abcdefgh", 8, sink, &ob);
	CHECK_EQ(c.st.cap_global, 1);
	CHECK(c.global_held <= 10);
	CHECK_STR(ob.buf, "#abcdefgh");
	reasm_free(&c, &a);
	reasm_free(&c, &b);
	CHECK_EQ(c.global_held, 0);
}

TEST(reasm_ack_skips_lost_bytes)
{
	struct reasm_ctx c = ctx();
	struct reasm r = { 0 };
	struct out o = { 0 };

	reasm_open(&r, 0);
	reasm_push(&c, &r, 0, (const uint8_t *)"abc", 3, sink, &o);
	reasm_push(&c, &r, 8, (const uint8_t *)"ij", 2, sink, &o);
	reasm_ack(&c, &r, 12, sink, &o);	/* peer got 3..12: we lost 3..8 and 10..12 */
	CHECK_STR(o.buf, "abc#ij#");
	CHECK_EQ(o.gap_bytes, 7);
	CHECK_EQ(r.next, 12);
	reasm_ack(&c, &r, 5, sink, &o);		/* old ACK: nothing */
	reasm_ack(&c, &r, 12 + (1u << 31), sink, &o);	/* absurd: ignored */
	CHECK_EQ(r.next, 12);
	reasm_free(&c, &r);
}

TEST(reasm_retransmission_and_far_future)
{
	struct reasm_ctx c = ctx();
	struct reasm r = { 0 };
	struct out o = { 0 };

	reasm_open(&r, 50);
	reasm_push(&c, &r, 50, (const uint8_t *)"abc", 3, sink, &o);
	reasm_push(&c, &r, 50, (const uint8_t *)"abc", 3, sink, &o);
	reasm_push(&c, &r, 50 + (1u << 30) + 10, (const uint8_t *)"zz", 2, sink, &o);
	CHECK_STR(o.buf, "abc");
	CHECK_EQ(r.held, 0);
	CHECK_EQ(c.st.bytes_retrans, 5);
	reasm_free(&c, &r);
}
