/* Several MX hosts, one judgement: CrowdSec's Local API as the fleet's
 * memory. rcptguard is its own machine (each ban a rule decided here goes
 * up as an alert with its decision) and its own bouncer (the decision
 * stream comes down and goes into our own sets through the same ban path
 * as a local ban). Everything runs on the daemon's loop, never on the
 * packet path; when LAPI is down or slow, local banning does not wait. */
#ifndef RCPTGUARD_FLEET_H
#define RCPTGUARD_FLEET_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "tracker.h"

struct daemon;
struct fleet;

struct fleet_stats {
	uint64_t logins, login_errors;
	uint64_t pushed;		/* alerts LAPI took */
	uint64_t push_errors;		/* refused for now, queued again */
	uint64_t invalid;		/* refused as invalid (400, 500 validation): dropped */
	uint64_t dropped;		/* the queue was full */
	uint64_t pulls, pull_errors;
	uint64_t decisions;		/* read from the stream */
	uint64_t applied;		/* became (or lengthened) a ban here */
	uint64_t already;		/* banned here as long already: our own coming back */
	uint64_t allowlisted;		/* the allowlist or never-ban won */
	uint64_t refused;		/* not a key we can ban: scope, range length, syntax */
	uint64_t ignored;		/* not a ban, or already expired */
	uint64_t lifted;		/* deleted in LAPI before their end: lifted here */
	uint64_t unbans_sent;		/* rcptguard unban here, deleted in LAPI */
	uint64_t queued;		/* alerts waiting now */
	uint64_t up;			/* the last exchange with LAPI worked */
	uint64_t last_push, last_pull;	/* seconds since the epoch */
	uint64_t push_latency_us;	/* the last push: from the ban's reply to LAPI's 201 */
	uint64_t pull_us;		/* the last incremental read, request to applied */
	uint64_t full_pull_us;		/* the last full (startup) read */
};

/* From the configuration's crowdsec_* settings and the credentials file;
 * NULL with the cause when they do not allow a link. */
struct fleet *fleet_new(struct daemon *d, char *err, size_t errlen);
void fleet_free(struct fleet *f);
/* A ban a rule decided here: queued, sent with the iteration's others. */
void fleet_ban(struct fleet *f, const struct ban *b);
/* rcptguard unban: the fleet's decisions for key go too. */
void fleet_unban(struct fleet *f, const struct prefix *key);
/* The end of a loop iteration: one POST for what was queued. */
void fleet_flush(struct fleet *f);
/* Four times a second (its own timer, through fleet_event): polls,
 * retries, the token's renewal. */
void fleet_tick(struct fleet *f);
/* A descriptor of ours (the timer, the HTTP client's): handled, true. */
bool fleet_event(struct fleet *f, int fd, uint32_t events);
const struct fleet_stats *fleet_stats(const struct fleet *f);

#endif
