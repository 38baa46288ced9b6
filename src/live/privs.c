#define _GNU_SOURCE
#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* capset(2) through syscall: no libcap needed for three calls. */
static int set_caps(uint64_t keep)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)keep;
	d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
	return (int)syscall(SYS_capset, &h, d);
}

int privs_drop(const char *user, bool keep_raw, char *err, size_t errlen)
{
	uint64_t keep = (1ull << CAP_NET_ADMIN) | (keep_raw ? 1ull << CAP_NET_RAW : 0);
	struct passwd *pw;

	if (!strcmp(user, "root"))
		return 0;
	pw = getpwnam(user);
	if (!pw) {
		snprintf(err, errlen, "no user '%s' (the package creates it; or set user = root)", user);
		return -1;
	}
	/* Started as that user already (systemd's User= with ambient
	 * capabilities): only narrow the capabilities; the service manager
	 * set the bounding set. */
	if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid) {
		for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
			if (!(keep & (1ull << cap)))
				prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);	/* EPERM without SETPCAP: fine */
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 || set_caps(keep) < 0 ||
		    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
			snprintf(err, errlen, "cannot set capabilities: %s", strerror(errno));
			return -1;
		}
		return 0;
	}
	/* The bounding set first: dropping from it needs CAP_SETPCAP. */
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
		if (keep & (1ull << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
			snprintf(err, errlen, "cannot drop capability %d: %s", cap, strerror(errno));
			return -1;
		}
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
		snprintf(err, errlen, "cannot become %s: %s", user, strerror(errno));
		return -1;
	}
	if (set_caps(keep) < 0 || prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "cannot set capabilities: %s", strerror(errno));
		return -1;
	}
	/* setuid cleared the dumpable flag; a core file of a daemon that read
	 * nothing secret is more useful than harmful, but stay safe. */
	return 0;
}
