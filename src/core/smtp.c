#include "smtp.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* What the client's bytes currently are. */
enum {
	CM_CMD,		/* command lines */
	CM_BODY,	/* DATA content, up to <CRLF>.<CRLF> */
	CM_BDAT,	/* a BDAT chunk: bdat_left bytes, skipped by length */
	CM_AUTH,	/* SASL responses after a 334: not commands */
	CM_OPAQUE,	/* TLS: nothing more to read */
};

/* DATA content scanner: only the end marker matters. */
enum { B_BOL, B_MID, B_DOT, B_DOTCR };

static const char *const verb_names[V_COUNT] = {
	[V_NONE] = "none", [V_GREETING] = "greeting", [V_HELO] = "HELO",
	[V_EHLO] = "EHLO", [V_MAIL] = "MAIL", [V_RCPT] = "RCPT",
	[V_DATA] = "DATA", [V_EOM] = "EOM", [V_BDAT] = "BDAT",
	[V_RSET] = "RSET", [V_VRFY] = "VRFY", [V_EXPN] = "EXPN",
	[V_NOOP] = "NOOP", [V_QUIT] = "QUIT", [V_AUTH] = "AUTH",
	[V_STARTTLS] = "STARTTLS", [V_HELP] = "HELP", [V_UNKNOWN] = "unknown",
};

const char *smtp_verb_name(int verb)
{
	return verb >= 0 && verb < V_COUNT ? verb_names[verb] : "?";
}

void smtp_ctx_init(struct smtp_ctx *c, uint32_t max_pipeline, uint32_t max_line,
		   smtp_event_fn fn)
{
	memset(c, 0, sizeof(*c));
	c->max_pipeline = max_pipeline;
	c->max_line = max_line;
	c->on_event = fn;
	c->ring = xcalloc(SMTP_RING_SLOTS, sizeof(*c->ring));
}

void smtp_ctx_free(struct smtp_ctx *c)
{
	free(c->ring);
	c->ring = NULL;
}

static void q_clear(struct smtp *s)
{
	s->q_head = 0;
	s->q_len = 0;
}

static bool q_push(struct smtp_ctx *c, struct smtp *s, const struct smtp_pending *p)
{
	if (s->q_len >= c->max_pipeline)
		return false;
	if (s->q_len == s->q_cap) {
		uint32_t ncap = s->q_cap ? s->q_cap * 2 : 8;
		struct smtp_pending *nq = xcalloc(ncap, sizeof(*nq));

		for (uint32_t i = 0; i < s->q_len; i++)
			nq[i] = s->q[(s->q_head + i) % s->q_cap];
		free(s->q);
		s->q = nq;
		s->q_cap = ncap;
		s->q_head = 0;
	}
	s->q[(s->q_head + s->q_len) % s->q_cap] = *p;
	s->q_len++;
	return true;
}

static void q_pop(struct smtp *s)
{
	s->q_head = (s->q_head + 1) % s->q_cap;
	s->q_len--;
}

void smtp_init(struct smtp *s, bool verified)
{
	memset(s, 0, sizeof(*s));
	s->cmode = CM_CMD;
	if (verified) {
		struct smtp_pending g = { .verb = V_GREETING };
		struct smtp_ctx dummy = { .max_pipeline = 1 };

		s->synced = true;
		q_push(&dummy, s, &g);
	} else {
		/* We may have joined mid-line on either side. */
		s->c_discard = true;
		s->s_discard = true;
	}
}

void smtp_free(struct smtp *s)
{
	free(s->q);
	s->q = NULL;
	s->q_cap = s->q_len = 0;
}

bool smtp_opaque(const struct smtp *s)
{
	return s->cmode == CM_OPAQUE;
}

bool smtp_in_starttls(const struct smtp *s)
{
	return s->cmode == CM_OPAQUE && s->starttls;
}

bool smtp_tls_first(const struct smtp *s)
{
	return s->cmode == CM_OPAQUE && s->tls_first;
}

static void desync(struct smtp_ctx *c, struct smtp *s)
{
	if (s->synced)
		c->st.desyncs++;
	s->synced = false;
	q_clear(s);
	if (s->cmode == CM_AUTH)
		s->cmode = CM_CMD;
}

static void go_opaque(struct smtp *s)
{
	s->cmode = CM_OPAQUE;
	s->synced = false;
	q_clear(s);
}

/* ---- client side ---- */

