/* libcurl's multi socket interface on the daemon's epoll (see http.h). */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <curl/curl.h>

#include "util.h"

/* Sockets libcurl gave us to watch: few (one or two connections). */
#define HTTP_MAX_FDS 16

struct req {
	struct http *h;
	struct req *next, *prev;	/* requests in flight */
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	size_t got, max;
	bool too_large, stopped;
	http_body_fn on_body;
	http_done_fn done;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
};

/* A file read once, at start (before the privileges go): libcurl would
 * read the CA, the certificate and its key at every TLS handshake. */
struct blob {
	char *data;
	size_t len;
};

#define BLOB_MAX (1u << 20)

struct http {
	CURLM *multi;
	int epfd, timerfd;
	int fds[HTTP_MAX_FDS];
	size_t nfds;
	struct req *reqs;	/* in flight */
	struct blob ca, cert, key;
};

static void req_unlink(struct http *h, struct req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

static void req_free(struct req *r)
{
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r);
}

static bool ours(const struct http *h, int fd)
{
	for (size_t i = 0; i < h->nfds; i++)
		if (h->fds[i] == fd)
			return true;
	return false;
}

/* The signature is libcurl's (CURLMOPT_SOCKETFUNCTION). */
// cppcheck-suppress constParameter
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	struct epoll_event ev = { .data.fd = s };

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		for (size_t i = 0; i < h->nfds; i++)
			if (h->fds[i] == s) {
				h->fds[i] = h->fds[--h->nfds];
				break;
			}
		/* The socket may be closed already: ENOENT or EBADF is fine. */
		(void)epoll_ctl(h->epfd, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
	if (socketp) {
		if (epoll_ctl(h->epfd, EPOLL_CTL_MOD, s, &ev) < 0)
			return -1;
		return 0;
	}
	if (h->nfds == HTTP_MAX_FDS || epoll_ctl(h->epfd, EPOLL_CTL_ADD, s, &ev) < 0)
		return -1;
	h->fds[h->nfds++] = s;
	curl_multi_assign(h->multi, s, h);	/* known from now on */
	return 0;
}

static int on_timer(CURLM *multi, long ms, void *userp)
{
	struct http *h = userp;
	struct itimerspec its = { 0 };

	(void)multi;
	if (ms >= 0) {
		/* 0 means at once: the timer must still fire, after this call. */
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = ms ? (ms % 1000) * 1000000 : 1;
	}
	return timerfd_settime(h->timerfd, 0, &its, NULL) < 0 ? -1 : 0;
}

static void finish(struct http *h)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left))) {
		struct req *r = NULL;
		long status = 0;
		const char *why;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		why = r->too_large ? "answer too large" : r->stopped ? "answer refused" :
		      r->errbuf[0] ? r->errbuf : curl_easy_strerror(m->data.result);
		if (m->data.result == CURLE_OK)
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(h->multi, m->easy_handle);
		req_unlink(h, r);
		r->done(r->arg, status, m->data.result == CURLE_OK ? NULL : why);
		req_free(r);
	}
}

bool http_event(struct http *h, int fd, uint32_t events)
{
	int running, flags = 0;

	if (!h)
		return false;
	if (fd == h->timerfd) {
		uint64_t ticks;

		if (read(h->timerfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
			return true;
		curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		finish(h);
		return true;
	}
	if (!ours(h, fd))
		return false;
	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(h->multi, fd, flags, &running);
	finish(h);
	return true;
}

static size_t on_write(char *data, size_t size, size_t n, void *userp)
{
	struct req *r = userp;
	size_t len = size * n;

	if (r->got + len > r->max) {
		r->too_large = true;
		return 0;	/* CURLE_WRITE_ERROR */
	}
	r->got += len;
	if (r->on_body && r->on_body(r->arg, data, len) < 0) {
		r->stopped = true;
		return 0;
	}
	return len;
}

int http_request(struct http *h, const char *method, const char *url, const char *const *headers,
		 const char *body, size_t body_len, size_t max_body, long timeout_ms, http_body_fn on_body,
		 http_done_fn done, void *arg)
{
	struct req *r = xcalloc(1, sizeof(*r));
	CURL *e = curl_easy_init();

	if (!e) {
		free(r);
		return -1;
	}
	r->h = h;
	r->easy = e;
	r->max = max_body;
	r->on_body = on_body;
	r->done = done;
	r->arg = arg;
	for (size_t i = 0; headers && headers[i]; i++)
		r->headers = curl_slist_append(r->headers, headers[i]);
	if (body) {
		r->body = xcalloc(1, body_len + 1);
		memcpy(r->body, body, body_len);
		r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
	}
	/* No "Expect: 100-continue" round trip on POSTs. */
	r->headers = curl_slist_append(r->headers, "Expect:");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 3000 ? timeout_ms : 3000L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "rcptguard/" RCPTGUARD_VERSION);
	if (h->ca.data) {
		struct curl_blob ca = { .data = h->ca.data, .len = h->ca.len, .flags = CURL_BLOB_NOCOPY };

		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
	}
	if (h->cert.data) {
		struct curl_blob cert = { .data = h->cert.data, .len = h->cert.len, .flags = CURL_BLOB_NOCOPY };
		struct curl_blob key = { .data = h->key.data, .len = h->key.len, .flags = CURL_BLOB_NOCOPY };

		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert);
		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key);
	}
	if (!strcmp(method, "POST")) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)body_len);
	} else if (strcmp(method, "GET")) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	}
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		curl_slist_free_all(r->headers);
		free(r->body);
		free(r);
		return -1;
	}
	r->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = r;
	h->reqs = r;
	return 0;
}

