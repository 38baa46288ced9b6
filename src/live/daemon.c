/* rcptguard run: the live daemon. One epoll loop, single-threaded, over the
 * capture descriptor, a signalfd and a timerfd; every packet goes through
 * the same pipeline as `rcptguard replay`. */
#include "daemon.h"
#include "daemon_int.h"

#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "enforce.h"
#include "livepcap.h"
#include "log.h"
#include "nfqcap.h"
#include "pipeline.h"
#include "privs.h"
#include "sesskill.h"
#include "state.h"
#include "summary.h"

/* The timer turns the wheels and expires flows when traffic is quiet. */
#define TICK_SEC 1


static void on_event(void *arg, const struct flow_event *e)
{
	struct daemon *d = arg;

	summary_event(d->sum, e);
}

static void on_ban(void *arg, const struct ban *b)
{
	struct daemon *d = arg;
	char line[2048];

	ban_format(b, false, line, sizeof(line));
	if (d->cfg->observe) {
		logmsg(LOG_NOTICE, "would %s", strstr(line, "ban "));
		return;
	}
	logmsg(LOG_NOTICE, "%s", line);
	d->state_dirty = true;
	if (d->enf && d->ndecided < ARRAY_LEN(d->decided)) {
		d->decided[d->ndecided].key = b->key;
		d->decided[d->ndecided].time = b->time;
		d->ndecided++;
	}
	/* Sent with the others of this loop iteration, in one batch. */
	if (d->enf)
		enforcer_queue(d->enf, b);
	if (d->enf && (d->cfg->kill_sessions > 0 ||
		       (d->cfg->kill_sessions < 0 && d->cfg->servers_mode == SERVERS_LOCAL)) &&
	    d->ncut < ARRAY_LEN(d->to_cut))
		d->to_cut[d->ncut++] = b->key;
}

static void on_wave(void *arg, usec_t now, const struct wave_info *w)
{
	struct daemon *d = arg;

	(void)now;	/* the log line has its own time */
	if (w->on)
		logmsg(LOG_NOTICE, "wave started: %u rejected recipients in 5 min, baseline %.1f "
		       "(wave_factor %u, wave_min %u); wave_threshold applies to sources "
		       "with nothing accepted", w->rate, w->baseline,
		       d->cfg->wave_factor, d->cfg->wave_min);
	else
		logmsg(LOG_NOTICE, "wave ended: rate %u in 5 min, peak %u, baseline %.1f, "
		       "%u sources stopped by wave_threshold", w->rate, w->peak, w->baseline, w->bans);
}

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

static struct config *load(const char *path, int *errors, FILE *err)
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
	return c;
}

static bool capture_changed(const struct config *a, const struct config *b)
{
	return a->capture != b->capture || a->queue_first != b->queue_first ||
	       a->queue_last != b->queue_last || strcmp(a->interface, b->interface) ||
	       a->nports != b->nports || memcmp(a->ports, b->ports, sizeof(a->ports));
}

static bool rules_changed(const struct config *a, const struct config *b)
{
	if (a->nrules != b->nrules || a->max_sources != b->max_sources)
		return true;
	for (size_t i = 0; i < a->nrules; i++) {
		const struct rule *x = &a->rules[i], *y = &b->rules[i];

		if (strcmp(x->name, y->name) || x->cls != y->cls || x->threshold != y->threshold ||
		    x->window != y->window || x->ban != y->ban || x->factor != y->factor ||
		    x->max_ban != y->max_ban || x->distinct != y->distinct ||
		    x->prefix4 != y->prefix4 || x->prefix6 != y->prefix6)
			return true;
	}
	return false;
}

