/* The sandbox: once every socket and file the daemon needs is open and
 * its privileges are dropped, a seccomp filter allows exactly the system
 * calls of its event loop and kills the whole process on any other
 * (SECCOMP_RET_KILL_PROCESS). A parser bug that took control of the
 * process could then not execute a program, open a new kind of socket,
 * change its IDs, trace another process or load a module.
 *
 * Dying is fail-open: the kernel's queue bypass accepts packets while no
 * one reads the queue, and the service manager restarts the daemon.
 *
 * The list (sandbox.c) is what the loop uses: epoll and timers, reading
 * and writing its sockets (netlink, the capture socket, the control
 * socket, CrowdSec's LAPI through libcurl), the state file's write,
 * fsync and rename, the configuration's read on SIGHUP, memory, threads
 * (libcurl resolves names on one), signals and the log. */
#ifndef RCPTGUARD_SANDBOX_H
#define RCPTGUARD_SANDBOX_H

#include <stddef.h>

/* Install the filter. The number of system calls allowed, or -1 with
 * the cause in err. */
int sandbox_enter(char *err, size_t errlen);

/* Test hook (a hidden control command): try a call the sandbox forbids,
 * execve of a path that does not exist. Inside the sandbox the process
 * dies; outside it returns the error execve gave (ENOENT). */
int sandbox_probe(void);

#endif
