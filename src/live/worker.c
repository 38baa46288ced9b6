#define _GNU_SOURCE 1
#include "worker.h"

#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

/* A worker with nothing to read still expires flows and copies its
 * counts out this often. */
#define WORKER_POLL_MS 100
#define WORKER_SNAP_US ((usec_t)100 * 1000)
/* The loop takes at most this many events a wake-up before it looks at
 * its other descriptors. */
#define JUDGE_MAX 65536

static void note(int fd)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is full, the loop is awake anyway. */
	(void)!write(fd, &one, sizeof(one));
}

static void drain(int fd)
{
	uint64_t v;

	(void)!read(fd, &v, sizeof(v));
}

/* Published events the loop has not been told of: tell it. */
static void publish(struct worker *w)
{
	uint64_t t = evring_publish(&w->ring);

	if (t != w->notified) {
		w->notified = t;
		note(w->notefd);
	}
}

/* nfqcap's hook, after a read's packets are parsed and before their
 * verdict: the bans they may have decided must be in the kernel first.
 * Only events for the tracker can decide one; the calibration's records
 * are not waited for. */
static void hold(void *arg)
{
	struct worker *w = arg;
	uint64_t t, done;
	usec_t deadline;

	publish(w);
	t = w->ring.track_tail;
	done = atomic_load_explicit(&w->done, memory_order_acquire);
	if (done >= t)
		return;
	if (w->stalled) {
		/* The loop let the last hold time out and has judged nothing
		 * since: it is stuck, so nothing waits for it until it moves. */
		if (done == w->stall_done) {
			w->unheld++;
			return;
		}
		w->stalled = false;
	}
	w->holds++;
	deadline = clock_mono() + w->hold;
	for (;;) {
		uint32_t a = atomic_load_explicit(&w->ack, memory_order_acquire);
		usec_t now;
		struct timespec ts;

		if (atomic_load_explicit(&w->done, memory_order_acquire) >= t)
			return;
		now = clock_mono();
		if (now >= deadline || atomic_load_explicit(&w->stop, memory_order_relaxed)) {
			/* Fail-open: the loop is slow or stuck, mail is not. */
			w->hold_timeouts++;
			w->stalled = true;
			w->stall_done = atomic_load_explicit(&w->done, memory_order_acquire);
			return;
		}
		ts.tv_sec = (time_t)((deadline - now) / USEC_PER_SEC);
		ts.tv_nsec = (long)((deadline - now) % USEC_PER_SEC) * 1000;
		/* Returns at once if ack moved on meanwhile. */
		(void)syscall(SYS_futex, (uint32_t *)&w->ack, FUTEX_WAIT_PRIVATE, a, &ts, NULL, 0);
	}
}

/* The loop's calibration, when it moved: one relaxed load a read. */
static void take_calib(struct worker *w)
{
	struct workers *ws = w->ws;
	uint32_t v = atomic_load_explicit(&ws->cal_version, memory_order_acquire);

	if (v == w->cal_seen)
		return;
	pthread_mutex_lock(&ws->cal_lock);
	w->p.tls.cal = *ws->cal_pub;
	w->cal_seen = atomic_load_explicit(&ws->cal_version, memory_order_relaxed);
	pthread_mutex_unlock(&ws->cal_lock);
}

