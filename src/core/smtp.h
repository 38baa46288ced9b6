/* SMTP dialogue follower: two in-order byte streams in (client commands and
 * server replies), paired (command, reply) events out. Handles PIPELINING
 * (RFC 2920), multi-line replies, DATA bodies, BDAT chunks (RFC 3030), AUTH
 * continuations, STARTTLS (RFC 3207) and enhanced status codes (RFC 3463).
 *
 * A session is "synced" while every reply can be paired with its command.
 * A gap in either stream, an unparseable reply or a pipeline overflow loses
 * that certainty; pairing then stops until a point where both sides are
 * known to be quiet (see smtp.c), so that no event is ever attributed to
 * the wrong command. */
#ifndef RCPTGUARD_SMTP_H
#define RCPTGUARD_SMTP_H

#include <stdbool.h>
#include <stdint.h>

enum smtp_verb {
	V_NONE = 0,	/* a reply nothing asked for */
	V_GREETING,
	V_HELO,
	V_EHLO,
	V_MAIL,
	V_RCPT,
	V_DATA,
	V_EOM,		/* the end-of-data dot */
	V_BDAT,
	V_RSET,
	V_VRFY,
	V_EXPN,
	V_NOOP,
	V_QUIT,
	V_AUTH,
	V_STARTTLS,
	V_HELP,
	V_UNKNOWN,
	V_COUNT
};

const char *smtp_verb_name(int verb);

/* Longest recipient kept with an event; longer ones are cut. */
#define SMTP_RCPT_MAX 128
/* Bytes of a client line kept to parse it: the verb and a recipient. */
#define SMTP_CLINE_KEEP (16 + SMTP_RCPT_MAX)
/* Bytes of a reply line kept: code and enhanced status code. */
#define SMTP_SLINE_KEEP 24

struct smtp_event {
	uint8_t verb;
	bool has_enh;
	bool in_txn;		/* the last MAIL FROM was accepted, or unknown */
	bool last;		/* BDAT ... LAST */
	uint16_t code;
	uint16_t enh[3];	/* class.subject.detail */
	uint32_t rcpt_hash;	/* of the lower-cased recipient, RCPT only */
	uint16_t rcpt_len;	/* 0 when unknown */
	const char *rcpt;
	/* Bytes on the wire, CR LF included (saturated): the command line
	 * (0 for the end of data) and the whole reply, every line. What a
	 * TLS record of them would hold (see tls.h). */
	uint16_t cmd_len, reply_len;
};

typedef void (*smtp_event_fn)(void *arg, const struct smtp_event *ev);

struct smtp_stats {
	uint64_t replies[V_COUNT][6];	/* by verb and first digit */
	uint64_t unsolicited;		/* reply with no command pending */
	uint64_t unpaired_replies;	/* replies while not paired (desynced) */
	uint64_t malformed_replies;
	uint64_t overlong_lines;
	uint64_t pipeline_overflow;
	uint64_t desyncs;
	uint64_t resyncs;
	uint64_t opaque_starttls;
	uint64_t opaque_tls;		/* TLS from the first byte */
	uint64_t bodies;
	uint64_t body_bytes;
	uint64_t bdat_bytes;
};

struct smtp_pending {
	uint8_t verb;
	uint8_t last;		/* BDAT ... LAST */
	uint16_t rcpt_len;
	uint32_t rcpt_hash;
	uint32_t slot;		/* recipient ring position */
	uint16_t cmd_len;	/* the line's bytes */
};

/* Shared by every session of one pipeline. */
struct smtp_ctx {
	uint32_t max_pipeline;
	uint32_t max_line;
	smtp_event_fn on_event;
	struct smtp_stats st;
	/* Recipients of pending RCPTs, kept in a ring rather than per
	 * session, so a session costs only a few bytes per pending command. */
	uint32_t ring_pos;
	char (*ring)[SMTP_RCPT_MAX];
};

#define SMTP_RING_SLOTS 4096

struct smtp {
	uint8_t cmode;		/* what the client's bytes are: see smtp.c */
	uint8_t body_state;
	bool synced;
	uint8_t txn;		/* MAIL accepted: 0 no, 1 yes, 2 unknown (resynced) */
	bool client_since_reply;
	bool s_multiline;
	bool c_discard;		/* skipping to the end of a client line */
	bool s_discard;
	bool starttls;		/* opaque after an accepted STARTTLS */
	bool spoke;		/* a whole client line was seen */
	bool tls_first;		/* TLS from the client's first byte (port 465) */
	uint16_t r_code;
	uint16_t r_bytes;	/* of the reply so far */
	bool r_has_enh;
	uint16_t r_enh[3];
	uint16_t cl_len;
	uint32_t cl_total;
	uint8_t sl_len;
	uint32_t sl_total;
	uint64_t bdat_left;
	uint32_t q_head, q_len, q_cap;
	struct smtp_pending *q;
	char cl[SMTP_CLINE_KEEP];
	char sl[SMTP_SLINE_KEEP];
};

void smtp_ctx_init(struct smtp_ctx *c, uint32_t max_pipeline, uint32_t max_line,
		   smtp_event_fn fn);
void smtp_ctx_free(struct smtp_ctx *c);

/* verified: the handshake was seen, so the first reply is the greeting.
 * Otherwise the session was picked up mid-stream and starts unsynced. */
void smtp_init(struct smtp *s, bool verified);
void smtp_free(struct smtp *s);

void smtp_client(struct smtp_ctx *c, struct smtp *s, const uint8_t *d, uint32_t n, void *arg);
/* The same, told whether d is plain: no LF in it is followed by a dot
 * (smtp_plain), so that a message body's scan for its end skips it. */
void smtp_client_plain(struct smtp_ctx *c, struct smtp *s, const uint8_t *d, uint32_t n, bool plain,
		       void *arg);
/* Whether no LF in d[0..n) is followed by a dot. True of d, it is true
 * of any part of d. */
bool smtp_plain(const uint8_t *d, uint32_t n);
void smtp_server(struct smtp_ctx *c, struct smtp *s, const uint8_t *d, uint32_t n, void *arg);
void smtp_client_gap(struct smtp_ctx *c, struct smtp *s, uint32_t n);
void smtp_server_gap(struct smtp_ctx *c, struct smtp *s, uint32_t n);

bool smtp_opaque(const struct smtp *s);
/* Opaque because the server accepted STARTTLS: TLS records follow. */
bool smtp_in_starttls(const struct smtp *s);
/* Opaque because the session is TLS from its first byte (implicit TLS,
 * port 465): every byte the client sent is a record. */
bool smtp_tls_first(const struct smtp *s);

#endif
