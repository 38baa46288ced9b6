#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_HEADER "# rcptguard state 1: key rule times count since-us until-us\n"
_Static_assert(STATE_VERSION == 1u, "STATE_HEADER names the version");

struct savectx {
	const struct tracker *t;
	FILE *f;
};

static void save_one(void *arg, const struct ban_record *r)
{
	struct savectx *x = arg;
	char k[ADDR_STRLEN];

	fprintf(x->f, "%s %s %" PRIu32 " %" PRIu32 " %" PRIu64 " %" PRIu64 "\n",
		prefix_fmt(&r->key, k, sizeof(k)), tracker_rule_name(x->t, r->rule), r->nth, r->count,
		(uint64_t)r->since, (uint64_t)r->until);
}

/* The directory of path, made if missing (first start). */
static int make_parent(const char *path)
{
	char *copy = strdup(path), *dir;
	int rc = 0;

	if (!copy)
		return -1;
	dir = dirname(copy);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		rc = -1;
	free(copy);
	return rc;
}

int state_save(const char *path, const struct tracker *t, const struct tls_calibs *cal)
{
	char tmp[4096];
	struct savectx x = { .t = t };
	int fd, saved;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	/* The directory, made on the first start (or if removed since). */
	if (fd < 0 && errno == ENOENT && make_parent(path) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	x.f = fdopen(fd, "w");
	if (!x.f) {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
		return -1;
	}
	fputs(STATE_HEADER, x.f);
	tracker_foreach_ban(t, false, save_one, &x);
	if (cal)
		tls_calib_save(cal, x.f);
	/* On disk before the rename, or a crash could leave an empty file
	 * under the real name. */
	if (fflush(x.f) != 0 || fsync(fd) < 0 || ferror(x.f)) {
		saved = errno;
		fclose(x.f);
		unlink(tmp);
		errno = saved;
		return -1;
	}
	if (fclose(x.f) != 0 || rename(tmp, path) < 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

/* The version a header line names ("# rcptguard state N..."), or 0 when
 * the line is not one. */
static unsigned header_version(const char *line)
{
	static const char pre[] = "# rcptguard state ";
	char *end;
	unsigned long v;

	if (strncmp(line, pre, sizeof(pre) - 1))
		return 0;
	errno = 0;
	v = strtoul(line + sizeof(pre) - 1, &end, 10);
	if (errno || end == line + sizeof(pre) - 1 || v == 0 || v > 1000000)
		return 0;
	return (unsigned)v;
}

/* One line into buf (NUL-terminated, without its newline), at most cap - 1
 * bytes of it; the rest of a longer line is read and dropped. false at
 * the end of the file. */
static bool read_line(FILE *f, char *buf, size_t cap, bool *too_long, bool *binary)
{
	size_t n = 0;
	int c;

	*too_long = *binary = false;
	while ((c = getc(f)) != EOF && c != '\n') {
		if (n + 1 < cap)
			buf[n++] = (char)c;
		else
			*too_long = true;
		if (c == 0)
			*binary = true;
	}
	buf[n] = 0;
	return c != EOF || n || *too_long;
}

int state_read(FILE *f, const char *name, struct tracker *t, struct tls_calibs *cal, const struct config *cfg,
	       usec_t now, struct state_counts *n, FILE *err)
{
	char line[512];
	unsigned lineno = 0;
	bool too_long, binary;

	memset(n, 0, sizeof(*n));
	while (read_line(f, line, sizeof(line), &too_long, &binary)) {
		char *fld[10], *save = NULL, *end;
		uint64_t num[4];
		struct ban_record r = { 0 };
		const char *rule;
		int nf = 0;
		bool ok;

		lineno++;
		/* Longer than any line this version writes, or not text. */
		if (too_long || binary) {
			if (err)
				fprintf(err, "%s:%u: %s, skipped\n", name, lineno, too_long ? "line too long" : "not text");
			n->bad++;
			continue;
		}
		if (lineno == 1 && header_version(line) > STATE_VERSION) {
			n->version = header_version(line);
			if (err)
				fprintf(err, "%s:1: a state file of version %u, newer than this rcptguard's (%u): "
					"not read\n", name, n->version, STATE_VERSION);
			return 0;
		}
		if (line[0] == '#' || !line[0])
			continue;
		for (char *w = strtok_r(line, " \t\r\n", &save); w && nf < 10; w = strtok_r(NULL, " \t\r\n", &save))
			fld[nf++] = w;
		if (nf && !strcmp(fld[0], "calib")) {
			if (cal && tls_calib_load_line(cal, fld, nf) < 0) {
				if (err)
					fprintf(err, "%s:%u: not a calibration line, skipped\n", name, lineno);
				n->bad++;
			}
			continue;
		}
		/* Fields after the sixth are a later version's: ignored, the
		 * ban is read. */
		ok = nf >= 6 && prefix_parse(fld[0], &r.key) == 0;
		for (int i = 0; ok && i < 4; i++) {
			errno = 0;
			num[i] = strtoull(fld[2 + i], &end, 10);
			ok = !errno && *end == 0 && end != fld[2 + i] && fld[2 + i][0] != '-';
		}
		if (!ok || num[0] == 0 || num[0] > UINT32_MAX || num[1] > UINT32_MAX ||
		    num[2] > INT64_MAX || num[3] > INT64_MAX) {
			if (err)
				fprintf(err, "%s:%u: not a state line, skipped\n", name, lineno);
			n->bad++;
			continue;
		}
		rule = fld[1];
		r.nth = (uint32_t)num[0];
		r.count = (uint32_t)num[1];
		r.since = (usec_t)num[2];
		r.until = (usec_t)num[3];
		r.rule = tracker_rule_index(cfg, rule);
		if (tracker_restore(t, now, &r) != TRACK_OK)
			n->refused++;
		else if (r.until > now)
			n->bans++;
		else
			n->history++;
	}
	return ferror(f) ? -1 : 0;
}

int state_load(const char *path, struct tracker *t, struct tls_calibs *cal, const struct config *cfg,
	       usec_t now, struct state_counts *n, FILE *err)
{
	FILE *f = fopen(path, "re");
	int rc;

	memset(n, 0, sizeof(*n));
	if (!f)
		return errno == ENOENT ? 0 : -1;
	rc = state_read(f, path, t, cal, cfg, now, n, err);
	fclose(f);
	/* A newer version's file is kept aside, not overwritten by the
	 * next save: a downgrade loses no bans for good. */
	if (n->version) {
		char aside[4096];

		if ((size_t)snprintf(aside, sizeof(aside), "%s.v%u", path, n->version) < sizeof(aside) &&
		    rename(path, aside) == 0 && err)
			fprintf(err, "%s: kept as %s; starting without it\n", path, aside);
	}
	return rc;
}
