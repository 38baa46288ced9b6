#!/bin/bash
# make soak: rcptguard under mixed attack and legitimate traffic for
# SOAK_SECONDS (default 600) in network namespaces, NFQUEUE mode, with a
# real Postfix. Samples the daemon's RSS and open descriptors every
# second; at the end prints the series, the RSS slope after warm-up, the
# descriptors at start and end, legitimate messages sent and delivered,
# and whether every attacking source was banned. Written to
# bench/results/soak-*.txt. Not part of make check.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
secs=${SOAK_SECONDS:-600}
warm=${SOAK_WARMUP:-60}
. tests/lab/lab.sh
trap 'kill $(jobs -p) 2>/dev/null || true; lab_down' EXIT
lab_up
postfix_up
GOOD4=198.18.0.77 GOOD6=fd00:18::77
lab_cli_addr $GOOD4
lab_cli_addr $GOOD6
attackers=()
for i in $(seq 100 139); do attackers+=(198.18.0.$i); lab_cli_addr 198.18.0.$i; done
mkdir -p bench/results
out=bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ).txt
exec > >(tee "$out")
echo "# $(uname -srm), $(nproc) cores; ${secs}s, warm-up ${warm}s; ${#attackers[@]} attackers, 2 legitimate senders"

# Bans of 20 s, not escalating: an attacker comes back and is banned
# again, so bans, unbans and re-bans go on for the whole run.
cat >"$LAB_DIR/rg.conf" <<EOF2
capture = nfqueue
manage_queue = yes
servers = local
state_file = $LAB_DIR/state
control_socket = $LAB_DIR/ctl
user = root
rule harvest {
	class = rcpt_rejected
	threshold = 10
	window = 1m
	ban = 20s
	factor = 1
	max_ban = 20s
}
EOF2
lab_srv nft delete table inet rcptguard 2>/dev/null || true
ip netns exec "$LAB_SRV" "$top/rcptguard" run -f -c "$LAB_DIR/rg.conf" 2>"$LAB_DIR/rg.log" &
rg=$!
for i in $(seq 1 50); do grep -q running: "$LAB_DIR/rg.log" && break; sleep 0.1; done
end=$((SECONDS + secs))

# RSS (kB) and descriptors, once a second.
( while [ $SECONDS -lt $end ] && kill -0 $rg 2>/dev/null; do
	echo "$(awk '/^VmRSS/ { print $2 }' /proc/$rg/status) $(ls /proc/$rg/fd | wc -l)"
	sleep 1
done ) >"$LAB_DIR/samples" &
sampler=$!

# Attackers, round robin: 30 guesses, 15 a session, give up after 2
# refused connects.
( n=0; while [ $SECONDS -lt $end ]; do
	a=${attackers[$((n % ${#attackers[@]}))]}
	lab_cli "$top/build/smtpc" -T 300 -b $a -s $SRV4 harvest -n 30 -k 15 -g 2 >/dev/null 2>&1 || true
	n=$((n + 1))
done; echo $n >"$LAB_DIR/attacks" ) &
attack=$!

# Legitimate senders: one message at a time, alternating IPv4 and IPv6.
( sent=0 ok=0; while [ $SECONDS -lt $end ]; do
	if [ $((sent % 2)) = 0 ]; then b=$GOOD4 s=$SRV4; else b=$GOOD6 s=$SRV6; fi
	r=$(lab_cli "$top/build/smtpc" -b $b -s $s deliver -n 1 2>/dev/null || true)
	sent=$((sent + 1))
	case $r in *delivered=1*) ok=$((ok + 1)) ;; esac
	sleep 0.2
done; echo "$sent $ok" >"$LAB_DIR/legit" ) &
legit=$!

wait $attack $legit $sampler
log_settle
kill -TERM $rg
wait $rg || true

read -r sent ok <"$LAB_DIR/legit"
mbox=$(mailbox_count)
echo "rss_kb series (1 s apart):"
awk '{ printf "%s%s", (NR > 1 ? " " : ""), $1 } END { print "" }' "$LAB_DIR/samples" | fold -s -w 120
awk -v w="$warm" 'NR > w { n++; x = NR; y = $1; sx += x; sy += y; sxx += x * x; sxy += x * y }
	END { if (n > 1) { b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
		printf "rss slope after warm-up: %.3f kB/min over %d samples (%.1f MB at the end)\n", b * 60, n, y / 1024 } }' "$LAB_DIR/samples"
# The second half too: rings allocated at start (the 4096 recipients
# kept as ban evidence, 512 KB) are touched for the first time as events
# arrive, which shows as slow growth until they have gone round once.
awk '{ v[NR] = $1 } END { h = int(NR / 2); for (i = h + 1; i <= NR; i++) { n++; x = i; y = v[i]; sx += x; sy += y; sxx += x * x; sxy += x * y }
	if (n > 1) printf "rss slope over the second half: %.3f kB/min over %d samples\n", (n * sxy - sx * sy) / (n * sxx - sx * sx) * 60, n }' "$LAB_DIR/samples"
awk -v w="$warm" 'NR == w + 1 { a = $2 } { z = $2 } END { printf "descriptors: %d after warm-up, %d at the end\n", a, z }' "$LAB_DIR/samples"
echo "legitimate: $sent sent, $ok delivered by the client's account, $mbox in the mailboxes"
banned=0 missing=""
for a in "${attackers[@]}"; do
	if grep -q " ban $a/32 " "$LAB_DIR/rg.log"; then banned=$((banned + 1)); else missing="$missing $a"; fi
done
echo "attackers: $(cat "$LAB_DIR/attacks") attack runs; $banned of ${#attackers[@]} sources banned${missing:+ (never:$missing)}; bans logged: $(grep -c ' ban ' "$LAB_DIR/rg.log")"
grep -E ' (capture|nftables): ' "$LAB_DIR/rg.log" | sed 's/^rcptguard: */  /'
echo "written to $out"
