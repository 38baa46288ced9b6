/* smtpc: the lab's SMTP client. It plays the harvester (RCPT probes from a
 * dictionary, pipelined or not, reconnecting after each session) and the
 * legitimate sender (whole messages). Every wait is bounded.
 *
 *   smtpc -s ADDR [-p PORT] [-b BIND] harvest -n PROBES [-o FIRST] [-k PER_SESSION] [-P [-W] | -R] [-g GIVEUP]
 *   smtpc -s ADDR [-p PORT] [-b BIND] deliver -n MESSAGES [-z BODY_BYTES] [-t RCPT]
 *   smtpc -s ADDR [-p PORT] [-b BIND] list -n RECIPIENTS -u PERCENT_GONE
 *
 * -S MODE says STARTTLS after EHLO (and EHLO again), forcing the TLS the
 * tests need: tls13, gcm (TLS 1.2 AES-GCM), cbc (TLS 1.2 AES-CBC, with
 * encrypt-then-MAC where the server has it) or cbc-mte (without).
 * -I with -S: TLS from the first byte instead (port 465), no STARTTLS.
 * SSLKEYLOGFILE, when set, gets the session keys (for tshark).
 *
 * list plays a mailing-list server: one message to n subscribers in one
 * pipelined transaction, a given share of them gone (spread evenly, one
 * among the first few); the others are alice+subN, bob+subN, carol+subN,
 * which the lab's Postfix takes (recipient_delimiter = +).
 *
 * It prints one summary line of key=value pairs. */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static const char *server = NULL, *bind_addr = NULL, *domain = "example.org";
static int port = 25, timeout_ms = 5000;

static struct {
	long sessions, tls, connect_failed, timeouts, probes, rejected, accepted, other;
	long delivered, failed;
	char harvested[4096];
} st;

/* Connect times (SYN to SYN-ACK, through whatever sits on the path). */
static double *lat_us;
static size_t nlat, caplat;
static bool want_lat;

static double mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Common names and role accounts; more are made up as name<N>. */
static const char *const dict[] = {
	"admin", "info", "sales", "support", "office", "contact", "webmaster",
	"alice", "billing", "hr", "jobs", "marketing", "bob", "news", "abuse",
	"root", "test", "mail", "john", "mary", "james", "carol", "linda",
	"michael", "susan", "david", "karen", "robert", "lisa", "william",
	"nancy", "richard", "betty", "thomas", "helen", "charles", "sandra",
	"daniel", "donna", "paul", "ruth", "mark", "sharon", "george", "laura",
	"steven", "sarah", "kevin", "kim", "brian", "deborah", "edward", "jessica",
	"ronald", "shirley", "anthony", "cynthia", "jason", "angela", "matthew",
	"melissa", "gary", "brenda", "timothy", "amy", "jose", "anna", "larry",
	"rebecca", "jeffrey", "virginia", "frank", "kathleen", "scott", "pamela",
	"eric", "martha", "stephen", "debra", "andrew", "amanda", "raymond",
	"stephanie", "gregory", "carolyn", "joshua", "christine", "jerry", "marie",
	"dennis", "janet", "walter", "catherine", "patrick", "frances", "peter",
	"ann", "harold", "joyce", "douglas", "diane", "henry", "alice2", "carl",
	"julie", "arthur", "heather", "ryan", "teresa", "roger", "doris", "joe",
	"gloria", "juan", "evelyn", "jack", "jean", "albert", "cheryl", "jonathan",
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* harvest -o: the first guess (another bot of one net guesses on). */
static long probe_base;

static void probe_name(long i, char *buf, size_t len)
{
	size_t n = sizeof(dict) / sizeof(dict[0]);

	i += probe_base;
	if ((size_t)i < n)
		snprintf(buf, len, "%s", dict[i]);
	else
		snprintf(buf, len, "%s%ld", dict[(size_t)i % n], (long)((size_t)i / n));
}

struct conn {
	int fd;
	SSL *ssl;		/* after STARTTLS */
	char buf[65536];
	size_t len;
	bool pipelining, starttls;
};

static const char *tls_mode;
static SSL_CTX *tls_ctx;

static void keylog(const SSL *ssl, const char *line)
{
	const char *path = getenv("SSLKEYLOGFILE");
	FILE *f = path ? fopen(path, "a") : NULL;

	(void)ssl;
	if (f) {
		fprintf(f, "%s\n", line);
		fclose(f);
	}
}

static void tls_setup(void)
{
	long opts = 0;

	tls_ctx = SSL_CTX_new(TLS_client_method());
	if (!tls_ctx)
		exit(2);
	SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);	/* the lab's self-signed one */
	SSL_CTX_set_keylog_callback(tls_ctx, keylog);
	if (!strcmp(tls_mode, "tls13")) {
		SSL_CTX_set_min_proto_version(tls_ctx, TLS1_3_VERSION);
	} else {
		const char *ciphers = !strcmp(tls_mode, "gcm") ? "ECDHE-RSA-AES128-GCM-SHA256:AES128-GCM-SHA256" :
				      "ECDHE-RSA-AES128-SHA:AES128-SHA";

		if (strcmp(tls_mode, "gcm") && strcmp(tls_mode, "cbc") && strcmp(tls_mode, "cbc-mte")) {
			fprintf(stderr, "smtpc: -S tls13|gcm|cbc|cbc-mte\n");
			exit(2);
		}
		SSL_CTX_set_max_proto_version(tls_ctx, TLS1_2_VERSION);
		if (!SSL_CTX_set_cipher_list(tls_ctx, ciphers))
			exit(2);
		if (!strcmp(tls_mode, "cbc-mte"))
			opts |= SSL_OP_NO_ENCRYPT_THEN_MAC;
	}
	SSL_CTX_set_options(tls_ctx, (uint64_t)opts | SSL_OP_NO_TICKET);
}

