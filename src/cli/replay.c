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
#include "feed.h"
#include "pipeline.h"
#include "summary.h"

struct replay {
	bool json;
	FILE *out;
	struct summary *sum;
};

static void on_event(void *arg, const struct flow_event *e)
{
	struct replay *r = arg;

	summary_event(r->sum, e);
}

static void on_ban(void *arg, const struct ban *b)
{
	struct replay *r = arg;
	char line[2048];

	ban_format(b, r->json, line, sizeof(line));
	fprintf(r->out, "%s\n", line);
	fflush(r->out);
}

static void on_wave(void *arg, usec_t now, const struct wave_info *w)
{
	struct replay *r = arg;
	char line[256];

	wave_format(now, w, r->json, line, sizeof(line));
	fprintf(r->out, "%s\n", line);
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

struct progress_arg {
	const char *path;
	off_t size;
};

static void feed_progress(void *arg, long pos, uint64_t n)
{
	const struct progress_arg *a = arg;

	if (pos >= 0 && a->size > 0)
		fprintf(stderr, "\r%s: %llu packets, %3.0f%%", a->path, (unsigned long long)n,
			100.0 * (double)pos / (double)a->size);
	else
		fprintf(stderr, "\r%s: %llu packets", a->path, (unsigned long long)n);
}

/* Every frame of cf through p on this thread; returns capfile_next's
 * last answer, the frames read in *n. */
static int read_here(struct pipeline *p, struct capfile *cf, int dlt, struct progress_arg *pa,
		     uint64_t *n)
{
	struct capframe fr;
	int rc;

	*n = 0;
	while ((rc = capfile_next(cf, &fr)) == 1) {
		pipeline_frame(p, fr.ts, dlt, fr.data, fr.caplen);
		if ((++*n & 0xfffff) == 0 && pa)
			feed_progress(pa, capfile_pos(cf), *n);
	}
	return rc;
}

/* Returns 0, or REPLAY_EXIT_INPUT after reporting a bad file. With
 * threads = 2 the file is read and decoded on a thread of its own. */
static int replay_file(struct pipeline *p, const char *path, bool show_progress, int threads)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *pc;
	int dlt, ret = 0;
	struct stat sb;
	struct progress_arg pa = { .path = path, .size = stat(path, &sb) == 0 ? sb.st_size : 0 };
	struct feed_result fr;
	struct capfile cf;

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
	capfile_open(&cf, pc);
	if (threads < 2 || feed_capture(&cf, dlt, p, FEED_DECODE_AHEAD,
					show_progress ? feed_progress : NULL, &pa, &fr)) {
		/* One thread, or none could be started: this one reads. */
		fr.rc = read_here(p, &cf, dlt, show_progress ? &pa : NULL, &fr.packets);
		snprintf(fr.err, sizeof(fr.err), "%s", capfile_err(&cf));
	}
	if (show_progress)
		fputc('\n', stderr);
	if (fr.rc == PCAP_ERROR) {
		fprintf(stderr, "rcptguard: %s: packet %llu: %s; the %llu packets before it were used\n",
			path, (unsigned long long)fr.packets + 1, fr.err, (unsigned long long)fr.packets);
		ret = REPLAY_EXIT_INPUT;
	}
	capfile_close(&cf);
	pcap_close(pc);
	return ret;
}

static void usage_replay(FILE *f)
{
	fprintf(f, "usage: rcptguard replay [-c FILE] [--json] [--quiet] [--calibration] [--threads 1|2] CAPTURE...\n");
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "calibration", no_argument, NULL, 'C' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	struct replay r = { .out = stdout };
	struct pipeline p;
	const char *cfgpath = NULL;
	bool quiet = false, calib = false;
	/* Reading on a core of its own pays only when there is one. */
	int c, ret = 0, threads = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 2 : 1;
	char *end;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:jqCt:h", opts, NULL)) != -1) {
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
		case 'C':
			calib = true;
			break;
		case 't':
			threads = (int)strtol(optarg, &end, 10);
			if (*end || (threads != 1 && threads != 2)) {
				fprintf(stderr, "rcptguard: replay: --threads takes 1 or 2, not '%s'\n", optarg);
				return REPLAY_EXIT_USAGE;
			}
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
	r.sum = summary_new(&cfg);
	/* A fixed seed: replay output must not depend on the run. */
	pipeline_init(&p, &cfg, UINT64_C(0x72637074677561), on_ban, on_event, &r);
	pipeline_set_wave_fn(&p, on_wave);
	for (int i = optind; i < argc; i++) {
		int rc = replay_file(&p, argv[i], !quiet && isatty(STDERR_FILENO), threads);

		if (rc)
			ret = rc;
	}
	pipeline_finish(&p);
	if (r.json)
		summary_json(r.sum, &p, r.out);
	else
		summary_text(r.sum, &p, r.out);
	/* What a daemon would have learnt of each server from these
	 * captures (rcptguard calibration), after the summary. */
	if (calib)
		tls_calib_print(&p.tls.cal, false, r.out);
	pipeline_free(&p);
	summary_free(r.sum);
	config_free(&cfg);
	return ret;
}
