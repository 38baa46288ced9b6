# The live daemon against a real Postfix, sourced by tests/run.sh (which
# provides t, ok and nok). NFQUEUE and libpcap capture, IPv4 and IPv6,
# fail-open under kill -9, forged replies, reload.
#
# Addresses: the attacker and the legitimate sender each have their own,
# and the legitimate IPv6 sender sits in another /64 than the attacker.

live_tests() {
	local here=$top
	. "$here/tests/lab/lab.sh"
	LAB_ID=lv$$
	LAB_SRV=rgsrv$LAB_ID LAB_CLI=rgcli$LAB_ID LAB_DIR=/tmp/rcptguard-lab.$LAB_ID
	trap 'lab_down; rm -rf "$work"' EXIT
	ATT4=198.18.0.66 ATT6=fd00:18::66 GOOD4=198.18.0.77 GOOD6=fd00:19::77
	if ! { lab_up && postfix_up; } >"$work/lab.log" 2>&1; then
		nok "live: lab with Postfix comes up" "$(tail -3 "$work/lab.log")"
		return
	fi
	lab_cli_addr $ATT4; lab_cli_addr $ATT6; lab_cli_addr $GOOD4; lab_cli_addr $GOOD6
	lab_srv ip -6 route add fd00:19::/64 dev "v$LAB_ID-s"

	live_capture nfqueue
	live_capture pcap
	live_fail_open
	live_forged nfqueue
	live_forged pcap
	live_reload
	lab_down
}

# The shipped compat rules: this kernel lacks the nft queue expression.
queue_rules() {	# add|del
	lab_srv sh "$here/nft/queue-compat.sh" "$1" local 0 25
}

# rg_start MODE [EXTRA_CONFIG_LINE]: the daemon in the mail host's namespace.
rg_start() {
	local i
	printf 'capture = %s\nservers = local\n%s\n' "$1" "${2:-}" >"$LAB_DIR/rg.conf"
	: >"$LAB_DIR/rg.log"
	rm -f "$LAB_DIR/sum.json"
	# Directly, not through lab_srv: $! must be rcptguard itself.
	ip netns exec "$LAB_SRV" "$top/rcptguard" run -f -c "$LAB_DIR/rg.conf" \
		--summary-json "$LAB_DIR/sum.json" 2>>"$LAB_DIR/rg.log" &
	rgpid=$!
	for i in $(seq 1 50); do
		grep -q 'running:' "$LAB_DIR/rg.log" && return 0
		kill -0 $rgpid 2>/dev/null || break
		sleep 0.1
	done
	cat "$LAB_DIR/rg.log" >&2
	return 1
}

rg_stop() {
	local i
	kill -TERM $rgpid 2>/dev/null
	for i in $(seq 1 50); do kill -0 $rgpid 2>/dev/null || break; sleep 0.1; done
	kill -KILL $rgpid 2>/dev/null
	wait $rgpid 2>/dev/null
}

log_settle() {
	local prev=-1 cur i
	for i in $(seq 1 50); do
		cur=$(postfix_log | wc -l)
		[ "$cur" = "$prev" ] && return 0
		prev=$cur
		sleep 0.1
	done
}

# jq over the daemon's summary for one source key; 0 when absent.
src_count() {	# key class
	jq --arg k "$1" --arg c "$2" '[.sources[] | select(.key == $k) | .[$c]] | add // 0' "$LAB_DIR/sum.json"
}

live_capture() {
	local mode=$1 before after a4 a6 g4 g6
	[ $mode = nfqueue ] && queue_rules add
	if ! rg_start $mode; then
		nok "live $mode: daemon starts" "$(tail -3 "$LAB_DIR/rg.log")"
		[ $mode = nfqueue ] && queue_rules del
		return
	fi
	ok "live $mode: daemon starts and announces itself"
	log_settle
	before=$(postfix_rejects)
	a4=$(lab_cli "$here/build/smtpc" -b $ATT4 -s $SRV4 harvest -n 25 -k 10)
	a6=$(lab_cli "$here/build/smtpc" -b $ATT6 -s $SRV6 harvest -n 25 -k 25 -P)
	g4=$(lab_cli "$here/build/smtpc" -b $GOOD4 -s $SRV4 deliver -n 2)
	g6=$(lab_cli "$here/build/smtpc" -b $GOOD6 -s $SRV6 deliver -n 2)
	log_settle
	after=$(postfix_rejects)
	sleep 0.3
	rg_stop
	if [ ! -s "$LAB_DIR/sum.json" ]; then
		nok "live $mode: summary written at exit"
	else
		ok "live $mode: summary written at exit"
		t "live $mode: rejected recipients seen = Postfix's log ($((after - before)))" \
			test "$(jq '.events.rcpt_rejected' "$LAB_DIR/sum.json")" = "$((after - before))"
		t "live $mode IPv4: the harvester's rejections, one by one" \
			test "$(src_count $ATT4/32 rcpt_rejected)" = "$(echo "$a4" | sed 's/.*rejected=\([0-9]*\).*/\1/')"
		t "live $mode IPv6 pipelined: the harvester's /64 rejections" \
			test "$(src_count fd00:18::/64 rcpt_rejected)" = "$(echo "$a6" | sed 's/.*rejected=\([0-9]*\).*/\1/')"
		t "live $mode: legitimate senders delivered and have no rejected recipient" bash -c \
			"[[ '$g4' == *delivered=2* && '$g6' == *delivered=2* ]] && [ $(src_count $GOOD4/32 rcpt_rejected) = 0 ] && [ $(src_count fd00:19::/64 rcpt_rejected) = 0 ] && [ $(src_count $GOOD4/32 rcpt_accepted) = 2 ]"
		t "live $mode: both harvesters banned, nobody else" bash -c \
			"grep -c ' ban ' '$LAB_DIR/rg.log' | grep -qx 2 && grep -q ' ban $ATT4/32 rule=harvest' '$LAB_DIR/rg.log' && grep -q ' ban fd00:18::/64 rule=harvest' '$LAB_DIR/rg.log'"
	fi
	[ $mode = nfqueue ] && queue_rules del
}

