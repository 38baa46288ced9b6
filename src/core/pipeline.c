#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

/* What the reassembler's and parser's callbacks need to know. */
struct sink_ctx {
	struct pipeline *p;
	struct flow *f;
	usec_t now;
	/* The segment's payload when it is plain (pkt_place), else NULL:
	 * client data from within it holds no line that starts with a dot. */
	const uint8_t *plain;
	uint32_t plain_len;
};

/* An event of class cls: to the owner's hook, then to the tracker. */
static void deliver(const struct sink_ctx *x, int cls, const struct smtp_event *ev)
{
	struct pipeline *p = x->p;
	struct flow *f = x->f;

	if (p->out) {
		if (cls >= 0)
			evring_put(p->out, x->now, &f->key.cli, cls, f->verified || p->cfg->count_unverified, ev);
		return;
	}
	if (p->on_event) {
		struct flow_event fe = {
			.time = x->now,
			.flow = &f->key,
			.verified = f->verified,
			.cls = cls,
			.ev = ev,
		};

		p->on_event(p->event_arg, &fe);
	}
	if (cls >= 0 && (f->verified || p->cfg->count_unverified))
		tracker_event_hint(p->tracker, x->now, &f->key.cli, cls, ev, &f->src_hint);
}

static void on_smtp_event(void *arg, const struct smtp_event *ev)
{
	struct sink_ctx *x = arg;
	struct pipeline *p = x->p;
	struct flow *f = x->f;
	int cls = classify(ev);

	if (cls >= 0)
		p->st.events[cls]++;
	if (!f->verified)
		p->st.events_unverified++;
	deliver(x, cls, ev);
	/* What this server's replies look like, for its TLS sessions. */
	if (f->verified && p->cfg->tls_infer) {
		usec_t since = f->t_cli > f->t_reply ? f->t_cli : f->t_reply;
		/* How long it took: the greeting (nothing asked yet) and the
		 * end of data (the server's queue, a content filter) say
		 * nothing of an error sleep. */
		bool timed = f->t_cli && ev->verb != V_EOM && x->now >= since;

		if (p->out) {
			/* One calibration for all workers: the loop's. */
			evring_put_calib(p->out, &f->key.srv, cls, ev, f->errors,
					 timed ? (uint64_t)(x->now - since) : UINT64_MAX);
		} else {
			tls_calib_observe(&p->tls.cal, &f->key.srv, ev, cls);
			if (timed)
				tls_calib_delay(&p->tls.cal, &f->key.srv, f->errors, x->now - since);
		}
	}
	f->t_reply = x->now;
	if (ev->code >= 400 && f->errors < UINT8_MAX)
		f->errors++;
}

/* RCPTs inferred inside TLS: events of their own classes, the accepted
 * ones first (one exchange is judged at once anyway: the tracker's batch
 * is the packet's). */
static void on_tls_rejects(void *arg, uint32_t n, uint32_t lower, uint32_t accepted, bool unexplained)
{
	struct sink_ctx *x = arg;
	/* No recipient: inside TLS one cannot be told from another. */
	struct smtp_event rej = { .verb = V_RCPT, .code = 550 }, acc = { .verb = V_RCPT, .code = 250 };

	(void)lower;
	if (unexplained) {
		struct smtp_event none = { .verb = V_NONE };

		x->p->st.events[EC_TLS_UNEXPLAINED]++;
		deliver(x, EC_TLS_UNEXPLAINED, &none);
		return;
	}
	x->p->st.events[EC_RCPT_ACCEPTED_TLS] += accepted;
	x->p->st.events[EC_RCPT_REJECTED_TLS] += n;
	for (uint32_t i = 0; i < accepted; i++)
		deliver(x, EC_RCPT_ACCEPTED_TLS, &acc);
	for (uint32_t i = 0; i < n; i++)
		deliver(x, EC_RCPT_REJECTED_TLS, &rej);
}

/* The session's TLS records are followed from here. */
static struct tls *follow_tls(struct sink_ctx *x)
{
	x->f->tls = xcalloc(1, sizeof(*x->f->tls));
	tls_init(&x->p->tls, x->f->tls, &x->f->key.srv);
	return x->f->tls;
}

