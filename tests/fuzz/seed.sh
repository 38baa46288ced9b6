#!/bin/sh
# Seed corpora from the test fixtures, once.
set -eu
cd "$(dirname "$0")/../.."
c=build/fuzz/corpus
[ -d $c/control ] && exit 0
mkdir -p $c/decode $c/reasm $c/smtp $c/config $c/control
build/fuzz/seeds decode $c/decode tests/fixtures/*.pcap
build/fuzz/seeds smtp $c/smtp tests/fixtures/*.pcap
# reasm records: offset(2) len(1) flags(1) data
printf '\000\000\005\000hello\000\005\001\000 \000\006\005\000world\000\020\000\001' >$c/reasm/order
printf '\000\006\005\000world\000\000\006\000hello \000\003\004\000XXXX' >$c/reasm/overlap
cp packaging/rcptguard.conf $c/config/packaged
printf 'allowlist = 198.18.0.0/15 fd00::/8\nrule h {\n class = rcpt_rejected\n threshold = 3\n window = 30s\n ban = 10m\n factor = 3\n prefix6 = 48\n}\ntrap_recipients = a@b.c\n' >$c/config/rules
for r in status 'status --json' bans 'bans --json' 'top 5 --json' 'ban 198.18.0.1 1h' \
	'ban fd00::1/64 30s' 'unban 198.18.0.1' metrics 'ban 198.18.9.1' 'top x'; do
	printf '%s' "$r" >"$c/control/$(echo "$r" | tr ' /' '__')"
done
