/* The enforcer: ban decisions into nftables sets, through libnftnl and
 * libmnl. Each ban is a set element with its own timeout; a rule in the
 * kernel drops the source's packets to the SMTP ports. Bans decided in one
 * loop iteration go out in one batch: one netlink round trip.
 *
 * Sets: one per address family and prefix length the rules use, named
 * banned4_<len> and banned6_<len> (banned4_32, banned6_64 by default). A
 * prefix ban is a masked lookup in a hash set, not an interval set.
 *
 * Managed mode also keeps two interval sets, allow4 and allow6, with the
 * allowlist and the host's own addresses, and accepts them before any
 * drop rule: no element of a banned set can drop them. */
#ifndef RCPTGUARD_ENFORCE_H
#define RCPTGUARD_ENFORCE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "nftnl_transport.h"
#include "nftrules.h"
#include "tracker.h"

struct enforce_stats {
	uint64_t batches;		/* netlink round trips for bans */
	uint64_t elements;		/* elements added */
	uint64_t element_errors;	/* elements the kernel refused */
	uint64_t retries;		/* batches resent element by element */
	uint64_t installs;		/* rulesets installed (start, repairs) */
	uint64_t set_full;		/* elements refused: set_size reached */
	uint64_t last_batch_us;		/* time of the last round trip */
};

struct enforcer;

/* How the queue rules reach NFQUEUE (enum queue_how, nftrules.h). */int enforcer_queue_how(const struct enforcer *e);

/* Managed mode: create or adopt the table, sets and drop rules in one
 * atomic batch. Self-managed: check that the sets exist. NULL with the
 * reason on failure. */
struct enforcer *enforcer_open(const struct config *cfg, char *err, size_t errlen);
/* The same over another transport (the tests' fake), which the enforcer
 * then owns; no monitor of ruleset changes. */
struct enforcer *enforcer_open_on(const struct config *cfg, struct nft_transport *tp, char *err,
				  size_t errlen);
/* Fill the allow sets again from the configuration (after a reload). */
int enforcer_sync_allow(struct enforcer *e);
size_t enforcer_pending(const struct enforcer *e);
/* Send every queued ban in one batch and read the kernel's answer. Returns
 * the number of elements refused (each logged). */
int enforcer_flush(struct enforcer *e);
/* Queue a ban: key, its timeout, and whether the element may be in the
 * set already. Nothing is sent until enforcer_flush. */
void enforcer_queue_key(struct enforcer *e, const struct prefix *key, usec_t timeout, bool reban);
/* Whether a set holds keys of this family and length. */
bool enforcer_has_set(const struct enforcer *e, const struct prefix *key);
/* Queue the removal of an element (unban). */
void enforcer_queue_del(struct enforcer *e, const struct prefix *key);

/* One element as the kernel holds it: what is left of its timeout, and
 * what its counter says the ban dropped. */
struct elem_info {
	struct prefix key;
	uint64_t timeout_ms, expires_ms;
	uint64_t packets, bytes;
};
/* The elements of our sets, sorted by key (struct elem_info starts with
 * its key), for lookups by key. */
struct elem_table {
	struct elem_info *v;
	size_t n, cap;
};
/* 0, or -1 with errno (the table then holds what was read). */
int enforcer_snapshot(struct enforcer *e, struct elem_table *t);
const struct elem_info *elem_table_find(const struct elem_table *t, const struct prefix *key);
void elem_table_free(struct elem_table *t);
const struct enforce_stats *enforcer_stats(const struct enforcer *e);
/* A descriptor that becomes readable on nftables changes (managed mode),
 * or -1. enforcer_check reads the events and returns true when our table
 * was deleted, e.g. by 'nft flush ruleset': the caller then calls
 * enforcer_reinstall and queues every active ban again. */
int enforcer_monitor_fd(const struct enforcer *e);
bool enforcer_check(struct enforcer *e);
/* A bulk batch (sent with the monitor deaf) found the sets gone after:
 * enforcer_check will say so; the caller's timer asks this. */
bool enforcer_lost(const struct enforcer *e);
int enforcer_reinstall(struct enforcer *e);
/* A reloaded configuration with the same ruleset settings (the caller
 * keeps those from the running one). */
void enforcer_set_config(struct enforcer *e, const struct config *cfg);
/* remove: delete the table (managed mode, on_exit = remove). */
void enforcer_close(struct enforcer *e, bool remove);

#endif
