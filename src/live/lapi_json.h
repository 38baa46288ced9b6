/* CrowdSec Local API wire formats, without any I/O: Go durations, the
 * decision stream (parsed as it arrives, in bounded memory: a startup
 * stream of 110,000 decisions is 16 MB), and alerts (generated with
 * yajl, never by hand). Facts of LAPI 1.4.6 that shape them are in
 * ../shared/notes/crowdsec-lapi.md and rcptguard(8). */
#ifndef RCPTGUARD_LAPI_JSON_H
#define RCPTGUARD_LAPI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "util.h"

/* Go's time.Duration.String() and time.ParseDuration syntax:
 * "167h59m58.521774997s", "-9.32816ms", "1.5µs", "0s". Microseconds,
 * truncated toward zero. 0, or -1 when it is not a duration. */
int go_duration_parse(const char *s, size_t len, usec_t *out);

/* A key as LAPI wants it: scope "Ip" for a full-length prefix, "Range"
 * otherwise; the value inet_ntop() text, host bits zeroed, "/len" for a
 * Range. Dedup and the stream's scope filter compare these strings. */
void lapi_key_text(const struct prefix *p, char *scope, size_t slen, char *value, size_t vlen);
/* The reverse, strictly: 0, or -1 for anything not canonical enough to
 * ban (a bad address, a scope other than Ip or Range, a range of an Ip). */
int lapi_key_parse(const char *scope, const char *value, struct prefix *out);

#define LAPI_FIELD 160

struct lapi_decision {
	bool deleted;		/* from the "deleted" list */
	int64_t id;
	usec_t duration;	/* what was left when LAPI answered */
	bool has_duration;
	char origin[64];
	char scenario[LAPI_FIELD];
	char scope[16];
	char type[16];
	char value[64];
	bool truncated;		/* a field was longer than its buffer */
};

typedef void (*lapi_decision_fn)(void *arg, const struct lapi_decision *d);

struct lapi_stream;
/* A parser for one answer of GET /v1/decisions/stream. */
struct lapi_stream *lapi_stream_new(lapi_decision_fn fn, void *arg);
/* Feed what has arrived; fn is called for each decision as it completes.
 * 0, or -1 when the body is not the JSON it should be (the error in err). */
int lapi_stream_feed(struct lapi_stream *s, const void *buf, size_t len, char *err, size_t errlen);
/* The body is complete: 0, or -1 when it stopped halfway. */
int lapi_stream_finish(struct lapi_stream *s, char *err, size_t errlen);
void lapi_stream_free(struct lapi_stream *s);

/* One alert with its decision: a ban rcptguard decided. */
struct lapi_alert {
	const char *scenario;	/* rcptguard/<rule> */
	const char *message;	/* the evidence line */
	uint32_t events_count;
	usec_t start, stop;	/* the first counted event, the ban */
	uint32_t capacity;	/* the rule's threshold */
	usec_t leakspeed;	/* the rule's window */
	struct prefix key;
	usec_t duration;
};

/* POST /v1/alerts body: a JSON array of n alerts, malloc'd, NUL-ended. */
char *lapi_alerts_json(const struct lapi_alert *v, size_t n, const char *version, size_t *len);
/* POST /v1/watchers/login body; machine_id NULL: the scenarios only (a
 * TLS client certificate says who we are). */
char *lapi_login_json(const char *machine_id, const char *password, const char *const *scenarios,
		      size_t nscenarios, size_t *len);
/* The "token" (and "expire", RFC 3339) of a login answer; 0 or -1. */
int lapi_login_parse(const char *body, size_t len, char *token, size_t tlen, char *expire,
		     size_t elen);

#endif
