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
