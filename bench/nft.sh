#!/bin/bash
# Enforcement costs, in a network namespace of its own (make bench runs
# it). Figures printed and kept in bench/results/; nothing asserted.
#  1. decision to kernel ack: one ban per batch, round trip of each;
#  2. elements per second: batches of 10,000 and 60,000 through libnftnl,
#     against one `nft add element` process per ban (log-scraping tools);
#  3. set lookups stay O(1): SMTP session rate of a client that is not
#     banned, with 0 and with 60,000 elements in the sets.
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

one=$(lab_srv build/nftbatch 2000 1 600)
echo "one ban per batch (2000 bans): $one"
lab_srv nft delete table inet rcptguard
b10=$(lab_srv build/nftbatch 10000)
lab_srv nft delete table inet rcptguard
b100=$(lab_srv build/nftbatch 60000)
echo "batch of 10,000:  $b10"
echo "batch of 60,000:  $b100"
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
lab_srv build/nftbatch 60000 >/dev/null
r1=$(rate); r1b=$(rate)
echo "sessions/s of an unbanned client: sets empty $r0, $r0b; 60,000 banned $r1, $r1b; ratio $(awk -v a="$r1" -v b="$r1b" -v c="$r0" -v d="$r0b" 'BEGIN { printf "%.2f", (a + b) / (c + d) }')"
echo "written to $out"
