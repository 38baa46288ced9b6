#!/bin/bash
# bench/chaos.sh [SECONDS]: rcptguard under faults, for SECONDS (default
# 900; make chaos), against the lab's real Postfix, with a steady
# legitimate load and harvesters, while a driver injects at random
# intervals (4 to 10 s), in rounds of every kind in a random order:
#
#   kill9      kill -9 of the daemon; restarted 1 s later (as systemd does)
#   flush      nft flush ruleset (the daemon repairs its table)
#   deltable   nft delete table inet rcptguard
#   hup_ok     SIGHUP with a valid file
#   hup_bad    SIGHUP with a broken file (the old one stays in force)
#   diskfull   the state file's tmpfs filled for 5 s
#   enobufs    50,000 set elements added and deleted elsewhere: the
#              nftables monitor's receive buffer overruns
#   clock      the wall clock stepped 10 minutes ahead, back 3 s later
#
# Invariants, checked while it runs and printed at the end:
#   - every legitimate message Postfix accepted is in a mailbox (0 lost);
#   - no legitimate source ever in a set (sampled every second);
#   - every harvester burst that ran wholly while the daemon was up and
#     undisturbed was stopped within the rule's threshold, or refused at
#     connect (banned before, across restarts: the state restored);
#   - after each repair, the kernel's bans equal the daemon's own;
#   - the daemon's RSS and descriptors flat within each of its lives;
#   - the daemon never died but by our kill -9.
# Exits 0 when every invariant held. Network: namespaces of its own,
# 198.18.0.0/15 only; everything it made is removed, also on failure.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-900}
LAB_ID=ch$$
. "$here/tests/lab/lab.sh"
rg=$here/rcptguard smtpc=$here/build/smtpc
[ -x "$rg" ] && [ -x "$smtpc" ] || { echo "chaos: build rcptguard and build/smtpc first (make chaos)" >&2; exit 2; }
GOOD=198.18.0.77 LIST=198.18.0.78
HARV=$(seq -f '198.18.0.%g' 100 115)
statefs=$LAB_DIR/statefs
# Time from /proc/uptime: the wall clock is one of the things stepped.
mono() { cut -d. -f1 /proc/uptime; }
end=$(( $(mono) + secs ))
clock_off=0		# seconds the wall clock is ahead of where it was

cleanup() {
	# The clock first: nothing else may run on a stepped clock.
	[ "$clock_off" != 0 ] && date -s "@$(( $(date +%s) - clock_off ))" >/dev/null && clock_off=0
	jobs -p | xargs -r kill 2>/dev/null
	[ -n "${rgpid:-}" ] && kill -KILL "$rgpid" 2>/dev/null
	wait 2>/dev/null
	umount "$statefs" 2>/dev/null
	lab_srv nft delete table inet rcptguard 2>/dev/null
	lab_down
}
trap cleanup EXIT
trap 'exit 3' INT TERM

lab_up && postfix_up >/dev/null || { echo "chaos: the lab did not come up" >&2; exit 2; }
for a in $GOOD $LIST $HARV; do lab_cli_addr "$a"; done
mkdir -p "$statefs" && mount -t tmpfs -o size=1m,mode=0755 tmpfs "$statefs" && chown nobody "$statefs"
conf() {	# [broken]
	# CHAOS_QUEUE=0-1: two capture workers, one tracker.
	printf 'capture = nfqueue\nmanage_queue = yes\nqueue = %s\nservers = local\nstate_file = %s/state\ncontrol_socket = %s/ctl\nuser = nobody\n' \
		"${CHAOS_QUEUE:-0}" "$statefs" "$LAB_DIR"
	[ "${1:-}" = broken ] && printf 'rule harvest {\n threshold = many\n}\n'
	return 0
}
conf >"$LAB_DIR/rg.conf"

declare -A fault_n fault_ok
faults="kill9 flush deltable hup_ok hup_bad diskfull enobufs clock"
for f in $faults; do fault_n[$f]=0 fault_ok[$f]=0; done
restarts=0 crashes=0 legit_in_set=0 repair_bad=0 repair_checks=0 growth_bad=0
# Two lines per fault or outage, one as it begins and one when its effects
# are over: a burst is judged only when none was under way as it began
# (an even count) and none began before it ended (the same count). A
# burst wholly inside one (the daemon killed and not yet back) sees the
# same count at both ends, and must not be judged either.
: >"$LAB_DIR/disturb"

