/* What a run saw, for people and for scripts: counters from every stage
 * and, per client source, its events by class over the whole run. */
#ifndef RCPTGUARD_SUMMARY_H
#define RCPTGUARD_SUMMARY_H

#include <stdio.h>

#include "pipeline.h"

struct summary;

struct summary *summary_new(const struct config *cfg);
void summary_free(struct summary *s);
void summary_reconfigure(struct summary *s, const struct config *cfg);
/* Count one paired reply; meant as (part of) the pipeline's event hook. */
void summary_event(struct summary *s, const struct flow_event *e);
void summary_text(const struct summary *s, const struct pipeline *p, FILE *o);
/* One line of JSON, "type":"summary". */
void summary_json(const struct summary *s, const struct pipeline *p, FILE *o);

/* One ban decision as a line of text or of JSON (no newline). */
void ban_format(const struct ban *b, bool json, char *buf, size_t len);
/* A wave starting or ending, the same way. */
void wave_format(usec_t now, const struct wave_info *w, bool json, char *buf, size_t len);

#endif