static void client_sink(void *arg, const uint8_t *d, uint32_t n)
{
	struct sink_ctx *x = arg;

	if (x->f->tls) {
		tls_data(&x->p->tls, x->f->tls, 0, d, n, x);
		return;
	}
	if (d) {
		/* Bytes of the segment itself, not of data held before: what
		 * is true of its payload is true of any part of it. */
		bool plain = x->plain && (uintptr_t)d >= (uintptr_t)x->plain &&
			     (uintptr_t)d + n <= (uintptr_t)x->plain + x->plain_len;

		x->f->t_cli = x->now;
		smtp_client_plain(&x->p->smtp, &x->f->smtp, d, n, plain, x);
	} else
		smtp_client_gap(&x->p->smtp, &x->f->smtp, n);
	/* TLS from the first byte (implicit TLS on a port of smtp_ports):
	 * these bytes were the ClientHello, followed from here. */
	if (d && smtp_tls_first(&x->f->smtp) && x->p->cfg->tls_infer)
		tls_data(&x->p->tls, follow_tls(x), 0, d, n, x);
}

static void server_sink(void *arg, const uint8_t *d, uint32_t n)
{
	struct sink_ctx *x = arg;

	if (x->f->tls) {
		tls_data(&x->p->tls, x->f->tls, 1, d, n, x);
		return;
	}
	if (d)
		smtp_server(&x->p->smtp, &x->f->smtp, d, n, x);
	else
		smtp_server_gap(&x->p->smtp, &x->f->smtp, n);
	/* STARTTLS accepted: the records that follow are the session. */
	if (smtp_in_starttls(&x->f->smtp) && x->p->cfg->tls_infer)
		follow_tls(x);
}

static const reasm_sink sinks[2] = { client_sink, server_sink };

static void release_flow(void *arg, struct flow *f)
{
	struct pipeline *p = arg;

	reasm_free(&p->reasm, &f->r[0]);
	reasm_free(&p->reasm, &f->r[1]);
	if (f->smtp_on)
		smtp_free(&f->smtp);
	if (f->tls) {
		struct sink_ctx x = { .p = p, .f = f, .now = f->last };

		tls_end(&p->tls, f->tls, &x);
		free(f->tls);
		f->tls = NULL;
	}
}

/* Everything but the tracker and the hooks. */
static void init_front(struct pipeline *p, const struct config *cfg, uint64_t seed)
{
	usec_t timeouts[FS_NSTATES] = {
		[FS_EMBRYONIC] = cfg->timeout_embryonic,
		[FS_ESTABLISHED] = cfg->timeout_established,
		[FS_CLOSING] = cfg->timeout_closing,
	};

	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	flowtab_init(&p->flows, cfg->max_flows, timeouts, seed, release_flow, p);
	p->reasm.dir_cap = (uint32_t)(cfg->reasm_flow > UINT32_MAX ? UINT32_MAX : cfg->reasm_flow);
	p->reasm.global_cap = cfg->reasm_total;
	smtp_ctx_init(&p->smtp, cfg->max_pipeline, cfg->max_line, on_smtp_event);
	tls_ctx_init(&p->tls, on_tls_rejects);
	p->tls.fallback = cfg->servers_mode == SERVERS_LOCAL;
}

void pipeline_init(struct pipeline *p, const struct config *cfg, uint64_t seed,
		   ban_fn on_ban, flow_event_fn on_event, void *arg)
{
	init_front(p, cfg, seed);
	p->tracker = tracker_new(cfg, on_ban, arg);
	p->on_ban = on_ban;
	p->on_event = on_event;
	p->event_arg = arg;
}

struct carry {
	const struct tracker *from;
	struct tracker *to;
	const struct config *cfg;
	usec_t now;
};

static void carry_one(void *arg, const struct ban_record *r)
{
	const struct carry *x = arg;
	struct ban_record n = *r;
	n.rule = tracker_rule_index(x->cfg, tracker_rule_name(x->from, r->rule));
	tracker_restore(x->to, x->now, &n);
}

