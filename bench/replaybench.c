/* replaybench CAPTURE [ROUNDS]: time the pipeline over a capture against a
 * plain libpcap read loop over the same file (the floor: reading packets
 * and doing nothing), on one thread and on two (the file read and decoded
 * on a thread of its own, as rcptguard replay does on two cores), taking
 * turns, each round in a fresh child process so that peak memory is per
 * run. Prints figures; asserts nothing. */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "feed.h"
#include "pipeline.h"

struct result {
	double secs;
	uint64_t packets, bytes;
	uint64_t bans, sources_peak, flows_peak, events_rejected;
	uint64_t tracker_bytes;
	size_t per_source;
	long maxrss_kb;
	/* On two threads: CPU seconds of each and seconds each waited. */
	double reader_cpu, pipeline_cpu, reader_waited, pipeline_waited;
	double decoded_share;	/* of the chunks, those the reader decoded */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_ban(void *arg, const struct ban *b)
{
	(void)b;
	(*(uint64_t *)arg)++;
}

/* FLOOR: libpcap's read loop, the goal's measure. MAPPED: the same loop
 * over the mapped file, as replay reads it (capfile.h), for what reading
 * alone costs rcptguard. */
enum mode { FLOOR, MAPPED, ONE, TWO };

static void run(const char *path, enum mode mode, struct result *r)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(path, err);
	struct pcap_pkthdr *h;
	const u_char *d;
	struct config cfg;
	struct pipeline p;
	uint64_t bans = 0;
	struct capfile cf;
	struct capframe fr;
	int dlt;
	double t0;

	if (!pc) {
		fprintf(stderr, "replaybench: %s\n", err);
		exit(1);
	}
	dlt = pcap_datalink(pc);
	config_defaults(&cfg);
	config_load_string(&cfg, "", "defaults", stderr);
	if (mode != FLOOR && mode != MAPPED)
		pipeline_init(&p, &cfg, 1, on_ban, NULL, &bans);
	memset(r, 0, sizeof(*r));
	t0 = now();
	if (mode != FLOOR)
		capfile_open(&cf, pc);
	if (mode != FLOOR && !capfile_mapped(&cf)) {
		fprintf(stderr, "replaybench: %s is not a classic pcap file that can be mapped\n", path);
		exit(1);
	}
	if (mode == FLOOR) {
		while (pcap_next_ex(pc, &h, &d) == 1) {
			r->packets++;
			r->bytes += h->caplen;
		}
	} else if (mode == MAPPED) {
		while (capfile_next(&cf, &fr) == 1) {
			r->packets++;
			r->bytes += fr.caplen;
		}
	} else if (mode == ONE) {
		while (capfile_next(&cf, &fr) == 1)
			pipeline_frame(&p, fr.ts, dlt, fr.data, fr.caplen);
	} else {
		struct feed_result res;

		if (feed_capture(&cf, dlt, &p, FEED_DECODE_AHEAD, NULL, NULL, &res)) {
			fprintf(stderr, "replaybench: no reader thread\n");
			exit(1);
		}
		r->reader_cpu = res.reader_cpu;
		r->pipeline_cpu = res.pipeline_cpu;
		r->reader_waited = res.reader_waited;
		r->pipeline_waited = res.pipeline_waited;
		r->decoded_share = res.chunks ? (double)res.chunks_decoded / (double)res.chunks : 0;
	}
	r->secs = now() - t0;
	if (mode != FLOOR)
		capfile_close(&cf);
	if (mode != FLOOR && mode != MAPPED) {
		r->packets = p.st.packets;
		r->bytes = p.st.bytes;
		r->bans = bans;
		r->sources_peak = tracker_stats(p.tracker)->sources_peak;
		r->flows_peak = p.flows.st.peak;
		r->events_rejected = p.st.events[EC_RCPT_REJECTED];
		r->tracker_bytes = tracker_memory(p.tracker);
		r->per_source = tracker_bytes_per_source(p.tracker);
		pipeline_free(&p);
	}
	config_free(&cfg);
	pcap_close(pc);
}