/* SIGHUP: the new file replaces the old one only when it is valid. */
int daemon_reload(struct daemon *d, FILE *err)
{
	int errors;
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	struct config *c = load(d->cfgpath, &errors, m ? m : stderr);

	if (m) {
		char *line, *save = NULL;

		fclose(m);
		/* Each FILE:LINE error to the log, and to whoever asked. */
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			logmsg(LOG_ERR, "%s", line);
			if (err)
				fprintf(err, "%s\n", line);
		}
		free(text);
	}
	if (!c) {
		d->reload_errors++;
		logmsg(LOG_ERR, "reload: %s has %d error%s (listed above); keeping the running configuration",
		       d->cfgpath ? d->cfgpath : "defaults", errors, errors == 1 ? "" : "s");
		if (err)
			fprintf(err, "%s has %d error%s; keeping the running configuration\n",
				d->cfgpath ? d->cfgpath : "defaults", errors, errors == 1 ? "" : "s");
		return -1;
	}
	if (capture_changed(d->cfg, c))
		logmsg(LOG_WARNING, "reload: capture settings (capture, queue, interface, smtp_ports) "
		       "take effect at the next start");
	/* Keep what the capture was opened with. */
	c->capture = d->cfg->capture;
	c->queue_first = d->cfg->queue_first;
	c->queue_last = d->cfg->queue_last;
	memcpy(c->interface, d->cfg->interface, sizeof(c->interface));
	memcpy(c->ports, d->cfg->ports, sizeof(c->ports));
	c->nports = d->cfg->nports;
	/* The ruleset too: it was installed with these. */
	if (strcmp(c->table, d->cfg->table) || c->manage_ruleset != d->cfg->manage_ruleset ||
	    c->manage_queue != d->cfg->manage_queue || c->drop != d->cfg->drop ||
	    c->gateway != d->cfg->gateway || c->set_size != d->cfg->set_size ||
	    c->observe != d->cfg->observe || strcmp(c->state_file, d->cfg->state_file))
		logmsg(LOG_WARNING, "reload: ruleset settings (mode, manage_ruleset, manage_queue, table, "
		       "drop, gateway, set_size, state_file) take effect at the next start");
	if (strcmp(c->control_socket, d->cfg->control_socket) || strcmp(c->user, d->cfg->user))
		logmsg(LOG_WARNING, "reload: control_socket and user take effect at the next start");
	memcpy(c->table, d->cfg->table, sizeof(c->table));
	c->manage_ruleset = d->cfg->manage_ruleset;
	c->manage_queue = d->cfg->manage_queue;
	c->drop = d->cfg->drop;
	c->gateway = d->cfg->gateway;
	c->set_size = d->cfg->set_size;
	c->observe = d->cfg->observe;
	memcpy(c->state_file, d->cfg->state_file, sizeof(c->state_file));
	memcpy(c->control_socket, d->cfg->control_socket, sizeof(c->control_socket));
	memcpy(c->user, d->cfg->user, sizeof(c->user));
	if (rules_changed(d->cfg, c))
		logmsg(LOG_NOTICE, "reload: rules changed; counting starts afresh");
	pipeline_reconfigure(&d->p, c, rules_changed(d->cfg, c));
	summary_reconfigure(d->sum, c);
	if (d->enf) {
		enforcer_set_config(d->enf, c);
		enforcer_sync_allow(d->enf);
	}
	config_free(d->cfg);
	free(d->cfg);
	d->cfg = c;
	d->reloads++;
	logmsg(LOG_NOTICE, "reload: %s loaded", d->cfgpath ? d->cfgpath : "defaults");
	if (err)
		fprintf(err, "%s loaded\n", d->cfgpath ? d->cfgpath : "defaults");
	return 0;
}

static void write_summary(struct daemon *d)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);

	if (m) {
		char *line, *save = NULL;

		summary_text(d->sum, &d->p, m);
		fclose(m);
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			logmsg(LOG_INFO, "%s", line);
		free(text);
	}
	if (d->nfq) {
		const struct nfqcap_stats *s = nfqcap_stats(d->nfq);

		logmsg(LOG_INFO, "  nfqueue: packets %llu, verdict messages %llu, receive overruns %llu, "
		       "verdict errors %llu", (unsigned long long)s->packets,
		       (unsigned long long)s->verdicts, (unsigned long long)s->enobufs,
		       (unsigned long long)s->verdict_errors);
	}
	if (d->pcap) {
		const struct livepcap_stats *s = livepcap_stats(d->pcap);

		logmsg(LOG_INFO, "  pcap: packets %llu, kernel drops %llu, interface drops %llu",
		       (unsigned long long)s->packets, (unsigned long long)s->kernel_drops,
		       (unsigned long long)s->interface_drops);
	}
	if (d->enf) {
		const struct enforce_stats *s = enforcer_stats(d->enf);

		logmsg(LOG_INFO, "  nftables: elements %llu in %llu batches, refused %llu, last round trip %llu us; "
		       "sessions cut %llu",
		       (unsigned long long)s->elements, (unsigned long long)s->batches,
		       (unsigned long long)s->element_errors, (unsigned long long)s->last_batch_us,
		       (unsigned long long)d->sessions_killed);
	}
	if (d->summary_path) {
		char tmp[4096];
		FILE *f;

		/* Written whole, then renamed: readers never see half a file. */
		snprintf(tmp, sizeof(tmp), "%s.tmp", d->summary_path);
		f = fopen(tmp, "w");
		if (!f || (summary_json(d->sum, &d->p, f), fclose(f)) || rename(tmp, d->summary_path))
			logmsg(LOG_ERR, "cannot write %s: %s", d->summary_path, strerror(errno));
	}
}

