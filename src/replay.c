/* rcptguard replay: the pipeline over capture files, ban decisions as they
 * would have happened, then a summary. */
#include "replay.h"

#include <errno.h>
#include <getopt.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "pipeline.h"

/* Per-source event totals for the summary, keyed like the tracker (global
 * prefixes), but over the whole capture rather than a window. */
struct srcsum {
	struct ipaddr key;
	uint8_t plen;
	bool used;
	uint64_t n[EC_COUNT];
};

struct replay {
	const struct config *cfg;
	bool json;
	FILE *out;
	struct srcsum *sum;
	size_t nsum, capsum;
	uint64_t sum_dropped;	/* sources beyond max_sources */
	struct srcsum *last;	/* events come in runs from one source */
	uint64_t bans;
};

static struct srcsum *sum_slot(struct replay *r, const struct ipaddr *key, uint8_t plen)
{
	size_t mask, i;

	if (r->last && r->last->plen == plen && addr_eq(&r->last->key, key))
		return r->last;
	if (r->nsum * 2 >= r->capsum) {
		struct srcsum *old = r->sum;
		size_t oldcap = r->capsum;

		if (r->nsum >= r->cfg->max_sources)
			goto probe;
		r->capsum = oldcap ? oldcap * 2 : 1024;
		r->sum = xcalloc(r->capsum, sizeof(*r->sum));
		for (size_t j = 0; j < oldcap; j++) {
			if (!old[j].used)
				continue;
			mask = r->capsum - 1;
			i = hash_bytes(&old[j].key, sizeof(old[j].key), old[j].plen) & mask;
			while (r->sum[i].used)
				i = (i + 1) & mask;
			r->sum[i] = old[j];
		}
		free(old);
		r->last = NULL;
	}
probe:
	mask = r->capsum - 1;
	i = hash_bytes(key, sizeof(*key), plen) & mask;
	while (r->sum[i].used) {
		if (r->sum[i].plen == plen && addr_eq(&r->sum[i].key, key))
			return r->last = &r->sum[i];
		i = (i + 1) & mask;
	}
	if (r->nsum >= r->cfg->max_sources || r->nsum + 1 >= r->capsum) {
		r->sum_dropped++;
		return NULL;
	}
	r->sum[i].used = true;
	r->sum[i].key = *key;
	r->sum[i].plen = plen;
	r->nsum++;
	return r->last = &r->sum[i];
}

static void on_event(void *arg, const struct flow_event *e)
{
	struct replay *r = arg;
	const struct ipaddr *a = &e->flow->cli;
	uint8_t plen = a->af == 4 ? r->cfg->prefix4 : r->cfg->prefix6;
	struct ipaddr key;
	struct srcsum *s;

	if (e->cls < 0)
		return;
	addr_mask(a, plen, &key);
	s = sum_slot(r, &key, plen);
	if (s)
		s->n[e->cls]++;
}

static void on_ban(void *arg, const struct ban *b)
{
	struct replay *r = arg;
	char t[40], k[ADDR_STRLEN], d[32], esc[SMTP_RCPT_MAX * 6 + 1];

	r->bans++;
	fmt_time(b->time, t, sizeof(t));
	prefix_fmt(&b->key, k, sizeof(k));
	fmt_duration(b->duration, d, sizeof(d));
	if (r->json) {
		fprintf(r->out, "{\"type\":\"ban\",\"time\":\"%s\",\"key\":\"%s\",\"rule\":\"%s\","
			"\"count\":%u,\"duration\":\"%s\",\"duration_s\":%lld,\"nth\":%u,\"evidence\":[",
			t, k, b->rule_name, b->count, d, (long long)(b->duration / USEC_PER_SEC), b->nth);
		for (uint32_t i = 0; i < b->nevidence; i++) {
			json_escape(b->evidence[i], strlen(b->evidence[i]), esc, sizeof(esc));
			fprintf(r->out, "%s\"%s\"", i ? "," : "", esc);
		}
		fprintf(r->out, "]}\n");
	} else {
		fprintf(r->out, "%s ban %s rule=%s count=%u duration=%s nth=%u", t, k,
			b->rule_name, b->count, d, b->nth);
		for (uint32_t i = 0; i < b->nevidence; i++) {
			json_escape(b->evidence[i], strlen(b->evidence[i]), esc, sizeof(esc));
			fprintf(r->out, "%s%s", i ? "," : " evidence=", esc);
		}
		fputc('\n', r->out);
	}
	fflush(r->out);
}

