/* The live side's rows of the counter registry (counters.h): capture,
 * enforcer, daemon and control socket. */
#include "daemon_counters.h"

#include "daemon.h"

static const struct daemon *D(const struct counter_ctx *c)
{
	return c->live;
}

static bool has_nfq(const struct counter_ctx *c) { return D(c)->cfg->capture == CAPTURE_NFQUEUE; }
static bool has_pcap(const struct counter_ctx *c) { return D(c)->cfg->capture == CAPTURE_PCAP; }
static bool has_workers(const struct counter_ctx *c) { return D(c)->threaded; }
static bool has_enf(const struct counter_ctx *c) { return D(c)->enf != NULL; }
static bool has_ctl(const struct counter_ctx *c) { return D(c)->ctl != NULL; }

/* With workers, their sum as of daemon_view. */
static const void *b_nfq(const struct counter_ctx *c)
{
	return D(c)->nfq ? nfqcap_stats(D(c)->nfq) : &D(c)->wsum.nfq;
}
static const void *b_pcap(const struct counter_ctx *c)
{
	return D(c)->pcap ? livepcap_stats(D(c)->pcap) : &D(c)->wsum.pcap;
}
static const void *b_wsum(const struct counter_ctx *c) { return &D(c)->wsum; }
static const void *b_wpackets(const struct counter_ctx *c) { return D(c)->wpackets; }
static uint64_t g_workers(const struct counter_ctx *c) { return D(c)->ws.n; }
static size_t n_worker(const struct counter_ctx *c) { return D(c)->ws.n; }
static const char *k_worker(const struct counter_ctx *c, size_t i)
{
	static const char *const names[] = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11",
		"12", "13", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27",
		"28", "29", "30", "31", "32", "33", "34", "35", "36", "37", "38", "39", "40", "41", "42", "43",
		"44", "45", "46", "47", "48", "49", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59",
		"60", "61", "62", "63" };

	(void)c;
	return i < 64 ? names[i] : "?";
}
static const void *b_enf(const struct counter_ctx *c) { return enforcer_stats(D(c)->enf); }
static const void *b_ctl(const struct counter_ctx *c) { return ctl_stats(D(c)->ctl); }
static const void *b_daemon(const struct counter_ctx *c) { return D(c); }

static bool has_fleet(const struct counter_ctx *c) { return D(c)->fleet != NULL; }
static const void *b_fleet(const struct counter_ctx *c) { return fleet_stats(D(c)->fleet); }
static const char *s_fleet_url(const struct counter_ctx *c) { return D(c)->cfg->crowdsec_url; }

static const char *s_capture(const struct counter_ctx *c)
{
	return D(c)->cfg->capture == CAPTURE_NFQUEUE ? "nfqueue" : "pcap";
}
static const char *s_table(const struct counter_ctx *c) { return D(c)->cfg->table; }
static uint64_t g_up(const struct counter_ctx *c) { (void)c; return 1; }
static uint64_t g_started(const struct counter_ctx *c) { return (uint64_t)(D(c)->started / USEC_PER_SEC); }
static uint64_t g_ctl_ok(const struct counter_ctx *c)
{
	const struct ctl_stats *s = ctl_stats(D(c)->ctl);

	return s->requests - s->errors;
}

#define NQ(nm, field, metric, mlabel, help) \
	{ "capture", nm, CK_COUNTER, 0, metric, mlabel, help, .avail = has_nfq, .base = b_nfq, \
	  .offset = offsetof(struct nfqcap_stats, field) }
#define PC(nm, field, metric, mlabel, help) \
	{ "capture", nm, CK_COUNTER, 0, metric, mlabel, help, .avail = has_pcap, .base = b_pcap, \
	  .offset = offsetof(struct livepcap_stats, field) }
#define WK(nm, field, metric, help) \
	{ "workers", nm, CK_COUNTER, 0, metric, NULL, help, .avail = has_workers, .base = b_wsum, \
	  .offset = offsetof(struct worker_snap, field) }
#define EN(nm, kind, field, metric, help) \
	{ "nftables", nm, kind, 0, metric, NULL, help, .avail = has_enf, .base = b_enf, \
	  .offset = offsetof(struct enforce_stats, field) }
#define CS(nm, kind, field, help) \
	{ "crowdsec", nm, kind, 0, NULL, NULL, help, .avail = has_fleet, .base = b_fleet, \
	  .offset = offsetof(struct fleet_stats, field) }
