/* libFuzzer: the state file's reader, on any bytes. Whatever it restores
 * must save into a file it reads back with the same bans. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "state.h"
#include "tls.h"
#include "tracker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config cfg;
static bool ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tls_calibs cal, cal2;
	struct tracker *t, *u;
	struct state_counts n, m;

	FILE *f;
	char path[] = "/tmp/rcptguard-fuzz-state-XXXXXX";
	int fd;
	const usec_t now = (usec_t)1700000000 * 1000000;

	if (!ready) {
		config_defaults(&cfg);
		if (config_load_string(&cfg, "max_sources = 4096\n", "fuzz", stderr))
			abort();
		ready = true;
	}
	if (size > 1 << 16)
		return 0;
	f = fmemopen((void *)data, size ? size : 1, "r");
	if (!f)
		return 0;
	t = tracker_new(&cfg, NULL, NULL);
	memset(&cal, 0, sizeof(cal));
	if (size)
		state_read(f, "fuzz", t, &cal, &cfg, now, &n, NULL);
	fclose(f);
	/* Saved and read again: the same bans. */
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	close(fd);
	if (state_save(path, t, &cal) < 0)
		abort();
	u = tracker_new(&cfg, NULL, NULL);
	memset(&cal2, 0, sizeof(cal2));
	if (state_load(path, u, &cal2, &cfg, now, &m, NULL) < 0 || m.bad)
		abort();	/* what it wrote, it must read whole */
	unlink(path);
	if (m.bans != tracker_active_bans(t))
		abort();
	tracker_free(t);
	tracker_free(u);
	return 0;
}
