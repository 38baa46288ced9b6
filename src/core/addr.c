#include "addr.h"
#include "util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void addr_mask(const struct ipaddr *in, unsigned plen, struct ipaddr *out)
{
	unsigned bits = addr_bits(in);
	unsigned i;

	*out = *in;
	if (plen >= bits)
		return;
	for (i = plen / 8; i < 16; i++)
		out->b[i] = 0;
	if (plen % 8)
		out->b[plen / 8] = in->b[plen / 8] & (uint8_t)(0xff << (8 - plen % 8));
}

char *addr_fmt(const struct ipaddr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->af == 4 ? AF_INET : AF_INET6, a->b, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

int addr_parse(const char *s, struct ipaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->b) == 1) {
		out->af = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->b) == 1) {
		out->af = 6;
		return 0;
	}
	return -1;
}

int prefix_parse(const char *s, struct prefix *out)
{
	char tmp[ADDR_STRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	struct ipaddr a;
	unsigned long plen;

	if (alen == 0 || alen >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, alen);
	tmp[alen] = 0;
	if (addr_parse(tmp, &a))
		return -1;
	plen = addr_bits(&a);
	if (slash) {
		char *end;

		if (slash[1] < '0' || slash[1] > '9')
			return -1;
		plen = strtoul(slash + 1, &end, 10);
		if (*end || plen > addr_bits(&a))
			return -1;
	}
	out->len = (uint8_t)plen;
	addr_mask(&a, (unsigned)plen, &out->a);
	return 0;
}

char *prefix_fmt(const struct prefix *p, char *buf, size_t len)
{
	char a[ADDR_STRLEN];

	snprintf(buf, len, "%s/%u", addr_fmt(&p->a, a, sizeof(a)), p->len);
	return buf;
}

bool prefix_contains(const struct prefix *p, const struct ipaddr *a)
{
	struct ipaddr m;

	if (p->a.af != a->af)
		return false;
	addr_mask(a, p->len, &m);
	return memcmp(m.b, p->a.b, 16) == 0;
}

bool prefix_overlaps(const struct prefix *x, const struct prefix *y)
{
	return prefix_contains(x, &y->a) || prefix_contains(y, &x->a);
}

void prefixlist_add(struct prefixlist *l, const struct prefix *p, const char *origin)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->origin = xrealloc(l->origin, (l->n + 1) * sizeof(*l->origin));
	l->v[l->n] = *p;
	l->origin[l->n] = origin ? xstrdup(origin) : NULL;
	l->n++;
}

bool prefixlist_match(const struct prefixlist *l, const struct ipaddr *a)
{
	for (size_t i = 0; i < l->n; i++)
		if (prefix_contains(&l->v[i], a))
			return true;
	return false;
}

void prefixlist_free(struct prefixlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->origin[i]);
	free(l->origin);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void prefixlist_copy(struct prefixlist *dst, const struct prefixlist *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->n; i++)
		prefixlist_add(dst, &src->v[i], src->origin[i]);
}

bool addr_is_special(const struct ipaddr *a)
{
	const uint8_t *b = a->b;
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t zero[15];

	if (a->af == 4)
		return b[0] == 127 ||			/* loopback */
		       b[0] == 0 ||			/* "this network" */
		       (b[0] == 169 && b[1] == 254) ||	/* link-local */
		       b[0] >= 224;			/* multicast, reserved, broadcast */
	if (b[0] == 0xff)				/* multicast */
		return true;
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)	/* link-local */
		return true;
	if (!memcmp(b, zero, 15) && b[15] <= 1)		/* :: and ::1 */
		return true;
	return !memcmp(b, v4mapped, 12) && b[12] == 127; /* v4-mapped loopback */
}

int prefix_cmp(const void *a, const void *b)
{
	const struct prefix *x = a, *y = b;

	if (x->a.af != y->a.af)
		return x->a.af < y->a.af ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->a.b, y->a.b, sizeof(x->a.b));
}
