/* The daemon's configuration as loaded, and its one ban path: every ban,
 * whoever decided it, is queued here, sent in the iteration's batch by
 * daemon_flush, and then has its sessions cut. */
#include "daemon.h"

#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sesskill.h"
#include "state.h"

/* servers = local: the addresses of this host, each a full-length prefix. */
static int local_servers(struct config *c)
{
	struct ifaddrs *ifa, *i;

	if (c->servers_mode != SERVERS_LOCAL)
		return 0;
	if (getifaddrs(&ifa) < 0) {
		logmsg(LOG_ERR, "cannot list local addresses: %s", strerror(errno));
		return -1;
	}
	prefixlist_free(&c->servers);
	for (i = ifa; i; i = i->ifa_next) {
		struct prefix p = { 0 };

		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			p.a.af = 4;
			p.len = 32;
			memcpy(p.a.b, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			p.a.af = 6;
			p.len = 128;
			memcpy(p.a.b, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		prefixlist_add(&c->servers, &p, "local address");
	}
	freeifaddrs(ifa);
	c->servers_any = false;
	return 0;
}

struct config *daemon_load_config(const char *path, int *errors, FILE *err)
{
	struct config *c = xcalloc(1, sizeof(*c));

	config_defaults(c);
	*errors = path ? config_load(c, path, err) : config_load_string(c, "", "defaults", err);
	if (*errors) {
		config_free(c);
		free(c);
		return NULL;
	}
	local_servers(c);
	/* auto: cut sessions only where they are this host's own. */
	if (c->kill_sessions == KILL_AUTO)
		c->kill_sessions = c->servers_mode == SERVERS_LOCAL ? KILL_YES : KILL_NO;
	return c;
}

static void pending_push(struct daemon *d, const struct prefix *key, usec_t decided, bool cut)
{
	if (!decided && !cut)
		return;
	if (d->npending == d->pending_cap) {
		if (d->pending_cap == DAEMON_PENDING_MAX) {
			if (!d->pending_overflow++)
				logmsg(LOG_WARNING, "more than %d bans in one loop iteration: the rest are "
				       "enforced, but their sessions are not cut", DAEMON_PENDING_MAX);
			return;
		}
		d->pending_cap = d->pending_cap ? d->pending_cap * 2 : 64;
		d->pending = xrealloc(d->pending, d->pending_cap * sizeof(*d->pending));
	}
	d->pending[d->npending++] = (struct pending_ban){ .key = *key, .decided = decided, .cut = cut };
}

int daemon_ban(struct daemon *d, const struct prefix *key, usec_t dur, bool reban,
	       enum ban_origin origin, usec_t decided, uint32_t tag)
{
	if (origin != BAN_RULE) {
		int why = tracker_ban(d->p.tracker, clock_wall(), key, dur,
				      origin == BAN_FLEET ? RULE_FLEET : RULE_MANUAL, tag);

		if (why != TRACK_OK || d->cfg->observe)
			return why;
		if (origin == BAN_MANUAL)
			d->manual_bans++;
		else
			d->fleet_bans++;
	}
	d->state_dirty = true;
	if (!d->enf)
		return TRACK_OK;
	/* Sent with the others of this loop iteration, in one batch. */
	enforcer_queue_key(d->enf, key, dur, reban);
	pending_push(d, key, decided, d->cfg->kill_sessions == KILL_YES);
	return TRACK_OK;
}

int daemon_unban(struct daemon *d, const struct prefix *key)
{
	struct ban_record r;
	bool fleet = tracker_lookup(d->p.tracker, key, &r) && r.until && r.rule == RULE_FLEET;
	bool known = tracker_unban(d->p.tracker, key);

	if (d->enf) {
		enforcer_queue_del(d->enf, key);
		if (enforcer_flush(d->enf))
			return -1;
	}
	if (known) {
		if (!fleet)
			d->manual_unbans++;
		d->state_dirty = true;
	}
	return known;
}

void daemon_on_ban(void *arg, const struct ban *b)
{
	struct daemon *d = arg;
	char line[2048];

	ban_format(b, false, line, sizeof(line));
	if (d->cfg->observe) {
		logmsg(LOG_NOTICE, "would %s", strstr(line, "ban "));
		return;
	}
	logmsg(LOG_NOTICE, "%s", line);
	daemon_ban(d, &b->key, b->duration, b->nth > 1, BAN_RULE, b->time, 0);
	/* Decided here: the other MX hosts learn it through LAPI. */
	fleet_ban(d->fleet, b);
}

static void cut_sessions(struct daemon *d)
{
	struct prefix *keys = xcalloc(d->npending, sizeof(*keys));
	int *killed = xcalloc(d->npending, sizeof(*killed));
	size_t n = 0;

	for (size_t i = 0; i < d->npending; i++)
		if (d->pending[i].cut)
			keys[n++] = d->pending[i].key;
	if (n && sessions_kill_many(keys, n, d->cfg, killed) < 0)
		logmsg(LOG_WARNING, "cannot cut the sessions of %zu banned source%s: %s", n,
		       n == 1 ? "" : "s", strerror(errno));
	for (size_t i = 0; i < n; i++) {
		char k[ADDR_STRLEN];

		if (killed[i] <= 0)
			continue;
		d->sessions_killed += (uint64_t)killed[i];
		logmsg(LOG_NOTICE, "cut %d session%s of %s", killed[i], killed[i] == 1 ? "" : "s",
		       prefix_fmt(&keys[i], k, sizeof(k)));
	}
	free(keys);
	free(killed);
}

int daemon_flush(struct daemon *d)
{
	int refused = 0;
	usec_t now;

	if (d->enf && enforcer_pending(d->enf))
		refused = enforcer_flush(d->enf);
	if (!d->npending)
		return refused;
	/* From the reply that crossed the threshold (its capture time) to
	 * the kernel's answer. */
	now = clock_wall();
	for (size_t i = 0; i < d->npending; i++) {
		char k[ADDR_STRLEN];

		if (!d->pending[i].decided)
			continue;
		logmsg(LOG_INFO, "enforced %s %lld us after the reply that crossed the threshold",
		       prefix_fmt(&d->pending[i].key, k, sizeof(k)),
		       (long long)(now - d->pending[i].decided));
	}
	/* Once the kernel drops the source, free the server processes it
	 * still holds. */
	cut_sessions(d);
	d->npending = 0;
	return refused;
}

void daemon_save_state(struct daemon *d)
{
	if (!d->cfg->state_file[0] || d->cfg->observe)
		return;
	if (state_save(d->cfg->state_file, d->p.tracker, &d->p.tls.cal) < 0) {
		/* Once per kind of failure, not once a second. */
		if (!d->state_errors++)
			logmsg(LOG_ERR, "cannot write the state file %s: %s", d->cfg->state_file,
			       strerror(errno));
		return;
	}
	if (d->state_errors) {
		logmsg(LOG_NOTICE, "state file %s written again", d->cfg->state_file);
		d->state_errors = 0;
	}
	d->state_writes++;
	d->state_dirty = false;
}

const struct pipeline *daemon_view(struct daemon *d)
{
	struct pipeline *v = &d->view;

	if (!d->threaded)
		return &d->p;
	workers_sum(&d->ws, &d->wsum, d->wpackets);
	/* The loop's pipeline (tracker, configuration) with the workers'
	 * counts; only read, never run. */
	*v = d->p;
	v->st = d->wsum.st;
	v->flows.st = d->wsum.flows;
	v->flows.n = (uint32_t)d->wsum.nflows;
	v->flows.max = d->p.flows.max * d->ws.n;
	v->smtp.st = d->wsum.smtp;
	v->reasm.st = d->wsum.reasm;
	v->reasm.global_held = d->wsum.reasm_held;
	v->reasm.global_cap = d->p.reasm.global_cap * d->ws.n;
	v->tls.st = d->wsum.tls;
	return v;
}
