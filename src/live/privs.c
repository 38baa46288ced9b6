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

#define CAP(c) (1ull << (c))

/* capset(2) and capget(2) through syscall: no libcap for four calls. */
static int set_caps(uint64_t keep)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)keep;
	d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
	return (int)syscall(SYS_capset, &h, d);
}

int privs_read(struct privs_seen *s)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	gid_t groups[64];
	int n;

	memset(s, 0, sizeof(*s));
	memset(d, 0, sizeof(d));
	if (getresuid(&s->ruid, &s->euid, &s->suid) < 0 || getresgid(&s->rgid, &s->egid, &s->sgid) < 0 ||
	    syscall(SYS_capget, &h, d) < 0)
		return -1;
	s->eff = d[0].effective | (uint64_t)d[1].effective << 32;
	s->prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	s->inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	for (int cap = 0; cap < 64; cap++) {
		int b = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		int a = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);

		if (b < 0 && a < 0)
			break;	/* past the kernel's last capability */
		if (b > 0)
			s->bnd |= CAP(cap);
		if (a > 0)
			s->amb |= CAP(cap);
	}
	n = getgroups((int)(sizeof(groups) / sizeof(groups[0])), groups);
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++)
		s->ngroups += groups[i] != s->rgid;
	s->no_new_privs = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	s->dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	return 0;
}

int privs_check(const struct privs_seen *s, const struct privs_want *w, char *err, size_t errlen)
{
	if (s->ruid != w->uid || s->euid != w->uid || s->suid != w->uid)
		snprintf(err, errlen, "user IDs are %u/%u/%u (real/effective/saved), not %u", (unsigned)s->ruid,
			 (unsigned)s->euid, (unsigned)s->suid, (unsigned)w->uid);
	else if (s->rgid != w->gid || s->egid != w->gid || s->sgid != w->gid)
		snprintf(err, errlen, "group IDs are %u/%u/%u (real/effective/saved), not %u", (unsigned)s->rgid,
			 (unsigned)s->egid, (unsigned)s->sgid, (unsigned)w->gid);
	else if (s->ngroups)
		snprintf(err, errlen, "%d supplementary group%s left", s->ngroups, s->ngroups == 1 ? "" : "s");
	else if (s->eff != w->caps || s->prm != w->caps)
		snprintf(err, errlen, "capabilities are %#llx effective, %#llx permitted, not %#llx",
			 (unsigned long long)s->eff, (unsigned long long)s->prm, (unsigned long long)w->caps);
	else if (s->inh || s->amb)
		snprintf(err, errlen, "capabilities left to inherit: %#llx inheritable, %#llx ambient",
			 (unsigned long long)s->inh, (unsigned long long)s->amb);
	else if (s->bnd & ~w->bounding)
		snprintf(err, errlen, "bounding set %#llx holds more than %#llx", (unsigned long long)s->bnd,
			 (unsigned long long)w->bounding);
	else if (s->no_new_privs != 1)
		snprintf(err, errlen, "no_new_privs is not set");
	else if (s->dumpable != 0)
		snprintf(err, errlen, "the process is still dumpable");
	else
		return 0;
	return -1;
}

static int fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(errno));
	return -1;
}

int privs_drop(const char *user, bool keep_raw, char *err, size_t errlen)
{
	uint64_t keep = CAP(CAP_NET_ADMIN) | (keep_raw ? CAP(CAP_NET_RAW) : 0);
	struct privs_want w = { .caps = keep, .bounding = keep };
	struct privs_seen s;
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		snprintf(err, errlen, "no user '%s'%s%s", user, errno ? ": " : "", errno ? strerror(errno) : "");
		return -1;
	}
	w.uid = pw->pw_uid;
	w.gid = pw->pw_gid;
	if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid) {
		/* Started as that user already (systemd's User= with ambient
		 * capabilities): the service manager set the bounding set
		 * (the unit's CapabilityBoundingSet, both network
		 * capabilities); only narrow what this process holds. */
		w.bounding = CAP(CAP_NET_ADMIN) | CAP(CAP_NET_RAW);
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
			return fail(err, errlen, "cannot clear the ambient capabilities");
	} else {
		/* The bounding set first: dropping from it needs CAP_SETPCAP. */
		for (int cap = 0; cap < 64; cap++) {
			if (keep & CAP(cap))
				continue;
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
				return fail(err, errlen, "cannot drop from the bounding set");
		}
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			return fail(err, errlen, "cannot keep capabilities across setuid");
		if (setgroups(0, NULL) < 0)
			return fail(err, errlen, "cannot drop the supplementary groups");
		if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0)
			return fail(err, errlen, "cannot set the group IDs");
		/* A failure from here on leaves the group changed and the user
		 * not: the caller stops, as for any other. */
		if (setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
			return fail(err, errlen, "group IDs changed, but cannot set the user IDs");
		if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
			return fail(err, errlen, "cannot clear keepcaps");
	}
	if (set_caps(keep) < 0)
		return fail(err, errlen, "cannot set the capabilities");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail(err, errlen, "cannot set no_new_privs");
	/* setuid cleared the dumpable flag already; a start as the user did
	 * not. Either way: no core files, no ptrace by that user. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return fail(err, errlen, "cannot clear the dumpable flag");
	if (privs_read(&s) < 0)
		return fail(err, errlen, "cannot read back the privileges");
	/* Started as the user, its groups are those the service manager
	 * gave it (its lines in /etc/group): the administrator's choice. */
	if (w.bounding != keep)
		s.ngroups = 0;
	if (privs_check(&s, &w, err, errlen) < 0)
		return -1;
	return 0;
}