static int cmp_key(const void *a, const void *b)
{
	const struct srcsum *x = a, *y = b;

	if (x->key.af != y->key.af)
		return x->key.af - y->key.af;
	int c = memcmp(x->key.b, y->key.b, 16);

	return c ? c : x->plen - y->plen;
}

static int cmp_rejected(const void *a, const void *b)
{
	const struct srcsum *x = a, *y = b;

	if (x->n[EC_RCPT_REJECTED] != y->n[EC_RCPT_REJECTED])
		return x->n[EC_RCPT_REJECTED] < y->n[EC_RCPT_REJECTED] ? 1 : -1;
	return cmp_key(a, b);
}

/* The summary's sources, compacted and sorted by key. */
static size_t collect_sources(struct replay *r, struct srcsum **out)
{
	struct srcsum *v = xcalloc(r->nsum ? r->nsum : 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < r->capsum; i++)
		if (r->sum[i].used)
			v[n++] = r->sum[i];
	qsort(v, n, sizeof(*v), cmp_key);
	*out = v;
	return n;
}

static void summary_json(struct replay *r, const struct pipeline *p)
{
	const struct pipeline_stats *ps = &p->st;
	const struct flow_stats *fs = &p->flows.st;
	const struct smtp_stats *ss = &p->smtp.st;
	const struct reasm_stats *rs = &p->reasm.st;
	const struct tracker_stats *ts = tracker_stats(p->tracker);
	FILE *o = r->out;
	struct srcsum *v;
	size_t n;
	char k[ADDR_STRLEN];

	fprintf(o, "{\"type\":\"summary\",\"packets\":%llu,\"bytes\":%llu,\"decode\":{",
		(unsigned long long)ps->packets, (unsigned long long)ps->bytes);
	for (int i = 0; i < DEC_NRESULTS; i++)
		fprintf(o, "%s\"%s\":%llu", i ? "," : "", dec_result_name((enum dec_result)i),
			(unsigned long long)ps->decode[i]);
	fprintf(o, "},\"not_smtp\":%llu,\"not_protected\":%llu,\"untrusted_replies\":%llu,"
		"\"payload_truncated\":%llu,",
		(unsigned long long)ps->not_smtp, (unsigned long long)ps->not_protected,
		(unsigned long long)ps->untrusted_replies, (unsigned long long)ps->payload_truncated);
	fprintf(o, "\"flows\":{\"created\":%llu,\"verified\":%llu,\"midstream\":%llu,"
		"\"evicted\":%llu,\"expired_embryonic\":%llu,\"expired_established\":%llu,"
		"\"expired_closing\":%llu,\"closed\":%llu,\"reused\":%llu,\"peak\":%llu},",
		(unsigned long long)fs->created, (unsigned long long)fs->verified,
		(unsigned long long)fs->midstream, (unsigned long long)fs->evicted,
		(unsigned long long)fs->expired[FS_EMBRYONIC],
		(unsigned long long)fs->expired[FS_ESTABLISHED],
		(unsigned long long)fs->expired[FS_CLOSING], (unsigned long long)fs->closed,
		(unsigned long long)fs->reused, (unsigned long long)fs->peak);
	fprintf(o, "\"smtp\":{\"sessions\":%llu,\"opaque_starttls\":%llu,\"opaque_tls\":%llu,"
		"\"bodies\":%llu,\"body_bytes\":%llu,\"bdat_bytes\":%llu,\"desyncs\":%llu,"
		"\"resyncs\":%llu,\"unsolicited\":%llu,\"malformed_replies\":%llu,"
		"\"overlong_lines\":%llu,\"pipeline_overflow\":%llu},",
		(unsigned long long)ps->sessions, (unsigned long long)ss->opaque_starttls,
		(unsigned long long)ss->opaque_tls, (unsigned long long)ss->bodies,
		(unsigned long long)ss->body_bytes, (unsigned long long)ss->bdat_bytes,
		(unsigned long long)ss->desyncs, (unsigned long long)ss->resyncs,
		(unsigned long long)ss->unsolicited, (unsigned long long)ss->malformed_replies,
		(unsigned long long)ss->overlong_lines, (unsigned long long)ss->pipeline_overflow);
	fprintf(o, "\"reasm\":{\"in_order\":%llu,\"held\":%llu,\"retrans\":%llu,\"gaps\":%llu,"
		"\"gap_bytes\":%llu,\"cap_flow\":%llu,\"cap_global\":%llu},",
		(unsigned long long)rs->bytes_in_order, (unsigned long long)rs->bytes_held,
		(unsigned long long)rs->bytes_retrans, (unsigned long long)rs->gaps,
		(unsigned long long)rs->gap_bytes, (unsigned long long)rs->cap_flow,
		(unsigned long long)rs->cap_global);
	fprintf(o, "\"replies\":{");
	for (int v2 = 0, first = 1; v2 < V_COUNT; v2++) {
		uint64_t tot = 0;

		for (int c = 0; c < 6; c++)
			tot += ss->replies[v2][c];
		if (!tot)
			continue;
		fprintf(o, "%s\"%s\":{\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu}",
			first ? "" : ",", smtp_verb_name(v2),
			(unsigned long long)ss->replies[v2][2], (unsigned long long)ss->replies[v2][3],
			(unsigned long long)ss->replies[v2][4], (unsigned long long)ss->replies[v2][5]);
		first = 0;
	}
	fprintf(o, "},\"events\":{");
	for (int c = 0; c < EC_COUNT; c++)
		fprintf(o, "%s\"%s\":%llu", c ? "," : "", ev_class_name(c),
			(unsigned long long)ps->events[c]);
	fprintf(o, "},\"events_unverified\":%llu,\"tracker\":{\"hits\":%llu,\"duplicates\":%llu,"
		"\"trap_hits\":%llu,\"allowlisted\":%llu,\"never_ban\":%llu,\"while_banned\":%llu,"
		"\"evictions\":%llu,\"table_full\":%llu,\"sources_peak\":%llu},",
		(unsigned long long)ps->events_unverified, (unsigned long long)ts->hits,
		(unsigned long long)ts->duplicates, (unsigned long long)ts->trap_hits,
		(unsigned long long)ts->allowlisted, (unsigned long long)ts->never_ban,
		(unsigned long long)ts->while_banned, (unsigned long long)ts->evictions,
		(unsigned long long)ts->table_full, (unsigned long long)ts->sources_peak);
	fprintf(o, "\"bans\":%llu,\"bans_by_rule\":{", (unsigned long long)ts->bans);
	for (size_t i = 0; i < r->cfg->nrules; i++)
		fprintf(o, "%s\"%s\":%llu", i ? "," : "", r->cfg->rules[i].name,
			(unsigned long long)ts->bans_by_rule[i]);
	fprintf(o, "},\"sources_dropped\":%llu,\"sources\":[", (unsigned long long)r->sum_dropped);
	n = collect_sources(r, &v);
	for (size_t i = 0; i < n; i++) {
		struct prefix pk = { .a = v[i].key, .len = v[i].plen };

		fprintf(o, "%s{\"key\":\"%s\"", i ? "," : "", prefix_fmt(&pk, k, sizeof(k)));
		for (int c = 0; c < EC_COUNT; c++)
			fprintf(o, ",\"%s\":%llu", ev_class_name(c), (unsigned long long)v[i].n[c]);
		fputc('}', o);
	}
	fprintf(o, "]}\n");
	free(v);
}

