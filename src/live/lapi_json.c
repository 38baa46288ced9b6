/* CrowdSec LAPI wire formats (see lapi_json.h). */
#include "lapi_json.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

/* ---- Go durations ---- */

static int64_t unit_ns(const char *s, size_t n, size_t *used)
{
	static const struct { const char *name; int64_t ns; } units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "\xce\xbcs", 1000 },
		{ "ms", 1000000 }, { "s", 1000000000 }, { "m", INT64_C(60000000000) },
		{ "h", INT64_C(3600000000000) },
	};
	size_t best = 0;
	int64_t ns = 0;

	/* The longest name that fits: "ms" before "m". */
	for (size_t i = 0; i < ARRAY_LEN(units); i++) {
		size_t l = strlen(units[i].name);

		if (l <= n && l > best && !memcmp(s, units[i].name, l)) {
			best = l;
			ns = units[i].ns;
		}
	}
	*used = best;
	return ns;
}

int go_duration_parse(const char *s, size_t len, usec_t *out)
{
	size_t i = 0;
	bool neg = false;
	int64_t total = 0;	/* nanoseconds */

	if (i < len && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	if (i == len)
		return -1;
	if (len - i == 1 && s[i] == '0') {
		*out = 0;
		return 0;
	}
	while (i < len) {
		int64_t whole = 0, frac = 0, scale = 1, ns;
		size_t start = i, used;
		bool dot = false;

		while (i < len && ((s[i] >= '0' && s[i] <= '9') || (s[i] == '.' && !dot))) {
			if (s[i] == '.') {
				dot = true;
			} else if (!dot) {
				if (whole > INT64_MAX / 10)
					return -1;
				whole = whole * 10 + (s[i] - '0');
			} else if (scale < INT64_C(1000000000000000000) / 10) {
				frac = frac * 10 + (s[i] - '0');
				scale *= 10;
			}
			i++;
		}
		if (i == start || (i == start + 1 && dot))
			return -1;
		ns = unit_ns(s + i, len - i, &used);
		if (!used)
			return -1;
		i += used;
		if (whole > INT64_MAX / ns)
			return -1;
		whole *= ns;
		/* frac / scale of a unit, without overflow for the units here. */
		whole += (int64_t)((long double)frac * (long double)ns / (long double)scale);
		if (total > INT64_MAX - whole)
			return -1;
		total += whole;
	}
	*out = (neg ? -total : total) / 1000;
	return 0;
}

/* ---- keys ---- */

void lapi_key_text(const struct prefix *p, char *scope, size_t slen, char *value, size_t vlen)
{
	char a[ADDR_STRLEN];
	struct ipaddr m;

	addr_mask(&p->a, p->len, &m);
	addr_fmt(&m, a, sizeof(a));
	if (p->len == addr_bits(&p->a)) {
		snprintf(scope, slen, "Ip");
		snprintf(value, vlen, "%s", a);
	} else {
		snprintf(scope, slen, "Range");
		snprintf(value, vlen, "%s/%u", a, p->len);
	}
}

int lapi_key_parse(const char *scope, const char *value, struct prefix *out)
{
	bool ip = !strcmp(scope, "Ip"), range = !strcmp(scope, "Range");

	if ((!ip && !range) || prefix_parse(value, out))
		return -1;
	/* An Ip decision names one address: "198.18.5.0/24" as an Ip is
	 * served as such by 1.4.6, and means nothing we would ban. */
	if (ip && out->len != addr_bits(&out->a))
		return -1;
	return 0;
}

/* ---- the decision stream ---- */

enum list { L_NONE, L_NEW, L_DELETED, L_OTHER };

struct lapi_stream {
	yajl_handle h;
	lapi_decision_fn fn;
	void *arg;
	int depth;		/* maps and arrays open */
	enum list list;		/* the top-level key being read */
	int list_depth;		/* depth of its array, or 0 */
	bool in_decision;
	char field[32];
	struct lapi_decision d;
	bool bad;		/* a shape that is no stream answer */
};

static void put_field(struct lapi_stream *s, const unsigned char *v, size_t n)
{
	struct lapi_decision *d = &s->d;
	char *dst = NULL;
	size_t cap = 0;

	if (!strcmp(s->field, "duration")) {
		d->has_duration = go_duration_parse((const char *)v, n, &d->duration) == 0;
		return;
	}
	if (!strcmp(s->field, "origin"))
		dst = d->origin, cap = sizeof(d->origin);
	else if (!strcmp(s->field, "scenario"))
		dst = d->scenario, cap = sizeof(d->scenario);
	else if (!strcmp(s->field, "scope"))
		dst = d->scope, cap = sizeof(d->scope);
	else if (!strcmp(s->field, "type"))
		dst = d->type, cap = sizeof(d->type);
	else if (!strcmp(s->field, "value"))
		dst = d->value, cap = sizeof(d->value);
	if (!dst)
		return;
	if (n >= cap) {
		d->truncated = true;
		n = cap - 1;
	}
	memcpy(dst, v, n);
	dst[n] = 0;
}

/* new and deleted hold an array of decisions, or null: anything else
 * there is no stream answer. */
static void scalar_at_top(struct lapi_stream *s)
{
	if (s->depth == 1 && (s->list == L_NEW || s->list == L_DELETED))
		s->bad = true;
}

static int on_string(void *ctx, const unsigned char *v, size_t n)
{
	struct lapi_stream *s = ctx;

	scalar_at_top(s);
	if (s->in_decision && s->depth == s->list_depth + 1)
		put_field(s, v, n);
	return 1;
}

static int on_number(void *ctx, const char *v, size_t n)
{
	struct lapi_stream *s = ctx;

	scalar_at_top(s);
	if (s->in_decision && s->depth == s->list_depth + 1 && !strcmp(s->field, "id")) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%.*s", (int)(n < 31 ? n : 31), v);
		s->d.id = strtoll(buf, NULL, 10);
	}
	return 1;
}