static void in_child(const char *path, enum mode mode, struct result *out)
{
	int fd[2];
	pid_t pid;
	struct rusage ru;
	int st;

	if (pipe(fd))
		exit(1);
	pid = fork();
	if (pid == 0) {
		struct result r;

		close(fd[0]);
		run(path, mode, &r);
		if (write(fd[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	if (read(fd[0], out, sizeof(*out)) != sizeof(*out)) {
		fprintf(stderr, "replaybench: child failed\n");
		exit(1);
	}
	close(fd[0]);
	wait4(pid, &st, 0, &ru);
	out->maxrss_kb = ru.ru_maxrss;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	double tf[48], tp[16], t2[16], tm[16], rc[16], pc[16], rw[16], pw[16], b1[16], b2[16];
	struct result f, p, p2, m;
	int nf = 0;

	if (argc < 2 || rounds < 1 || rounds > 16) {
		fprintf(stderr, "usage: replaybench CAPTURE [ROUNDS<=16]\n");
		return 1;
	}
	in_child(argv[1], FLOOR, &f);	/* warm the page cache */
	/* This machine's speed drifts by tens of percent within seconds, so
	 * each run is bracketed by floor runs just before and just after it:
	 * floor, two threads, floor, one thread, floor. */
	in_child(argv[1], FLOOR, &f);
	tf[nf++] = f.secs;
	for (int i = 0; i < rounds; i++) {
		double before = f.secs, mid;

		in_child(argv[1], TWO, &p2);
		t2[i] = p2.secs;
		in_child(argv[1], FLOOR, &f);
		tf[nf++] = mid = f.secs;
		in_child(argv[1], ONE, &p);
		tp[i] = p.secs;
		in_child(argv[1], FLOOR, &f);
		tf[nf++] = f.secs;
		b2[i] = t2[i] / ((before + mid) / 2);
		b1[i] = tp[i] / ((mid + f.secs) / 2);
		rc[i] = p2.reader_cpu;
		pc[i] = p2.pipeline_cpu;
		rw[i] = p2.reader_waited;
		pw[i] = p2.pipeline_waited;
		printf("round %d: floor %.3f s, on two threads %.3f s, floor %.3f s, rcptguard %.3f s, "
		       "floor %.3f s; bracketed ratios: two threads %.2fx, one %.2fx "
		       "(two threads' CPU: reader %.3f s, pipeline %.3f s; waited: reader %.3f s, "
		       "pipeline %.3f s; reader decoded %.0f%% of chunks)\n",
		       i + 1, before, t2[i], mid, tp[i], f.secs, b2[i], b1[i], rc[i], pc[i], rw[i],
		       pw[i], 100 * p2.decoded_share);
	}
	/* What reading alone costs rcptguard, outside the brackets. */
	for (int i = 0; i < rounds; i++) {
		in_child(argv[1], MAPPED, &m);
		tm[i] = m.secs;
	}
	qsort(tm, (size_t)rounds, sizeof(double), cmp);
	qsort(tf, (size_t)nf, sizeof(double), cmp);
	qsort(tp, (size_t)rounds, sizeof(double), cmp);
	qsort(t2, (size_t)rounds, sizeof(double), cmp);
	qsort(rc, (size_t)rounds, sizeof(double), cmp);
	qsort(pc, (size_t)rounds, sizeof(double), cmp);
	qsort(rw, (size_t)rounds, sizeof(double), cmp);
	qsort(pw, (size_t)rounds, sizeof(double), cmp);
	qsort(b1, (size_t)rounds, sizeof(double), cmp);
	qsort(b2, (size_t)rounds, sizeof(double), cmp);
	double mf = tf[nf / 2], mp = tp[rounds / 2], m2 = t2[rounds / 2];

	printf("\nfloor runs: %d, from %.3f s to %.3f s (the machine's speed over the run)\n", nf, tf[0],
	       tf[nf - 1]);
	printf("capture: %llu packets, %.1f MB\n", (unsigned long long)p.packets, (double)p.bytes / 1e6);
	printf("libpcap read loop (floor): median %.3f s  %.2f Mpkt/s  %.0f MB/s  %.1f ns/pkt  peak RSS %ld KB\n",
	       mf, (double)p.packets / mf / 1e6, (double)p.bytes / mf / 1e6, mf * 1e9 / (double)p.packets,
	       f.maxrss_kb);
	printf("mapped read loop (replay's own reading): median %.3f s  %.0f MB/s  peak RSS %ld KB; "
	       "%.2fx the floor\n", tm[rounds / 2], (double)m.bytes / tm[rounds / 2] / 1e6, m.maxrss_kb,
	       tm[rounds / 2] / mf);
	printf("rcptguard pipeline:        median %.3f s  %.2f Mpkt/s  %.0f MB/s  %.1f ns/pkt  peak RSS %ld KB\n",
	       mp, (double)p.packets / mp / 1e6, (double)p.bytes / mp / 1e6, mp * 1e9 / (double)p.packets,
	       p.maxrss_kb);
	printf("ratio rcptguard / floor:   %.2fx (median), %.2fx (best of %d against best of %d floors); "
	       "bracketed, median of rounds: %.2fx\n", mp / mf, tp[0] / tf[0], rounds, nf, b1[rounds / 2]);
	printf("pipeline cost above the floor: %.1f ns/pkt\n", (mp - mf) * 1e9 / (double)p.packets);
	printf("rcptguard on two threads:  median %.3f s  %.2f Mpkt/s  %.0f MB/s  %.1f ns/pkt  peak RSS %ld KB\n",
	       m2, (double)p2.packets / m2 / 1e6, (double)p2.bytes / m2 / 1e6, m2 * 1e9 / (double)p2.packets,
	       p2.maxrss_kb);
	printf("ratio two threads / floor: %.2fx (median), %.2fx (best of %d against best of %d floors); "
	       "%.2fx faster than one thread\n", m2 / mf, t2[0] / tf[0], rounds, nf, mp / m2);
	printf("ratio two threads / the floors either side, median of rounds: %.2fx (from %.2fx to %.2fx)\n",
	       b2[rounds / 2], b2[0], b2[rounds - 1]);
	printf("two threads, median CPU: reader %.3f s (%.2fx the floor), pipeline %.3f s (%.2fx); "
	       "median wait: reader %.3f s, pipeline %.3f s\n",
	       rc[rounds / 2], rc[rounds / 2] / mf, pc[rounds / 2], pc[rounds / 2] / mf, rw[rounds / 2],
	       pw[rounds / 2]);
	printf("two threads found what one did: %s (packets %llu, rejected %llu, bans %llu)\n",
	       p2.packets == p.packets && p2.events_rejected == p.events_rejected && p2.bans == p.bans &&
	       p2.sources_peak == p.sources_peak ? "yes" : "NO",
	       (unsigned long long)p2.packets, (unsigned long long)p2.events_rejected,
	       (unsigned long long)p2.bans);
	printf("rejected recipients %llu, bans %llu, tracked sources peak %llu, flows peak %llu\n",
	       (unsigned long long)p.events_rejected, (unsigned long long)p.bans,
	       (unsigned long long)p.sources_peak, (unsigned long long)p.flows_peak);
	printf("bytes per tracked source: %zu (+ hits in window); tracker total %.1f MB\n",
	       p.per_source, (double)p.tracker_bytes / 1e6);
	printf("bytes per flow: %zu (+ %zu per pending command, + out-of-order data held)\n",
	       sizeof(struct flow) + sizeof(uint32_t), sizeof(struct smtp_pending));
	return 0;
}
