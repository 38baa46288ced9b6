/* The client side of the control socket: `rcptguard status`, `bans`, ...
 * The protocol is in ctl.h. */
#define _GNU_SOURCE
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"

int ctl_request(const char *path, const char *request, FILE *out, FILE *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[65536];
	size_t got = 0, rlen = strlen(request);
	bool header = true, ok = false;
	int fd;
	time_t deadline = (time_t)clock_mono_sec() + (time_t)2 * CTL_TIMEOUT_SEC;

	if (strlen(path) >= sizeof(sa.sun_path) || rlen + 1 > CTL_MAX_REQUEST) {
		fprintf(err, "rcptguard: request or socket path too long\n");
		return CTL_EXIT_USAGE;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		if (e == ENOENT || e == ECONNREFUSED)
			fprintf(err, "rcptguard: the daemon is not running (nothing listens on %s)\n", path);
		else
			fprintf(err, "rcptguard: cannot reach the daemon at %s: %s%s\n", path, strerror(e),
				e == EACCES ? " (the control socket is root's)" : "");
		return CTL_EXIT_NOT_RUNNING;
	}
	if (write(fd, request, rlen) != (ssize_t)rlen || write(fd, "\n", 1) != 1) {
		fprintf(err, "rcptguard: cannot send to the daemon: %s\n", strerror(errno));
		close(fd);
		return CTL_EXIT_PROTOCOL;
	}
	/* Never a hang: a daemon that stops answering is given up on. */
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		time_t left = deadline - (time_t)clock_mono_sec();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left * 1000) <= 0) {
			fprintf(err, "rcptguard: no answer from the daemon in %d s\n", 2 * CTL_TIMEOUT_SEC);
			close(fd);
			return CTL_EXIT_PROTOCOL;
		}
		n = read(fd, buf + got, sizeof(buf) - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (header) {
			char *nl = memchr(buf, '\n', got);

			if (!nl) {
				if (got == sizeof(buf))
					break;
				continue;
			}
			*nl = 0;
			if (strcmp(buf, "OK") && strcmp(buf, "ERR"))
				break;
			ok = !strcmp(buf, "OK");
			header = false;
			got -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, got);
		}
		fwrite(buf, 1, got, ok ? out : err);
		got = 0;
	}
	close(fd);
	if (header) {
		fprintf(err, "rcptguard: garbled answer from the daemon\n");
		return CTL_EXIT_PROTOCOL;
	}
	return ok ? CTL_EXIT_OK : CTL_EXIT_REFUSED;
}
