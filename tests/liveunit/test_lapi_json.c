/* CrowdSec LAPI formats: Go durations, canonical keys, the decision
 * stream fed in pieces, alerts LAPI 1.4.6 accepts. */
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "lapi_json.h"
#include "t.h"

static usec_t dur(const char *s)
{
	usec_t v = 12345;

	return go_duration_parse(s, strlen(s), &v) ? -999 : v;
}

TEST(lapi_go_durations)
{
	CHECK_EQ(dur("59m48.376175264s"), INT64_C(3588376175));
	CHECK_EQ(dur("167h59m58.521774997s"), INT64_C(604798521774));
	CHECK_EQ(dur("1h30m14.02177699s"), INT64_C(5414021776));
	CHECK_EQ(dur("-1h0m10.482339421s"), -INT64_C(3610482339));
	CHECK_EQ(dur("-9.32816ms"), -9328);
	CHECK_EQ(dur("1.5\xc2\xb5s"), 1);
	CHECK_EQ(dur("250ns"), 0);
	CHECK_EQ(dur("3600s"), 3600 * USEC_PER_SEC);
	CHECK_EQ(dur("0s"), 0);
	CHECK_EQ(dur("0"), 0);
	CHECK_EQ(dur(""), -999);
	CHECK_EQ(dur("1d"), -999);	/* Go has no days */
	CHECK_EQ(dur("h"), -999);
	CHECK_EQ(dur(".s"), -999);
	CHECK_EQ(dur("10"), -999);
	CHECK_EQ(dur("99999999999999999999h"), -999);
}

TEST(lapi_keys_canonical)
{
	struct prefix p;
	char scope[16], value[64];

	CHECK_EQ(prefix_parse("198.18.0.1/32", &p), 0);
	lapi_key_text(&p, scope, sizeof(scope), value, sizeof(value));
	CHECK_STR(scope, "Ip");
	CHECK_STR(value, "198.18.0.1");
	CHECK_EQ(prefix_parse("fd00:dead:beef:1:0:0:0:5/64", &p), 0);
	lapi_key_text(&p, scope, sizeof(scope), value, sizeof(value));
	CHECK_STR(scope, "Range");
	CHECK_STR(value, "fd00:dead:beef:1::/64");
	CHECK_EQ(lapi_key_parse("Range", "fd00:dead:beef:1::/64", &p), 0);
	CHECK_EQ(p.len, 64);
	CHECK_EQ(lapi_key_parse("Ip", "198.18.30.1", &p), 0);
	CHECK_EQ(p.len, 32);
	/* Lower-case scopes are never streamed by 1.4.6; an Ip with a
	 * prefix is no single address; Country is no key at all. */
	CHECK_EQ(lapi_key_parse("ip", "198.18.30.1", &p), -1);
	CHECK_EQ(lapi_key_parse("Ip", "198.18.5.0/24", &p), -1);
	CHECK_EQ(lapi_key_parse("Country", "FR", &p), -1);
	CHECK_EQ(lapi_key_parse("Ip", "198.18.2.300", &p), -1);
}

struct got {
	int n, deleted;
	struct lapi_decision first, last;
};

static void on_dec(void *arg, const struct lapi_decision *d)
{
	struct got *g = arg;

	if (!g->n)
		g->first = *d;
	g->last = *d;
	g->n++;
	g->deleted += d->deleted;
}

/* Feeds text in pieces of step bytes; the result of finish. */
static int feed(const char *text, size_t step, struct got *g)
{
	struct lapi_stream *s = lapi_stream_new(on_dec, g);
	size_t len = strlen(text);
	char err[256];
	int rc = 0;

	memset(g, 0, sizeof(*g));
	for (size_t o = 0; o < len && !rc; o += step)
		rc = lapi_stream_feed(s, text + o, len - o < step ? len - o : step, err, sizeof(err));
	if (!rc)
		rc = lapi_stream_finish(s, err, sizeof(err));
	lapi_stream_free(s);
	return rc;
}