static int parse_verb(const char *l, size_t n)
{
	static const struct {
		char name[9];
		uint8_t len;
		uint8_t verb;
	} verbs[] = {
		{ "RCPT", 4, V_RCPT }, { "MAIL", 4, V_MAIL }, { "EHLO", 4, V_EHLO },
		{ "HELO", 4, V_HELO }, { "DATA", 4, V_DATA }, { "BDAT", 4, V_BDAT },
		{ "RSET", 4, V_RSET }, { "QUIT", 4, V_QUIT }, { "VRFY", 4, V_VRFY },
		{ "EXPN", 4, V_EXPN }, { "NOOP", 4, V_NOOP }, { "AUTH", 4, V_AUTH },
		{ "HELP", 4, V_HELP }, { "STARTTLS", 8, V_STARTTLS },
	};
	size_t len = 0;

	while (len < n && len < 9 && l[len] != ' ' && l[len] != '\t')
		len++;
	for (size_t i = 0; i < ARRAY_LEN(verbs); i++) {
		size_t j;

		if (verbs[i].len != len)
			continue;
		for (j = 0; j < len && (l[j] & ~0x20) == verbs[i].name[j]; j++)
			;
		if (j == len)
			return verbs[i].verb;
	}
	return V_UNKNOWN;
}

/* "RCPT TO:<user@example>" -> lower-cased "user@example" into the ring. */
static void parse_rcpt(struct smtp_ctx *c, const char *l, size_t n, struct smtp_pending *p)
{
	size_t i = 4, start, end;
	char *dst;

	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	if (i + 3 > n || ascii_lower((unsigned char)l[i]) != 't' ||
	    ascii_lower((unsigned char)l[i + 1]) != 'o' || l[i + 2] != ':')
		return;
	i += 3;
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	if (i < n && l[i] == '<') {
		start = ++i;
		while (i < n && l[i] != '>')
			i++;
	} else {
		start = i;
		while (i < n && l[i] != ' ' && l[i] != '\t')
			i++;
	}
	end = i;
	if (end - start >= SMTP_RCPT_MAX)
		end = start + SMTP_RCPT_MAX - 1;
	p->slot = c->ring_pos++;
	dst = c->ring[p->slot % SMTP_RING_SLOTS];
	for (i = start; i < end; i++)
		dst[i - start] = (char)ascii_lower((unsigned char)l[i]);
	p->rcpt_len = (uint16_t)(end - start);
	dst[p->rcpt_len] = 0;
	p->rcpt_hash = (uint32_t)hash_bytes(dst, p->rcpt_len, 0);
}

static void parse_bdat(struct smtp *s, const char *l, size_t n, struct smtp_pending *p)
{
	size_t i = 4;
	uint64_t size = 0;
	bool digits = false;

	while (i < n && l[i] == ' ')
		i++;
	while (i < n && l[i] >= '0' && l[i] <= '9') {
		if (size > UINT64_MAX / 10 - 10)
			return;		/* absurd: the server will refuse it */
		size = size * 10 + (uint64_t)(l[i] - '0');
		digits = true;
		i++;
	}
	if (!digits)
		return;
	while (i < n && l[i] == ' ')
		i++;
	if (i + 4 <= n && ascii_lower((unsigned char)l[i]) == 'l' &&
	    ascii_lower((unsigned char)l[i + 1]) == 'a' &&
	    ascii_lower((unsigned char)l[i + 2]) == 's' &&
	    ascii_lower((unsigned char)l[i + 3]) == 't')
		p->last = 1;
	/* The chunk follows the command at once, without waiting (RFC 3030). */
	s->bdat_left = size;
	if (size)
		s->cmode = CM_BDAT;
}

static void client_line(struct smtp_ctx *c, struct smtp *s)
{
	struct smtp_pending p = { 0 };
	size_t n = s->cl_len;

	if (s->cl_total > c->max_line) {
		/* We cannot know how the server split it: stop pairing. */
		c->st.overlong_lines++;
		desync(c, s);
		return;
	}
	while (n && (s->cl[n - 1] == '\r' || s->cl[n - 1] == '\n'))
		n--;
	s->spoke = true;
	if (s->cmode == CM_AUTH)
		return;		/* a SASL response, answered by the pending AUTH */
	p.verb = (uint8_t)parse_verb(s->cl, n);
	p.cmd_len = (uint16_t)(s->cl_total < UINT16_MAX ? s->cl_total : UINT16_MAX);
	if (p.verb == V_BDAT)
		parse_bdat(s, s->cl, n, &p);
	if (!s->synced)
		return;
	if (p.verb == V_RCPT)
		parse_rcpt(c, s->cl, n, &p);
	if (!q_push(c, s, &p)) {
		c->st.pipeline_overflow++;
		desync(c, s);
	}
}

