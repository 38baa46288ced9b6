/* The configuration file. Every setting is one row of the table below:
 * its name, scope, type, place, range, default and a line of help. The
 * parser, the range errors (FILE:LINE), the defaults, check-config's
 * printout and reload's carry-over of restart-only settings all read the
 * table; tests/defaults.sh holds it against rcptguard.conf(5) and
 * packaging/rcptguard.conf. */
#include "config.h"
#include "smtp.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

bool rule_has_evidence(const struct rule *r)
{
	switch (r->cls) {
	case EC_RCPT_REJECTED: case EC_RCPT_POLICY: case EC_RCPT_SEQUENCE:
	case EC_RCPT_OTHER: case EC_RCPT_TEMPFAIL: case EC_RCPT_REJECTED_TLS:
		return true;
	default:
		return false;
	}
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

/* ---- values ---- */

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

static int parse_u64(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return -1;
	*out = x;
	return 0;
}

/* A number of size bytes (1, 2, 4 or 8) at field. */
static void put_uint(void *field, size_t size, uint64_t v)
{
	switch (size) {
	case 1: *(uint8_t *)field = (uint8_t)v; break;
	case 2: *(uint16_t *)field = (uint16_t)v; break;
	case 4: *(uint32_t *)field = (uint32_t)v; break;
	default: *(uint64_t *)field = v; break;
	}
}

static uint64_t get_uint(const void *field, size_t size)
{
	switch (size) {
	case 1: return *(const uint8_t *)field;
	case 2: return *(const uint16_t *)field;
	case 4: return *(const uint32_t *)field;
	default: return *(const uint64_t *)field;
	}
}

/* ---- settings that are more than one value ---- */

static int parse_ports(struct parser *ps, const struct setting *st, void *field, char *v)
{
	struct config *c = ps->c;
	char *save = NULL;
	uint64_t u;

	(void)st;
	(void)field;
	c->nports = 0;
	for (char *tok = strtok_r(v, " \t,\r\n", &save); tok; tok = strtok_r(NULL, " \t,\r\n", &save)) {
		if (parse_u64(tok, 1, 65535, &u)) {
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
	return 0;
}

static void print_ports(FILE *out, const struct config *c, const void *field)
{
	(void)field;
	for (size_t i = 0; i < c->nports; i++)
		fprintf(out, " %u", c->ports[i]);
}

static bool same_ports(const struct config *a, const struct config *b)
{
	return a->nports == b->nports && !memcmp(a->ports, b->ports, a->nports * sizeof(a->ports[0]));
}

static void copy_ports(struct config *to, const struct config *from)
{
	memcpy(to->ports, from->ports, sizeof(to->ports));
	to->nports = from->nports;
}

/* A mark's bits, in hex (0x40000000) or decimal, or none. */
static int parse_mark(struct parser *ps, const struct setting *st, void *field, char *v)
{
	char *end;
	unsigned long long u;

	(void)st;
	if (!strcmp(v, "none")) {
		*(uint32_t *)field = 0;
		return 0;
	}
	errno = 0;
	u = strtoull(v, &end, 0);
	if (errno || *end || end == v || !u || u > UINT32_MAX || v[0] == '-')
		perr(ps, "opaque_mark must be a mark's bits (such as 0x40000000) or none");
	else
		*(uint32_t *)field = (uint32_t)u;
	return 0;
}

static void print_mark(FILE *out, const struct config *c, const void *field)
{
	(void)c;
	if (*(const uint32_t *)field)
		fprintf(out, " 0x%08x", *(const uint32_t *)field);
	else
		fputs(" none", out);
}

static bool same_mark(const struct config *a, const struct config *b)
{
	return a->opaque_mark == b->opaque_mark;
}

static void copy_mark(struct config *to, const struct config *from)
{
	to->opaque_mark = from->opaque_mark;
}

static int parse_servers(struct parser *ps, const struct setting *st, void *field, char *v)
{
	struct config *c = ps->c;
	char origin[600];

	(void)st;
	(void)field;
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
		snprintf(origin, sizeof(origin), "%s:%d", ps->file, ps->line);
		parse_prefixes(ps, v, &c->servers, origin);
	}
	return 0;
}

static void print_prefixes(FILE *out, const struct prefixlist *l)
{
	char buf[ADDR_STRLEN];

	for (size_t i = 0; i < l->n; i++)
		fprintf(out, " %s", prefix_fmt(&l->v[i], buf, sizeof(buf)));
}

static void print_servers(FILE *out, const struct config *c, const void *field)
{
	(void)field;
	if (c->servers_mode == SERVERS_LOCAL)
		fputs(" local", out);
	else if (c->servers_mode == SERVERS_ANY)
		fputs(" any", out);
	else
		print_prefixes(out, &c->servers);
}

static int parse_queue(struct parser *ps, const struct setting *st, void *field, char *v)
{
	struct config *c = ps->c;
	uint64_t a, b = 0;
	char *dash = strchr(v, '-');

	(void)st;
	(void)field;
	if (dash)
		*dash = 0;
	if (parse_u64(v, 0, 65535, &a) || (dash && parse_u64(dash + 1, 0, 65535, &b)) ||
	    (dash && (b < a || b - a >= 64))) {
		perr(ps, "queue must be a queue number or a range such as 0-3 (at most 64)");
		return 0;
	}
	c->queue_first = (uint16_t)a;
	c->queue_last = (uint16_t)(dash ? b : a);
	return 0;
}

static void print_queue(FILE *out, const struct config *c, const void *field)
{
	(void)field;
	if (c->queue_first == c->queue_last)
		fprintf(out, " %u", c->queue_first);
	else
		fprintf(out, " %u-%u", c->queue_first, c->queue_last);
}

static bool same_queue(const struct config *a, const struct config *b)
{
	return a->queue_first == b->queue_first && a->queue_last == b->queue_last;
}

static void copy_queue(struct config *to, const struct config *from)
{
	to->queue_first = from->queue_first;
	to->queue_last = from->queue_last;
}

static int parse_workers(struct parser *ps, const struct setting *st, void *field, char *v)
{
	uint64_t n;

	(void)st;
	(void)field;
	if (!strcmp(v, "auto")) {
		ps->c->workers = 0;
		return 0;
	}
	if (parse_u64(v, 1, 64, &n)) {
		perr(ps, "workers must be auto or a number from 1 to 64");
		return 0;
	}
	ps->c->workers = (uint32_t)n;
	return 0;
}

static void print_workers(FILE *out, const struct config *c, const void *field)
{
	(void)field;
	if (c->workers)
		fprintf(out, " %u", c->workers);
	else
		fprintf(out, " auto");
}

uint32_t config_workers(const struct config *c)
{
	if (c->workers)
		return c->workers;
	return c->capture == CAPTURE_NFQUEUE ? (uint32_t)(c->queue_last - c->queue_first + 1) : 1;
}

static int parse_allowlist(struct parser *ps, const struct setting *st, void *field, char *v)
{
	char origin[600];

	(void)st;
	snprintf(origin, sizeof(origin), "%s:%d", ps->file, ps->line);
	parse_prefixes(ps, v, field, origin);
	return 0;
}

static void print_allowlist(FILE *out, const struct config *c, const void *field)
{
	(void)c;
	print_prefixes(out, field);
}

static int parse_allowlist_file(struct parser *ps, const struct setting *st, void *field, char *v)
{
	(void)st;
	(void)field;
	load_allowlist_file(ps, v);
	return 0;
}

static int parse_traps(struct parser *ps, const struct setting *st, void *field, char *v)
{
	(void)st;
	(void)field;
	add_traps(ps, v);
	return 0;
}

static void print_traps(FILE *out, const struct config *c, const void *field)
{
	(void)field;
	for (size_t i = 0; i < c->ntraps; i++)
		fprintf(out, " %s", c->traps[i]);
}

static int parse_url(struct parser *ps, const struct setting *st, void *field, char *v)
{
	size_t n = strlen(v);

	if (!strcmp(v, "none")) {
		*(char *)field = 0;
		return 0;
	}
	if ((strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) || n >= st->size || strpbrk(v, " \t\"'")) {
		perr(ps, "%s must be an http:// or https:// URL (shorter than %zu), or none", st->name, st->size);
		return 0;
	}
	snprintf(field, st->size, "%s", v);
	return 0;
}

static void print_url(FILE *out, const struct config *c, const void *field)
{
	(void)c;
	fprintf(out, " %s", *(const char *)field ? (const char *)field : "none");
}

static bool traps_empty(const struct config *c, const void *field)
{
	(void)field;
	return !c->ntraps;
}

static bool list_empty(const struct config *c, const void *field)
{
	(void)c;
	return !((const struct prefixlist *)field)->n;
}

/* ---- the table ---- */

static const char *const words_capture[] = { "nfqueue", "pcap", NULL };
static const char *const words_mode[] = { "enforce", "observe", NULL };
static const char *const words_drop[] = { "all", "new", NULL };
static const char *const words_on_exit[] = { "keep", "remove", NULL };
static const char *const words_kill[] = { "no", "yes", "auto", NULL };
static const char *const words_count[] = { "all", "distinct", NULL };
static const char *const words_enforce[] = { "rcptguard", "all", NULL };

#define G(field) SCOPE_GLOBAL, offsetof(struct config, field), sizeof(((struct config *)0)->field)
#define R(field) SCOPE_RULE, offsetof(struct rule, field), sizeof(((struct rule *)0)->field)
#define SEC(n) ((uint64_t)(n) * USEC_PER_SEC)
#define DAYS(n) SEC((uint64_t)(n) * 86400)
#define CUSTOM(p, pr) .type = ST_CUSTOM, .parse = (p), .print = (pr)

const struct setting config_settings[] = {
	{ "smtp_ports", G(ports), CUSTOM(parse_ports, print_ports), .flags = SF_RESTART,
	  .same = same_ports, .copy = copy_ports, .def = "25",
	  .help = "TCP ports that carry SMTP from the Internet" },
	{ "capture", G(capture), .type = ST_WORD, .words = words_capture, .flags = SF_RESTART,
	  .def = "nfqueue", .help = "nfqueue (inline, fail-open) or pcap (a copy of the traffic)" },
	{ "queue", G(queue_first), CUSTOM(parse_queue, print_queue), .flags = SF_RESTART,
	  .same = same_queue, .copy = copy_queue, .def = "0",
	  .help = "NFQUEUE number, or a range such as 0-3" },
	/* A netlink receive buffer of 8 MB holds about 5,000 full-size
	 * segments: a burst the daemon can fall behind by without loss. */
	{ "queue_maxlen", G(queue_maxlen), .type = ST_UINT, .lo = 64, .hi = 1000000,
	  .flags = SF_RESTART, .def = "8192", .help = "packets the kernel holds for the queue" },
	{ "queue_rcvbuf", G(queue_rcvbuf), .type = ST_SIZE, .lo = 64 << 10, .hi = 1ull << 30,
	  .flags = SF_RESTART, .def = "8m", .help = "netlink receive buffer of the queue" },
	/* One thread a queue (or a pcap fanout group): decode, flows and
	 * SMTP per worker; one tracker and enforcer take every worker's
	 * events (rcptguard(8), SCALING). */
	{ "workers", G(workers), CUSTOM(parse_workers, print_workers), .flags = SF_RESTART,
	  .def = "auto", .help = "capture workers: auto (one per queue; pcap: 1) or a number" },
	/* A ring entry is about 180 bytes: 4096 of them hold a burst of a
	 * pipelined harvest's replies many times over. */
	{ "worker_ring", G(worker_ring), .type = ST_UINT, .lo = 64, .hi = 1 << 20, .flags = SF_RESTART,
	  .def = "4096", .help = "events each worker's ring to the tracker holds" },
	/* A verdict waits for the bans its packets decided; never longer
	 * than this: then the packets pass (fail-open) and it is counted. */
	{ "verdict_hold", G(verdict_hold), .type = ST_DURATION, .lo = 1000, .hi = SEC(1),
	  .def = "100ms", .help = "longest a worker holds packets for the enforcer" },
	{ "interface", G(interface), .type = ST_NAME, .flags = SF_RESTART, .def = "any",
	  .help = "pcap: the interface to listen on, or any" },
	/* In immediate mode each block of the pcap ring (512 KB for a 256 KB
	 * snaplen) may hold a single packet, so 16 MB was 32 packets at
	 * worst, and a burst of bans stalling the loop a few milliseconds
	 * lost packets (bench-peers, 20 sources: 14-26 probes past the
	 * threshold; none with 64 MB). */
	{ "pcap_buffer", G(pcap_buffer), .type = ST_SIZE, .lo = 64 << 10, .hi = 1ull << 31,
	  .flags = SF_RESTART, .def = "64m", .help = "pcap: the kernel's capture ring" },
	{ "mode", G(observe), .type = ST_WORD, .words = words_mode, .flags = SF_RESTART,
	  .def = "enforce", .help = "enforce bans in nftables, or observe: only log them" },
	{ "manage_ruleset", G(manage_ruleset), .type = ST_BOOL, .flags = SF_RESTART, .def = "yes",
	  .help = "create and repair our own nftables table" },
	{ "table", G(table), .type = ST_NAME, .chars = "_-", .flags = SF_RESTART,
	  .def = "rcptguard", .help = "the inet table of our sets and rules" },
	{ "drop", G(drop), .type = ST_WORD, .words = words_drop, .flags = SF_RESTART, .def = "all",
	  .help = "drop every packet of a banned source, or only its new connections" },
	{ "gateway", G(gateway), .type = ST_BOOL, .flags = SF_RESTART, .def = "no",
	  .help = "also drop on the forward hook (a filtering gateway)" },
	{ "on_exit", G(remove_on_exit), .type = ST_WORD, .words = words_on_exit, .def = "keep",
	  .help = "keep the bans when stopping (they expire), or remove the table" },
	{ "manage_queue", G(manage_queue), .type = ST_BOOL, .flags = SF_RESTART, .def = "no",
	  .help = "add the NFQUEUE rules (with bypass) to our table" },
	{ "queue_acks", G(queue_acks), .type = ST_BOOL, .flags = SF_RESTART, .def = "no",
	  .help = "with manage_queue: queue bare ACKs too (no: the kernel accepts them)" },
	{ "opaque_mark", G(opaque_mark), CUSTOM(parse_mark, print_mark), .flags = SF_RESTART,
	  .same = same_mark, .copy = copy_mark, .def = "0x40000000",
	  .help = "with manage_queue: the connection mark of sessions rcptguard can no longer read, which then bypass the queue" },
	/* Room for a large botnet; the kernel reserves nothing for it up
	 * front (measured: no vmalloc or slab growth when the sets are
	 * made). */
	{ "set_size", G(set_size), .type = ST_UINT, .lo = 16, .hi = 16777216, .flags = SF_RESTART,
	  .def = "262144", .help = "elements each banned set may hold" },
	{ "state_file", G(state_file), .type = ST_PATH, .flags = SF_RESTART,
	  .def = "/var/lib/rcptguard/state", .help = "bans and earlier bans across restarts" },
	{ "control_socket", G(control_socket), .type = ST_PATH, .flags = SF_RESTART,
	  .def = "/run/rcptguard/control", .help = "where rcptguard status, ban, ... reach the daemon" },
	{ "metrics_file", G(metrics_file), .type = ST_PATH, .def = "none",
	  .help = "Prometheus text file, rewritten every metrics_interval" },
	{ "metrics_interval", G(metrics_interval), .type = ST_DURATION, .lo = SEC(1), .hi = SEC(3600),
	  .def = "15s", .help = "how often metrics_file is written" },
	{ "user", G(user), .type = ST_NAME, .chars = "_-.", .flags = SF_RESTART, .def = "rcptguard",
	  .help = "the user to run as after start, or root to keep every privilege" },
	{ "sandbox", G(sandbox), .type = ST_BOOL, .flags = SF_RESTART, .def = "yes",
	  .help = "confine the running daemon to the system calls it uses (seccomp)" },
	{ "kill_sessions", G(kill_sessions), .type = ST_WORD, .words = words_kill, .def = "auto",
	  .help = "cut the open sessions of a banned source (auto: when servers = local)" },
	{ "servers", G(servers), CUSTOM(parse_servers, print_servers), .def = "local",
	  .help = "the servers to protect: local, any, or addresses and prefixes" },
	{ "allowlist", G(allowlist), CUSTOM(parse_allowlist, print_allowlist), .flags = SF_EXAMPLE,
	  .empty = list_empty, .help = "never counted nor banned" },
	{ "allowlist_file", G(allowlist), CUSTOM(parse_allowlist_file, NULL),
	  .flags = SF_EXAMPLE | SF_NOPRINT, .help = "more allowlist entries, one a line" },
	{ "trap_recipients", G(traps), CUSTOM(parse_traps, print_traps), .flags = SF_EXAMPLE,
	  .empty = traps_empty, .help = "addresses that never existed: one probe bans" },
	/* An MX sees a few thousand concurrent sessions at most; 64k flows
	 * cost about 20 MB and leave room for a flood before eviction. */
	{ "max_flows", G(max_flows), .type = ST_UINT, .lo = 16, .hi = 16000000, .def = "65536",
	  .help = "TCP flows followed at once" },
	{ "max_sources", G(max_sources), .type = ST_UINT, .lo = 16, .hi = 100000000,
	  .def = "1000000", .help = "sources with recent events tracked at once" },
	/* Postfix accepts 1000 recipients a message; a pipelined harvest can
	 * send them in one burst before the first reply. */
	{ "max_pipeline", G(max_pipeline), .type = ST_UINT, .lo = 1, .hi = 100000, .def = "1024",
	  .help = "commands awaiting their replies in one session" },
	/* RFC 5321 allows 512 for a command line and extensions push it;
	 * Postfix reads up to 2048. Longer lines stop pairing. */
	{ "max_line", G(max_line), .type = ST_UINT, .lo = 512, .hi = 1000000, .def = "4096",
	  .help = "longest command or reply line followed" },
	{ "reasm_flow_bytes", G(reasm_flow), .type = ST_SIZE, .lo = 0, .hi = UINT32_MAX,
	  .def = "256k", .help = "out-of-order bytes held per direction of a flow" },
	{ "reasm_total_bytes", G(reasm_total), .type = ST_SIZE, .lo = 0, .hi = UINT64_MAX,
	  .def = "64m", .help = "out-of-order bytes held in all flows" },
	{ "timeout_embryonic", G(timeout_embryonic), .type = ST_DURATION, .lo = SEC(1),
	  .hi = DAYS(365), .def = "30s", .help = "a flow whose handshake is not done" },
	/* Postfix's smtpd_timeout is 300 s; twice that before giving up on a
	 * quiet session. */
	{ "timeout_established", G(timeout_established), .type = ST_DURATION, .lo = SEC(1),
	  .hi = DAYS(365), .def = "10m", .help = "a quiet established flow" },
	{ "timeout_closing", G(timeout_closing), .type = ST_DURATION, .lo = SEC(1), .hi = DAYS(365),
	  .def = "30s", .help = "a flow after its FIN or RST" },
	{ "follow_midstream", G(follow_midstream), .type = ST_BOOL, .def = "yes",
	  .help = "follow flows whose handshake was not seen" },
	{ "count_unverified", G(count_unverified), .type = ST_BOOL, .def = "no",
	  .help = "count the events of such flows too" },
	{ "tls_infer", G(tls_infer), .type = ST_BOOL, .def = "yes",
	  .help = "infer rejected recipients inside STARTTLS from record lengths" },
	{ "prefix4", G(prefix4), .type = ST_UINT, .lo = 8, .hi = 32, .def = "32",
	  .help = "how much of an IPv4 client address is one source" },
	{ "prefix6", G(prefix6), .type = ST_UINT, .lo = 16, .hi = 128, .def = "64",
	  .help = "how much of an IPv6 client address is one source" },
	/* Waves: the site-wide rate of rejected recipients over 5 minutes,
	 * against its moving average. A quiet MX sees a few a minute; a
	 * distributed harvest hundreds. */
	{ "wave_min", G(wave_min), .type = ST_UINT, .lo = 0, .hi = 100000000, .def = "30",
	  .help = "rejections in 5 minutes that can start a wave (0: no waves)" },
	{ "wave_factor", G(wave_factor), .type = ST_UINT, .lo = 2, .hi = 1000, .def = "4",
	  .help = "times the moving average that starts a wave" },
	{ "wave_baseline", G(wave_baseline), .type = ST_DURATION, .lo = SEC(600), .hi = DAYS(30),
	  .def = "1d", .help = "time constant of the moving average" },
	/* The fleet: several MX hosts sharing bans through CrowdSec's LAPI.
	 * The link is opened at start, with secrets read before the
	 * privilege drop. */
	{ "crowdsec_url", G(crowdsec_url), CUSTOM(parse_url, print_url), .flags = SF_RESTART,
	  .def = "none", .help = "CrowdSec Local API, e.g. http://10.0.0.5:8080; none: no fleet" },
	{ "crowdsec_credentials", G(crowdsec_credentials), .type = ST_PATH, .flags = SF_RESTART,
	  .def = "/etc/rcptguard/crowdsec.secret",
	  .help = "machine_id, password, api_key; mode 0600" },
	{ "crowdsec_push", G(crowdsec_push), .type = ST_BOOL, .flags = SF_RESTART, .def = "yes",
	  .help = "send the bans the rules decide here to LAPI" },
	{ "crowdsec_pull", G(crowdsec_pull), .type = ST_BOOL, .flags = SF_RESTART, .def = "yes",
	  .help = "enforce LAPI's decisions here" },
	{ "crowdsec_enforce", G(crowdsec_enforce), .type = ST_WORD, .words = words_enforce,
	  .def = "rcptguard", .help = "which decisions: rcptguard's own, or every ban in LAPI" },
	{ "crowdsec_poll", G(crowdsec_poll), .type = ST_DURATION, .lo = SEC(1), .hi = SEC(3600),
	  .def = "1s", .help = "how often the decision stream is read" },
	{ "crowdsec_resync", G(crowdsec_resync), .type = ST_DURATION, .lo = SEC(60), .hi = DAYS(1),
	  .def = "1h", .help = "how often every decision is read again" },
	{ "crowdsec_ca_file", G(crowdsec_ca_file), .type = ST_PATH, .flags = SF_RESTART, .def = "none",
	  .help = "https: the CA that signed LAPI's certificate" },
	{ "crowdsec_cert_file", G(crowdsec_cert_file), .type = ST_PATH, .flags = SF_RESTART,
	  .def = "none", .help = "https: a client certificate instead of credentials" },
	{ "crowdsec_key_file", G(crowdsec_key_file), .type = ST_PATH, .flags = SF_RESTART, .def = "none",
	  .help = "https: its key" },

	{ "class", R(cls), .type = ST_WORD, .words = ev_class_names, .what = "event class",
	  .flags = SF_RECOUNT, .help = "the event class the rule counts" },
	{ "threshold", R(threshold), .type = ST_UINT, .lo = 1, .hi = 1000000, .flags = SF_RECOUNT,
	  .def = "10", .help = "events in the window that ban" },
	{ "window", R(window), .type = ST_DURATION, .lo = SEC(1), .hi = DAYS(365),
	  .flags = SF_RECOUNT, .def = "10m", .help = "how far back events count" },
	{ "ban", R(ban), .type = ST_DURATION, .lo = SEC(1), .hi = DAYS(365), .flags = SF_RECOUNT,
	  .def = "1h", .help = "how long a first ban lasts" },
	{ "factor", R(factor), .type = ST_UINT, .lo = 1, .hi = 100, .flags = SF_RECOUNT,
	  .def = "2", .help = "each further ban lasts this many times the last one" },
	{ "max_ban", R(max_ban), .type = ST_DURATION, .lo = SEC(1), .hi = DAYS(365),
	  .flags = SF_RECOUNT, .def = "7d", .help = "the longest ban" },
	{ "count", R(distinct), .type = ST_WORD, .words = words_count, .flags = SF_RECOUNT,
	  .def = "distinct", .help = "distinct recipients, or all replies" },
	/* A rule without prefixes of its own takes the global ones. */
	{ "prefix4", R(prefix4), .type = ST_UINT, .lo = 8, .hi = 32, .flags = SF_RECOUNT,
	  .help = "the rule's IPv4 source prefix (default: the global prefix4)" },
	{ "prefix6", R(prefix6), .type = ST_UINT, .lo = 16, .hi = 128, .flags = SF_RECOUNT,
	  .help = "the rule's IPv6 source prefix (default: the global prefix6)" },
	{ "share", R(share), .type = ST_PERCENT, .lo = 0, .hi = 100, .def = "60%",
	  .help = "rejections at least this share of the distinct recipients" },
	{ "wave_threshold", R(wave_threshold), .type = ST_UINT, .lo = 0, .hi = 1000000, .def = "0",
	  .help = "during a wave, the count that bans a source with nothing accepted (0: off)" },
	{ NULL },
};

static const struct setting *setting_find(int scope, const char *name)
{
	for (const struct setting *st = config_settings; st->name; st++)
		if (st->scope == scope && !strcmp(st->name, name))
			return st;
	return NULL;
}

static void *field_of(struct parser *ps, const struct setting *st)
{
	return st->scope == SCOPE_RULE ? (char *)ps->rule + st->offset : (char *)ps->c + st->offset;
}

/* One key = value. */
static void parse_setting(struct parser *ps, const struct setting *st, char *v)
{
	void *field = field_of(ps, st);
	char lo[32], hi[32];
	uint64_t u;
	usec_t d;
	bool b;

	switch (st->type) {
	case ST_BOOL:
		if (parse_bool(v, &b))
			perr(ps, "%s must be yes or no", st->name);
		else
			*(bool *)field = b;
		break;
	case ST_UINT:
		if (parse_u64(v, st->lo, st->hi, &u))
			perr(ps, "%s must be a whole number from %llu to %llu", st->name,
			     (unsigned long long)st->lo, (unsigned long long)st->hi);
		else
			put_uint(field, st->size, u);
		break;
	case ST_PERCENT: {
		size_t n = strlen(v);

		if (n && v[n - 1] == '%')
			v[n - 1] = 0;
		if (parse_u64(v, st->lo, st->hi, &u))
			perr(ps, "%s must be a per cent from %llu to %llu", st->name,
			     (unsigned long long)st->lo, (unsigned long long)st->hi);
		else
			put_uint(field, st->size, u);
		break;
	}
	case ST_SIZE:
		if (parse_size(v, &u) || u < st->lo || u > st->hi) {
			if (st->hi == UINT64_MAX)
				perr(ps, "%s must be a size such as 64m", st->name);
			else
				perr(ps, "%s must be a size from %s to %s", st->name,
				     fmt_size(st->lo, lo, sizeof(lo)), fmt_size(st->hi, hi, sizeof(hi)));
		} else {
			put_uint(field, st->size, u);
		}
		break;
	case ST_DURATION:
		if (parse_duration(v, &d) || d < (usec_t)st->lo || d > (usec_t)st->hi)
			perr(ps, "%s must be a duration from %s to %s", st->name,
			     fmt_duration((usec_t)st->lo, lo, sizeof(lo)),
			     fmt_duration((usec_t)st->hi, hi, sizeof(hi)));
		else
			*(usec_t *)field = d;
		break;
	case ST_WORD: {
		int i = 0;

		while (st->words[i] && strcmp(st->words[i], v))
			i++;
		/* yes and no also as true, on, 1 and their opposites. */
		if (!st->words[i] && st->words[0] && !strcmp(st->words[0], "no") && !parse_bool(v, &b))
			i = b;
		if (!st->words[i]) {
			char list[512];
			size_t o = 0;

			for (int j = 0; st->words[j] && o < sizeof(list); j++)
				o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", j ? ", " : "",
						      st->words[j]);
			if (st->what)
				perr(ps, "unknown %s '%s' (one of %s)", st->what, v, list);
			else
				perr(ps, "%s must be one of %s", st->name, list);
		} else if (st->size == sizeof(bool)) {
			*(bool *)field = i;
		} else {
			*(int *)field = i;
		}
		break;
	}
	case ST_NAME: {
		size_t n = strlen(v);
		bool ok = n && n < st->size;

		for (size_t i = 0; i < n; i++)
			if (st->chars ? !isalnum((unsigned char)v[i]) && !strchr(st->chars, v[i])
				      : isspace((unsigned char)v[i]))
				ok = false;
		if (!ok && st->chars)
			perr(ps, "%s must be a name of letters, digits and '%s' (at most %zu)", st->name,
			     st->chars, st->size - 1);
		else if (!ok)
			perr(ps, "%s must be one name without spaces (at most %zu)", st->name, st->size - 1);
		else
			snprintf(field, st->size, "%s", v);
		break;
	}
	case ST_PATH:
		if (!strcmp(v, "none"))
			*(char *)field = 0;
		else if (v[0] != '/' || strlen(v) >= st->size)
			perr(ps, "%s must be an absolute path (shorter than %zu) or 'none'", st->name,
			     st->size);
		else
			snprintf(field, st->size, "%s", v);
		break;
	case ST_CUSTOM:
		st->parse(ps, st, field, v);
		break;
	}
}

/* The value as check-config prints it, after "name =". */
static void print_setting(FILE *out, const struct config *c, const struct setting *st,
			  const void *field)
{
	char buf[64];

	switch (st->type) {
	case ST_BOOL:
		fprintf(out, " %s", *(const bool *)field ? "yes" : "no");
		break;
	case ST_UINT:
		fprintf(out, " %llu", (unsigned long long)get_uint(field, st->size));
		break;
	case ST_PERCENT:
		fprintf(out, " %llu%%", (unsigned long long)get_uint(field, st->size));
		break;
	case ST_SIZE:
		fprintf(out, " %s", fmt_size(get_uint(field, st->size), buf, sizeof(buf)));
		break;
	case ST_DURATION:
		fprintf(out, " %s", fmt_duration(*(const usec_t *)field, buf, sizeof(buf)));
		break;
	case ST_WORD: {
		int i = st->size == sizeof(bool) ? *(const bool *)field : *(const int *)field;

		fprintf(out, " %s", i >= 0 ? st->words[i] : "none");
		break;
	}
	case ST_NAME:
		fprintf(out, " %s", (const char *)field);
		break;
	case ST_PATH:
		fprintf(out, " %s", *(const char *)field ? (const char *)field : "none");
		break;
	case ST_CUSTOM:
		st->print(out, c, field);
		break;
	}
}

static const char *scope_name(int scope)
{
	return scope == SCOPE_RULE ? "rule" : "global";
}

void config_print_settings(FILE *out)
{
	for (const struct setting *st = config_settings; st->name; st++)
		fprintf(out, "%s\t%s\t%s\t%s%s%s\t%s\n", scope_name(st->scope), st->name,
			st->def ? st->def : "none", st->flags & SF_RESTART ? "restart" : "reload",
			st->flags & SF_EXAMPLE ? ",example" : "", st->flags & SF_RECOUNT ? ",recount" : "",
			st->help);
}

size_t config_keep_restart(struct config *next, const struct config *running, char *changed,
			   size_t len)
{
	size_t n = 0, o = 0;

	if (len)
		changed[0] = 0;
	for (const struct setting *st = config_settings; st->name; st++) {
		const char *a = (const char *)running + st->offset;
		char *b = (char *)next + st->offset;
		bool same;

		if (st->scope != SCOPE_GLOBAL || !(st->flags & SF_RESTART))
			continue;
		same = st->same ? st->same(running, next) : !memcmp(a, b, st->size);
		if (!same) {
			n++;
			if (o < len)
				o += (size_t)snprintf(changed + o, len - o, "%s%s", o ? ", " : "", st->name);
		}
		if (st->copy)
			st->copy(next, running);
		else
			memcpy(b, a, st->size);
	}
	return n;
}

bool config_rules_differ(const struct config *a, const struct config *b)
{
	if (a->nrules != b->nrules || a->max_sources != b->max_sources)
		return true;
	for (size_t i = 0; i < a->nrules; i++) {
		if (strcmp(a->rules[i].name, b->rules[i].name))
			return true;
		for (const struct setting *st = config_settings; st->name; st++)
			if (st->scope == SCOPE_RULE && (st->flags & SF_RECOUNT) &&
			    memcmp((const char *)&a->rules[i] + st->offset,
				   (const char *)&b->rules[i] + st->offset, st->size))
				return true;
	}
	return false;
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

static void rule_template(struct config *c, struct rule *r);

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
	rule_template(c, ps->rule);
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
	const struct setting *st;

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
	st = setting_find(ps->rule ? SCOPE_RULE : SCOPE_GLOBAL, k);
	if (!st)
		perr(ps, ps->rule ? "unknown key '%s' in rule block" : "unknown key '%s'", k);
	else
		parse_setting(ps, st, v);
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
	if (c->capture == CAPTURE_NFQUEUE && c->workers > 1 &&
	    c->workers != (uint32_t)(c->queue_last - c->queue_first + 1)) {
		ps->line = 0;
		perr(ps, "workers = %u needs a queue range of %u queues (one worker a queue), or workers = 1",
		     c->workers, c->workers);
	}
	if (c->worker_ring & (c->worker_ring - 1)) {
		ps->line = 0;
		perr(ps, "worker_ring must be a power of two");
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

/* The rules a fresh install runs with, in the file's own syntax: what
 * `check-config` prints for them is what a file with these blocks gives.
 *
 * harvest: a burst, stopped within its first pipelined batch. A sender
 * whose rejections are under 60% of its recipients is not a harvester (a
 * list host with 20 gone of 250 is at 8%); one that mixes in a third of
 * valid addresses it knows is still at 67%.
 *
 * harvest_slow: slow and distributed. 20 distinct in a day (one probe
 * every 90 s is banned after 30 minutes; a server retrying one stale
 * address all day counts 1), or 3 during a wave from a source that had
 * nothing accepted.
 *
 * harvest_tls: rejections inferred inside TLS, with the cleartext ones of
 * the same source. Twice harvest's threshold: inside TLS a recipient
 * cannot be told from another, so a list server retrying a few stale
 * addresses counts each retry, and a large pipelined batch may be off by
 * a few. */
static const char default_rules[] =
	"rule harvest {\n class = rcpt_rejected\n threshold = 10\n window = 10m\n ban = 1h\n}\n"
	"rule harvest_slow {\n class = rcpt_rejected\n threshold = 20\n window = 1d\n ban = 1d\n"
	" wave_threshold = 3\n}\n"
	"rule vrfy {\n class = vrfy_rejected\n threshold = 10\n count = all\n share = 0\n}\n"
	"rule harvest_tls {\n class = rcpt_rejected_tls\n threshold = 20\n window = 10m\n ban = 1h\n}\n";

/* ---- defaults ---- */

/* Every row's default through the parser itself, then the default rules:
 * a default is written once, in the table, as a file would write it. */
static void apply_defaults(struct config *c, int scope, struct rule *r)
{
	struct parser ps = { .c = c, .file = "built-in defaults", .err = stderr, .rule = r };

	for (const struct setting *st = config_settings; st->name; st++) {
		char v[256];

		if (st->scope != scope || !st->def)
			continue;
		snprintf(v, sizeof(v), "%s", st->def);
		parse_setting(&ps, st, v);
	}
	if (ps.errors)
		abort();	/* a wrong default in the table: caught by every test */
}

/* A rule block starts from the table's rule defaults. */
static void rule_template(struct config *c, struct rule *r)
{
	memset(r, 0, sizeof(*r));
	r->cls = -1;
	/* 0xff: the global prefix, resolved when the file is read whole. */
	r->prefix4 = r->prefix6 = 0xff;
	apply_defaults(c, SCOPE_RULE, r);
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	apply_defaults(c, SCOPE_GLOBAL, NULL);
	/* servers = local is resolved by the daemon from the host's
	 * addresses; until then, and in replay, which cannot know whose host
	 * a capture came from, every server is followed. */
	if (config_load_string(c, default_rules, "built-in rules", stderr))
		abort();
	for (size_t i = 0; i < c->nrules; i++) {
		c->rules[i].line = 0;
		/* Unresolved again: a file's prefix4/prefix6 reach these. */
		c->rules[i].prefix4 = c->rules[i].prefix6 = 0xff;
	}
}

void config_print(const struct config *c, FILE *out)
{
	fprintf(out, "# effective configuration%s%s\n", c->path ? " of " : "",
		c->path ? c->path : "");
	for (const struct setting *st = config_settings; st->name; st++) {
		const void *field = (const char *)c + st->offset;

		if (st->scope != SCOPE_GLOBAL || (st->flags & SF_NOPRINT) || (st->empty && st->empty(c, field)))
			continue;
		fprintf(out, "%s =", st->name);
		print_setting(out, c, st, field);
		fputc('\n', out);
	}
	for (size_t i = 0; i < c->nrules; i++) {
		fprintf(out, "\nrule %s {\n", c->rules[i].name);
		for (const struct setting *st = config_settings; st->name; st++) {
			if (st->scope != SCOPE_RULE)
				continue;
			fprintf(out, "\t%s =", st->name);
			print_setting(out, c, st, (const char *)&c->rules[i] + st->offset);
			fputc('\n', out);
		}
		fprintf(out, "}\n");
	}
}
