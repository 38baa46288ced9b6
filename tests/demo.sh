#!/bin/bash
# make demo: a real Postfix, a real harvest, and rcptguard watching it live
# through NFQUEUE. Everything runs in network namespaces made here and
# removed on exit (also on Ctrl-C).
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
ATT4=198.18.0.66 ATT6=fd00:18::66 GOOD4=198.18.0.77
lab_cli_addr $ATT4; lab_cli_addr $ATT6; lab_cli_addr $GOOD4
echo "Postfix accepts mail for: $(echo $LAB_USERS | sed 's/ /@example.org, /g')@example.org"
echo "and rejects every other recipient at RCPT time with 550 5.1.1."

say "rcptguard on the mail host, reading SMTP through NFQUEUE (fail-open)"
# This kernel lacks the nft queue expression: the compat rules.
lab_srv sh "$here/nft/queue-compat.sh" add local 0 25
lab_srv nft list ruleset | grep -E 'queue num' | sed 's/^[[:space:]]*/  /'
printf 'capture = nfqueue\nservers = local\n' >"$LAB_DIR/rg.conf"
ip netns exec "$LAB_SRV" "$here/rcptguard" run -f -c "$LAB_DIR/rg.conf" \
	--summary-json "$LAB_DIR/sum.json" 2>"$LAB_DIR/rg.log" &
rgpid=$!
for i in $(seq 1 50); do grep -q running: "$LAB_DIR/rg.log" && break; sleep 0.1; done
sed 's/^/  /' "$LAB_DIR/rg.log"

say "A legitimate sender ($GOOD4) delivers 5 messages"
lab_cli "$here/build/smtpc" -b $GOOD4 -s "$SRV4" deliver -n 5 -z 20000
say "A harvester ($ATT4) probes 200 guessed names, 20 per session, pipelined"
lab_cli "$here/build/smtpc" -b $ATT4 -s "$SRV4" harvest -n 200 -k 20 -P
say "Another harvester ($ATT6) probes 60 names over IPv6, one at a time"
lab_cli "$here/build/smtpc" -b $ATT6 -s "$SRV6" harvest -n 60 -k 10
sleep 0.3

say "What rcptguard decided, as it happened"
grep ' ban ' "$LAB_DIR/rg.log" | sed 's/^rcptguard: /  /'
kill -TERM $rgpid; wait $rgpid 2>/dev/null || true; rgpid=

say "Postfix's own log, and rcptguard's count from the wire"
echo "  Postfix rejected recipients: $(postfix_rejects), messages delivered: $(mailbox_count)"
jq -r '"  rcptguard rejected recipients: \(.events.rcpt_rejected), messages seen: \(.smtp.bodies)",
       (.sources[] | "    \(.key): \(.rcpt_rejected) rejected, \(.rcpt_accepted) accepted")' "$LAB_DIR/sum.json"
echo
echo "Each ban fell on the tenth distinct rejected recipient. Putting the bans into"
echo "an nftables set, so that the kernel drops the harvester's next probes and"
echo "reconnects, is the enforcement stage (issue #4); until then rcptguard decides"
echo "and logs."
