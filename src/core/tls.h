/* After STARTTLS: what the record layer still tells of the dialogue.
 *
 * The bytes of a session that said STARTTLS are TLS records. Their
 * contents are secret, their lengths are not: with an AEAD cipher each
 * record is its plaintext plus a constant (TLS 1.3: 17, TLS 1.2 GCM: 24,
 * ChaCha20: 16), with CBC the plaintext is known to 16 bytes. A server's
 * reply texts are known too, from the cleartext sessions rcptguard
 * follows anyway: each (command, reply class) has a length that is a
 * constant, or a constant plus the recipient's length (Postfix echoes the
 * address in its reject). So an exchange, the client's records and the
 * server's records that answer them, can be explained by a mix of
 * commands (MAIL, k RCPTs accepted or rejected, RSET, DATA, QUIT) whose
 * lengths fill both sides exactly; the number of rejected RCPTs of the
 * best mix is what is counted (see tls.c).
 *
 * It is an inference and can fail; it is gated so that failing means
 * counting nothing: a session counts only if its server is calibrated and
 * the length quantum (1 for AEAD, 16 for CBC, the block of a padding
 * server) is smaller than the gap between that server's smallest reject
 * and largest accept. Otherwise the session is "blind", with the reason. */
#ifndef RCPTGUARD_TLS_H
#define RCPTGUARD_TLS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "smtp.h"

/* ---- calibration: one server's reply lengths, from cleartext ---- */

/* What a length is fitted for. */
enum tls_cell {
	TC_RCPT_ACC,	/* 2xx to RCPT */
	TC_RCPT_REJ,	/* rcpt_rejected */
	TC_MAIL,	/* 2xx to MAIL */
	TC_DATA,	/* 354 */
	TC_EOM,		/* 2xx to the end of data */
	TC_RSET,	/* 2xx to RSET */
	TC_QUIT,	/* 221 */
	TC_NCELLS
};

/* Two generations of a sample (the older dropped when the newer has
 * TLS_GEN observations): lengths kept fresh, in bounded memory. [0] is
 * the length, [1] the length minus the recipient's. */
#define TLS_GEN 128

struct tls_gen {
	uint16_t n;
	uint16_t lo[2], hi[2];
};

struct tls_fit {
	struct tls_gen g[2];
	uint8_t cur;
};

/* Postfix's error sleep: once a session has made smtpd_soft_error_limit
 * errors (4xx and 5xx replies), every reply waits smtpd_error_sleep_time.
 * Learnt per server from its cleartext sessions: for each count of errors
 * before a reply (the last cell takes all larger counts), how many
 * replies came, how many were slow (TLS_SLOW_MS or more after the
 * client's bytes or the previous reply, whichever came last), and their
 * delay. Halved when a cell reaches TLS_SLEEP_N: kept fresh. */
#define TLS_SLEEP_E 24
#define TLS_SLEEP_N 1024
#define TLS_SLOW_MS 200

struct tls_sleep {
	uint16_t n[TLS_SLEEP_E], slow[TLS_SLEEP_E];
	uint32_t ms[TLS_SLEEP_E];	/* the slow ones' delays, summed */
};

struct tls_calib {
	struct ipaddr srv;
	uint64_t seen;		/* observations, all kinds */
	struct tls_fit reply[TC_NCELLS];
	struct tls_fit cmd[TC_NCELLS];	/* the client's lines */
	/* Recipient lengths at this server: the prior of the inference. */
	uint32_t ln;
	uint64_t lsum, lsq;
	struct tls_sleep sleep;
};

/* Servers calibrated at once: a table of this many, the least recently
 * seen replaced. */
#define TLS_CALIB_MAX 64

struct tls_calibs {
	struct tls_calib v[TLS_CALIB_MAX];
	uint32_t n;
	uint32_t changed;	/* fits that moved since the owner last looked */
};

/* A reply (and its command) of a cleartext session with server srv. */
void tls_calib_observe(struct tls_calibs *t, const struct ipaddr *srv, const struct smtp_event *ev,
		       int cls);
/* A reply of a cleartext session with srv came delay_us after the
 * client's bytes (or the previous reply), with errors made before it. */
void tls_calib_delay(struct tls_calibs *t, const struct ipaddr *srv, uint32_t errors, uint64_t delay_us);
/* The error sleep c's replies show: every reply slow from the after-th
 * error on, none (or few) before; ms their mean delay. false when not
 * seen (a server that does not sleep, or no session made that many
 * errors in the clear). */
bool tls_calib_sleep(const struct tls_calib *c, uint32_t *after, uint32_t *ms);
/* srv's calibration, or NULL. With fallback, an address that has no
 * cleartext rejection of its own takes the best-calibrated one. */
const struct tls_calib *tls_calib_find(const struct tls_calibs *t, const struct ipaddr *srv, bool fallback);

/* Every server's fits: as text (one line a server) or as a JSON array. */
void tls_calib_print(const struct tls_calibs *t, bool json, FILE *o);
/* In the state file: a line a fit, "calib ADDR reply|cmd CELL N LO0 HI0
 * LO1 HI1", "calib ADDR prior SEEN N SUM SUMSQ" and "calib ADDR sleep E N
 * SLOW MS" (a line a cell of the error sleep); the two generations
 * are saved as one. tls_calib_load_line takes the fields of a line
 * starting with "calib": 0 when taken, -1 when malformed. */
void tls_calib_save(const struct tls_calibs *t, FILE *f);
int tls_calib_load_line(struct tls_calibs *t, char *const *fld, int nf);

