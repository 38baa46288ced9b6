#!/bin/bash
# The fleet's costs with the real LAPI (make bench runs it): figures
# printed and kept in bench/results/; nothing asserted.
#  1. ban on MX1 to drop on MX2, over 20 harvesters (median, max);
#  2. startup sync: 100,000 decisions in LAPI into MX2's sets (time from
#     the daemon's start, RSS growth);
#  3. an incremental poll with the 100,000 in LAPI (the daemon's time,
#     and curl's for the same request).
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

# 1. Twenty harvesters, one after the other (FLEET_SYNC_ONLY=1: none).
delays=()
for i in $(seq 1 $([ -n "${FLEET_SYNC_ONLY:-}" ] && echo 0 || echo 20)); do
	a=198.18.0.$((100 + i))
	lab_cli_addr $a
	fleet_watch "$MX2" banned4_32 $a "$work/seen$i" &
	w=$!
	lab_cli build/smtpc -T 1500 -b $a -s $SRV4 harvest -n 30 -k 15 -P -g 2 >/dev/null
	wait $w || true
	delays+=("$(fleet_delay "$LAB_DIR/mx1.log" $a "$work/seen$i")")
done
[ -n "${FLEET_SYNC_ONLY:-}" ] || echo "push latency, the last of them (the deciding reply to LAPI's 201): $("$top/rcptguard" status -s "$LAB_DIR/mx1.ctl" --json | jq '.crowdsec.push_latency_us') us"
[ -n "${FLEET_SYNC_ONLY:-}" ] || printf '%s\n' "${delays[@]}" | sort -n | awk '{ v[NR] = $1 } END { printf "ban on MX1 to drop on MX2, %d bans (crowdsec_poll = 1s): median %d ms, max %d ms\n", NR, v[int((NR + 1) / 2)], v[NR] }'

# 2. 100,000 decisions (cscli's, so crowdsec_enforce = all) into a
#    restarted MX2.
# 60,000 IPv4 addresses (198.19.0.0/16, away from the lab's own) and
# 40,000 IPv6 ones.
awk 'BEGIN { print "duration,scope,value"
	for (i = 0; i < 60000; i++) printf "4h,Ip,198.19.%d.%d\n", int(i / 250), i % 250 + 1
	for (i = 0; i < 40000; i++) printf "4h,Ip,fd00:cc::%x:%x\n", int(i / 65536) + 1, i % 65536 }' >"$work/d.csv"
# cscli imports through the API, as a machine of its own, with LAPI
# otherwise idle (its sqlite answers "database is locked" to a 100,000
# decision transaction while the daemons poll).
kill "$rg1" "$rg2" "$rg3" ${fwb:+"$fwb"}; wait "$rg1" "$rg2" "$rg3" ${fwb:+"$fwb"} 2>/dev/null || true
rg1= rg3= fwb=
cscli -c "$L/config.yaml" machines add benchcli --auto -f "$L/etc/local_api_credentials.yaml" >/dev/null 2>&1
s=$(date +%s.%N)
ip netns exec "$LAB_CLI" cscli -c "$L/config.yaml" decisions import -i "$work/d.csv" >"$work/import.log" 2>&1 ||
	{ tail -3 "$work/import.log"; exit 1; }
e=$(date +%s.%N)
echo "cscli decisions import of 100,000: $(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.1f", e - s }') s"
# The baseline: the same answer read by curl into /dev/null, as MX2.
key=$(sed -n 's/^api_key = //p' "$LAB_DIR/mx2.secret")
for i in 1 2; do
	ip netns exec "$MX2" curl -s -o /dev/null -H "X-Api-Key: $key" -w '%{time_total} %{size_download}\n' \
		"http://$CLI4:8080/v1/decisions/stream?startup=true"
