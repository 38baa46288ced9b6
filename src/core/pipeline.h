/* The pure middle of rcptguard: a packet and its timestamp in, SMTP events
 * and ban decisions out. The live daemon and `rcptguard replay` both feed
 * this, so a replayed capture behaves exactly as the wire did. */
#ifndef RCPTGUARD_PIPELINE_H
#define RCPTGUARD_PIPELINE_H

#include "config.h"
#include "evring.h"
#include "decode.h"
#include "flow.h"
#include "reasm.h"
#include "smtp.h"
#include "tracker.h"

struct flow_event {
	usec_t time;
	const struct flowkey *flow;
	bool verified;
	int cls;		/* enum ev_class, or -1 */
	const struct smtp_event *ev;
};

typedef void (*flow_event_fn)(void *arg, const struct flow_event *e);

struct pipeline_stats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t decode[DEC_NRESULTS];
	uint64_t not_smtp;		/* TCP, but no configured port */
	uint64_t not_protected;		/* server end not a protected address */
	uint64_t untrusted_replies;	/* server data seen arriving inbound */
	uint64_t payload_truncated;	/* snaplen cut a segment */
	uint64_t sessions;		/* flows that carried SMTP */
	uint64_t events[EC_COUNT];
	uint64_t events_unverified;	/* paired on mid-stream flows */
};

struct pipeline {
	const struct config *cfg;
	struct flowtab flows;
	struct reasm_ctx reasm;
	struct smtp_ctx smtp;
	struct tls_ctx tls;
	struct tracker *tracker;
	struct pipeline_stats st;
	/* Believe server replies only when the capture says they left this
	 * host (live capture on the mail host); off for files by default. */
	bool require_outbound_replies;
	/* The last packet's session has nothing more for rcptguard to read
	 * (STARTTLS not followed, or TLS records it cannot read): the rest
	 * of it may bypass the capture (opaque_mark). */
	bool last_opaque;
	/* A capture worker's pipeline has no tracker: its events go into
	 * this ring, to the one tracker of the daemon's loop. */
	struct evring *out;
	/* pipeline_judge took cleartext replies into tls.cal (the owner
	 * hands the workers a copy and clears it). */
	bool calib_moved;
	flow_event_fn on_event;
	void *event_arg;
	ban_fn on_ban;
	wave_fn on_wave;
	usec_t last_expire;
};

void pipeline_init(struct pipeline *p, const struct config *cfg, uint64_t seed,
		   ban_fn on_ban, flow_event_fn on_event, void *arg);
void pipeline_free(struct pipeline *p);

/* A capture worker's pipeline: decode, flows, reassembly, SMTP and TLS of
 * its share of the traffic; the events a tracker would take go into out
 * instead, each packet's published as one batch. */
void pipeline_init_worker(struct pipeline *p, const struct config *cfg, uint64_t seed,
			  struct evring *out);
/* The loop's side: up to max published events of a worker's ring into
 * p's tracker (and its event hook, with the flow's client only), batch
 * by batch as the worker's pipeline made them. Returns how many. */
size_t pipeline_judge(struct pipeline *p, struct evring *r, size_t max);

/* A new configuration (SIGHUP). Flows and their dialogue state are kept;
 * the tracker's counts too unless the rules changed. cfg must outlive p. */
void pipeline_reconfigure(struct pipeline *p, const struct config *cfg, bool rules_changed);

/* Told when a wave of rejections starts and ends. */
void pipeline_set_wave_fn(struct pipeline *p, wave_fn fn);

/* Where a decoded packet belongs, from the configuration and the packet
 * alone: replay's reader thread works it out, off the pipeline's. */
struct pkt_place {
	int dir;		/* 0 from the client, 1 from the server, -1 not SMTP */
	bool protected;		/* the server end is one of servers */
	/* Client data known to hold no line that starts with a dot
	 * (smtp_plain), so that a message body's scan may skip it. Set by
	 * replay's reader, which has the payload at hand; false here. */
	bool plain;
	uint64_t hash;		/* when protected: the flow_hash of its flow's key */
};
/* Reads the configuration only: any thread may call it. seed is that of
 * the pipeline's flow table (p->flows.seed). */
void pipeline_place(const struct config *cfg, uint64_t seed, const struct pkt *k,
		    struct pkt_place *pl);

/* One captured frame of the given link type. */
void pipeline_frame(struct pipeline *p, usec_t now, int link, const uint8_t *data,
		    uint32_t caplen);
/* A frame decoded elsewhere (replay's reader thread), in two steps: its
 * counts, whatever decode_packet returned for it, then, when it decoded,
 * the packet with pipeline_place's answer for it. Together they are what
 * pipeline_frame does. */
void pipeline_count_frame(struct pipeline *p, uint32_t caplen, enum dec_result r);
void pipeline_placed(struct pipeline *p, usec_t now, const struct pkt *k, const struct pkt_place *pl);
/* One IP packet without a link header, as NFQUEUE hands them; dir is what
 * the capture knows of its way (DIR_IN, DIR_OUT or DIR_UNKNOWN). */
void pipeline_ip(struct pipeline *p, usec_t now, const uint8_t *data, uint32_t len, uint8_t dir);
/* One decoded packet. */
void pipeline_packet(struct pipeline *p, usec_t now, const struct pkt *k);
/* The end of the input (a capture file): what is pending is judged. */
void pipeline_finish(struct pipeline *p);
/* Time passes without packets: expire flows, turn the wheels. */
void pipeline_tick(struct pipeline *p, usec_t now);

#endif
