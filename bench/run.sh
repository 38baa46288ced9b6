#!/bin/bash
# make bench: generate the benchmark capture (once) and replay it against
# a plain libpcap read loop. Figures are printed and kept in
# bench/results/; nothing is asserted.
set -eu
cd "$(dirname "$0")/.."
mkdir -p bench/results
cap=${BENCH_CAPTURE:-bench/results/bench.pcap}
sessions=${BENCH_SESSIONS:-100000}
if [ ! -s "$cap" ]; then
	echo "generating $cap ($sessions sessions)..."
	build/mkbench "$cap" "$sessions"
fi
ls -l "$cap"
t=bench/results/tracker-$(date -u +%Y%m%dT%H%M%SZ).txt
build/trackbench "${BENCH_ROUNDS:-3}" | tee "$t"
echo "written to $t"
out=bench/results/replay-$(date -u +%Y%m%dT%H%M%SZ).txt
{
	echo "# $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
	echo "# rcptguard $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(ls -l "$cap" | awk '{print $5}') bytes capture"
	build/replaybench "$cap" "${BENCH_ROUNDS:-5}"
	echo
	echo "# rcptguard replay --quiet (the real command, one run):"
	s=$(date +%s.%N)
	./rcptguard replay --quiet "$cap" | tail -n 14
	e=$(date +%s.%N)
	awk -v s="$s" -v e="$e" 'BEGIN { printf "wall time %.2f s\n", e - s }'
} | tee "$out"
echo "written to $out"
# Inside TLS: the inference alone, then a capture where 80% of the
# sessions say STARTTLS (goal: at least 2 Mpps).
t=bench/results/tls-$(date -u +%Y%m%dT%H%M%SZ).txt
tcap=${BENCH_TLS_CAPTURE:-bench/results/bench-tls.pcap}
[ -s "$tcap" ] || build/mkbench "$tcap" "${BENCH_TLS_SESSIONS:-40000}" 80
{
	echo "# $(uname -srm), $(nproc) cores, rcptguard $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
	build/tlsbench "${BENCH_ROUNDS:-3}"
	echo
	echo "# replay of $(basename "$tcap"): 80% of the sessions in TLS"
	build/replaybench "$tcap" "${BENCH_ROUNDS:-3}" | grep -E 'floor\)|pipeline:|ratio'
	./rcptguard replay --json "$tcap" | tail -1 | jq -c '.tls | {sessions, counted, blind, explained, unexplained, capped, rejected}'
} | tee "$t"
echo "written to $t"
