#include "evring.h"

#include <stdlib.h>
#include <string.h>

void evring_init(struct evring *r, uint32_t cap)
{
	memset(r, 0, sizeof(*r));
	r->mask = cap - 1;
	r->rec = xcalloc(cap, sizeof(*r->rec));
}

void evring_free(struct evring *r)
{
	free(r->rec);
	r->rec = NULL;
}

/* The next free record, or NULL (counted) when the ring is full. */
static struct evrec *slot(struct evring *r)
{
	if (r->wtail - r->head_seen > r->mask) {
		/* Looks full: look again at what the loop has taken. */
		r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
		if (r->wtail - r->head_seen > r->mask) {
			r->full++;
			return NULL;
		}
	}
	return &r->rec[r->wtail & r->mask];
}

void evring_put_calib(struct evring *r, const struct ipaddr *srv, int cls, const struct smtp_event *ev,
		      uint32_t errors, uint64_t delay_us)
{
	struct evrec *e = slot(r);

	if (!e)
		return;
	e->srv = *srv;
	e->cls = (int8_t)cls;
	e->flags = EVR_CALIB | (delay_us != UINT64_MAX ? EVR_DELAY : 0);
	e->errors = errors;
	e->delay = delay_us;
	e->ev = *ev;
	e->ev.rcpt = NULL;
	e->rcpt[0] = 0;
	r->wtail++;
}

void evring_put(struct evring *r, usec_t now, const struct ipaddr *cli, int cls, bool track,
		const struct smtp_event *ev)
{
	struct evrec *e = slot(r);

	if (!e)
		return;
	e->time = now;
	e->cli = *cli;
	e->cls = (int8_t)cls;
	e->flags = track ? EVR_TRACK : 0;
	if (track)
		r->track_tail = r->wtail + 1;
	e->ev = *ev;
	e->ev.rcpt = NULL;
	if (ev->rcpt && ev->rcpt_len) {
		size_t n = ev->rcpt_len < SMTP_RCPT_MAX - 1 ? ev->rcpt_len : SMTP_RCPT_MAX - 1;

		memcpy(e->rcpt, ev->rcpt, n);
		e->rcpt[n] = 0;
		e->ev.rcpt_len = (uint16_t)n;
	} else {
		e->rcpt[0] = 0;
		e->ev.rcpt_len = 0;
	}
	r->wtail++;
}

uint64_t evring_publish(struct evring *r)
{
	if (r->wtail != r->batch) {
		r->rec[(r->wtail - 1) & r->mask].flags |= EVR_END;
		r->events += r->wtail - r->batch;
		r->batch = r->wtail;
		atomic_store_explicit(&r->tail, r->wtail, memory_order_release);
	}
	return r->wtail;
}

const struct evrec *evring_peek(struct evring *r)
{
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	struct evrec *e;

	if (h == atomic_load_explicit(&r->tail, memory_order_acquire))
		return NULL;
	e = &r->rec[h & r->mask];
	e->ev.rcpt = e->rcpt;
	return e;
}

void evring_next(struct evring *r)
{
	atomic_store_explicit(&r->head, atomic_load_explicit(&r->head, memory_order_relaxed) + 1,
			      memory_order_release);
}
