/* The fleet's link to CrowdSec's LAPI (see fleet.h). */
#include "fleet.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "daemon.h"
#include "http.h"
#include "lapi_json.h"
#include "log.h"

#define QUEUE_MAX	10000		/* alerts waiting for LAPI */
#define POST_MAX	1000		/* alerts in one POST */
#define STREAM_MAX	(256u << 20)	/* a startup stream of 1.7 M decisions */
#define SMALL_MAX	(64u << 10)	/* every other answer */
#define TIMEOUT_MS	10000
#define TOKEN_LIFE	(USEC_PER_SEC * 50 * 60)	/* LAPI's tokens last 1 h */
#define BACKOFF_MAX	(USEC_PER_SEC * 60)
/* The fleet's own clock: retries and polls are looked at this often, so
 * that a LAPI back from an outage is used within a fraction of a second. */
#define TICK_MS		250
/* Fleet bans of one stream answer sent to the kernel in batches of this
 * many, so that the enforcer's queue and batch stay small. */
#define FLUSH_EVERY	10000
/* A decision deleted this long before its end was deleted by someone,
 * not expired: the ban is lifted here too. */
#define EARLY		(USEC_PER_SEC * 5)

struct queued {
	struct lapi_alert a;
	char scenario[64 + RULE_NAME_MAX];
	char message[1024];
};

struct fleet {
	struct daemon *d;
	struct http *http;
	int timerfd;
	char url[256];
	char machine[128], password[256], api_key[128];
	bool cert;		/* a client certificate: LAPI knows us by it */
	char token[4096];
	usec_t token_at;
	bool logging_in;
	struct queued *q, *inflight;
	size_t nq, ninflight;
	usec_t retry_at, backoff;
	bool pulling, startup;
	struct lapi_stream *stream;
	usec_t next_poll, next_resync, pull_backoff, pull_start;
	uint64_t applied_this_pull;
	char answer[512];	/* the start of a small answer, for the log */
	size_t answer_len;
	struct fleet_stats st;
	bool said_down;
};

/* ---- credentials ---- */