TEST(lapi_stream_in_pieces)
{
	static const char startup[] =
		"{\"deleted\":null,\"new\":[{\"duration\":\"59m48.376175264s\",\"id\":1,\"origin\":\"rcptguard\","
		"\"scenario\":\"rcptguard/harvest\",\"scope\":\"Ip\",\"type\":\"ban\",\"value\":\"198.18.1.7\"},"
		"{\"duration\":\"59m52.376172139s\",\"id\":2,\"origin\":\"rcptguard\",\"scenario\":\"rcptguard/harvest\","
		"\"scope\":\"Range\",\"type\":\"ban\",\"value\":\"fd00:dead:beef:1::/64\"}]}";
	static const char deleted[] =
		"{\"deleted\":[{\"duration\":\"-9.32816ms\",\"id\":1,\"origin\":\"rcptguard\",\"scenario\":\"x\","
		"\"scope\":\"Ip\",\"type\":\"ban\",\"value\":\"198.18.1.7\"}],\"new\":null}";
	struct got g;

	for (size_t step = 1; step <= sizeof(startup); step *= 3) {
		CHECK_EQ(feed(startup, step, &g), 0);
		CHECK_EQ(g.n, 2);
	}
	CHECK_EQ(g.first.id, 1);
	CHECK_STR(g.first.value, "198.18.1.7");
	CHECK_STR(g.first.scope, "Ip");
	CHECK(g.first.has_duration && g.first.duration == INT64_C(3588376175));
	CHECK_STR(g.last.scope, "Range");
	CHECK_STR(g.last.origin, "rcptguard");
	CHECK(!g.last.deleted);
	CHECK_EQ(feed(deleted, 7, &g), 0);
	CHECK_EQ(g.n, 1);
	CHECK_EQ(g.deleted, 1);
	CHECK(g.first.duration < 0);
	/* An empty poll is 27 bytes. */
	CHECK_EQ(feed("{\"deleted\":null,\"new\":null}", 5, &g), 0);
	CHECK_EQ(g.n, 0);
	/* What a broken or hostile LAPI may send: refused, not half-applied. */
	CHECK_EQ(feed("{\"deleted\":null,\"new\":[{\"id\":1,", 4, &g), -1);
	CHECK_EQ(feed("[1,2,3]", 2, &g), -1);
	CHECK_EQ(feed("{\"new\":[{\"id\":1}]}garbage", 3, &g), -1);
	CHECK_EQ(feed("<html>502 Bad Gateway</html>", 8, &g), -1);
	CHECK_EQ(feed("{\"new\":{\"oops\":[1,2,3]},\"deleted\":null}", 5, &g), -1);
	CHECK_EQ(feed("{\"new\":null,\"deleted\":7}", 5, &g), -1);
	CHECK_EQ(feed("{\"new\":\"none\",\"deleted\":null}", 5, &g), -1);
}

/* 110,000 decisions, as a big startup stream, in 16 KB pieces: every one
 * reported, with no buffer of the body. */
TEST(lapi_stream_large_startup)
{
	enum { N = 110000 };
	size_t cap = (size_t)N * 200 + 64, o = 0;
	char *body = malloc(cap);
	struct got g;

	o += (size_t)snprintf(body + o, cap - o, "{\"deleted\":[],\"new\":[");
	for (int i = 0; i < N; i++)
		o += (size_t)snprintf(body + o, cap - o,
				      "%s{\"duration\":\"%dh59m58.5s\",\"id\":%d,\"origin\":\"crowdsec\","
				      "\"scenario\":\"crowdsecurity/ssh-bf\",\"scope\":\"Ip\",\"type\":\"ban\","
				      "\"value\":\"198.%d.%d.%d\"}", i ? "," : "", i % 168, i, 18 + (i >> 16),
				      (i >> 8) & 255, i & 255);
	snprintf(body + o, cap - o, "]}");
	CHECK_EQ(feed(body, 16384, &g), 0);
	CHECK_EQ(g.n, N);
	CHECK_STR(g.last.value, "198.19.173.175");	/* i = 109,999 */
	free(body);
}

