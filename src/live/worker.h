/* Capture workers: one thread per queue of a range (or per member of a
 * pcap fanout group), each with a pipeline of its own (decode, flows,
 * reassembly, SMTP, TLS) and nothing shared on the packet path. Their
 * events reach the one tracker on the daemon's loop through a ring each
 * (evring.h); the loop judges them, sends the bans they decided to the
 * kernel, and then tells the worker, which holds the verdict on those
 * packets until then (never longer than verdict_hold: then they pass).
 * The tracker and the enforcer never touch a packet.
 *
 * Threads start after the privilege drop and the seccomp filter, so they
 * inherit both; the captures are opened before, with the privileges. */
#ifndef RCPTGUARD_WORKER_H
#define RCPTGUARD_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"
#include "evring.h"
#include "livepcap.h"
#include "nfqcap.h"
#include "pipeline.h"

/* What a worker has counted, copied out for status and the summary. */
struct worker_snap {
	struct pipeline_stats st;
	struct flow_stats flows;
	struct smtp_stats smtp;
	struct reasm_stats reasm;
	struct tls_stats tls;
	struct nfqcap_stats nfq;
	struct livepcap_stats pcap;
	uint64_t nflows, reasm_held;
	uint64_t ring_events;		/* events sent to the tracker */
	uint64_t ring_full;		/* events dropped: the ring was full */
	uint64_t holds;			/* reads whose verdict waited for the enforcer */
	uint64_t hold_timeouts;		/* of which let go after verdict_hold */
	uint64_t unheld;		/* reads let go at once: the loop was stuck */
};

struct worker {
	unsigned id;
	pthread_t th;
	bool started;
	struct nfqcap *nfq;
	struct livepcap *pcap;
	struct pipeline p;
	struct evring ring;
	int wakefd;			/* the loop wakes the worker: a new config, stop */
	int notefd;			/* the pool's: the worker wakes the loop */
	usec_t hold;
	/* The loop's answer: every event up to done is judged and its bans
	 * are in the kernel; ack moves on each time (the futex word). */
	_Alignas(64) _Atomic uint64_t done;
	_Atomic uint32_t ack;
	_Alignas(64) _Atomic(const struct config *) next_cfg;
	_Atomic uint32_t cfg_gen, cfg_seen;
	_Atomic bool stop;
	/* The worker's own. */
	_Alignas(64) uint64_t holds, hold_timeouts, unheld, notified;
	bool stalled;			/* the last hold timed out ... */
	uint64_t stall_done;		/* ... with the loop at done */
	usec_t last_tick, last_snap;
	uint32_t cal_seen;		/* the calibration's version it copied */
	struct workers *ws;
	/* Copied out under lock: the counts. */
	pthread_mutex_t lock;
	struct worker_snap snap;
};

struct workers {
	unsigned n;
	struct worker *w;
	int notefd;			/* readable: some worker has events */
	uint32_t gen;
	/* The one TLS calibration: the loop learns it from every worker's
	 * cleartext replies and hands out copies; a worker takes the new one
	 * before its next read. */
	pthread_mutex_t cal_lock;
	struct tls_calibs *cal_pub;
	_Atomic uint32_t cal_version;
};

/* The captures, one per worker (privileged: before the drop). 0, or -1
 * with the reason. */
int workers_open(struct workers *ws, const struct config *cfg, unsigned n, char *err, size_t errlen);
/* Each worker's pipeline, its TLS calibration a copy of cal (the
 * loop's, from the state file). */
void workers_prepare(struct workers *ws, const struct config *cfg, const struct tls_calibs *cal,
		     uint64_t seed, bool require_outbound_replies);
/* The threads (after the drop and the sandbox). 0, or -1 with the reason. */
int workers_start(struct workers *ws, char *err, size_t errlen);
/* The loop: what the workers published, into p's tracker. Returns the
 * number of events; more may be left (then the note fd stays readable). */
size_t workers_judge(struct workers *ws, struct pipeline *p);
/* The loop, after the bans are flushed: the workers' held verdicts go. */
void workers_ack(struct workers *ws);
/* A reloaded configuration into every worker; returns once each runs on
 * it (0), or -1 if one did not within a second (cfg's predecessor must
 * then be kept). */
int workers_reconfigure(struct workers *ws, const struct config *cfg);
/* The counts of all workers, summed; each worker's packets into
 * packets[i] (n of them) if not NULL. */
void workers_sum(struct workers *ws, struct worker_snap *sum, uint64_t *packets);
/* The loop's TLS calibration moved: a copy for the workers. */
void workers_publish_calib(struct workers *ws, const struct tls_calibs *cal);
/* Stop and join the threads: their last events are in the rings, their
 * last counts copied out. */
void workers_stop(struct workers *ws);
/* Stop them if running, close the captures, free everything. */
void workers_close(struct workers *ws);

#endif
