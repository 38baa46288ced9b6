/* The check after a privilege drop: what the kernel says against what the
 * drop meant, each difference named. */
#include <linux/capability.h>
#include <string.h>
#include <unistd.h>

#include "privs.h"
#include "t.h"

#define ADMIN (1ull << CAP_NET_ADMIN)
#define RAW (1ull << CAP_NET_RAW)

static const struct privs_want want = { .uid = 998, .gid = 997, .caps = ADMIN, .bounding = ADMIN };

/* A clean drop to 998:997 with CAP_NET_ADMIN. */
static struct privs_seen clean(void)
{
	return (struct privs_seen){ .ruid = 998, .euid = 998, .suid = 998, .rgid = 997, .egid = 997,
				    .sgid = 997, .eff = ADMIN, .prm = ADMIN, .bnd = ADMIN,
				    .no_new_privs = 1, .dumpable = 0 };
}

static int check(const struct privs_seen *s, char *err)
{
	return privs_check(s, &want, err, 256);
}

TEST(privs_check_names_every_difference)
{
	char err[256] = "";
	struct privs_seen s = clean();

	CHECK_EQ(check(&s, err), 0);
	/* Half a drop: the group changed, the saved user ID is still root. */
	s.suid = 0;
	CHECK_EQ(check(&s, err), -1);
	CHECK(strstr(err, "user IDs are 998/998/0") != NULL);
	s = clean();
	s.egid = 0;
	CHECK_EQ(check(&s, err), -1);
	CHECK(strstr(err, "group IDs are 997/0/997") != NULL);
	s = clean();
	s.ngroups = 2;
	CHECK_EQ(check(&s, err), -1);
	CHECK(strstr(err, "2 supplementary groups") != NULL);
	s = clean();
	s.prm = ADMIN | RAW;
	CHECK_EQ(check(&s, err), -1);
	CHECK(strstr(err, "permitted") != NULL);
	s = clean();
	s.eff = 0;	/* fewer is wrong too: the daemon needs CAP_NET_ADMIN */
	CHECK_EQ(check(&s, err), -1);
	s = clean();
	s.amb = ADMIN;
	CHECK_EQ(check(&s, err), -1);
	CHECK(strstr(err, "ambient") != NULL);
	s = clean();
	s.inh = RAW;
	CHECK_EQ(check(&s, err), -1);
	CHECK(strstr(err, "inheritable") != NULL);
	s = clean();
	s.bnd = ADMIN | (1ull << CAP_SYS_ADMIN);
	CHECK_EQ(check(&s, err), -1);
	CHECK(strstr(err, "bounding set") != NULL);
	s = clean();
	s.no_new_privs = 0;
	CHECK_EQ(check(&s, err), -1);
	CHECK(strstr(err, "no_new_privs") != NULL);
	s = clean();
	s.dumpable = 1;
	CHECK_EQ(check(&s, err), -1);
	CHECK(strstr(err, "dumpable") != NULL);
	/* A bounding set smaller than allowed is fine. */
	s = clean();
	s.bnd = 0;
	CHECK_EQ(check(&s, err), 0);
}

/* What the kernel says of this test process: its own IDs, and a
 * permitted set the effective one is inside. */
TEST(privs_read_this_process)
{
	struct privs_seen s;

	CHECK_EQ(privs_read(&s), 0);
	CHECK_EQ(s.ruid, getuid());
	CHECK_EQ(s.euid, geteuid());
	CHECK_EQ(s.rgid, getgid());
	CHECK_EQ(s.eff & ~s.prm, 0);
	CHECK(s.dumpable == 1 || s.dumpable == 0);
	if (geteuid() == 0)
		CHECK(s.bnd & ADMIN);
}
