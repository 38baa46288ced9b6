#include "sandbox.h"

#include <errno.h>
#include <stdbool.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* The event loop's system calls, by what uses them. A name this
 * architecture lacks is skipped (some are aliases of others). */
static const char *const allowed[] = {
	/* epoll, the timer, signals by signalfd (and the handlers libc
	 * and libcurl keep) */
	"epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl", "poll", "ppoll",
	"timerfd_settime", "timerfd_gettime", "clock_gettime", "clock_nanosleep", "nanosleep",
	"gettimeofday", "time",
	"rt_sigreturn", "rt_sigprocmask", "rt_sigaction", "restart_syscall",
	/* sockets: netlink (queue, nftables, its monitor, inet_diag),
	 * the capture, the control socket, the log, the LAPI */
	"read", "readv", "write", "writev", "recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg",
	"sendmmsg", "accept4", "connect", "bind", "shutdown", "getsockopt", "setsockopt",
	"getsockname", "getpeername", "socketpair", "pipe2", "eventfd2",
	/* files: the state file (write a temporary, fsync, rename), the
	 * configuration and allowlist files (SIGHUP), the metrics file,
	 * the resolver's files (libcurl, a LAPI by name) */
	"openat", "close", "fstat", "newfstatat", "statx", "lseek", "pread64", "fsync", "fdatasync",
	"rename", "renameat", "renameat2", "unlink", "unlinkat", "mkdir", "mkdirat", "fchmod", "ftruncate", "fcntl", "ioctl",
	"access", "faccessat", "faccessat2", "readlink", "getdents64",
	/* memory */
	"brk", "munmap", "mremap", "madvise",
	/* threads (libcurl's resolver), futexes, the process's own ids */
	"clone", "clone3", "set_robust_list", "rseq", "futex", "sched_yield", "exit", "exit_group",
	"getpid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getrandom", "uname",
	"prlimit64", "sysinfo",
	/* abort() on a failed assertion: a SIGABRT, not a SIGSYS */
	"tgkill",
};

static int allow(scmp_filter_ctx ctx, const char *name, int *n)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0;
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) < 0)
		return -1;
	(*n)++;
	return 0;
}

int sandbox_enter(char *err, size_t errlen)
{
	static const int families[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK };
	/* A build with -DRCPTGUARD_SANDBOX_AUDIT logs (the kernel's audit,
	 * in dmesg) instead of killing: how a developer finds a call the list
	 * lacks, by running the test suite. Never a run-time choice. */
#ifdef RCPTGUARD_SANDBOX_AUDIT
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_LOG);
	const bool audit = true;
#else
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	const bool audit = false;
#endif
	int n = 0, rc;

	if (!ctx) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (allow(ctx, allowed[i], &n) < 0) {
			snprintf(err, errlen, "cannot allow %s", allowed[i]);
			seccomp_release(ctx);
			return -1;
		}
	/* New sockets of the families it uses only: no packet socket, no
	 * other kind of netlink's sibling. */
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, families[i])) < 0) {
			snprintf(err, errlen, "cannot allow socket");
			seccomp_release(ctx);
			return -1;
		}
	n++;
	/* Memory, never executable: no code the process did not start
	 * with. Asking for it fails (EPERM), it does not kill: a library
	 * that tries to load a module goes on without it. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
			     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0 ||
	    (!audit && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mmap), 1,
					SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)) < 0) ||
	    (!audit && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mprotect), 1,
					SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)) < 0)) {
		snprintf(err, errlen, "cannot allow mmap and mprotect");
		seccomp_release(ctx);
		return -1;
	}
	n += 2;
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0) {
		snprintf(err, errlen, "cannot load the seccomp filter: %s", strerror(-rc));
		return -1;
	}
	return n;
}

int sandbox_probe(void)
{
	static char path[] = "/nonexistent/rcptguard-sandbox-probe";
	char *argv[] = { path, NULL }, *envp[] = { NULL };

	execve(path, argv, envp);
	return errno;
}