/* A fitted length: lo + m * L .. hi + m * L. false if never seen. */
struct tls_len {
	int32_t lo, hi;
	uint8_t m;
};
bool tls_calib_len(const struct tls_calib *c, bool reply, enum tls_cell cell, struct tls_len *out);

/* ---- one session's records ---- */

enum tls_cipher {
	TLSC_UNKNOWN,	/* no ServerHello yet */
	TLSC_AEAD13,	/* TLS 1.3 */
	TLSC_GCM12,	/* TLS 1.2 AES-GCM or CCM */
	TLSC_CHACHA12,	/* TLS 1.2 ChaCha20-Poly1305 */
	TLSC_CBC_ETM,	/* TLS 1.2 CBC, encrypt-then-MAC */
	TLSC_CBC_MTE,	/* TLS 1.2 CBC, MAC-then-encrypt */
	TLSC_OTHER,	/* anything else: never counted */
	TLSC_COUNT
};

extern const char *const tls_cipher_names[TLSC_COUNT];

/* Why a session counts nothing. */
enum tls_blind {
	TLSB_NONE,
	TLSB_HELLO,	/* no ServerHello read: not TLS, or joined late */
	TLSB_CIPHER,	/* a cipher whose lengths we do not model */
	TLSB_CALIB,	/* the server has no calibrated reject and accept */
	TLSB_GAP,	/* quantum (CBC) not below the server's reject/accept gap */
	TLSB_PADDING,	/* padded records, block not below the gap */
	TLSB_BROKEN,	/* not records: a gap in the capture, or garbage */
	TLSB_COUNT
};

extern const char *const tls_blind_names[TLSB_COUNT];

struct tls_stats {
	uint64_t sessions;		/* followed after STARTTLS */
	uint64_t counted;		/* sessions that passed the gate */
	uint64_t blind[TLSB_COUNT];	/* sessions, by the first reason */
	uint64_t by_cipher[TLSC_COUNT];
	uint64_t records[2];		/* client, server */
	uint64_t exchanges;		/* judged */
	uint64_t explained;
	uint64_t unexplained;		/* no mix fits, even joined with the next ones */
	uint64_t capped;		/* too many commands to search: not counted */
	uint64_t rejected;		/* inferred rejected RCPTs, most likely */
	uint64_t rejected_lower;	/* the fewest any fitting mix has */
	uint64_t accepted;		/* inferred accepted RCPTs */
};

/* What an exchange held, for this session's client: n rejected RCPTs
 * (most likely; lower the fewest any fitting mix has) and accepted ones
 * (the evidence a rule's share needs); or, unexplained, that nothing
 * fitted it (commands never seen in the clear, say: a signal too). */
typedef void (*tls_event_fn)(void *arg, uint32_t n, uint32_t lower, uint32_t accepted, bool unexplained);

struct tls_ctx {
	struct tls_calibs cal;
	/* The servers are this host's own (servers = local): its addresses
	 * are one MTA, and one calibrates the others. A gateway's servers
	 * (a list, or any) are each their own. */
	bool fallback;
	struct tls_stats st;
	tls_event_fn on_rejects;
};

struct tls_rec {
	uint16_t lo, hi;	/* plaintext length, bounds */
};

/* Records of one exchange kept for the join of unexplained ones. */
#define TLS_EXCH_MAX 64

struct tls_dir {
	uint8_t hdr[5];
	uint8_t nhdr;
	uint8_t type;
	uint16_t left;		/* body bytes of the current record still to come */
	uint16_t len;
	uint32_t app;		/* application records so far */
};

struct tls {
	struct ipaddr srv;
	struct tls_dir dir[2];	/* 0 client, 1 server */
	uint8_t cipher, phase, blind;
	uint8_t mac;		/* CBC: MAC bytes */
	bool counted;		/* passed the gate (once known) */
	bool server_seen;	/* server records in the open exchange */
	bool txn, rcpt_ok, body;	/* SMTP state, as inferred */
	uint8_t joins;
	uint16_t pad;		/* padding block detected, or 0 */
	uint16_t nhs;
	uint8_t hs[96];		/* the server's first handshake bytes */
	/* The open exchange: sums of plaintext bounds, record counts. */
	uint32_t clo, chi, slo, shi;
	uint16_t nc, ns;
	uint16_t pad_seen;	/* server records looked at for padding */
};

void tls_ctx_init(struct tls_ctx *c, tls_event_fn fn);
/* A session to follow from now (its STARTTLS was accepted). */
void tls_init(struct tls_ctx *c, struct tls *t, const struct ipaddr *srv);
/* Bytes of the client's (dir 0) or the server's (dir 1) stream, in order;
 * NULL data: n bytes lost. */
void tls_data(struct tls_ctx *c, struct tls *t, int dir, const uint8_t *d, uint32_t n, void *arg);
/* The open exchange is judged now if the server answered in it (a FIN,
 * the end of a capture): the client may never send again. */
void tls_flush(struct tls_ctx *c, struct tls *t, void *arg);
/* Nothing more to read from this session's records (blind, broken or
 * ended): the rest of it may bypass rcptguard. */
bool tls_done(const struct tls *t);
/* The session ends: its last exchange is judged. */
void tls_end(struct tls_ctx *c, struct tls *t, void *arg);

/* Exposed for the tests: the plaintext bounds of a record of length len. */
bool tls_plaintext(const struct tls *t, uint16_t len, struct tls_rec *out);

#endif