/* Wait for what an SSL call needs; false at the deadline. */
static bool tls_wait(struct conn *c, int rc, int64_t deadline)
{
	int e = SSL_get_error(c->ssl, rc);
	struct pollfd pfd = { .fd = c->fd, .events = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN };
	int left = (int)(deadline - now_ms());

	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
		return false;
	return left > 0 && poll(&pfd, 1, left) == 1;
}

static void conn_drop(struct conn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	close(c->fd);
}

static ssize_t io_send(struct conn *c, const char *s, size_t n)
{
	int r;

	if (!c->ssl)
		return send(c->fd, s, n, MSG_NOSIGNAL);
	r = SSL_write(c->ssl, s, (int)n);
	if (r > 0)
		return r;
	errno = EAGAIN;
	return SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_WRITE || SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ ? -1 : -2;
}

static int sock_connect(struct conn *c)
{
	struct sockaddr_storage ss = { 0 }, bs = { 0 };
	socklen_t sl;
	int fam = strchr(server, ':') ? AF_INET6 : AF_INET, fl, err = 0;
	struct pollfd pfd;

	memset(c, 0, sizeof(*c));
	if (fam == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, server, &a->sin_addr);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, server, &a->sin6_addr);
		sl = sizeof(*a);
	}
	c->fd = socket(fam, SOCK_STREAM, 0);
	if (c->fd < 0)
		return -1;
	if (bind_addr) {
		if (fam == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&bs;

			a->sin_family = AF_INET;
			inet_pton(AF_INET, bind_addr, &a->sin_addr);
		} else {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&bs;

			a->sin6_family = AF_INET6;
			inet_pton(AF_INET6, bind_addr, &a->sin6_addr);
		}
		if (bind(c->fd, (struct sockaddr *)&bs, sl) < 0) {
			perror("smtpc: bind");
			exit(2);
		}
	}
	fl = fcntl(c->fd, F_GETFL);
	fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
	double t0 = mono_us();

	if (connect(c->fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)
		goto fail;
	pfd.fd = c->fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, timeout_ms) != 1)
		goto fail;
	sl = sizeof(err);
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
	if (err)
		goto fail;
	if (want_lat) {
		if (nlat == caplat) {
			caplat = caplat ? caplat * 2 : 1024;
			lat_us = realloc(lat_us, caplat * sizeof(*lat_us));
		}
		lat_us[nlat++] = mono_us() - t0;
	}
	return 0;