rg_up() {
	local i
	[ -f "$LAB_DIR/rg.log" ] && cat "$LAB_DIR/rg.log" >>"$LAB_DIR/rg.all.log"
	: >"$LAB_DIR/rg.log"
	ip netns exec "$LAB_SRV" "$rg" run -f -c "$LAB_DIR/rg.conf" 2>>"$LAB_DIR/rg.log" &
	rgpid=$!
	for i in $(seq 1 50); do
		grep -q 'running:' "$LAB_DIR/rg.log" && break
		sleep 0.1
	done
	rss0=$(awk '/^VmRSS/ { print $2 }' /proc/$rgpid/status 2>/dev/null) fd0=$(ls /proc/$rgpid/fd 2>/dev/null | wc -l)
	sampled=0
}
ctl() { "$rg" "$1" -s "$LAB_DIR/ctl" "${@:2}"; }
kernel_bans() { lab_srv nft -j list set inet rcptguard banned4_32 2>/dev/null | jq -r '[.nftables[] | .set? | select(.) | .elem[]? | (.elem.val // .)] | .[] | tostring' 2>/dev/null | sort; }
daemon_bans() { ctl bans --json 2>/dev/null | jq -r '.[] | .key' 2>/dev/null | sed 's|/32$||' | grep -v ':' | sort; }
# After a repair: within 5 s the kernel holds exactly the daemon's bans.
check_repair() {
	local i k d
	repair_checks=$((repair_checks + 1))
	for i in $(seq 1 50); do
		k=$(kernel_bans) d=$(daemon_bans)
		[ -n "$d" ] && [ "$k" = "$d" ] && return 0
		[ -z "$d" ] && [ -z "$k" ] && lab_srv nft list table inet rcptguard >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	repair_bad=$((repair_bad + 1))
	echo "chaos: after a repair the kernel has $(echo "$k" | wc -w) bans, the daemon $(echo "$d" | wc -w)" >&2
	return 1
}

