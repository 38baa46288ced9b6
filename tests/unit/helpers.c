#include "helpers.h"

#include <stdlib.h>
#include <string.h>

static void on_event(void *arg, const struct flow_event *e)
{
	struct rec *r = arg;
	char rc[SMTP_RCPT_MAX + 1] = "";

	if (e->ev->rcpt_len)
		snprintf(rc, sizeof(rc), "%.*s", e->ev->rcpt_len, e->ev->rcpt);
	r->nev++;
	if (e->verified)
		r->nverified++;
	if (e->cls >= 0)
		r->ncls[e->cls]++;
	if (r->siglen < sizeof(r->sig) - 256)
		r->siglen += (size_t)snprintf(r->sig + r->siglen, sizeof(r->sig) - r->siglen,
					      "%s %u %s %s|", smtp_verb_name(e->ev->verb),
					      e->ev->code, ev_class_name(e->cls), rc);
}

static void on_ban(void *arg, const struct ban *b)
{
	struct rec *r = arg;

	if (r->nban < (int)(sizeof(r->ban) / sizeof(r->ban[0])))
		r->ban[r->nban] = *b;
	r->nban++;
}

static int dlt_of(int link)
{
	return link == PW_RAW ? LINK_RAW : link;
}

struct rec *rec_new(const char *cfgtext, int pcap_link)
{
	struct rec *r = calloc(1, sizeof(*r));

	config_defaults(&r->cfg);
	if (config_load_string(&r->cfg, cfgtext ? cfgtext : "", "test", stderr))
		abort();
	r->dlt = dlt_of(pcap_link);
	pipeline_init(&r->p, &r->cfg, 42, on_ban, on_event, r);
	return r;
}

void rec_free(struct rec *r)
{
	pipeline_free(&r->p);
	config_free(&r->cfg);
	free(r);
}

void rec_frame(void *arg, int64_t ts, const uint8_t *frame, uint32_t len)
{
	struct rec *r = arg;

	pipeline_frame(&r->p, ts, r->dlt, frame, len);
}

void rec_sess(struct rec *r, struct tcpsess *s, const char *cli, const char *srv,
	      uint32_t cli_isn, uint32_t srv_isn)
{
	int link = r->dlt == LINK_RAW ? PW_RAW : r->dlt;

	sess_init(s, rec_frame, r, link, cli, 40000, srv, 25, cli_isn, srv_isn);
}

void fl_add(void *arg, int64_t ts, const uint8_t *frame, uint32_t len)
{
	struct framelist *fl = arg;

	if (fl->n == fl->cap) {
		fl->cap = fl->cap ? fl->cap * 2 : 64;
		fl->f = realloc(fl->f, sizeof(*fl->f) * (size_t)fl->cap);
	}
	fl->f[fl->n].ts = ts;
	fl->f[fl->n].len = len;
	fl->f[fl->n].data = malloc(len);
	memcpy(fl->f[fl->n].data, frame, len);
	fl->n++;
}

void fl_feed(struct framelist *fl, struct rec *r)
{
	for (int i = 0; i < fl->n; i++)
		if (fl->f[i].data)
			rec_frame(r, fl->f[i].ts, fl->f[i].data, fl->f[i].len);
}

void fl_free(struct framelist *fl)
{
	for (int i = 0; i < fl->n; i++)
		free(fl->f[i].data);
	free(fl->f);
	memset(fl, 0, sizeof(*fl));
}

struct config *cfg_new(const char *text)
{
	struct config *c = calloc(1, sizeof(*c));

	config_defaults(c);
	if (config_load_string(c, text, "test", stderr))
		abort();
	return c;
}

void cfg_del(struct config *c)
{
	config_free(c);
	free(c);
}

struct prefix pfx(const char *s)
{
	struct prefix p;

	if (prefix_parse(s, &p))
		abort();
	return p;
}

void rcpt_event(struct tracker *t, usec_t now, const char *addr, int cls, int code, const char *rcpt)
{
	struct ipaddr a;
	struct smtp_event e = { .verb = V_RCPT, .code = (uint16_t)code, .in_txn = true };

	addr_parse(addr, &a);
	e.rcpt = rcpt;
	e.rcpt_len = (uint16_t)strlen(rcpt);
	e.rcpt_hash = (uint32_t)hash_bytes(rcpt, strlen(rcpt), 0);
	tracker_event(t, now, &a, cls, &e);
}
