/* rcptguard: stops directory-harvest attacks by watching SMTP on the wire
 * and banning sources in nftables. One binary, several subcommands. */
#include <getopt.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
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
		"  check-config [-c FILE]                validate and print the configuration\n"
		"  --version                             print the version\n"
		"  --help                                this text\n"
		"\n"
		"See rcptguard(8) and rcptguard.conf(5).\n");
}

static int cmd_check_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_CONFIG_PATH;
	struct config cfg;
	int c, errors;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c != 'c') {
			fprintf(stderr, "usage: rcptguard check-config [-c FILE]\n");
			return 1;
		}
		path = optarg;
	}
	if (optind < argc) {
		fprintf(stderr, "usage: rcptguard check-config [-c FILE]\n");
		return 1;
	}
	config_defaults(&cfg);
	errors = config_load(&cfg, path, stderr);
	if (errors) {
		fprintf(stderr, "rcptguard: %s: %d error%s\n", path, errors, errors == 1 ? "" : "s");
		config_free(&cfg);
		return 1;
	}
	config_print(&cfg, stdout);
	config_free(&cfg);
	return 0;
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
	fprintf(stderr, "rcptguard: unknown command '%s'\n", cmd);
	usage(stderr);
	return 1;
}