static void snapshot(struct worker *w)
{
	struct worker_snap s = {
		.st = w->p.st,
		.flows = w->p.flows.st,
		.smtp = w->p.smtp.st,
		.reasm = w->p.reasm.st,
		.tls = w->p.tls.st,
		.nflows = w->p.flows.n,
		.reasm_held = w->p.reasm.global_held,
		.ring_events = w->ring.events,
		.ring_full = w->ring.full,
		.holds = w->holds,
		.hold_timeouts = w->hold_timeouts,
		.unheld = w->unheld,
	};

	if (w->nfq)
		s.nfq = *nfqcap_stats(w->nfq);
	if (w->pcap) {
		(void)livepcap_poll_drops(w->pcap);
		s.pcap = *livepcap_stats(w->pcap);
	}
	pthread_mutex_lock(&w->lock);
	w->snap = s;
	pthread_mutex_unlock(&w->lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pollfd pf[2] = {
		{ .fd = w->nfq ? nfqcap_fd(w->nfq) : livepcap_fd(w->pcap), .events = POLLIN },
		{ .fd = w->wakefd, .events = POLLIN },
	};

	w->last_tick = w->last_snap = clock_mono();
	while (!atomic_load_explicit(&w->stop, memory_order_acquire)) {
		int n = poll(pf, 2, WORKER_POLL_MS);
		uint32_t gen = atomic_load_explicit(&w->cfg_gen, memory_order_acquire);
		usec_t now;

		if (n > 0 && (pf[1].revents & POLLIN))
			drain(w->wakefd);
		if (gen != atomic_load_explicit(&w->cfg_seen, memory_order_relaxed)) {
			const struct config *cfg = atomic_load_explicit(&w->next_cfg, memory_order_acquire);

			/* Flows and their dialogues are kept; the limits move. */
			pipeline_reconfigure(&w->p, cfg, false);
			w->hold = cfg->verdict_hold;
			atomic_store_explicit(&w->cfg_seen, gen, memory_order_release);
		}
		if (n > 0 && (pf[0].revents & POLLIN)) {
			take_calib(w);
			if (w->nfq) {
				nfqcap_read(w->nfq, &w->p);	/* holds through hold() */
			} else {
				/* A copy of the traffic: nothing to hold. */
				livepcap_read(w->pcap, &w->p);
				publish(w);
			}
		}
		now = clock_mono();
		if (now - w->last_tick >= USEC_PER_SEC) {
			w->last_tick = now;
			pipeline_tick(&w->p, clock_wall());
			publish(w);
		}
		if (now - w->last_snap >= WORKER_SNAP_US) {
			w->last_snap = now;
			snapshot(w);
		}
	}
	publish(w);
	snapshot(w);
	return NULL;
}

int workers_open(struct workers *ws, const struct config *cfg, unsigned n, char *err, size_t errlen)
{
	memset(ws, 0, sizeof(*ws));
	ws->notefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ws->notefd < 0) {
		snprintf(err, errlen, "workers: eventfd: %s", strerror(errno));
		return -1;
	}
	ws->w = xcalloc(n, sizeof(*ws->w));
	ws->n = n;
	ws->cal_pub = xcalloc(1, sizeof(*ws->cal_pub));
	pthread_mutex_init(&ws->cal_lock, NULL);
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &ws->w[i];

		w->id = i;
		w->ws = ws;
		w->notefd = ws->notefd;
		w->hold = cfg->verdict_hold;
		pthread_mutex_init(&w->lock, NULL);
		w->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (w->wakefd < 0) {
			snprintf(err, errlen, "workers: eventfd: %s", strerror(errno));
			return -1;
		}
		if (cfg->capture == CAPTURE_NFQUEUE) {
			uint16_t q = (uint16_t)(cfg->queue_first + i);

			w->nfq = nfqcap_open_range(cfg, q, q, err, errlen);
			if (!w->nfq)
				return -1;
			nfqcap_set_hook(w->nfq, hold, w);
		} else {
			size_t l;

			w->pcap = livepcap_open(cfg, err, errlen);
			if (!w->pcap)
				return -1;
			/* One group per daemon: its pid, as other programs do. */
			if (livepcap_join_fanout(w->pcap, (uint16_t)getpid(), err, errlen) < 0) {
				l = strlen(err);
				snprintf(err + l, errlen - l, " (workers = 1 captures without a fanout group)");
				return -1;
			}
		}
	}
	return 0;
}

void workers_prepare(struct workers *ws, const struct config *cfg, const struct tls_calibs *cal,
		     uint64_t seed, bool require_outbound_replies)
{
	for (unsigned i = 0; i < ws->n; i++) {
		struct worker *w = &ws->w[i];

		evring_init(&w->ring, cfg->worker_ring);
		pipeline_init_worker(&w->p, cfg, seed + i * 0x9e3779b97f4a7c15ull, &w->ring);
		w->p.require_outbound_replies = require_outbound_replies;
		w->p.tls.cal = *cal;
		atomic_store(&w->next_cfg, cfg);
	}
}

int workers_start(struct workers *ws, char *err, size_t errlen)
{
	for (unsigned i = 0; i < ws->n; i++) {
		int rc = pthread_create(&ws->w[i].th, NULL, worker_main, &ws->w[i]);

		if (rc) {
			snprintf(err, errlen, "cannot start capture worker %u: %s", i, strerror(rc));
			return -1;
		}
		ws->w[i].started = true;
	}
	return 0;
}