/* At the first byte of a client line: may pairing start again? Only when
 * the server's last reply came after everything the client had sent, and
 * the server is between replies. Then every earlier command is answered
 * and this line is the next one the server will answer. */
static void client_line_start(struct smtp_ctx *c, struct smtp *s, uint8_t first)
{
	if (first == 0x16) {
		/* A TLS handshake record where a command should be. */
		c->st.opaque_tls++;
		go_opaque(s);
		s->tls_first = !s->spoke;
		return;
	}
	if (!s->synced && !s->client_since_reply && !s->s_multiline &&
	    !s->s_discard && s->sl_total == 0 && s->cmode == CM_CMD) {
		/* Whether a transaction is open is unknown here; a 503 or an
		 * x.5.x reply still tells a sequence error apart. */
		s->synced = true;
		s->txn = 2;
		q_clear(s);
		c->st.resyncs++;
	}
}

static uint32_t client_lines(struct smtp_ctx *c, struct smtp *s, const uint8_t *d, uint32_t n)
{
	uint32_t used = 0;

	while (used < n && (s->cmode == CM_CMD || s->cmode == CM_AUTH)) {
		const uint8_t *lf = memchr(d + used, '\n', n - used);
		uint32_t take = lf ? (uint32_t)(lf - (d + used)) + 1 : n - used;

		if (s->c_discard) {
			if (lf)
				s->c_discard = false;
			used += take;
			s->client_since_reply = true;
			continue;
		}
		if (s->cl_total == 0) {
			client_line_start(c, s, d[used]);
			if (s->cmode == CM_OPAQUE)
				return n;
		}
		if (s->cl_len < sizeof(s->cl)) {
			uint32_t room = (uint32_t)sizeof(s->cl) - s->cl_len;
			uint32_t k = take < room ? take : room;

			memcpy(s->cl + s->cl_len, d + used, k);
			s->cl_len = (uint16_t)(s->cl_len + k);
		}
		s->cl_total += take;
		used += take;
		s->client_since_reply = true;
		if (lf) {
			client_line(c, s);
			s->cl_len = 0;
			s->cl_total = 0;
		} else if (s->cl_total > c->max_line) {
			/* Over the limit before its end: say so now, and skip to
			 * the end however far it is (a line without end would
			 * otherwise never be counted, and its length wraps). */
			c->st.overlong_lines++;
			desync(c, s);
			s->c_discard = true;
			s->cl_len = 0;
			s->cl_total = 0;
		}
	}
	return used;
}

/* Scan DATA content for the end marker; returns bytes consumed. A bare LF
 * is taken as a line end too, as servers do. The marker needs a dot at the
 * start of a line, so the scan jumps from dot to dot: base64 attachments,
 * the bulk of mail by volume, hold no dot at all. */
bool smtp_plain(const uint8_t *d, uint32_t n)
{
	const uint8_t *p = d, *stop = d + n, *dot;

	while ((dot = memchr(p, '.', (size_t)(stop - p))) != NULL) {
		if (dot > d && dot[-1] == '\n')
			return false;
		p = dot + 1;
	}
	return true;
}

static uint32_t client_body(struct smtp_ctx *c, struct smtp *s, const uint8_t *d, uint32_t n,
			    bool plain)
{
	uint32_t i = 0;
	bool end = false;

	while (i < n && !end) {
		switch (s->body_state) {
		case B_BOL:
			if (d[i] == '.') {
				s->body_state = B_DOT;
				i++;
				break;
			}
			s->body_state = B_MID;
			/* fall through */
		case B_MID: {
			const uint8_t *p = d + i, *stop = d + n, *dot;

			/* In B_MID the byte before d + i ends no line, and
			 * plain data has no LF before a dot after it: no dot
			 * from here on starts a line. */
			if (plain) {
				s->body_state = stop[-1] == '\n' ? B_BOL : B_MID;
				i = n;
				break;
			}
			for (;;) {
				dot = memchr(p, '.', (size_t)(stop - p));
				if (!dot) {
					s->body_state = stop[-1] == '\n' ? B_BOL : B_MID;
					i = n;
					break;
				}
				/* dot > d + i: in B_MID the byte before d + i was
				 * not a line end, so a dot there starts no line. */
				if (dot > d + i && dot[-1] == '\n') {
					s->body_state = B_DOT;
					i = (uint32_t)(dot - d) + 1;
					break;
				}
				p = dot + 1;
			}
			break;
		}
		case B_DOT:
			if (d[i] == '\r')
				s->body_state = B_DOTCR;
			else if (d[i] == '\n')
				end = true;
			else
				s->body_state = B_MID;
			i++;
			break;
		case B_DOTCR:
			if (d[i] == '\n')
				end = true;
			else
				s->body_state = B_MID;
			i++;
			break;
		}
	}
	c->st.body_bytes += i;
	if (end) {
		struct smtp_pending p = { .verb = V_EOM };

		s->cmode = CM_CMD;
		s->body_state = B_BOL;
		if (s->synced && !q_push(c, s, &p)) {
			c->st.pipeline_overflow++;
			desync(c, s);
		}
	}
	return i;
}

