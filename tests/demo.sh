#!/bin/bash
# make demo: a real Postfix, a real harvest, and rcptguard stopping it:
# NFQUEUE capture, bans in an nftables set, sessions cut. Everything runs
# in network namespaces made here and removed on exit (also on Ctrl-C).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
make -s -C "$here" rcptguard build/smtpc >/dev/null
. "$here/tests/lab/lab.sh"
rgpid=
cleanup() {
	[ -n "$rgpid" ] && kill "$rgpid" 2>/dev/null && wait "$rgpid" 2>/dev/null
	lab_down
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "A mail host ($SRV4, $SRV6) running Postfix, and a client host"
lab_up
postfix_up
ATT4=198.18.0.66 ATT6=fd00:1a::66 GOOD4=198.18.0.77
lab_cli_addr $ATT4; lab_cli_addr $ATT6; lab_cli_addr $GOOD4
lab_srv ip -6 route add fd00:1a::/64 dev "v$LAB_ID-s"
echo "Postfix accepts mail for: $(echo $LAB_USERS | sed 's/ /@example.org, /g')@example.org"
echo "and rejects every other recipient at RCPT time with 550 5.1.1."

say "rcptguard on the mail host, reading SMTP through NFQUEUE (fail-open)"
# rcptguard adds its own queue rules (manage_queue = yes); on a kernel
# without the nft queue expression, as the compat NFQUEUE target.
printf 'capture = nfqueue\nmanage_queue = yes\nservers = local\nstate_file = %s\ncontrol_socket = %s\nuser = root\n' \
	"$LAB_DIR/state" "$LAB_DIR/ctl" >"$LAB_DIR/rg.conf"
ip netns exec "$LAB_SRV" "$here/rcptguard" run -f -c "$LAB_DIR/rg.conf" \
	--summary-json "$LAB_DIR/sum.json" 2>"$LAB_DIR/rg.log" &
rgpid=$!
for i in $(seq 1 50); do grep -q running: "$LAB_DIR/rg.log" && break; sleep 0.1; done
sed 's/^/  /' "$LAB_DIR/rg.log"
lab_srv nft list table inet rcptguard 2>/dev/null | grep -E 'queue num' | sed 's/^[[:space:]]*/  /'

count_log() { postfix_log | grep -c "$1" || true; }

say "A legitimate sender ($GOOD4) delivers 5 messages in the background, throughout"
lab_cli "$here/build/smtpc" -b $GOOD4 -s "$SRV4" deliver -n 5 -z 20000 >"$LAB_DIR/good1" &
goodpid=$!
say "A harvester ($ATT4) probes 500 guessed names, 20 per session, pipelined, reconnecting"
lab_cli "$here/build/smtpc" -T 1500 -b $ATT4 -s "$SRV4" harvest -n 500 -k 20 -P -g 3 | tee "$LAB_DIR/att4" | sed 's/^/  /'
say "Another harvester ($ATT6) probes 100 names over IPv6, one at a time"
lab_cli "$here/build/smtpc" -T 1500 -b $ATT6 -s "$SRV6" harvest -n 100 -k 10 -g 3 | tee "$LAB_DIR/att6" | sed 's/^/  /'
echo "  (connect_failed: reconnects that the kernel dropped once the source was banned)"
wait $goodpid
say "The legitimate sender again, after the bans"
lab_cli "$here/build/smtpc" -b $GOOD4 -s "$SRV4" deliver -n 5 -z 20000 >"$LAB_DIR/good2"
log_settle

say "What rcptguard did, as it happened"
grep -E ' ban |cut |enforced ' "$LAB_DIR/rg.log" | sed 's/^rcptguard: /  /'
for a in $ATT4 $ATT6; do
	k=$a/32; [ "$a" = "$ATT6" ] && k=fd00:1a::/64
	n=$(sed -n "s|.* ban $k rule=[a-z_]* count=\([0-9]*\).*|\1|p" "$LAB_DIR/rg.log" | head -1)
	us=$(sed -n "s|.*enforced $k \([0-9-]*\) us after.*|\1|p" "$LAB_DIR/rg.log" | head -1)
	[ -n "$n" ] && echo "  => $a banned on its ${n}th rejected probe; the ban was in the kernel $(awk -v u="${us:-0}" 'BEGIN { printf "%.3f", u / 1000 }') ms after the reply that crossed the threshold"
done
say "The bans in the kernel: nft list set inet rcptguard ..."
lab_srv nft list set inet rcptguard banned4_32 | grep -E 'elements|counter packets' | sed 's/^[[:space:]]*/  /'
lab_srv nft list set inet rcptguard banned6_64 | grep -E 'elements|counter packets' | sed 's/^[[:space:]]*/  /'
say "rcptguard bans (what the daemon knows, with the kernel's drop counters)"
"$here/rcptguard" bans -s "$LAB_DIR/ctl" | sed 's/^/  /'
say "rcptguard status"
"$here/rcptguard" status -s "$LAB_DIR/ctl" | sed 's/^/  /'
kill -TERM $rgpid; wait $rgpid 2>/dev/null || true; rgpid=

say "Postfix's own log"
for a in $ATT4 $ATT6; do
	echo "  $a: $(count_log ": connect from unknown\[$a\]") connection(s) accepted, $(count_log "reject: RCPT from unknown\[$a\]") probe(s) rejected (of $( [ $a = $ATT4 ] && echo 500 || echo 100) tried), $(count_log "lost connection after .* from unknown\[$a\]") session(s) cut"
done
echo "  legitimate sender: $(grep -o 'delivered=[0-9]*' "$LAB_DIR/good1" | cut -d= -f2) + $(grep -o 'delivered=[0-9]*' "$LAB_DIR/good2" | cut -d= -f2) of 10 messages delivered; mailbox holds $(mailbox_count)"
jq -r '"  rcptguard saw \(.events.rcpt_rejected) rejected recipients, \(.smtp.bodies) messages, \(.tracker.leaked) valid recipient(s) leaked to the harvesters before their bans"' "$LAB_DIR/sum.json"
echo
echo "Each harvester was banned once 10 distinct recipients had been rejected and"
echo "they were most of what it asked for (the pipelined one at the end of the"
echo "reply segment that crossed the threshold, its first burst); its reconnects"
echo "were dropped in the kernel and its open session cut, while the legitimate"
echo "sender's mail went through. The ban lines name the real addresses each"
echo "harvester learned. Everything is removed on exit."