static int on_null(void *ctx)
{
	(void)ctx;
	return 1;
}

static int on_bool(void *ctx, int b)
{
	(void)b;
	scalar_at_top(ctx);
	return 1;
}

static int on_start_map(void *ctx)
{
	struct lapi_stream *s = ctx;

	s->depth++;
	if (s->list_depth && s->depth == s->list_depth + 1 && (s->list == L_NEW || s->list == L_DELETED)) {
		memset(&s->d, 0, sizeof(s->d));
		s->d.deleted = s->list == L_DELETED;
		s->in_decision = true;
	} else if (s->depth == 1 && s->list == L_NONE) {
		/* the answer's own object */
	} else if (s->depth == 1 || (s->depth == 2 && !s->list_depth &&
				     (s->list == L_NEW || s->list == L_DELETED))) {
		s->bad = true;	/* an object where the list should be */
	}
	return 1;
}

static int on_map_key(void *ctx, const unsigned char *k, size_t n)
{
	struct lapi_stream *s = ctx;

	if (s->depth == 1) {
		s->list = n == 3 && !memcmp(k, "new", 3) ? L_NEW :
			  n == 7 && !memcmp(k, "deleted", 7) ? L_DELETED : L_OTHER;
		s->list_depth = 0;
	} else if (s->in_decision && s->depth == s->list_depth + 1) {
		snprintf(s->field, sizeof(s->field), "%.*s", (int)(n < 31 ? n : 31), (const char *)k);
	}
	return 1;
}

static int on_end_map(void *ctx)
{
	struct lapi_stream *s = ctx;

	if (s->in_decision && s->depth == s->list_depth + 1) {
		s->in_decision = false;
		s->fn(s->arg, &s->d);
	}
	s->depth--;
	return 1;
}

static int on_start_array(void *ctx)
{
	struct lapi_stream *s = ctx;

	s->depth++;
	if (s->depth == 2 && (s->list == L_NEW || s->list == L_DELETED))
		s->list_depth = 2;
	else if (s->depth == 1)
		s->bad = true;	/* an array where the object should be */
	return 1;
}

static int on_end_array(void *ctx)
{
	struct lapi_stream *s = ctx;

	if (s->depth == s->list_depth)
		s->list_depth = 0;
	s->depth--;
	return 1;
}

static const yajl_callbacks stream_cb = {
	.yajl_null = on_null,
	.yajl_boolean = on_bool,
	.yajl_number = on_number,
	.yajl_string = on_string,
	.yajl_start_map = on_start_map,
	.yajl_map_key = on_map_key,
	.yajl_end_map = on_end_map,
	.yajl_start_array = on_start_array,
	.yajl_end_array = on_end_array,
};

struct lapi_stream *lapi_stream_new(lapi_decision_fn fn, void *arg)
{
	struct lapi_stream *s = xcalloc(1, sizeof(*s));

	s->fn = fn;
	s->arg = arg;
	s->h = xnonnull(yajl_alloc(&stream_cb, NULL, s));
	return s;
}

static int parse_error(struct lapi_stream *s, const void *buf, size_t len, char *err, size_t errlen)
{
	unsigned char *m = yajl_get_error(s->h, 0, buf, len);

	snprintf(err, errlen, "%s", m ? (const char *)m : "malformed JSON");
	if (m)
		yajl_free_error(s->h, m);
	return -1;
}

int lapi_stream_feed(struct lapi_stream *s, const void *buf, size_t len, char *err, size_t errlen)
{
	if (yajl_parse(s->h, buf, len) != yajl_status_ok)
		return parse_error(s, buf, len, err, errlen);
	if (s->bad) {
		snprintf(err, errlen, "not a decision stream (an object with new and deleted)");
		return -1;
	}
	return 0;
}

int lapi_stream_finish(struct lapi_stream *s, char *err, size_t errlen)
{
	if (yajl_complete_parse(s->h) != yajl_status_ok)
		return parse_error(s, "", 0, err, errlen);
	if (s->bad || s->depth) {
		snprintf(err, errlen, "not a decision stream (an object with new and deleted)");
		return -1;
	}
	return 0;
}