fail:
	close(c->fd);
	c->fd = -1;
	st.connect_failed++;
	return -1;
}

static int send_all(struct conn *c, const char *s, size_t n)
{
	int64_t deadline = now_ms() + timeout_ms;

	while (n) {
		ssize_t w = io_send(c, s, n);

		if (w > 0) {
			s += w;
			n -= (size_t)w;
			continue;
		}
		if (w == -2 || (w < 0 && errno != EAGAIN && errno != EINTR))
			return -1;
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		int left = (int)(deadline - now_ms());

		if (left <= 0 || poll(&pfd, 1, left) != 1)
			return -1;
	}
	return 0;
}

static int send_str(struct conn *c, const char *s)
{
	return send_all(c, s, strlen(s));
}

/* One whole reply (all its lines); returns its code, -1 on timeout or EOF. */
static int read_reply(struct conn *c, char *text, size_t tlen)
{
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		char *lf;
		size_t off = 0;

		/* Look for a final line ("ddd " or "ddd\r\n") in the buffer. */
		while ((lf = memchr(c->buf + off, '\n', c->len - off))) {
			size_t linelen = (size_t)(lf - (c->buf + off)) + 1;
			char *line = c->buf + off;

			if (linelen >= 4 && line[3] == '-') {
				if (strstr(line, "PIPELINING") && (size_t)(strstr(line, "PIPELINING") - line) < linelen)
					c->pipelining = true;
				if (strstr(line, "STARTTLS") && (size_t)(strstr(line, "STARTTLS") - line) < linelen)
					c->starttls = true;
				off += linelen;
				continue;
			}
			if (linelen >= 4 && strstr(line, "PIPELINING") && (size_t)(strstr(line, "PIPELINING") - line) < linelen)
				c->pipelining = true;
			if (linelen >= 4 && strstr(line, "STARTTLS") && (size_t)(strstr(line, "STARTTLS") - line) < linelen)
				c->starttls = true;
			int code = atoi(line);

			if (text)
				snprintf(text, tlen, "%.*s", (int)(linelen > 2 ? linelen - 2 : 0), line);
			off += linelen;
			memmove(c->buf, c->buf + off, c->len - off);
			c->len -= off;
			return code;
		}
		if (c->len == sizeof(c->buf))
			return -1;
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int left = (int)(deadline - now_ms());

		if (!(c->ssl && SSL_pending(c->ssl)) && (left <= 0 || poll(&pfd, 1, left) != 1)) {
			st.timeouts++;
			return -1;
		}
		if (c->ssl) {
			int r = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof(c->buf) - c->len));
			int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);

			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				continue;
			if (r <= 0)
				return -1;
			c->len += (size_t)r;
			continue;
		}
		ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);

		if (r <= 0)
			return -1;
		c->len += (size_t)r;
	}
}

static int cmd(struct conn *c, const char *line)
{
	if (send_str(c, line))
		return -1;
	return read_reply(c, NULL, 0);
}

/* -I: TLS from the first byte (port 465), no STARTTLS. */
static bool implicit_tls;

static int handshake(struct conn *c)
{
	int64_t deadline = now_ms() + timeout_ms;
	int rc;

	c->ssl = SSL_new(tls_ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd))
		return -1;
	while ((rc = SSL_connect(c->ssl)) != 1)
		if (!tls_wait(c, rc, deadline))
			return -1;
	st.tls++;
	return 0;
}

