#include "config.h"
#include "smtp.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

bool rule_has_evidence(const struct rule *r)
{
	switch (r->cls) {
	case EC_RCPT_REJECTED: case EC_RCPT_POLICY: case EC_RCPT_SEQUENCE:
	case EC_RCPT_OTHER: case EC_RCPT_TEMPFAIL:
		return true;
	default:
		return false;
	}
}

/* The rules a fresh install runs with. */
static const struct rule default_rules[] = {
	/* A burst: stopped within its first pipelined batch. A sender whose
	 * rejections are under 60% of its recipients is not a harvester
	 * (a list host with 20 gone of 250 is at 8%); one that mixes in a
	 * third of valid addresses it knows is still at 67%. */
	{ .name = "harvest", .cls = EC_RCPT_REJECTED, .threshold = 10,
	  .window = 600 * USEC_PER_SEC, .ban = 3600 * USEC_PER_SEC, .factor = 2,
	  .max_ban = USEC_PER_SEC * 7 * 86400, .distinct = true,
	  .prefix4 = 0xff, .prefix6 = 0xff, .share = 60 },
	/* Slow and distributed: 20 distinct in a day (one probe every 90 s
	 * is banned after 30 minutes; a server retrying one stale address
	 * all day counts 1), or 3 during a wave from a source that had
	 * nothing accepted. */
	{ .name = "harvest_slow", .cls = EC_RCPT_REJECTED, .threshold = 20,
	  .window = 86400 * USEC_PER_SEC, .ban = 86400 * USEC_PER_SEC, .factor = 2,
	  .max_ban = USEC_PER_SEC * 7 * 86400, .distinct = true,
	  .prefix4 = 0xff, .prefix6 = 0xff, .share = 60, .wave_threshold = 3 },
	{ .name = "vrfy", .cls = EC_VRFY_REJECTED, .threshold = 10,
	  .window = 600 * USEC_PER_SEC, .ban = 3600 * USEC_PER_SEC, .factor = 2,
	  .max_ban = USEC_PER_SEC * 7 * 86400, .distinct = false,
	  .prefix4 = 0xff, .prefix6 = 0xff },
};

/* A rule block starts from these. */
static const struct rule rule_template = {
	.threshold = 10, .window = 600 * USEC_PER_SEC, .ban = 3600 * USEC_PER_SEC,
	.factor = 2, .max_ban = USEC_PER_SEC * 7 * 86400, .distinct = true,
	.cls = -1, .prefix4 = 0xff, .prefix6 = 0xff, .share = 60,
};

static void set_ports(struct config *c, const char *list)
{
	char buf[256], *save = NULL, *tok;

	c->nports = 0;
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, " ,", &save); tok && c->nports < MAX_PORTS;
	     tok = strtok_r(NULL, " ,", &save))
		c->ports[c->nports++] = (uint16_t)strtoul(tok, NULL, 10);	/* the built-in list */
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	set_ports(c, DEF_SMTP_PORTS);
	c->capture = CAPTURE_NFQUEUE;
	c->queue_first = c->queue_last = 0;
	c->queue_maxlen = DEF_QUEUE_MAXLEN;
	c->queue_rcvbuf = DEF_QUEUE_RCVBUF;
	snprintf(c->interface, sizeof(c->interface), "any");
	c->pcap_buffer = DEF_PCAP_BUFFER;
	c->observe = false;
	c->manage_ruleset = true;
	snprintf(c->table, sizeof(c->table), "rcptguard");
	c->drop = DROP_ALL;
	c->gateway = false;
	c->remove_on_exit = false;
	c->manage_queue = false;
	c->set_size = DEF_SET_SIZE;
	snprintf(c->state_file, sizeof(c->state_file), "%s", DEF_STATE_FILE);
	snprintf(c->control_socket, sizeof(c->control_socket), "%s", DEF_CONTROL_SOCKET);
	c->metrics_interval = DEF_METRICS_INTERVAL;
	snprintf(c->user, sizeof(c->user), "%s", DEF_USER);
	c->kill_sessions = -1;
	/* The host's own addresses; replay, which cannot know whose host a
	 * capture came from, follows every server instead. */
	c->servers_mode = SERVERS_LOCAL;
	c->servers_any = true;
	c->max_flows = DEF_MAX_FLOWS;
	c->max_sources = DEF_MAX_SOURCES;
	c->max_pipeline = DEF_MAX_PIPELINE;
	c->max_line = DEF_MAX_LINE;
	c->reasm_flow = DEF_REASM_FLOW;
	c->reasm_total = DEF_REASM_TOTAL;
	c->timeout_embryonic = DEF_TIMEOUT_EMBRYONIC;
	c->timeout_established = DEF_TIMEOUT_ESTABLISHED;
	c->timeout_closing = DEF_TIMEOUT_CLOSING;
	c->follow_midstream = true;
	c->count_unverified = false;
	c->prefix4 = DEF_PREFIX4;
	c->prefix6 = DEF_PREFIX6;
	c->wave_min = DEF_WAVE_MIN;
	c->wave_factor = DEF_WAVE_FACTOR;
	c->wave_baseline = DEF_WAVE_BASELINE;
	memcpy(c->rules, default_rules, sizeof(default_rules));
	/* Rule prefixes stay 0xff ("the global one") until a load resolves
	 * them, so that a file's prefix4/prefix6 reach the default rules. */
	c->nrules = ARRAY_LEN(default_rules);
}