void pipeline_reconfigure(struct pipeline *p, const struct config *cfg, bool rules_changed)
{
	p->cfg = cfg;
	p->tls.fallback = cfg->servers_mode == SERVERS_LOCAL;
	p->flows.max = cfg->max_flows;
	p->flows.timeout[FS_EMBRYONIC] = cfg->timeout_embryonic;
	p->flows.timeout[FS_ESTABLISHED] = cfg->timeout_established;
	p->flows.timeout[FS_CLOSING] = cfg->timeout_closing;
	p->reasm.dir_cap = (uint32_t)(cfg->reasm_flow > UINT32_MAX ? UINT32_MAX : cfg->reasm_flow);
	p->reasm.global_cap = cfg->reasm_total;
	p->smtp.max_pipeline = cfg->max_pipeline;
	p->smtp.max_line = cfg->max_line;
	if (!p->tracker) {
		return;		/* a worker's: the loop's tracker has the rules */
	} else if (rules_changed) {
		struct tracker *old = p->tracker;
		struct carry x = { .from = old, .cfg = cfg, .now = p->last_expire };

		/* Counts start afresh; bans and their history stay. */
		p->tracker = tracker_new(cfg, p->on_ban, p->event_arg);
		tracker_set_wave_fn(p->tracker, p->on_wave, p->event_arg);
		tracker_copy_wave(p->tracker, old);
		x.to = p->tracker;
		tracker_foreach_ban(old, false, carry_one, &x);
		tracker_free(old);
	} else {
		tracker_set_config(p->tracker, cfg);
	}
}

void pipeline_set_wave_fn(struct pipeline *p, wave_fn fn)
{
	p->on_wave = fn;
	tracker_set_wave_fn(p->tracker, fn, p->event_arg);
}

void pipeline_free(struct pipeline *p)
{
	flowtab_free(&p->flows);
	smtp_ctx_free(&p->smtp);
	if (p->tracker)
		tracker_free(p->tracker);
	p->tracker = NULL;
}

void pipeline_init_worker(struct pipeline *p, const struct config *cfg, uint64_t seed,
			  struct evring *out)
{
	init_front(p, cfg, seed);
	p->out = out;
}

size_t pipeline_judge(struct pipeline *p, struct evring *r, size_t max)
{
	const struct evrec *e;
	bool open = false;
	size_t n = 0;

	/* A batch is published whole: stopping at max may only split
	 * one between two calls, never drop its end. */
	while (n < max && (e = evring_peek(r))) {
		if (!open) {
			tracker_batch_begin(p->tracker);
			open = true;
		}
		if (e->flags & EVR_CALIB) {
			tls_calib_observe(&p->tls.cal, &e->srv, &e->ev, e->cls);
			if (e->flags & EVR_DELAY)
				tls_calib_delay(&p->tls.cal, &e->srv, e->errors, e->delay);
			p->calib_moved = true;
		} else if (p->on_event) {
			struct flowkey key = { .cli = e->cli };
			struct flow_event fe = { .time = e->time, .flow = &key, .verified = true,
						 .cls = e->cls, .ev = &e->ev };

			p->on_event(p->event_arg, &fe);
		}
		if (e->flags & EVR_TRACK)
			tracker_event(p->tracker, e->time, &e->cli, e->cls, &e->ev);
		if (e->flags & EVR_END) {
			tracker_batch_end(p->tracker);
			open = false;
		}
		evring_next(r);
		n++;
	}
	if (open)
		tracker_batch_end(p->tracker);
	return n;
}

static void start_session(struct pipeline *p, struct flow *f, bool verified)
{
	f->verified = verified;
	f->smtp_on = true;
	smtp_init(&f->smtp, verified);
	p->st.sessions++;
	if (verified) {
		p->flows.st.verified++;
		reasm_open(&f->r[0], f->cli_isn + 1);
		reasm_open(&f->r[1], f->srv_isn + 1);
	} else {
		p->flows.st.midstream++;
	}
}

/* A segment's two ends, client first, given its direction (0: from the
 * client): the fields of its flow's key, where they lie in the packet, so
 * that hashing and lookups build no key. */
struct ends {
	const struct ipaddr *cli, *srv;
	uint16_t cport, sport;
};

static struct ends ends_of(const struct pkt *k, int d)
{
	struct ends e;

	e.cli = d == 0 ? &k->src : &k->dst;
	e.srv = d == 0 ? &k->dst : &k->src;
	e.cport = d == 0 ? k->sport : k->dport;
	e.sport = d == 0 ? k->dport : k->sport;
	return e;
}

/* The key itself, for a new flow only. It has no padding, so its fields
 * are all of it: no memset first (for 38 bytes the compiler picks a
 * byte-wise rep stos, which was two thirds of pipeline_place's time when
 * it built a key for every packet). */
