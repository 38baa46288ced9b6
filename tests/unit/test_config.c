/* Config: values, units, rule blocks, and errors as FILE:LINE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "t.h"

static int load(const char *text, char *err, size_t errlen, struct config *c)
{
	FILE *f = fmemopen(err, errlen, "w");
	int n;

	memset(err, 0, errlen);
	config_defaults(c);
	n = config_load_string(c, text, "t.conf", f);
	fclose(f);
	return n;
}

TEST(config_defaults_are_sane)
{
	struct config c;
	char err[256];

	CHECK_EQ(load("", err, sizeof(err), &c), 0);
	CHECK_EQ(c.nports, 1);
	CHECK_EQ(c.ports[0], 25);
	CHECK_EQ(c.nrules, 4);
	/* Inside TLS: twice harvest's threshold, over the same window. */
	CHECK_STR(c.rules[3].name, "harvest_tls");
	CHECK_EQ(c.rules[3].cls, EC_RCPT_REJECTED_TLS);
	CHECK_EQ(c.rules[3].threshold, 20);
	CHECK_EQ(c.rules[3].window, 600 * USEC_PER_SEC);
	CHECK_STR(c.rules[0].name, "harvest");
	CHECK_EQ(c.rules[0].share, 60);
	CHECK_STR(c.rules[1].name, "harvest_slow");
	CHECK_EQ(c.rules[1].window, 86400 * USEC_PER_SEC);
	CHECK_EQ(c.rules[1].wave_threshold, 3);
	CHECK_EQ(c.wave_min, 30);
	CHECK_EQ(c.rules[0].threshold, 10);
	CHECK_EQ(c.rules[0].window, 600 * USEC_PER_SEC);
	CHECK_EQ(c.rules[0].ban, 3600 * USEC_PER_SEC);
	CHECK_EQ(c.rules[0].max_ban, 7 * 86400 * USEC_PER_SEC);
	CHECK_EQ(c.rules[0].prefix4, 32);
	CHECK_EQ(c.rules[0].prefix6, 64);
	CHECK(c.rules[0].distinct);
	CHECK(c.servers_any);
	CHECK(!c.count_unverified);
	config_free(&c);
}

TEST(config_values_and_rules)
{
	struct config c;
	char err[256];
	const char *text =
		"# comment\n"
		"smtp_ports = 25, 587 2525\n"
		"servers = 198.18.1.1 fd00::1/128\n"
		"allowlist = 198.18.0.0/24   # trailing comment\n"
		"prefix6 = 56\n"
		"reasm_total_bytes = 16m\n"
		"timeout_established = 5m\n"
		"trap_recipients = <Trap@Example.org> spam@example.org\n"
		"\n"
		"rule harvest {\n"
		"	class = rcpt_rejected\n"
		"	threshold = 5\n"
		"	window = 1h\n"
		"	ban = 30m\n"
		"	factor = 3\n"
		"	max_ban = 2d\n"
		"}\n";

	CHECK_EQ(load(text, err, sizeof(err), &c), 0);
	CHECK_STR(err, "");
	CHECK_EQ(c.nports, 3);
	CHECK_EQ(c.ports[2], 2525);
	CHECK(!c.servers_any);
	CHECK_EQ(c.servers.n, 2);
	CHECK_EQ(c.allowlist.n, 1);
	CHECK_EQ(c.reasm_total, 16u << 20);
	CHECK_EQ(c.timeout_established, 300 * USEC_PER_SEC);
	CHECK_EQ(c.ntraps, 2);
	CHECK_STR(c.traps[0], "trap@example.org");
	CHECK_EQ(c.nrules, 1);
	CHECK_EQ(c.rules[0].threshold, 5);
	CHECK_EQ(c.rules[0].factor, 3);
	CHECK_EQ(c.rules[0].ban, 1800 * USEC_PER_SEC);
	CHECK_EQ(c.rules[0].prefix6, 56);	/* inherited */
	config_free(&c);
}

TEST(config_errors_name_file_and_line)
{
	struct config c;
	char err[2048];
	const char *text =
		"smtp_ports = 25\n"
		"colour = blue\n"
		"max_flows = lots\n"
		"rule x {\n"
		"	class = rcpt_maybe\n"
		"	window = 10 minutes\n"
		"}\n"
		"}\n"
		"timeout_closing = 0s\n"
		"no equals sign\n";

	/* Seven bad lines, and rule x then lacks a valid class: eight. */
	CHECK_EQ(load(text, err, sizeof(err), &c), 8);
	CHECK(strstr(err, "t.conf:10: expected 'key = value'") != NULL);
	CHECK(strstr(err, "t.conf:4: rule 'x' has no class") != NULL);
	CHECK(strstr(err, "t.conf:2: unknown key 'colour'") != NULL);
	CHECK(strstr(err, "t.conf:3: max_flows") != NULL);
	CHECK(strstr(err, "t.conf:5: unknown event class 'rcpt_maybe'") != NULL);
	CHECK(strstr(err, "t.conf:6: window") != NULL);
	CHECK(strstr(err, "t.conf:8: '}' without a rule block") != NULL);
	CHECK(strstr(err, "t.conf:9: timeout_closing") != NULL);
	config_free(&c);
}

