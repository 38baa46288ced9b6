/* Least privilege: once its sockets and ruleset are open, the daemon runs
 * as an unprivileged user with only the capabilities it still uses:
 *
 *   CAP_NET_ADMIN  every nfnetlink message (queue verdicts, set elements,
 *                  re-installing a flushed table) and SOCK_DESTROY;
 *   CAP_NET_RAW    kept with capture = pcap (the socket is open already;
 *                  kept so that a re-open after an interface change works).
 *
 * Every other capability leaves the bounding set too, no_new_privs is set
 * (nothing the process could execute would get any back), and the
 * process is not dumpable (the user it runs as cannot ptrace it to borrow
 * its CAP_NET_ADMIN, nor read its memory through /proc).
 *
 * A drop is checked after it is done, from what the kernel says, and any
 * difference is fatal: a daemon that meant to drop and did not must not
 * parse Internet traffic as root. */
#ifndef RCPTGUARD_PRIVS_H
#define RCPTGUARD_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What a drop must leave. */
struct privs_want {
	uid_t uid;
	gid_t gid;
	uint64_t caps;		/* effective and permitted, exactly */
	uint64_t bounding;	/* the bounding set may hold no more than this */
};

/* What the kernel says of this process. */
struct privs_seen {
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	int ngroups;		/* supplementary groups other than gid */
	uint64_t eff, prm, inh, bnd, amb;
	int no_new_privs, dumpable;
};

/* Drop to user, keeping CAP_NET_ADMIN (and CAP_NET_RAW with keep_raw),
 * then check. 0, or -1 with the cause in err. Not for user "root". */
int privs_drop(const char *user, bool keep_raw, char *err, size_t errlen);

/* The process's IDs and capability sets now. 0, or -1 with errno. */
int privs_read(struct privs_seen *s);
/* Does s hold exactly what w asks? 0, or -1 with the first difference,
 * named, in err. */
int privs_check(const struct privs_seen *s, const struct privs_want *w, char *err, size_t errlen);

#endif
