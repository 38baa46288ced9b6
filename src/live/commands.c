/* What the control socket answers: status, bans, top, manual ban and
 * unban, reload, metrics. Everything here runs inside one iteration of
 * the event loop and only reads or calls the daemon's own state. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "commands.h"
#include "daemon.h"
#include "daemon_counters.h"
#include "log.h"
#include "state.h"
#include "sandbox.h"

#ifndef RCPTGUARD_VERSION
#define RCPTGUARD_VERSION "0.1.0"
#endif

#define MAX_ARGS 8

/* ---- status ---- */

static void status_text(struct daemon *d, FILE *o)
{
	struct counter_ctx cc = { .p = daemon_view(d), .live = d };
	char a[64], b[64];
	usec_t up = clock_wall() - d->started;

	fprintf(o, "rcptguard %s, up %s (since %s)\n", RCPTGUARD_VERSION,
		fmt_duration(up / USEC_PER_SEC * USEC_PER_SEC, a, sizeof(a)),
		fmt_time(d->started, b, sizeof(b)));
	fprintf(o, "mode: %s, config %s\n", d->cfg->observe ? "observe (nothing is enforced)" : "enforce",
		d->cfgpath ? d->cfgpath : "(defaults)");
	if (d->enf) {
		int how = enforcer_queue_how(d->enf);

		fprintf(o, "enforcing: table inet %s (%s%s), sets of %u elements each\n", d->cfg->table,
			d->cfg->manage_ruleset ? "managed" : "sets only",
			how == QUEUE_EXPR ? ", queue rules: nft queue" :
			how == QUEUE_COMPAT ? ", queue rules: compat NFQUEUE" : "", d->cfg->set_size);
	} else if (!d->cfg->observe) {
		fprintf(o, "enforcing: NO (see the log for why)\n");
	}
	counters_text(counters_status, &cc, "", o);
}

static void status_json(struct daemon *d, FILE *o)
{
	struct counter_ctx cc = { .p = daemon_view(d), .live = d };
	char path[600];

	json_escape(d->cfgpath ? d->cfgpath : "", d->cfgpath ? strlen(d->cfgpath) : 0, path, sizeof(path));
	fprintf(o, "{\"version\":\"%s\",\"uptime_seconds\":%" PRId64 ",\"mode\":\"%s\",\"config\":\"%s\","
		"\"enforcing\":%s,", RCPTGUARD_VERSION, (clock_wall() - d->started) / USEC_PER_SEC,
		d->cfg->observe ? "observe" : "enforce", path, d->enf ? "true" : "false");
	counters_json(counters_status, &cc, o);
	fputs("}\n", o);
}

/* ---- bans ---- */

struct bans_ctx {
	struct daemon *d;
	FILE *o;
	bool json;
	size_t n;
	usec_t now;
	struct elem_table k;
};

static void one_ban(void *arg, const struct ban_record *r)
{
	struct bans_ctx *x = arg;
	char key[ADDR_STRLEN], left[32], since[40];
	const struct elem_info *ei = elem_table_find(&x->k, &r->key);
	usec_t l = r->until > x->now ? (r->until - x->now) / USEC_PER_SEC * USEC_PER_SEC : 0;
	const char *rule = tracker_rule_name(x->d->p.tracker, r->rule);

	prefix_fmt(&r->key, key, sizeof(key));
	fmt_duration(l, left, sizeof(left));
	fmt_time(r->since, since, sizeof(since));
	if (x->json) {
		fprintf(x->o, "%s{\"key\":\"%s\",\"rule\":\"%s\",\"count\":%" PRIu32 ",\"since\":\"%s\","
			"\"seconds_left\":%" PRId64 ",\"banned_before\":%" PRIu32 ",\"in_kernel\":%s",
			x->n ? "," : "", key, rule, r->count, since, l / USEC_PER_SEC,
			r->nth ? r->nth - 1 : 0, ei ? "true" : "false");
		if (ei)
			fprintf(x->o, ",\"dropped_packets\":%" PRIu64 ",\"dropped_bytes\":%" PRIu64,
				ei->packets, ei->bytes);
		/* Valid recipients the harvester learned before the ban. */
		fprintf(x->o, ",\"leaked_count\":%" PRIu32 ",\"leaked\":[", r->nleaked);
		for (uint32_t i = 0; i < r->nlisted; i++) {
			char esc[SMTP_RCPT_MAX * 6 + 1];

			json_escape(r->leaked[i], strlen(r->leaked[i]), esc, sizeof(esc));
			fprintf(x->o, "%s\"%s\"", i ? "," : "", esc);
		}
		fputs("]}", x->o);
	} else {
		char dropped[24] = "-";

		if (ei)
			snprintf(dropped, sizeof(dropped), "%" PRIu64, ei->packets);
		if (!x->n)
			fprintf(x->o, "%-28s %-10s %6s %10s %7s %10s %s\n", "KEY", "RULE", "COUNT", "LEFT",
				"BEFORE", "DROPPED", "SINCE");
		fprintf(x->o, "%-28s %-10s %6" PRIu32 " %10s %7" PRIu32 " %10s %s\n", key, rule, r->count,
			left, r->nth ? r->nth - 1 : 0, dropped, since);
	}
	x->n++;
}

