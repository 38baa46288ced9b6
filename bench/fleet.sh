#!/bin/bash
# The fleet's costs with the real LAPI (make bench runs it): figures
# printed and kept in bench/results/; nothing asserted.
#  1. ban on MX1 to drop on MX2, over 20 harvesters (median, max);
#  2. startup sync: 100,000 decisions in LAPI into MX2's sets (time from
#     the daemon's start, RSS growth);
#  3. an incremental poll with the 100,000 in LAPI (LAPI's own log).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
work=$(mktemp -d /tmp/rcptguard-fleetbench.XXXXXX)
pass=0 fail=0
ok() { :; }
nok() { echo "FAIL $*" >&2; }
t() { :; }
. tests/fleet.sh
trap 'fleet_down; rm -rf "$work"' EXIT
fleet_lab_up
mkdir -p bench/results
out=bench/results/fleet-$(date -u +%Y%m%dT%H%M%SZ).txt
exec > >(tee "$out")
echo "# $(uname -srm), $(nproc) cores, $(crowdsec -version 2>&1 | sed -n 's/.*version: //p' | head -1)"

# 1. Twenty harvesters, one after the other.
delays=()
for i in $(seq 1 20); do
	a=198.18.0.$((100 + i))
	lab_cli_addr $a
	fleet_watch "$MX2" banned4_32 $a "$work/seen$i" &
	w=$!
	lab_cli build/smtpc -T 1500 -b $a -s $SRV4 harvest -n 30 -k 15 -P -g 2 >/dev/null
	wait $w || true
	delays+=("$(fleet_delay "$LAB_DIR/mx1.log" $a "$work/seen$i")")
done
printf '%s\n' "${delays[@]}" | sort -n | awk '{ v[NR] = $1 } END { printf "ban on MX1 to drop on MX2, %d bans (crowdsec_poll = 1s): median %d ms, max %d ms\n", NR, v[int((NR + 1) / 2)], v[NR] }'

# 2. 100,000 decisions (cscli's, so crowdsec_enforce = all) into a
#    restarted MX2.
awk 'BEGIN { print "duration,origin,scenario,scope,type,value"; for (i = 0; i < 100000; i++) printf "4h,cscli,bench,ip,ban,198.19.%d.%d\n", int(i / 250), i % 250 + 1 }' >"$work/d.csv"
s=$(date +%s.%N)
cscli -c "$L/config.yaml" decisions import -i "$work/d.csv" --format csv >/dev/null 2>&1
e=$(date +%s.%N)
echo "cscli decisions import of 100,000: $(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.1f", e - s }') s"
kill "$rg2"; wait "$rg2" 2>/dev/null || true
sed -i 's/^crowdsec_enforce.*//' "$LAB_DIR/mx2.conf"
echo "crowdsec_enforce = all" >>"$LAB_DIR/mx2.conf"
ip netns exec "$MX2" nft delete table inet rcptguard 2>/dev/null || true
: >"$LAB_DIR/mx2.log"
s=$(date +%s%N)
ip netns exec "$MX2" "$top/rcptguard" run -f -c "$LAB_DIR/mx2.conf" 2>"$LAB_DIR/mx2.log" &
rg2=$!
for i in $(seq 1 50); do grep -q running: "$LAB_DIR/mx2.log" && break; sleep 0.1; done
rss0=$(awk '/^VmRSS/ { print $2 }' /proc/$rg2/status)
n=0
for i in $(seq 1 600); do
	n=$(ip netns exec "$MX2" nft -j list set inet rcptguard banned4_32 2>/dev/null | jq '.nftables[1].set.elem | length' 2>/dev/null || echo 0)
	[ "$n" -ge 100000 ] && break
	sleep 0.05
done
e=$(date +%s%N)
rss1=$(awk '/^VmHWM/ { print $2 }' /proc/$rg2/status)
echo "startup sync: $n decisions from LAPI in MX2's set $(( (e - s) / 1000000 )) ms after the daemon started; RSS $rss0 kB at start, peak $rss1 kB (growth $((rss1 - rss0)) kB)"
sleep 3
echo "incremental polls with 100,000 in LAPI: $("$top/rcptguard" status -s "$LAB_DIR/mx2.ctl" --json | jq -c '.crowdsec | {pulls, pull_errors, decisions, applied}')"
grep -o 'GET /v1/decisions/stream?startup=false[^"]*" [0-9]* [0-9.]*m\?s' "$L/lapi.log" | tail -3 | sed 's/^/  LAPI: /' || true
echo "written to $out"
