#!/bin/bash
# The live paths' cost, measured between two network namespaces with a real
# Postfix (make bench runs it). Figures printed and kept in bench/results/;
# nothing asserted.
#
# 1. SMTP sessions per second (EHLO, MAIL, RCPT, RSET, QUIT), 4 clients in
#    parallel: no queue rule; the queue rules with rcptguard attached, with
#    every packet queued and with bare ACKs accepted before the queue;
#    pcap. At saturation, then at a fixed offered load (rate achieved and
#    session time). Then the packets queued per session, both ways.
#    Connect time (SYN to SYN-ACK) shows the queue's round trip: the SYN
#    passes the input hook and the SYN-ACK the output hook.
# 2. Packets per second through NFQUEUE: one large message to a minimal
#    SMTP sink, with rcptguard parsing, and with an accept-only consumer
#    (the floor) in the same run.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
SESSIONS=${BENCH_SESSIONS_LIVE:-300}
CLIENTS=4
BLAST=${BENCH_BLAST_BYTES:-300000000}
. tests/lab/lab.sh
rgpid=
cleanup() { [ -n "$rgpid" ] && kill "$rgpid" 2>/dev/null; lab_down; }
trap cleanup EXIT
lab_up
postfix_up
mkdir -p bench/results
out=bench/results/live-$(date -u +%Y%m%dT%H%M%SZ).txt
exec > >(tee "$out")

rg_start() {	# extra config
	printf '%b\nstate_file = none\ncontrol_socket = none\nuser = root\n' "$1" >"$LAB_DIR/rg.conf"
	: >"$LAB_DIR/rg.log"
	ip netns exec "$LAB_SRV" "$top/rcptguard" run -f -c "$LAB_DIR/rg.conf" \
		--summary-json "$LAB_DIR/sum.json" 2>>"$LAB_DIR/rg.log" &
	rgpid=$!
	for i in $(seq 1 50); do grep -q running: "$LAB_DIR/rg.log" && return; sleep 0.1; done
	echo "rcptguard did not start" >&2; cat "$LAB_DIR/rg.log" >&2; exit 1
}
rg_stop() { kill -TERM "$rgpid"; wait "$rgpid" 2>/dev/null || true; rgpid=; }

# BENCH_LIVE_PARTS=pps: only part 2 (the packet rate).
PARTS=${BENCH_LIVE_PARTS:-sessions pps}

# Parallel sessions, as fast as they go or at a fixed total rate; prints
# "rate median_connect_us p99_connect_us median_session_us".
session_rate() {	# [sessions/s offered, all clients together]
	local s e i pids=() r=()
	[ -n "${1:-}" ] && r=(-r "$(awk -v t="$1" -v c=$CLIENTS 'BEGIN { print t / c }')")
	s=$(date +%s.%N)
	for i in $(seq 1 $CLIENTS); do
		lab_cli "$top/build/smtpc" -L -s $SRV4 session -n $SESSIONS "${r[@]}" >"$LAB_DIR/sess.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	e=$(date +%s.%N)
	cat "$LAB_DIR"/sess.* | awk -v s="$s" -v e="$e" -v n=$((CLIENTS * SESSIONS)) '
		{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] += kv[2]; c[kv[1]]++ } }
		END { if (v["failed"] > 0) printf "(%d failed) ", v["failed"];
		      printf "%.0f %.1f %.1f %.1f\n", n / (e - s), v["connect_us_median"] / c["connect_us_median"],
		             v["connect_us_p99"] / c["connect_us_p99"], v["session_us_median"] / c["session_us_median"] }'
}