void config_free(struct config *c)
{
	free(c->path);
	prefixlist_free(&c->servers);
	prefixlist_free(&c->allowlist);
	for (size_t i = 0; i < c->ntraps; i++)
		free(c->traps[i]);
	free(c->traps);
	free(c->trap_hash);
	memset(c, 0, sizeof(*c));
}

int config_lint(const struct config *c, FILE *out)
{
	const struct prefixlist *l = &c->allowlist;
	int n = 0;

	/* Entries inside others are harmless but often a sign of a stale
	 * list; the same entry twice too. Quadratic: allowlists are short. */
	for (size_t j = 0; j < l->n; j++) {
		size_t found = l->n;

		for (size_t i = 0; i < l->n; i++) {
			if (i == j || l->v[i].a.af != l->v[j].a.af || l->v[i].len > l->v[j].len ||
			    !prefix_contains(&l->v[i], &l->v[j].a))
				continue;
			if (l->v[i].len == l->v[j].len) {
				if (i < j) {
					found = i;	/* a repeat: said on the later one */
					break;
				}
				continue;
			}
			if (found == l->n)
				found = i;
		}
		if (found < l->n) {
			char a[ADDR_STRLEN], b[ADDR_STRLEN];

			prefix_fmt(&l->v[j], a, sizeof(a));
			prefix_fmt(&l->v[found], b, sizeof(b));
			fprintf(out, "%s: warning: allowlist entry %s %s %s (%s)\n",
				l->origin[j] ? l->origin[j] : "allowlist", a,
				l->v[found].len == l->v[j].len ? "repeats" : "is inside", b,
				l->origin[found] ? l->origin[found] : "allowlist");
			n++;
		}
	}
	return n;
}

bool config_is_smtp_port(const struct config *c, uint16_t port)
{
	for (size_t i = 0; i < c->nports; i++)
		if (c->ports[i] == port)
			return true;
	return false;
}

bool config_is_trap(const struct config *c, const char *rcpt, size_t len, uint32_t hash)
{
	for (size_t i = 0; i < c->ntraps; i++)
		if (c->trap_hash[i] == hash && strlen(c->traps[i]) == len &&
		    memcmp(c->traps[i], rcpt, len) == 0)
			return true;
	return false;
}

/* ---- parsing ---- */

struct parser {
	struct config *c;
	const char *file;
	int line;
	FILE *err;
	int errors;
	struct rule *rule;	/* inside a rule block */
	bool rules_seen;	/* the first block replaces the default rules */
};

__attribute__((format(printf, 2, 3)))
static void perr(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	ps->errors++;
	if (!ps->err)
		return;
	fprintf(ps->err, "%s:%d: ", ps->file, ps->line);
	va_start(ap, fmt);
	vfprintf(ps->err, fmt, ap);	/* NOLINT(clang-analyzer-valist.Uninitialized): va_start is just above; clang 14 false positive */
	va_end(ap);
	fputc('\n', ps->err);
}

/* A warning: reported with FILE:LINE, not an error. */
__attribute__((format(printf, 2, 3)))
static void pwarn(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	if (!ps->err)
		return;
	fprintf(ps->err, "%s:%d: warning: ", ps->file, ps->line);
	va_start(ap, fmt);
	vfprintf(ps->err, fmt, ap);	/* NOLINT(clang-analyzer-valist.Uninitialized): va_start is just above; clang 14 false positive */
	va_end(ap);
	fputc('\n', ps->err);
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
		*out = false;
	else
		return -1;
	return 0;
}

static int parse_u32(const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	unsigned long long x;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return -1;
	*out = (uint32_t)x;
	return 0;
}