void daemon_flush(struct daemon *d)
{
	if (d->enf && enforcer_pending(d->enf))
		enforcer_flush(d->enf);
	/* From the reply that crossed the threshold (its capture time) to
	 * the kernel's answer. */
	if (d->ndecided) {
		usec_t now = clock_wall();

		for (size_t i = 0; i < d->ndecided; i++) {
			char k[ADDR_STRLEN];

			logmsg(LOG_INFO, "enforced %s %lld us after the reply that crossed the threshold",
			       prefix_fmt(&d->decided[i].key, k, sizeof(k)),
			       (long long)(now - d->decided[i].time));
		}
		d->ndecided = 0;
	}
	/* Once the kernel drops the source, free the server processes it
	 * still holds. */
	if (d->ncut) {
		int killed[ARRAY_LEN(d->to_cut)];

		if (sessions_kill_many(d->to_cut, d->ncut, d->cfg, killed) < 0)
			logmsg(LOG_WARNING, "cannot cut the sessions of %zu banned source%s: %s", d->ncut,
			       d->ncut == 1 ? "" : "s", strerror(errno));
		for (size_t i = 0; i < d->ncut; i++) {
			char k[ADDR_STRLEN];

			if (killed[i] <= 0)
				continue;
			d->sessions_killed += (uint64_t)killed[i];
			logmsg(LOG_NOTICE, "cut %d session%s of %s", killed[i], killed[i] == 1 ? "" : "s",
			       prefix_fmt(&d->to_cut[i], k, sizeof(k)));
		}
	}
	d->ncut = 0;
}

static void flush_bans(void *arg)
{
	daemon_flush(arg);
}

