#include "summary.h"

#include "counters.h"

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

static const struct counter *const summary_tables[] = { counters_pipeline, NULL };

void summary_json(const struct summary *r, const struct pipeline *p, FILE *o)
{
	struct counter_ctx cc = { .p = p };
	struct srcsum *v;
	size_t n;
	char k[ADDR_STRLEN];

	fputs("{\"type\":\"summary\",", o);
	counters_json(summary_tables, &cc, o);
	fprintf(o, ",\"sources_dropped\":%llu,\"sources\":[", (unsigned long long)r->dropped);
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
	struct counter_ctx cc = { .p = p };
	struct srcsum *v;
	size_t n, shown = 0;
	char k[ADDR_STRLEN];

	fprintf(o, "\nsummary\n");
	counters_text(summary_tables, &cc, "  ", o);
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