static void summary_text(struct replay *r, const struct pipeline *p)
{
	const struct pipeline_stats *ps = &p->st;
	const struct flow_stats *fs = &p->flows.st;
	const struct smtp_stats *ss = &p->smtp.st;
	const struct reasm_stats *rs = &p->reasm.st;
	const struct tracker_stats *ts = tracker_stats(p->tracker);
	FILE *o = r->out;
	struct srcsum *v;
	size_t n, shown = 0;
	char k[ADDR_STRLEN];
	bool any = false;

	fprintf(o, "\nsummary\n");
	fprintf(o, "  packets %llu, bytes %llu, tcp %llu, not ip %llu, not tcp %llu, "
		"ip fragments %llu, not smtp %llu, not protected %llu\n",
		(unsigned long long)ps->packets, (unsigned long long)ps->bytes,
		(unsigned long long)ps->decode[DEC_OK], (unsigned long long)ps->decode[DEC_NOT_IP],
		(unsigned long long)ps->decode[DEC_NOT_TCP], (unsigned long long)ps->decode[DEC_FRAGMENT],
		(unsigned long long)ps->not_smtp, (unsigned long long)ps->not_protected);
	fprintf(o, "  decode errors:");
	for (int i = DEC_ERR_FIRST; i < DEC_NRESULTS; i++) {
		if (!ps->decode[i])
			continue;
		fprintf(o, " %s %llu", dec_result_name((enum dec_result)i),
			(unsigned long long)ps->decode[i]);
		any = true;
	}
	fprintf(o, "%s\n", any ? "" : " none");
	fprintf(o, "  flows %llu (verified %llu, mid-stream %llu, peak %llu), evicted %llu, "
		"expired %llu/%llu/%llu (embryonic/established/closing)\n",
		(unsigned long long)fs->created, (unsigned long long)fs->verified,
		(unsigned long long)fs->midstream, (unsigned long long)fs->peak,
		(unsigned long long)fs->evicted, (unsigned long long)fs->expired[FS_EMBRYONIC],
		(unsigned long long)fs->expired[FS_ESTABLISHED],
		(unsigned long long)fs->expired[FS_CLOSING]);
	fprintf(o, "  smtp sessions %llu, opaque %llu (STARTTLS %llu, TLS %llu), messages %llu, "
		"desyncs %llu, resyncs %llu\n",
		(unsigned long long)ps->sessions,
		(unsigned long long)(ss->opaque_starttls + ss->opaque_tls),
		(unsigned long long)ss->opaque_starttls, (unsigned long long)ss->opaque_tls,
		(unsigned long long)ss->bodies, (unsigned long long)ss->desyncs,
		(unsigned long long)ss->resyncs);
	fprintf(o, "  protocol oddities: unsolicited replies %llu, malformed replies %llu, "
		"overlong lines %llu, pipeline overflow %llu, payload cut by snaplen %llu\n",
		(unsigned long long)ss->unsolicited, (unsigned long long)ss->malformed_replies,
		(unsigned long long)ss->overlong_lines, (unsigned long long)ss->pipeline_overflow,
		(unsigned long long)ps->payload_truncated);
	fprintf(o, "  reassembly: gaps %llu (%llu bytes), held out of order %llu bytes, "
		"retransmitted %llu bytes, cap hits %llu flow / %llu global\n",
		(unsigned long long)rs->gaps, (unsigned long long)rs->gap_bytes,
		(unsigned long long)rs->bytes_held, (unsigned long long)rs->bytes_retrans,
		(unsigned long long)rs->cap_flow, (unsigned long long)rs->cap_global);
	fprintf(o, "  replies:");
	for (int vb = 0; vb < V_COUNT; vb++) {
		uint64_t tot = 0;

		for (int c = 0; c < 6; c++)
			tot += ss->replies[vb][c];
		if (!tot)
			continue;
		fprintf(o, " %s %llu/%llu/%llu/%llu", smtp_verb_name(vb),
			(unsigned long long)ss->replies[vb][2], (unsigned long long)ss->replies[vb][3],
			(unsigned long long)ss->replies[vb][4], (unsigned long long)ss->replies[vb][5]);
	}
	fprintf(o, " (2xx/3xx/4xx/5xx)\n  events:");
	for (int c = 0; c < EC_COUNT; c++)
		fprintf(o, " %s %llu", ev_class_name(c), (unsigned long long)ps->events[c]);
	fprintf(o, "\n  bans %llu:", (unsigned long long)ts->bans);
	for (size_t i = 0; i < r->cfg->nrules; i++)
		fprintf(o, " %s %llu", r->cfg->rules[i].name, (unsigned long long)ts->bans_by_rule[i]);
	fprintf(o, "; tracker evictions %llu, allowlisted %llu\n",
		(unsigned long long)ts->evictions, (unsigned long long)ts->allowlisted);
	n = collect_sources(r, &v);
	qsort(v, n, sizeof(*v), cmp_rejected);
	fprintf(o, "  top sources by rejected recipients:\n");
	for (size_t i = 0; i < n && shown < 10; i++) {
		struct prefix pk = { .a = v[i].key, .len = v[i].plen };

		if (!v[i].n[EC_RCPT_REJECTED])
			break;
		fprintf(o, "    %-24s %llu\n", prefix_fmt(&pk, k, sizeof(k)),
			(unsigned long long)v[i].n[EC_RCPT_REJECTED]);
		shown++;
	}
	if (!shown)
		fprintf(o, "    none\n");
	free(v);
}