static int start_tls(struct conn *c)
{
	if (!c->starttls || cmd(c, "STARTTLS\r\n") != 220 || c->len || handshake(c))
		return -1;
	c->pipelining = false;
	return cmd(c, "EHLO client.example\r\n") == 250 ? 0 : -1;
}

static int open_session(struct conn *c)
{
	if (sock_connect(c))
		return -1;
	st.sessions++;
	if ((implicit_tls && handshake(c)) || read_reply(c, NULL, 0) != 220 ||
	    cmd(c, "EHLO client.example\r\n") != 250 || (tls_mode && !implicit_tls && start_tls(c))) {
		conn_drop(c);
		return -1;
	}
	return 0;
}

static void close_session(struct conn *c)
{
	cmd(c, "QUIT\r\n");
	conn_drop(c);
}

static void count_rcpt(int code, const char *rcpt)
{
	st.probes++;
	if (code >= 200 && code < 300) {
		st.accepted++;
		if (strlen(st.harvested) + strlen(rcpt) + 2 < sizeof(st.harvested)) {
			if (st.harvested[0])
				strcat(st.harvested, ",");
			strcat(st.harvested, rcpt);
		}
	} else if (code >= 500) {
		st.rejected++;
	} else {
		st.other++;
	}
}

/* -r: probes per second, -D: seconds at most (both 0: as fast as it
 * can, until done). */
static double rate, max_secs;
static double t_start;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Before probe number i: wait for its turn; false when time is up. */
static bool pace(long i)
{
	double now = now_s();

	if (max_secs > 0 && now - t_start >= max_secs)
		return false;
	if (rate > 0) {
		double due = t_start + (double)i / rate;

		if (due > now) {
			struct timespec d = { (time_t)(due - now), (long)((due - now - (double)(time_t)(due - now)) * 1e9) };

			nanosleep(&d, NULL);
		}
	}
	return true;
}

/* -R: an RSET and a new MAIL after every probe (one at a time). */
static bool rset_each;
/* -W: each pipelined batch in two writes, without waiting between. */
static bool stream_writes;

static void harvest(long n, long per, bool pipelined, long giveup)
{
	long i = 0, fails = 0;

	t_start = now_s();
	while (i < n && fails < giveup && pace(i)) {
		struct conn c;
		long k;

		if (open_session(&c)) {
			fails++;
			/* A refused or dropped connect: the next try is paced too. */
			if (rate > 0)
				i++;
			continue;
		}
		fails = 0;
		if (cmd(&c, "MAIL FROM:<probe@harvester.example>\r\n") != 250) {
			conn_drop(&c);
			continue;
		}
		k = per < n - i ? per : n - i;
		if (pipelined && c.pipelining) {
			char *burst = malloc((size_t)k * 128 + 1), name[64];
			size_t bl = 0, half = 0;

			for (long j = 0; j < k; j++) {
				probe_name(i + j, name, sizeof(name));
				bl += (size_t)snprintf(burst + bl, 128, "RCPT TO:<%s@%s>\r\n", name, domain);
				if (j == k / 2 - 1)
					half = bl;
			}
			/* -W: the batch in two writes, the second without waiting
			 * for the first's replies (a client that streams). */
			if (!stream_writes || !half)
				half = bl;
			if (send_all(&c, burst, half) == 0 && (half == bl || send_all(&c, burst + half, bl - half) == 0)) {
				for (long j = 0; j < k; j++) {
					int code = read_reply(&c, NULL, 0);

					if (code < 0)
						break;
					probe_name(i + j, name, sizeof(name));
					count_rcpt(code, name);
				}
			}
			free(burst);
		} else {
			for (long j = 0; j < k; j++) {
				char line[160], name[64];
				int code;

				if (j && !pace(i + j))
					break;
				probe_name(i + j, name, sizeof(name));
				snprintf(line, sizeof(line), "RCPT TO:<%s@%s>\r\n", name, domain);
				code = cmd(&c, line);
				if (code < 0)
					break;
				count_rcpt(code, name);
				if (rset_each && j + 1 < k &&
				    (cmd(&c, "RSET\r\n") != 250 ||
				     cmd(&c, "MAIL FROM:<probe@harvester.example>\r\n") != 250))
					break;
			}
		}
		i += k;
		close_session(&c);
	}
}

