/* Golden files for the managed ruleset, in the spirit of nftables'
 * tests/py payloads: for each shape of configuration, every message the
 * enforcer would send, printed by libnftnl, compared with
 * tests/golden/NAME.txt. RCPTGUARD_GOLDEN_UPDATE=1 writes them instead
 * (then read the diff before committing it). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/set.h>

#include "nftrules.h"
#include "t.h"

static const char *golden_dir(void)
{
	const char *d = getenv("RCPTGUARD_GOLDEN_DIR");

	return d ? d : "tests/golden";
}

/* 0 when the plan printed for cfgtext (and how) equals the golden file. */
static int golden(const char *name, const char *cfgtext, enum queue_how how)
{
	struct config *c = cfg_new(cfgtext);
	struct nft_setdef sets[NFT_MAX_SETS];
	struct nft_plan p = { 0 };
	char *text = NULL, path[512], *want = NULL;
	size_t len = 0, wlen = 0;
	FILE *m = open_memstream(&text, &len), *f;
	int rc;

	nftrules_install(c, sets, nftrules_sets(c, sets), how, &p);
	nft_plan_print(&p, m);
	fclose(m);
	nft_plan_free(&p);
	cfg_del(c);
	snprintf(path, sizeof(path), "%s/%s.txt", golden_dir(), name);
	if (getenv("RCPTGUARD_GOLDEN_UPDATE")) {
		f = fopen(path, "w");
		rc = !f || fwrite(text, 1, len, f) != len;
		if (f)
			fclose(f);
		free(text);
		return rc;
	}
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "    %s: %s\n", path, strerror(errno));
		free(text);
		return -1;
	}
	m = open_memstream(&want, &wlen);
	for (int ch; (ch = fgetc(f)) != EOF;)
		fputc(ch, m);
	fclose(m);
	fclose(f);
	rc = wlen != len || memcmp(want, text, len);
	if (rc) {
		/* The first line that differs, to see at once what changed. */
		size_t i = 0, line = 1, s = 0;

		while (i < len && i < wlen && text[i] == want[i]) {
			if (text[i] == '\n') {
				line++;
				s = i + 1;
			}
			i++;
		}
		fprintf(stderr, "    %s:%zu differs:\n      got:  %.*s\n", path, line,
			(int)strcspn(text + s, "\n"), text + s);
		if (s < wlen)
			fprintf(stderr, "      want: %.*s\n", (int)strcspn(want + s, "\n"), want + s);
	}
	free(want);
	free(text);
	return rc;
}

#define SHAPE_BASE "servers = 198.18.0.25 fd00:18::25\nallowlist = 198.18.7.0/24 198.18.7.128/25 fd00:7::/48\n"

TEST(golden_local_host)
{
	CHECK_EQ(golden("local", SHAPE_BASE, QUEUE_NONE), 0);
}

TEST(golden_gateway_drop_new)
{
	CHECK_EQ(golden("gateway-new", SHAPE_BASE "gateway = yes\ndrop = new\nsmtp_ports = 25 587\n",
			QUEUE_NONE), 0);
}

TEST(golden_prefixes)
{
	CHECK_EQ(golden("prefixes", SHAPE_BASE
			"rule wide {\n class = rcpt_rejected\n threshold = 30\n prefix4 = 24\n prefix6 = 64\n}\n",
			QUEUE_NONE), 0);
}

TEST(golden_queue_expression)
{
	CHECK_EQ(golden("queue-expr", SHAPE_BASE "manage_queue = yes\nqueue = 0-3\n", QUEUE_EXPR), 0);
}

TEST(golden_queue_compat_gateway)
{
	CHECK_EQ(golden("queue-compat-gateway", SHAPE_BASE "manage_queue = yes\ngateway = yes\nqueue = 2\n",
			QUEUE_COMPAT), 0);
}

static int count_elem(struct nftnl_set_elem *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

/* Elements the allow4 fill message of cfgtext carries. */
static int allow4_elems(const char *cfgtext)
{
	struct config *c = cfg_new(cfgtext);
	struct nft_plan p = { 0 };
	int n = 0;

	nftrules_fill_allow(c, &p);
	/* flush allow4, add allow4 (if any), flush allow6, add allow6 */
	for (size_t i = 0; i < p.n; i++)
		if (p.v[i].type == NFT_MSG_NEWSETELEM &&
		    !strcmp(nftnl_set_get_str(p.v[i].obj, NFTNL_SET_NAME), "allow4"))
			nftnl_set_elem_foreach(p.v[i].obj, count_elem, &n);
	nft_plan_free(&p);
	cfg_del(c);
	return n;
}

/* The allowlist and own addresses in the allow sets, sorted and merged
 * (an interval set refuses overlaps): 198.18.7.128/25 lies inside
 * 198.18.7.0/24, which touches 198.18.8.0/24 and 198.18.9.0/24: one
 * interval of two elements, plus the server's /32 as two more. All of
 * IPv4 is one start element with no end. */
TEST(allow_sets_merge_overlapping_ranges)
{
	CHECK_EQ(allow4_elems(SHAPE_BASE "allowlist = 198.18.8.0/24 198.18.9.0/24\n"), 4);
	CHECK_EQ(allow4_elems(SHAPE_BASE "allowlist = 198.18.8.0/24 0.0.0.0/0\n"), 1);
	CHECK_EQ(allow4_elems("servers = any\nallowlist = 198.18.1.0/24 198.18.3.0/24\n"), 4);
}