/* An absolute path, or "none" for the empty string. */
static void parse_path(struct parser *ps, const char *key, const char *v, char *dst, size_t len)
{
	if (!strcmp(v, "none"))
		dst[0] = 0;
	else if (v[0] != '/' || strlen(v) >= len)
		perr(ps, "%s must be an absolute path (shorter than %zu) or 'none'", key, len);
	else
		snprintf(dst, len, "%s", v);
}

static void parse_prefixes(struct parser *ps, char *v, struct prefixlist *l, const char *origin)
{
	char *save = NULL;

	for (char *tok = strtok_r(v, " \t,\r\n", &save); tok; tok = strtok_r(NULL, " \t,\r\n", &save)) {
		struct prefix p;

		char *slash = strchr(tok, '/');
		struct ipaddr whole;

		if (prefix_parse(tok, &p)) {
			perr(ps, "not an address or prefix: '%s'", tok);
			continue;
		}
		if (slash) {
			*slash = 0;
			if (addr_parse(tok, &whole) == 0 && !addr_eq(&whole, &p.a)) {
				char a[ADDR_STRLEN];

				pwarn(ps, "%s/%s has host bits set; taken as %s", tok, slash + 1,
				      prefix_fmt(&p, a, sizeof(a)));
			}
			*slash = '/';
		}
		prefixlist_add(l, &p, origin);
	}
}

static void load_allowlist_file(struct parser *ps, const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[512], origin[600];
	struct parser sub = { .c = ps->c, .file = path, .err = ps->err };

	if (!f) {
		perr(ps, "cannot open allowlist file %s: %s", path, strerror(errno));
		return;
	}
	while (fgets(buf, sizeof(buf), f)) {
		char *hash = strchr(buf, '#');

		sub.line++;
		if (hash)
			*hash = 0;
		snprintf(origin, sizeof(origin), "%s:%d", path, sub.line);
		parse_prefixes(&sub, buf, &ps->c->allowlist, origin);
	}
	fclose(f);
	ps->errors += sub.errors;
}

static void add_traps(struct parser *ps, char *v)
{
	struct config *c = ps->c;
	char *save = NULL;

	for (char *tok = strtok_r(v, " \t,\r\n", &save); tok; tok = strtok_r(NULL, " \t,\r\n", &save)) {
		size_t n = strlen(tok);
		bool ok = true;

		/* <addr> as in RCPT TO, or addr. */
		if (n >= 2 && tok[0] == '<' && tok[n - 1] == '>') {
			tok[--n] = 0;
			tok++;
			n--;
		}
		for (size_t i = 0; i < n; i++)
			if (tok[i] <= ' ' || tok[i] > '~' || tok[i] == '<' || tok[i] == '>')
				ok = false;
		if (!ok || n == 0 || !strchr(tok, '@') || n >= SMTP_RCPT_MAX) {
			perr(ps, "trap_recipients: '%.64s' is not an address (local@domain, at most %d bytes)",
			     tok, SMTP_RCPT_MAX - 1);
			continue;
		}
		for (size_t i = 0; i < n; i++)
			tok[i] = (char)ascii_lower((unsigned char)tok[i]);
		c->traps = xrealloc(c->traps, (c->ntraps + 1) * sizeof(*c->traps));
		c->trap_hash = xrealloc(c->trap_hash, (c->ntraps + 1) * sizeof(*c->trap_hash));
		c->traps[c->ntraps] = xstrdup(tok);
		c->trap_hash[c->ntraps] = (uint32_t)hash_bytes(tok, n, 0);
		c->ntraps++;
	}
}

