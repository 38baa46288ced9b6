/* The live daemon: one event loop (run.c) around the pure pipeline.
 *
 *   run.c        setup, the event loop, the privilege drop, cmd_run
 *   daemon.c     the configuration as loaded, the one ban path, the flush
 *   reload.c     SIGHUP and `rcptguard reload`
 *   reconcile.c  bans of the state file and of the kernel at start, and
 *                after our table was flushed
 *   commands.c   what the control socket answers (it uses this API;
 *                nothing here calls it)
 *
 * Errors, on the whole live side: a function that can fail returns -1
 * (or NULL) and, when its caller needs words, writes the cause into an
 * err buffer; it does not log. The caller that decides what to do logs
 * one line (logmsg) with the cause and what it did about it. What runs
 * per packet never fails: it counts. */
#ifndef RCPTGUARD_DAEMON_H
#define RCPTGUARD_DAEMON_H

#include <stdio.h>

#include "clock.h"
#include "config.h"
#include "ctl.h"
#include "enforce.h"
#include "fleet.h"
#include "livepcap.h"
#include "nfqcap.h"
#include "pipeline.h"
#include "summary.h"
#include "worker.h"

/* A ban sent to the kernel in this loop iteration, waiting for the flush:
 * then its latency is logged and its sessions cut. */
struct pending_ban {
	struct prefix key;
	usec_t decided;		/* the deciding reply's capture time; 0: by hand */
	bool cut;		/* cut its sessions (kill_sessions) */
};

/* A wave judges up to 65,536 sources again at once: the queue holds them
 * all; past that, bans still go to the kernel, but their latency is not
 * logged nor their sessions cut (counted: pending_overflow). */
#define DAEMON_PENDING_MAX 65536

struct daemon {
	const char *cfgpath;
	const char *summary_path;
	struct config *cfg;
	struct pipeline p;
	struct summary *sum;
	struct nfqcap *nfq;
	struct livepcap *pcap;
	struct enforcer *enf;
	int epfd, sigfd, timerfd, capfd, monfd;
	uint64_t repairs;
	usec_t started;
	uint64_t reloads, reload_errors;
	uint64_t sessions_killed;
	struct pending_ban *pending;
	size_t npending, pending_cap;
	uint64_t pending_overflow;
	bool state_dirty;		/* a ban since the state file was written */
	int64_t calib_saved;		/* clock_mono_sec() of the last save for the TLS calibration */
	uint64_t state_writes, state_errors;
	struct ctl_server *ctl;		/* the control socket, or NULL */
	usec_t metrics_next;		/* next write of metrics_file */
	uint64_t manual_bans, manual_unbans, fleet_bans;
	struct fleet *fleet;		/* CrowdSec's LAPI, or NULL */
	uint64_t metrics_errors;
	/* workers > 1: the captures and pipelines are the workers'; p keeps
	 * the tracker and takes their events (worker.h). */
	bool threaded;
	struct workers ws;
	struct worker_snap wsum;	/* their counts, at the last daemon_view */
	uint64_t wpackets[64];		/* each worker's packets, for status */
	struct pipeline view;		/* p with the workers' counts */
	uint64_t pcap_drops_seen;
	uint64_t reload_stale;		/* reloads a worker took too long for */
};

int cmd_run(int argc, char **argv);

/* The pipeline whose counts status, metrics and the summary show: p
 * itself, or with workers p's tracker and the sum of their counts. */
const struct pipeline *daemon_view(struct daemon *d);

/* The configuration at path (NULL: the defaults), completed with what only
 * the running host knows: servers = local's addresses, kill_sessions =
 * auto resolved. NULL with *errors FILE:LINE lines written to err. */
struct config *daemon_load_config(const char *path, int *errors, FILE *err);

/* Where a ban comes from: a rule of the tracker (already recorded there),
 * the control socket, the fleet (CrowdSec's decisions). */
enum ban_origin { BAN_RULE, BAN_MANUAL, BAN_FLEET };

/* The one ban path. For BAN_MANUAL and BAN_FLEET the tracker is asked first and may
 * refuse (its enum track_result is returned: allowlisted, never banned,
 * full); then the ban is queued for this iteration's batch and its
 * sessions marked to be cut. tag goes with the tracker's record (the
 * fleet's decision id). TRACK_OK when taken. Nothing is sent to the
 * kernel before daemon_flush. */
int daemon_ban(struct daemon *d, const struct prefix *key, usec_t dur, bool reban,
	       enum ban_origin origin, usec_t decided, uint32_t tag);
/* Lift a ban: tracker and kernel. 1 if it was banned, 0 if not, -1 when
 * the kernel refused the deletion. */
int daemon_unban(struct daemon *d, const struct prefix *key);
/* Send what is queued, log each ban's latency, cut sessions. Returns the
 * number of elements the kernel refused. */
int daemon_flush(struct daemon *d);
/* The tracker's hook: a rule decided a ban. */
void daemon_on_ban(void *arg, const struct ban *b);

/* SIGHUP and `rcptguard reload`: errors go to err as FILE:LINE lines.
 * 0 when the new file is in effect; -1 and the old one kept otherwise. */
int daemon_reload(struct daemon *d, FILE *err);

/* At start: the state file's bans and the kernel's, made one. */
void daemon_restore(struct daemon *d);
/* Our table was deleted (nft flush ruleset): back, with every ban. */
void daemon_repair(struct daemon *d);
/* Its second half: the table installed again with every active ban. 0,
 * or -1 when the kernel refused it or an element (logged). */
int daemon_reinstall(struct daemon *d);
/* The state file, written whole when a ban changed it. */
void daemon_save_state(struct daemon *d);

#endif
