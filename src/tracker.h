/* Per-source counting of classified events in sliding windows, and the
 * ban decisions that follow. Pure: time comes with each call.
 *
 * Each rule has a time-wheel of hit lists. An event that a rule counts
 * becomes a hit in the slot of its time and on its source's list; when the
 * wheel turns past a slot, the hits in it leave their sources' counts. So
 * an event costs O(1), expiry costs O(1) per hit, and nothing ever walks the
 * table of sources. */
#ifndef RCPTGUARD_TRACKER_H
#define RCPTGUARD_TRACKER_H

#include <stdint.h>
#include "addr.h"
#include "config.h"
#include "smtp.h"

#define BAN_EVIDENCE 4

/* A ban decision: a plain value any enforcer can take. */
struct ban {
	usec_t time;
	struct prefix key;
	int rule;
	const char *rule_name;
	uint32_t count;
	usec_t duration;
	uint32_t nth;		/* 1 for a first ban, 2 for the next, ... */
	uint32_t nevidence;
	char evidence[BAN_EVIDENCE][SMTP_RCPT_MAX];
};

typedef void (*ban_fn)(void *arg, const struct ban *b);

struct tracker_stats {
	uint64_t hits;
	uint64_t duplicates;	/* distinct counting: same recipient again */
	uint64_t trap_hits;
	uint64_t allowlisted;
	uint64_t never_ban;	/* loopback, link-local, ... */
	uint64_t while_banned;
	uint64_t evictions;
	uint64_t table_full;	/* every slot held by a banned source */
	uint64_t bans;
	uint64_t bans_by_rule[MAX_RULES];
	uint64_t unbans;
	uint64_t unbans_by_rule[MAX_RULES];
	uint64_t bans_manual, unbans_manual;
	uint64_t sources_peak;
};

struct tracker;

struct tracker *tracker_new(const struct config *cfg, ban_fn fn, void *arg);
void tracker_free(struct tracker *t);
/* Same rules, new everything else (allowlist, traps): counts are kept. */
void tracker_set_config(struct tracker *t, const struct config *cfg);

/* One classified event from client address a. */
void tracker_event(struct tracker *t, usec_t now, const struct ipaddr *a, int cls,
		   const struct smtp_event *ev);
/* Turn the wheels and lift expired bans; called as time passes. */
void tracker_advance(struct tracker *t, usec_t now);

const struct tracker_stats *tracker_stats(const struct tracker *t);
uint32_t tracker_sources(const struct tracker *t);
uint32_t tracker_active_bans(const struct tracker *t);
/* Bytes the tracker has allocated, and bytes per source it costs. */
uint64_t tracker_memory(const struct tracker *t);
size_t tracker_bytes_per_source(const struct tracker *t);

/* What the tracker knows of a banned source: for the state file, the
 * control socket and start-up reconciliation. */
struct ban_record {
	struct prefix key;
	int rule;		/* index into cfg->rules, or -1: manual or adopted */
	uint32_t count;		/* events that triggered the ban */
	uint32_t nth;		/* times banned, this one included */
	usec_t since, until;	/* until == 0: banned before, free now */
};

enum track_result { TRACK_OK, TRACK_ALLOWLISTED, TRACK_NEVER_BAN, TRACK_FULL };

/* Every active ban (soonest to end first is not promised); with
 * active_only false, also every source banned before and free now. */
void tracker_foreach_ban(const struct tracker *t, bool active_only,
			 void (*fn)(void *arg, const struct ban_record *r), void *arg);
bool tracker_lookup(const struct tracker *t, const struct prefix *key, struct ban_record *r);
/* TRACK_OK, or why this address must never be banned. */
int tracker_may_ban(const struct tracker *t, const struct ipaddr *a);
/* Put back what a state file or the kernel says: a ban (until > now) or
 * only the count of earlier bans. Never bans what tracker_may_ban refuses.
 * No ban callback: the caller enforces. Returns enum track_result. */
int tracker_restore(struct tracker *t, usec_t now, const struct ban_record *r);
/* A manual ban (rule -1) and unban; no callback either. */
int tracker_ban(struct tracker *t, usec_t now, const struct prefix *key, usec_t duration);
bool tracker_unban(struct tracker *t, const struct prefix *key);
const char *tracker_rule_name(const struct tracker *t, int rule);
/* Every source with hits in its windows now: counts[r] per rule r. */
void tracker_foreach_source(const struct tracker *t,
			    void (*fn)(void *arg, const struct prefix *key, const uint32_t *counts),
			    void *arg);

/* Map a paired reply to its class, or -1 for "nothing to count". */
int classify(const struct smtp_event *ev);

#endif
