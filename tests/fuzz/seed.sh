#!/bin/sh
# Seed corpora from the test fixtures, once.
set -eu
cd "$(dirname "$0")/../.."
c=build/fuzz/corpus
[ -d $c/tls ] && exit 0
mkdir -p $c/decode $c/reasm $c/smtp $c/config $c/control $c/tls
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
# tls: structured (odd first byte): side and length, three bytes a record.
printf '\001\000\000\066\001\000\037\000\000\056\001\000\163' >$c/tls/postfix-probe
printf '\003\000\000\066\001\000\031\000\000\061\001\000\043' >$c/tls/exim-probe
printf '\005\000\000\124\001\000\224' >$c/tls/cbc
printf '\000\005\026\003\003\000\001\201\005\026\003\003\000\002' >$c/tls/raw