TEST(lapi_alerts_as_lapi_wants_them)
{
	struct lapi_alert a[2] = {
		{ .scenario = "rcptguard/harvest", .message = "ban 198.18.0.66/32 rule=harvest count=10",
		  .events_count = 10, .start = INT64_C(1764616246) * USEC_PER_SEC,
		  .stop = INT64_C(1764616306) * USEC_PER_SEC, .capacity = 10,
		  .leakspeed = 600 * USEC_PER_SEC, .duration = 3600 * USEC_PER_SEC },
		{ .scenario = "rcptguard/harvest", .message = "m\"quoted\"", .events_count = 3,
		  .capacity = 10, .leakspeed = 600 * USEC_PER_SEC, .duration = 86400 * USEC_PER_SEC },
	};
	size_t len;
	char *json, err[128];
	yajl_val v;
	const char *p_dur[] = { "decisions", NULL };

	prefix_parse("198.18.0.66/32", &a[0].key);
	prefix_parse("fd00:1a::66/64", &a[1].key);
	json = lapi_alerts_json(a, 2, "0.1.0", &len);
	CHECK_EQ(strlen(json), len);
	CHECK(strstr(json, "\"scenario_hash\":\"\"") != NULL);
	CHECK(strstr(json, "\"start_at\":\"2025-12-01T19:10:46Z\",\"stop_at\":\"2025-12-01T19:11:46Z\"") != NULL);
	CHECK(strstr(json, "\"leakspeed\":\"600s\"") != NULL);
	CHECK(strstr(json, "\"events\":[]") != NULL);
	CHECK(strstr(json, "\"source\":{\"scope\":\"Ip\",\"value\":\"198.18.0.66\",\"ip\":\"198.18.0.66\"}") != NULL);
	CHECK(strstr(json, "{\"duration\":\"86400s\",\"origin\":\"rcptguard\",\"scenario\":\"rcptguard/harvest\","
			   "\"scope\":\"Range\",\"type\":\"ban\",\"value\":\"fd00:1a::/64\"}") != NULL);
	CHECK(strstr(json, "m\\\"quoted\\\"") != NULL);
	v = yajl_tree_parse(json, err, sizeof(err));
	CHECK(v && YAJL_IS_ARRAY(v) && YAJL_GET_ARRAY(v)->len == 2);
	CHECK(v && yajl_tree_get(YAJL_GET_ARRAY(v)->values[0], p_dur, yajl_t_array) != NULL);
	yajl_tree_free(v);
	free(json);
}

TEST(lapi_login)
{
	static const char ans[] = "{\"code\":200,\"expire\":\"2026-12-01T19:56:49Z\",\"token\":\"eyJabc.def.ghi\"}";
	const char *sc[] = { "rcptguard/harvest" };
	char token[256], expire[64];
	size_t len;
	char *body = lapi_login_json("mx1", "pw\"x", sc, 1, &len);

	CHECK_STR(body, "{\"machine_id\":\"mx1\",\"password\":\"pw\\\"x\",\"scenarios\":[\"rcptguard/harvest\"]}");
	free(body);
	CHECK_EQ(lapi_login_parse(ans, strlen(ans), token, sizeof(token), expire, sizeof(expire)), 0);
	CHECK_STR(token, "eyJabc.def.ghi");
	CHECK_STR(expire, "2026-12-01T19:56:49Z");
	CHECK_EQ(lapi_login_parse("{\"code\":401}", 12, token, sizeof(token), expire, sizeof(expire)), -1);
	CHECK_EQ(lapi_login_parse("nonsense", 8, token, sizeof(token), expire, sizeof(expire)), -1);
}