# The loads, each until the end.
legit() {	# addr extra-args
	while [ ! -f "$LAB_DIR/stop" ]; do
		lab_cli "$smtpc" -T 5000 -b "$1" -s "$SRV4" deliver -n 1 "${@:2}" 2>/dev/null >>"$LAB_DIR/legit.$1"
		sleep 0.3
	done
}
harvest() {
	local h d0 d1 r
	while [ ! -f "$LAB_DIR/stop" ]; do
		h=$(echo "$HARV" | shuf -n 1)
		d0=$(wc -l <"$LAB_DIR/disturb")
		r=$(lab_cli "$smtpc" -T 2000 -b "$h" -s "$SRV4" harvest -n 30 -k 30 -g 2 2>/dev/null)
		d1=$(wc -l <"$LAB_DIR/disturb")
		echo "$h $([ "$d0" = "$d1" ] && [ $((d0 % 2)) = 0 ] && echo judged || echo disturbed) $r at=$(date +%T)" >>"$LAB_DIR/harvest"
		# A burst let past: what the daemon saw, at once (it may be
		# killed next), for the report.
		rej=${r##* rejected=} rej=${rej%% *}
		[ "${rej:-0}" -gt 11 ] 2>/dev/null &&
			{ echo "== $h $r at $(date +%T.%N)"; ctl status 2>&1; ctl bans 2>&1 | head -40; } >>"$LAB_DIR/leaks"
		sleep 1
	done
}

rg_up
legit $GOOD &
legit $LIST -t gone@example.org &
harvest &

next=$(( $(mono) + 4 ))
while [ "$(mono)" -lt "$end" ]; do
	sleep 1
	if ! kill -0 "$rgpid" 2>/dev/null; then
		crashes=$((crashes + 1))
		echo "chaos: the daemon died by itself: $(tail -2 "$LAB_DIR/rg.log")" >&2
		echo "crash at $(date +%T)" >>"$LAB_DIR/disturb"
		rg_up
		restarts=$((restarts + 1))
		echo "crash over at $(date +%T)" >>"$LAB_DIR/disturb"
	fi
	# No legitimate source in a set, ever.
	if kernel_bans | grep -qxE "$GOOD|$LIST"; then
		legit_in_set=$((legit_in_set + 1))
	fi
	# RSS and descriptors of this life, after 20 s of it.
	sampled=$((sampled + 1))
	if [ "$sampled" -ge 20 ]; then
		rss=$(awk '/^VmRSS/ { print $2 }' /proc/$rgpid/status 2>/dev/null) fds=$(ls /proc/$rgpid/fd 2>/dev/null | wc -l)
		[ "$sampled" = 20 ] && rss0=$rss fd0=$fds
		if [ -n "$rss" ] && { [ "$rss" -gt $((rss0 + 8192)) ] || [ "$fds" -gt $((fd0 + 4)) ]; }; then
			growth_bad=$((growth_bad + 1))
			echo "chaos: growth in one life: RSS $rss0 -> $rss kB, descriptors $fd0 -> $fds" >&2
			rss0=$rss fd0=$fds
		fi
	fi
	[ "$(mono)" -lt "$next" ] && continue
	next=$(( $(mono) + 4 + RANDOM % 7 ))
	# Rounds of every kind in a random order: even a short run injects
	# each kind.
	[ -n "${round:-}" ] || round=$(echo $faults | tr ' ' '\n' | shuf | tr '\n' ' ')
	f=${round%% *} round=${round#* }
	round=${round# }
	fault_n[$f]=$((fault_n[$f] + 1))
	echo "$f at $(date +%T)" >>"$LAB_DIR/disturb"
	ok=0
	case $f in
	kill9)
		kill -KILL "$rgpid"; wait "$rgpid" 2>/dev/null
		sleep 1
		rg_up
		restarts=$((restarts + 1))
		kill -0 "$rgpid" 2>/dev/null && ok=1 ;;
	flush)
		lab_srv nft flush ruleset
		check_repair && ok=1 ;;
	deltable)
		lab_srv nft delete table inet rcptguard
		check_repair && ok=1 ;;
	hup_ok)
		n0=$(grep -c 'reload: .* loaded' "$LAB_DIR/rg.log")
		kill -HUP "$rgpid"; sleep 0.5
		[ "$(grep -c 'reload: .* loaded' "$LAB_DIR/rg.log")" -gt "$n0" ] && ok=1 ;;
	hup_bad)
		conf broken >"$LAB_DIR/rg.conf"
		kill -HUP "$rgpid"; sleep 0.5
		conf >"$LAB_DIR/rg.conf"
		grep -q "rg.conf:8:" "$LAB_DIR/rg.log" && ctl status >/dev/null && ok=1 ;;
	diskfull)
		dd if=/dev/zero of="$statefs/fill" bs=4k 2>/dev/null
		sleep 5
		rm -f "$statefs/fill"
		sleep 1.5
		ctl status >/dev/null && ok=1 ;;
	enobufs)
		{
			echo 'add table inet chaosjunk'
			echo 'add set inet chaosjunk s { type ipv4_addr; size 65536; }'
			for i in $(seq 0 49); do
				printf 'add element inet chaosjunk s {'
				for j in $(seq 0 999); do printf ' 10.%d.%d.%d,' $((i / 8)) $((i % 8 * 32 + j / 256)) $((j % 256)); done
				echo ' 10.255.255.255 }'
			done
		} >"$LAB_DIR/junk.nft"
		lab_srv nft -f "$LAB_DIR/junk.nft"
		lab_srv nft delete table inet chaosjunk
		sleep 1
		ctl status >/dev/null && check_repair && ok=1 ;;
	clock)
		date -s "@$(( $(date +%s) + 600 ))" >/dev/null && clock_off=600
		sleep 3
		date -s "@$(( $(date +%s) - 600 ))" >/dev/null && clock_off=0
		ctl status >/dev/null && ok=1 ;;
	esac
	fault_ok[$f]=$((fault_ok[$f] + ok))
	# Its effects are over: a burst that began while they lasted is not
	# judged either.
	echo "$f over at $(date +%T)" >>"$LAB_DIR/disturb"
done
touch "$LAB_DIR/stop"
cat "$LAB_DIR/rg.log" >>"$LAB_DIR/rg.all.log"
wait $(jobs -p | grep -v "^$rgpid$") 2>/dev/null
sleep 2
log_settle