static void save_state(struct daemon *d)
{
	if (!d->cfg->state_file[0] || d->cfg->observe)
		return;
	if (state_save(d->cfg->state_file, d->p.tracker) < 0) {
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

/* ---- start-up: state file and kernel, reconciled ---- */

struct syncctx {
	struct daemon *d;
	struct elem_table *k;
	usec_t now;
	size_t sent;
};

/* Every active ban of the tracker into the kernel: missing ones added,
 * ones the kernel would end sooner re-added with the longer timeout. */
static void sync_ban(void *arg, const struct ban_record *r)
{
	struct syncctx *x = arg;
	usec_t left = r->until - x->now;
	const struct elem_info *ei = elem_table_find(x->k, &r->key);

	if (left <= USEC_PER_SEC)
		return;
	if (ei && (usec_t)ei->expires_ms * 1000 + USEC_PER_SEC >= left)
		return;
	enforcer_queue_key(x->d->enf, &r->key, left, ei != NULL);
	x->sent++;
}

/* A restart must neither lift bans early nor forget repeat offenders: the
 * state file gives bans and history, the kernel's sets what is enforced
 * now. Both go into the tracker; bans the allowlist now covers leave the
 * kernel; bans only the file knew go back in, in one batch. */
static void restore(struct daemon *d)
{
	struct state_counts sc = { 0 };
	struct elem_table k = { 0 };
	struct syncctx x = { .d = d, .k = &k };
	size_t adopted = 0, removed = 0;
	usec_t now = clock_wall();

	x.now = now;
	if (d->cfg->state_file[0] &&
	    state_load(d->cfg->state_file, d->p.tracker, d->cfg, now, &sc, stderr) < 0)
		logmsg(LOG_ERR, "cannot read the state file %s: %s; starting without it",
		       d->cfg->state_file, strerror(errno));
	if (d->enf) {
		if (enforcer_snapshot(d->enf, &k) < 0)
			logmsg(LOG_WARNING, "nft: cannot read back the sets: %s", strerror(errno));
		for (size_t i = 0; i < k.n; i++) {
			struct ban_record r = {
				.key = k.v[i].key,
				.rule = -1,
				.nth = 1,
				.since = now - (usec_t)(k.v[i].timeout_ms - k.v[i].expires_ms) * 1000,
				.until = now + (usec_t)k.v[i].expires_ms * 1000,
			};

			if (tracker_may_ban(d->p.tracker, &r.key.a) != TRACK_OK) {
				char a[ADDR_STRLEN];

				enforcer_queue_del(d->enf, &r.key);
				logmsg(LOG_NOTICE, "unban %s: now allowlisted or never banned",
				       prefix_fmt(&r.key, a, sizeof(a)));
				removed++;
				continue;
			}
			/* Known from the file: keeps its rule and count. */
			if (!tracker_lookup(d->p.tracker, &r.key, &(struct ban_record){ 0 }))
				adopted++;
			tracker_restore(d->p.tracker, now, &r);
		}
		tracker_foreach_ban(d->p.tracker, true, sync_ban, &x);
		enforcer_flush(d->enf);
	}
	if (sc.bans || sc.history || sc.bad || sc.refused || k.n || removed)
		logmsg(LOG_NOTICE, "restored %u active bans: %zu from the state file (and %zu earlier bans), "
		       "%zu in the kernel, %zu adopted from it, %zu re-sent, %zu allowlisted removed, "
		       "%zu refused, %zu bad lines; %llu ms",
		       tracker_active_bans(d->p.tracker), sc.bans, sc.history, k.n, adopted, x.sent,
		       removed, sc.refused, sc.bad,
		       (unsigned long long)((clock_wall() - now) / 1000));
	elem_table_free(&k);
	if (removed)
		d->state_dirty = true;
}

/* Our table vanished (nft flush ruleset): put it back with every active
 * ban, for what is left of each. */
static void repair(struct daemon *d)
{
	if (!enforcer_check(d->enf))
		return;
	if (enforcer_reinstall(d->enf) < 0)
		return;
	/* The table is new and empty: every active ban goes back in. */
	{
		struct elem_table none = { 0 };
		struct syncctx x = { .d = d, .k = &none, .now = clock_wall() };

		tracker_foreach_ban(d->p.tracker, true, sync_ban, &x);
	}
	d->repairs++;
	logmsg(LOG_WARNING, "table inet %s was deleted (nft flush ruleset?); re-installed with %zu ban%s",
	       d->cfg->table, enforcer_pending(d->enf), enforcer_pending(d->enf) == 1 ? "" : "s");
	enforcer_flush(d->enf);
}

static int ctl_handler_fn(void *arg, char *request, FILE *out)
{
	return ops_handle(arg, request, out);
}

static int setup(struct daemon *d)
{
	char err[512];
	struct epoll_event ev = { .events = EPOLLIN };
	struct itimerspec its = { { TICK_SEC, 0 }, { TICK_SEC, 0 } };
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->sigfd < 0 || d->timerfd < 0 || d->epfd < 0) {
		logmsg(LOG_ERR, "cannot set up the event loop: %s", strerror(errno));
		return -1;
	}
	timerfd_settime(d->timerfd, 0, &its, NULL);
	if (d->cfg->capture == CAPTURE_NFQUEUE) {
		d->nfq = nfqcap_open(d->cfg, err, sizeof(err));
		if (!d->nfq) {
			logmsg(LOG_ERR, "%s", err);
			return -1;
		}
		d->capfd = nfqcap_fd(d->nfq);
	} else {
		d->pcap = livepcap_open(d->cfg, err, sizeof(err));
		if (!d->pcap) {
			logmsg(LOG_ERR, "%s", err);
			return -1;
		}
		d->capfd = livepcap_fd(d->pcap);
	}
	if (!d->cfg->observe) {
		d->enf = enforcer_open(d->cfg, err, sizeof(err));
		if (!d->enf) {
			/* Keep watching: a ban that cannot be enforced is still
			 * logged, and mail is never affected. */
			logmsg(LOG_ERR, "%s; bans will be logged but not enforced", err);
		}
	}
	if (d->nfq)
		nfqcap_set_hook(d->nfq, flush_bans, d);
	if (d->enf && (d->monfd = enforcer_monitor_fd(d->enf)) >= 0) {
		ev.data.fd = d->monfd;
		epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->monfd, &ev);
	}
	if (d->cfg->control_socket[0]) {
		d->ctl = ctl_open(d->cfg->control_socket, d->epfd, ctl_handler_fn, d, err, sizeof(err));
		/* Not fatal: the daemon protects mail without it. */
		if (!d->ctl)
			logmsg(LOG_ERR, "%s; running without a control socket", err);
	}
	ev.data.fd = d->capfd;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->capfd, &ev);
	ev.data.fd = d->sigfd;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->sigfd, &ev);
	ev.data.fd = d->timerfd;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->timerfd, &ev);
	return 0;
}

