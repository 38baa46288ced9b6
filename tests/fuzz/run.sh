#!/bin/bash
# run.sh SECONDS NAME...: each fuzzer for SECONDS from its corpus, then a
# line per fuzzer: executions, executions per second, and the outcome.
# Exits 1 if any found a crash (the input is in build/fuzz/).
set -u
cd "$(dirname "$0")/../.."
secs=$1
shift
bad=0
for f in "$@"; do
	mkdir -p build/fuzz/corpus/$f
	log=build/fuzz/$f.log
	build/fuzz/fuzz_$f -max_total_time=$secs -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix=build/fuzz/crash-$f- build/fuzz/corpus/$f >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	if [ $rc -eq 0 ]; then
		echo "fuzz $f: ${execs:-?} executions in ${secs}s, ${rate:-?}/s, $cov, no crash"
	else
		echo "fuzz $f: CRASH after ${execs:-?} executions (exit $rc); see $log"
		grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -5
		bad=1
	fi
done
exit $bad
