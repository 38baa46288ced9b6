/* rcptguard: stops directory-harvest attacks by watching SMTP on the wire
 * and banning sources in nftables. One binary, several subcommands. */
#include <getopt.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "client.h"
#include "commands.h"
#include "ctl.h"
#include "daemon.h"
#include "replay.h"

#ifndef RCPTGUARD_VERSION
#define RCPTGUARD_VERSION "0.1.0"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rcptguard COMMAND [OPTIONS]\n"
		"\n"
		"commands:\n"
		"  run [-c FILE] [-f] [--summary-json F]  the live daemon (NFQUEUE or libpcap)\n"
		"  replay [-c FILE] [--json] CAPTURE...  run the detection on pcap/pcapng files\n"
		"  check-config [-c FILE] [--settings]   validate and print the configuration\n");
	for (const struct command *c = commands; c->name; c++) {
		char what[64];

		snprintf(what, sizeof(what), "%s %s", c->name, c->cli_args);
		fprintf(f, "  %-37s %s\n", what, c->help);
	}
	fprintf(f,
		"    (these talk to the daemon: -s SOCKET, or -c FILE for its control_socket)\n"
		"  --version                             print the version\n"
		"  --help                                this text\n"
		"\n"
		"See rcptguard(8) and rcptguard.conf(5).\n");
}

static int cmd_check_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "settings", no_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_CONFIG_PATH;
	struct config cfg;
	int c, errors;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c == 'S') {
			/* The table of settings itself, for scripts and tests. */
			config_print_settings(stdout);
			return 0;
		}
		if (c != 'c') {
			fprintf(stderr, "usage: rcptguard check-config [-c FILE] [--settings]\n");
			return 1;
		}
		path = optarg;
	}
	if (optind < argc) {
		fprintf(stderr, "usage: rcptguard check-config [-c FILE] [--settings]\n");
		return 1;
	}
	config_defaults(&cfg);
	errors = config_load(&cfg, path, stderr);
	if (errors) {
		fprintf(stderr, "rcptguard: %s: %d error%s\n", path, errors, errors == 1 ? "" : "s");
		config_free(&cfg);
		return 1;
	}
	config_lint(&cfg, stderr);
	config_print(&cfg, stdout);
	config_free(&cfg);
	return 0;
}

/* The commands that talk to the running daemon over its control socket. */
static int cmd_client(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "number", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *cfgpath = NULL, *n = NULL;
	char req[CTL_MAX_REQUEST];
	bool json = false;
	size_t o;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+s:c:jn:", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			cfgpath = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'n':
			n = optarg;
			break;
		default:
			fprintf(stderr, "usage: rcptguard %s [-s SOCKET | -c FILE] [--json] [ARGS]\n", argv[0]);
			return CTL_EXIT_USAGE;
		}
	}
	if (!sock) {
		/* The socket the daemon's configuration names. */
		static struct config cfg;
		const char *path = cfgpath ? cfgpath : DEFAULT_CONFIG_PATH;

		config_defaults(&cfg);
		if ((cfgpath || access(path, R_OK) == 0) && config_load(&cfg, path, stderr)) {
			fprintf(stderr, "rcptguard: %s has errors; use -s SOCKET\n", path);
			return CTL_EXIT_USAGE;
		}
		if (!cfg.control_socket[0]) {
			fprintf(stderr, "rcptguard: control_socket = none in %s\n", path);
			return CTL_EXIT_NOT_RUNNING;
		}
		sock = cfg.control_socket;
	}
	o = (size_t)snprintf(req, sizeof(req), "%s", argv[0]);
	if (n)
		o += (size_t)snprintf(req + o, sizeof(req) - o, " %s", n);
	for (int i = optind; i < argc && o < sizeof(req); i++)
		o += (size_t)snprintf(req + o, sizeof(req) - o, " %s", argv[i]);
	if (json && o < sizeof(req))
		o += (size_t)snprintf(req + o, sizeof(req) - o, " --json");
	if (o >= sizeof(req) - 1 || strchr(req, '\n')) {
		fprintf(stderr, "rcptguard: request too long\n");
		return CTL_EXIT_USAGE;
	}
	return ctl_request(sock, req, stdout, stderr);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V") || !strcmp(cmd, "version")) {
		printf("rcptguard %s (%s)\n", RCPTGUARD_VERSION, pcap_lib_version());
		return 0;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "replay"))
		return cmd_replay(argc - 1, argv + 1);
	if (!strcmp(cmd, "check-config"))
		return cmd_check_config(argc - 1, argv + 1);
	if (command_find(cmd))
		return cmd_client(argc - 1, argv + 1);
	fprintf(stderr, "rcptguard: unknown command '%s'\n", cmd);
	usage(stderr);
	return 1;
}
