#!/bin/bash
# Enforcement costs, in a network namespace of its own (make bench runs
# it). Figures printed and kept in bench/results/; nothing asserted.
#  1. decision to kernel ack: one ban per batch, round trip of each;
#  2. elements per second: batches of 10,000 and 60,000 through libnftnl,
#     against one `nft add element` process per ban (log-scraping tools);
#  3. set lookups stay O(1): SMTP session rate of a client that is not
#     banned, with 0 and with 100,000 elements in the sets;
#  4. restart: 100,000 bans from the state file back in the kernel, then
#     a restart with the same 100,000 in both the file and the kernel
#     (reconciliation looks each kernel element up in the tracker).
# NFT_RESTART_ONLY=1 runs part 4 alone.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
. tests/lab/lab.sh
trap lab_down EXIT
lab_up
postfix_up
mkdir -p bench/results
out=bench/results/nft-$(date -u +%Y%m%dT%H%M%SZ).txt
exec > >(tee "$out")
echo "# $(uname -srm), $(nproc) cores, $(nft --version)"

if [ -z "${NFT_RESTART_ONLY:-}" ]; then
# Warm-up: the first batches in a new namespace pay for the kernel's
# first allocations.
lab_srv build/nftbatch 10000 >/dev/null
lab_srv nft delete table inet rcptguard
one=$(lab_srv build/nftbatch 2000 1 600)
echo "one ban per batch (2000 bans): $one"
lab_srv nft delete table inet rcptguard
b10=$(lab_srv build/nftbatch 10000)
lab_srv nft delete table inet rcptguard
b100=$(lab_srv build/nftbatch 60000)
lab_srv nft delete table inet rcptguard
b100b=$(lab_srv build/nftbatch 60000)
echo "batch of 10,000:  $b10"
# The first large batch in a namespace runs several times slower than the
# next ones (the kernel's first allocations): both are shown.
echo "batch of 60,000:  $b100"
echo "again:            $b100b"
lab_srv nft delete table inet rcptguard
lab_srv build/nftbatch 1 >/dev/null	# the table and sets, for nft to add into
n=500
s=$(date +%s.%N)
for i in $(seq 1 $n); do
	lab_srv nft add element inet rcptguard banned4_32 "{ 198.19.$((i / 250)).$((i % 250)) timeout 1h }"
done
e=$(date +%s.%N)
proc=$(awk -v n=$n -v s="$s" -v e="$e" 'BEGIN { printf "%.0f", n / (e - s) }')
batched=$(echo "$b10" | sed 's/.*per_second=\([0-9]*\).*/\1/')
echo "one nft process per ban: $proc elements/s ($n bans); batched 10,000: $batched elements/s; ratio $(awk -v a="$batched" -v b="$proc" 'BEGIN { printf "%.0f", a / b }')x"
lab_srv nft delete table inet rcptguard

rate() {
	local s e
	s=$(date +%s.%N)
	lab_cli build/smtpc -s $SRV4 session -n 500 >/dev/null
	e=$(date +%s.%N)
	awk -v s="$s" -v e="$e" 'BEGIN { printf "%.0f", 500 / (e - s) }'
}
lab_cli build/smtpc -s $SRV4 session -n 50 >/dev/null
lab_srv build/nftbatch 1 >/dev/null
r0=$(rate); r0b=$(rate)
lab_srv nft delete table inet rcptguard
lab_srv build/nftbatch 100000 >/dev/null
r1=$(rate); r1b=$(rate)
echo "sessions/s of an unbanned client: sets empty $r0, $r0b; 100,000 banned $r1, $r1b; ratio $(awk -v a="$r1" -v b="$r1b" -v c="$r0" -v d="$r0b" 'BEGIN { printf "%.2f", (a + b) / (c + d) }')"
lab_srv nft delete table inet rcptguard

fi

# 100,000 active bans in a state file (as after a reboot: the kernel has
# none), restored at start in one batch.
now=$(date +%s%6N)
awk -v now="$now" 'BEGIN {
	for (i = 0; i < 100000; i++) {
		if (i < 60000)
			k = sprintf("198.19.%d.%d/32", int(i / 250), i % 250)
		else
			k = sprintf("fd00:cc:%x:%x::/64", int(i / 65536), i % 65536)
		printf "%s harvest %d 10 %.0f %.0f\n", k, 1 + i % 3, now, now + 3600000000
	}
}' >"$LAB_DIR/state"
printf 'capture = pcap\nstate_file = %s\nset_size = 200000\ncontrol_socket = none\nuser = root\n' "$LAB_DIR/state" >"$LAB_DIR/rg.conf"
start_stop() {
	local i pid
	ip netns exec "$LAB_SRV" ./rcptguard run -f -c "$LAB_DIR/rg.conf" 2>"$LAB_DIR/rg.log" &
	pid=$!
	for i in $(seq 1 600); do grep -q 'running:' "$LAB_DIR/rg.log" && break; sleep 0.1; done
	kill $pid; wait $pid || true
	n4=$(lab_srv nft -j list set inet rcptguard banned4_32 | jq '.nftables[1].set.elem | length')
	n6=$(lab_srv nft -j list set inet rcptguard banned6_64 | jq '.nftables[1].set.elem | length')
}
start_stop
echo "restore at start: $(grep -o 'restored .*' "$LAB_DIR/rg.log" | sed 's/;/ ->/'); in the kernel: $n4 + $n6"
# The same bans now in the file and in the kernel: each kernel element is
# looked up in the tracker (O(1) each through the ban heap's index).
start_stop
echo "restart, bans in both: $(grep -o 'restored .*' "$LAB_DIR/rg.log" | sed 's/;/ ->/'); in the kernel: $n4 + $n6"
lab_srv nft delete table inet rcptguard
echo "written to $out"
