/* The counter registry (see counters.h): the pipeline's rows, and the
 * three renderings every table shares. */
#include "counters.h"

#include <inttypes.h>
#include <string.h>

#include "pipeline.h"

/* ---- reading a row ---- */

static bool present(const struct counter *r, const struct counter_ctx *c)
{
	return !r->avail || r->avail(c);
}

static bool is_family(const struct counter *r)
{
	return r->n != NULL;
}

static uint64_t value(const struct counter *r, const struct counter_ctx *c)
{
	if (r->get)
		return r->get(c);
	return *(const uint64_t *)((const char *)r->base(c) + r->offset);
}

static const uint64_t *family_values(const struct counter *r, const struct counter_ctx *c)
{
	return (const uint64_t *)((const char *)r->base(c) + r->offset);
}

static uint64_t family_value(const struct counter *r, const struct counter_ctx *c, size_t i, size_t j)
{
	const uint64_t *v = family_values(r, c);

	return r->sub ? v[i * r->stride + r->sub_first + j] : v[i];
}

/* A key of a two-level family whose values are all 0 is left out. */
static bool family_key_empty(const struct counter *r, const struct counter_ctx *c, size_t i)
{
	if (!r->sub)
		return false;
	for (size_t j = 0; j < r->nsub; j++)
		if (family_value(r, c, i, j))
			return false;
	return true;
}

static void put_scalar(const struct counter *r, const struct counter_ctx *c, bool json, FILE *o)
{
	switch (r->kind) {
	case CK_BOOL:
		fputs(value(r, c) ? (json ? "true" : "yes") : (json ? "false" : "no"), o);
		break;
	case CK_REAL:
		fprintf(o, "%.1f", r->getf(c));
		break;
	case CK_TEXT:
		fprintf(o, json ? "\"%s\"" : "%s", r->gets(c));
		break;
	default:
		fprintf(o, "%" PRIu64, value(r, c));
		break;
	}
}

/* ---- JSON ---- */

static void json_family(const struct counter *r, const struct counter_ctx *c, FILE *o)
{
	bool first = true;

	fprintf(o, "\"%s\":{", r->name);
	for (size_t i = 0, n = r->n(c); i < n; i++) {
		if (family_key_empty(r, c, i))
			continue;
		fprintf(o, "%s\"%s\":", first ? "" : ",", r->key(c, i));
		first = false;
		if (!r->sub) {
			fprintf(o, "%" PRIu64, family_value(r, c, i, 0));
			continue;
		}
		fputc('{', o);
		for (size_t j = 0; j < r->nsub; j++)
			fprintf(o, "%s\"%s\":%" PRIu64, j ? "," : "", r->sub[j], family_value(r, c, i, j));
		fputc('}', o);
	}
	fputc('}', o);
}

static void json_row(const struct counter *r, const struct counter_ctx *c, FILE *o)
{
	if (is_family(r)) {
		json_family(r, c, o);
		return;
	}
	fprintf(o, "\"%s\":", r->name);
	put_scalar(r, c, true, o);
}

