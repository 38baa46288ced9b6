#include "summary.h"

#include <stdlib.h>
#include <string.h>

/* Per-source event totals, keyed like the tracker (global prefixes), but
 * over the whole run rather than a window. */
struct srcsum {
	struct ipaddr key;
	uint8_t plen;
	bool used;
	uint64_t n[EC_COUNT];
};

struct summary {
	const struct config *cfg;
	struct srcsum *sum;
	size_t nsum, capsum;
	uint64_t dropped;	/* sources beyond max_sources */
	struct srcsum *last;	/* events come in runs from one source */
};

struct summary *summary_new(const struct config *cfg)
{
	struct summary *s = xcalloc(1, sizeof(*s));

	s->cfg = cfg;
	return s;
}

void summary_reconfigure(struct summary *s, const struct config *cfg)
{
	s->cfg = cfg;
}

void summary_free(struct summary *s)
{
	if (!s)
		return;
	free(s->sum);
	free(s);
}

static struct srcsum *sum_slot(struct summary *r, const struct ipaddr *key, uint8_t plen)
{
	size_t mask, i;

	if (r->last && r->last->plen == plen && addr_eq(&r->last->key, key))
		return r->last;
	if (r->nsum * 2 >= r->capsum) {
		struct srcsum *old = r->sum;
		size_t oldcap = r->capsum;

		if (r->nsum >= r->cfg->max_sources)
			goto probe;
		r->capsum = oldcap ? oldcap * 2 : 1024;
		r->sum = xcalloc(r->capsum, sizeof(*r->sum));
		for (size_t j = 0; j < oldcap; j++) {
			if (!old[j].used)
				continue;
			mask = r->capsum - 1;
			i = hash_bytes(&old[j].key, sizeof(old[j].key), old[j].plen) & mask;
			while (r->sum[i].used)
				i = (i + 1) & mask;
			r->sum[i] = old[j];
		}
		free(old);
		r->last = NULL;
	}
probe:
	mask = r->capsum - 1;
	i = hash_bytes(key, sizeof(*key), plen) & mask;
	while (r->sum[i].used) {
		if (r->sum[i].plen == plen && addr_eq(&r->sum[i].key, key))
			return r->last = &r->sum[i];
		i = (i + 1) & mask;
	}
	if (r->nsum >= r->cfg->max_sources || r->nsum + 1 >= r->capsum) {
		r->dropped++;
		return NULL;
	}
	r->sum[i].used = true;
	r->sum[i].key = *key;
	r->sum[i].plen = plen;
	r->nsum++;
	return r->last = &r->sum[i];
}

void summary_event(struct summary *r, const struct flow_event *e)
{
	const struct ipaddr *a = &e->flow->cli;
	uint8_t plen = a->af == 4 ? r->cfg->prefix4 : r->cfg->prefix6;
	struct ipaddr key;
	struct srcsum *s;

	if (e->cls < 0)
		return;
	addr_mask(a, plen, &key);
	s = sum_slot(r, &key, plen);
	if (s)
		s->n[e->cls]++;
}

/* Append n recipients to buf at o: as JSON strings, or after lead as
 * text, comma-separated. Returns the new offset. */
static size_t put_rcpts(char *buf, size_t len, size_t o, const char (*v)[SMTP_RCPT_MAX], uint32_t n,
			bool json, const char *lead)
{
	char esc[SMTP_RCPT_MAX * 6 + 1];

	for (uint32_t i = 0; i < n && o < len; i++) {
		json_escape(v[i], strlen(v[i]), esc, sizeof(esc));
		o += (size_t)snprintf(buf + o, len - o, json ? "%s\"%s\"" : "%s%s",
				      i ? "," : json ? "" : lead, esc);
	}
	return o;
}