static int cmd_bans(struct daemon *d, bool json, FILE *o)
{
	struct bans_ctx x = { .d = d, .o = o, .json = json, .now = clock_wall() };

	/* What each ban dropped comes from the kernel's per-element counters. */
	if (d->enf)
		enforcer_snapshot(d->enf, &x.k);
	if (json)
		fputc('[', o);
	tracker_foreach_ban(d->p.tracker, true, one_ban, &x);
	if (json)
		fputs("]\n", o);
	else if (!x.n)
		fputs("no active bans\n", o);
	elem_table_free(&x.k);
	return 0;
}

/* ---- top ---- */

struct top_ent {
	struct prefix key;
	uint64_t total;
	uint32_t by_class[EC_COUNT];
};

struct top_ctx {
	const struct config *cfg;
	struct top_ent *v;
	size_t n, cap;
};

static void top_one(void *arg, const struct prefix *key, const uint32_t *counts)
{
	struct top_ctx *x = arg;
	struct top_ent *e;

	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 256;
		x->v = xrealloc(x->v, x->cap * sizeof(*x->v));
	}
	e = &x->v[x->n++];
	memset(e, 0, sizeof(*e));
	e->key = *key;
	/* Rules on one class differ in their windows: the longest holds the
	 * most, so a class shows its largest count, not their sum. */
	for (size_t r = 0; r < x->cfg->nrules; r++) {
		const struct rule *ru = &x->cfg->rules[r];
		uint32_t *c = &e->by_class[ru->cls], n = counts[r];

		/* A rule of rejections inside TLS counts the cleartext ones
		 * too: what it holds beyond a cleartext rule of a window no
		 * longer than its own is what TLS added. */
		if (ru->cls == EC_RCPT_REJECTED_TLS) {
			uint32_t clear = 0;
			usec_t best = 0;

			for (size_t q = 0; q < x->cfg->nrules; q++)
				if (x->cfg->rules[q].cls == EC_RCPT_REJECTED && x->cfg->rules[q].window <= ru->window &&
				    x->cfg->rules[q].window >= best) {
					best = x->cfg->rules[q].window;
					clear = counts[q];
				}
			n = n > clear ? n - clear : 0;
		}
		if (n > *c)
			*c = n;
	}
	for (int c = 0; c < EC_COUNT; c++)
		e->total += e->by_class[c];
}

static int cmp_top(const void *a, const void *b)
{
	const struct top_ent *x = a, *y = b;

	return x->total < y->total ? 1 : x->total > y->total ? -1 : prefix_cmp(&x->key, &y->key);
}

static int cmd_top(struct daemon *d, size_t limit, bool json, FILE *o)
{
	struct top_ctx x = { .cfg = d->cfg };

	tracker_foreach_source(d->p.tracker, top_one, &x);
	if (x.n)
		qsort(x.v, x.n, sizeof(*x.v), cmp_top);
	if (x.n > limit)
		x.n = limit;
	if (json)
		fputc('[', o);
	else if (x.n)
		fprintf(o, "%-28s %6s  %s\n", "KEY", "EVENTS", "BY CLASS (in the rules' windows now)");
	for (size_t i = 0; i < x.n; i++) {
		char key[ADDR_STRLEN];
		bool first = true;

		prefix_fmt(&x.v[i].key, key, sizeof(key));
		if (json)
			fprintf(o, "%s{\"key\":\"%s\",\"events\":%" PRIu64 ",\"by_class\":{", i ? "," : "",
				key, x.v[i].total);
		else
			fprintf(o, "%-28s %6" PRIu64 " ", key, x.v[i].total);
		for (int c = 0; c < EC_COUNT; c++) {
			if (!x.v[i].by_class[c])
				continue;
			if (json)
				fprintf(o, "%s\"%s\":%u", first ? "" : ",", ev_class_name(c), x.v[i].by_class[c]);
			else
				fprintf(o, " %s=%u", ev_class_name(c), x.v[i].by_class[c]);
			first = false;
		}
		fputs(json ? "}}" : "\n", o);
	}
	if (json)
		fputs("]\n", o);
	else if (!x.n)
		fputs("no source has events in its windows now\n", o);
	free(x.v);
	return 0;
}

/* ---- manual ban and unban ---- */

/* ADDR or ADDR/LEN; without a length, the prefix the first rule uses for
 * that family, which is what the sets are keyed on. */
