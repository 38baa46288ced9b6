/* IPv4/IPv6 addresses, prefixes and small prefix lists. */
#ifndef RCPTGUARD_ADDR_H
#define RCPTGUARD_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

/* af is 4 or 6; an IPv4 address lives in b[0..3] and b[4..15] stay zero, so
 * that whole-struct comparison and hashing work for both families. */
struct ipaddr {
	uint8_t af;
	uint8_t b[16];
};

struct prefix {
	struct ipaddr a;	/* already masked to len */
	uint8_t len;
};

struct prefixlist {
	struct prefix *v;
	size_t n;
	/* where each entry came from, for check-config diagnostics */
	char **origin;
};

#define ADDR_STRLEN 64	/* fits "ffff:...:ffff/128" */

static inline unsigned addr_bits(const struct ipaddr *a)
{
	return a->af == 4 ? 32 : 128;
}

/* Inline: called per event and per rule, where a call cost more than
 * the compare. */
static inline bool addr_eq(const struct ipaddr *x, const struct ipaddr *y)
{
	return x->af == y->af && memcmp(x->b, y->b, 16) == 0;
}
void addr_mask(const struct ipaddr *in, unsigned plen, struct ipaddr *out);
char *addr_fmt(const struct ipaddr *a, char *buf, size_t len);
int addr_parse(const char *s, struct ipaddr *out);

/* "198.18.0.0/15", "fd00::/8", or a bare address (full length). */
int prefix_parse(const char *s, struct prefix *out);
char *prefix_fmt(const struct prefix *p, char *buf, size_t len);
/* A total order on prefixes (family, length, address), for qsort/bsearch. */
int prefix_cmp(const void *a, const void *b);
bool prefix_contains(const struct prefix *p, const struct ipaddr *a);
/* True when one of the two covers the other. */
bool prefix_overlaps(const struct prefix *x, const struct prefix *y);

void prefixlist_add(struct prefixlist *l, const struct prefix *p, const char *origin);
bool prefixlist_match(const struct prefixlist *l, const struct ipaddr *a);
void prefixlist_free(struct prefixlist *l);
void prefixlist_copy(struct prefixlist *dst, const struct prefixlist *src);

/* Addresses that must never be banned whatever the counts say. */
bool addr_is_special(const struct ipaddr *a);

#endif