if [[ " $PARTS " == *" sessions "* ]]; then
echo "# $(uname -srm), $(nproc) cores; $CLIENTS clients x $SESSIONS sessions each, Postfix $(postconf -c "$LAB_DIR/postfix" -h mail_version 2>/dev/null || echo ?)"
lab_cli "$top/build/smtpc" -s $SRV4 session -n 20 >/dev/null	# warm up Postfix
# Three rounds, the conditions interleaved, medians reported: this is a
# 2-core machine shared by clients, Postfix and rcptguard.
ROUNDS=${BENCH_LIVE_ROUNDS:-3}
# One round of every condition, a line each to FILE; with a load, at that
# offered rate (and without pcap, which queues nothing).
conditions() {	# file [sessions/s offered]
	echo "bare $(session_rate ${2:-})" >>"$1"
	lab_srv env QUEUE_ACKS=1 sh nft/queue-compat.sh add local 0 25
	rg_start "capture = nfqueue\nservers = local"
	echo "nfqueue-all $(session_rate ${2:-})" >>"$1"
	rg_stop
	lab_srv env QUEUE_ACKS=1 sh nft/queue-compat.sh del local 0 25
	lab_srv sh nft/queue-compat.sh add local 0 25
	rg_start "capture = nfqueue\nservers = local"
	echo "nfqueue $(session_rate ${2:-})" >>"$1"
	rg_stop
	lab_srv sh nft/queue-compat.sh del local 0 25
	[ -n "${2:-}" ] && return
	rg_start "capture = pcap\nservers = local"
	echo "pcap $(session_rate)" >>"$1"
	rg_stop
}
: >"$LAB_DIR/rates"
for r in $(seq 1 $ROUNDS); do conditions "$LAB_DIR/rates"; done
sed 's/^/  round: /' "$LAB_DIR/rates"
med() {	# condition column
	awk -v c="$1" -v k="$2" '$1 == c { print $k }' "$LAB_DIR/rates" | sort -n |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
awk -v b="$(med bare 2)" -v a="$(med nfqueue-all 2)" -v q="$(med nfqueue 2)" 'BEGIN {
	printf "sessions/s at saturation: every packet queued %d (%.1f%% of bare), bare ACKs bypassed %d (%.1f%% of bare)\n", a, 100 * a / b, q, 100 * q / b
}'
awk -v b="$(med bare 2)" -v q="$(med nfqueue 2)" -v p="$(med pcap 2)" \
    -v bl="$(med bare 3)" -v ql="$(med nfqueue 3)" -v pl="$(med pcap 3)" \
    -v b99="$(med bare 4)" -v q99="$(med nfqueue 4)" -v p99="$(med pcap 4)" 'BEGIN {
	printf "sessions/s (median of rounds): bare %d, nfqueue+rcptguard %d (%.1f%%), pcap+rcptguard %d (%.1f%%)\n", b, q, 100 * q / b, p, 100 * p / b
	printf "connect time median (p99), us: bare %.1f (%.1f), nfqueue %.1f (%.1f), pcap %.1f (%.1f)\n", bl, b99, ql, q99, pl, p99
	printf "queue round trip added per packet (median): %.1f us (SYN and SYN-ACK each queued once)\n", (ql - bl) / 2
}'

# A fixed offered load, under what every condition sustains: the rate
# each achieves, and what a session costs in time.
LOAD=${BENCH_LIVE_LOAD:-600}
: >"$LAB_DIR/load"
for r in $(seq 1 $ROUNDS); do conditions "$LAB_DIR/load" $LOAD; done
sed 's/^/  at load: /' "$LAB_DIR/load"
lmed() { awk -v c="$1" -v k="$2" '$1 == c { print $k }' "$LAB_DIR/load" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
awk -v o=$LOAD -v b="$(lmed bare 2)" -v a="$(lmed nfqueue-all 2)" -v q="$(lmed nfqueue 2)" \
    -v bs="$(lmed bare 5)" -v as="$(lmed nfqueue-all 5)" -v qs="$(lmed nfqueue 5)" 'BEGIN {
	printf "sessions/s at a fixed offered load of %d/s: bare %d, every packet queued %d (%.1f%% of bare), bare ACKs bypassed %d (%.1f%% of bare)\n", o, b, a, 100 * a / b, q, 100 * q / b
	printf "session time median at that load, us: bare %.0f, every packet queued %.0f (+%.0f), bare ACKs bypassed %.0f (+%.0f)\n", bs, as, as - bs, qs, qs - bs
}'

# Packets queued per session, every packet against bare ACKs bypassed:
# a delivery, a harvest of 20 probes one at a time, a STARTTLS delivery.
per_session() {	# label smtpc-args...
	local label=$1 all byp
	shift
	lab_srv env QUEUE_ACKS=1 sh nft/queue-compat.sh add local 0 25
	rg_start "capture = nfqueue\nservers = local\nmode = observe"
	lab_cli "$top/build/smtpc" -s $SRV4 "$@" >/dev/null
	rg_stop
	all=$(jq .packets "$LAB_DIR/sum.json")
	lab_srv env QUEUE_ACKS=1 sh nft/queue-compat.sh del local 0 25
	lab_srv sh nft/queue-compat.sh add local 0 25
	rg_start "capture = nfqueue\nservers = local\nmode = observe"
	lab_cli "$top/build/smtpc" -s $SRV4 "$@" >/dev/null
	rg_stop
	byp=$(jq .packets "$LAB_DIR/sum.json")
	lab_srv sh nft/queue-compat.sh del local 0 25
	printf 'packets queued per session, %-28s every packet %3d, bare ACKs bypassed %3d (%.0f%% fewer)\n' "$label:" "$all" "$byp" \
		"$(awk -v a="$all" -v b="$byp" 'BEGIN { print 100 * (a - b) / a }')"
}
per_session "delivery (2 KB)" deliver -n 1
per_session "harvest (20 probes)" harvest -n 20 -k 20
per_session "STARTTLS delivery (TLS 1.3)" -S tls13 deliver -n 1
# A session rcptguard cannot read (tls_infer = no): managed rules, with
# and without its connection marked after STARTTLS.
opaque_session() {	# opaque_mark
	# Enforcing (observe installs no rules, so nothing would be queued);
	# the sender is legitimate, nothing is banned.
	rg_start "capture = nfqueue\nservers = local\nmanage_queue = yes\ntls_infer = no\nopaque_mark = $1"
	lab_cli "$top/build/smtpc" -s $SRV4 -S tls13 deliver -n 1 -z 60000 >/dev/null
	rg_stop
	jq .packets "$LAB_DIR/sum.json"
	lab_srv nft delete table inet rcptguard 2>/dev/null || true
}
a=$(opaque_session none) b=$(opaque_session 0x40000000)
printf 'packets queued per session, STARTTLS 60 KB, tls_infer = no: unmarked %d, marked once opaque %d (%.0f%% fewer)\n' "$a" "$b" \
	"$(awk -v a="$a" -v b="$b" 'BEGIN { print 100 * (a - b) / a }')"

