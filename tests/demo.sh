#!/bin/bash
# make demo: a real Postfix, a real harvest, and what rcptguard makes of
# it. Everything runs in network namespaces made here and removed on exit
# (also on Ctrl-C).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
make -s -C "$here" rcptguard build/smtpc >/dev/null
. "$here/tests/lab/lab.sh"
trap lab_down EXIT
trap 'exit 130' INT TERM
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Starting a mail host ($SRV4, $SRV6) with Postfix and a client host"
lab_up
postfix_up
echo "Postfix accepts mail for: $(echo $LAB_USERS | sed 's/ /@example.org, /g')@example.org"
echo "and rejects every other recipient at RCPT time with 550 5.1.1."

ip netns exec "$LAB_SRV" tcpdump -Z root --immediate-mode -i any -s 0 -U \
	-w "$LAB_DIR/smtp.pcap" 'tcp port 25' 2>"$LAB_DIR/tcpdump.log" &
tcpdump_pid=$!
for i in $(seq 1 50); do grep -q listening "$LAB_DIR/tcpdump.log" && break; sleep 0.1; done

say "A legitimate sender delivers 5 messages"
lab_cli "$here/build/smtpc" -s "$SRV4" deliver -n 5 -z 20000
say "A harvester probes 200 guessed names over IPv4, 20 per session, pipelined"
lab_cli "$here/build/smtpc" -s "$SRV4" harvest -n 200 -k 20 -P
say "Another harvester probes 60 names over IPv6, one at a time"
lab_cli "$here/build/smtpc" -s "$SRV6" harvest -n 60 -k 10
sleep 0.5
kill -INT "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null || true

say "Postfix's own log"
echo "rejected recipients: $(postfix_rejects), messages delivered: $(mailbox_count)"

say "rcptguard replay of what crossed the wire"
"$here/rcptguard" replay --quiet "$LAB_DIR/smtp.pcap"

say "Where the bans fell"
"$here/rcptguard" replay --json "$LAB_DIR/smtp.pcap" | jq -r '
	select(.type == "ban") | "\(.key) banned at \(.time) by rule \(.rule) after \(.count) rejected recipients, for \(.duration)"'
echo
echo "Each ban fell on the tenth rejected recipient: every later probe (and the"
echo "valid addresses it found) is what the kernel drops once rcptguard enforces"
echo "its bans in nftables (the live daemon, issues #3 and #4)."