static int parse_key(struct daemon *d, const char *s, struct prefix *k, FILE *o)
{
	if (!s || prefix_parse(s, k)) {
		fprintf(o, "not an address or prefix: %s\n", s ? s : "(none)");
		return -1;
	}
	if (!strchr(s, '/')) {
		uint8_t plen = k->a.af == 4 ? d->cfg->rules[0].prefix4 : d->cfg->rules[0].prefix6;

		addr_mask(&k->a, plen, &k->a);
		k->len = plen;
	}
	return 0;
}

static int cmd_ban(struct daemon *d, const char *keystr, const char *durstr, FILE *o)
{
	struct prefix k;
	usec_t dur = d->cfg->rules[0].ban;
	char key[ADDR_STRLEN], dbuf[32];
	int why;

	if (parse_key(d, keystr, &k, o))
		return -1;
	if (durstr && (parse_duration(durstr, &dur) || dur < USEC_PER_SEC || dur > MAX_DURATION)) {
		fprintf(o, "not a duration from 1s to 365d: %s\n", durstr);
		return -1;
	}
	prefix_fmt(&k, key, sizeof(key));
	fmt_duration(dur, dbuf, sizeof(dbuf));
	why = daemon_ban(d, &k, dur, true, BAN_MANUAL, 0, 0);
	if (why == TRACK_ALLOWLISTED) {
		fprintf(o, "refused: %s is allowlisted\n", key);
		return -1;
	}
	if (why == TRACK_NEVER_BAN) {
		fprintf(o, "refused: %s is loopback, link-local or one of this host's addresses\n", key);
		return -1;
	}
	if (why != TRACK_OK) {
		fprintf(o, "refused: the source table is full of banned sources (max_sources)\n");
		return -1;
	}
	if (d->cfg->observe) {
		fprintf(o, "mode = observe: %s counted as banned for %s, nothing enforced\n", key, dbuf);
		return 0;
	}
	logmsg(LOG_NOTICE, "manual ban %s duration=%s", key, dbuf);
	if (daemon_flush(d)) {
		fprintf(o, "%s banned in rcptguard, but the kernel refused the element (see the log)\n", key);
		return -1;
	}
	fprintf(o, "banned %s for %s\n", key, dbuf);
	return 0;
}

static int cmd_unban(struct daemon *d, const char *keystr, FILE *o)
{
	struct prefix k;
	char key[ADDR_STRLEN];
	int known;

	if (parse_key(d, keystr, &k, o))
		return -1;
	prefix_fmt(&k, key, sizeof(key));
	known = daemon_unban(d, &k);
	if (known < 0) {
		fprintf(o, "cannot delete %s from the kernel's set (see the log)\n", key);
		return -1;
	}
	if (!known) {
		fprintf(o, "%s was not banned\n", key);
		return -1;
	}
	logmsg(LOG_NOTICE, "manual unban %s", key);
	/* And everywhere else: its decisions in LAPI go too. */
	fleet_unban(d->fleet, &k);
	fprintf(o, "unbanned %s\n", key);
	return 0;
}

/* ---- metrics ---- */

void commands_metrics(struct daemon *d, FILE *o)
{
	struct counter_ctx cc = { .p = daemon_view(d), .live = d };

	counters_prom(counters_status, &cc, o);
}

