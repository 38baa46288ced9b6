/* rcptguard run: the live daemon. One epoll loop, single-threaded, over the
 * capture descriptor, a signalfd, a timerfd, the nftables monitor and the
 * control socket; every packet goes through the same pipeline as
 * `rcptguard replay`. */
#include "daemon.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <stddef.h>
#include <unistd.h>

#include "commands.h"
#include "daemon_counters.h"
#include "log.h"
#include "privs.h"
#include "sandbox.h"

/* The timer turns the wheels and expires flows when traffic is quiet. */
#define TICK_SEC 1

static void on_event(void *arg, const struct flow_event *e)
{
	struct daemon *d = arg;

	summary_event(d->sum, e);
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

/* SIGUSR1 and the end: the summary and the live counters into the log,
 * and the summary as JSON to --summary-json. */
static void write_summary(struct daemon *d)
{
	static const struct counter *const live[] = { counters_live, counters_now, NULL };
	struct counter_ctx cc = { .p = daemon_view(d), .live = d };
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);

	if (m) {
		char *line, *save = NULL;

		summary_text(d->sum, cc.p, m);
		counters_text(live, &cc, "  ", m);
		fclose(m);
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			logmsg(LOG_INFO, "%s", line);
		free(text);
	}
	if (d->summary_path) {
		char tmp[4096];
		FILE *f;

		/* Written whole, then renamed: readers never see half a file. */
		snprintf(tmp, sizeof(tmp), "%s.tmp", d->summary_path);
		f = fopen(tmp, "w");
		if (!f || (summary_json(d->sum, cc.p, f), fclose(f)) || rename(tmp, d->summary_path))
			logmsg(LOG_ERR, "cannot write %s: %s", d->summary_path, strerror(errno));
	}
}

static void flush_bans(void *arg)
{
	struct daemon *d = arg;

	(void)daemon_flush(d);	/* each refused element is logged */
	/* The iteration's bans, to the fleet in one POST. */
	fleet_flush(d->fleet);
}

static int ctl_handler_fn(void *arg, char *request, FILE *out)
{
	return commands_handle(arg, request, out);
}

