#include <stdlib.h>
#include <string.h>

#include "t.h"

#define MAX_TESTS 512

static struct {
	const char *name;
	void (*fn)(void);
} tests[MAX_TESTS];
static int ntests, failed_checks;

void t_register(const char *name, void (*fn)(void))
{
	if (ntests < MAX_TESTS) {
		tests[ntests].name = name;
		tests[ntests].fn = fn;
		ntests++;
	}
}

void t_fail(const char *file, int line, const char *what)
{
	failed_checks++;
	fprintf(stderr, "    %s:%d: CHECK(%s) failed\n", file, line, what);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv)
{
	int pass = 0, fail = 0;

	/* Constructors register in link order; run in name order so that the
	 * output is stable. */
	qsort(tests, (size_t)ntests, sizeof(tests[0]), by_name);
	for (int i = 0; i < ntests; i++) {
		int before = failed_checks;

		if (argc > 1 && !strstr(tests[i].name, argv[1]))
			continue;
		tests[i].fn();
		if (failed_checks == before) {
			pass++;
			printf("ok   %s\n", tests[i].name);
		} else {
			fail++;
			printf("FAIL %s\n", tests[i].name);
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", pass, fail);
	return fail ? 1 : 0;
}
