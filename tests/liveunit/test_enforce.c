/* The enforcer over the fake nf_tables: install, element batches, and the
 * retry that finds the elements the kernel refuses and keeps the rest. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "enforce.h"
#include "fake_nft.h"
#include "helpers.h"
#include "t.h"

#define MIN_MS (60 * 1000)

static struct enforcer *open_fake(struct fake_nft *f, const struct config *c)
{
	char err[256] = "";
	struct enforcer *e = enforcer_open_on(c, fake_nft_transport(f), err, sizeof(err));

	if (!e)
		fprintf(stderr, "    enforcer_open_on: %s\n", err);
	return e;
}

TEST(enforcer_installs_table_sets_and_rules)
{
	struct config *c = cfg_new("servers = 198.18.0.25\n");
	struct fake_nft *f = fake_nft_new();
	struct enforcer *e = open_fake(f, c);

	CHECK(e != NULL);
	CHECK(f->table);
	/* banned4_32, banned6_64, banned6_128 (narrowed /64 bans), allow4,
	 * allow6 */
	CHECK_EQ(f->nsets, 5);
	/* input: two allow rules and one drop rule per banned set and port */
	CHECK_EQ(f->rules, 2 + 3 * 1);
	CHECK(fake_nft_find(f, "allow4", "198.18.0.25") != NULL);
	CHECK_EQ(enforcer_queue_how(e), QUEUE_NONE);
	enforcer_close(e, true);
	CHECK(!f->table);
	free(f);
	cfg_del(c);
}

/* No nft queue expression in this kernel (as here): the whole batch is
 * refused, and the compat target is installed instead. */
TEST(enforcer_falls_back_to_compat_queue_target)
{
	struct config *c = cfg_new("manage_queue = yes\n");
	struct fake_nft *f = fake_nft_new();
	struct enforcer *e;

	f->no_queue_expr = true;
	e = open_fake(f, c);
	CHECK(e != NULL);
	CHECK_EQ(f->failed_batches, 1u);
	CHECK(e && enforcer_queue_how(e) == QUEUE_COMPAT);
	enforcer_close(e, false);
	free(f);
	cfg_del(c);
}

TEST(enforcer_without_permission_reports_cap_net_admin)
{
	struct config *c = cfg_new("");
	struct fake_nft *f = fake_nft_new();
	char err[256] = "";

	f->refuse_batches = true;
	CHECK(enforcer_open_on(c, fake_nft_transport(f), err, sizeof(err)) == NULL);
	CHECK(strstr(err, "CAP_NET_ADMIN") != NULL);
	free(f);
	cfg_del(c);
}

/* A full set refuses one element: the batch (atomic) took none, the
 * retry sends them one by one, and the other bans are in. */
TEST(enforcer_retry_keeps_all_but_the_refused_element)
{
	struct config *c = cfg_new("");
	struct fake_nft *f = fake_nft_new();
	struct enforcer *e = open_fake(f, c);
	const char *keys[] = { "198.18.1.1/32", "198.18.1.2/32", "198.18.1.3/32", "fd00:1::/64",
			       "198.18.1.4/32" };
	const struct enforce_stats *st;

	fake_nft_refuse(f, "198.18.1.3/32", ENFILE);
	for (size_t i = 0; i < 5; i++) {
		struct prefix k = pfx(keys[i]);

		enforcer_queue_key(e, &k, 10 * 60 * USEC_PER_SEC, false);
	}
	CHECK_EQ(enforcer_pending(e), 5u);
	CHECK_EQ(enforcer_flush(e), 1);
	st = enforcer_stats(e);
	CHECK_EQ(st->retries, 1u);
	CHECK_EQ(st->element_errors, 1u);
	CHECK_EQ(st->set_full, 1u);
	CHECK_EQ(st->elements, 4u);
	CHECK(fake_nft_find(f, "banned4_32", "198.18.1.1") != NULL);
	CHECK(fake_nft_find(f, "banned4_32", "198.18.1.4") != NULL);
	CHECK(fake_nft_find(f, "banned6_64", "fd00:1::") != NULL);
	CHECK(fake_nft_find(f, "banned4_32", "198.18.1.3") == NULL);
	CHECK_EQ(fake_nft_find(f, "banned4_32", "198.18.1.1")->timeout_ms, 10u * MIN_MS);
	CHECK_EQ(enforcer_pending(e), 0u);
	enforcer_close(e, false);
	free(f);
	cfg_del(c);
}

/* A re-ban of 198.18.2.1 (in the set, 30 s left), a re-ban of
 * 198.18.2.2 (expired meanwhile), an unban of 198.18.2.3 (gone already);
 * returns the enforcer's retries. */
static unsigned reban_scenario(bool no_destroy)
{
	struct config *c = cfg_new("");
	struct fake_nft *f = fake_nft_new();
	struct enforcer *e;
	struct prefix live = pfx("198.18.2.1/32"), gone = pfx("198.18.2.2/32"), unb = pfx("198.18.2.3/32");
	const struct fake_elem *el;
	unsigned retries;

	f->no_destroy = no_destroy;
	e = open_fake(f, c);
	fake_nft_put(f, "banned4_32", "198.18.2.1", 60000, 30000);
	enforcer_queue_key(e, &live, 3600 * USEC_PER_SEC, true);
	enforcer_queue_key(e, &gone, 3600 * USEC_PER_SEC, true);
	enforcer_queue_del(e, &unb);
	CHECK_EQ(enforcer_flush(e), 0);
	CHECK_EQ(enforcer_stats(e)->element_errors, 0u);
	/* The new timeout holds, also where a re-add alone would not renew it. */
	el = fake_nft_find(f, "banned4_32", "198.18.2.1");
	CHECK(el && el->timeout_ms == 3600u * 1000);
	CHECK(fake_nft_find(f, "banned4_32", "198.18.2.2") != NULL);
	retries = (unsigned)enforcer_stats(e)->retries;
	enforcer_close(e, false);
	free(f);
	cfg_del(c);
	return retries;
}

/* A re-ban deletes and re-adds its element in one atomic batch, so that
 * the new timeout holds on kernels that ignore a re-add. On a kernel
 * without DESTROYSETELEM, a re-ban whose element expired meanwhile fails
 * its delete (ENOENT): retried without the delete, it still gets in; an
 * unban of an element that is gone already is done, not an error. With
 * DESTROYSETELEM the same is one clean batch. */
TEST(enforcer_reban_and_unban_of_expired_elements)
{
	CHECK_EQ(reban_scenario(true), 1u);
	CHECK_EQ(reban_scenario(false), 0u);
}

/* What the kernel holds, read back sorted, with what is left of each. */
TEST(enforcer_snapshot_reads_elements_back)
{
	struct config *c = cfg_new("");
	struct fake_nft *f = fake_nft_new();
	struct enforcer *e = open_fake(f, c);
	struct elem_table t = { 0 };
	struct prefix k = pfx("198.18.3.1/32");
	const struct elem_info *ei;

	fake_nft_put(f, "banned4_32", "198.18.3.9", 600000, 100000);
	fake_nft_put(f, "banned4_32", "198.18.3.1", 600000, 200000);
	fake_nft_put(f, "banned6_64", "fd00:3::", 600000, 300000);
	CHECK_EQ(enforcer_snapshot(e, &t), 0);
	CHECK_EQ(t.n, 3u);
	ei = elem_table_find(&t, &k);
	CHECK(ei != NULL);
	CHECK(ei && ei->expires_ms == 200000 && ei->timeout_ms == 600000);
	elem_table_free(&t);
	enforcer_close(e, false);
	free(f);
	cfg_del(c);
}