static void rule_key(struct parser *ps, const char *k, char *v)
{
	struct rule *r = ps->rule;
	uint32_t u;

	if (!strcmp(k, "class")) {
		if ((r->cls = ev_class_parse(v)) < 0)
			perr(ps, "unknown event class '%s'", v);
	} else if (!strcmp(k, "threshold")) {
		if (parse_u32(v, 1, 1000000, &r->threshold))
			perr(ps, "threshold must be a number from 1 to 1000000");
	} else if (!strcmp(k, "window")) {
		if (parse_duration(v, &r->window) || r->window < USEC_PER_SEC || r->window > MAX_DURATION)
			perr(ps, "window must be a duration from 1s to 365d");
	} else if (!strcmp(k, "ban")) {
		if (parse_duration(v, &r->ban) || r->ban < USEC_PER_SEC || r->ban > MAX_DURATION)
			perr(ps, "ban must be a duration from 1s to 365d");
	} else if (!strcmp(k, "max_ban")) {
		if (parse_duration(v, &r->max_ban) || r->max_ban < USEC_PER_SEC || r->max_ban > MAX_DURATION)
			perr(ps, "max_ban must be a duration from 1s to 365d");
	} else if (!strcmp(k, "factor")) {
		if (parse_u32(v, 1, 100, &r->factor))
			perr(ps, "factor must be a whole number from 1 to 100");
	} else if (!strcmp(k, "count")) {
		if (!strcmp(v, "distinct"))
			r->distinct = true;
		else if (!strcmp(v, "all"))
			r->distinct = false;
		else
			perr(ps, "count must be 'distinct' or 'all'");
	} else if (!strcmp(k, "prefix4")) {
		if (parse_u32(v, 8, 32, &u))
			perr(ps, "prefix4 must be from 8 to 32");
		else
			r->prefix4 = (uint8_t)u;
	} else if (!strcmp(k, "prefix6")) {
		if (parse_u32(v, 16, 128, &u))
			perr(ps, "prefix6 must be from 16 to 128");
		else
			r->prefix6 = (uint8_t)u;
	} else if (!strcmp(k, "share")) {
		size_t n = strlen(v);

		if (n && v[n - 1] == '%')
			v[n - 1] = 0;
		if (parse_u32(v, 0, 100, &u))
			perr(ps, "share must be a per cent from 0 to 100");
		else
			r->share = (uint8_t)u;
	} else if (!strcmp(k, "wave_threshold")) {
		if (parse_u32(v, 0, 1000000, &r->wave_threshold))
			perr(ps, "wave_threshold must be a number from 0 (off) to 1000000");
	} else {
		perr(ps, "unknown key '%s' in rule block", k);
	}
}