void ban_format(const struct ban *b, bool json, char *buf, size_t len)
{
	char t[40], k[ADDR_STRLEN], w[ADDR_STRLEN], d[32];
	const char *why = b->trap ? "trap" : b->wave ? "wave" : "threshold";
	size_t o;

	fmt_time(b->time, t, sizeof(t));
	prefix_fmt(&b->key, k, sizeof(k));
	fmt_duration(b->duration, d, sizeof(d));
	if (b->narrowed)
		prefix_fmt(&b->wide, w, sizeof(w));
	if (json) {
		o = (size_t)snprintf(buf, len, "{\"type\":\"ban\",\"time\":\"%s\",\"key\":\"%s\","
				     "\"rule\":\"%s\",\"count\":%u,\"duration\":\"%s\","
				     "\"duration_s\":%lld,\"nth\":%u,\"reason\":\"%s\","
				     "\"rejected\":%u,\"accepted\":%u,\"share\":%u,"
				     "\"messages\":%u,\"sessions\":%u,\"wave\":%s",
				     t, k, b->rule_name, b->count, d,
				     (long long)(b->duration / USEC_PER_SEC), b->nth, why,
				     b->rejected, b->accepted, b->share, b->messages, b->sessions,
				     b->wave_on ? "true" : "false");
		if (b->narrowed && o < len)
			o += (size_t)snprintf(buf + o, len - o, ",\"narrowed_from\":\"%s\"", w);
		if (o < len)
			o += (size_t)snprintf(buf + o, len - o, ",\"leaked_count\":%u,\"leaked\":[",
					      b->nleaked);
		o = put_rcpts(buf, len, o, b->leaked, b->nlisted, true, "");
		if (o < len)
			o += (size_t)snprintf(buf + o, len - o, "],\"evidence\":[");
	} else {
		o = (size_t)snprintf(buf, len, "%s ban %s rule=%s count=%u duration=%s nth=%u reason=%s"
				     " rejected=%u accepted=%u share=%u%% messages=%u sessions=%u wave=%s",
				     t, k, b->rule_name, b->count, d, b->nth, why, b->rejected,
				     b->accepted, b->share, b->messages, b->sessions,
				     b->wave_on ? "on" : "off");
		if (b->narrowed && o < len)
			o += (size_t)snprintf(buf + o, len - o, " narrowed_from=%s", w);
		if (b->nleaked && o < len)
			o += (size_t)snprintf(buf + o, len - o, " leaked=%u", b->nleaked);
		o = put_rcpts(buf, len, o, b->leaked, b->nlisted, false, ":");
	}
	o = put_rcpts(buf, len, o, b->evidence, b->nevidence, json, " evidence=");
	if (json && o < len)
		snprintf(buf + o, len - o, "]}");
}

void wave_format(usec_t now, const struct wave_info *w, bool json, char *buf, size_t len)
{
	char t[40];

	fmt_time(now, t, sizeof(t));
	if (json)
		snprintf(buf, len, "{\"type\":\"wave\",\"time\":\"%s\",\"state\":\"%s\","
			 "\"rate\":%u,\"peak\":%u,\"baseline\":%.1f,\"bans\":%u}", t,
			 w->on ? "start" : "end", w->rate, w->peak, w->baseline, w->bans);
	else
		snprintf(buf, len, "%s wave %s rate=%u peak=%u baseline=%.1f bans=%u", t,
			 w->on ? "start" : "end", w->rate, w->peak, w->baseline, w->bans);
}

static int cmp_key(const void *a, const void *b)
{
	const struct srcsum *x = a, *y = b;

	if (x->key.af != y->key.af)
		return x->key.af - y->key.af;
	int c = memcmp(x->key.b, y->key.b, 16);

	return c ? c : x->plen - y->plen;
}

static int cmp_rejected(const void *a, const void *b)
{
	const struct srcsum *x = a, *y = b;

	if (x->n[EC_RCPT_REJECTED] != y->n[EC_RCPT_REJECTED])
		return x->n[EC_RCPT_REJECTED] < y->n[EC_RCPT_REJECTED] ? 1 : -1;
	return cmp_key(a, b);
}

/* The summary's sources, compacted and sorted by key. */
static size_t collect_sources(const struct summary *r, struct srcsum **out)
{
	struct srcsum *v = xcalloc(r->nsum ? r->nsum : 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < r->capsum; i++)
		if (r->sum[i].used)
			v[n++] = r->sum[i];
	qsort(v, n, sizeof(*v), cmp_key);
	*out = v;
	return n;
}