static bool link_supported(int dlt)
{
	switch (dlt) {
	case LINK_NULL: case LINK_EN10MB: case LINK_RAW: case LINK_RAW_ALT:
	case LINK_LOOP: case LINK_LINUX_SLL: case LINK_IPV4: case LINK_IPV6:
	case LINK_LINUX_SLL2:
		return true;
	default:
		return false;
	}
}

static void progress(const char *path, pcap_t *pc, off_t size, uint64_t n)
{
	FILE *f = pcap_file(pc);
	long pos = f ? ftell(f) : -1;

	if (pos >= 0 && size > 0)
		fprintf(stderr, "\r%s: %llu packets, %3.0f%%", path, (unsigned long long)n,
			100.0 * (double)pos / (double)size);
	else
		fprintf(stderr, "\r%s: %llu packets", path, (unsigned long long)n);
}

/* Returns 0, or REPLAY_EXIT_INPUT after reporting a bad file. */
static int replay_file(struct pipeline *p, const char *path, bool show_progress)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *pc;
	struct pcap_pkthdr *h;
	const u_char *data;
	uint64_t n = 0;
	int dlt, rc, ret = 0;
	struct stat sb;
	off_t size = stat(path, &sb) == 0 ? sb.st_size : 0;

	pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
	if (!pc) {
		fprintf(stderr, "rcptguard: %s: not a readable capture file: %s\n", path, errbuf);
		return REPLAY_EXIT_INPUT;
	}
	dlt = pcap_datalink(pc);
	if (!link_supported(dlt)) {
		const char *name = pcap_datalink_val_to_name(dlt);

		fprintf(stderr, "rcptguard: %s: unsupported link type %d (%s)\n", path, dlt,
			name ? name : "unknown");
		pcap_close(pc);
		return REPLAY_EXIT_INPUT;
	}
	while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
		usec_t ts = (usec_t)h->ts.tv_sec * USEC_PER_SEC + h->ts.tv_usec;

		n++;
		pipeline_frame(p, ts, dlt, data, h->caplen);
		if (show_progress && (n & 0xfffff) == 0)
			progress(path, pc, size, n);
	}
	if (show_progress)
		fputc('\n', stderr);
	if (rc == PCAP_ERROR) {
		fprintf(stderr, "rcptguard: %s: packet %llu: %s; the %llu packets before it were used\n",
			path, (unsigned long long)n + 1, pcap_geterr(pc), (unsigned long long)n);
		ret = REPLAY_EXIT_INPUT;
	}
	pcap_close(pc);
	return ret;
}