/* systemd's Type=notify, without libsystemd: one datagram to
 * $NOTIFY_SOCKET (a path, or '@' for the abstract namespace). */
static void sd_notify_msg(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || (len = strlen(path)) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		logmsg(LOG_WARNING, "cannot notify systemd: %s", strerror(errno));
	close(fd);
}

/* Everything privileged is open now: the rest runs as cfg->user. */
static void drop_privileges(struct daemon *d)
{
	char err[256];

	if (!strcmp(d->cfg->user, "root")) {
		logmsg(LOG_NOTICE, "user = root: keeping every privilege");
		return;
	}
	if (privs_drop(d->cfg->user, d->pcap != NULL, err, sizeof(err)) < 0) {
		/* Not fatal: stopping would not protect anything either. */
		logmsg(LOG_ERR, "%s; still running as root", err);
		return;
	}
	logmsg(LOG_NOTICE, "running as user %s with CAP_NET_ADMIN%s only", d->cfg->user,
	       d->pcap ? " and CAP_NET_RAW" : "");
	if (d->cfg->state_file[0]) {
		char dir[sizeof(d->cfg->state_file)], *slash;

		snprintf(dir, sizeof(dir), "%s", d->cfg->state_file);
		slash = strrchr(dir, '/');
		if (slash && slash != dir)
			*slash = 0;
		if (access(dir, W_OK) < 0)
			logmsg(LOG_ERR, "user %s cannot write in %s: the state file will not be saved",
			       d->cfg->user, dir);
	}
}

static void announce(struct daemon *d)
{
	char servers[256] = "any";

	if (!d->cfg->servers_any) {
		size_t o = 0;

		for (size_t i = 0; i < d->cfg->servers.n && o + ADDR_STRLEN + 2 < sizeof(servers); i++) {
			char a[ADDR_STRLEN];

			if (addr_is_special(&d->cfg->servers.v[i].a))
				continue;
			o += (size_t)snprintf(servers + o, sizeof(servers) - o, "%s%s", o ? " " : "",
					      addr_fmt(&d->cfg->servers.v[i].a, a, sizeof(a)));
		}
	}
	if (d->cfg->observe)
		logmsg(LOG_NOTICE, "mode = observe: bans are logged, nothing is changed");
	else if (d->enf)
		logmsg(LOG_NOTICE, "enforcing in table inet %s (%s)", d->cfg->table,
		       d->cfg->manage_ruleset ? "managed" : "sets only");
	if (d->nfq)
		logmsg(LOG_NOTICE, "running: capture nfqueue %u-%u, protecting %s, %zu rule%s",
		       d->cfg->queue_first, d->cfg->queue_last, servers, d->cfg->nrules,
		       d->cfg->nrules == 1 ? "" : "s");
	else
		logmsg(LOG_NOTICE, "running: capture pcap '%s', protecting %s, %zu rule%s",
		       livepcap_filter(d->pcap), servers, d->cfg->nrules, d->cfg->nrules == 1 ? "" : "s");
}