void smtp_client(struct smtp_ctx *c, struct smtp *s, const uint8_t *d, uint32_t n, void *arg)
{
	smtp_client_plain(c, s, d, n, false, arg);
}

void smtp_client_plain(struct smtp_ctx *c, struct smtp *s, const uint8_t *d, uint32_t n, bool plain,
		       void *arg)
{
	(void)arg;
	while (n) {
		uint32_t used;

		switch (s->cmode) {
		case CM_OPAQUE:
			return;
		case CM_BODY:
			used = client_body(c, s, d, n, plain);
			break;
		case CM_BDAT:
			used = n < s->bdat_left ? n : (uint32_t)s->bdat_left;
			s->bdat_left -= used;
			c->st.bdat_bytes += used;
			if (!s->bdat_left)
				s->cmode = CM_CMD;
			break;
		default:
			used = client_lines(c, s, d, n);
			break;
		}
		d += used;
		n -= used;
		s->client_since_reply = true;
	}
}

void smtp_client_gap(struct smtp_ctx *c, struct smtp *s, uint32_t n)
{
	if (s->cmode == CM_OPAQUE)
		return;
	if (s->cmode == CM_BDAT && n < s->bdat_left) {
		/* Lost bytes of a chunk we skip anyway: nothing is lost. */
		s->bdat_left -= n;
		return;
	}
	if (s->cmode == CM_BDAT) {
		s->bdat_left = 0;
		s->cmode = CM_CMD;
	}
	s->client_since_reply = true;
	desync(c, s);
	s->c_discard = true;
	s->cl_len = 0;
	s->cl_total = 0;
}

/* ---- server side ---- */

static bool parse_enh(const char *t, size_t n, uint16_t enh[3])
{
	size_t i = 0;

	for (int part = 0; part < 3; part++) {
		unsigned v = 0, digits = 0;

		while (i < n && t[i] >= '0' && t[i] <= '9' && digits < 4) {
			v = v * 10 + (unsigned)(t[i] - '0');
			digits++;
			i++;
		}
		if (!digits || digits > 3 || (part == 0 && digits != 1))
			return false;
		enh[part] = (uint16_t)v;
		if (part < 2) {
			if (i >= n || t[i] != '.')
				return false;
			i++;
		}
	}
	if (i < n && t[i] != ' ' && t[i] != '\r' && t[i] != '\n')
		return false;
	return enh[0] == 2 || enh[0] == 4 || enh[0] == 5;
}

static void emit(struct smtp_ctx *c, const struct smtp *s, const struct smtp_pending *p,
		 void *arg)
{
	struct smtp_event ev = {
		.verb = p->verb,
		.code = s->r_code,
		.has_enh = s->r_has_enh,
		.in_txn = s->txn != 0,
		.last = p->last != 0,
		.rcpt_hash = p->rcpt_hash,
		.cmd_len = p->cmd_len,
		.reply_len = s->r_bytes,
	};

	memcpy(ev.enh, s->r_enh, sizeof(ev.enh));
	/* The ring slot may have been reused by a very long pipeline. */
	if (p->rcpt_len && c->ring_pos - p->slot <= SMTP_RING_SLOTS) {
		ev.rcpt = c->ring[p->slot % SMTP_RING_SLOTS];
		ev.rcpt_len = p->rcpt_len;
	}
	c->st.replies[p->verb][s->r_code / 100]++;
	if (c->on_event)
		c->on_event(arg, &ev);
}