void commands_write_metrics_file(struct daemon *d)
{
	char tmp[300];
	FILE *f;

	if (!d->cfg->metrics_file[0])
		return;
	/* node_exporter's textfile collector reads *.prom: never half a file. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->cfg->metrics_file);
	f = fopen(tmp, "w");
	if (!f || (commands_metrics(d, f), fclose(f)) || rename(tmp, d->cfg->metrics_file)) {
		if (!d->metrics_errors++)
			logmsg(LOG_ERR, "cannot write %s: %s", d->cfg->metrics_file, strerror(errno));
		return;
	}
	d->metrics_errors = 0;
}

/* ---- the table and the dispatcher ---- */

static int run_status(struct daemon *d, int argc, char **argv, bool json, FILE *o)
{
	(void)argc;
	(void)argv;
	(json ? status_json : status_text)(d, o);
	return 0;
}

static int run_bans(struct daemon *d, int argc, char **argv, bool json, FILE *o)
{
	(void)argc;
	(void)argv;
	return cmd_bans(d, json, o);
}

static int run_top(struct daemon *d, int argc, char **argv, bool json, FILE *o)
{
	char *end = NULL;
	long n = argc == 1 ? strtol(argv[0], &end, 10) : 20;

	if (argc == 1 && (*end || n < 1 || n > 100000)) {
		fprintf(o, "top: N must be a number from 1 to 100000\n");
		return -1;
	}
	return cmd_top(d, (size_t)n, json, o);
}

static int run_ban(struct daemon *d, int argc, char **argv, bool json, FILE *o)
{
	(void)json;
	return cmd_ban(d, argv[0], argc == 2 ? argv[1] : NULL, o);
}

static int run_unban(struct daemon *d, int argc, char **argv, bool json, FILE *o)
{
	(void)argc;
	(void)json;
	return cmd_unban(d, argv[0], o);
}

static int run_reload(struct daemon *d, int argc, char **argv, bool json, FILE *o)
{
	(void)argc;
	(void)argv;
	(void)json;
	return daemon_reload(d, o);
}

static int run_calibration(struct daemon *d, int argc, char **argv, bool json, FILE *o)
{
	(void)argc;
	(void)argv;
	if (!d->p.tls.cal.n && !json)
		fputs("no server calibrated yet: cleartext replies teach each server's lengths\n", o);
	tls_calib_print(&d->p.tls.cal, json, o);
	return 0;
}

static int run_metrics(struct daemon *d, int argc, char **argv, bool json, FILE *o)
{
	(void)argc;
	(void)argv;
	(void)json;
	commands_metrics(d, o);
	return 0;
}

/* The commands whose answer is a message, not a listing: with --json it
 * comes as {"ok":...,"message":"..."}. */
static bool answers_message(const struct command *c)
{
	return c->run == run_ban || c->run == run_unban || c->run == run_reload;
}

const struct command commands[] = {
	{ "status", "[--json]", "what the running daemon sees and does", 0, 0, run_status },
	{ "bans", "[--json]", "active bans, with what each dropped", 0, 0, run_bans },
	{ "top", "[-n N] [--json]", "sources with the most events now", 0, 1, run_top },
	{ "ban", "ADDR[/LEN] [DURATION]", "ban by hand (never an allowlisted address)", 1, 2, run_ban },
	{ "unban", "ADDR[/LEN]", "lift a ban", 1, 1, run_unban },
	{ "reload", "", "re-read the configuration (as SIGHUP)", 0, 0, run_reload },
	{ "calibration", "[--json]", "each server's reply lengths, for the inference inside TLS", 0, 0,
	  run_calibration },
	{ "metrics", "", "Prometheus text exposition", 0, 0, run_metrics },
	{ NULL, NULL, NULL, 0, 0, NULL },
};

const struct command *command_find(const char *name)
{
	for (const struct command *c = commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static void help(FILE *o)
{
	fputs("commands:", o);
	for (const struct command *c = commands; c->name; c++)
		fprintf(o, "%s %s", c == commands ? "" : ",", c->name);
	fputs("; add --json to any\n", o);
}

/* The words of a message command as one JSON object, for scripts. */
static int run_as_json(const struct command *c, struct daemon *d, int argc, char **argv, FILE *o)
{
	char *text = NULL, *esc;
	size_t len = 0, elen;
	FILE *m = open_memstream(&text, &len);
	int rc;

	if (!m) {
		fprintf(o, "out of memory\n");
		return -1;
	}
	rc = c->run(d, argc, argv, true, m);
	fclose(m);	/* sets text and len */
	elen = 6 * len + 8;
	esc = xcalloc(1, elen);
	while (len && text[len - 1] == '\n')
		text[--len] = 0;
	json_escape(text, len, esc, elen);
	fprintf(o, "{\"ok\":%s,\"message\":\"%s\"}\n", rc ? "false" : "true", esc);
	free(esc);
	free(text);
	return rc;
}

int commands_handle(struct daemon *d, char *req, FILE *o)
{
	char *argv[MAX_ARGS] = { 0 }, *save = NULL, *tok;
	const struct command *c;
	int argc = 0;
	bool json = false;

	for (tok = strtok_r(req, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (!strcmp(tok, "--json")) {
			json = true;
			continue;
		}
		if (argc == MAX_ARGS) {
			fprintf(o, "too many arguments\n");
			return -1;
		}
		argv[argc++] = tok;
	}
	if (!argc) {
		help(o);
		return -1;
	}
	/* Not a command: the test suite's proof that the sandbox holds (see
	 * sandbox.h). Inside it the process dies here. */
	if (!strcmp(argv[0], "sandbox-probe") && argc == 1) {
		int e = sandbox_probe();

		fprintf(o, "execve was not stopped (%s): no sandbox\n", strerror(e));
		return -1;
	}
	c = command_find(argv[0]);
	if (!c) {
		fprintf(o, "unknown request '%s'; ", argv[0]);
		help(o);
		return -1;
	}
	if (argc - 1 < c->min_args || argc - 1 > c->max_args) {
		fprintf(o, "usage: %s %s\n", c->name, c->cli_args);
		return -1;
	}
	if (json && answers_message(c))
		return run_as_json(c, d, argc - 1, argv + 1, o);
	return c->run(d, argc - 1, argv + 1, json, o);
}
