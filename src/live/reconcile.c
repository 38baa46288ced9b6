/* Bans across restarts and flushes. At start, the state file gives bans
 * and history, the kernel's sets what is enforced now; both go into the
 * tracker, and the kernel is brought in line in one batch. After our
 * table was deleted, every active ban goes back into a new one. */
#include "daemon.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "state.h"

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
void daemon_restore(struct daemon *d)
{
	struct state_counts sc = { 0 };
	struct elem_table k = { 0 };
	struct syncctx x = { .d = d, .k = &k };
	size_t adopted = 0, removed = 0;
	usec_t now = clock_wall();

	x.now = now;
	if (d->cfg->state_file[0] &&
	    state_load(d->cfg->state_file, d->p.tracker, &d->p.tls.cal, d->cfg, now, &sc, stderr) < 0)
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
void daemon_repair(struct daemon *d)
{
	if (enforcer_check(d->enf))
		daemon_reinstall(d);
}

int daemon_reinstall(struct daemon *d)
{
	struct elem_table none = { 0 };
	struct syncctx x = { .d = d, .k = &none, .now = clock_wall() };

	if (enforcer_reinstall(d->enf) < 0)
		return -1;
	/* The table is new and empty: every active ban goes back in. */
	tracker_foreach_ban(d->p.tracker, true, sync_ban, &x);
	d->repairs++;
	logmsg(LOG_WARNING, "table inet %s was deleted (nft flush ruleset?); re-installed with %zu ban%s",
	       d->cfg->table, enforcer_pending(d->enf), enforcer_pending(d->enf) == 1 ? "" : "s");
	return enforcer_flush(d->enf) ? -1 : 0;
}
