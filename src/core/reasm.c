#include "reasm.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct reasm_seg {
	struct reasm_seg *next;
	uint32_t seq;
	uint32_t len;
	uint8_t data[];
};

/* A segment further ahead than this is not from this connection's window:
 * a forged or stale packet, dropped rather than held. */
#define REASM_MAX_AHEAD (1u << 30)

void reasm_open(struct reasm *r, uint32_t next)
{
	r->next = next;
	r->open = true;
}

static void emit_gap(struct reasm_ctx *c, struct reasm *r, uint32_t upto,
		     reasm_sink sink, void *arg)
{
	uint32_t n = upto - r->next;

	if (seq_diff(upto, r->next) <= 0)
		return;
	c->st.gaps++;
	c->st.gap_bytes += n;
	r->next = upto;
	sink(arg, NULL, n);
}

static void drop_head(struct reasm_ctx *c, struct reasm *r)
{
	struct reasm_seg *h = r->ooo;

	r->ooo = h->next;
	r->held -= h->len;
	c->global_held -= h->len;
	free(h);
}

/* Hand on every held segment that now touches next. */
static void drain(struct reasm_ctx *c, struct reasm *r, reasm_sink sink, void *arg)
{
	struct reasm_seg *h;

	while ((h = r->ooo) && seq_diff(h->seq, r->next) <= 0) {
		uint32_t skip = r->next - h->seq;

		if (skip < h->len) {
			uint32_t n = h->len - skip;

			r->next += n;
			sink(arg, h->data + skip, n);
		}
		drop_head(c, r);
	}
}

/* Make room by giving up on the first hole: skip to the first held segment
 * (or to want, when nothing is held) and deliver what follows it. */
static void skip_hole(struct reasm_ctx *c, struct reasm *r, uint32_t want,
		      reasm_sink sink, void *arg)
{
	emit_gap(c, r, r->ooo ? r->ooo->seq : want, sink, arg);
	drain(c, r, sink, arg);
}

static void deliver_in_order(struct reasm_ctx *c, struct reasm *r, uint32_t seq,
			     const uint8_t *data, uint32_t len,
			     reasm_sink sink, void *arg)
{
	while (len) {
		struct reasm_seg *h = r->ooo;
		uint32_t n = len;
		int32_t adv;

		if (h && seq_diff(h->seq, r->next) <= 0) {
			/* Held bytes got here first: they win. */
			drain(c, r, sink, arg);
			adv = seq_diff(r->next, seq);
			if ((uint32_t)adv >= len) {
				c->st.bytes_retrans += len;
				return;
			}
			c->st.bytes_retrans += (uint32_t)adv;
			data += adv;
			len -= (uint32_t)adv;
			seq = r->next;
			continue;
		}
		if (h && (uint32_t)seq_diff(h->seq, r->next) < n)
			n = (uint32_t)seq_diff(h->seq, r->next);
		r->next += n;
		c->st.bytes_in_order += n;
		sink(arg, data, n);
		data += n;
		len -= n;
		seq += n;
	}
	drain(c, r, sink, arg);
}

static bool room_for(struct reasm_ctx *c, struct reasm *r, uint32_t n)
{
	if (r->held + (uint64_t)n > c->dir_cap) {
		c->st.cap_flow++;
		return false;
	}
	if (c->global_held + n > c->global_cap) {
		c->st.cap_global++;
		return false;
	}
	return true;
}

/* Hold [seq, seq+len), seq ahead of next, filling only the holes between
 * what is already held. Returns false when a cap was hit. */
static bool hold(struct reasm_ctx *c, struct reasm *r, uint32_t seq,
		 const uint8_t *data, uint32_t len)
{
	uint32_t cur = seq, end = seq + len;
	struct reasm_seg **pp = &r->ooo;

	while (seq_diff(end, cur) > 0) {
		struct reasm_seg *h = *pp, *s;
		uint32_t piece_end = end, n;

		if (h && seq_diff(h->seq + h->len, cur) <= 0) {
			pp = &h->next;
			continue;
		}
		if (h && seq_diff(h->seq, cur) <= 0) {
			uint32_t hend = h->seq + h->len;
			uint32_t covered = seq_diff(hend, end) < 0 ? hend - cur : end - cur;

			c->st.bytes_retrans += covered;
			cur += covered;
			pp = &h->next;
			continue;
		}
		if (h && seq_diff(h->seq, end) < 0)
			piece_end = h->seq;
		n = piece_end - cur;
		if (!room_for(c, r, n))
			return false;
		s = malloc(sizeof(*s) + n);
		if (!s) {
			c->st.alloc_fail++;
			return false;
		}
		s->seq = cur;
		s->len = n;
		memcpy(s->data, data + (cur - seq), n);
		s->next = h;
		*pp = s;
		pp = &s->next;
		r->held += n;
		c->global_held += n;
		c->st.bytes_held += n;
		cur = piece_end;
	}
	return true;
}

void reasm_push(struct reasm_ctx *c, struct reasm *r, uint32_t seq,
		const uint8_t *data, uint32_t len, reasm_sink sink, void *arg)
{
	int32_t d;
	int rounds;

	if (!len)
		return;
	if (!r->open)
		reasm_open(r, seq);
	/* Each round either delivers, holds, or frees held memory; three
	 * rounds cover "cap hit, skip the hole, now in order". */
	for (rounds = 0; rounds < 4; rounds++) {
		d = seq_diff(seq, r->next);
		if (d < 0) {
			if ((uint32_t)-d >= len) {
				c->st.bytes_retrans += len;
				return;
			}
			c->st.bytes_retrans += (uint32_t)-d;
			data += -d;
			len -= (uint32_t)-d;
			seq = r->next;
			d = 0;
		}
		if (d == 0) {
			deliver_in_order(c, r, seq, data, len, sink, arg);
			return;
		}
		if ((uint32_t)d > REASM_MAX_AHEAD) {
			c->st.bytes_retrans += len;
			return;
		}
		if (hold(c, r, seq, data, len))
			return;
		skip_hole(c, r, seq, sink, arg);
	}
}

void reasm_ack(struct reasm_ctx *c, struct reasm *r, uint32_t ack,
	       reasm_sink sink, void *arg)
{
	int32_t d;

	if (!r->open)
		return;
	if (r->fin && seq_diff(ack, r->fin_seq) > 0)
		ack = r->fin_seq;	/* the FIN itself carries no byte */
	d = seq_diff(ack, r->next);
	if (d <= 0 || (uint32_t)d > REASM_MAX_AHEAD)
		return;
	while (seq_diff(ack, r->next) > 0) {
		if (r->ooo && seq_diff(r->ooo->seq, ack) < 0)
			skip_hole(c, r, ack, sink, arg);
		else
			emit_gap(c, r, ack, sink, arg);
	}
}

void reasm_free(struct reasm_ctx *c, struct reasm *r)
{
	while (r->ooo)
		drop_head(c, r);
	memset(r, 0, sizeof(*r));
}