static void global_key(struct parser *ps, const char *k, char *v)
{
	struct config *c = ps->c;
	uint32_t u;
	uint64_t sz;
	char origin[600];

	snprintf(origin, sizeof(origin), "%s:%d", ps->file, ps->line);
	if (!strcmp(k, "smtp_ports")) {
		char *save = NULL;

		c->nports = 0;
		for (char *tok = strtok_r(v, " \t,\r\n", &save); tok; tok = strtok_r(NULL, " \t,\r\n", &save)) {
			if (parse_u32(tok, 1, 65535, &u)) {
				perr(ps, "not a port: '%s'", tok);
			} else if (c->nports == MAX_PORTS) {
				perr(ps, "at most %d ports", MAX_PORTS);
				break;
			} else {
				c->ports[c->nports++] = (uint16_t)u;
			}
		}
		if (!c->nports)
			perr(ps, "smtp_ports needs at least one port");
	} else if (!strcmp(k, "servers")) {
		prefixlist_free(&c->servers);
		if (!strcmp(v, "local")) {
			c->servers_mode = SERVERS_LOCAL;
			c->servers_any = true;
		} else if (!strcmp(v, "any")) {
			c->servers_mode = SERVERS_ANY;
			c->servers_any = true;
		} else {
			c->servers_mode = SERVERS_LIST;
			c->servers_any = false;
			parse_prefixes(ps, v, &c->servers, origin);
		}
	} else if (!strcmp(k, "capture")) {
		if (!strcmp(v, "nfqueue"))
			c->capture = CAPTURE_NFQUEUE;
		else if (!strcmp(v, "pcap"))
			c->capture = CAPTURE_PCAP;
		else
			perr(ps, "capture must be 'nfqueue' or 'pcap'");
	} else if (!strcmp(k, "queue")) {
		uint32_t a, b;
		char *dash = strchr(v, '-');

		if (dash)
			*dash = 0;
		if (parse_u32(v, 0, 65535, &a) || (dash && parse_u32(dash + 1, 0, 65535, &b)) ||
		    (dash && (b < a || b - a >= 64))) {
			perr(ps, "queue must be a queue number or a range such as 0-3 (at most 64)");
		} else {
			c->queue_first = (uint16_t)a;
			c->queue_last = (uint16_t)(dash ? b : a);
		}
	} else if (!strcmp(k, "mode")) {
		if (!strcmp(v, "enforce"))
			c->observe = false;
		else if (!strcmp(v, "observe"))
			c->observe = true;
		else
			perr(ps, "mode must be 'enforce' or 'observe'");
	} else if (!strcmp(k, "manage_ruleset")) {
		if (parse_bool(v, &c->manage_ruleset))
			perr(ps, "manage_ruleset must be yes or no");
	} else if (!strcmp(k, "table")) {
		size_t n = strlen(v);
		bool okname = n && n < sizeof(c->table);

		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)v[i]) && v[i] != '_' && v[i] != '-')
				okname = false;
		if (!okname)
			perr(ps, "table must be a name of letters, digits, '_' and '-' (at most %zu)",
			     sizeof(c->table) - 1);
		else
			snprintf(c->table, sizeof(c->table), "%s", v);
	} else if (!strcmp(k, "drop")) {
		if (!strcmp(v, "all"))
			c->drop = DROP_ALL;
		else if (!strcmp(v, "new"))
			c->drop = DROP_NEW;
		else
			perr(ps, "drop must be 'all' (every packet) or 'new' (new connections)");
	} else if (!strcmp(k, "gateway")) {
		if (parse_bool(v, &c->gateway))
			perr(ps, "gateway must be yes or no");
	} else if (!strcmp(k, "kill_sessions")) {
		bool b;

		if (!strcmp(v, "auto"))
			c->kill_sessions = -1;
		else if (parse_bool(v, &b))
			perr(ps, "kill_sessions must be yes, no or auto");
		else
			c->kill_sessions = b;
	} else if (!strcmp(k, "on_exit")) {
		if (!strcmp(v, "keep"))
			c->remove_on_exit = false;
		else if (!strcmp(v, "remove"))
			c->remove_on_exit = true;
		else
			perr(ps, "on_exit must be 'keep' (bans expire by themselves) or 'remove'");
	} else if (!strcmp(k, "manage_queue")) {
		if (parse_bool(v, &c->manage_queue))
			perr(ps, "manage_queue must be yes or no");
	} else if (!strcmp(k, "set_size")) {
		if (parse_u32(v, 16, 16777216, &c->set_size))
			perr(ps, "set_size must be from 16 to 16777216");
	} else if (!strcmp(k, "state_file")) {
		parse_path(ps, k, v, c->state_file, sizeof(c->state_file));
	} else if (!strcmp(k, "control_socket")) {
		parse_path(ps, k, v, c->control_socket, sizeof(c->control_socket));
	} else if (!strcmp(k, "metrics_file")) {
		parse_path(ps, k, v, c->metrics_file, sizeof(c->metrics_file));
	} else if (!strcmp(k, "metrics_interval")) {
		usec_t d;

		if (parse_duration(v, &d) || d < USEC_PER_SEC || d > 3600 * USEC_PER_SEC)
			perr(ps, "metrics_interval must be a duration from 1s to 1h");
		else
			c->metrics_interval = d;
	} else if (!strcmp(k, "user")) {
		size_t n = strlen(v);
		bool okname = n && n < sizeof(c->user);

		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)v[i]) && v[i] != '_' && v[i] != '-' && v[i] != '.')
				okname = false;
		if (!okname)
			perr(ps, "user must be a user name, or 'root' to keep running as root");
		else
			snprintf(c->user, sizeof(c->user), "%s", v);
	} else if (!strcmp(k, "queue_maxlen")) {
		if (parse_u32(v, 64, 1000000, &c->queue_maxlen))
			perr(ps, "queue_maxlen must be from 64 to 1000000");
	} else if (!strcmp(k, "queue_rcvbuf")) {
		if (parse_size(v, &sz) || sz < 65536 || sz > (1ull << 30))
			perr(ps, "queue_rcvbuf must be a size from 64k to 1g");
		else
			c->queue_rcvbuf = sz;
	} else if (!strcmp(k, "interface")) {
		if (strlen(v) >= sizeof(c->interface) || strchr(v, ' '))
			perr(ps, "interface must be one interface name or 'any'");
		else
			snprintf(c->interface, sizeof(c->interface), "%s", v);
	} else if (!strcmp(k, "pcap_buffer")) {
		if (parse_size(v, &sz) || sz < 65536 || sz > (1ull << 31))
			perr(ps, "pcap_buffer must be a size from 64k to 2g");
		else
			c->pcap_buffer = sz;
	} else if (!strcmp(k, "allowlist")) {
		parse_prefixes(ps, v, &c->allowlist, origin);
	} else if (!strcmp(k, "allowlist_file")) {
		load_allowlist_file(ps, v);
	} else if (!strcmp(k, "trap_recipients")) {
		add_traps(ps, v);
	} else if (!strcmp(k, "max_flows")) {
		if (parse_u32(v, 16, 16000000, &c->max_flows))
			perr(ps, "max_flows must be from 16 to 16000000");
	} else if (!strcmp(k, "max_sources")) {
		if (parse_u32(v, 16, 100000000, &c->max_sources))
			perr(ps, "max_sources must be from 16 to 100000000");
	} else if (!strcmp(k, "max_pipeline")) {
		if (parse_u32(v, 1, 100000, &c->max_pipeline))
			perr(ps, "max_pipeline must be from 1 to 100000");
	} else if (!strcmp(k, "max_line")) {
		if (parse_u32(v, 512, 1000000, &c->max_line))
			perr(ps, "max_line must be from 512 to 1000000");
	} else if (!strcmp(k, "reasm_flow_bytes")) {
		if (parse_size(v, &sz) || sz > UINT32_MAX)
			perr(ps, "reasm_flow_bytes must be a size below 4g");
		else
			c->reasm_flow = sz;
	} else if (!strcmp(k, "reasm_total_bytes")) {
		if (parse_size(v, &sz))
			perr(ps, "reasm_total_bytes must be a size such as 64m");
		else
			c->reasm_total = sz;
	} else if (!strcmp(k, "timeout_embryonic") || !strcmp(k, "timeout_established") ||
		   !strcmp(k, "timeout_closing")) {
		usec_t d;

		if (parse_duration(v, &d) || d < USEC_PER_SEC || d > MAX_DURATION) {
			perr(ps, "%s must be a duration from 1s to 365d", k);
			return;
		}
		if (!strcmp(k, "timeout_embryonic"))
			c->timeout_embryonic = d;
		else if (!strcmp(k, "timeout_established"))
			c->timeout_established = d;
		else
			c->timeout_closing = d;
	} else if (!strcmp(k, "follow_midstream")) {
		if (parse_bool(v, &c->follow_midstream))
			perr(ps, "follow_midstream must be yes or no");
	} else if (!strcmp(k, "count_unverified")) {
		if (parse_bool(v, &c->count_unverified))
			perr(ps, "count_unverified must be yes or no");
	} else if (!strcmp(k, "prefix4")) {
		if (parse_u32(v, 8, 32, &u))
			perr(ps, "prefix4 must be from 8 to 32");
		else
			c->prefix4 = (uint8_t)u;
	} else if (!strcmp(k, "prefix6")) {
		if (parse_u32(v, 16, 128, &u))
			perr(ps, "prefix6 must be from 16 to 128");
		else
			c->prefix6 = (uint8_t)u;
	} else if (!strcmp(k, "wave_min")) {
		if (parse_u32(v, 0, 100000000, &c->wave_min))
			perr(ps, "wave_min must be a number of rejections (0: no waves)");
	} else if (!strcmp(k, "wave_factor")) {
		if (parse_u32(v, 2, 1000, &c->wave_factor))
			perr(ps, "wave_factor must be a whole number from 2 to 1000");
	} else if (!strcmp(k, "wave_baseline")) {
		usec_t d;

		if (parse_duration(v, &d) || d < (usec_t)600 * USEC_PER_SEC || d > (usec_t)30 * 86400 * USEC_PER_SEC)
			perr(ps, "wave_baseline must be a duration from 10m to 30d");
		else
			c->wave_baseline = d;
	} else {
		perr(ps, "unknown key '%s'", k);
	}
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