static void deliver(long n, size_t body, const char *rcpt)
{
	char *msg = malloc(body + 256);
	size_t ml = 0;

	ml += (size_t)snprintf(msg, 256, "From: <sender@good.example>\r\nTo: <%s>\r\nSubject: lab message\r\n\r\n", rcpt);
	for (size_t j = 0; j < body; j++)
		msg[ml++] = (j % 72 == 71) ? '\n' : (char)('a' + j % 26);
	ml += (size_t)snprintf(msg + ml, 16, "\r\n.\r\n");
	for (long i = 0; i < n; i++) {
		struct conn c;
		char line[256];

		if (open_session(&c)) {
			st.failed++;
			continue;
		}
		snprintf(line, sizeof(line), "RCPT TO:<%s>\r\n", rcpt);
		if (cmd(&c, "MAIL FROM:<sender@good.example>\r\n") != 250 || cmd(&c, line) != 250 ||
		    cmd(&c, "DATA\r\n") != 354 || send_all(&c, msg, ml) || read_reply(&c, NULL, 0) != 250) {
			st.failed++;
			conn_drop(&c);
			continue;
		}
		st.delivered++;
		close_session(&c);
	}
	free(msg);
}

static void list(long n, long gone_pct)
{
	struct conn c;
	static const char *const user[] = { "alice", "bob", "carol" };
	char *burst = malloc((size_t)n * 96 + 64), name[64];
	size_t bl = 0;
	long ok = 0;

	if (open_session(&c)) {
		st.failed++;
		free(burst);
		return;
	}
	bl += (size_t)snprintf(burst, 64, "MAIL FROM:<list@lists.example>\r\n");
	for (long i = 0; i < n; i++) {
		if ((i * gone_pct) / 100 != ((i + 1) * gone_pct) / 100)
			snprintf(name, sizeof(name), "gone%ld", i);
		else
			snprintf(name, sizeof(name), "%s+sub%ld", user[i % 3], i);
		bl += (size_t)snprintf(burst + bl, 96, "RCPT TO:<%s@%s>\r\n", name, domain);
	}
	if (send_all(&c, burst, bl) || read_reply(&c, NULL, 0) != 250) {
		st.failed++;
		conn_drop(&c);
		free(burst);
		return;
	}
	for (long i = 0; i < n; i++) {
		int code = read_reply(&c, NULL, 0);

		if (code < 0)
			break;
		st.probes++;
		if (code / 100 == 2)
			ok++, st.accepted++;
		else if (code >= 500)
			st.rejected++;
		else
			st.other++;
	}
	free(burst);
	if (!ok || cmd(&c, "DATA\r\n") != 354 ||
	    send_str(&c, "From: <list@lists.example>\r\nSubject: digest\r\n\r\nThis week.\r\n.\r\n") ||
	    read_reply(&c, NULL, 0) != 250) {
		st.failed++;
		conn_drop(&c);
		return;
	}
	st.delivered++;
	close_session(&c);
}

/* -L with session: each whole session's time, connect to QUIT's reply. */
static double *sess_us;
static size_t nsess;

/* A whole dialogue without a message: what a session costs the server.
 * With -r, sessions start at that rate (a fixed offered load). */