void summary_json(const struct summary *r, const struct pipeline *p, FILE *o)
{
	const struct pipeline_stats *ps = &p->st;
	const struct flow_stats *fs = &p->flows.st;
	const struct smtp_stats *ss = &p->smtp.st;
	const struct reasm_stats *rs = &p->reasm.st;
	const struct tracker_stats *ts = tracker_stats(p->tracker);
	struct srcsum *v;
	size_t n;
	char k[ADDR_STRLEN];

	fprintf(o, "{\"type\":\"summary\",\"packets\":%llu,\"bytes\":%llu,\"decode\":{",
		(unsigned long long)ps->packets, (unsigned long long)ps->bytes);
	for (int i = 0; i < DEC_NRESULTS; i++)
		fprintf(o, "%s\"%s\":%llu", i ? "," : "", dec_result_name((enum dec_result)i),
			(unsigned long long)ps->decode[i]);
	fprintf(o, "},\"not_smtp\":%llu,\"not_protected\":%llu,\"untrusted_replies\":%llu,"
		"\"payload_truncated\":%llu,",
		(unsigned long long)ps->not_smtp, (unsigned long long)ps->not_protected,
		(unsigned long long)ps->untrusted_replies, (unsigned long long)ps->payload_truncated);
	fprintf(o, "\"flows\":{\"created\":%llu,\"verified\":%llu,\"midstream\":%llu,"
		"\"evicted\":%llu,\"expired_embryonic\":%llu,\"expired_established\":%llu,"
		"\"expired_closing\":%llu,\"closed\":%llu,\"reused\":%llu,\"peak\":%llu},",
		(unsigned long long)fs->created, (unsigned long long)fs->verified,
		(unsigned long long)fs->midstream, (unsigned long long)fs->evicted,
		(unsigned long long)fs->expired[FS_EMBRYONIC],
		(unsigned long long)fs->expired[FS_ESTABLISHED],
		(unsigned long long)fs->expired[FS_CLOSING], (unsigned long long)fs->closed,
		(unsigned long long)fs->reused, (unsigned long long)fs->peak);
	fprintf(o, "\"smtp\":{\"sessions\":%llu,\"opaque_starttls\":%llu,\"opaque_tls\":%llu,"
		"\"bodies\":%llu,\"body_bytes\":%llu,\"bdat_bytes\":%llu,\"desyncs\":%llu,"
		"\"resyncs\":%llu,\"unsolicited\":%llu,\"malformed_replies\":%llu,"
		"\"overlong_lines\":%llu,\"pipeline_overflow\":%llu,\"unpaired_replies\":%llu},",
		(unsigned long long)ps->sessions, (unsigned long long)ss->opaque_starttls,
		(unsigned long long)ss->opaque_tls, (unsigned long long)ss->bodies,
		(unsigned long long)ss->body_bytes, (unsigned long long)ss->bdat_bytes,
		(unsigned long long)ss->desyncs, (unsigned long long)ss->resyncs,
		(unsigned long long)ss->unsolicited, (unsigned long long)ss->malformed_replies,
		(unsigned long long)ss->overlong_lines, (unsigned long long)ss->pipeline_overflow,
		(unsigned long long)ss->unpaired_replies);
	fprintf(o, "\"reasm\":{\"in_order\":%llu,\"held\":%llu,\"retrans\":%llu,\"gaps\":%llu,"
		"\"gap_bytes\":%llu,\"cap_flow\":%llu,\"cap_global\":%llu},",
		(unsigned long long)rs->bytes_in_order, (unsigned long long)rs->bytes_held,
		(unsigned long long)rs->bytes_retrans, (unsigned long long)rs->gaps,
		(unsigned long long)rs->gap_bytes, (unsigned long long)rs->cap_flow,
		(unsigned long long)rs->cap_global);
	fprintf(o, "\"replies\":{");
	for (int v2 = 0, first = 1; v2 < V_COUNT; v2++) {
		uint64_t tot = 0;

		for (int c = 0; c < 6; c++)
			tot += ss->replies[v2][c];
		if (!tot)
			continue;
		fprintf(o, "%s\"%s\":{\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu}",
			first ? "" : ",", smtp_verb_name(v2),
			(unsigned long long)ss->replies[v2][2], (unsigned long long)ss->replies[v2][3],
			(unsigned long long)ss->replies[v2][4], (unsigned long long)ss->replies[v2][5]);
		first = 0;
	}
	fprintf(o, "},\"events\":{");
	for (int c = 0; c < EC_COUNT; c++)
		fprintf(o, "%s\"%s\":%llu", c ? "," : "", ev_class_name(c),
			(unsigned long long)ps->events[c]);
	fprintf(o, "},\"events_unverified\":%llu,\"tracker\":{\"hits\":%llu,\"duplicates\":%llu,"
		"\"trap_hits\":%llu,\"allowlisted\":%llu,\"never_ban\":%llu,\"while_banned\":%llu,"
		"\"evictions\":%llu,\"table_full\":%llu,\"sources_peak\":%llu,\"max_sources\":%u,"
		"\"memory_bytes\":%llu,\"bytes_per_source\":%zu,\"bytes_per_hit\":%zu,"
		"\"share_spared\":%llu,\"narrowed\":%llu,\"refused\":%llu,\"leaked\":%llu,"
		"\"wave_bans\":%llu},",
		(unsigned long long)ps->events_unverified, (unsigned long long)ts->hits,
		(unsigned long long)ts->duplicates, (unsigned long long)ts->trap_hits,
		(unsigned long long)ts->allowlisted, (unsigned long long)ts->never_ban,
		(unsigned long long)ts->while_banned, (unsigned long long)ts->evictions,
		(unsigned long long)ts->table_full, (unsigned long long)ts->sources_peak,
		r->cfg->max_sources, (unsigned long long)tracker_memory(p->tracker),
		tracker_bytes_per_source(p->tracker), tracker_bytes_per_hit(),
		(unsigned long long)ts->share_spared, (unsigned long long)ts->narrowed,
		(unsigned long long)ts->refused, (unsigned long long)ts->leaked,
		(unsigned long long)ts->wave_bans);
	{
		const struct wave_info *w = tracker_wave(p->tracker);

		fprintf(o, "\"wave\":{\"on\":%s,\"rate\":%u,\"baseline\":%.1f,\"peak\":%u,"
			"\"waves\":%llu},", w->on ? "true" : "false", w->rate, w->baseline, w->peak,
			(unsigned long long)w->waves);
	}
	fprintf(o, "\"bans\":%llu,\"bans_by_rule\":{", (unsigned long long)ts->bans);
	for (size_t i = 0; i < r->cfg->nrules; i++)
		fprintf(o, "%s\"%s\":%llu", i ? "," : "", r->cfg->rules[i].name,
			(unsigned long long)ts->bans_by_rule[i]);
	fprintf(o, "},\"sources_dropped\":%llu,\"sources\":[", (unsigned long long)r->dropped);
	n = collect_sources(r, &v);
	for (size_t i = 0; i < n; i++) {
		struct prefix pk = { .a = v[i].key, .len = v[i].plen };

		fprintf(o, "%s{\"key\":\"%s\"", i ? "," : "", prefix_fmt(&pk, k, sizeof(k)));
		for (int c = 0; c < EC_COUNT; c++)
			fprintf(o, ",\"%s\":%llu", ev_class_name(c), (unsigned long long)v[i].n[c]);
		fputc('}', o);
	}
	fprintf(o, "]}\n");
	free(v);
}

