#!/bin/bash
# make demo-fleet: three MX hosts sharing bans through CrowdSec's Local API.
# A harvester banned on MX1 is dropped by MX2 and MX3 before it gets there.
# Everything runs in network namespaces made here and removed on exit.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
make -s rcptguard build/smtpc >/dev/null
work=$(mktemp -d /tmp/rcptguard-demo-fleet.XXXXXX)
ok() { :; }
nok() { echo "FAIL $*" >&2; }
t() { :; }
. tests/fleet.sh
trap 'fleet_down; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "LAPI (Debian's crowdsec, LAPI alone) and three MX hosts, each with its own rcptguard"
fleet_lab_up
echo "LAPI on $CLI4:8080; MX1 $SRV4, MX2 $MX2_4 and MX3 $MX3_4 each run Postfix and rcptguard"
echo "each host: a CrowdSec machine (pushes its bans) and its own bouncer (reads the decision stream)"

say "Before: the harvester $ATT4 can talk to MX2"
lab_cli build/smtpc -T 1000 -b $ATT4 -s $MX2_4 deliver -n 1

say "The harvester walks MX1's recipients"
fleet_watch "$MX2" banned4_32 $ATT4 "$work/seen" &
w=$!
lab_cli build/smtpc -T 1500 -b $ATT4 -s $SRV4 harvest -n 60 -k 20 -P -g 3
wait $w || true
grep -m1 " ban $ATT4/" "$LAB_DIR/mx1.log" | sed 's/^rcptguard: /MX1: /'
grep -m1 "fleet ban $ATT4/" "$LAB_DIR/mx2.log" | sed 's/^rcptguard: /MX2: /'
echo "MX2 dropped it $(fleet_delay "$LAB_DIR/mx1.log" $ATT4 "$work/seen") ms after MX1's ban"

say "Then it tries MX2 and MX3: the kernel drops it there too"
lab_cli build/smtpc -T 1000 -b $ATT4 -s $MX2_4 deliver -n 1 || true
lab_cli build/smtpc -T 1000 -b $ATT4 -s $MX3_4 deliver -n 1 || true
ip netns exec "$MX2" nft list set inet rcptguard banned4_32 | grep -E "elements|$ATT4" | head -2

say "A legitimate sender delivers on both"
lab_cli build/smtpc -b $GOOD4 -s $SRV4 deliver -n 2
lab_cli build/smtpc -b $GOOD4 -s $MX2_4 deliver -n 2

say "An unban on MX2 lifts the ban on MX1 too"
"$top/rcptguard" unban -s "$LAB_DIR/mx2.ctl" $ATT4
for i in $(seq 1 60); do
	ip netns exec "$LAB_SRV" nft list set inet rcptguard banned4_32 | grep -q "$ATT4" || break
	sleep 0.05
done
grep "fleet unban $ATT4/" "$LAB_DIR/mx1.log" | sed 's/^rcptguard: /MX1: /'

say "rcptguard status on MX1 (the link)"
"$top/rcptguard" status -s "$LAB_DIR/mx1.ctl" | grep '^crowdsec:'
