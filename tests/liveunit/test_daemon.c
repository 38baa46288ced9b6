/* The daemon's intricate paths without a kernel: the ban path, restart
 * reconciliation of the state file with the kernel's sets, and reload's
 * merging, all over the fake nf_tables. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "daemon.h"
#include "fake_nft.h"
#include "helpers.h"
#include "log.h"
#include "state.h"
#include "t.h"

#define BASE "servers = 198.18.0.25\ncontrol_socket = none\nuser = root\n"

/* What the daemon logs, for the tests to read; reset by lab_new. */
static char logbuf[65536];
static FILE *log_mem;

struct lab {
	struct daemon d;
	struct fake_nft *f;
	char cfgpath[64], statepath[64];
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f))
		abort();
}

/* A daemon as cmd_run sets it up, with the fake instead of the kernel. */
static struct lab *lab_new(const char *cfgtext)
{
	struct lab *l = calloc(1, sizeof(*l));
	char text[4096], err[256] = "";
	int fd, errors;

	if (log_mem)
		fclose(log_mem);
	memset(logbuf, 0, sizeof(logbuf));
	log_mem = fmemopen(logbuf, sizeof(logbuf) - 1, "w");
	log_to(log_mem);

	snprintf(l->cfgpath, sizeof(l->cfgpath), "/tmp/rcptguard-cfg-XXXXXX");
	snprintf(l->statepath, sizeof(l->statepath), "/tmp/rcptguard-state-XXXXXX");
	if ((fd = mkstemp(l->cfgpath)) < 0 || close(fd) || (fd = mkstemp(l->statepath)) < 0 || close(fd))
		abort();
	unlink(l->statepath);
	snprintf(text, sizeof(text), BASE "state_file = %s\n%s", l->statepath, cfgtext);
	write_file(l->cfgpath, text);
	l->d.cfgpath = l->cfgpath;
	l->d.cfg = daemon_load_config(l->cfgpath, &errors, stderr);
	if (!l->d.cfg)
		abort();
	l->d.sum = summary_new(l->d.cfg);
	pipeline_init(&l->d.p, l->d.cfg, 1, daemon_on_ban, NULL, &l->d);
	l->f = fake_nft_new();
	l->d.enf = enforcer_open_on(l->d.cfg, fake_nft_transport(l->f), err, sizeof(err));
	if (!l->d.enf) {
		fprintf(stderr, "    %s\n", err);
		abort();
	}
	return l;
}

static void lab_free(struct lab *l)
{
	enforcer_close(l->d.enf, false);
	pipeline_free(&l->d.p);
	summary_free(l->d.sum);
	config_free(l->d.cfg);
	free(l->d.cfg);
	free(l->d.pending);
	free(l->f);
	unlink(l->cfgpath);
	unlink(l->statepath);
	free(l);
}

TEST(daemon_ban_path_manual_and_refused)
{
	struct lab *l = lab_new("allowlist = 198.18.6.0/24\n");
	struct prefix k = pfx("198.18.4.1/32"), a = pfx("198.18.6.9/32");

	CHECK_EQ(daemon_ban(&l->d, &k, 600 * USEC_PER_SEC, true, BAN_MANUAL, 0, 0), TRACK_OK);
	/* Nothing in the kernel before the flush: one batch per iteration. */
	CHECK(fake_nft_find(l->f, "banned4_32", "198.18.4.1") == NULL);
	CHECK_EQ(daemon_flush(&l->d), 0);
	CHECK(fake_nft_find(l->f, "banned4_32", "198.18.4.1") != NULL);
	CHECK_EQ(l->d.manual_bans, 1u);
	CHECK(l->d.state_dirty);
	/* The allowlist wins: refused, and nothing reaches the kernel. */
	CHECK_EQ(daemon_ban(&l->d, &a, 600 * USEC_PER_SEC, true, BAN_MANUAL, 0, 0), TRACK_ALLOWLISTED);
	CHECK_EQ(daemon_flush(&l->d), 0);
	CHECK(fake_nft_find(l->f, "banned4_32", "198.18.6.9") == NULL);
	/* Unban: gone from both; a second unban finds nothing. */
	CHECK_EQ(daemon_unban(&l->d, &k), 1);
	CHECK(fake_nft_find(l->f, "banned4_32", "198.18.4.1") == NULL);
	CHECK_EQ(daemon_unban(&l->d, &k), 0);
	lab_free(l);
}

/* A rule's ban waits in the pending queue for its flush (to log its
 * latency), and the queue is empty after it. */
TEST(daemon_rule_ban_is_pending_until_flushed)
{
	struct lab *l = lab_new("");
	struct prefix k = pfx("198.18.4.2/32");

	CHECK_EQ(daemon_ban(&l->d, &k, 600 * USEC_PER_SEC, false, BAN_RULE, clock_wall(), 0), TRACK_OK);
	CHECK_EQ(l->d.npending, 1u);
	CHECK_EQ(daemon_flush(&l->d), 0);
	CHECK_EQ(l->d.npending, 0u);
	CHECK(fake_nft_find(l->f, "banned4_32", "198.18.4.2") != NULL);
	lab_free(l);
}

