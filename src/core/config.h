/* The configuration file: every setting, its range, its default and why,
 * as one row of the table config_settings (config.c). */
#ifndef RCPTGUARD_CONFIG_H
#define RCPTGUARD_CONFIG_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

#include "addr.h"
#include "classify.h"
#include "util.h"

#define DEFAULT_CONFIG_PATH "/etc/rcptguard/rcptguard.conf"

/* Longest window or ban: a year (and far from overflowing a time). */
#define MAX_DURATION		(USEC_PER_SEC * 365 * 86400)

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
enum kill_mode { KILL_NO, KILL_YES, KILL_AUTO };
enum crowdsec_enforce { CROWDSEC_ENFORCE_OWN, CROWDSEC_ENFORCE_ALL };
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
	uint32_t workers;	/* capture workers; 0 = auto (one per queue, pcap: 1) */
	uint32_t worker_ring;	/* events a worker's ring to the tracker holds */
	usec_t verdict_hold;	/* longest a worker holds a verdict for the enforcer */
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
	bool sandbox;		/* seccomp allow-list once set up (sandbox.h) */
	bool queue_acks;	/* manage_queue: bare ACKs through the queue too */
	uint32_t opaque_mark;	/* connection mark of sessions left unread; 0 = none */
	int kill_sessions;	/* enum kill_mode; auto is resolved by the daemon */
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
	bool tls_infer;
	uint8_t prefix4, prefix6;
	uint32_t wave_min;	/* rejections in 5 minutes; 0: no waves */
	uint32_t wave_factor;	/* times the baseline */
	usec_t wave_baseline;	/* time constant of the moving average */
	/* The fleet: CrowdSec's Local API. */
	char crowdsec_url[256];		/* "" = no fleet */
	char crowdsec_credentials[256];
	char crowdsec_ca_file[256], crowdsec_cert_file[256], crowdsec_key_file[256];
	bool crowdsec_push, crowdsec_pull;
	int crowdsec_enforce;		/* enum crowdsec_enforce */
	usec_t crowdsec_poll, crowdsec_resync;
	struct rule rules[MAX_RULES];
	size_t nrules;
};

/* One row of the table of settings. */
enum setting_scope { SCOPE_GLOBAL, SCOPE_RULE };
enum setting_type {
	ST_BOOL,	/* yes or no (true/on/1, false/off/0) */
	ST_UINT,	/* a whole number in [lo, hi], 1 to 8 bytes */
	ST_PERCENT,	/* the same, written with an optional % */
	ST_SIZE,	/* 64k, 16m, 1g, in [lo, hi] */
	ST_DURATION,	/* 250ms, 30s, 10m, 1h, 7d, in [lo, hi] */
	ST_WORD,	/* one of words[], stored as its index (a bool or an int) */
	ST_NAME,	/* letters, digits and chars (any but space when NULL) */
	ST_PATH,	/* an absolute path, or none */
	ST_CUSTOM,	/* parse and print of its own */
};
#define SF_RESTART	1	/* takes effect at the next start: reload keeps the running value */
#define SF_RECOUNT	2	/* a change makes the tracker count afresh */
#define SF_EXAMPLE	4	/* packaging/rcptguard.conf shows an example, not the default */
#define SF_NOPRINT	8	/* not printed by check-config (it folds into another) */

struct parser;
struct setting {
	const char *name;
	uint8_t scope;		/* enum setting_scope: struct config or struct rule */
	size_t offset, size;	/* the field */
	uint8_t type;		/* enum setting_type */
	uint16_t flags;
	uint64_t lo, hi;
	const char *const *words;	/* ST_WORD */
	const char *what;	/* ST_WORD: what a value is, for errors */
	const char *chars;	/* ST_NAME */
	const char *def;	/* the default, as a file writes it; NULL: none */
	int (*parse)(struct parser *ps, const struct setting *st, void *field, char *v);
	void (*print)(FILE *out, const struct config *c, const void *field);
	bool (*empty)(const struct config *c, const void *field);	/* not printed then */
	bool (*same)(const struct config *a, const struct config *b);	/* SF_RESTART */
	void (*copy)(struct config *to, const struct config *from);	/* SF_RESTART */
	const char *help;
};
/* Every setting; the last row has a NULL name. */
extern const struct setting config_settings[];

void config_defaults(struct config *c);
/* The capture workers the configuration asks for: workers, or with auto
 * one per queue of the range (nfqueue) and one for pcap. 1 is the
 * single-threaded loop. */
uint32_t config_workers(const struct config *c);
/* Parse a file over the defaults. On error, writes "FILE:LINE: message"
 * lines to err and returns the number of errors; *c is then undefined and
 * must be freed. */
int config_load(struct config *c, const char *path, FILE *err);
int config_load_string(struct config *c, const char *text, const char *name, FILE *err);
void config_print(const struct config *c, FILE *out);
/* The table itself, one row a line: scope, name, default, flags, help
 * (check-config --settings; tests/defaults.sh reads it). */
void config_print_settings(FILE *out);
/* Reload: every restart-only setting of next is set back to the running
 * one's. Returns how many differed, their names in changed. */
size_t config_keep_restart(struct config *next, const struct config *running, char *changed,
			   size_t len);
/* Whether the rules differ in what the tracker's counts depend on. */
bool config_rules_differ(const struct config *a, const struct config *b);
void config_free(struct config *c);

/* Warnings about a valid configuration (overlapping allowlist entries),
 * as FILE:LINE lines; returns how many. */
int config_lint(const struct config *c, FILE *out);
bool config_is_smtp_port(const struct config *c, uint16_t port);
bool config_is_trap(const struct config *c, const char *rcpt, size_t len, uint32_t hash);

#endif
