/* The SMTP dialogue follower against the cases in the .txt files of
 * tests/dialogues (format in its README): each case's bytes go through smtp_client and
 * smtp_server as the reassembler would hand them, and the events, with
 * their classes, must be exactly the expected ones. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "smtp.h"
#include "t.h"

#define MAX_EVENTS 64
#define LINE_MAX_LEN 1024
#define EVENT_LEN (LINE_MAX_LEN + 64)

struct run {
	char got[MAX_EVENTS][EVENT_LEN];
	int n;
};

static void on_event(void *arg, const struct smtp_event *ev)
{
	struct run *r = arg;
	char enh[24] = "", rcpt[SMTP_RCPT_MAX + 4] = "";

	if (r->n == MAX_EVENTS)
		return;
	if (ev->has_enh)
		snprintf(enh, sizeof(enh), " %u.%u.%u", ev->enh[0], ev->enh[1], ev->enh[2]);
	if (ev->rcpt && ev->rcpt_len)
		snprintf(rcpt, sizeof(rcpt), " <%.*s>", (int)ev->rcpt_len, ev->rcpt);
	snprintf(r->got[r->n++], sizeof(r->got[0]), "%s %u%s%s %s", smtp_verb_name(ev->verb), ev->code,
		 enh, rcpt, ev_class_name(classify(ev)));
}

/* TEXT with its escapes undone, and CRLF unless it ends in a backslash. */
static size_t unescape(const char *in, char *out)
{
	size_t n = 0, len = strlen(in);
	bool crlf = !(len && in[len - 1] == '\\' && (len < 2 || in[len - 2] != '\\'));

	if (!crlf)
		len--;
	for (size_t i = 0; i < len; i++) {
		if (in[i] != '\\' || i + 1 == len) {
			out[n++] = in[i];
			continue;
		}
		switch (in[++i]) {
		case 'r': out[n++] = '\r'; break;
		case 'n': out[n++] = '\n'; break;
		case 'x':
			if (i + 2 < len) {
				char hex[3] = { in[i + 1], in[i + 2], 0 };

				out[n++] = (char)strtol(hex, NULL, 16);
				i += 2;
			}
			break;
		default: out[n++] = in[i]; break;
		}
	}
	if (crlf) {
		out[n++] = '\r';
		out[n++] = '\n';
	}
	return n;
}

struct dialogue {
	char name[128];
	const char *file;
	int line;
	struct smtp_ctx ctx;
	struct smtp s;
	struct run r;
	char want[MAX_EVENTS][EVENT_LEN];
	int nwant;
	bool open;
};

static void begin(struct dialogue *d, const char *name, bool verified)
{
	snprintf(d->name, sizeof(d->name), "%.100s", name);
	smtp_ctx_init(&d->ctx, 64, 4096, on_event);
	smtp_init(&d->s, verified);
	d->r.n = d->nwant = 0;
	d->open = true;
}

/* 0 when every expected event came, in order, and nothing else. */
static int finish(struct dialogue *d)
{
	int bad = 0;

	for (int i = 0; i < d->nwant || i < d->r.n; i++) {
		const char *w = i < d->nwant ? d->want[i] : "(nothing)";
		const char *g = i < d->r.n ? d->r.got[i] : "(nothing)";

		if (strcmp(w, g)) {
			fprintf(stderr, "    %s: dialogue %s, event %d:\n      want %s\n      got  %s\n", d->file,
				d->name, i + 1, w, g);
			bad = 1;
			break;
		}
	}
	smtp_free(&d->s);
	smtp_ctx_free(&d->ctx);
	d->open = false;
	return bad;
}

/* Every case of one file: how many, and how many failed. With plain,
 * each client write goes in as replay's reader hands it over, told
 * whether it is plain (smtp_plain): the events must be the same. */
static void run_file(const char *path, bool plain, int *cases, int *failed)
{
	FILE *f = fopen(path, "r");
	char line[LINE_MAX_LEN], buf[2 * LINE_MAX_LEN];
	struct dialogue *d = calloc(1, sizeof(*d));

	d->file = path;
	if (!f) {
		fprintf(stderr, "    cannot open %s\n", path);
		(*failed)++;
		free(d);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t n;

		d->line++;
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		if (!strncmp(line, "dialogue ", 9)) {
			if (d->open) {
				*failed += finish(d);
				(*cases)++;
			}
			begin(d, line + 9, true);
		} else if (!strcmp(line, "midstream") && d->open) {
			smtp_free(&d->s);
			smtp_init(&d->s, false);
		} else if (!strncmp(line, "C: ", 3) && d->open) {
			n = unescape(line + 3, buf);
			smtp_client_plain(&d->ctx, &d->s, (const uint8_t *)buf, (uint32_t)n,
					  plain && smtp_plain((const uint8_t *)buf, (uint32_t)n), &d->r);
		} else if (!strncmp(line, "S: ", 3) && d->open) {
			n = unescape(line + 3, buf);
			smtp_server(&d->ctx, &d->s, (const uint8_t *)buf, (uint32_t)n, &d->r);
		} else if (!strncmp(line, "C-gap ", 6) && d->open) {
			smtp_client_gap(&d->ctx, &d->s, (uint32_t)atoi(line + 6));
		} else if (!strncmp(line, "S-gap ", 6) && d->open) {
			smtp_server_gap(&d->ctx, &d->s, (uint32_t)atoi(line + 6));
		} else if (!strncmp(line, "expect ", 7) && d->open && d->nwant < MAX_EVENTS) {
			snprintf(d->want[d->nwant++], sizeof(d->want[0]), "%s", line + 7);
		} else if (!strcmp(line, "end") && d->open) {
			*failed += finish(d);
			(*cases)++;
		} else {
			fprintf(stderr, "    %s:%d: not a dialogue line: %s\n", path, d->line, line);
			(*failed)++;
		}
	}
	if (d->open) {
		fprintf(stderr, "    %s: dialogue %s has no end\n", path, d->name);
		finish(d);
		(*failed)++;
	}
	fclose(f);
	free(d);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

TEST(dialogues_from_data_files)
{
	const char *dir = getenv("RCPTGUARD_DIALOGUES") ? getenv("RCPTGUARD_DIALOGUES") : "tests/dialogues";
	DIR *dh = opendir(dir);
	struct dirent *de;
	char *files[64];
	int nfiles = 0, cases = 0, failed = 0;

	CHECK(dh != NULL);
	if (!dh)
		return;
	while ((de = readdir(dh)) && nfiles < 64) {
		size_t l = strlen(de->d_name);

		if (l > 4 && !strcmp(de->d_name + l - 4, ".txt")) {
			char path[512];

			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			files[nfiles++] = strdup(path);
		}
	}
	closedir(dh);
	qsort(files, (size_t)nfiles, sizeof(files[0]), by_name);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < nfiles; i++)
			run_file(files[i], pass == 1, &cases, &failed);
		printf("     %d dialogues in %d files%s, %d failed\n", cases, nfiles,
		       pass ? ", each write told whether it is plain" : "", failed);
		CHECK(cases >= 10);
		CHECK_EQ(failed, 0);
		cases = failed = 0;
	}
	for (int i = 0; i < nfiles; i++)
		free(files[i]);
}