fi

# Packet rate through the queue. Eight streams from eight client
# addresses: the queue balancing hashes the address pair, so with a
# range the streams spread over the queues (the split is printed).
BLAST_N=8
for i in $(seq 1 $BLAST_N); do lab_cli_addr 198.18.0.$((120 + i)); done
lab_srv "$top/build/smtpc" -s :: -p 2525 sink -n 240 >/dev/null &
sinkpid=$!
sleep 0.3
blast_pps() {	# BLAST_N streams at once; prints start and end times
	local s e i pids=()
	s=$(date +%s.%N)
	for i in $(seq 1 $BLAST_N); do
		lab_cli "$top/build/smtpc" -T 30000 -b 198.18.0.$((120 + i)) -s $SRV4 -p 2525 blast \
			-z $((BLAST / BLAST_N)) >/dev/null &
		pids+=($!)
	done
	wait "${pids[@]}"
	e=$(date +%s.%N)
	echo "$s $e"
}
pps_of() {	# packets start end
	awk -v n="$1" -v s="$2" -v e="$3" 'BEGIN { printf "%.0f", n / (e - s) }'
}
lab_srv sh nft/queue-compat.sh add local 0 2525
ip netns exec "$LAB_SRV" "$top/build/nfqfloor" 0 >"$LAB_DIR/floor.out" 2>"$LAB_DIR/floor.err" &
fpid=$!
for i in $(seq 1 50); do grep -q ready "$LAB_DIR/floor.err" && break; sleep 0.1; done
read -r s e <<<"$(blast_pps)"
kill -TERM $fpid; wait $fpid || true
floor_pk=$(sed 's/packets=\([0-9]*\).*/\1/' "$LAB_DIR/floor.out")
floor_pps=$(pps_of "$floor_pk" "$s" "$e")
rg_start "capture = nfqueue\nservers = local\nsmtp_ports = 2525"
read -r s e <<<"$(blast_pps)"
rg_stop
rg_pk=$(jq .packets "$LAB_DIR/sum.json")
rg_pps=$(pps_of "$rg_pk" "$s" "$e")
lab_srv sh nft/queue-compat.sh del local 0 2525
# Two queues, a worker each, one tracker.
lab_srv sh nft/queue-compat.sh add local 0-1 2525
printf 'capture = nfqueue\nservers = local\nsmtp_ports = 2525\nqueue = 0-1\nstate_file = none\nuser = root\ncontrol_socket = %s\n' \
	"$LAB_DIR/ctl" >"$LAB_DIR/rg.conf"
: >"$LAB_DIR/rg.log"
ip netns exec "$LAB_SRV" "$top/rcptguard" run -f -c "$LAB_DIR/rg.conf" --summary-json "$LAB_DIR/sum.json" 2>>"$LAB_DIR/rg.log" &
rgpid=$!
for i in $(seq 1 50); do grep -q running: "$LAB_DIR/rg.log" && break; sleep 0.1; done
read -r s e <<<"$(blast_pps)"
split=$("$top/rcptguard" status -s "$LAB_DIR/ctl" --json | jq -c '.workers.packets')
rg_stop
rg2_pk=$(jq .packets "$LAB_DIR/sum.json")
rg2_pps=$(pps_of "$rg2_pk" "$s" "$e")
lab_srv sh nft/queue-compat.sh del local 0-1 2525
kill $sinkpid 2>/dev/null || true
echo "NFQUEUE packets/s, $BLAST_N streams of $((BLAST / BLAST_N / 1000000)) MB: accept-only floor $floor_pps ($floor_pk packets), rcptguard parsing $rg_pps ($rg_pk packets), ratio $(awk -v a="$rg_pps" -v b="$floor_pps" 'BEGIN { printf "%.2f", a / b }')"
echo "NFQUEUE packets/s at saturation, 1 queue $rg_pps, 2 queues with a worker each $rg2_pps (packets per worker $split), ratio 2/1 $(awk -v a="$rg2_pps" -v b="$rg_pps" 'BEGIN { printf "%.2f", a / b }')"
echo "written to $out"
