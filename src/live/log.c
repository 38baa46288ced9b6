#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static int use_stderr = 1;
static FILE *log_file;	/* NULL: standard error */

void log_to(FILE *f)
{
	log_file = f;
	use_stderr = 1;
}

void log_open(int to_stderr)
{
	use_stderr = to_stderr;
	if (!use_stderr)
		openlog("rcptguard", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void logmsg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (use_stderr) {
		FILE *f = log_file ? log_file : stderr;

		fputs("rcptguard: ", f);
		vfprintf(f, fmt, ap);	/* NOLINT(clang-analyzer-valist.Uninitialized): as in config.c */
		fputc('\n', f);
		fflush(f);
	} else {
		vsyslog(prio, fmt, ap);
	}
	va_end(ap);
}
