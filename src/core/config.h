/* The configuration file: every tunable, its default, and why. */
#ifndef RCPTGUARD_CONFIG_H
#define RCPTGUARD_CONFIG_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

#include "addr.h"
#include "classify.h"
#include "util.h"

#define DEFAULT_CONFIG_PATH "/etc/rcptguard/rcptguard.conf"

/* Defaults. The man page lists the same values; tests/defaults.sh checks
 * that the two agree. */
#define DEF_SMTP_PORTS		"25"
/* An MX sees a few thousand concurrent sessions at most; 64k flows cost
 * about 20 MB and leave room for a flood before eviction starts. */
#define DEF_MAX_FLOWS		65536
/* Tracked sources (addresses or prefixes with recent events). */
#define DEF_MAX_SOURCES		1000000
/* Elements a set may hold: room for a large botnet. The kernel reserves
 * nothing for it up front (measured: no vmalloc or slab growth when the
 * sets are made). */
/* Longest window or ban: a year (and far from overflowing a time). */
#define MAX_DURATION		(USEC_PER_SEC * 365 * 86400)
#define DEF_SET_SIZE		262144
#define DEF_STATE_FILE		"/var/lib/rcptguard/state"
#define DEF_CONTROL_SOCKET	"/run/rcptguard/control"
#define DEF_METRICS_INTERVAL	(15 * USEC_PER_SEC)
#define DEF_USER		"rcptguard"
/* Postfix accepts 1000 recipients a message; a pipelined harvest can
 * send them in one burst before the first reply. */
#define DEF_MAX_PIPELINE	1024
/* RFC 5321 allows 512 for a command line and extensions push it; Postfix
 * reads up to 2048. Longer lines stop pairing for the session. */
#define DEF_MAX_LINE		4096
/* Out-of-order bytes held per direction and in all flows. */
#define DEF_REASM_FLOW		(256u << 10)
#define DEF_REASM_TOTAL		(64ull << 20)
#define DEF_TIMEOUT_EMBRYONIC	(30 * USEC_PER_SEC)
/* Postfix's smtpd_timeout is 300 s; twice that before giving up on a
 * quiet session. */
#define DEF_TIMEOUT_ESTABLISHED	(600 * USEC_PER_SEC)
#define DEF_TIMEOUT_CLOSING	(30 * USEC_PER_SEC)
/* Live capture. A netlink receive buffer of 8 MB holds about 5,000
 * full-size segments: a burst the daemon can fall behind by without loss. */
#define DEF_QUEUE_MAXLEN	8192
#define DEF_QUEUE_RCVBUF	(8u << 20)
/* The pcap ring: in immediate mode each of its blocks (512 KB for a
 * 256 KB snaplen) may hold a single packet, so 16 MB was 32 packets at
 * worst, and a burst of bans stalling the loop a few milliseconds lost
 * packets (bench-peers, 20 sources: 14-26 probes past the threshold;
 * none with 64 MB). */
#define DEF_PCAP_BUFFER		(64u << 20)
#define DEF_PREFIX4		32
#define DEF_PREFIX6		64
/* Waves: the site-wide rate of rejected recipients over 5 minutes, against
 * its moving average. A quiet MX sees a few a minute; a distributed
 * harvest hundreds. */
#define DEF_WAVE_MIN		30
#define DEF_WAVE_FACTOR		4
#define DEF_WAVE_BASELINE	(86400 * USEC_PER_SEC)

#define MAX_RULES	16
#define MAX_PORTS	16
#define RULE_NAME_MAX	32


struct rule {
	char name[RULE_NAME_MAX];
	int cls;
	uint32_t threshold;
	usec_t window;
	usec_t ban;
	uint32_t factor;	/* repeat offenders: ban *= factor each time */
	usec_t max_ban;
	bool distinct;		/* count distinct recipients, not replies */
	uint8_t prefix4, prefix6;
	/* Ban only when the rejections are at least this per cent of the
	 * distinct recipients (rejected + accepted); 0: counts alone. */
	uint8_t share;
	/* During a wave, a source with no accepted recipient in the window
	 * is banned at this count; 0: waves change nothing. */
	uint32_t wave_threshold;
	int line;		/* where it was defined, 0 for a default */
};

/* Rules on recipient classes also keep accepted recipients, messages and
 * sessions as evidence. */
bool rule_has_evidence(const struct rule *r);

enum capture_mode { CAPTURE_NFQUEUE, CAPTURE_PCAP };
enum drop_mode { DROP_ALL, DROP_NEW };
enum servers_mode { SERVERS_LOCAL, SERVERS_ANY, SERVERS_LIST };

struct config {
	char *path;
	uint16_t ports[MAX_PORTS];
	size_t nports;
	int capture;		/* enum capture_mode */
	uint16_t queue_first, queue_last;
	uint32_t queue_maxlen;
	uint64_t queue_rcvbuf;
	char interface[64];
	uint64_t pcap_buffer;
	bool observe;		/* mode = observe: log "would ban", touch nothing */
	bool manage_ruleset;
	char table[32];		/* inet table of our own (managed mode) */
	int drop;		/* enum drop_mode */
	bool gateway;		/* also drop on the forward hook */
	bool remove_on_exit;
	bool manage_queue;	/* add the NFQUEUE rules to our table */
	uint32_t set_size;	/* element limit of each set */
	char state_file[256];	/* bans and escalation history; "" = none */
	char control_socket[108];	/* "" = none */
	char metrics_file[256];	/* Prometheus textfile; "" = none */
	usec_t metrics_interval;
	char user[64];		/* drop to this user after start; "root" = stay */
	int kill_sessions;	/* -1 auto (yes when servers = local), 0, 1 */
	int servers_mode;	/* enum servers_mode */
	bool servers_any;	/* in effect: follow every server */
	struct prefixlist servers;
	struct prefixlist allowlist;
	char **traps;		/* lower-cased */
	uint32_t *trap_hash;
	size_t ntraps;
	uint32_t max_flows;
	uint32_t max_sources;
	uint32_t max_pipeline;
	uint32_t max_line;
	uint64_t reasm_flow;
	uint64_t reasm_total;
	usec_t timeout_embryonic;
	usec_t timeout_established;
	usec_t timeout_closing;
	bool follow_midstream;
	bool count_unverified;
	uint8_t prefix4, prefix6;
	uint32_t wave_min;	/* rejections in 5 minutes; 0: no waves */
	uint32_t wave_factor;	/* times the baseline */
	usec_t wave_baseline;	/* time constant of the moving average */
	struct rule rules[MAX_RULES];
	size_t nrules;
};

void config_defaults(struct config *c);
/* Parse a file over the defaults. On error, writes "FILE:LINE: message"
 * lines to err and returns the number of errors; *c is then undefined and
 * must be freed. */
int config_load(struct config *c, const char *path, FILE *err);
int config_load_string(struct config *c, const char *text, const char *name, FILE *err);
void config_print(const struct config *c, FILE *out);
void config_free(struct config *c);

/* Warnings about a valid configuration (overlapping allowlist entries),
 * as FILE:LINE lines; returns how many. */
int config_lint(const struct config *c, FILE *out);
bool config_is_smtp_port(const struct config *c, uint16_t port);
bool config_is_trap(const struct config *c, const char *rcpt, size_t len, uint32_t hash);

#endif