#define DM(grp, nm, field, metric, mlabel, help) \
	{ grp, nm, CK_COUNTER, 0, metric, mlabel, help, .base = b_daemon, \
	  .offset = offsetof(struct daemon, field) }

const struct counter counters_live[] = {
	{ "daemon", "up", CK_GAUGE, 0, "up", NULL, "1 while the daemon runs.", .get = g_up },
	{ "daemon", "start_time_seconds", CK_GAUGE, 0, "start_time_seconds", NULL,
	  "When the daemon started, seconds since the epoch.", .get = g_started },
	DM("daemon", "reloads", reloads, "reloads_total", "result=\"ok\"", "Configuration reloads, by result."),
	DM("daemon", "reload_errors", reload_errors, "reloads_total", "result=\"error\"", NULL),
	DM("daemon", "reload_stale", reload_stale, NULL, NULL,
	   "Reloads a capture worker took over a second to take: the old configuration kept in memory."),
	DM("daemon", "state_writes", state_writes, NULL, NULL, "Writes of the state file."),
	DM("daemon", "state_errors", state_errors, NULL, NULL, "Failed writes of the state file in a row."),
	DM("daemon", "metrics_errors", metrics_errors, NULL, NULL, "Failed writes of metrics_file in a row."),
	DM("daemon", "manual_bans", manual_bans, NULL, NULL, "Bans from the control socket."),
	DM("daemon", "manual_unbans", manual_unbans, NULL, NULL, "Unbans from the control socket."),
	DM("daemon", "fleet_bans", fleet_bans, NULL, NULL, "Bans from the fleet's decisions (CrowdSec)."),
	{ "capture", "type", CK_TEXT, 0, NULL, NULL, "nfqueue or pcap", .avail = NULL, .gets = s_capture },
	NQ("packets", packets, "capture_packets_total", NULL, "Packets the capture delivered."),
	NQ("verdicts", verdicts, NULL, NULL, "NFQUEUE verdict messages sent (one accepts a batch)."),
	NQ("receive_overruns", enobufs, "capture_drops_total", "cause=\"nfqueue_overrun\"",
	   "Packets the capture lost or passed unseen, by cause."),
	NQ("verdict_errors", verdict_errors, NULL, NULL, "Verdict messages the kernel refused."),
	NQ("truncated", truncated, NULL, NULL, "Packets the kernel copied in part."),
	NQ("bad_messages", bad_messages, NULL, NULL, "Queue messages that could not be read."),
	NQ("opaque_marked", marked, "capture_bypassed_sessions_total", NULL,
	   "Sessions let past the queue once nothing more could be read in them (opaque_mark)."),
	PC("packets", packets, "capture_packets_total", NULL, "Packets the capture delivered."),
	PC("kernel_drops", kernel_drops, "capture_drops_total", "cause=\"pcap_kernel\"",
	   "Packets the capture lost or passed unseen, by cause."),
	PC("interface_drops", interface_drops, "capture_drops_total", "cause=\"pcap_interface\"", NULL),
	{ "workers", "count", CK_GAUGE, 0, "workers", NULL, "Capture workers (threads), one tracker.",
	  .avail = has_workers, .get = g_workers },
	{ "workers", "packets", CK_COUNTER, 0, "worker_packets_total", NULL, "Packets each worker parsed.",
	  .avail = has_workers, .base = b_wpackets, .offset = 0, .label = "worker", .n = n_worker,
	  .key = k_worker },
	WK("events", ring_events, "worker_events_total", "Events the workers sent to the tracker."),
	WK("ring_full", ring_full, "worker_ring_full_total",
	   "Events dropped because a worker's ring to the tracker was full."),
	WK("holds", holds, "worker_holds_total", "Reads whose verdict waited for the bans they decided."),
	WK("hold_timeouts", hold_timeouts, "worker_hold_timeouts_total",
	   "Held verdicts let go after verdict_hold, before the enforcer answered (fail-open)."),
	WK("unheld", unheld, "worker_unheld_total",
	   "Reads let go at once: a hold had timed out and the tracker had judged nothing since."),
	{ "nftables", "table", CK_TEXT, 0, NULL, NULL, "the inet table", .avail = has_enf, .gets = s_table },
	EN("elements", CK_COUNTER, elements, "nft_elements_total", "Set elements the kernel took."),
	EN("batches", CK_COUNTER, batches, "nft_batches_total", "Netlink batches of bans."),
	EN("refused", CK_COUNTER, element_errors, "netlink_errors_total", "Set elements the kernel refused."),
	EN("set_full", CK_COUNTER, set_full, "nft_set_full_total", "Bans refused because a set was full."),
	EN("retries", CK_COUNTER, retries, NULL, "Batches resent element by element."),
	EN("installs", CK_COUNTER, installs, NULL, "Rulesets installed (start, repairs)."),
	EN("last_round_trip_us", CK_GAUGE, last_batch_us, "nft_last_round_trip_microseconds",
	   "Duration of the last batch."),
	{ "nftables", "repairs", CK_COUNTER, 0, "nft_repairs_total", NULL,
	  "Times the table was re-installed after a flush.", .avail = has_enf, .base = b_daemon,
	  .offset = offsetof(struct daemon, repairs) },
	{ "nftables", "sessions_cut", CK_COUNTER, 0, "session_kills_total", NULL,
	  "TCP sessions of banned sources destroyed.", .avail = has_enf, .base = b_daemon,
	  .offset = offsetof(struct daemon, sessions_killed) },
	{ "nftables", "pending_overflow", CK_COUNTER, 0, NULL, NULL,
	  "Bans of one iteration past the pending queue: enforced, sessions not cut.", .avail = has_enf,
	  .base = b_daemon, .offset = offsetof(struct daemon, pending_overflow) },
	{ "crowdsec", "url", CK_TEXT, 0, NULL, NULL, "LAPI", .avail = has_fleet, .gets = s_fleet_url },
	CS("up", CK_BOOL, up, "1 while the last exchange with LAPI worked."),
	CS("queued", CK_GAUGE, queued, "Alerts waiting for LAPI."),
	CS("pushed", CK_COUNTER, pushed, "Alerts LAPI took."),
	CS("push_errors", CK_COUNTER, push_errors, "Pushes LAPI did not take (queued again)."),
	CS("invalid", CK_COUNTER, invalid, "Alerts LAPI refused as invalid: dropped, never retried."),
	CS("dropped", CK_COUNTER, dropped, "Alerts dropped: the queue was full."),
	CS("logins", CK_COUNTER, logins, "Logins to LAPI."),
	CS("login_errors", CK_COUNTER, login_errors, "Logins LAPI refused or missed."),
	CS("pulls", CK_COUNTER, pulls, "Reads of the decision stream."),
	CS("pull_errors", CK_COUNTER, pull_errors, "Reads of the decision stream that failed."),
	CS("decisions", CK_COUNTER, decisions, "Decisions read from the stream."),
	CS("applied", CK_COUNTER, applied, "Fleet decisions that became or lengthened a ban here."),
	CS("already", CK_COUNTER, already, "Fleet decisions banned here as long already."),
	CS("allowlisted", CK_COUNTER, allowlisted, "Fleet decisions the allowlist or never-ban refused."),
	CS("refused", CK_COUNTER, refused, "Fleet decisions that are no key this host bans."),
	CS("ignored", CK_COUNTER, ignored, "Fleet decisions already ended."),
	CS("lifted", CK_COUNTER, lifted, "Bans lifted because LAPI deleted their decision early."),
	CS("unbans_sent", CK_COUNTER, unbans_sent, "Manual unbans deleted in LAPI too."),
	CS("last_push", CK_GAUGE, last_push, "When LAPI last took alerts, seconds since the epoch."),
	CS("last_pull", CK_GAUGE, last_pull, "When the stream was last read, seconds since the epoch."),
	CS("push_latency_us", CK_GAUGE, push_latency_us,
	   "The last push: from the reply that decided its first ban to LAPI's answer, microseconds."),
	CS("pull_us", CK_GAUGE, pull_us,
	   "The last incremental read of the stream: from the request to its decisions applied, microseconds."),
	CS("full_pull_us", CK_GAUGE, full_pull_us,
	   "The last full read of the stream (at start, then every crowdsec_resync), microseconds."),
	{ "control", "ok", CK_COUNTER, 0, "control_requests_total", "result=\"ok\"",
	  "Control socket requests, by result.", .avail = has_ctl, .get = g_ctl_ok },
	{ "control", "errors", CK_COUNTER, 0, "control_requests_total", "result=\"error\"", NULL,
	  .avail = has_ctl, .base = b_ctl, .offset = offsetof(struct ctl_stats, errors) },
	{ "control", "dropped", CK_COUNTER, 0, NULL, NULL, "Control clients dropped: too slow or too many.",
	  .avail = has_ctl, .base = b_ctl, .offset = offsetof(struct ctl_stats, dropped) },
	{ NULL },
};

const struct counter *const counters_status[] = { counters_live, counters_pipeline, counters_now, NULL };
