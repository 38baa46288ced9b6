/* Bidirectional TCP flows, keyed by the client and server ends. Hard cap
 * with eviction, timeouts by state; nothing here looks at payload. */
#ifndef RCPTGUARD_FLOW_H
#define RCPTGUARD_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "reasm.h"
#include "smtp.h"
#include "tls.h"
#include "util.h"

enum flow_state { FS_EMBRYONIC, FS_ESTABLISHED, FS_CLOSING, FS_NSTATES };

/* Handshake progress */
#define HS_SYN		0x01
#define HS_SYNACK	0x02

struct flowkey {
	struct ipaddr cli, srv;
	uint16_t cport, sport;
};

struct flow {
	struct flowkey key;
	uint32_t hnext;
	uint32_t prev, next;	/* LRU within its state, head = newest */
	uint8_t state;
	uint8_t hs;
	bool verified;		/* three-way handshake seen */
	bool smtp_on;		/* smtp is initialised */
	bool fin[2];
	usec_t last;		/* last packet */
	usec_t moved;		/* last moved to the head of its LRU list */
	uint32_t cli_isn, srv_isn;
	/* For the error sleep (tls.h): the client's last bytes, the last
	 * reply, and the session's errors so far. */
	usec_t t_cli, t_reply;
	uint8_t errors;
	uint32_t src_hint;	/* where the tracker found the client last (tracker_event_hint) */
	struct reasm r[2];	/* 0: client to server, 1: server to client */
	struct smtp smtp;
	struct tls *tls;	/* after STARTTLS, when followed */
};

struct flow_stats {
	uint64_t created;
	uint64_t verified;
	uint64_t midstream;
	uint64_t evicted;		/* cap bit: oldest idle flow dropped */
	uint64_t expired[FS_NSTATES];	/* timed out, by state */
	uint64_t closed;
	uint64_t reused;		/* new SYN on a known address pair */
	uint64_t peak;
};

/* Called on every flow leaving the table, so that its owner can free what
 * it hung on it. */
typedef void (*flow_release_fn)(void *arg, struct flow *f);

struct flowtab {
	struct flow *f;
	uint32_t n, cap, max;
	uint32_t free_list;
	uint32_t *bucket;
	uint32_t nbucket;
	uint32_t head[FS_NSTATES], tail[FS_NSTATES];
	uint32_t last;		/* the flow found last: segments come in runs */
	usec_t timeout[FS_NSTATES];
	uint64_t seed;
	flow_release_fn release;
	void *arg;
	struct flow_stats st;
};

void flowtab_init(struct flowtab *t, uint32_t max, const usec_t timeout[FS_NSTATES],
		  uint64_t seed, flow_release_fn release, void *arg);
void flowtab_free(struct flowtab *t);

/* The hash of a key with a table's seed: it reads nothing else, so that
 * another thread (the replay reader) can work it out ahead. */
uint64_t flow_hash(uint64_t seed, const struct flowkey *k);
/* The same hash from the key's fields where they lie, in a decoded packet
 * say: no key needs building first. */
uint64_t flow_hash_of(uint64_t seed, const struct ipaddr *cli, const struct ipaddr *srv,
		      uint16_t cport, uint16_t sport);
/* The flow of key {cli, srv, cport, sport}, read where the fields lie (a
 * decoded packet: no key is built for a lookup); h is their flow_hash_of. */
struct flow *flow_lookup(struct flowtab *t, const struct ipaddr *cli, const struct ipaddr *srv,
			 uint16_t cport, uint16_t sport, uint64_t h);
/* New flow in state st; may evict the oldest idle flow to make room. The
 * pointer is valid until the next flow_create or expiry. */
struct flow *flow_create(struct flowtab *t, const struct flowkey *k, int st, usec_t now);
void flow_touch(struct flowtab *t, struct flow *f, int st, usec_t now);
void flow_remove(struct flowtab *t, struct flow *f);
/* Drop flows idle past their state's timeout. */
void flow_expire(struct flowtab *t, usec_t now);

#endif