/* At start: the file's bans and the kernel's made one. */
TEST(daemon_restore_reconciles_state_file_and_kernel)
{
	struct lab *l = lab_new("allowlist = 198.18.6.0/24\n");
	struct config *c = cfg_new("servers = 198.18.0.25\n");
	struct tracker *t = tracker_new(c, NULL, NULL);
	usec_t now = clock_wall();
	struct prefix both = pfx("198.18.5.1/32"), file = pfx("198.18.5.2/32"), kern = pfx("198.18.5.3/32");
	struct ban_record r;
	const struct fake_elem *e;

	/* The state file: two bans of an hour. */
	CHECK_EQ(tracker_ban(t, now, &both, 3600 * USEC_PER_SEC, RULE_MANUAL, 0), TRACK_OK);
	CHECK_EQ(tracker_ban(t, now, &file, 3600 * USEC_PER_SEC, RULE_MANUAL, 0), TRACK_OK);
	CHECK_EQ(state_save(l->statepath, t, NULL), 0);
	/* The kernel: the first with 10 minutes left, one the file does not
	 * know, and one the allowlist now covers. */
	fake_nft_put(l->f, "banned4_32", "198.18.5.1", 3600000, 600000);
	fake_nft_put(l->f, "banned4_32", "198.18.5.3", 3600000, 1200000);
	fake_nft_put(l->f, "banned4_32", "198.18.6.7", 3600000, 1200000);
	daemon_restore(&l->d);
	CHECK(strstr(logbuf, "restored 3 active bans: 2 from the state file (and 0 earlier bans), 3 in the "
		      "kernel, 1 adopted from it, 2 re-sent, 1 allowlisted removed") != NULL);
	/* Re-sent with what the file says is left (about an hour). */
	e = fake_nft_find(l->f, "banned4_32", "198.18.5.1");
	CHECK(e && e->timeout_ms > 3500000);
	CHECK(fake_nft_find(l->f, "banned4_32", "198.18.5.2") != NULL);
	/* Adopted: kept in the kernel, known to the tracker with its end. */
	CHECK(fake_nft_find(l->f, "banned4_32", "198.18.5.3") != NULL);
	CHECK(tracker_lookup(l->d.p.tracker, &kern, &r));
	CHECK(r.until > now + 1100 * USEC_PER_SEC && r.until < now + 1300 * USEC_PER_SEC);
	/* The allowlist wins over what the kernel held. */
	CHECK(fake_nft_find(l->f, "banned4_32", "198.18.6.7") == NULL);
	CHECK_EQ(tracker_active_bans(l->d.p.tracker), 3u);
	CHECK(l->d.state_dirty);
	tracker_free(t);
	cfg_del(c);
	lab_free(l);
}

/* Reload: a valid file takes effect, except what the capture and the
 * ruleset were opened with; an invalid one changes nothing. */
TEST(daemon_reload_merges_and_refuses_bad_files)
{
	struct lab *l = lab_new("allowlist = 198.18.6.0/24\nset_size = 1000\n");
	struct config *before;
	struct prefix added = pfx("198.18.66.1/32");
	char text[4096], err[4096] = "";
	FILE *e = fmemopen(err, sizeof(err), "w");

	snprintf(text, sizeof(text), BASE "state_file = %s\nallowlist = 198.18.6.0/24 198.18.66.0/24\n"
		 "set_size = 5000\ntable = other\nsmtp_ports = 25 2525\n", l->statepath);
	write_file(l->cfgpath, text);
	CHECK_EQ(daemon_reload(&l->d, e), 0);
	fflush(e);
	CHECK(strstr(err, "loaded") != NULL);
	/* The log names what waits for the next start, from the table. */
	CHECK(strstr(logbuf, "reload: smtp_ports, table, set_size take effect at the next start") != NULL);
	/* In effect now: the allowlist, in the tracker and the kernel. */
	CHECK(tracker_may_ban(l->d.p.tracker, &added.a) == TRACK_ALLOWLISTED);
	CHECK(fake_nft_find(l->f, "allow4", "198.18.66.0") != NULL);
	/* At the next start: set_size, table, ports. */
	CHECK_EQ(l->d.cfg->set_size, 1000u);
	CHECK_STR(l->d.cfg->table, "rcptguard");
	CHECK_EQ(l->d.cfg->nports, 1u);
	CHECK_EQ(l->d.reloads, 1u);
	/* A bad line: reported as FILE:LINE, the running configuration kept. */
	before = l->d.cfg;
	write_file(l->cfgpath, BASE "threshold_of_doom = 3\n");
	rewind(e);
	CHECK_EQ(daemon_reload(&l->d, e), -1);
	fflush(e);
	CHECK(strstr(err, l->cfgpath) != NULL && strstr(err, ":4:") != NULL);
	CHECK(l->d.cfg == before);
	CHECK_EQ(l->d.reload_errors, 1u);
	CHECK(tracker_may_ban(l->d.p.tracker, &added.a) == TRACK_ALLOWLISTED);
	fclose(e);
	lab_free(l);
}