# The mail: what Postfix accepted (the clients saw 250 after the data) is
# in a mailbox.
# GOOD sends to a mailbox; LIST to an address gone (Postfix refuses each
# at RCPT: a legitimate sender with a stale address, never to be banned).
count_of() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" "$2" 2>/dev/null | awk '{ n += $1 } END { print n + 0 }'; }
sent=$(grep -c . "$LAB_DIR/legit.$GOOD" 2>/dev/null) accepted=$(count_of delivered "$LAB_DIR/legit.$GOOD")
stale=$(grep -c . "$LAB_DIR/legit.$LIST" 2>/dev/null) stale_refused=$(count_of failed "$LAB_DIR/legit.$LIST")
accepted=$((accepted + $(count_of delivered "$LAB_DIR/legit.$LIST")))
boxes=$(mailbox_count)
lost=$((accepted - boxes))
# The harvesters: judged bursts stopped within the threshold (10) or
# refused at connect.
judged=$(grep -c ' judged ' "$LAB_DIR/harvest" 2>/dev/null) judged=${judged:-0}
leaked=$(awk '$2 == "judged" { for (i = 3; i <= NF; i++) if ($i ~ /^rejected=/) { split($i, a, "="); if (a[2] > 11) n++ } } END { print n + 0 }' "$LAB_DIR/harvest")
refused=$(awk '$2 == "judged" && /connect_failed=[1-9]/ { n++ } END { print n + 0 }' "$LAB_DIR/harvest")

workers=$(ctl status --json 2>/dev/null | jq '.workers.count // 1' 2>/dev/null)
printf '\nchaos run: %d s, %d restarts of the daemon (%d by itself), %s capture worker(s), queue %s\n' \
	"$secs" "$restarts" "$crashes" "${workers:-?}" "${CHAOS_QUEUE:-0}"
printf '%-10s %9s %9s\n' fault injected survived
for f in $faults; do printf '%-10s %9d %9d\n' "$f" "${fault_n[$f]}" "${fault_ok[$f]}"; done
printf 'legitimate messages: %d sent, %d accepted by Postfix, %d in mailboxes, %d lost\n' "$sent" "$accepted" "$boxes" "$lost"
printf 'stale-address sender: %d messages, %d refused at RCPT by Postfix (never banned: see below)\n' "$stale" "$stale_refused"
printf 'legitimate sources seen in a set: %d times\n' "$legit_in_set"
printf 'harvest bursts: %d, %d judged (undisturbed), %d of them let past the threshold, %d refused at connect\n' \
	"$(wc -l <"$LAB_DIR/harvest")" "$judged" "$leaked" "$refused"
printf 'repairs checked: %d, kernel and daemon differed after %d\n' "$repair_checks" "$repair_bad"
printf 'growth within one life (RSS > 8 MB or descriptors > 4): %d\n' "$growth_bad"
if [ "$leaked" != 0 ]; then
	echo "chaos: bursts let past the threshold, and the faults:" >&2
	awk '$2 == "judged" { for (i = 3; i <= NF; i++) if ($i ~ /^rejected=/) { split($i, a, "="); if (a[2] > 11) print } }' "$LAB_DIR/harvest" >&2
	cat "$LAB_DIR/disturb" >&2
	grep -E ' ban |reload|repair|error|cannot' "$LAB_DIR/rg.all.log" | tail -40 >&2
	echo "chaos: the daemon's status when each burst ended:" >&2
	cat "$LAB_DIR/leaks" >&2 2>/dev/null
fi
bad=0
[ "$lost" = 0 ] && [ "$accepted" -gt 0 ] || bad=1
[ "$legit_in_set" = 0 ] && [ "$crashes" = 0 ] && [ "$repair_bad" = 0 ] && [ "$growth_bad" = 0 ] || bad=1
[ "$leaked" = 0 ] && [ "$judged" -gt 0 ] || bad=1
for f in $faults; do [ "${fault_n[$f]}" = "${fault_ok[$f]}" ] && [ "${fault_n[$f]}" -gt 0 ] || bad=1; done
[ $bad = 0 ] && echo "chaos: every invariant held" || echo "chaos: INVARIANT BROKEN (see above)"
exit $bad
