/* A capture worker's events on their way to the one tracker: a bounded
 * ring with one producer (the worker) and one consumer (the daemon's
 * loop), lock-free. The worker writes a packet's events, then publishes
 * them together, so that the tracker judges them as one batch, as the
 * single-threaded pipeline does. A full ring never blocks the worker:
 * the event is dropped and counted (fail-open: a harvester may get a few
 * probes more; legitimate mail is never held up). */
#ifndef RCPTGUARD_EVRING_H
#define RCPTGUARD_EVRING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "smtp.h"
#include "util.h"

#define EVR_END 1	/* the last event of a batch (a packet's) */
#define EVR_TRACK 2	/* for the tracker too (verified, or count_unverified) */
#define EVR_CALIB 4	/* not an event: a cleartext reply of srv, for the TLS calibration */
#define EVR_DELAY 8	/* with EVR_CALIB: and it came delay after the client's bytes */

struct evrec {
	usec_t time;
	struct ipaddr cli;
	struct ipaddr srv;	/* EVR_CALIB */
	uint64_t delay;		/* EVR_DELAY */
	uint32_t errors;	/* EVR_DELAY: errors made before it */
	int8_t cls;		/* enum ev_class, or -1 */
	uint8_t flags;
	struct smtp_event ev;	/* .rcpt points into rcpt when read */
	char rcpt[SMTP_RCPT_MAX];
};

struct evring {
	/* Each index on a line of its own: the worker writes tail, the loop
	 * head, and neither may make the other's line bounce. */
	_Alignas(64) _Atomic uint64_t tail;	/* published by the worker */
	_Alignas(64) _Atomic uint64_t head;	/* taken by the loop */
	_Alignas(64) uint64_t wtail;		/* the worker's, written, not yet published */
	uint64_t head_seen;			/* the worker's last look at head */
	uint64_t batch;				/* wtail when the open batch began */
	uint64_t track_tail;			/* just past the last EVR_TRACK written */
	uint64_t full;				/* events dropped: the ring was full */
	uint64_t events;			/* events published */
	uint32_t mask;
	struct evrec *rec;
};

/* cap: a power of two. */
void evring_init(struct evring *r, uint32_t cap);
void evring_free(struct evring *r);

/* The worker's side. */
void evring_put(struct evring *r, usec_t now, const struct ipaddr *cli, int cls, bool track,
		const struct smtp_event *ev);
/* A cleartext reply for the one TLS calibration (the loop's): with
 * delay_us unless it is UINT64_MAX. */
void evring_put_calib(struct evring *r, const struct ipaddr *srv, int cls, const struct smtp_event *ev,
		      uint32_t errors, uint64_t delay_us);
/* What was written since the last publish goes to the loop at once, the
 * last of it marked the end of a batch. Returns the published tail. */
uint64_t evring_publish(struct evring *r);

/* The loop's side: the next event, or NULL when none is published. Valid
 * until evring_next again. */
const struct evrec *evring_peek(struct evring *r);
void evring_next(struct evring *r);

#endif