size_t workers_judge(struct workers *ws, struct pipeline *p)
{
	size_t n = 0, got;
	bool more = false;

	drain(ws->notefd);
	for (unsigned i = 0; i < ws->n; i++) {
		got = pipeline_judge(p, &ws->w[i].ring, JUDGE_MAX / ws->n);
		n += got;
		if (got == JUDGE_MAX / ws->n)
			more = true;
	}
	if (more)
		note(ws->notefd);	/* the rest on the next turn of the loop */
	return n;
}

void workers_ack(struct workers *ws)
{
	for (unsigned i = 0; i < ws->n; i++) {
		struct worker *w = &ws->w[i];
		uint64_t h = atomic_load_explicit(&w->ring.head, memory_order_acquire);

		if (atomic_load_explicit(&w->done, memory_order_relaxed) == h)
			continue;
		atomic_store_explicit(&w->done, h, memory_order_release);
		atomic_fetch_add_explicit(&w->ack, 1, memory_order_release);
		(void)syscall(SYS_futex, (uint32_t *)&w->ack, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
}

int workers_reconfigure(struct workers *ws, const struct config *cfg)
{
	struct timespec ms = { 0, 1000000L };
	uint32_t gen = ++ws->gen;

	for (unsigned i = 0; i < ws->n; i++) {
		atomic_store_explicit(&ws->w[i].next_cfg, cfg, memory_order_release);
		atomic_store_explicit(&ws->w[i].cfg_gen, gen, memory_order_release);
		note(ws->w[i].wakefd);
	}
	for (int tries = 0; tries < 1000; tries++) {
		unsigned on = 0;

		for (unsigned i = 0; i < ws->n; i++)
			on += atomic_load_explicit(&ws->w[i].cfg_seen, memory_order_acquire) == gen;
		if (on == ws->n)
			return 0;
		/* A worker may be holding a verdict for the loop: let it go. */
		workers_ack(ws);
		nanosleep(&ms, NULL);
	}
	return -1;
}

void workers_sum(struct workers *ws, struct worker_snap *sum, uint64_t *packets)
{
	/* Every member is a count of uint64_t (worker.h). */
	uint64_t v[sizeof(struct worker_snap) / sizeof(uint64_t)], t[sizeof(v) / sizeof(v[0])];

	memset(t, 0, sizeof(t));
	for (unsigned i = 0; i < ws->n; i++) {
		pthread_mutex_lock(&ws->w[i].lock);
		memcpy(v, &ws->w[i].snap, sizeof(v));
		pthread_mutex_unlock(&ws->w[i].lock);
		if (packets)
			packets[i] = v[offsetof(struct worker_snap, st.packets) / sizeof(uint64_t)];
		for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
			t[k] += v[k];
	}
	memcpy(sum, t, sizeof(t));
}

void workers_publish_calib(struct workers *ws, const struct tls_calibs *cal)
{
	pthread_mutex_lock(&ws->cal_lock);
	*ws->cal_pub = *cal;
	atomic_fetch_add_explicit(&ws->cal_version, 1, memory_order_release);
	pthread_mutex_unlock(&ws->cal_lock);
}

void workers_stop(struct workers *ws)
{
	for (unsigned i = 0; i < ws->n; i++) {
		atomic_store_explicit(&ws->w[i].stop, true, memory_order_release);
		if (ws->w[i].wakefd > 0)
			note(ws->w[i].wakefd);
	}
	for (unsigned i = 0; i < ws->n; i++)
		if (ws->w[i].started) {
			pthread_join(ws->w[i].th, NULL);
			ws->w[i].started = false;
		}
}

void workers_close(struct workers *ws)
{
	if (!ws->w)
		return;
	workers_stop(ws);
	for (unsigned i = 0; i < ws->n; i++) {
		struct worker *w = &ws->w[i];

		nfqcap_close(w->nfq);
		livepcap_close(w->pcap);
		if (w->wakefd > 0)
			close(w->wakefd);
		if (w->ring.rec) {
			pipeline_free(&w->p);
			evring_free(&w->ring);
		}
		pthread_mutex_destroy(&w->lock);
	}
	free(ws->w);
	free(ws->cal_pub);
	pthread_mutex_destroy(&ws->cal_lock);
	ws->w = NULL;
	if (ws->notefd >= 0)
		close(ws->notefd);
	ws->n = 0;
}