void lapi_stream_free(struct lapi_stream *s)
{
	if (!s)
		return;
	yajl_free(s->h);
	free(s);
}

/* ---- generating ---- */

static void gen_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_kv(yajl_gen g, const char *k, const char *v)
{
	gen_str(g, k);
	gen_str(g, v);
}

static void gen_ki(yajl_gen g, const char *k, long long v)
{
	gen_str(g, k);
	yajl_gen_integer(g, v);
}

/* RFC 3339, UTC, whole seconds (what LAPI stores). */
static void rfc3339(usec_t t, char *buf, size_t len)
{
	char full[64];

	fmt_time(t, full, sizeof(full));	/* 2026-11-23T08:00:01.123456Z */
	snprintf(buf, len, "%.19sZ", full);
}

static char *gen_take(yajl_gen g, size_t *len)
{
	const unsigned char *buf;
	size_t n;
	char *out;

	yajl_gen_get_buf(g, &buf, &n);
	out = xcalloc(1, n + 1);
	memcpy(out, buf, n);
	*len = n;
	yajl_gen_free(g);
	return out;
}

char *lapi_alerts_json(const struct lapi_alert *v, size_t n, const char *version, size_t *len)
{
	yajl_gen g = xnonnull(yajl_gen_alloc(NULL));

	yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++) {
		char scope[16], value[64], t0[32], t1[32], dur[32], leak[32];

		lapi_key_text(&v[i].key, scope, sizeof(scope), value, sizeof(value));
		rfc3339(v[i].start, t0, sizeof(t0));
		rfc3339(v[i].stop, t1, sizeof(t1));
		/* Go syntax: LAPI refuses "1d" with a 500. */
		snprintf(dur, sizeof(dur), "%llds", (long long)(v[i].duration / USEC_PER_SEC));
		snprintf(leak, sizeof(leak), "%llds", (long long)(v[i].leakspeed / USEC_PER_SEC));
		yajl_gen_map_open(g);
		gen_kv(g, "scenario", v[i].scenario);
		gen_kv(g, "scenario_hash", "");
		gen_kv(g, "scenario_version", version);
		gen_kv(g, "message", v[i].message);
		gen_ki(g, "events_count", v[i].events_count);
		gen_kv(g, "start_at", t0);
		gen_kv(g, "stop_at", t1);
		gen_ki(g, "capacity", v[i].capacity);
		gen_kv(g, "leakspeed", leak);
		gen_str(g, "simulated");
		yajl_gen_bool(g, 0);
		gen_str(g, "events");
		yajl_gen_array_open(g);
		yajl_gen_array_close(g);
		gen_str(g, "source");
		yajl_gen_map_open(g);
		gen_kv(g, "scope", scope);
		gen_kv(g, "value", value);
		if (!strcmp(scope, "Range"))
			gen_kv(g, "range", value);
		else
			gen_kv(g, "ip", value);
		yajl_gen_map_close(g);
		gen_str(g, "decisions");
		yajl_gen_array_open(g);
		yajl_gen_map_open(g);
		gen_kv(g, "duration", dur);
		gen_kv(g, "origin", "rcptguard");
		gen_kv(g, "scenario", v[i].scenario);
		gen_kv(g, "scope", scope);
		gen_kv(g, "type", "ban");
		gen_kv(g, "value", value);
		yajl_gen_map_close(g);
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	return gen_take(g, len);
}

char *lapi_login_json(const char *machine_id, const char *password, const char *const *scenarios,
		      size_t nscenarios, size_t *len)
{
	yajl_gen g = xnonnull(yajl_gen_alloc(NULL));

	yajl_gen_map_open(g);
	if (machine_id) {
		gen_kv(g, "machine_id", machine_id);
		gen_kv(g, "password", password);
	}
	gen_str(g, "scenarios");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < nscenarios; i++)
		gen_str(g, scenarios[i]);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	return gen_take(g, len);
}

int lapi_login_parse(const char *body, size_t len, char *token, size_t tlen, char *expire,
		     size_t elen)
{
	char *copy = xcalloc(1, len + 1), errbuf[128];
	const char *tk[] = { "token", NULL }, *ex[] = { "expire", NULL };
	yajl_val v, t, e;
	int rc = -1;

	memcpy(copy, body, len);
	v = yajl_tree_parse(copy, errbuf, sizeof(errbuf));
	free(copy);
	if (!v)
		return -1;
	t = yajl_tree_get(v, tk, yajl_t_string);
	e = yajl_tree_get(v, ex, yajl_t_string);
	{
		const char *ts = t ? YAJL_GET_STRING(t) : NULL, *es = e ? YAJL_GET_STRING(e) : NULL;

		if (ts && strlen(ts) < tlen) {
			snprintf(token, tlen, "%s", ts);
			snprintf(expire, elen, "%s", es ? es : "");
			rc = 0;
		}
	}
	yajl_tree_free(v);
	return rc;
}
