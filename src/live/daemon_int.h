/* The daemon's state, shared by the event loop (daemon.c) and the
 * control socket's commands (ops.c). */
#ifndef RCPTGUARD_DAEMON_INT_H
#define RCPTGUARD_DAEMON_INT_H

#include <stdio.h>

#include "clock.h"
#include "config.h"
#include "ctl.h"
#include "enforce.h"
#include "livepcap.h"
#include "nfqcap.h"
#include "pipeline.h"
#include "summary.h"

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
	struct prefix to_cut[64];	/* bans whose sessions are cut after the flush */
	size_t ncut;
	struct { struct prefix key; usec_t time; } decided[64];	/* bans not yet flushed */
	size_t ndecided;
	bool state_dirty;		/* a ban since the state file was written */
	uint64_t state_writes, state_errors;
	struct ctl_server *ctl;		/* the control socket, or NULL */
	usec_t metrics_next;		/* next write of metrics_file */
	uint64_t manual_bans, manual_unbans;
	uint64_t metrics_errors;
};

/* SIGHUP and `rcptguard reload`: errors go to err as FILE:LINE lines.
 * 0 when the new file is in effect. */
int daemon_reload(struct daemon *d, FILE *err);
/* After a ban or unban outside the packet path: send it, cut sessions. */
void daemon_flush(struct daemon *d);

/* ops.c: one control request; the reply goes to out. 0: OK, else ERR. */
int ops_handle(struct daemon *d, char *request, FILE *out);
/* Prometheus text exposition of every counter and gauge. */
void ops_metrics(struct daemon *d, FILE *out);
/* metrics_file: written whole and renamed. */
void ops_write_metrics_file(struct daemon *d);

#endif
