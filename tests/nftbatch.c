/* nftbatch COUNT [SIZE] [TIMEOUT_S]: ban COUNT addresses (198.19.0.0/16,
 * and fd00:bb::/32 per /64 for every tenth) through rcptguard's enforcer,
 * SIZE per batch (default all in one), in the current network namespace.
 * Prints the time per batch and elements per second. Used by the tests
 * (10,000 in one batch) and by the benchmark (round trip of one ban). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "config.h"
#include "enforce.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long count = argc > 1 ? atol(argv[1]) : 10000;
	long size = argc > 2 ? atol(argv[2]) : count;
	long timeout = argc > 3 ? atol(argv[3]) : 3600;
	struct config cfg;
	struct enforcer *e;
	char err[512];
	double *lat, t0, total;
	long nb = 0, refused = 0;

	if (count < 1 || size < 1 || count > 200000) {
		fprintf(stderr, "usage: nftbatch COUNT(<=200000) [SIZE] [TIMEOUT_S]\n");
		return 2;
	}
	config_defaults(&cfg);
	config_load_string(&cfg, "", "defaults", stderr);
	if ((uint32_t)count > cfg.set_size)
		cfg.set_size = (uint32_t)count;
	/* NFTBATCH_SET_SIZE: the kernel sizes its hash table from it. */
	if (getenv("NFTBATCH_SET_SIZE"))
		cfg.set_size = (uint32_t)atol(getenv("NFTBATCH_SET_SIZE"));
	e = enforcer_open(&cfg, err, sizeof(err));
	if (!e) {
		fprintf(stderr, "nftbatch: %s\n", err);
		return 1;
	}
	lat = calloc((size_t)(count / size + 2), sizeof(*lat));
	t0 = now_us();
	for (long i = 0; i < count;) {
		double b0 = now_us();

		for (long k = 0; k < size && i < count; k++, i++) {
			struct prefix p = { 0 };

			if (i % 10 == 9 || i >= 65536) {
				p.a.af = 6;
				p.a.b[0] = 0xfd;
				p.a.b[2] = 0xbb;
				p.a.b[4] = (uint8_t)(i >> 16);
				p.a.b[5] = (uint8_t)(i >> 8);
				p.a.b[6] = (uint8_t)i;
				p.len = 64;
			} else {
				p.a.af = 4;
				p.a.b[0] = 198;
				p.a.b[1] = 19;	/* away from the lab hosts in 198.18.0.0/24 */
				p.a.b[2] = (uint8_t)(i >> 8);
				p.a.b[3] = (uint8_t)i;
				p.len = 32;
			}
			enforcer_queue_key(e, &p, timeout * 1000000, false);
		}
		refused += enforcer_flush(e);
		lat[nb++] = now_us() - b0;
	}
	total = now_us() - t0;
	qsort(lat, (size_t)nb, sizeof(*lat), cmp);
	printf("elements=%ld batches=%ld refused=%ld seconds=%.4f per_second=%.0f "
	       "batch_us_median=%.1f batch_us_p99=%.1f\n",
	       count, nb, refused, total / 1e6, count / (total / 1e6), lat[nb / 2],
	       lat[nb * 99 / 100]);
	enforcer_close(e, false);
	free(lat);
	config_free(&cfg);
	return refused ? 1 : 0;
}