done | tail -1 | awk '{ printf "baseline: curl reads the startup stream (%.1f MB) in %d ms\n", $2 / 1e6, $1 * 1000 }'
sed -i 's/^crowdsec_enforce.*//' "$LAB_DIR/mx2.conf"
echo "crowdsec_enforce = all" >>"$LAB_DIR/mx2.conf"
ip netns exec "$MX2" nft delete table inet rcptguard 2>/dev/null || true
: >"$LAB_DIR/mx2.log"
s=$(date +%s%N)
ip netns exec "$MX2" "$top/rcptguard" run -f -c "$LAB_DIR/mx2.conf" 2>"$LAB_DIR/mx2.log" &
rg2=$!
for i in $(seq 1 50); do grep -q running: "$LAB_DIR/mx2.log" && break; sleep 0.1; done
rss0=$(awk '/^VmRSS/ { print $2 }' /proc/$rg2/status)
# Its first read of the stream is done (cheap to ask, unlike listing a
# set of 100,000 every few milliseconds).
for i in $(seq 1 1200); do
	"$top/rcptguard" status -s "$LAB_DIR/mx2.ctl" --json 2>/dev/null | jq -e '.crowdsec.pulls >= 1' >/dev/null && break
	sleep 0.05
done
e=$(date +%s%N)
n4=$(ip netns exec "$MX2" nft -j list set inet rcptguard banned4_32 2>/dev/null | jq '.nftables[1].set.elem | length' 2>/dev/null || echo 0)
n6=$(ip netns exec "$MX2" nft -j list set inet rcptguard banned6_128 2>/dev/null | jq '.nftables[1].set.elem | length' 2>/dev/null || echo 0)
n=$((n4 + n6))
rss1=$(awk '/^VmHWM/ { print $2 }' /proc/$rg2/status)
echo "startup sync: $n decisions from LAPI in MX2's set $(( (e - s) / 1000000 )) ms after the daemon started; RSS $rss0 kB at start, peak $rss1 kB (growth $((rss1 - rss0)) kB)"
echo "  LAPI's own time for that answer (its log; it includes our reading): $(grep 'startup=true' "$L/lapi.log" | tail -1 | sed -n 's/.* 200 \([0-9.]*[mµ]*s\) .*/\1/p')"
grep -E 'fleet:|running:|crowdsec:' "$LAB_DIR/mx2.log" | tail -4
echo "  the daemon's own time for that read (request to every ban in the kernel): $("$top/rcptguard" status -s "$LAB_DIR/mx2.ctl" --json | jq '.crowdsec.full_pull_us / 1000 | floor') ms"
sleep 3
# 3. An incremental poll with the 100,000 in LAPI: the daemon's last one,
# against curl asking the same with a key of its own (same run).
echo "incremental poll with 100,000 in LAPI, nothing new: $("$top/rcptguard" status -s "$LAB_DIR/mx2.ctl" --json | jq '.crowdsec.pull_us / 1000') ms (the daemon's last, request to applied)"
key=$(cscli -c "$L/config.yaml" bouncers add benchpoll -o raw 2>/dev/null)
ip netns exec "$MX2" curl -s -o /dev/null -H "X-Api-Key: $key" "http://$CLI4:8080/v1/decisions/stream?startup=true"
for i in 1 2 3 4 5; do
	ip netns exec "$MX2" curl -s -o /dev/null -H "X-Api-Key: $key" -w '%{time_total}\n' \
		"http://$CLI4:8080/v1/decisions/stream?startup=false"
	sleep 0.2
done | sort -n | awk '{ v[NR] = $1 * 1000 } END { printf "baseline: curl, the same poll, median of %d: %.1f ms\n", NR, v[int((NR + 1) / 2)] }'
echo "  counters: $("$top/rcptguard" status -s "$LAB_DIR/mx2.ctl" --json | jq -c '.crowdsec | {pulls, pull_errors, decisions, applied}')"
grep -o 'GET /v1/decisions/stream?startup=false[^"]*" [0-9]* [0-9.]*m\?s' "$L/lapi.log" | tail -3 | sed 's/^/  LAPI: /' || true
echo "written to $out"