static void reply_done(struct smtp_ctx *c, struct smtp *s, void *arg)
{
	struct smtp_pending p;
	unsigned cls = s->r_code / 100;

	s->client_since_reply = false;
	if (!s->synced) {
		c->st.unpaired_replies++;
		/* A server does not answer in the middle of a message. */
		if (s->cmode == CM_BODY)
			s->cmode = CM_CMD;
		return;
	}
	if (!s->q_len) {
		struct smtp_pending none = { .verb = V_NONE };

		c->st.unsolicited++;
		if (s->r_code == 421) {
			/* Shutting down: the one reply a server may send unasked. */
			emit(c, s, &none, arg);
			return;
		}
		desync(c, s);
		return;
	}
	p = s->q[s->q_head];
	if (p.verb == V_AUTH && s->r_code == 334) {
		s->cmode = CM_AUTH;	/* the next client line is a response */
		return;
	}
	q_pop(s);
	switch (p.verb) {
	case V_AUTH:
		s->cmode = CM_CMD;
		break;
	case V_MAIL:
		/* Emitted before the state changes so the event says whether a
		 * transaction was open when MAIL was sent; the RCPTs that follow
		 * see the new state. */
		emit(c, s, &p, arg);
		s->txn = cls == 2;
		return;
	case V_HELO:
	case V_EHLO:
	case V_RSET:
		if (cls == 2)
			s->txn = 0;
		break;
	case V_EOM:
		s->txn = 0;
		break;
	case V_BDAT:
		if (p.last || cls != 2)
			s->txn = 0;
		break;
	default:
		break;
	}
	emit(c, s, &p, arg);
	if (p.verb == V_DATA && s->r_code == 354) {
		s->cmode = CM_BODY;
		s->body_state = B_BOL;
		c->st.bodies++;
	} else if (p.verb == V_DATA && cls != 2 && cls != 3) {
		s->txn = 0;
	} else if (p.verb == V_STARTTLS && cls == 2) {
		c->st.opaque_starttls++;
		go_opaque(s);
		s->starttls = true;
	}
}

static void server_line(struct smtp_ctx *c, struct smtp *s, void *arg)
{
	const char *l = s->sl;
	size_t n = s->sl_len;
	uint16_t code;
	char sep;

	while (n && (l[n - 1] == '\r' || l[n - 1] == '\n'))
		n--;
	if (n < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' ||
	    l[2] < '0' || l[2] > '9' || (n > 3 && l[3] != ' ' && l[3] != '-')) {
		c->st.malformed_replies++;
		s->s_multiline = false;
		desync(c, s);
		return;
	}
	code = (uint16_t)((l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0'));
	sep = n > 3 ? l[3] : ' ';
	if (!s->s_multiline)
		s->r_bytes = 0;
	s->r_bytes = (uint16_t)(s->r_bytes + s->sl_total < UINT16_MAX ? s->r_bytes + s->sl_total : UINT16_MAX);
	if (!s->s_multiline) {
		s->r_code = code;
		s->r_has_enh = n > 4 && parse_enh(l + 4, n - 4, s->r_enh);
		if (s->r_has_enh && s->r_enh[0] != code / 100)
			s->r_has_enh = false;
		if (!s->r_has_enh)
			memset(s->r_enh, 0, sizeof(s->r_enh));
	} else if (code != s->r_code) {
		c->st.malformed_replies++;
		s->s_multiline = false;
		desync(c, s);
		return;
	}
	if (sep == '-') {
		s->s_multiline = true;
		return;
	}
	s->s_multiline = false;
	reply_done(c, s, arg);
}

void smtp_server(struct smtp_ctx *c, struct smtp *s, const uint8_t *d, uint32_t n, void *arg)
{
	while (n && s->cmode != CM_OPAQUE) {
		const uint8_t *lf = memchr(d, '\n', n);
		uint32_t take = lf ? (uint32_t)(lf - d) + 1 : n;

		if (s->s_discard) {
			if (lf)
				s->s_discard = false;
		} else {
			if (s->sl_len < sizeof(s->sl)) {
				uint32_t room = (uint32_t)sizeof(s->sl) - s->sl_len;
				uint32_t k = take < room ? take : room;

				memcpy(s->sl + s->sl_len, d, k);
				s->sl_len = (uint8_t)(s->sl_len + k);
			}
			s->sl_total += take;
			if (!lf && s->sl_total > c->max_line) {
				c->st.overlong_lines++;
				s->s_multiline = false;
				desync(c, s);
				s->s_discard = true;
				s->sl_len = 0;
				s->sl_total = 0;
			} else if (lf) {
				if (s->sl_total > c->max_line) {
					c->st.overlong_lines++;
					s->s_multiline = false;
					desync(c, s);
				} else {
					server_line(c, s, arg);
				}
				s->sl_len = 0;
				s->sl_total = 0;
			}
		}
		d += take;
		n -= take;
	}
}

void smtp_server_gap(struct smtp_ctx *c, struct smtp *s, uint32_t n)
{
	(void)n;
	if (s->cmode == CM_OPAQUE)
		return;
	desync(c, s);
	s->s_multiline = false;
	s->s_discard = true;
	s->sl_len = 0;
	s->sl_total = 0;
}