static void sessions(long n)
{
	if (want_lat)
		sess_us = calloc((size_t)n + 1, sizeof(*sess_us));
	t_start = now_s();
	for (long i = 0; i < n && pace(i); i++) {
		struct conn c;
		double t0 = now_s();

		if (open_session(&c)) {
			st.failed++;
			continue;
		}
		if (cmd(&c, "MAIL FROM:<s@good.example>\r\n") != 250 ||
		    cmd(&c, "RCPT TO:<alice@example.org>\r\n") != 250 || cmd(&c, "RSET\r\n") != 250) {
			st.failed++;
			conn_drop(&c);
			continue;
		}
		st.delivered++;
		close_session(&c);
		if (sess_us)
			sess_us[nsess++] = (now_s() - t0) * 1e6;
	}
}

/* One message of `bytes` as fast as the path allows. */
static void blast(size_t bytes)
{
	static char chunk[65536];
	struct conn c;
	size_t left = bytes;

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (i % 76 == 75) ? '\n' : (char)('A' + i % 26);
	if (open_session(&c) || cmd(&c, "MAIL FROM:<b@good.example>\r\n") != 250 ||
	    cmd(&c, "RCPT TO:<alice@example.org>\r\n") != 250 || cmd(&c, "DATA\r\n") != 354) {
		st.failed++;
		return;
	}
	while (left) {
		size_t k = left < sizeof(chunk) ? left : sizeof(chunk);

		if (send_all(&c, chunk, k)) {
			st.failed++;
			conn_drop(&c);
			return;
		}
		left -= k;
	}
	if (send_str(&c, "\r\n.\r\n") || read_reply(&c, NULL, 0) != 250)
		st.failed++;
	else
		st.delivered++;
	close_session(&c);
}

/* A minimal SMTP server for the packet-rate benchmark: accepts everything,
 * stores nothing, for `secs` seconds. Each connection in a child of its
 * own, so that parallel streams run in parallel. */