static void open_rule(struct parser *ps, char *rest)
{
	struct config *c = ps->c;
	char *name = trim(rest);
	size_t n = strlen(name);

	if (n && name[n - 1] == '{')
		name[--n] = 0;
	name = trim(name);
	if (!*name) {
		perr(ps, "rule needs a name: rule NAME {");
		name = "unnamed";
	}
	for (const char *q = name; *q; q++) {
		if (!isalnum((unsigned char)*q) && *q != '_' && *q != '-') {
			perr(ps, "rule name '%s' may hold only letters, digits, '_' and '-'", name);
			break;
		}
	}
	if (strlen(name) >= RULE_NAME_MAX)
		perr(ps, "rule name longer than %d characters", RULE_NAME_MAX - 1);
	if (!ps->rules_seen) {
		ps->rules_seen = true;
		c->nrules = 0;
	}
	for (size_t i = 0; i < c->nrules; i++)
		if (!strcmp(c->rules[i].name, name))
			perr(ps, "rule '%s' is already defined at line %d", name, c->rules[i].line);
	if (c->nrules == MAX_RULES) {
		perr(ps, "at most %d rules", MAX_RULES);
		ps->rule = &c->rules[MAX_RULES - 1];	/* parse on, report once */
		return;
	}
	ps->rule = &c->rules[c->nrules++];
	*ps->rule = rule_template;
	snprintf(ps->rule->name, sizeof(ps->rule->name), "%s", name);
	ps->rule->line = ps->line;
}

static void close_rule(struct parser *ps)
{
	struct rule *r = ps->rule;

	if (r->cls < 0) {
		int save = ps->line;

		ps->line = r->line;
		perr(ps, "rule '%s' has no class", r->name);
		ps->line = save;
	}
	if (r->max_ban < r->ban)
		r->max_ban = r->ban;
	ps->rule = NULL;
}