static void usage_replay(FILE *f)
{
	fprintf(f, "usage: rcptguard replay [-c FILE] [--json] [--quiet] CAPTURE...\n");
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	struct replay r = { .out = stdout };
	struct pipeline p;
	const char *cfgpath = NULL;
	bool quiet = false;
	int c, ret = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:jqh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfgpath = optarg;
			break;
		case 'j':
			r.json = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage_replay(stdout);
			return 0;
		default:
			usage_replay(stderr);
			return REPLAY_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage_replay(stderr);
		return REPLAY_EXIT_USAGE;
	}
	config_defaults(&cfg);
	if (cfgpath ? config_load(&cfg, cfgpath, stderr) : config_load_string(&cfg, "", "defaults", stderr)) {
		fprintf(stderr, "rcptguard: configuration has errors, nothing replayed\n");
		config_free(&cfg);
		return REPLAY_EXIT_USAGE;
	}
	r.cfg = &cfg;
	/* A fixed seed: replay output must not depend on the run. */
	pipeline_init(&p, &cfg, UINT64_C(0x72637074677561), on_ban, on_event, &r);
	for (int i = optind; i < argc; i++) {
		int rc = replay_file(&p, argv[i], !quiet && isatty(STDERR_FILENO));

		if (rc)
			ret = rc;
	}
	if (r.json)
		summary_json(&r, &p);
	else
		summary_text(&r, &p);
	pipeline_free(&p);
	free(r.sum);
	config_free(&cfg);
	return ret;
}