void summary_text(const struct summary *r, const struct pipeline *p, FILE *o)
{
	const struct pipeline_stats *ps = &p->st;
	const struct flow_stats *fs = &p->flows.st;
	const struct smtp_stats *ss = &p->smtp.st;
	const struct reasm_stats *rs = &p->reasm.st;
	const struct tracker_stats *ts = tracker_stats(p->tracker);
	struct srcsum *v;
	size_t n, shown = 0;
	char k[ADDR_STRLEN];
	bool any = false;

	fprintf(o, "\nsummary\n");
	fprintf(o, "  packets %llu, bytes %llu, tcp %llu, not ip %llu, not tcp %llu, "
		"ip fragments %llu, not smtp %llu, not protected %llu\n",
		(unsigned long long)ps->packets, (unsigned long long)ps->bytes,
		(unsigned long long)ps->decode[DEC_OK], (unsigned long long)ps->decode[DEC_NOT_IP],
		(unsigned long long)ps->decode[DEC_NOT_TCP], (unsigned long long)ps->decode[DEC_FRAGMENT],
		(unsigned long long)ps->not_smtp, (unsigned long long)ps->not_protected);
	fprintf(o, "  decode errors:");
	for (int i = DEC_ERR_FIRST; i < DEC_NRESULTS; i++) {
		if (!ps->decode[i])
			continue;
		fprintf(o, " %s %llu", dec_result_name((enum dec_result)i),
			(unsigned long long)ps->decode[i]);
		any = true;
	}
	fprintf(o, "%s\n", any ? "" : " none");
	fprintf(o, "  flows %llu (verified %llu, mid-stream %llu, peak %llu), evicted %llu, "
		"expired %llu/%llu/%llu (embryonic/established/closing)\n",
		(unsigned long long)fs->created, (unsigned long long)fs->verified,
		(unsigned long long)fs->midstream, (unsigned long long)fs->peak,
		(unsigned long long)fs->evicted, (unsigned long long)fs->expired[FS_EMBRYONIC],
		(unsigned long long)fs->expired[FS_ESTABLISHED],
		(unsigned long long)fs->expired[FS_CLOSING]);
	fprintf(o, "  smtp sessions %llu, opaque %llu (STARTTLS %llu, TLS %llu), messages %llu, "
		"desyncs %llu, resyncs %llu\n",
		(unsigned long long)ps->sessions,
		(unsigned long long)ss->opaque_starttls + ss->opaque_tls,
		(unsigned long long)ss->opaque_starttls, (unsigned long long)ss->opaque_tls,
		(unsigned long long)ss->bodies, (unsigned long long)ss->desyncs,
		(unsigned long long)ss->resyncs);
	fprintf(o, "  protocol oddities: unsolicited replies %llu, malformed replies %llu, "
		"overlong lines %llu, pipeline overflow %llu, payload cut by snaplen %llu\n",
		(unsigned long long)ss->unsolicited, (unsigned long long)ss->malformed_replies,
		(unsigned long long)ss->overlong_lines, (unsigned long long)ss->pipeline_overflow,
		(unsigned long long)ps->payload_truncated);
	fprintf(o, "  reassembly: gaps %llu (%llu bytes), held out of order %llu bytes, "
		"retransmitted %llu bytes, cap hits %llu flow / %llu global\n",
		(unsigned long long)rs->gaps, (unsigned long long)rs->gap_bytes,
		(unsigned long long)rs->bytes_held, (unsigned long long)rs->bytes_retrans,
		(unsigned long long)rs->cap_flow, (unsigned long long)rs->cap_global);
	fprintf(o, "  replies:");
	for (int vb = 0; vb < V_COUNT; vb++) {
		uint64_t tot = 0;

		for (int c = 0; c < 6; c++)
			tot += ss->replies[vb][c];
		if (!tot)
			continue;
		fprintf(o, " %s %llu/%llu/%llu/%llu", smtp_verb_name(vb),
			(unsigned long long)ss->replies[vb][2], (unsigned long long)ss->replies[vb][3],
			(unsigned long long)ss->replies[vb][4], (unsigned long long)ss->replies[vb][5]);
	}
	fprintf(o, " (2xx/3xx/4xx/5xx)\n  events:");
	for (int c = 0; c < EC_COUNT; c++)
		fprintf(o, " %s %llu", ev_class_name(c), (unsigned long long)ps->events[c]);
	fprintf(o, "\n  bans %llu:", (unsigned long long)ts->bans);
	for (size_t i = 0; i < r->cfg->nrules; i++)
		fprintf(o, " %s %llu", r->cfg->rules[i].name, (unsigned long long)ts->bans_by_rule[i]);
	fprintf(o, "; tracker evictions %llu, allowlisted %llu\n",
		(unsigned long long)ts->evictions, (unsigned long long)ts->allowlisted);
	fprintf(o, "  judgement: spared by share %llu, narrowed %llu, refused %llu, "
		"leaked recipients %llu, waves %llu (bans in waves %llu)\n",
		(unsigned long long)ts->share_spared, (unsigned long long)ts->narrowed,
		(unsigned long long)ts->refused, (unsigned long long)ts->leaked,
		(unsigned long long)tracker_wave(p->tracker)->waves,
		(unsigned long long)ts->wave_bans);
	n = collect_sources(r, &v);
	qsort(v, n, sizeof(*v), cmp_rejected);
	fprintf(o, "  top sources by rejected recipients:\n");
	for (size_t i = 0; i < n && shown < 10; i++) {
		struct prefix pk = { .a = v[i].key, .len = v[i].plen };

		if (!v[i].n[EC_RCPT_REJECTED])
			break;
		fprintf(o, "    %-24s %llu\n", prefix_fmt(&pk, k, sizeof(k)),
			(unsigned long long)v[i].n[EC_RCPT_REJECTED]);
		shown++;
	}
	if (!shown)
		fprintf(o, "    none\n");
	free(v);
}

