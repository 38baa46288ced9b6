#define _GNU_SOURCE
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "util.h"

struct client {
	int fd;			/* -1: slot free */
	time_t since;		/* monotonic seconds at accept */
	char req[CTL_MAX_REQUEST];
	size_t reqlen;
	char *out;		/* reply being written */
	size_t outlen, outoff;
};

struct ctl_server {
	int fd, epfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	ctl_handler handler;
	void *arg;
	struct client c[CTL_MAX_CLIENTS];
	struct ctl_stats st;
};

struct ctl_server *ctl_open(const char *path, int epfd, ctl_handler h, void *arg, char *err,
			    size_t errlen)
{
	struct ctl_server *s = xcalloc(1, sizeof(*s));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };
	char *copy;

	s->fd = -1;
	s->epfd = epfd;
	s->handler = h;
	s->arg = arg;
	for (size_t i = 0; i < CTL_MAX_CLIENTS; i++)
		s->c[i].fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		goto fail;
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	copy = strdup(path);
	if (copy) {
		/* /run/rcptguard: root's, readable by all, like /run/sshd. */
		if (mkdir(dirname(copy), 0755) < 0 && errno != EEXIST)
			logmsg(LOG_WARNING, "cannot make the directory of %s: %s", path, strerror(errno));
		free(copy);
	}
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		goto fail;
	}
	/* A socket left by a killed daemon: take its place, unless one is
	 * still answering there. */
	{
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			snprintf(err, errlen, "%s: another rcptguard is running there", path);
			goto fail;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
	    listen(s->fd, 16) < 0) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		goto fail;
	}
	ev.data.fd = s->fd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		snprintf(err, errlen, "control socket: epoll: %s", strerror(errno));
		goto fail;
	}
	return s;
fail:
	if (s->fd >= 0)
		close(s->fd);
	free(s);
	return NULL;
}

static void drop(struct client *c)
{
	/* close() drops it from the epoll set as well. */
	close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void accept_all(struct ctl_server *s)
{
	for (;;) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		struct client *c = NULL;

		if (fd < 0)
			return;
		for (size_t i = 0; i < CTL_MAX_CLIENTS; i++)
			if (s->c[i].fd < 0) {
				c = &s->c[i];
				break;
			}
		if (!c) {
			static const char busy[] = "ERR\ntoo many control clients; try again\n";

			if (write(fd, busy, sizeof(busy) - 1) < 0) {
				/* Nothing to do: the client goes either way. */
			}
			close(fd);
			s->st.dropped++;
			continue;
		}
		ev.data.fd = fd;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->since = (time_t)clock_mono_sec();
	}
}

/* Write what the socket takes now; the rest when it is writable again. */
static void flush_out(struct ctl_server *s, struct client *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				struct epoll_event ev = { .events = EPOLLOUT, .data.fd = c->fd };

				/* Without EPOLLOUT the rest would never go: drop it. */
				if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
					break;
				return;
			}
			break;
		}
		c->outoff += (size_t)n;
	}
	drop(c);
}

static void reply(struct ctl_server *s, struct client *c, int rc, const char *body, size_t len)
{
	FILE *m = open_memstream(&c->out, &c->outlen);

	if (!m) {
		drop(c);
		return;
	}
	fputs(rc == 0 ? "OK\n" : "ERR\n", m);
	fwrite(body, 1, len, m);
	fclose(m);
	c->outoff = 0;
	flush_out(s, c);
}

static bool request_ok(const char *r)
{
	for (; *r; r++)
		if ((unsigned char)*r < 0x20 || (unsigned char)*r > 0x7e)
			return false;
	return true;
}

static void serve(struct ctl_server *s, struct client *c)
{
	char *nl;
	char *body = NULL;
	size_t len = 0;
	FILE *m;
	int rc;

	nl = memchr(c->req, '\n', c->reqlen);
	*nl = 0;
	if (nl > c->req && nl[-1] == '\r')
		nl[-1] = 0;
	s->st.requests++;
	if (!request_ok(c->req)) {
		static const char bad[] = "the request must be one line of printable ASCII\n";

		s->st.errors++;
		reply(s, c, 1, bad, sizeof(bad) - 1);
		return;
	}
	m = open_memstream(&body, &len);
	if (!m) {
		drop(c);
		return;
	}
	rc = s->handler(s->arg, c->req, m);
	fclose(m);
	if (rc)
		s->st.errors++;
	reply(s, c, rc, body, len);
	free(body);
}

static void readable(struct ctl_server *s, struct client *c)
{
	for (;;) {
		ssize_t n;

		if (c->reqlen == sizeof(c->req)) {
			static const char big[] = "request too long (at most 1024 bytes)\n";

			s->st.errors++;
			reply(s, c, 1, big, sizeof(big) - 1);
			return;
		}
		n = read(c->fd, c->req + c->reqlen, sizeof(c->req) - c->reqlen);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			drop(c);	/* gone before a whole request */
			return;
		}
		c->reqlen += (size_t)n;
		if (memchr(c->req, '\n', c->reqlen)) {
			/* One request a connection: stop reading. */
			if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd,
				      &(struct epoll_event){ .events = 0, .data.fd = c->fd }) < 0) {
				s->st.errors++;
				drop(c);
				return;
			}
			serve(s, c);
			return;
		}
	}
}

bool ctl_event(struct ctl_server *s, int fd, uint32_t events)
{
	if (!s)
		return false;
	if (fd == s->fd) {
		accept_all(s);
		return true;
	}
	for (size_t i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct client *c = &s->c[i];

		if (c->fd != fd)
			continue;
		if (c->out)
			flush_out(s, c);
		else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			readable(s, c);
		return true;
	}
	return false;
}

void ctl_tick(struct ctl_server *s)
{
	time_t now = (time_t)clock_mono_sec();

	if (!s)
		return;
	for (size_t i = 0; i < CTL_MAX_CLIENTS; i++)
		if (s->c[i].fd >= 0 && now - s->c[i].since > CTL_TIMEOUT_SEC) {
			s->st.dropped++;
			drop(&s->c[i]);
		}
}

const struct ctl_stats *ctl_stats(const struct ctl_server *s)
{
	static const struct ctl_stats none;

	return s ? &s->st : &none;
}

void ctl_close(struct ctl_server *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < CTL_MAX_CLIENTS; i++)
		if (s->c[i].fd >= 0)
			drop(&s->c[i]);
	close(s->fd);
	/* May fail after the privilege drop; a stale socket is replaced at
	 * the next start. */
	unlink(s->path);
	free(s);
}
