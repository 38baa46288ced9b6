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
/* Valid recipients named in a ban (the count is always exact). */
#define BAN_LEAKED 8

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
	/* What the rule saw in its window when it decided. */
	uint32_t rejected;	/* the rule's class: distinct recipients or replies */
	uint32_t accepted;	/* distinct recipients accepted (RCPT rules only) */
	uint32_t messages;	/* messages accepted */
	uint32_t sessions;
	uint32_t share;		/* rejected per cent of rejected + accepted */
	bool wave;		/* decided by the rule's wave_threshold */
	bool wave_on;		/* a wave was on when it was decided */
	bool trap;		/* a trap recipient */
	/* The rule's prefix covered an address that must never be banned:
	 * the ban is narrowed to the one address that made it. */
	bool narrowed;
	struct prefix wide;
	/* Leaked: the accepted recipients are now known to the harvester.
	 * nleaked is exact; the first nlisted of them are named. */
	uint32_t nleaked, nlisted;
	char leaked[BAN_LEAKED][SMTP_RCPT_MAX];
};

/* The site-wide rate of rejected recipients against its own baseline. */
struct wave_info {
	bool on;
	usec_t since;		/* when the wave started (or the last ended) */
	uint32_t rate;		/* rejected recipients in the last WAVE_SPAN */
	uint32_t peak;		/* highest rate of this (or the last) wave */
	double baseline;	/* the same, as a moving average outside waves */
	uint32_t bans;		/* bans decided by a wave_threshold in it */
	uint64_t waves;		/* waves seen */
};

/* The rate is counted over this span, in one-minute buckets. */
#define WAVE_SPAN_MIN 5

typedef void (*wave_fn)(void *arg, usec_t now, const struct wave_info *w);

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
	uint64_t bans_fleet, unbans_fleet;
	uint64_t sources_peak;
	uint64_t share_spared;	/* threshold reached, share of rejections too low */
	uint64_t narrowed;	/* prefix bans narrowed to one address */
	uint64_t refused;	/* prefix bans refused: no address to narrow to */
	uint64_t leaked;	/* valid recipients named in harvest bans */
	uint64_t wave_bans;
};

struct tracker;

struct tracker *tracker_new(const struct config *cfg, ban_fn fn, void *arg);
void tracker_free(struct tracker *t);
/* Same rules, new everything else (allowlist, traps): counts are kept. */
void tracker_set_config(struct tracker *t, const struct config *cfg);
/* Told when a wave starts and ends. */
void tracker_set_wave_fn(struct tracker *t, wave_fn fn, void *arg);
const struct wave_info *tracker_wave(const struct tracker *t);
/* The rate at which a wave starts now: wave_min or wave_factor times the
 * baseline, whichever is higher. */
double tracker_wave_level(const struct tracker *t);
/* A new tracker (rules changed) carries on with the old one's rate. */
void tracker_copy_wave(struct tracker *to, const struct tracker *from);

/* Events between begin and end are judged together at the end: the
 * events of one packet, so that a reply batch that opens with several
 * rejections and goes on with acceptances is judged on all of it. Outside
 * a batch each event is judged at once. */
void tracker_batch_begin(struct tracker *t);
void tracker_batch_end(struct tracker *t);

/* One classified event from client address a. */
void tracker_event(struct tracker *t, usec_t now, const struct ipaddr *a, int cls,
		   const struct smtp_event *ev);
/* The same, with hint: where the caller (a flow) saw a's source last,
 * UINT32_MAX at first. It is tried before the hash table, only after its
 * key is checked, and updated after; a stale one (the source evicted,
 * its place given to another) costs the lookup, never a wrong count. */
void tracker_event_hint(struct tracker *t, usec_t now, const struct ipaddr *a, int cls,
			const struct smtp_event *ev, uint32_t *hint);
/* Turn the wheels and lift expired bans; called as time passes. */
void tracker_advance(struct tracker *t, usec_t now);

const struct tracker_stats *tracker_stats(const struct tracker *t);
uint32_t tracker_sources(const struct tracker *t);
uint32_t tracker_active_bans(const struct tracker *t);
/* Bytes the tracker has allocated, and bytes per source it costs. */
uint64_t tracker_memory(const struct tracker *t);
size_t tracker_bytes_per_source(const struct tracker *t);
/* And per event held in a window (a hit). */
size_t tracker_bytes_per_hit(void);

/* What the tracker knows of a banned source: for the state file, the
 * control socket and start-up reconciliation. */
/* The rule of a ban not decided by a rule here. */
#define RULE_MANUAL	(-1)	/* the control socket, or adopted from the kernel */
#define RULE_FLEET	(-2)	/* another host's, learnt from CrowdSec */

struct ban_record {
	struct prefix key;
	int rule;		/* index into cfg->rules, RULE_MANUAL or RULE_FLEET */
	uint32_t count;		/* events that triggered the ban */
	uint32_t nth;		/* times banned, this one included */
	usec_t since, until;	/* until == 0: banned before, free now */
	uint32_t nleaked;	/* accepted recipients when banned */
	uint32_t nlisted;	/* how many of them leaked[] names */
	const char (*leaked)[SMTP_RCPT_MAX];
	uint32_t tag;		/* the caller's (the fleet: its decision id) */
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
/* A ban of rule RULE_MANUAL or RULE_FLEET, with the caller's tag; and
 * unban. No callback either. */
int tracker_ban(struct tracker *t, usec_t now, const struct prefix *key, usec_t duration, int rule,
		uint32_t tag);
/* Tag key's active ban; false if it has none. */
bool tracker_set_tag(struct tracker *t, const struct prefix *key, uint32_t tag);
bool tracker_unban(struct tracker *t, const struct prefix *key);
const char *tracker_rule_name(const struct tracker *t, int rule);
/* The inverse, for cfg's rules: a name no rule has is RULE_MANUAL. */
int tracker_rule_index(const struct config *cfg, const char *name);
/* Every source with hits in its windows now: counts[r] per rule r. */
void tracker_foreach_source(const struct tracker *t,
			    void (*fn)(void *arg, const struct prefix *key, const uint32_t *counts),
			    void *arg);


#endif
