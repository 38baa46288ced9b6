/* A fake nf_tables behind struct nft_transport: it parses every message
 * it is sent with libnftnl, applies a batch all or nothing as the kernel
 * does, and answers dumps of what it holds. Tests tell it which elements
 * to refuse and what the "kernel" lacks. */
#ifndef RCPTGUARD_FAKE_NFT_H
#define RCPTGUARD_FAKE_NFT_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "nftnl_transport.h"

#define FAKE_MAX_ELEMS 4096
#define FAKE_MAX_SETS 32

struct fake_elem {
	char set[32];
	uint8_t key[16];
	uint32_t klen;
	uint64_t timeout_ms, expires_ms;
	bool interval_end;
};

struct fake_nft {
	struct nft_transport t;
	/* What the "kernel" holds. */
	bool table;
	char sets[FAKE_MAX_SETS][32];
	int nsets;
	struct fake_elem el[FAKE_MAX_ELEMS];
	int nel;
	unsigned rules;			/* rules in the table's chains */
	/* What it refuses. */
	struct { struct prefix key; int err; } refuse[8];
	int nrefuse;
	bool no_destroy;		/* a kernel before 6.3: no DESTROYSETELEM */
	bool no_queue_expr;		/* CONFIG_NFT_QUEUE unset */
	bool refuse_batches;		/* EPERM for every batch (no CAP_NET_ADMIN) */
	/* What it saw. */
	unsigned batches, failed_batches, messages;
	unsigned elem_adds, elem_dels;	/* applied, over all batches */
};

struct fake_nft *fake_nft_new(void);
/* The transport the enforcer takes (and frees through close). */
struct nft_transport *fake_nft_transport(struct fake_nft *f);
void fake_nft_refuse(struct fake_nft *f, const char *prefix, int err);
/* The element of set holding key (prefix text), or NULL. */
const struct fake_elem *fake_nft_find(const struct fake_nft *f, const char *set, const char *key);
/* Put an element in as if another run had left it: timeout and left. */
void fake_nft_put(struct fake_nft *f, const char *set, const char *key, uint64_t timeout_ms,
		  uint64_t left_ms);
int fake_nft_count(const struct fake_nft *f, const char *set);

#endif
