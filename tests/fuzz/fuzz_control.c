/* libFuzzer: the control socket's request handling, from the first byte
 * read to the reply, on a daemon with a tracker, no capture and no
 * enforcer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "daemon.h"

static struct daemon *d;

static void on_ban(void *arg, const struct ban *b)
{
	(void)arg;
	(void)b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char req[CTL_MAX_REQUEST];
	char *out = NULL;
	size_t n = 0;
	FILE *f;

	if (!d) {
		d = calloc(1, sizeof(*d));
		d->cfg = calloc(1, sizeof(*d->cfg));
		config_defaults(d->cfg);
		config_load_string(d->cfg, "allowlist = 198.18.9.0/24\nstate_file = none\n", "fuzz", stderr);
		d->cfgpath = NULL;
		pipeline_init(&d->p, d->cfg, 1, on_ban, NULL, d);
		d->sum = summary_new(d->cfg);
	}
	/* What the server passes on: one line, NUL-free, bounded. */
	if (size >= sizeof(req))
		size = sizeof(req) - 1;
	memcpy(req, data, size);
	req[size] = 0;
	if (strlen(req) != size || memchr(req, '\n', size))
		return 0;
	f = open_memstream(&out, &n);
	/* reload reads d->cfgpath: NULL, the defaults. */
	commands_handle(d, req, f);
	fclose(f);
	free(out);
	return 0;
}