static bool same_group(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static bool group_seen(const struct counter *const *tables, const struct counter *upto,
		       const char *group)
{
	for (size_t t = 0; tables[t]; t++)
		for (const struct counter *r = tables[t]; r->name; r++) {
			if (r == upto)
				return false;
			if (same_group(r->group, group))
				return true;
		}
	return false;
}

void counters_json(const struct counter *const *tables, const struct counter_ctx *c, FILE *o)
{
	bool first = true;

	for (size_t t = 0; tables[t]; t++) {
		for (const struct counter *r = tables[t]; r->name; r++) {
			bool inner = true;

			if (!present(r, c))
				continue;
			if (!r->group) {
				fputs(first ? "" : ",", o);
				json_row(r, c, o);
				first = false;
				continue;
			}
			if (group_seen(tables, r, r->group))
				continue;
			/* The whole group, from every table, where it first appears. */
			fprintf(o, "%s\"%s\":{", first ? "" : ",", r->group);
			first = false;
			for (size_t u = 0; tables[u]; u++)
				for (const struct counter *g = tables[u]; g->name; g++) {
					if (!same_group(g->group, r->group) || !present(g, c))
						continue;
					fputs(inner ? "" : ",", o);
					json_row(g, c, o);
					inner = false;
				}
			fputc('}', o);
		}
	}
}

/* ---- Prometheus ---- */

static void metric_name(const struct counter *r, char *buf, size_t len)
{
	if (r->metric)
		snprintf(buf, len, "%s", r->metric);
	else
		snprintf(buf, len, "%s%s%s%s", r->group ? r->group : "", r->group ? "_" : "", r->name,
			 r->kind == CK_COUNTER ? "_total" : "");
}

static void prom_samples(const struct counter *r, const struct counter_ctx *c, const char *m, FILE *o)
{
	if (!is_family(r)) {
		uint64_t v;

		fprintf(o, "rcptguard_%s%s%s%s ", m, r->mlabel ? "{" : "", r->mlabel ? r->mlabel : "",
			r->mlabel ? "}" : "");
		if (r->kind == CK_REAL) {
			fprintf(o, "%.2f\n", r->getf(c));
			return;
		}
		v = value(r, c);
		fprintf(o, "%" PRIu64 "\n", r->kind == CK_BOOL ? (uint64_t)(v != 0) : v);
		return;
	}
	for (size_t i = 0, n = r->n(c); i < n; i++) {
		if (!r->sub) {
			fprintf(o, "rcptguard_%s{%s=\"%s\"} %" PRIu64 "\n", m, r->label, r->key(c, i),
				family_value(r, c, i, 0));
			continue;
		}
		for (size_t j = 0; j < r->nsub; j++) {
			uint64_t v = family_value(r, c, i, j);

			if (v)
				fprintf(o, "rcptguard_%s{%s=\"%s\",%s=\"%s\"} %" PRIu64 "\n", m, r->label,
					r->key(c, i), r->sublabel, r->sub[j], v);
		}
	}
}

void counters_prom(const struct counter *const *tables, const struct counter_ctx *c, FILE *o)
{
	for (size_t t = 0; tables[t]; t++) {
		for (const struct counter *r = tables[t]; r->name; r++) {
			char m[128], other[128];
			bool seen = false;

			if ((r->flags & CF_NOMETRIC) || r->kind == CK_TEXT || !present(r, c))
				continue;
			metric_name(r, m, sizeof(m));
			/* A metric's series come together, after its first row:
			 * is there one before r? */
			for (size_t u = 0; tables[u] && !seen; u++) {
				const struct counter *g;

				for (g = tables[u]; g->name && g != r && !seen; g++) {
					if ((g->flags & CF_NOMETRIC) || g->kind == CK_TEXT || !present(g, c))
						continue;
					metric_name(g, other, sizeof(other));
					seen = !strcmp(m, other);
				}
				if (g == r)
					break;
			}
			if (seen)
				continue;
			fprintf(o, "# HELP rcptguard_%s %s\n# TYPE rcptguard_%s %s\n", m,
				r->help ? r->help : "See rcptguard(8).", m,
				r->kind == CK_COUNTER ? "counter" : "gauge");
			for (size_t u = 0; tables[u]; u++)
				for (const struct counter *g = tables[u]; g->name; g++) {
					if ((g->flags & CF_NOMETRIC) || g->kind == CK_TEXT || !present(g, c))
						continue;
					metric_name(g, other, sizeof(other));
					if (!strcmp(m, other))
						prom_samples(g, c, m, o);
				}
		}
	}
}

/* ---- text ---- */

static void text_family(const struct counter *r, const struct counter_ctx *c, FILE *o)
{
	bool first = true;

	for (size_t i = 0, n = r->n(c); i < n; i++) {
		if (family_key_empty(r, c, i))
			continue;
		fprintf(o, "%s%s ", first ? "" : ", ", r->key(c, i));
		first = false;
		if (!r->sub) {
			fprintf(o, "%" PRIu64, family_value(r, c, i, 0));
			continue;
		}
		for (size_t j = 0; j < r->nsub; j++)
			fprintf(o, "%s%" PRIu64, j ? "/" : "", family_value(r, c, i, j));
	}
	if (first)
		fputs("none", o);
	else if (r->sub) {
		fputs(" (", o);
		for (size_t j = 0; j < r->nsub; j++)
			fprintf(o, "%s%s", j ? "/" : "", r->sub[j]);
		fputc(')', o);
	}
}

void counters_text(const struct counter *const *tables, const struct counter_ctx *c,
		   const char *indent, FILE *o)
{
	bool any = false;

	/* The top level's single values first, on one line. */
	for (size_t t = 0; tables[t]; t++)
		for (const struct counter *r = tables[t]; r->name; r++) {
			if (r->group || is_family(r) || !present(r, c))
				continue;
			if (any)
				fprintf(o, ", %s ", r->name);
			else
				fprintf(o, "%straffic: %s ", indent, r->name);
			put_scalar(r, c, false, o);
			any = true;
		}
	if (any)
		fputc('\n', o);
	for (size_t t = 0; tables[t]; t++) {
		for (const struct counter *r = tables[t]; r->name; r++) {
			bool first = true;

			if (!present(r, c))
				continue;
			if (!r->group) {
				if (is_family(r)) {
					fprintf(o, "%s%s: ", indent, r->name);
					text_family(r, c, o);
					fputc('\n', o);
				}
				continue;
			}
			if (group_seen(tables, r, r->group))
				continue;
			fprintf(o, "%s%s:", indent, r->group);
			for (size_t u = 0; tables[u]; u++)
				for (const struct counter *g = tables[u]; g->name; g++) {
					if (!same_group(g->group, r->group) || !present(g, c))
						continue;
					fprintf(o, "%s %s ", first ? "" : ",", g->name);
					first = false;
					if (is_family(g)) {
						fputc('{', o);
						text_family(g, c, o);
						fputc('}', o);
					} else {
						put_scalar(g, c, false, o);
					}
				}
			fputc('\n', o);
		}
	}
}

/* ---- the pipeline's rows ---- */

static const void *b_pipe(const struct counter_ctx *c) { return &c->p->st; }
static const void *b_flows(const struct counter_ctx *c) { return &c->p->flows.st; }
static const void *b_smtp(const struct counter_ctx *c) { return &c->p->smtp.st; }
static const void *b_reasm(const struct counter_ctx *c) { return &c->p->reasm.st; }
static const void *b_tls(const struct counter_ctx *c) { return &c->p->tls.st; }
static const void *b_tracker(const struct counter_ctx *c) { return tracker_stats(c->p->tracker); }
static const void *b_wave(const struct counter_ctx *c) { return tracker_wave(c->p->tracker); }

static size_t n_decode(const struct counter_ctx *c) { (void)c; return DEC_NRESULTS; }
static const char *k_decode(const struct counter_ctx *c, size_t i) { (void)c; return dec_result_name((enum dec_result)i); }
static size_t n_class(const struct counter_ctx *c) { (void)c; return EC_COUNT; }
static const char *k_class(const struct counter_ctx *c, size_t i) { (void)c; return ev_class_name((int)i); }
static size_t n_verb(const struct counter_ctx *c) { (void)c; return V_COUNT; }
static const char *k_verb(const struct counter_ctx *c, size_t i) { (void)c; return smtp_verb_name((int)i); }
static size_t n_blind(const struct counter_ctx *c) { (void)c; return TLSB_COUNT - 1; }
static const char *k_blind(const struct counter_ctx *c, size_t i) { (void)c; return tls_blind_names[i + 1]; }
static size_t n_cipher(const struct counter_ctx *c) { (void)c; return TLSC_COUNT - 1; }
static const char *k_cipher(const struct counter_ctx *c, size_t i) { (void)c; return tls_cipher_names[i + 1]; }
static size_t n_rule(const struct counter_ctx *c) { return c->p->cfg->nrules; }
static const char *k_rule(const struct counter_ctx *c, size_t i) { return c->p->cfg->rules[i].name; }

static uint64_t g_max_sources(const struct counter_ctx *c) { return c->p->cfg->max_sources; }
static uint64_t g_tracker_memory(const struct counter_ctx *c) { return tracker_memory(c->p->tracker); }
static uint64_t g_per_source(const struct counter_ctx *c) { return tracker_bytes_per_source(c->p->tracker); }
static uint64_t g_per_hit(const struct counter_ctx *c) { (void)c; return tracker_bytes_per_hit(); }
static uint64_t g_wave_on(const struct counter_ctx *c) { return tracker_wave(c->p->tracker)->on; }
static uint64_t g_wave_rate(const struct counter_ctx *c) { return tracker_wave(c->p->tracker)->rate; }
static uint64_t g_wave_peak(const struct counter_ctx *c) { return tracker_wave(c->p->tracker)->peak; }
static double g_wave_baseline(const struct counter_ctx *c) { return tracker_wave(c->p->tracker)->baseline; }

static const char *const reply_classes[] = { "2xx", "3xx", "4xx", "5xx" };

/* type is a type name: it cannot be parenthesized. */
#define V(grp, nm, kind, b, type, field, metric, help) /* NOLINT(bugprone-macro-parentheses) */ \
	{ grp, nm, kind, 0, metric, NULL, help, .base = (b), .offset = offsetof(type, field) }
#define P(grp, nm, field, help) V(grp, nm, CK_COUNTER, b_pipe, struct pipeline_stats, field, NULL, help)
#define F(nm, field, metric, help) V("flows", nm, CK_COUNTER, b_flows, struct flow_stats, field, metric, help)
#define S(nm, field, help) V("smtp", nm, CK_COUNTER, b_smtp, struct smtp_stats, field, NULL, help)
#define RS(nm, field, help) V("reasm", nm, CK_COUNTER, b_reasm, struct reasm_stats, field, NULL, help)
#define TL(nm, field, help) V("tls", nm, CK_COUNTER, b_tls, struct tls_stats, field, NULL, help)
#define T(nm, field, metric, help) V("tracker", nm, CK_COUNTER, b_tracker, struct tracker_stats, field, metric, help)

const struct counter counters_pipeline[] = {
	P(NULL, "packets", packets, "Packets seen."),
	P(NULL, "bytes", bytes, "Bytes of packets seen."),
	{ NULL, "decode", CK_COUNTER, 0, "decode_total", NULL, "Packets by decoder outcome.",
	  .base = b_pipe, .offset = offsetof(struct pipeline_stats, decode), .label = "result",
	  .n = n_decode, .key = k_decode },
	P(NULL, "not_smtp", not_smtp, "TCP packets to or from no SMTP port."),
	P(NULL, "not_protected", not_protected, "Packets whose server end is not protected."),
	P(NULL, "untrusted_replies", untrusted_replies, "Server data seen arriving inbound: not believed."),
	P(NULL, "payload_truncated", payload_truncated, "Segments the snaplen cut."),
	F("created", created, "flows_created_total", "TCP flows created."),
	F("verified", verified, NULL, "Flows whose handshake was seen."),
	F("midstream", midstream, NULL, "Flows picked up mid-stream."),
	F("evicted", evicted, "flow_evictions_total", "Flows dropped to stay under max_flows."),
	F("expired_embryonic", expired[FS_EMBRYONIC], NULL, "Flows timed out before their handshake ended."),
	F("expired_established", expired[FS_ESTABLISHED], NULL, "Established flows timed out."),
	F("expired_closing", expired[FS_CLOSING], NULL, "Closing flows timed out."),
	F("closed", closed, NULL, "Flows closed."),
	F("reused", reused, NULL, "New SYNs on an address pair still followed."),
	V("flows", "peak", CK_GAUGE, b_flows, struct flow_stats, peak, NULL, "Most flows followed at once."),
	V("smtp", "sessions", CK_COUNTER, b_pipe, struct pipeline_stats, sessions, "smtp_sessions_total",
	  "Flows that carried SMTP."),
	S("opaque_starttls", opaque_starttls, "Sessions opaque after STARTTLS."),
	S("opaque_tls", opaque_tls, "Sessions in TLS from their first byte."),
	S("bodies", bodies, "Message bodies passed over (DATA and BDAT)."),
	S("body_bytes", body_bytes, "Bytes of DATA bodies."),
	S("bdat_bytes", bdat_bytes, "Bytes of BDAT chunks."),
	S("desyncs", desyncs, "Sessions that lost the pairing of commands and replies."),
	S("resyncs", resyncs, "Sessions that found it again."),
	S("unsolicited", unsolicited, "Replies with no command pending."),
	S("malformed_replies", malformed_replies, "Replies that are not SMTP."),
	S("overlong_lines", overlong_lines, "Lines longer than max_line."),
	S("pipeline_overflow", pipeline_overflow, "Commands beyond max_pipeline awaiting replies."),
	S("unpaired_replies", unpaired_replies, "Replies while unpaired."),
	RS("in_order", bytes_in_order, "Bytes delivered in order from the packet."),
	RS("held", bytes_held, "Bytes held out of order."),
	RS("retrans", bytes_retrans, "Bytes retransmitted: dropped."),
	RS("gaps", gaps, "Holes in a stream skipped."),
	RS("gap_bytes", gap_bytes, "Bytes never seen."),
	RS("cap_flow", cap_flow, "Times a direction's reassembly cap was hit."),
	RS("cap_global", cap_global, "Times the global reassembly cap was hit."),
	TL("sessions", sessions, "Sessions followed after STARTTLS."),
	TL("counted", counted, "TLS sessions that passed the gate: their inferred rejections count."),
	{ "tls", "blind", CK_COUNTER, 0, "tls_blind_total", NULL, "TLS sessions that count nothing, by reason.",
	  .base = b_tls, .offset = offsetof(struct tls_stats, blind[1]), .label = "reason",
	  .n = n_blind, .key = k_blind },
	{ "tls", "ciphers", CK_COUNTER, 0, "tls_sessions_total", NULL, "TLS sessions by the cipher chosen.",
	  .base = b_tls, .offset = offsetof(struct tls_stats, by_cipher[1]), .label = "cipher",
	  .n = n_cipher, .key = k_cipher },
	TL("client_records", records[0], "TLS records from clients, after STARTTLS."),
	TL("server_records", records[1], "TLS records from servers, after STARTTLS."),
	TL("exchanges", exchanges, "Exchanges judged: client records and the server records after them."),
	TL("explained", explained, "Exchanges a command mix filled exactly."),
	TL("unexplained", unexplained, "Exchanges no mix filled, even joined with the next ones."),
	TL("capped", capped, "Exchanges too large to search: not counted."),
	TL("rejected", rejected, "Rejected RCPTs inferred inside TLS (the likeliest mix)."),
	TL("rejected_lower", rejected_lower, "The fewest rejected RCPTs any fitting mix had."),
	TL("accepted", accepted, "Accepted RCPTs inferred inside TLS."),
	{ NULL, "replies", CK_COUNTER, 0, "smtp_replies_total", NULL, "SMTP replies by command and class.",
	  .base = b_smtp, .offset = offsetof(struct smtp_stats, replies), .label = "verb",
	  .n = n_verb, .key = k_verb, .sublabel = "class", .sub = reply_classes, .nsub = 4, .stride = 6,
	  .sub_first = 2 },
	{ NULL, "events", CK_COUNTER, 0, "events_total", NULL, "Classified events by class.",
	  .base = b_pipe, .offset = offsetof(struct pipeline_stats, events), .label = "class",
	  .n = n_class, .key = k_class },
	P(NULL, "events_unverified", events_unverified, "Events paired on mid-stream flows."),
	T("hits", hits, NULL, "Events counted by a rule."),
	T("duplicates", duplicates, NULL, "Recipients a source had asked for already."),
	T("trap_hits", trap_hits, NULL, "Probes of trap recipients."),
	T("allowlisted", allowlisted, NULL, "Events of allowlisted sources: not counted."),
	T("never_ban", never_ban, NULL, "Events of sources never banned (loopback, own)."),
	T("while_banned", while_banned, NULL, "Events of sources banned already."),
	T("evictions", evictions, "tracker_evictions_total", "Sources dropped to stay under max_sources."),
	T("table_full", table_full, NULL, "Events lost: every slot held by a banned source."),
	V("tracker", "sources_peak", CK_GAUGE, b_tracker, struct tracker_stats, sources_peak, NULL,
	  "Most sources tracked at once."),
	{ "tracker", "max_sources", CK_GAUGE, 0, NULL, NULL, "The max_sources cap.", .get = g_max_sources },
	{ "tracker", "memory_bytes", CK_GAUGE, 0, "memory_bytes", "part=\"tracker\"", "Memory held, by part.",
	  .get = g_tracker_memory },
	{ "tracker", "bytes_per_source", CK_GAUGE, 0, NULL, NULL, "Bytes a tracked source costs.",
	  .get = g_per_source },
	{ "tracker", "bytes_per_hit", CK_GAUGE, 0, NULL, NULL, "Bytes a counted event costs.",
	  .get = g_per_hit },
	T("share_spared", share_spared, "share_spared_total",
	  "Times a source reached a threshold with too small a share of rejections."),
	{ "tracker", "narrowed", CK_COUNTER, 0, "prefix_bans_total", "action=\"narrowed\"",
	  "Prefix bans that covered an allowlisted or own address, by what was done.",
	  .base = b_tracker, .offset = offsetof(struct tracker_stats, narrowed) },
	{ "tracker", "refused", CK_COUNTER, 0, "prefix_bans_total", "action=\"refused\"", NULL,
	  .base = b_tracker, .offset = offsetof(struct tracker_stats, refused) },
	T("leaked", leaked, "leaked_recipients_total",
	  "Valid recipients a source had accepted before a rule banned it."),
	T("wave_bans", wave_bans, "wave_bans_total", "Bans decided by a wave_threshold."),
	{ "wave", "on", CK_BOOL, 0, "wave", NULL, "1 while a wave of rejections is on.", .get = g_wave_on },
	{ "wave", "rate", CK_GAUGE, 0, "wave_rejections", NULL, "Rejected recipients in the last 5 minutes.",
	  .get = g_wave_rate },
	{ "wave", "baseline", CK_REAL, 0, "wave_baseline", NULL,
	  "Moving average of wave_rejections outside waves.", .getf = g_wave_baseline },
	{ "wave", "peak", CK_GAUGE, 0, NULL, NULL, "Highest rate of the current or last wave.",
	  .get = g_wave_peak },
	V("wave", "waves", CK_COUNTER, b_wave, struct wave_info, waves, "waves_total", "Waves of rejections seen."),
	{ NULL, "bans", CK_COUNTER, CF_NOMETRIC, NULL, NULL, "Bans decided by the rules.",
	  .base = b_tracker, .offset = offsetof(struct tracker_stats, bans) },
	{ NULL, "bans_by_rule", CK_COUNTER, 0, "bans_total", NULL,
	  "Bans by rule (manual: from the command line).", .base = b_tracker,
	  .offset = offsetof(struct tracker_stats, bans_by_rule), .label = "rule", .n = n_rule,
	  .key = k_rule },
	{ NULL },
};

static uint64_t g_flows(const struct counter_ctx *c) { return c->p->flows.n; }
static uint64_t g_max_flows(const struct counter_ctx *c) { return c->p->flows.max; }
static uint64_t g_sources(const struct counter_ctx *c) { return tracker_sources(c->p->tracker); }
static uint64_t g_reasm_held(const struct counter_ctx *c) { return c->p->reasm.global_held; }
static uint64_t g_reasm_cap(const struct counter_ctx *c) { return c->p->reasm.global_cap; }
static uint64_t g_active(const struct counter_ctx *c) { return tracker_active_bans(c->p->tracker); }
static uint64_t g_wave_enabled(const struct counter_ctx *c) { return c->p->cfg->wave_min != 0; }
static uint64_t g_wave_level(const struct counter_ctx *c) { return (uint64_t)tracker_wave_level(c->p->tracker); }

const struct counter counters_now[] = {
	{ "memory", "flows", CK_GAUGE, 0, "flows", NULL, "TCP flows tracked now.", .get = g_flows },
	{ "memory", "max_flows", CK_GAUGE, 0, "flows_max", NULL, "The max_flows cap.", .get = g_max_flows },
	{ "memory", "sources", CK_GAUGE, 0, "tracked_sources", NULL, "Sources with state in the tracker.",
	  .get = g_sources },
	{ "memory", "reasm_bytes", CK_GAUGE, 0, "memory_bytes", "part=\"reassembly\"", NULL,
	  .get = g_reasm_held },
	{ "memory", "reasm_cap", CK_GAUGE, 0, NULL, NULL, "The reasm_total_bytes cap.", .get = g_reasm_cap },
	{ "banned", "active", CK_GAUGE, 0, "active_bans", NULL, "Bans in force now.", .get = g_active },
	{ "banned", "manual", CK_COUNTER, 0, "bans_total", "rule=\"manual\"", NULL,
	  .base = b_tracker, .offset = offsetof(struct tracker_stats, bans_manual) },
	{ "banned", "fleet", CK_COUNTER, 0, "bans_total", "rule=\"fleet\"", NULL,
	  .base = b_tracker, .offset = offsetof(struct tracker_stats, bans_fleet) },
	V("banned", "lifted", CK_COUNTER, b_tracker, struct tracker_stats, unbans, NULL,
	  "Bans ended or lifted."),
	{ "banned", "lifted_by_rule", CK_COUNTER, 0, "unbans_total", NULL, "Bans ended or lifted, by rule.",
	  .base = b_tracker, .offset = offsetof(struct tracker_stats, unbans_by_rule), .label = "rule",
	  .n = n_rule, .key = k_rule },
	{ "banned", "lifted_manual", CK_COUNTER, 0, "unbans_total", "rule=\"manual\"", NULL,
	  .base = b_tracker, .offset = offsetof(struct tracker_stats, unbans_manual) },
	{ "banned", "lifted_fleet", CK_COUNTER, 0, "unbans_total", "rule=\"fleet\"", NULL,
	  .base = b_tracker, .offset = offsetof(struct tracker_stats, unbans_fleet) },
	{ "wave", "enabled", CK_BOOL, 0, NULL, NULL, "1 unless wave_min = 0.", .get = g_wave_enabled },
	{ "wave", "start_level", CK_GAUGE, 0, NULL, NULL, "The rate at which a wave starts now.",
	  .get = g_wave_level },
	{ NULL },
};