static void parse_line(struct parser *ps, char *raw)
{
	char *s = raw, *eq, *k, *v;

	/* '#' starts a comment anywhere on a line. */
	if ((eq = strchr(s, '#')))
		*eq = 0;
	s = trim(s);
	if (!*s)
		return;
	if (!strcmp(s, "}")) {
		if (!ps->rule)
			perr(ps, "'}' without a rule block");
		else
			close_rule(ps);
		return;
	}
	if (!strncmp(s, "rule", 4) && isspace((unsigned char)s[4])) {
		if (ps->rule) {
			perr(ps, "rule blocks do not nest: missing '}'");
			close_rule(ps);
		}
		if (s[strlen(s) - 1] != '{')
			perr(ps, "expected '{' after the rule name");
		open_rule(ps, s + 5);
		return;
	}
	eq = strchr(s, '=');
	if (!eq) {
		perr(ps, "expected 'key = value'");
		return;
	}
	*eq = 0;
	k = trim(s);
	v = trim(eq + 1);
	if (!*v) {
		perr(ps, "'%s' has no value", k);
		return;
	}
	if (ps->rule)
		rule_key(ps, k, v);
	else
		global_key(ps, k, v);
}

static int finish(struct parser *ps)
{
	struct config *c = ps->c;

	if (ps->rule) {
		perr(ps, "rule '%s' is not closed with '}'", ps->rule->name);
		close_rule(ps);
	}
	/* Rules without a prefix of their own take the global one. */
	for (size_t i = 0; i < c->nrules; i++) {
		if (c->rules[i].prefix4 == 0xff)
			c->rules[i].prefix4 = c->prefix4;
		if (c->rules[i].prefix6 == 0xff)
			c->rules[i].prefix6 = c->prefix6;
	}
	if (c->servers_mode == SERVERS_LIST && !c->servers.n) {
		ps->line = 0;
		perr(ps, "servers lists no address");
	}
	return ps->errors;
}

int config_load_string(struct config *c, const char *text, const char *name, FILE *err)
{
	struct parser ps = { .c = c, .file = name, .err = err };
	char *copy = xstrdup(text), *line, *p = copy;

	while (p) {
		line = p;
		p = strchr(p, '\n');
		if (p)
			*p++ = 0;
		ps.line++;
		parse_line(&ps, line);
	}
	free(copy);
	return finish(&ps);
}

int config_load(struct config *c, const char *path, FILE *err)
{
	FILE *f = fopen(path, "r");
	struct parser ps = { .c = c, .file = path, .err = err };
	char buf[4096];

	if (!f) {
		if (err)
			fprintf(err, "%s: cannot open: %s\n", path, strerror(errno));
		return 1;
	}
	free(c->path);
	c->path = xstrdup(path);
	while (fgets(buf, sizeof(buf), f)) {
		size_t n = strlen(buf);

		ps.line++;
		if (n == sizeof(buf) - 1 && buf[n - 1] != '\n') {
			int ch;

			perr(&ps, "line longer than %zu characters", sizeof(buf) - 2);
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			continue;
		}
		parse_line(&ps, buf);
	}
	if (ferror(f))
		perr(&ps, "read error: %s", strerror(errno));
	fclose(f);
	return finish(&ps);
}

static void print_prefixes(FILE *out, const char *key, const struct prefixlist *l)
{
	char buf[ADDR_STRLEN];

	fprintf(out, "%s =", key);
	for (size_t i = 0; i < l->n; i++)
		fprintf(out, " %s", prefix_fmt(&l->v[i], buf, sizeof(buf)));
	fputc('\n', out);
}