TEST(config_rule_problems)
{
	struct config c;
	char err[2048];

	CHECK_EQ(load("rule a {\n threshold = 3\n}\n", err, sizeof(err), &c), 1);
	CHECK(strstr(err, "t.conf:1: rule 'a' has no class") != NULL);
	config_free(&c);
	CHECK_EQ(load("rule a {\n class = auth_failed\n}\nrule a {\n class = auth_failed\n}\n",
		      err, sizeof(err), &c), 1);
	CHECK(strstr(err, "t.conf:4: rule 'a' is already defined at line 1") != NULL);
	config_free(&c);
	CHECK_EQ(load("rule a {\n class = auth_failed\n", err, sizeof(err), &c), 1);
	CHECK(strstr(err, "not closed") != NULL);
	config_free(&c);
}

TEST(config_durations_and_sizes)
{
	usec_t d;
	uint64_t s;
	char buf[32];

	CHECK_EQ(parse_duration("30s", &d), 0);
	CHECK_EQ(d, 30 * USEC_PER_SEC);
	CHECK_EQ(parse_duration("7d", &d), 0);
	CHECK_STR(fmt_duration(d, buf, sizeof(buf)), "7d");
	CHECK_EQ(parse_duration("250ms", &d), 0);
	CHECK_STR(fmt_duration(d, buf, sizeof(buf)), "250ms");
	CHECK_EQ(parse_duration("90", &d), 0);
	CHECK_STR(fmt_duration(d, buf, sizeof(buf)), "90s");
	CHECK(parse_duration("10 m", &d) != 0);
	CHECK(parse_duration("-1s", &d) != 0);
	CHECK(parse_duration("99999999999999999999d", &d) != 0);
	CHECK_EQ(parse_size("64k", &s), 0);
	CHECK_EQ(s, 65536);
	CHECK(parse_size("1kb", &s) != 0);
	CHECK_STR(fmt_size(3u << 20, buf, sizeof(buf)), "3m");
}

TEST(config_print_round_trips)
{
	struct config c, d;
	char err[256], *text = NULL;
	size_t len = 0;
	FILE *f;

	CHECK_EQ(load("smtp_ports = 25 587\nallowlist = 198.18.0.0/15\n"
		      "rule r {\n class = auth_failed\n threshold = 4\n count = all\n}\n",
		      err, sizeof(err), &c), 0);
	f = open_memstream(&text, &len);
	config_print(&c, f);
	fclose(f);
	CHECK_EQ(load(text, err, sizeof(err), &d), 0);
	CHECK_EQ(d.nports, 2);
	CHECK_EQ(d.allowlist.n, 1);
	CHECK_EQ(d.nrules, 1);
	CHECK_EQ(d.rules[0].cls, EC_AUTH_FAILED);
	CHECK(!d.rules[0].distinct);
	free(text);
	config_free(&c);
	config_free(&d);
}

/* Every numeric setting at its range limits: both ends accepted, one
 * step past either refused with FILE:LINE and the setting's name, the
 * rest of the configuration as it was. */
static void limits_text(const struct setting *st, uint64_t v, char *buf, size_t len)
{
	char val[64];

	switch (st->type) {
	case ST_DURATION:
		snprintf(val, sizeof(val), "%llums", (unsigned long long)(v / 1000));
		break;
	default:
		snprintf(val, sizeof(val), "%llu", (unsigned long long)v);
		break;
	}
	if (st->scope == SCOPE_RULE)
		snprintf(buf, len, "rule r {\n class = rcpt_rejected\n %s = %s\n}\n", st->name, val);
	else
		snprintf(buf, len, "%s = %s\n", st->name, val);
}

TEST(config_every_key_at_its_limits)
{
	char text[256], err[512];
	struct config c;
	int n = 0;

	for (const struct setting *st = config_settings; st->name; st++) {
		uint64_t step = st->type == ST_DURATION ? 1000 : 1;
		int line = st->scope == SCOPE_RULE ? 3 : 1;
		char want[128];

		if (st->type != ST_UINT && st->type != ST_PERCENT && st->type != ST_SIZE && st->type != ST_DURATION)
			continue;
		n++;
		limits_text(st, st->lo, text, sizeof(text));
		if (load(text, err, sizeof(err), &c))
			fprintf(stderr, "%s at its low limit: %s", st->name, err);
		CHECK_EQ(load(text, err, sizeof(err), &c), 0);
		config_free(&c);
		limits_text(st, st->hi, text, sizeof(text));
		if (load(text, err, sizeof(err), &c))
			fprintf(stderr, "%s at its high limit: %s", st->name, err);
		CHECK_EQ(load(text, err, sizeof(err), &c), 0);
		config_free(&c);
		snprintf(want, sizeof(want), "t.conf:%d:", line);
		if (st->hi < UINT64_MAX / 2) {
			limits_text(st, st->hi + step, text, sizeof(text));
			CHECK(load(text, err, sizeof(err), &c) > 0);
			CHECK(strstr(err, want) != NULL && strstr(err, st->name) != NULL);
			config_free(&c);
		}
		if (st->lo >= step) {
			limits_text(st, st->lo - step, text, sizeof(text));
			CHECK(load(text, err, sizeof(err), &c) > 0);
			CHECK(strstr(err, want) != NULL);
			config_free(&c);
		}
	}
	CHECK(n >= 20);
}
