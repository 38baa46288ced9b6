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
	if (make_parent(path) < 0)
		return -1;
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

int state_load(const char *path, struct tracker *t, struct tls_calibs *cal, const struct config *cfg,
	       usec_t now, struct state_counts *n, FILE *err)
{
	FILE *f = fopen(path, "re");
	char line[512];
	unsigned lineno = 0;

	memset(n, 0, sizeof(*n));
	if (!f)
		return errno == ENOENT ? 0 : -1;
	while (fgets(line, sizeof(line), f)) {
		char *fld[10], *save = NULL, *end;
		uint64_t num[4];
		struct ban_record r = { 0 };
		const char *rule;
		int nf = 0;
		bool ok;

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		for (char *w = strtok_r(line, " \t\r\n", &save); w && nf < 10; w = strtok_r(NULL, " \t\r\n", &save))
			fld[nf++] = w;
		if (nf && !strcmp(fld[0], "calib")) {
			if (cal && tls_calib_load_line(cal, fld, nf) < 0) {
				if (err)
					fprintf(err, "%s:%u: not a calibration line, skipped\n", path, lineno);
				n->bad++;
			}
			continue;
		}
		ok = nf == 6 && prefix_parse(fld[0], &r.key) == 0;
		for (int i = 0; ok && i < 4; i++) {
			errno = 0;
			num[i] = strtoull(fld[2 + i], &end, 10);
			ok = !errno && *end == 0 && end != fld[2 + i] && fld[2 + i][0] != '-';
		}
		if (!ok || num[0] == 0 || num[0] > UINT32_MAX || num[1] > UINT32_MAX ||
		    num[2] > INT64_MAX || num[3] > INT64_MAX) {
			if (err)
				fprintf(err, "%s:%u: not a state line, skipped\n", path, lineno);
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
	fclose(f);
	return 0;
}