/* fd into the loop's epoll set, for reading. 0, or -1 with errno. */
static int watch(struct daemon *d, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int setup(struct daemon *d)
{
	char err[512];
	struct itimerspec its = { { TICK_SEC, 0 }, { TICK_SEC, 0 } };
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		logmsg(LOG_ERR, "cannot set up signals: %s", strerror(errno));
		return -1;
	}
	d->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->sigfd < 0 || d->timerfd < 0 || d->epfd < 0 || timerfd_settime(d->timerfd, 0, &its, NULL) < 0) {
		logmsg(LOG_ERR, "cannot set up the event loop: %s", strerror(errno));
		return -1;
	}
	if (d->threaded) {
		if (workers_open(&d->ws, d->cfg, config_workers(d->cfg), err, sizeof(err)) < 0) {
			logmsg(LOG_ERR, "%s", err);
			return -1;
		}
		d->capfd = d->ws.notefd;
	} else if (d->cfg->capture == CAPTURE_NFQUEUE) {
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
	if (d->enf && (d->monfd = enforcer_monitor_fd(d->enf)) >= 0 && watch(d, d->monfd) < 0)
		/* Enforcing still works; only a flushed table goes unrepaired. */
		logmsg(LOG_WARNING, "cannot watch nftables changes: %s; a flushed ruleset will not be "
		       "repaired", strerror(errno));
	if (d->cfg->crowdsec_url[0] && !d->cfg->observe) {
		d->fleet = fleet_new(d, err, sizeof(err));
		/* Not fatal: this host still protects itself alone. */
		if (!d->fleet)
			logmsg(LOG_ERR, "%s; running without the fleet", err);
		else
			logmsg(LOG_NOTICE, "crowdsec: %s (push %s, pull %s)", d->cfg->crowdsec_url,
			       d->cfg->crowdsec_push ? "yes" : "no", d->cfg->crowdsec_pull ? "yes" : "no");
	}
	if (d->cfg->control_socket[0]) {
		d->ctl = ctl_open(d->cfg->control_socket, d->epfd, ctl_handler_fn, d, err, sizeof(err));
		/* Not fatal: the daemon protects mail without it. */
		if (!d->ctl)
			logmsg(LOG_ERR, "%s; running without a control socket", err);
	}
	if (watch(d, d->capfd) < 0 || watch(d, d->sigfd) < 0 || watch(d, d->timerfd) < 0) {
		logmsg(LOG_ERR, "cannot set up the event loop: %s", strerror(errno));
		return -1;
	}
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

/* Everything privileged is open now: the rest runs as cfg->user. A drop
 * that fails, wholly or in part, stops the daemon: only user = root keeps
 * root. -1 when the daemon must not go on. */
static int drop_privileges(struct daemon *d)
{
	char err[256];

	if (!strcmp(d->cfg->user, "root")) {
		logmsg(LOG_NOTICE, "user = root: keeping every privilege");
		return 0;
	}
	if (privs_drop(d->cfg->user, d->cfg->capture == CAPTURE_PCAP, err, sizeof(err)) < 0) {
		logmsg(LOG_ERR, "cannot run as user %s (%s): not starting; create the user "
		       "(adduser --system --group %s) or set user = root. Mail still flows: "
		       "the queue rules let packets pass while no rcptguard reads them",
		       d->cfg->user, err, d->cfg->user);
		return -1;
	}
	logmsg(LOG_NOTICE, "running as user %s with CAP_NET_ADMIN%s only (checked: IDs, capability sets, "
	       "no_new_privs, not dumpable)", d->cfg->user,
	       d->cfg->capture == CAPTURE_PCAP ? " and CAP_NET_RAW" : "");
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
	return 0;
}

/* Last of the setup: from here the loop's system calls only. A filter
 * that cannot be installed stops the daemon, as a failed drop does. */
static int enter_sandbox(struct daemon *d)
{
	char err[256];
	int n;

	if (!d->cfg->sandbox) {
		logmsg(LOG_NOTICE, "sandbox = no: every system call allowed");
		return 0;
	}
	n = sandbox_enter(err, sizeof(err));
	if (n < 0) {
		logmsg(LOG_ERR, "sandbox: %s: not starting (or set sandbox = no). Mail still flows: the queue "
		       "rules let packets pass while no rcptguard reads them", err);
		return -1;
	}
	logmsg(LOG_NOTICE, "sandbox: seccomp allows %d system calls, any other kills the process", n);
	return 0;
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
	if (d->threaded)
		logmsg(LOG_NOTICE, "capture: %u workers (%s), one tracker; ring %u events each, "
		       "verdicts held up to %llu ms for bans", d->ws.n,
		       d->cfg->capture == CAPTURE_NFQUEUE ? "one a queue" : "pcap fanout by flow hash",
		       d->cfg->worker_ring, (unsigned long long)(d->cfg->verdict_hold / 1000));
	if (d->cfg->capture == CAPTURE_NFQUEUE)
		logmsg(LOG_NOTICE, "running: capture nfqueue %u-%u, protecting %s, %zu rule%s",
		       d->cfg->queue_first, d->cfg->queue_last, servers, d->cfg->nrules,
		       d->cfg->nrules == 1 ? "" : "s");
	else
		logmsg(LOG_NOTICE, "running: capture pcap '%s', protecting %s, %zu rule%s",
		       d->pcap ? livepcap_filter(d->pcap) : d->cfg->interface, servers, d->cfg->nrules,
		       d->cfg->nrules == 1 ? "" : "s");
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

			if (fleet_event(d->fleet, fd, evs[i].events) || ctl_event(d->ctl, fd, evs[i].events)) {
				continue;
			} else if (fd == d->capfd && d->threaded) {
				/* The workers' events, their bans into the kernel,
				 * then the held verdicts go. */
				workers_judge(&d->ws, &d->p);
				flush_bans(d);
				workers_ack(&d->ws);
				if (d->p.calib_moved) {
					d->p.calib_moved = false;
					workers_publish_calib(&d->ws, &d->p.tls.cal);
				}
			} else if (fd == d->capfd) {
				if (d->nfq)
					nfqcap_read(d->nfq, &d->p);
				else
					livepcap_read(d->pcap, &d->p);
				flush_bans(d);
			} else if (fd == d->monfd) {
				daemon_repair(d);
			} else if (fd == d->timerfd) {
				uint64_t ticks;

				if (read(d->timerfd, &ticks, sizeof(ticks)) < 0)
					continue;
				pipeline_tick(&d->p, clock_wall());
				flush_bans(d);
				if (d->threaded)
					workers_ack(&d->ws);
				if (d->enf && enforcer_lost(d->enf))
					daemon_repair(d);
				/* At most once a second, however many bans; a moved
				 * calibration (TLS) at most once a minute. */
				if (d->p.tls.cal.changed && clock_mono_sec() >= d->calib_saved + 60) {
					d->state_dirty = true;
					d->p.tls.cal.changed = 0;
					d->calib_saved = clock_mono_sec();
				}
				if (d->state_dirty)
					daemon_save_state(d);
				ctl_tick(d->ctl);
				if (d->cfg->metrics_file[0] && clock_wall() >= d->metrics_next) {
					commands_write_metrics_file(d);
					d->metrics_next = clock_wall() + d->cfg->metrics_interval;
				}
				if (d->pcap || (d->threaded && d->cfg->capture == CAPTURE_PCAP)) {
					uint64_t drops;

					if (d->pcap) {
						drops = livepcap_poll_drops(d->pcap);
					} else {
						daemon_view(d);
						drops = d->wsum.pcap.kernel_drops + d->wsum.pcap.interface_drops -
							d->pcap_drops_seen;
						d->pcap_drops_seen += drops;
					}

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
	d.cfg = daemon_load_config(d.cfgpath, &errors, stderr);
	if (!d.cfg) {
		logmsg(LOG_ERR, "%s has %d error%s; not starting", d.cfgpath, errors,
		       errors == 1 ? "" : "s");
		return 1;
	}
	d.sum = summary_new(d.cfg);
	d.started = clock_wall();
	d.threaded = config_workers(d.cfg) > 1;
	pipeline_init(&d.p, d.cfg, (uint64_t)d.started ^ ((uint64_t)getpid() << 32), daemon_on_ban, on_event, &d);
	/* Replies count only when they leave this host (or pass through it):
	 * a packet forged from outside cannot get a client banned. */
	d.p.require_outbound_replies = true;
	pipeline_set_wave_fn(&d.p, on_wave);
	rc = setup(&d) == 0 ? 0 : 1;
	if (!rc && !d.cfg->observe)
		daemon_restore(&d);
	if (!rc && d.threaded) {
		/* After the restore: each starts from the saved calibration. */
		workers_prepare(&d.ws, d.cfg, &d.p.tls.cal, (uint64_t)d.started ^ 0x5bd1e995u, true);
	}
	if (!rc && drop_privileges(&d) < 0)
		rc = 1;
	if (!rc && enter_sandbox(&d) < 0)
		rc = 1;
	if (!rc && d.threaded) {
		char err[256];

		/* After the drop and the filter: the threads inherit both. */
		if (workers_start(&d.ws, err, sizeof(err)) < 0) {
			logmsg(LOG_ERR, "%s: not starting", err);
			rc = 1;
		}
	}
	if (!rc) {
		announce(&d);
		sd_notify_msg("READY=1");
		rc = loop(&d);
		sd_notify_msg("STOPPING=1");
		if (d.threaded) {
			/* What the workers saw last is judged too. */
			workers_stop(&d.ws);
			workers_judge(&d.ws, &d.p);
			flush_bans(&d);
		}
		write_summary(&d);
		daemon_save_state(&d);
		commands_write_metrics_file(&d);
	}
	fleet_free(d.fleet);
	ctl_close(d.ctl);
	if (d.threaded)
		workers_close(&d.ws);
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
	free(d.pending);
	pipeline_free(&d.p);
	summary_free(d.sum);
	config_free(d.cfg);
	free(d.cfg);
	return rc;
}
