/* The managed ruleset as nftnl objects, from the configuration alone: no
 * socket, no kernel. The enforcer sends what this builds; the golden
 * tests (tests/golden/) print it with nftnl's own printers and compare.
 *
 * Table inet TABLE:
 *   sets     banned4_<len>, banned6_<len> (timeouts, per-element counters,
 *            set_size elements), one per family and prefix length of the
 *            rules, plus full-length ones for narrowed bans (managed);
 *            allow4, allow6 (intervals: the allowlist and own addresses)
 *   input    (forward on a gateway) at priority -10: allowed sources
 *            accepted, then per set and SMTP port one drop rule
 *   queue_in, queue_out (queue_fwd on a gateway) at -5 (manage_queue):
 *            the SMTP ports to NFQUEUE with bypass */
#ifndef RCPTGUARD_NFTRULES_H
#define RCPTGUARD_NFTRULES_H

#include <stdio.h>

#include "config.h"

/* How the queue rules (manage_queue = yes) reach NFQUEUE. */
enum queue_how { QUEUE_NONE, QUEUE_EXPR, QUEUE_COMPAT };

struct nft_setdef {
	int af;
	unsigned plen;
	char name[32];
};

#define NFT_MAX_SETS (2 * MAX_RULES + 2)

/* One message of a batch: what it does and the object it carries. */
enum nft_obj { NFT_OBJ_TABLE, NFT_OBJ_SET, NFT_OBJ_ELEMS, NFT_OBJ_CHAIN, NFT_OBJ_RULE };

struct nft_msg {
	uint16_t type;		/* NFT_MSG_* */
	uint16_t flags;		/* NLM_F_CREATE, NLM_F_APPEND (ACK is added) */
	enum nft_obj kind;
	void *obj;		/* struct nftnl_table, _set, _chain or _rule; owned */
};

struct nft_plan {
	struct nft_msg *v;
	size_t n, cap;
};

/* The sets the rules of cfg ban into; returns how many (<= NFT_MAX_SETS). */
size_t nftrules_sets(const struct config *cfg, struct nft_setdef *out);
/* Set name for a family and prefix length: banned4_32. */
void nftrules_set_name(int af, unsigned plen, char *buf, size_t len);
/* The whole table, created or adopted (its chains emptied first), in
 * one atomic batch. */
void nftrules_install(const struct config *cfg, const struct nft_setdef *sets, size_t nsets,
		      enum queue_how how, struct nft_plan *p);
/* Both allow sets emptied and filled again from cfg. */
void nftrules_fill_allow(const struct config *cfg, struct nft_plan *p);
/* The table deleted (on_exit = remove). */
void nftrules_remove(const struct config *cfg, struct nft_plan *p);

/* Every message in nftnl's text form, one block each. */
void nft_plan_print(const struct nft_plan *p, FILE *f);
void nft_plan_free(struct nft_plan *p);

#endif