static int read_credentials(struct fleet *f, const char *path, char *err, size_t errlen)
{
	struct stat sb;
	FILE *fp = fopen(path, "r");
	char line[1024];
	int n = 0;

	if (!fp) {
		/* With a certificate, no secret is needed. */
		if (errno == ENOENT && f->cert)
			return 0;
		snprintf(err, errlen, "crowdsec: cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	/* Secrets of their own: not in the main file, not readable by others. */
	if (fstat(fileno(fp), &sb) == 0 && (sb.st_mode & 077)) {
		snprintf(err, errlen, "crowdsec: %s is readable by others (mode %03o): chmod 600 it", path,
			 (unsigned)(sb.st_mode & 0777));
		fclose(fp);
		return -1;
	}
	while (fgets(line, sizeof(line), fp)) {
		char *eq = strchr(line, '='), *k = line, *v, *e;

		n++;
		if (line[0] == '#' || !eq)
			continue;
		*eq = 0;
		v = eq + 1;
		while (isspace((unsigned char)*k))
			k++;
		for (e = eq; e > k && isspace((unsigned char)e[-1]);)
			*--e = 0;
		while (isspace((unsigned char)*v))
			v++;
		for (e = v + strlen(v); e > v && isspace((unsigned char)e[-1]);)
			*--e = 0;
		if (!strcmp(k, "machine_id"))
			snprintf(f->machine, sizeof(f->machine), "%s", v);
		else if (!strcmp(k, "password"))
			snprintf(f->password, sizeof(f->password), "%s", v);
		else if (!strcmp(k, "api_key"))
			snprintf(f->api_key, sizeof(f->api_key), "%s", v);
		else {
			snprintf(err, errlen, "crowdsec: %s:%d: unknown key '%s' (machine_id, password, api_key)",
				 path, n, k);
			fclose(fp);
			return -1;
		}
	}
	fclose(fp);
	return 0;
}

/* ---- login ---- */

/* When to try again: a LAPI that does not answer at all costs nothing to
 * ask once a second, and is then used within a second of its return; one
 * that answers with errors is given exponentially more time. */
static void backoff(struct fleet *f, long status)
{
	if (!status) {
		f->backoff = 0;
		f->retry_at = clock_mono() + (usec_t)TICK_MS * 1000;
		return;
	}
	f->backoff = f->backoff ? f->backoff * 2 : USEC_PER_SEC;
	if (f->backoff > BACKOFF_MAX)
		f->backoff = BACKOFF_MAX;
	f->retry_at = clock_mono() + f->backoff;
}

static void login(struct fleet *f);
void fleet_flush(struct fleet *f);

static void on_login(void *arg, long status, const char *err)
{
	struct fleet *f = arg;
	char expire[64];

	f->logging_in = false;
	if (status == 200 && lapi_login_parse(f->answer, f->answer_len, f->token, sizeof(f->token), expire,
					      sizeof(expire)) == 0) {
		f->token_at = clock_mono();
		f->st.logins++;
		f->st.up = 1;
		f->backoff = 0;
		f->retry_at = 0;
		/* What waited for the token goes now, not at the next tick. */
		fleet_flush(f);
		return;
	}
	f->st.login_errors++;
	f->st.up = 0;
	f->token[0] = 0;
	backoff(f, status);
	if (f->st.login_errors == 1 || status == 401)
		logmsg(LOG_WARNING, "crowdsec: login as %s refused: %s%.*s",
		       f->cert ? "the client certificate's CN" : f->machine,
		       err ? err : status == 401 ? "401 " : "", status ? (int)f->answer_len : 0, f->answer);
}

static int on_small_body(void *arg, const void *data, size_t len)
{
	struct fleet *f = arg;
	size_t room = sizeof(f->answer) - 1 - f->answer_len;

	memcpy(f->answer + f->answer_len, data, len < room ? len : room);
	f->answer_len += len < room ? len : room;
	f->answer[f->answer_len] = 0;
	return 0;
}

static void login(struct fleet *f)
{
	char url[320];
	size_t len;
	char *body;

	if (f->logging_in || (!f->machine[0] && !f->cert))
		return;
	snprintf(url, sizeof(url), "%s/v1/watchers/login", f->url);
	/* With a certificate LAPI takes the machine from it (CN@address)
	 * and wants only the scenarios. */
	body = lapi_login_json(f->cert ? NULL : f->machine, f->password, NULL, 0, &len);
	f->answer_len = 0;
	f->answer[0] = 0;
	if (http_request(f->http, "POST", url, NULL, body, len, SMALL_MAX, TIMEOUT_MS, on_small_body,
			 on_login, f) == 0)
		f->logging_in = true;
	free(body);
}

/* ---- pushing alerts ---- */

void fleet_ban(struct fleet *f, const struct ban *b)
{
	const struct config *c;
	struct queued *q = NULL;

	if (!f || !f->q || !f->d->cfg->crowdsec_push || b->rule < 0)
		return;
	c = f->d->cfg;
	/* A newer ban of the same key replaces the one still waiting. */
	for (size_t i = 0; i < f->nq; i++)
		if (!prefix_cmp(&f->q[i].a.key, &b->key))
			q = &f->q[i];
	if (!q) {
		if (f->nq == QUEUE_MAX) {
			f->st.dropped++;
			return;
		}
		q = &f->q[f->nq++];
	}
	memset(q, 0, sizeof(*q));
	snprintf(q->scenario, sizeof(q->scenario), "rcptguard/%s", b->rule_name);
	ban_format(b, false, q->message, sizeof(q->message));
	q->a.key = b->key;
	q->a.events_count = b->count;
	q->a.capacity = c->rules[b->rule].threshold;
	q->a.leakspeed = c->rules[b->rule].window;
	/* LAPI's until is stop_at + duration: the ban's own time, the
	 * capture time of the reply that decided it. */
	q->a.start = q->a.stop = b->time;
	q->a.duration = b->duration;
	f->st.queued = f->nq;
}

static void on_pushed(void *arg, long status, const char *err)
{
	struct fleet *f = arg;
	size_t n = f->ninflight;

	if (status == 200 || status == 201) {
		/* From the reply that decided the first ban to LAPI's answer. */
		if (n)
			f->st.push_latency_us = (uint64_t)(clock_wall() - f->inflight[0].a.stop);
		f->st.pushed += n;
		f->st.last_push = (uint64_t)(clock_wall() / USEC_PER_SEC);
		f->st.up = 1;
		f->backoff = 0;
		f->ninflight = 0;
		return;
	}
	if (status == 400 || (status == 500 && (strstr(f->answer, "validation") ||
						strstr(f->answer, "unable to create alerts")))) {
		/* Retrying would store part of it twice: never retried. */
		f->st.invalid += n;
		logmsg(LOG_ERR, "crowdsec: LAPI refused %zu alert%s as invalid (%ld %.*s); dropped", n,
		       n == 1 ? "" : "s", status, (int)f->answer_len, f->answer);
		f->ninflight = 0;
		return;
	}
	/* Down, restarted (401: its token secret changed) or busy: again. */
	f->st.push_errors++;
	if (status == 401 || status == 403)
		f->token[0] = 0;
	else
		f->st.up = 0;
	if (status != 401 && !f->said_down) {
		logmsg(LOG_WARNING, "crowdsec: cannot push to %s (%s%ld); local bans go on, alerts wait",
		       f->url, err ? err : "", status);
		f->said_down = true;
	}
	/* Back at the head of the queue, the newest ban of a key winning. */
	for (size_t i = 0; i < n && f->nq < QUEUE_MAX; i++) {
		bool newer = false;

		for (size_t j = 0; j < f->nq; j++)
			newer |= !prefix_cmp(&f->q[j].a.key, &f->inflight[i].a.key);
		if (!newer)
			f->q[f->nq++] = f->inflight[i];
	}
	f->ninflight = 0;
	f->st.queued = f->nq;
	if (status == 401 || status == 403) {
		/* A restarted LAPI signs with a new secret: log in again now. */
		f->retry_at = 0;
		login(f);
		return;
	}
	backoff(f, status);
}

void fleet_flush(struct fleet *f)
{
	struct lapi_alert *v;
	char url[320], auth[4200];
	const char *hdr[2] = { auth, NULL };
	size_t n, len;
	char *body;

	if (!f || !f->nq || f->ninflight || clock_mono() < f->retry_at)
		return;
	if (!f->token[0]) {
		login(f);
		return;
	}
	n = f->nq < POST_MAX ? f->nq : POST_MAX;
	memcpy(f->inflight, f->q, n * sizeof(*f->q));
	memmove(f->q, f->q + n, (f->nq - n) * sizeof(*f->q));
	f->nq -= n;
	f->ninflight = n;
	f->st.queued = f->nq;
	v = xcalloc(n, sizeof(*v));
	/* n >= 1: the queue was not empty (cppcheck 2.10 infers otherwise). */
	// cppcheck-suppress knownConditionTrueFalse
	for (size_t i = 0; i < n; i++) {
		v[i] = f->inflight[i].a;
		v[i].scenario = f->inflight[i].scenario;
		v[i].message = f->inflight[i].message;
	}
	body = lapi_alerts_json(v, n, RCPTGUARD_VERSION, &len);
	free(v);
	snprintf(url, sizeof(url), "%s/v1/alerts", f->url);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", f->token);
	f->answer_len = 0;
	f->answer[0] = 0;
	if (http_request(f->http, "POST", url, hdr, body, len, SMALL_MAX, TIMEOUT_MS, on_small_body,
			 on_pushed, f) < 0)
		on_pushed(f, 0, "cannot start the request");
	free(body);
}

static void on_deleted(void *arg, long status, const char *err)
{
	(void)arg;
	if (status != 200)
		logmsg(LOG_WARNING, "crowdsec: the unban was not deleted in LAPI (%s%ld)", err ? err : "",
		       status);
}

void fleet_unban(struct fleet *f, const struct prefix *key)
{
	char scope[16], value[64], url[400], auth[4200];
	const char *hdr[2] = { auth, NULL };

	if (!f || !f->token[0])
		return;
	lapi_key_text(key, scope, sizeof(scope), value, sizeof(value));
	/* Always with a filter: without one LAPI deletes every decision. */
	snprintf(url, sizeof(url), "%s/v1/decisions?%s=%s", f->url, !strcmp(scope, "Ip") ? "ip" : "range",
		 value);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", f->token);
	if (http_request(f->http, "DELETE", url, hdr, NULL, 0, SMALL_MAX, TIMEOUT_MS, NULL, on_deleted,
			 f) == 0)
		f->st.unbans_sent++;
}

/* ---- the decision stream ---- */

static void on_decision(void *arg, const struct lapi_decision *dc)
{
	struct fleet *f = arg;
	struct daemon *d = f->d;
	struct prefix key;
	struct ban_record r;
	char k[ADDR_STRLEN];
	usec_t now = clock_wall();
	bool had;

	f->st.decisions++;
	if (strcmp(dc->type, "ban") || dc->truncated || lapi_key_parse(dc->scope, dc->value, &key) ||
	    !dc->has_duration) {
		f->st.refused++;
		return;
	}
	prefix_fmt(&key, k, sizeof(k));
	had = tracker_lookup(d->p.tracker, &key, &r) && r.until > now;
	if (dc->deleted) {
		/* An expiry, or a deletion: only the decision a ban here ends
		 * with (its tag), deleted before that end, is an unban
		 * somewhere. A startup stream's deletions are all expiries;
		 * repeats find the ban lifted. */
		if (f->startup || !had || dc->id <= 0 || r.tag != (uint32_t)dc->id ||
		    r.until < now + EARLY)
			return;
		if (daemon_unban(d, &key) > 0) {
			f->st.lifted++;
			logmsg(LOG_NOTICE, "fleet unban %s (decision %lld deleted in LAPI)", k,
			       (long long)dc->id);
		}
		return;
	}
	if (dc->duration < USEC_PER_SEC) {
		f->st.ignored++;
		return;
	}
	if (!d->enf || !enforcer_has_set(d->enf, &key)) {
		f->st.refused++;
		return;
	}
	if (tracker_may_ban(d->p.tracker, &key.a) != TRACK_OK) {
		f->st.allowlisted++;
		logmsg(LOG_NOTICE, "fleet ban %s (%s, %s) not applied: allowlisted or never banned", k,
		       dc->origin, dc->scenario);
		return;
	}
	/* Our own decisions come back, and longer bans win: no-op. The
	 * decision that ends with the ban is the one whose deletion lifts
	 * it: its id is kept with the ban. */
	if (had && r.until >= now + dc->duration - USEC_PER_SEC) {
		if (r.until <= now + dc->duration + USEC_PER_SEC && dc->id > 0)
			tracker_set_tag(d->p.tracker, &key, (uint32_t)dc->id);
		f->st.already++;
		return;
	}
	/* Only an element that may be in the set needs deleting first. */
	if (daemon_ban(d, &key, dc->duration, had, BAN_FLEET, 0, dc->id > 0 ? (uint32_t)dc->id : 0) ==
	    TRACK_OK) {
		char dur[32];

		f->st.applied++;
		f->applied_this_pull++;
		/* A startup stream may carry 100,000: those are summed up. */
		if (!f->startup)
			logmsg(LOG_NOTICE, "fleet ban %s duration=%s origin=%s scenario=%s", k,
			       fmt_duration(dc->duration / USEC_PER_SEC * USEC_PER_SEC, dur, sizeof(dur)),
			       dc->origin, dc->scenario);
		/* Into the kernel by the ten thousand: bounded batches. */
		if (f->applied_this_pull % FLUSH_EVERY == 0)
			daemon_flush(d);
	}
}

static int on_stream_body(void *arg, const void *data, size_t len)
{
	struct fleet *f = arg;
	char err[256];

	if (!f->stream)
		return 0;
	if (lapi_stream_feed(f->stream, data, len, err, sizeof(err)) < 0) {
		logmsg(LOG_WARNING, "crowdsec: bad decision stream: %s", err);
		return -1;
	}
	return 0;
}

static void on_pulled(void *arg, long status, const char *err)
{
	struct fleet *f = arg;
	char why[256] = "";
	bool ok = status == 200 && f->stream && lapi_stream_finish(f->stream, why, sizeof(why)) == 0;

	f->pulling = false;
	/* Whatever applied before a bad end stays: each was a whole decision. */
	daemon_flush(f->d);
	if (f->startup && f->applied_this_pull)
		logmsg(LOG_NOTICE, "fleet: %llu bans applied from LAPI's full stream",
		       (unsigned long long)f->applied_this_pull);
	lapi_stream_free(f->stream);
	f->stream = NULL;
	if (ok) {
		if (f->startup)
			f->st.full_pull_us = (uint64_t)(clock_mono() - f->pull_start);
		else
			f->st.pull_us = (uint64_t)(clock_mono() - f->pull_start);
		f->st.pulls++;
		f->st.last_pull = (uint64_t)(clock_wall() / USEC_PER_SEC);
		f->st.up = 1;
		f->startup = false;
		f->pull_backoff = 0;
		if (f->said_down) {
			logmsg(LOG_NOTICE, "crowdsec: %s answers again", f->url);
			f->said_down = false;
		}
		return;
	}
	f->st.pull_errors++;
	f->st.up = 0;
	/* Not answering: again at the next poll. Answering with errors: later. */
	if (status) {
		f->pull_backoff = f->pull_backoff ? f->pull_backoff * 2 : USEC_PER_SEC;
		if (f->pull_backoff > BACKOFF_MAX)
			f->pull_backoff = BACKOFF_MAX;
		f->next_poll = clock_mono() + f->pull_backoff;
	}
	if (!f->said_down) {
		logmsg(LOG_WARNING, "crowdsec: cannot read decisions from %s (%s%s%ld%s); bans in force "
		       "stay until they end", f->url, err ? err : why, err || why[0] ? ", " : "", status,
		       status == 403 ? ": the api_key is refused" : "");
		f->said_down = true;
	}
}

static void pull(struct fleet *f)
{
	char url[400], key[200];
	const char *hdr[2] = { f->api_key[0] ? key : NULL, NULL };
	usec_t now = clock_mono();

	if (f->pulling || (!f->api_key[0] && !f->cert) || now < f->next_poll)
		return;
	if (now >= f->next_resync) {
		/* The server's cursor and its flush can lose decisions: read
		 * them all again now and then. */
		f->startup = true;
		f->next_resync = now + f->d->cfg->crowdsec_resync;
	}
	snprintf(url, sizeof(url), "%s/v1/decisions/stream?startup=%s%s", f->url,
		 f->startup ? "true" : "false",
		 f->d->cfg->crowdsec_enforce == CROWDSEC_ENFORCE_OWN ? "&origins=rcptguard&dedup=false" : "");
	snprintf(key, sizeof(key), "X-Api-Key: %s", f->api_key);
	f->stream = lapi_stream_new(on_decision, f);
	f->applied_this_pull = 0;
	if (http_request(f->http, "GET", url, hdr, NULL, 0, STREAM_MAX, 60000, on_stream_body, on_pulled,
			 f) < 0) {
		lapi_stream_free(f->stream);
		f->stream = NULL;
		return;
	}
	f->pulling = true;
	f->pull_start = now;
	f->next_poll = now + f->d->cfg->crowdsec_poll;
}

void fleet_tick(struct fleet *f)
{
	if (!f)
		return;
	if ((f->machine[0] || f->cert) && f->d->cfg->crowdsec_push && !f->logging_in &&
	    (!f->token[0] || clock_mono() - f->token_at > TOKEN_LIFE) && clock_mono() >= f->retry_at)
		login(f);
	if (f->d->cfg->crowdsec_pull)
		pull(f);
	fleet_flush(f);
}

bool fleet_event(struct fleet *f, int fd, uint32_t events)
{
	uint64_t ticks;

	if (!f)
		return false;
	if (fd == f->timerfd) {
		if (read(fd, &ticks, sizeof(ticks)) == sizeof(ticks))
			fleet_tick(f);
		return true;
	}
	return http_event(f->http, fd, events);
}

const struct fleet_stats *fleet_stats(const struct fleet *f)
{
	return &f->st;
}

struct fleet *fleet_new(struct daemon *d, char *err, size_t errlen)
{
	const struct config *c = d->cfg;
	struct fleet *f = xcalloc(1, sizeof(*f));
	struct http_tls tls = {
		.ca_file = c->crowdsec_ca_file[0] ? c->crowdsec_ca_file : NULL,
		.cert_file = c->crowdsec_cert_file[0] ? c->crowdsec_cert_file : NULL,
		.key_file = c->crowdsec_key_file[0] ? c->crowdsec_key_file : NULL,
	};

	f->d = d;
	f->cert = c->crowdsec_cert_file[0] != 0;
	snprintf(f->url, sizeof(f->url), "%s", c->crowdsec_url);
	while (f->url[0] && f->url[strlen(f->url) - 1] == '/')
		f->url[strlen(f->url) - 1] = 0;
	if (read_credentials(f, c->crowdsec_credentials, err, errlen) < 0) {
		free(f);
		return NULL;
	}
	if (c->crowdsec_push && !f->machine[0] && !f->cert) {
		snprintf(err, errlen, "crowdsec: crowdsec_push = yes needs machine_id and password in %s, "
			 "or crowdsec_cert_file", c->crowdsec_credentials);
		free(f);
		return NULL;
	}
	if (c->crowdsec_pull && !f->api_key[0] && !f->cert) {
		snprintf(err, errlen, "crowdsec: crowdsec_pull = yes needs api_key in %s (cscli bouncers add), "
			 "or crowdsec_cert_file", c->crowdsec_credentials);
		free(f);
		return NULL;
	}
	f->http = http_new(d->epfd, &tls, err, errlen);
	if (!f->http) {
		free(f);
		return NULL;
	}
	{
		struct itimerspec its = { { 0, (long)TICK_MS * 1000000L }, { 0, (long)TICK_MS * 1000000L } };
		struct epoll_event ev = { .events = EPOLLIN };

		f->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		ev.data.fd = f->timerfd;
		if (f->timerfd < 0 || timerfd_settime(f->timerfd, 0, &its, NULL) < 0 ||
		    epoll_ctl(d->epfd, EPOLL_CTL_ADD, f->timerfd, &ev) < 0) {
			snprintf(err, errlen, "crowdsec: cannot set up its timer: %s", strerror(errno));
			if (f->timerfd >= 0)
				close(f->timerfd);
			http_free(f->http);
			free(f);
			return NULL;
		}
	}
	f->q = xcalloc(QUEUE_MAX, sizeof(*f->q));
	f->inflight = xcalloc(POST_MAX, sizeof(*f->inflight));
	f->startup = true;
	f->next_resync = clock_mono() + c->crowdsec_resync;
	return f;
}

void fleet_free(struct fleet *f)
{
	if (!f)
		return;
	http_free(f->http);
	close(f->timerfd);
	lapi_stream_free(f->stream);
	free(f->q);
	free(f->inflight);
	explicit_bzero(f->password, sizeof(f->password));
	explicit_bzero(f->api_key, sizeof(f->api_key));
	explicit_bzero(f->token, sizeof(f->token));
	free(f);
}