# kill -9 during 50 deliveries through the queue: every message arrives.
live_fail_open() {
	local before got i cpid
	queue_rules add
	if ! rg_start nfqueue; then
		nok "fail-open: daemon starts"
		queue_rules del
		return
	fi
	before=$(mailbox_count)
	lab_cli "$here/build/smtpc" -T 15000 -b $GOOD4 -s $SRV4 deliver -n 50 -z 5000 >"$work/fo.out" &
	cpid=$!
	for i in $(seq 1 100); do
		[ $(( $(mailbox_count) - before )) -ge 5 ] && break
		sleep 0.05
	done
	kill -KILL $rgpid
	wait $rgpid 2>/dev/null
	wait $cpid
	for i in $(seq 1 50); do
		[ $(( $(mailbox_count) - before )) -ge 50 ] && break
		sleep 0.1
	done
	got=$(( $(mailbox_count) - before ))
	t "fail-open: kill -9 mid-run, 50 of 50 messages in the mailbox ($got)" bash -c \
		"[ $got -eq 50 ] && grep -q 'delivered=50 ' '$work/fo.out'"
	queue_rules del
}

# Replies forged from outside with exact sequence numbers: no event.
live_forged() {
	local mode=$1 mac fpid v
	[ $mode = nfqueue ] && queue_rules add
	if ! rg_start $mode; then
		nok "forged $mode: daemon starts"
		[ $mode = nfqueue ] && queue_rules del
		return
	fi
	mac=$(lab_srv cat "/sys/class/net/v$LAB_ID-s/address")
	ip netns exec "$LAB_CLI" "$here/build/forge" "v$LAB_ID-c" "$mac" $GOOD4 $SRV4 6 >"$work/forge.out" &
	fpid=$!
	sleep 0.5
	v=$(lab_cli "$here/build/smtpc" -b $GOOD4 -s $SRV4 deliver -n 12)
	wait $fpid
	rg_stop
	t "forged $mode: $(cat "$work/forge.out") forged 550s, the victim has no rejected recipient and no ban" bash -c \
		"grep -q 'injected=[1-9]' '$work/forge.out' && [[ '$v' == *delivered=12* ]] && [ \$(jq '.events.rcpt_rejected' '$LAB_DIR/sum.json') = 0 ] && ! grep -q ' ban ' '$LAB_DIR/rg.log'"
	if [ $mode = pcap ]; then
		t "forged pcap: the forgeries were seen arriving and set aside" \
			test "$(jq '.untrusted_replies > 0' "$LAB_DIR/sum.json")" = true
	fi
	[ $mode = nfqueue ] && queue_rules del
}

live_reload() {
	local t0 t1
	if ! rg_start pcap; then
		nok "reload: daemon starts"
		return
	fi
	printf 'capture = pcap\nservers = local\nthreshold = 3\n' >"$LAB_DIR/rg.conf"
	kill -HUP $rgpid
	sleep 0.3
	t "reload: a bad file is reported as FILE:LINE and the old one kept" bash -c \
		"grep -q '$LAB_DIR/rg.conf:3: unknown key .threshold.' '$LAB_DIR/rg.log' && grep -q 'keeping the running configuration' '$LAB_DIR/rg.log' && kill -0 $rgpid"
	printf 'capture = pcap\nservers = local\nallowlist = %s\n' $ATT4 >"$LAB_DIR/rg.conf"
	kill -HUP $rgpid
	sleep 0.3
	lab_cli "$here/build/smtpc" -b $ATT4 -s $SRV4 harvest -n 20 -k 10 >/dev/null
	sleep 0.3
	t "reload: a good file applies at once (allowlisted harvester not banned)" bash -c \
		"grep -q 'reload: .* loaded' '$LAB_DIR/rg.log' && ! grep -q ' ban ' '$LAB_DIR/rg.log'"
	# Idle: the loop sleeps in epoll; a busy loop would burn ~200 ticks here.
	t0=$(awk '{print $14 + $15}' /proc/$rgpid/stat)
	sleep 2
	t1=$(awk '{print $14 + $15}' /proc/$rgpid/stat)
	t "idle: $((t1 - t0)) CPU ticks in 2 s without traffic (no busy loop)" test $((t1 - t0)) -le 10
	rg_stop
	t "reload: allowlisted source counted as such" \
		test "$(jq '.tracker.allowlisted' "$LAB_DIR/sum.json")" -ge 10
}