void config_print(const struct config *c, FILE *out)
{
	char a[32], b[32], d[32];

	fprintf(out, "# effective configuration%s%s\n", c->path ? " of " : "",
		c->path ? c->path : "");
	fprintf(out, "smtp_ports =");
	for (size_t i = 0; i < c->nports; i++)
		fprintf(out, " %u", c->ports[i]);
	fputc('\n', out);
	fprintf(out, "capture = %s\n", c->capture == CAPTURE_PCAP ? "pcap" : "nfqueue");
	if (c->queue_first == c->queue_last)
		fprintf(out, "queue = %u\n", c->queue_first);
	else
		fprintf(out, "queue = %u-%u\n", c->queue_first, c->queue_last);
	fprintf(out, "queue_maxlen = %u\n", c->queue_maxlen);
	fprintf(out, "queue_rcvbuf = %s\n", fmt_size(c->queue_rcvbuf, a, sizeof(a)));
	fprintf(out, "interface = %s\n", c->interface);
	fprintf(out, "pcap_buffer = %s\n", fmt_size(c->pcap_buffer, a, sizeof(a)));
	fprintf(out, "mode = %s\n", c->observe ? "observe" : "enforce");
	fprintf(out, "manage_ruleset = %s\n", c->manage_ruleset ? "yes" : "no");
	fprintf(out, "table = %s\n", c->table);
	fprintf(out, "drop = %s\n", c->drop == DROP_NEW ? "new" : "all");
	fprintf(out, "gateway = %s\n", c->gateway ? "yes" : "no");
	fprintf(out, "on_exit = %s\n", c->remove_on_exit ? "remove" : "keep");
	fprintf(out, "manage_queue = %s\n", c->manage_queue ? "yes" : "no");
	fprintf(out, "set_size = %u\n", c->set_size);
	fprintf(out, "state_file = %s\n", c->state_file[0] ? c->state_file : "none");
	fprintf(out, "control_socket = %s\n", c->control_socket[0] ? c->control_socket : "none");
	fprintf(out, "metrics_file = %s\n", c->metrics_file[0] ? c->metrics_file : "none");
	fprintf(out, "metrics_interval = %s\n", fmt_duration(c->metrics_interval, a, sizeof(a)));
	fprintf(out, "user = %s\n", c->user);
	fprintf(out, "kill_sessions = %s\n", c->kill_sessions < 0 ? "auto" : c->kill_sessions ? "yes" : "no");
	if (c->servers_mode == SERVERS_LOCAL)
		fprintf(out, "servers = local\n");
	else if (c->servers_mode == SERVERS_ANY)
		fprintf(out, "servers = any\n");
	else
		print_prefixes(out, "servers", &c->servers);
	if (c->allowlist.n)
		print_prefixes(out, "allowlist", &c->allowlist);
	if (c->ntraps) {
		fprintf(out, "trap_recipients =");
		for (size_t i = 0; i < c->ntraps; i++)
			fprintf(out, " %s", c->traps[i]);
		fputc('\n', out);
	}
	fprintf(out, "max_flows = %u\n", c->max_flows);
	fprintf(out, "max_sources = %u\n", c->max_sources);
	fprintf(out, "max_pipeline = %u\n", c->max_pipeline);
	fprintf(out, "max_line = %u\n", c->max_line);
	fprintf(out, "reasm_flow_bytes = %s\n", fmt_size(c->reasm_flow, a, sizeof(a)));
	fprintf(out, "reasm_total_bytes = %s\n", fmt_size(c->reasm_total, a, sizeof(a)));
	fprintf(out, "timeout_embryonic = %s\n", fmt_duration(c->timeout_embryonic, a, sizeof(a)));
	fprintf(out, "timeout_established = %s\n", fmt_duration(c->timeout_established, a, sizeof(a)));
	fprintf(out, "timeout_closing = %s\n", fmt_duration(c->timeout_closing, a, sizeof(a)));
	fprintf(out, "follow_midstream = %s\n", c->follow_midstream ? "yes" : "no");
	fprintf(out, "count_unverified = %s\n", c->count_unverified ? "yes" : "no");
	fprintf(out, "prefix4 = %u\n", c->prefix4);
	fprintf(out, "prefix6 = %u\n", c->prefix6);
	fprintf(out, "wave_min = %u\n", c->wave_min);
	fprintf(out, "wave_factor = %u\n", c->wave_factor);
	fprintf(out, "wave_baseline = %s\n", fmt_duration(c->wave_baseline, a, sizeof(a)));
	for (size_t i = 0; i < c->nrules; i++) {
		const struct rule *r = &c->rules[i];

		fprintf(out, "\nrule %s {\n", r->name);
		fprintf(out, "\tclass = %s\n", ev_class_name(r->cls));
		fprintf(out, "\tthreshold = %u\n", r->threshold);
		fprintf(out, "\twindow = %s\n", fmt_duration(r->window, a, sizeof(a)));
		fprintf(out, "\tban = %s\n", fmt_duration(r->ban, b, sizeof(b)));
		fprintf(out, "\tfactor = %u\n", r->factor);
		fprintf(out, "\tmax_ban = %s\n", fmt_duration(r->max_ban, d, sizeof(d)));
		fprintf(out, "\tcount = %s\n", r->distinct ? "distinct" : "all");
		fprintf(out, "\tprefix4 = %u\n", r->prefix4);
		fprintf(out, "\tprefix6 = %u\n", r->prefix6);
		fprintf(out, "\tshare = %u%%\n", r->share);
		fprintf(out, "\twave_threshold = %u\n", r->wave_threshold);
		fprintf(out, "}\n");
	}
}
