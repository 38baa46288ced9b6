/* Per-direction TCP reassembly: in-order bytes out, out-of-order segments
 * held up to a per-direction and a global cap, first copy wins on overlap.
 * In-order data is handed on straight from the packet, without a copy. */
#ifndef RCPTGUARD_REASM_H
#define RCPTGUARD_REASM_H

#include <stdbool.h>
#include <stdint.h>

struct reasm_seg;

struct reasm {
	uint32_t next;		/* next sequence number to deliver */
	uint32_t held;		/* bytes held out of order */
	struct reasm_seg *ooo;	/* held segments, sorted, not overlapping */
	bool open;		/* next is known */
	bool fin;		/* FIN seen; fin_seq is its sequence number */
	uint32_t fin_seq;
};

struct reasm_stats {
	uint64_t bytes_in_order;	/* delivered straight from the packet */
	uint64_t bytes_held;		/* copied into the out-of-order store */
	uint64_t bytes_retrans;		/* already delivered or held: dropped */
	uint64_t gaps;			/* holes skipped */
	uint64_t gap_bytes;
	uint64_t cap_flow;		/* per-direction cap bit */
	uint64_t cap_global;		/* global cap bit */
	uint64_t alloc_fail;
};

struct reasm_ctx {
	uint32_t dir_cap;	/* bytes held per direction */
	uint64_t global_cap;	/* bytes held in all flows */
	uint64_t global_held;
	struct reasm_stats st;
};

/* data != NULL: len bytes in order; data == NULL: a gap of len bytes. */
typedef void (*reasm_sink)(void *arg, const uint8_t *data, uint32_t len);

/* Start the stream at isn + 1 (after a SYN) or at seq (mid-stream). */
void reasm_open(struct reasm *r, uint32_t next);
void reasm_push(struct reasm_ctx *c, struct reasm *r, uint32_t seq,
		const uint8_t *data, uint32_t len, reasm_sink sink, void *arg);
/* The peer acknowledged up to ack: whatever we miss below it was lost by the
 * capture, not by the network; skip it as a gap. */
void reasm_ack(struct reasm_ctx *c, struct reasm *r, uint32_t ack,
	       reasm_sink sink, void *arg);
void reasm_free(struct reasm_ctx *c, struct reasm *r);

#endif
