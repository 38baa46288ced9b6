/* Feed synthesised sessions through a real pipeline and record what comes
 * out, as a compact text signature that tests compare. */
#ifndef RCPTGUARD_T_HELPERS_H
#define RCPTGUARD_T_HELPERS_H

#include "config.h"
#include "pcapw.h"
#include "pipeline.h"

struct rec {
	struct config cfg;
	struct pipeline p;
	int dlt;
	char sig[65536];	/* "VERB code class rcpt|..." per event */
	size_t siglen;
	int nev, nverified;
	int ncls[EC_COUNT];
	int nban;
	struct ban ban[32];
};

/* A configuration from text over the defaults; aborts on an error. */
struct config *cfg_new(const char *text);
void cfg_del(struct config *c);
/* A prefix from text; aborts on a bad one. */
struct prefix pfx(const char *s);
/* One reply to RCPT TO:<rcpt> from addr, of class cls, into the tracker. */
void rcpt_event(struct tracker *t, usec_t now, const char *addr, int cls, int code, const char *rcpt);

struct rec *rec_new(const char *cfgtext, int pcap_link);
void rec_free(struct rec *r);
void rec_frame(void *arg, int64_t ts, const uint8_t *frame, uint32_t len);
/* A session whose frames go to r. */
void rec_sess(struct rec *r, struct tcpsess *s, const char *cli, const char *srv,
	      uint32_t cli_isn, uint32_t srv_isn);

/* Frames kept in memory, to be reordered or dropped before feeding. */
struct framelist {
	int n, cap;
	struct { int64_t ts; uint32_t len; uint8_t *data; } *f;
};
void fl_add(void *arg, int64_t ts, const uint8_t *frame, uint32_t len);
void fl_feed(struct framelist *fl, struct rec *r);
void fl_free(struct framelist *fl);

#endif
