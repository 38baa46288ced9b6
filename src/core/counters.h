/* One registry of counters. Each counter is declared once, as a row with
 * its name, kind and help; every rendering reads the rows: the summary
 * (text and JSON, replay and the daemon), status (text and JSON), the
 * Prometheus exposition and the daemon's log.
 *
 * A row is one value (read at an offset of a struct, or by a function)
 * or a family of values under one label (decode results, event classes,
 * rules; replies by verb and class). Its one name is the JSON key and the
 * word in the text; it sits in a group (a JSON object, a line of text),
 * or at the top level. Its Prometheus name is rcptguard_GROUP_NAME, with
 * _total for counters, unless the row names a metric of its own: the
 * names of the first releases stay as they were (rcptguard(8), METRICS). */
#ifndef RCPTGUARD_COUNTERS_H
#define RCPTGUARD_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct pipeline;

/* What the rows read: the pipeline, and the live side's state. */
struct counter_ctx {
	const struct pipeline *p;
	const void *live;	/* struct daemon, for the live rows; or NULL */
};

/* CK_TEXT: a word that says what the numbers are about (the capture's
 * type, the table's name): in JSON and text, not a metric. */
enum counter_kind { CK_COUNTER, CK_GAUGE, CK_BOOL, CK_REAL, CK_TEXT };

#define CF_NOMETRIC	1	/* not exported (a sum of a family that is) */

struct counter {
	const char *group;	/* NULL: the top level */
	const char *name;
	uint8_t kind;
	uint8_t flags;
	const char *metric;	/* its own Prometheus name, or NULL */
	const char *mlabel;	/* a fixed label of that metric: cause="pcap_kernel" */
	const char *help;
	/* Where the row is present (NULL: always). */
	bool (*avail)(const struct counter_ctx *c);
	/* One value: a uint64_t at base + offset, or get(), or getf() (CK_REAL). */
	const void *(*base)(const struct counter_ctx *c);
	size_t offset;
	uint64_t (*get)(const struct counter_ctx *c);
	double (*getf)(const struct counter_ctx *c);
	const char *(*gets)(const struct counter_ctx *c);	/* CK_TEXT */
	/* A family: n values (uint64_t at base + offset), each with a key
	 * under label; with sub, a second dimension of nsub values each,
	 * stride apart, the first at sub_first (JSON and text skip keys
	 * whose values are all 0). */
	const char *label;
	size_t (*n)(const struct counter_ctx *c);
	const char *(*key)(const struct counter_ctx *c, size_t i);
	const char *sublabel;
	const char *const *sub;
	size_t nsub, stride, sub_first;
};

/* The pipeline's counters since it started: the summary. */
extern const struct counter counters_pipeline[];
/* The pipeline's state now (occupancy, active bans): status and metrics. */
extern const struct counter counters_now[];
/* The live side's rows (capture, enforcer, daemon, control socket) are
 * counters_live, in src/live/daemon_counters.c. */

/* Renderings of a NULL-terminated list of row tables (each ending with a
 * row whose name is NULL). */
/* "key":value,... without braces: the caller opens and closes the object;
 * rows of one group from every table go into one object. */
void counters_json(const struct counter *const *tables, const struct counter_ctx *c, FILE *o);
/* Every value with its # HELP and # TYPE, a metric's series together. */
void counters_prom(const struct counter *const *tables, const struct counter_ctx *c, FILE *o);
/* One line a group: "flows: created 3, verified 3, ...", after indent. */
void counters_text(const struct counter *const *tables, const struct counter_ctx *c,
		   const char *indent, FILE *o);

#endif
