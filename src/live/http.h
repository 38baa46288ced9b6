/* HTTP requests on the daemon's own epoll loop (libcurl's multi socket
 * interface): never blocking, keep-alive, a timeout and a size cap on
 * every answer, http and https only. The answer's body is handed over as
 * it arrives, so a 16 MB stream needs no 16 MB buffer. */
#ifndef RCPTGUARD_HTTP_H
#define RCPTGUARD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http;

/* Files read by http_new, before any privilege is dropped. */
struct http_tls {
	const char *ca_file;		/* verify the server against it; NULL: the system's */
	const char *cert_file, *key_file;	/* a client certificate, or NULL */
};

/* The body as it arrives: return 0, or -1 to stop the transfer. */
typedef int (*http_body_fn)(void *arg, const void *data, size_t len);
/* The end: status is the HTTP code, or 0 when the transfer failed (err
 * says why: refused, timeout, too large, the body callback stopped it). */
typedef void (*http_done_fn)(void *arg, long status, const char *err);

struct http *http_new(int epfd, const struct http_tls *tls, char *err, size_t errlen);
void http_free(struct http *h);

/* A request: method GET, POST or DELETE; headers NULL-terminated, or
 * NULL; body may be NULL. max_body caps the answer (bytes). 0, or -1. */
int http_request(struct http *h, const char *method, const char *url, const char *const *headers,
		 const char *body, size_t body_len, size_t max_body, long timeout_ms, http_body_fn on_body,
		 http_done_fn done, void *arg);
/* A descriptor from epoll: if it is one of ours, handle it, return true. */
bool http_event(struct http *h, int fd, uint32_t events);

#endif
