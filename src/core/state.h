/* The state file: every active ban and every source's count of earlier
 * bans, so that a restart or a reboot neither lifts a ban early nor lets
 * a repeat offender start again from the shortest ban.
 *
 * One text line a source, fields separated by spaces:
 *
 *   KEY RULE TIMES COUNT SINCE UNTIL
 *
 * KEY is an address with its prefix length (198.51.100.7/32,
 * 2001:db8:1:2::/64), RULE the name of the rule that banned it ("manual"
 * for a ban from the command line or one read back from the kernel),
 * TIMES how often it was banned, COUNT the events that triggered the
 * last ban, SINCE and UNTIL the ban's start and end in microseconds since
 * the epoch (UNTIL 0: not banned now). Lines starting with '#' are
 * comments. Lines starting with "calib" hold the servers' reply lengths
 * for the inference inside TLS (see tls.h), so that a restart does not
 * start blind. The file is written whole and renamed into place. */
#ifndef RCPTGUARD_STATE_H
#define RCPTGUARD_STATE_H

#include <stdio.h>

#include "config.h"
#include "tls.h"
#include "tracker.h"

/* The first line, "# rcptguard state 1: ...", names the format's
 * version; a file without it is read as version 1. A newer version's file
 * is not read (its lines may mean something else) and is renamed to
 * PATH.vN, so that the next save does not destroy it. Fields after the
 * sixth on a ban line are ignored (a later version may add some). */
#define STATE_VERSION 1u

struct state_counts {
	size_t bans;		/* restored as active */
	size_t history;		/* restored as earlier bans only */
	size_t refused;		/* allowlisted or never banned now */
	size_t bad;		/* lines that could not be read */
	unsigned version;	/* a newer version's file, not read: its number */
};

/* Write atomically: PATH.tmp, fsync, rename. 0, or -1 with errno. */
int state_save(const char *path, const struct tracker *t, const struct tls_calibs *cal);
/* Read into the tracker. Bad lines are reported to err as FILE:LINE and
 * skipped. A missing file is not an error (first start). Returns 0, or -1
 * with errno when the file exists and cannot be read. */
int state_load(const char *path, struct tracker *t, struct tls_calibs *cal, const struct config *cfg,
	       usec_t now, struct state_counts *n, FILE *err);
/* The same from an open file; name is for the messages. */
int state_read(FILE *f, const char *name, struct tracker *t, struct tls_calibs *cal, const struct config *cfg,
	       usec_t now, struct state_counts *n, FILE *err);

#endif