_Static_assert(sizeof(struct flowkey) == 2 * sizeof(struct ipaddr) + 2 * sizeof(uint16_t),
	       "struct flowkey has no padding");

static void key_of(const struct pkt *k, int d, struct flowkey *key)
{
	const struct ends e = ends_of(k, d);

	key->cli = *e.cli;
	key->srv = *e.srv;
	key->cport = e.cport;
	key->sport = e.sport;
}

/* Handshake bookkeeping. Returns the flow to carry on with, or NULL when
 * the packet has nothing more to give. */
static struct flow *track_handshake(struct pipeline *p, usec_t now, const struct pkt *k,
				    uint64_t hash, int d)
{
	const struct ends e = ends_of(k, d);
	struct flow *f = flow_lookup(&p->flows, e.cli, e.srv, e.cport, e.sport, hash);
	struct flowkey key;
	uint8_t fl = k->flags;

	if (d == 0 && (fl & TH_SYN) && !(fl & TH_ACK)) {
		if (f && (f->state == FS_CLOSING || f->smtp_on || f->cli_isn != k->seq)) {
			/* The address pair is used again by a new connection. */
			p->flows.st.reused++;
			flow_remove(&p->flows, f);
			f = NULL;
		}
		if (!f) {
			key_of(k, d, &key);
			f = flow_create(&p->flows, &key, FS_EMBRYONIC, now);
			f->hs = HS_SYN;
			f->cli_isn = k->seq;
		} else {
			flow_touch(&p->flows, f, FS_EMBRYONIC, now);
		}
		return NULL;
	}
	if (!f) {
		if ((fl & (TH_SYN | TH_RST)) || !k->len || !p->cfg->follow_midstream)
			return NULL;
		key_of(k, d, &key);
		f = flow_create(&p->flows, &key, FS_ESTABLISHED, now);
		start_session(p, f, false);
		return f;
	}
	if (fl & TH_SYN) {
		if (d == 1 && (fl & TH_ACK) && f->hs == HS_SYN && k->ack == f->cli_isn + 1) {
			f->hs |= HS_SYNACK;
			f->srv_isn = k->seq;
		}
		flow_touch(&p->flows, f, f->state, now);
		return NULL;
	}
	if (fl & TH_RST) {
		p->flows.st.closed++;
		flow_touch(&p->flows, f, FS_CLOSING, now);
		return NULL;
	}
	if (!f->smtp_on) {
		bool done = f->hs == (HS_SYN | HS_SYNACK) &&
			((d == 0 && (fl & TH_ACK) && k->ack == f->srv_isn + 1 &&
			  k->seq == f->cli_isn + 1) ||
			 (d == 1 && k->seq == f->srv_isn + 1 && k->ack == f->cli_isn + 1));

		if (done)
			start_session(p, f, true);
		else if (k->len && p->cfg->follow_midstream)
			start_session(p, f, false);
		else {
			flow_touch(&p->flows, f, f->state, now);
			return NULL;
		}
	}
	return f;
}

void pipeline_place(const struct config *cfg, uint64_t seed, const struct pkt *k,
		    struct pkt_place *pl)
{
	struct ends e;

	pl->plain = false;
	if (config_is_smtp_port(cfg, k->dport))
		pl->dir = 0;
	else if (config_is_smtp_port(cfg, k->sport))
		pl->dir = 1;
	else {
		pl->dir = -1;
		pl->protected = false;
		return;
	}
	e = ends_of(k, pl->dir);
	pl->protected = cfg->servers_any || prefixlist_match(&cfg->servers, e.srv);
	if (pl->protected)
		pl->hash = flow_hash_of(seed, e.cli, e.srv, e.cport, e.sport);
}