static void sink(long secs)
{
	int ls = socket(AF_INET6, SOCK_STREAM, 0), one = 1, zero = 0;
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	int64_t deadline = now_ms() + secs * 1000;

	signal(SIGCHLD, SIG_IGN);	/* children reaped by the kernel */
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 64)) {
		perror("smtpc: sink");
		exit(2);
	}
	while (now_ms() < deadline) {
		struct pollfd pfd = { .fd = ls, .events = POLLIN };
		static char buf[1 << 16];
		size_t have = 0;
		bool body = false;
		int fd;

		if (poll(&pfd, 1, 200) != 1)
			continue;
		fd = accept(ls, NULL, NULL);
		if (fd < 0)
			continue;
		if (fork() != 0) {
			close(fd);	/* the parent, or fork failed: next one */
			continue;
		}
		close(ls);
		if (write(fd, "220 sink\r\n", 10) < 0) {
			close(fd);
			continue;
		}
		for (;;) {
			char *lf, *mark;
			ssize_t r;

			if (body && (mark = memmem(buf, have, "\r\n.\r\n", 5))) {
				body = false;
				have -= (size_t)(mark + 5 - buf);
				memmove(buf, mark + 5, have);
				if (write(fd, "250 ok\r\n", 8) < 0)
					break;
				continue;
			}
			if (body && have > 8) {
				/* Keep the tail: the marker may straddle reads. */
				memmove(buf, buf + have - 8, 8);
				have = 8;
			}
			if (!body && (lf = memchr(buf, '\n', have))) {
				size_t ll = (size_t)(lf - buf) + 1;
				bool data = !strncasecmp(buf, "DATA", 4), quit = !strncasecmp(buf, "QUIT", 4);
				const char *rep = data ? "354 go\r\n" : quit ? "221 bye\r\n" : "250 ok\r\n";

				memmove(buf, buf + ll, have - ll);
				have -= ll;
				body = data;
				if (write(fd, rep, strlen(rep)) < 0 || quit)
					break;
				continue;
			}
			r = recv(fd, buf + have, sizeof(buf) - have, 0);
			if (r <= 0)
				break;
			have += (size_t)r;
		}
		close(fd);
		_exit(0);
	}
	close(ls);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: smtpc -s ADDR [-p PORT] [-b BIND] [-T TIMEOUT_MS] [-S tls13|gcm|cbc|cbc-mte] harvest -n PROBES [-k PER_SESSION] [-P [-W] | -R] [-g GIVEUP] [-r PER_SEC] [-D SECONDS]\n"
		"       smtpc -s ADDR [-p PORT] [-b BIND] [-T TIMEOUT_MS] deliver -n MESSAGES [-z BYTES] [-t RCPT]\n"
		"       smtpc -s ADDR [-p PORT] [-b BIND] [-T TIMEOUT_MS] list -n RECIPIENTS -u PERCENT_GONE\n"
		"       smtpc -s ADDR [-p PORT] [-L] session -n SESSIONS [-r PER_SEC]\n"
		"       smtpc -s ADDR [-p PORT] blast -z BYTES\n"
		"       smtpc -s ANY -p PORT sink -n SECONDS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long n = 10, per = 10, giveup = 3, gone = 10;
	size_t body = 2000;
	bool pipelined = false;
	const char *mode, *rcpt = "alice@example.org";
	int o;

	while ((o = getopt(argc, argv, "+s:p:b:T:d:LS:I")) != -1) {
		switch (o) {
		case 'I': implicit_tls = true; break;
		case 'S': tls_mode = optarg; break;
		case 'L': want_lat = true; break;
		case 's': server = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'b': bind_addr = optarg; break;
		case 'T': timeout_ms = atoi(optarg); break;
		case 'd': domain = optarg; break;
		default: usage();
		}
	}
	if (!server || optind >= argc)
		usage();
	mode = argv[optind];
	optind++;
	while ((o = getopt(argc, argv, "n:k:PRWg:z:t:r:D:u:o:")) != -1) {
		switch (o) {
		case 'W': stream_writes = true; break;
		case 'R': rset_each = true; break;
		case 'n': n = atol(optarg); break;
		case 'k': per = atol(optarg); break;
		case 'P': pipelined = true; break;
		case 'g': giveup = atol(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 'D': max_secs = atof(optarg); break;
		case 'o': probe_base = atol(optarg); break;
		case 'z': body = (size_t)atol(optarg); break;
		case 't': rcpt = optarg; break;
		case 'u': gone = atol(optarg); break;
		default: usage();
		}
	}
	if (n < 0 || per < 1 || giveup < 1)
		usage();
	if (tls_mode) {
		/* OpenSSL writes with write(): a connection cut by a ban
		 * must not kill us. */
		signal(SIGPIPE, SIG_IGN);
		tls_setup();
	}
	if (!strcmp(mode, "harvest"))
		harvest(n, per, pipelined, giveup);
	else if (!strcmp(mode, "deliver"))
		deliver(n, body, rcpt);
	else if (!strcmp(mode, "list"))
		list(n, gone);
	else if (!strcmp(mode, "session"))
		sessions(n);
	else if (!strcmp(mode, "blast"))
		blast(body);
	else if (!strcmp(mode, "sink"))
		sink(n);
	else
		usage();
	if (want_lat && nlat) {
		qsort(lat_us, nlat, sizeof(*lat_us), cmp_d);
		printf("connect_us_median=%.1f connect_us_p99=%.1f ", lat_us[nlat / 2],
		       lat_us[nlat * 99 / 100]);
	}
	if (nsess) {
		qsort(sess_us, nsess, sizeof(*sess_us), cmp_d);
		printf("session_us_median=%.1f session_us_p99=%.1f ", sess_us[nsess / 2],
		       sess_us[nsess * 99 / 100]);
	}
	printf("sessions=%ld tls=%ld connect_failed=%ld timeouts=%ld probes=%ld rejected=%ld accepted=%ld "
	       "other=%ld delivered=%ld failed=%ld harvested=%s\n",
	       st.sessions, st.tls, st.connect_failed, st.timeouts, st.probes, st.rejected, st.accepted,
	       st.other, st.delivered, st.failed, st.harvested[0] ? st.harvested : "-");
	return 0;
}
