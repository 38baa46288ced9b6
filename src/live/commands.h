/* What the control socket answers. One table names every command with
 * its arguments and help: the daemon's dispatcher and the command line's
 * usage both read it. */
#ifndef RCPTGUARD_COMMANDS_H
#define RCPTGUARD_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>

struct daemon;

struct command {
	const char *name;
	const char *cli_args;	/* as typed after `rcptguard NAME` */
	const char *help;
	int min_args, max_args;	/* after the name, on the socket */
	int (*run)(struct daemon *d, int argc, char **argv, bool json, FILE *out);
};

extern const struct command commands[];

/* The command of that name, or NULL. */
const struct command *command_find(const char *name);
/* One request line; the reply body goes to out. 0: OK, else ERR. */
int commands_handle(struct daemon *d, char *request, FILE *out);
/* Prometheus text exposition of every counter and gauge. */
void commands_metrics(struct daemon *d, FILE *out);
/* metrics_file: written whole and renamed. */
void commands_write_metrics_file(struct daemon *d);

#endif