/* nft flush ruleset: the table is installed again with every active ban,
 * each for what is left of it. */
TEST(daemon_reinstall_after_flush_puts_every_ban_back)
{
	struct lab *l = lab_new("");
	struct prefix a = pfx("198.18.4.5/32"), b = pfx("fd00:4::/64");

	CHECK_EQ(daemon_ban(&l->d, &a, 600 * USEC_PER_SEC, false, BAN_MANUAL, 0, 0), TRACK_OK);
	CHECK_EQ(daemon_ban(&l->d, &b, 900 * USEC_PER_SEC, false, BAN_MANUAL, 0, 0), TRACK_OK);
	CHECK_EQ(daemon_flush(&l->d), 0);
	/* What 'nft flush ruleset' leaves. */
	l->f->table = false;
	l->f->nsets = l->f->nel = 0;
	l->f->rules = 0;
	CHECK_EQ(daemon_reinstall(&l->d), 0);
	CHECK(l->f->table);
	CHECK_EQ(l->f->nsets, 5);
	CHECK(fake_nft_find(l->f, "banned4_32", "198.18.4.5") != NULL);
	CHECK(fake_nft_find(l->f, "banned6_64", "fd00:4::") != NULL);
	CHECK(fake_nft_find(l->f, "allow4", "198.18.0.25") != NULL);
	CHECK_EQ(l->d.repairs, 1u);
	lab_free(l);
}

/* Every counter rendered from the registry: status (text and JSON) and
 * the Prometheus exposition, each metric's series after its one # TYPE. */
TEST(daemon_status_and_metrics_from_the_registry)
{
	struct lab *l = lab_new("");
	struct prefix k = pfx("198.18.4.9/32");
	char *out = NULL, req[64];
	size_t len = 0;
	FILE *m;
	char *line, *save = NULL;
	char types[256][96];
	int ntypes = 0, samples = 0, bad = 0;

	CHECK_EQ(daemon_ban(&l->d, &k, 600 * USEC_PER_SEC, true, BAN_MANUAL, 0, 0), TRACK_OK);
	daemon_flush(&l->d);
	m = open_memstream(&out, &len);
	snprintf(req, sizeof(req), "status --json");
	CHECK_EQ(commands_handle(&l->d, req, m), 0);
	fclose(m);
	CHECK(strstr(out, "\"banned\":{\"active\":1,\"manual\":1,") != NULL);
	CHECK(strstr(out, "\"nftables\":{\"table\":\"rcptguard\",\"elements\":1,") != NULL);
	CHECK(strstr(out, "\"events\":{\"rcpt_rejected\":0,") != NULL);
	CHECK(strstr(out, "\"memory\":{\"flows\":0,\"max_flows\":65536,") != NULL);
	free(out);
	m = open_memstream(&out, &len);
	snprintf(req, sizeof(req), "status");
	CHECK_EQ(commands_handle(&l->d, req, m), 0);
	fclose(m);
	if (getenv("SHOW_STATUS"))
		fputs(out, stderr);
	CHECK(strstr(out, "\nbanned: active 1, manual 1, fleet 0, lifted 0, lifted_by_rule {harvest 0, ") != NULL);
	free(out);
	m = open_memstream(&out, &len);
	snprintf(req, sizeof(req), "metrics");
	CHECK_EQ(commands_handle(&l->d, req, m), 0);
	fclose(m);
	CHECK(strstr(out, "\nrcptguard_bans_total{rule=\"manual\"} 1\n") != NULL);
	CHECK(strstr(out, "\nrcptguard_active_bans 1\n") != NULL);
	CHECK(strstr(out, "\nrcptguard_nft_elements_total 1\n") != NULL);
	CHECK(strstr(out, "\nrcptguard_memory_bytes{part=\"reassembly\"} 0\n") != NULL);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[96];

		if (!strncmp(line, "# TYPE ", 7)) {
			sscanf(line + 7, "%95s", name);
			for (int i = 0; i < ntypes; i++)
				if (!strcmp(types[i], name))
					bad++;	/* a metric typed twice */
			if (ntypes < 256)
				snprintf(types[ntypes++], sizeof(types[0]), "%s", name);
		} else if (line[0] != '#') {
			bool typed = false;

			sscanf(line, "%95[^{ ]", name);
			for (int i = 0; i < ntypes; i++)
				typed |= !strcmp(types[i], name);
			/* ... and typed just before: its series come together */
			if (!typed || strcmp(types[ntypes - 1], name))
				bad++;
			samples++;
		}
	}
	CHECK_EQ(bad, 0);
	CHECK(samples > 100);
	free(out);
	lab_free(l);
}