static int loop(struct daemon *d)
{
	struct epoll_event evs[8];

	for (;;) {
		int n = epoll_wait(d->epfd, evs, 8, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			logmsg(LOG_ERR, "epoll: %s", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (ctl_event(d->ctl, fd, evs[i].events)) {
				continue;
			} else if (fd == d->capfd) {
				if (d->nfq)
					nfqcap_read(d->nfq, &d->p);
				else
					livepcap_read(d->pcap, &d->p);
				flush_bans(d);
			} else if (fd == d->monfd) {
				repair(d);
			} else if (fd == d->timerfd) {
				uint64_t ticks;

				if (read(d->timerfd, &ticks, sizeof(ticks)) < 0)
					continue;
				pipeline_tick(&d->p, clock_wall());
				flush_bans(d);
				/* At most once a second, however many bans. */
				if (d->state_dirty)
					save_state(d);
				ctl_tick(d->ctl);
				if (d->cfg->metrics_file[0] && clock_wall() >= d->metrics_next) {
					ops_write_metrics_file(d);
					d->metrics_next = clock_wall() + d->cfg->metrics_interval;
				}
				if (d->pcap) {
					uint64_t drops = livepcap_poll_drops(d->pcap);

					if (drops)
						logmsg(LOG_WARNING, "pcap: the kernel dropped %llu packets "
						       "(raise pcap_buffer)", (unsigned long long)drops);
				}
			} else if (fd == d->sigfd) {
				struct signalfd_siginfo si;

				while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						daemon_reload(d, NULL);
					} else if (si.ssi_signo == SIGUSR1) {
						write_summary(d);
					} else {
						logmsg(LOG_NOTICE, "stopping on signal %u", si.ssi_signo);
						return 0;
					}
				}
			}
		}
	}
}

static void usage_run(FILE *f)
{
	fprintf(f, "usage: rcptguard run [-c FILE] [-f] [--summary-json FILE]\n");
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground-log", no_argument, NULL, 'f' },
		{ "summary-json", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { .epfd = -1, .sigfd = -1, .timerfd = -1, .capfd = -1, .monfd = -1 };
	bool to_stderr = false;
	int c, errors, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:fs:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.cfgpath = optarg;
			break;
		case 'f':
			to_stderr = true;
			break;
		case 's':
			d.summary_path = optarg;
			break;
		case 'h':
			usage_run(stdout);
			return 0;
		default:
			usage_run(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		usage_run(stderr);
		return 1;
	}
	if (!d.cfgpath && access(DEFAULT_CONFIG_PATH, F_OK) == 0)
		d.cfgpath = DEFAULT_CONFIG_PATH;
	log_open(to_stderr);
	d.cfg = load(d.cfgpath, &errors, stderr);
	if (!d.cfg) {
		logmsg(LOG_ERR, "%s has %d error%s; not starting", d.cfgpath, errors,
		       errors == 1 ? "" : "s");
		return 1;
	}
	d.sum = summary_new(d.cfg);
	d.started = clock_wall();
	pipeline_init(&d.p, d.cfg, (uint64_t)d.started ^ ((uint64_t)getpid() << 32), on_ban, on_event, &d);
	/* Replies count only when they leave this host (or pass through it):
	 * a packet forged from outside cannot get a client banned. */
	d.p.require_outbound_replies = true;
	pipeline_set_wave_fn(&d.p, on_wave);
	if (setup(&d) == 0) {
		if (!d.cfg->observe)
			restore(&d);
		drop_privileges(&d);
		announce(&d);
		sd_notify_msg("READY=1");
		rc = loop(&d);
		sd_notify_msg("STOPPING=1");
		write_summary(&d);
		save_state(&d);
		ops_write_metrics_file(&d);
	} else {
		rc = 1;
	}
	ctl_close(d.ctl);
	nfqcap_close(d.nfq);
	livepcap_close(d.pcap);
	/* By default bans stay in the kernel and expire by themselves. */
	enforcer_close(d.enf, d.cfg->remove_on_exit);
	if (d.epfd >= 0)
		close(d.epfd);
	if (d.sigfd >= 0)
		close(d.sigfd);
	if (d.timerfd >= 0)
		close(d.timerfd);
	pipeline_free(&d.p);
	summary_free(d.sum);
	config_free(d.cfg);
	free(d.cfg);
	return rc;
}