static int slurp(const char *path, bool secret, struct blob *b, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	struct stat sb;
	size_t n;

	if (!f) {
		snprintf(err, errlen, "crowdsec: cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &sb) < 0 || sb.st_size <= 0 || sb.st_size > BLOB_MAX) {
		snprintf(err, errlen, "crowdsec: %s: not a certificate file (%lld bytes)", path,
			 (long long)sb.st_size);
		fclose(f);
		return -1;
	}
	if (secret && (sb.st_mode & 077)) {
		snprintf(err, errlen, "crowdsec: %s is readable by others (mode %03o): chmod 600 it", path,
			 (unsigned)(sb.st_mode & 0777));
		fclose(f);
		return -1;
	}
	b->data = xcalloc(1, (size_t)sb.st_size + 1);
	n = fread(b->data, 1, (size_t)sb.st_size, f);
	fclose(f);
	b->len = n;
	if (n != (size_t)sb.st_size) {
		snprintf(err, errlen, "crowdsec: cannot read %s", path);
		return -1;
	}
	return 0;
}

static void blob_free(struct blob *b, bool secret)
{
	if (b->data && secret)
		explicit_bzero(b->data, b->len);
	free(b->data);
	b->data = NULL;
}

static void blobs_free(struct http *h)
{
	blob_free(&h->ca, false);
	blob_free(&h->cert, false);
	blob_free(&h->key, true);
}

struct http *http_new(int epfd, const struct http_tls *tls, char *err, size_t errlen)
{
	struct http *h = xcalloc(1, sizeof(*h));
	struct epoll_event ev = { .events = EPOLLIN };

	if (tls && ((tls->ca_file && slurp(tls->ca_file, false, &h->ca, err, errlen) < 0) ||
		    (tls->cert_file && slurp(tls->cert_file, false, &h->cert, err, errlen) < 0) ||
		    (tls->cert_file && slurp(tls->key_file ? tls->key_file : tls->cert_file, true, &h->key,
					     err, errlen) < 0))) {
		blobs_free(h);
		free(h);
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		snprintf(err, errlen, "libcurl: cannot initialize");
		blobs_free(h);
		free(h);
		return NULL;
	}
	h->epfd = epfd;
	h->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	h->multi = curl_multi_init();
	ev.data.fd = h->timerfd;
	if (h->timerfd < 0 || !h->multi || epoll_ctl(epfd, EPOLL_CTL_ADD, h->timerfd, &ev) < 0) {
		snprintf(err, errlen, "http: cannot set up: %s", strerror(errno));
		if (h->multi)
			curl_multi_cleanup(h->multi);
		if (h->timerfd >= 0)
			close(h->timerfd);
		blobs_free(h);
		free(h);
		return NULL;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	/* One keep-alive connection to LAPI is all we need. */
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 2L);
	return h;
}

void http_free(struct http *h)
{
	if (!h)
		return;
	/* Unfinished requests end here, without their callbacks. */
	while (h->reqs) {
		struct req *r = h->reqs;

		h->reqs = r->next;
		curl_multi_remove_handle(h->multi, r->easy);
		req_free(r);
	}
	curl_multi_cleanup(h->multi);
	close(h->timerfd);
	blobs_free(h);
	free(h);
	curl_global_cleanup();
}