void pipeline_placed(struct pipeline *p, usec_t now, const struct pkt *k, const struct pkt_place *pl)
{
	struct flow *f;
	struct sink_ctx x;
	int d = pl->dir;

	p->last_opaque = false;
	if (now - p->last_expire >= USEC_PER_SEC || now < p->last_expire) {
		flow_expire(&p->flows, now);
		p->last_expire = now;
	}
	if (d < 0) {
		p->st.not_smtp++;
		return;
	}
	if (!pl->protected) {
		p->st.not_protected++;
		return;
	}
	if (d == 1 && p->require_outbound_replies && k->dir == DIR_IN) {
		/* Claims to come from our server but arrived from outside. */
		p->st.untrusted_replies++;
		return;
	}
	f = track_handshake(p, now, k, pl->hash, d);
	if (!f)
		return;
	/* The events of one segment (a reply batch) are judged together. */
	if (p->tracker)
		tracker_batch_begin(p->tracker);
	flow_touch(&p->flows, f, f->state == FS_CLOSING ? FS_CLOSING : FS_ESTABLISHED, now);
	if (smtp_opaque(&f->smtp) && !f->tls) {
		if (f->r[0].held || f->r[1].held) {
			reasm_free(&p->reasm, &f->r[0]);
			reasm_free(&p->reasm, &f->r[1]);
		}
	} else if (k->len) {
		x.p = p;
		x.f = f;
		x.now = now;
		x.plain = pl->plain ? k->payload : NULL;
		x.plain_len = k->len;
		if (k->wire_len > k->len)
			p->st.payload_truncated++;
		/* Data from one side acknowledging bytes of the other that we
		 * never saw: the capture lost them, skip them now. */
		if ((k->flags & TH_ACK) && f->r[1 - d].open)
			reasm_ack(&p->reasm, &f->r[1 - d], k->ack, sinks[1 - d], &x);
		reasm_push(&p->reasm, &f->r[d], k->seq, k->payload, k->len, sinks[d], &x);
	}
	/* A side that closes sends no more commands: what it asked last is
	 * answered by now, or never. */
	if (f->tls && (k->flags & (TH_FIN | TH_RST))) {
		x.p = p;
		x.f = f;
		x.now = now;
		x.plain = NULL;
		tls_flush(&p->tls, f->tls, &x);
	}
	p->last_opaque = smtp_opaque(&f->smtp) && (!f->tls || tls_done(f->tls));
	if (k->flags & TH_FIN) {
		f->fin[d] = true;
		f->r[d].fin = true;
		f->r[d].fin_seq = k->seq + k->wire_len;
		if (f->fin[0] && f->fin[1]) {
			p->flows.st.closed++;
			flow_touch(&p->flows, f, FS_CLOSING, now);
		}
	}
	if (p->tracker)
		tracker_batch_end(p->tracker);
	else
		evring_publish(p->out);
}

void pipeline_packet(struct pipeline *p, usec_t now, const struct pkt *k)
{
	struct pkt_place pl;

	pipeline_place(p->cfg, p->flows.seed, k, &pl);
	pipeline_placed(p, now, k, &pl);
}

void pipeline_count_frame(struct pipeline *p, uint32_t caplen, enum dec_result r)
{
	p->st.packets++;
	p->st.bytes += caplen;
	p->st.decode[r]++;
}

void pipeline_frame(struct pipeline *p, usec_t now, int link, const uint8_t *data,
		    uint32_t caplen)
{
	struct pkt k;
	enum dec_result r;

	r = decode_packet(link, data, caplen, &k);
	pipeline_count_frame(p, caplen, r);
	if (r == DEC_OK)
		pipeline_packet(p, now, &k);
}

void pipeline_ip(struct pipeline *p, usec_t now, const uint8_t *data, uint32_t len, uint8_t dir)
{
	struct pkt k;
	enum dec_result r;

	p->st.packets++;
	p->st.bytes += len;
	r = decode_ip(data, len, &k);
	p->st.decode[r]++;
	if (r == DEC_OK) {
		k.dir = dir;
		pipeline_packet(p, now, &k);
	}
}

void pipeline_finish(struct pipeline *p)
{
	for (int st = 0; st < FS_NSTATES; st++)
		for (uint32_t i = p->flows.head[st]; i != UINT32_MAX; i = p->flows.f[i].next) {
			struct flow *f = &p->flows.f[i];
			struct sink_ctx x = { .p = p, .f = f, .now = f->last };

			if (f->tls)
				tls_flush(&p->tls, f->tls, &x);
		}
}

void pipeline_tick(struct pipeline *p, usec_t now)
{
	flow_expire(&p->flows, now);
	p->last_expire = now;
	if (p->tracker)
		tracker_advance(p->tracker, now);
	else
		evring_publish(p->out);
}
