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
	# The IPv6 harvester has a /64 of its own: a prefix ban never covers
	# the server's own /64 (it is narrowed to the one address).
	ATT4=198.18.0.66 ATT6=fd00:1a::66 NEIGH6=fd00:1a::99 GOOD4=198.18.0.77 GOOD6=fd00:19::77
	if ! { lab_up && postfix_up; } >"$work/lab.log" 2>&1; then
		nok "live: lab with Postfix comes up" "$(tail -3 "$work/lab.log")"
		return
	fi
	lab_cli_addr $ATT4; lab_cli_addr $ATT6; lab_cli_addr $NEIGH6; lab_cli_addr $GOOD4; lab_cli_addr $GOOD6
	lab_srv ip -6 route add fd00:19::/64 dev "v$LAB_ID-s"
	lab_srv ip -6 route add fd00:1a::/64 dev "v$LAB_ID-s"

	# LIVE_ONLY="live_restart live_errors": a few, while working on them.
	local f
	for f in ${LIVE_ONLY:-live_capture:nfqueue live_capture:pcap live_fail_open \
		live_forged:nfqueue live_forged:pcap live_reload live_enforce live_tls \
		live_enforce_expiry_observe_allow live_prefix_allow live_list live_repair live_repair_bulk live_restart live_errors live_ops live_privileges live_privileges_refused live_sandbox live_queue_fewer live_opaque_bypass live_workers live_workers_tsan live_workers_stall live_synflood live_adopt live_batch}; do
		case $f in *:*) ${f%%:*} "${f#*:}" ;; *) $f ;; esac
	done
	lab_down
}

# The shipped compat rules: this kernel lacks the nft queue expression.
queue_rules() {	# add|del
	lab_srv sh "$here/nft/queue-compat.sh" "$1" local 0 25
}

# rg_start MODE [EXTRA_CONFIG_LINE]: the daemon in the mail host's namespace
# (RG_BIN: another build of it).
rg_start() {
	local i
	# Each start from a clean kernel state: bans of an earlier test would
	# otherwise still drop this test's clients.
	[ -n "${RG_KEEP:-}" ] || lab_srv nft delete table inet rcptguard 2>/dev/null
	# The state file too, unless a test restarts on purpose.
	[ -n "${RG_KEEP:-}" ] || rm -f "$LAB_DIR/state"
	printf 'capture = %s\nservers = local\nstate_file = %s\ncontrol_socket = %s\nuser = root\n%b\n' \
		"$1" "$LAB_DIR/state" "$LAB_DIR/ctl" "${2:-}" >"$LAB_DIR/rg.conf"
	: >"$LAB_DIR/rg.log"
	rm -f "$LAB_DIR/sum.json"
	# Directly, not through lab_srv: $! must be rcptguard itself.
	ip netns exec "$LAB_SRV" "${RG_BIN:-$top/rcptguard}" run -f -c "$LAB_DIR/rg.conf" \
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

# jq over the daemon's summary for one source key; 0 when absent.
src_count() {	# key class
	jq --arg k "$1" --arg c "$2" '[.sources[] | select(.key == $k) | .[$c]] | add // 0' "$LAB_DIR/sum.json"
}

# What two ways of capturing the same dialogues must agree on: the
# summary's events, bans and per-source counts, sources sorted.
sum_events() {
	jq -S -c '{events, tls: .tls.rejected, bans, by: [.sources[] | {key, rcpt_rejected, rcpt_accepted, rcpt_rejected_tls}] | sort_by(.key)}' \
		"$LAB_DIR/sum.json"
}

# status_settled FILE: the daemon's status once its packet count stands
# still. Workers copy their counts out every 100 ms (and a copy of the
# traffic reaches a pcap reader a little late), so a status read right
# after the last packet may not count it yet: read until two reads 0.15 s
# apart agree, at most 20 reads.
status_settled() {
	local i last=-1 now
	for i in $(seq 1 20); do
		"$top/rcptguard" status -s "$LAB_DIR/ctl" --json >"$1" 2>&1
		now=$(jq '.packets' "$1" 2>/dev/null)
		[ -n "$now" ] && [ "$now" != 0 ] && [ "$now" = "$last" ] && return 0
		last=$now
		sleep 0.15
	done
	return 1
}

live_capture() {
	local mode=$1 before after a4 a6 g4 g6
	[ $mode = nfqueue ] && queue_rules add
	# Detection alone here (the enforcement tests are below): every probe
	# reaches Postfix, so the counts can be compared one by one.
	if ! rg_start $mode "mode = observe"; then
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
			test "$(src_count fd00:1a::/64 rcpt_rejected)" = "$(echo "$a6" | sed 's/.*rejected=\([0-9]*\).*/\1/')"
		t "live $mode: legitimate senders delivered and have no rejected recipient" bash -c \
			"[[ '$g4' == *delivered=2* && '$g6' == *delivered=2* ]] && [ $(src_count $GOOD4/32 rcpt_rejected) = 0 ] && [ $(src_count fd00:19::/64 rcpt_rejected) = 0 ] && [ $(src_count $GOOD4/32 rcpt_accepted) = 2 ]"
		t "live $mode: both harvesters would be banned, nobody else" bash -c \
			"grep -c ' ban ' '$LAB_DIR/rg.log' | grep -qx 2 && grep -q ' ban $ATT4/32 rule=harvest' '$LAB_DIR/rg.log' && grep -q ' ban fd00:1a::/64 rule=harvest' '$LAB_DIR/rg.log'"
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
	[ -n "${NOHUP:-}" ] || kill -HUP $rgpid
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

# Bans in the kernel: the harvester's reconnects are dropped, its /64
# neighbour too, the legitimate senders are not touched.
live_enforce() {
	local a4 a6 n6 g4 g6 conns rej lines
	# The queue rules come from rcptguard itself this time.
	if ! rg_start nfqueue "manage_queue = yes"; then
		nok "enforce: daemon starts"
		return
	fi
	t "manage_queue: no nft queue expression here, so the compat NFQUEUE target, logged" bash -c \
		"grep -q \"no 'queue' expression.*compat\" '$LAB_DIR/rg.log' && ip netns exec $LAB_SRV nft list chain inet rcptguard queue_in 2>/dev/null | grep -q 'tcp dport 25 queue num 0 bypass' && ip netns exec $LAB_SRV nft list chain inet rcptguard queue_out 2>/dev/null | grep -q 'tcp sport 25 queue num 0 bypass'"
	t "enforce: managed table with one set per family and prefix, drop rules before filter" bash -c \
		"lab_srv() { ip netns exec $LAB_SRV \"\$@\"; }; out=\$(lab_srv nft list table inet rcptguard); echo \"\$out\" | grep -q 'set banned4_32' && echo \"\$out\" | grep -q 'set banned6_64' && echo \"\$out\" | grep -q 'hook input priority filter - 10' && echo \"\$out\" | grep -q 'ip6 saddr & ffff:ffff:ffff:ffff:: == @banned6_64 counter .* drop'"
	log_settle
	lines=$(postfix_log | wc -l)
	a4=$(lab_cli "$here/build/smtpc" -T 1500 -b $ATT4 -s $SRV4 harvest -n 200 -k 20 -P -g 3)
	a6=$(lab_cli "$here/build/smtpc" -T 1500 -b $ATT6 -s $SRV6 harvest -n 60 -k 10 -g 3)
	n6=$(lab_cli "$here/build/smtpc" -T 1500 -b $NEIGH6 -s $SRV6 deliver -n 1)
	g4=$(lab_cli "$here/build/smtpc" -b $GOOD4 -s $SRV4 deliver -n 3)
	g6=$(lab_cli "$here/build/smtpc" -b $GOOD6 -s $SRV6 deliver -n 3)
	log_settle
	conns=$(postfix_log | tail -n +$((lines + 1)) | grep -c ": connect from unknown\[$ATT4\]" || true)
	rej=$(postfix_log | tail -n +$((lines + 1)) | grep -c "reject: RCPT from unknown\[$ATT4\]" || true)
	t "enforce IPv4: Postfix saw one session from the harvester ($conns), one burst of probes ($rej), then nothing" bash -c \
		"[ $conns -eq 1 ] && [ $rej -le 20 ] && [[ '$a4' == *connect_failed=[1-9]* ]]"
	t "enforce IPv4: the harvester's session was cut at once, Postfix logged it lost" bash -c \
		"grep -q 'cut [0-9]* sessions\\? of $ATT4/32' '$LAB_DIR/rg.log' && tail -n +$((lines + 1)) '$LAB_DIR/postfix/maillog' | grep -q 'lost connection after .* from unknown\\[$ATT4\\]'"
	t "enforce IPv4: the element is in the set, with a timeout, and its counter shows drops" bash -c \
		"ip netns exec $LAB_SRV nft -j list set inet rcptguard banned4_32 | jq -e '.nftables[1].set.elem[0].elem | .val == \"$ATT4\" and .timeout == 3600 and .counter.packets > 0' >/dev/null"
	t "enforce IPv6: the harvester's /64 is banned and a neighbour in it cannot connect" bash -c \
		"ip netns exec $LAB_SRV nft -j list set inet rcptguard banned6_64 | jq -e '.nftables[1].set.elem[0].elem.val == \"fd00:1a::\"' >/dev/null && [[ '$a6' == *connect_failed=[1-9]* ]] && [[ '$n6' == *delivered=0* ]]"
	t "enforce: legitimate senders deliver throughout (IPv4 3/3, IPv6 3/3)" bash -c \
		"[[ '$g4' == *delivered=3* && '$g6' == *delivered=3* ]]"
	rg_stop
	t "manage_queue: the packets reached the queue through the compat rules" bash -c \
		"grep -q 'capture: type nfqueue, packets [1-9]' '$LAB_DIR/rg.log' && [ \$(jq '.events.rcpt_rejected' '$LAB_DIR/sum.json') -gt 0 ]"
	t "enforce: bans stay in the kernel after the daemon stops (on_exit = keep)" bash -c \
		"ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32 | grep -q '$ATT4'"
	lab_srv nft delete table inet rcptguard
}

# STARTTLS is no way around: once the daemon has seen Postfix's replies
# in the clear (a delivery, four rejections of a calibrating sender), a
# harvester inside TLS is banned on the inferred rejections, and a
# legitimate sender using TLS delivers everything.
live_tls() {
	local cal=198.18.0.60 a g conns lines
	lab_cli_addr $cal 2>/dev/null || true
	if ! rg_start nfqueue "manage_queue = yes"; then
		nok "tls: daemon starts"
		return
	fi
	lab_cli "$here/build/smtpc" -b $cal -s $SRV4 deliver -n 2 >/dev/null
	lab_cli "$here/build/smtpc" -b $cal -s $SRV4 harvest -n 4 -k 4 >/dev/null
	lab_cli "$here/build/smtpc" -b $cal -s $SRV4 session -n 1 >/dev/null
	log_settle
	lines=$(postfix_log | wc -l)
	a=$(lab_cli "$here/build/smtpc" -S tls13 -T 1500 -b $ATT4 -s $SRV4 harvest -n 100 -k 10 -P -g 3)
	g=$(lab_cli "$here/build/smtpc" -S tls13 -b $GOOD4 -s $SRV4 deliver -n 3)
	log_settle
	conns=$(postfix_log | tail -n +$((lines + 1)) | grep -c ": connect from unknown\[$ATT4\]" || true)
	t "tls: a harvester inside STARTTLS is banned on inferred rejections (rule harvest_tls; Postfix saw $conns of its sessions; $a)" bash -c \
		"grep -q 'ban $ATT4/32 rule=harvest_tls' '$LAB_DIR/rg.log' && ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32 | grep -q '$ATT4' && [ $conns -le 3 ] && [[ '$a' == *connect_failed=[1-9]* ]]"
	t "tls: the legitimate sender delivers 3 of 3 over TLS ($g)" bash -c "[[ '$g' == *tls=3* && '$g' == *delivered=3* ]]"
	t "tls: rcptguard calibration shows Postfix's reject as 81 bytes plus the recipient's" bash -c \
		"'$here/rcptguard' calibration -s '$LAB_DIR/ctl' | grep -q '^$SRV4: .* rcpt_rejected 81+L'"
	rg_stop
	t "tls: the daemon followed the TLS sessions and counted them ($(jq -c '.tls | {sessions, counted, rejected}' "$LAB_DIR/sum.json"))" \
		jq -e '.tls.sessions >= 3 and .tls.counted == .tls.sessions and .tls.rejected >= 20' "$LAB_DIR/sum.json"
	# A restart does not start blind: the calibration is in the state file.
	if RG_KEEP=1 rg_start nfqueue "manage_queue = yes"; then
		t "tls: after a restart, the calibration is back from the state file, before any traffic" bash -c \
			"'$here/rcptguard' calibration -s '$LAB_DIR/ctl' --json | jq -e '.[0].server == \"$SRV4\" and .[0].replies.rcpt_rejected.lo == 81 and .[0].replies.rcpt_rejected.per_recipient_byte == 1' >/dev/null"
		rg_stop
	else
		nok "tls: daemon starts again"
	fi
	lab_srv nft delete table inet rcptguard
}

live_enforce_expiry_observe_allow() {
	local before after out
	# A short ban expires by itself in the kernel.
	if ! rg_start pcap "rule h {\n class = rcpt_rejected\n threshold = 5\n ban = 3s\n}\non_exit = remove"; then
		nok "expiry: daemon starts" "$(tail -3 "$LAB_DIR/rg.log")"
		return
	fi
	lab_cli "$here/build/smtpc" -T 200 -b $ATT4 -s $SRV4 harvest -n 10 -k 10 -g 1 >"$work/exp.out"
	if ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32 | grep -q "$ATT4 .*timeout 3s"; then
		ok "expiry: banned for 3 s"
		sleep 3.2
		t "expiry: gone after 3 s, and the source can connect again" bash -c \
			"ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32 >/dev/null && ! ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32 | grep -q '$ATT4' && ip netns exec $LAB_CLI $here/build/smtpc -T 1500 -b $ATT4 -s $SRV4 deliver -n 1 | grep -q delivered=1"
	else
		nok "expiry: banned for 3 s" "$(cat "$work/exp.out"; lab_srv nft list set inet rcptguard banned4_32 2>&1 | tail -3)"
	fi
	rg_stop
	t "on_exit = remove: the table is gone after the daemon stops" bash -c \
		"grep -q 'enforcing in table inet rcptguard' '$LAB_DIR/rg.log' && ! ip netns exec $LAB_SRV nft list table inet rcptguard >/dev/null 2>&1"
	# observe: nothing in the kernel changes.
	before=$(lab_srv nft -j list ruleset)
	rg_start pcap "mode = observe"
	lab_cli "$here/build/smtpc" -b $ATT4 -s $SRV4 harvest -n 20 -k 20 >/dev/null
	sleep 0.3
	rg_stop
	after=$(lab_srv nft -j list ruleset)
	t "observe: 'would ban' logged, ruleset unchanged" bash -c \
		"grep -q 'would ban $ATT4/32' '$LAB_DIR/rg.log' && [ '$before' = '$after' ]"
	# allowlisted: counted as such, never in the set.
	rg_start pcap "allowlist = $ATT4"
	lab_cli "$here/build/smtpc" -b $ATT4 -s $SRV4 harvest -n 20 -k 20 >/dev/null
	sleep 0.3
	out=$(lab_srv nft list set inet rcptguard banned4_32 2>&1)
	rg_stop
	t "allowlist: a harvesting allowlisted address is never banned" bash -c \
		"! echo '$out' | grep -q '$ATT4' && ! grep -q ' ban ' '$LAB_DIR/rg.log'"
	lab_srv nft delete table inet rcptguard 2>/dev/null
}

# A list server next to a harvester, both through the real Postfix: the
# list's 20 gone subscribers of 200 are not a harvest, the harvester's
# guesses are.
live_list() {
	local before l a
	if ! rg_start pcap ""; then
		nok "list: daemon starts" "$(tail -3 "$LAB_DIR/rg.log")"
		return
	fi
	log_settle
	before=$(mailbox_count)
	l=$(lab_cli "$here/build/smtpc" -T 5000 -b $GOOD4 -s $SRV4 list -n 200 -u 10)
	a=$(lab_cli "$here/build/smtpc" -T 1500 -b $ATT4 -s $SRV4 harvest -n 40 -k 40 -P -g 2)
	for i in $(seq 1 50); do [ $(( $(mailbox_count) - before )) -ge 180 ] && break; sleep 0.1; done
	sleep 0.3
	t "list: one session, 200 recipients, 20 gone, the message accepted ($l)" bash -c \
		"[[ '$l' == *rejected=20\ accepted=180* && '$l' == *delivered=1* ]]"
	t "list: every one of its 180 copies in the mailboxes ($(( $(mailbox_count) - before )))" \
		test $(( $(mailbox_count) - before )) -eq 180
	t "list: the list server is not banned, the harvester in the same run is, within its first burst" bash -c \
		"! grep -q ' ban $GOOD4/' '$LAB_DIR/rg.log' && grep -q ' ban $ATT4/32 rule=harvest' '$LAB_DIR/rg.log' && ! ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32 | grep -q '$GOOD4' && [[ '$a' == *sessions=1\ * ]]"
	rg_stop
	# The same list under a count alone (share = 0): banned. The share is
	# what spares it.
	rg_start pcap "mode = observe\nrule harvest {\n class = rcpt_rejected\n share = 0\n}" || return
	lab_cli "$here/build/smtpc" -T 5000 -b $GOOD4 -s $SRV4 list -n 200 -u 10 >/dev/null
	sleep 0.3
	rg_stop
	t "list: under a count-only rule the same list server would be banned" \
		grep -q "would ban $GOOD4/32 rule=harvest .*accepted=1[0-9][0-9] share=" "$LAB_DIR/rg.log"
	lab_srv nft delete table inet rcptguard 2>/dev/null
}

# A prefix ban never drops an allowlisted address or one of the host's
# own: narrowed in the tracker, accepted before any drop rule in the kernel.
live_prefix_allow() {
	local allow4=198.18.0.99 att6=fd00:18::66 out set
	lab_cli_addr $allow4 2>/dev/null; lab_cli_addr $att6 2>/dev/null
	if ! rg_start pcap "prefix4 = 24\nallowlist = $allow4"; then
		nok "prefix/allow: daemon starts" "$(tail -3 "$LAB_DIR/rg.log")"
		return
	fi
	set=$(lab_srv nft list set inet rcptguard allow4 2>&1)
	t "allow sets: the allowlist and the host's own addresses, accepted before the drop rules" bash -c \
		"echo '$set' | grep -q '$allow4' && echo '$set' | grep -q '$SRV4' && ip netns exec $LAB_SRV nft list set inet rcptguard allow6 | grep -q '$SRV6' && ip netns exec $LAB_SRV nft list chain inet rcptguard input | grep -m1 -E '@(allow|banned)' | grep -q 'ip saddr @allow4 counter packets [0-9]* bytes [0-9]* accept'"
	lab_cli "$here/build/smtpc" -T 1500 -b $ATT4 -s $SRV4 harvest -n 20 -k 20 >/dev/null
	lab_cli "$here/build/smtpc" -T 1500 -b $att6 -s $SRV6 harvest -n 20 -k 20 >/dev/null
	sleep 0.3
	t "prefix ban narrowed: the harvester's /24 holds an allowlisted address, so only the harvester is banned" bash -c \
		"grep -q ' ban $ATT4/32 rule=harvest .*narrowed_from=198.18.0.0/24' '$LAB_DIR/rg.log' && ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32 | grep -q '$ATT4' && ! ip netns exec $LAB_SRV nft list set inet rcptguard banned4_24 | grep -q '198.18.0.0'"
	t "prefix ban narrowed: a harvester in the server's own /64 is banned alone (/128)" bash -c \
		"grep -q ' ban $att6/128 rule=harvest .*narrowed_from=fd00:18::/64' '$LAB_DIR/rg.log' && ip netns exec $LAB_SRV nft list set inet rcptguard banned6_128 | grep -q '$att6'"
	# A wide element put in by hand (or by another tool): the kernel still
	# lets the allowlisted host through, and drops its neighbour.
	lab_srv nft add element inet rcptguard banned4_24 '{ 198.18.0.0 timeout 5m }'
	out=$(lab_cli "$here/build/smtpc" -T 1500 -b $allow4 -s $SRV4 deliver -n 1)
	t "kernel: with 198.18.0.0/24 banned, the allowlisted $allow4 still delivers ($out)" bash -c \
		"[[ '$out' == *delivered=1* ]]"
	out=$(lab_cli "$here/build/smtpc" -T 1500 -b $GOOD4 -s $SRV4 deliver -n 1)
	t "kernel: and its neighbour $GOOD4 in that /24 is dropped ($out)" bash -c "[[ '$out' == *delivered=0* ]]"
	# Reload with the neighbour allowlisted too: the set follows.
	printf 'capture = pcap\nservers = local\nstate_file = %s\ncontrol_socket = %s\nuser = root\nprefix4 = 24\nallowlist = %s %s\n' \
		"$LAB_DIR/state" "$LAB_DIR/ctl" $allow4 $GOOD4 >"$LAB_DIR/rg.conf"
	[ -n "${NOHUP:-}" ] || kill -HUP $rgpid
	sleep 0.5
	out=$(lab_cli "$here/build/smtpc" -T 1500 -b $GOOD4 -s $SRV4 deliver -n 1)
	t "reload: a newly allowlisted address is in the allow set at once and delivers ($out)" bash -c \
		"ip netns exec $LAB_SRV nft list set inet rcptguard allow4 | grep -q '$GOOD4' && [[ '$out' == *delivered=1* ]]"
	rg_stop
	lab_srv nft delete table inet rcptguard 2>/dev/null
}

# 'nft flush ruleset' (systemctl restart nftables) wipes our table: it
# comes back with every active ban within a second.
live_repair() {
	if ! rg_start pcap; then
		nok "repair: daemon starts"
		return
	fi
	lab_cli "$here/build/smtpc" -T 500 -b $ATT4 -s $SRV4 harvest -n 12 -k 12 -g 1 >/dev/null
	lab_srv nft flush ruleset
	sleep 1
	t "repair: after nft flush ruleset, the table and the ban are back within a second" bash -c \
		"grep -q 'was deleted (nft flush ruleset?); re-installed with 1 ban' '$LAB_DIR/rg.log' && ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32 | grep -q '$ATT4 .*expires'"
	rg_stop
	lab_srv nft delete table inet rcptguard 2>/dev/null
}

# The same after a bulk load: the 1,000 bans of the state file go in
# with the monitor deaf (no notification per element), which must then
# listen again.
live_repair_bulk() {
	local now n
	now=$(date +%s)
	lab_srv nft delete table inet rcptguard 2>/dev/null
	{ echo "# rcptguard state 1: key rule times count since-us until-us"
	  for i in $(seq 0 999); do
		echo "198.19.$((i / 250)).$((i % 250 + 1))/32 manual 1 0 ${now}000000 $((now + 3600))000000"
	  done; } >"$LAB_DIR/state"
	if ! RG_KEEP=1 rg_start pcap; then
		nok "repair after a bulk load: daemon starts"
		return
	fi
	lab_srv nft flush ruleset
	sleep 1
	n=$(lab_srv nft -j list set inet rcptguard banned4_32 2>/dev/null | jq '.nftables[1].set.elem | length' 2>/dev/null)
	t "repair: after 1,000 bans restored in one deaf batch, nft flush ruleset is still seen and repaired (${n:-0} in the set)" bash -c \
		"grep -q 're-installed with 1000 bans' '$LAB_DIR/rg.log' && [ '${n:-0}' -eq 1000 ]"
	rg_stop
	lab_srv nft delete table inet rcptguard 2>/dev/null
	rm -f "$LAB_DIR/state"
}

live_batch() {
	local out n4 n6
	out=$(lab_srv "$here/build/nftbatch" 10000)
	n4=$(lab_srv nft -j list set inet rcptguard banned4_32 | jq '.nftables[1].set.elem | length')
	n6=$(lab_srv nft -j list set inet rcptguard banned6_64 | jq '.nftables[1].set.elem | length')
	t "batch: 10,000 bans in one batch, all in the sets ($n4 + $n6; $out)" bash -c \
		"[[ '$out' == *batches=1\ refused=0* ]] && [ $n4 -eq 9000 ] && [ $n6 -eq 1000 ]"
	lab_srv nft delete table inet rcptguard
}

# A restart keeps bans and escalation: from the state file after a reboot
# (table gone), from the kernel when the file does not know an element,
# and a ban the allowlist now covers is lifted.
live_restart() {
	local rule="rule h {\n class = rcpt_rejected\n threshold = 5\n ban = 3s\n factor = 4\n max_ban = 1h\n}"
	if ! rg_start pcap "$rule"; then
		nok "restart: daemon starts" "$(tail -3 "$LAB_DIR/rg.log")"
		return
	fi
	lab_cli "$here/build/smtpc" -T 200 -b $ATT4 -s $SRV4 harvest -n 10 -k 10 -g 1 >/dev/null
	sleep 0.2
	rg_stop
	t "restart: the state file holds the ban (rule h, first ban, 3 s)" bash -c \
		"awk '\$1 == \"$ATT4/32\" && \$2 == \"h\" && \$3 == 1 && \$6 - \$5 == 3000000' '$LAB_DIR/state' | grep -q ."
	# Reboot: the kernel forgets, the file does not. The ban has ended by
	# now; the next one must be the second, four times as long.
	lab_srv nft delete table inet rcptguard
	sleep 3
	RG_KEEP=1 rg_start pcap "$rule" || { nok "restart: daemon starts again"; return; }
	lab_cli "$here/build/smtpc" -T 200 -b $ATT4 -s $SRV4 harvest -n 10 -k 10 -g 1 >/dev/null
	sleep 0.2
	t "restart: escalation survives, second ban 12 s (nth=2), in the kernel as such" bash -c \
		"grep -q 'ban $ATT4/32 rule=h count=5 duration=12s nth=2' '$LAB_DIR/rg.log' && ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32 | grep -q '$ATT4 .*timeout 12s'"
	rg_stop
	# Reboot again with the ban active: back in the kernel at start, with
	# what is left of it. Meanwhile someone added two elements by hand;
	# one of them is allowlisted in the new configuration.
	lab_srv nft delete table inet rcptguard
	RG_KEEP=1 rg_start pcap "$rule" || { nok "restart: daemon starts again"; return; }
	rg_stop
	lab_srv nft add element inet rcptguard banned4_32 "{ 198.18.0.99 timeout 10m, 198.18.0.55 timeout 10m }"
	RG_KEEP=1 rg_start pcap "$rule\nallowlist = 198.18.0.55" || { nok "restart: daemon starts again"; return; }
	t "restart: the active ban is restored into the kernel from the state file" bash -c \
		"grep -q 'restored 2 active bans' '$LAB_DIR/rg.log' && ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32 | grep -q '$ATT4 .*timeout 1[0-2]s' || { grep restored '$LAB_DIR/rg.log'; ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32; false; }"
	t "restart: an element only the kernel had is adopted, an allowlisted one removed" bash -c \
		"grep -q '1 adopted from it' '$LAB_DIR/rg.log' && grep -q 'unban 198.18.0.55/32: now allowlisted' '$LAB_DIR/rg.log' && out=\$(ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32) && echo \"\$out\" | grep -q 198.18.0.99 && ! echo \"\$out\" | grep -q 198.18.0.55"
	rg_stop
	t "restart: the adopted ban is in the state file as a manual one" bash -c \
		"grep -q '^198.18.0.99/32 manual 1 ' '$LAB_DIR/state' && ! grep -q '^198.18.0.55/' '$LAB_DIR/state'"
	lab_srv nft delete table inet rcptguard 2>/dev/null
}

# Enforcement errors: one clear log line, counted, tracking goes on.
live_errors() {
	local n
	# No CAP_NET_ADMIN (pcap needs only CAP_NET_RAW).
	lab_srv nft delete table inet rcptguard 2>/dev/null
	printf 'capture = pcap\nservers = local\nstate_file = none\ncontrol_socket = none\nuser = root\n' >"$LAB_DIR/rg.conf"
	: >"$LAB_DIR/rg.log"
	ip netns exec "$LAB_SRV" capsh --drop=cap_net_admin -- -c \
		"exec $top/rcptguard run -f -c $LAB_DIR/rg.conf 2>>$LAB_DIR/rg.log" &
	rgpid=$!
	for n in $(seq 1 50); do grep -q 'running:' "$LAB_DIR/rg.log" && break; sleep 0.1; done
	lab_cli "$here/build/smtpc" -b $ATT4 -s $SRV4 harvest -n 20 -k 20 >/dev/null
	sleep 0.3
	t "no CAP_NET_ADMIN: the cause logged, the daemon keeps tracking and logs the ban" bash -c \
		"kill -0 $rgpid && grep -q 'Operation not permitted (rcptguard needs CAP_NET_ADMIN); bans will be logged but not enforced' '$LAB_DIR/rg.log' && grep -q ' ban $ATT4/32 ' '$LAB_DIR/rg.log' && ! ip netns exec $LAB_SRV nft list table inet rcptguard >/dev/null 2>&1 || { tail -4 '$LAB_DIR/rg.log'; false; }"
	rg_stop
	# Self-managed without the sets: same, with the fix in the message.
	rg_start pcap "manage_ruleset = no" || true
	t "manage_ruleset = no without the sets: says to load rcptguard.nft, keeps running" bash -c \
		"kill -0 $rgpid && grep -q 'set inet rcptguard banned4_32: No such file or directory (manage_ruleset = no: load nft/rcptguard.nft first)' '$LAB_DIR/rg.log'"
	rg_stop
	# ... and with them, bans go into them.
	lab_srv nft -f "$here/nft/rcptguard.nft"
	RG_KEEP=1 rg_start pcap "manage_ruleset = no" || true
	lab_cli "$here/build/smtpc" -b $ATT4 -s $SRV4 harvest -n 20 -k 20 >/dev/null
	sleep 0.3
	rg_stop
	t "manage_ruleset = no with nft/rcptguard.nft loaded: the ban lands in its set" bash -c \
		"ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32 | grep -q '$ATT4'"
	# A full set: the kernel refuses the element; logged with the fix,
	# counted, the daemon goes on.
	rg_start pcap "set_size = 16" || { nok "set full: daemon starts"; return; }
	lab_srv nft add element inet rcptguard banned4_32 "{ $(seq -s, -f '198.19.0.%g' 1 16 | sed 's/,/, /g') }"
	lab_cli "$here/build/smtpc" -b $ATT4 -s $SRV4 harvest -n 20 -k 20 >/dev/null
	lab_cli "$here/build/smtpc" -b $ATT6 -s $SRV6 harvest -n 20 -k 20 >/dev/null
	sleep 0.3
	t "set full: 'the set is full: raise set_size' logged and counted, IPv6 ban still goes in" bash -c \
		"kill -0 $rgpid && grep -q 'cannot add $ATT4/32 to inet rcptguard banned4_32: Too many open files in system (the set is full: raise set_size)' '$LAB_DIR/rg.log' && ip netns exec $LAB_SRV nft list set inet rcptguard banned6_64 | grep -q 'fd00:1a::'"
	rg_stop
	t "set full: the summary counts the refused element" bash -c \
		"grep -q 'refused 1' '$LAB_DIR/rg.log'"
	lab_srv nft delete table inet rcptguard 2>/dev/null
}

# The control socket and the commands that use it.
live_ops() {
	local rg="$top/rcptguard" sock=$LAB_DIR/ctl i
	if ! rg_start pcap "allowlist = 198.18.0.55\nmetrics_file = $LAB_DIR/rg.prom\nmetrics_interval = 1s"; then
		nok "ops: daemon starts" "$(tail -3 "$LAB_DIR/rg.log")"
		return
	fi
	lab_cli "$here/build/smtpc" -T 300 -b $ATT4 -s $SRV4 harvest -n 20 -k 20 -g 2 >/dev/null
	# One more try once banned: its SYNs meet the set element's counter.
	lab_cli "$here/build/smtpc" -T 300 -b $ATT4 -s $SRV4 deliver -n 1 >/dev/null
	lab_cli "$here/build/smtpc" -b $ATT6 -s $SRV6 harvest -n 4 -k 4 >/dev/null
	sleep 0.3
	t "bans: the harvester, its rule and count, and what the kernel dropped since" bash -c \
		"$rg bans -s $sock | grep -Eq '^$ATT4/32 +harvest +10 +[0-9]+s +0 +[1-9][0-9]* ' && $rg bans -s $sock --json | jq -e '.[0].key == \"$ATT4/32\" and .[0].rule == \"harvest\" and .[0].seconds_left > 3500 and .[0].dropped_packets > 0' >/dev/null || { $rg bans -s $sock; false; }"
	t "top: the source below the threshold, with its count per class" bash -c \
		"$rg top -s $sock | grep -Eq '^fd00:1a::/64 +4 +rcpt_rejected=4' && $rg top -s $sock -n 1 --json | jq -e 'length == 1 and .[0].by_class.rcpt_rejected == 4' >/dev/null"
	t "status: capture, bans, events and memory against the caps" bash -c \
		"$rg status -s $sock | grep -q '^memory: flows [0-9]*, max_flows 65536' && $rg status -s $sock --json | jq -e '.banned.active == 1 and .bans_by_rule.harvest == 1 and .events.rcpt_rejected >= 14 and .capture.type == \"pcap\" and .tracker.max_sources == 1000000' >/dev/null"
	t "ban/unban by hand: into the kernel and out again, counted as manual" bash -c \
		"$rg ban -s $sock 198.18.0.200 5m | grep -q 'banned 198.18.0.200/32 for 5m' && ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32 | grep -q '198.18.0.200 .*timeout 5m' && $rg unban -s $sock 198.18.0.200 | grep -q unbanned && ! ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32 | grep -q 198.18.0.200 && $rg status -s $sock --json | jq -e '.banned.manual == 1' >/dev/null"
	t "ban of an allowlisted address: refused with the reason, exit code 1" bash -c \
		"out=\$($rg ban -s $sock 198.18.0.55 2>&1); [ \$? -eq 1 ] && [ \"\$out\" = 'refused: 198.18.0.55/32 is allowlisted' ]"
	t "ban --json: the refusal as JSON for scripts" bash -c \
		"$rg ban -s $sock --json 198.18.0.55 2>&1 | jq -e '.ok == false and .message == \"refused: 198.18.0.55/32 is allowlisted\"' >/dev/null"
	t "unban of a source that is not banned: said so, exit code 1" bash -c \
		"out=\$($rg unban -s $sock 198.18.0.201 2>&1); [ \$? -eq 1 ] && [ \"\$out\" = '198.18.0.201/32 was not banned' ]"
	t "metrics: Prometheus text, every sample after its TYPE, counters that match" bash -c \
		"$rg metrics -s $sock >$LAB_DIR/m.txt && awk '/^# TYPE /{t[\$3]=1; next} /^#/{next} {n=\$1; sub(/\\{.*/, \"\", n); if (!(n in t)) { print \"no TYPE for \" n; bad=1 } if (\$NF !~ /^[0-9.e+-]+\$/) { print \"bad value: \" \$0; bad=1 } } END { exit bad }' $LAB_DIR/m.txt && grep -q '^rcptguard_bans_total{rule=\"harvest\"} 1\$' $LAB_DIR/m.txt && grep -q '^rcptguard_active_bans 1\$' $LAB_DIR/m.txt && grep -q '^rcptguard_events_total{class=\"rcpt_rejected\"} [1-9]' $LAB_DIR/m.txt && grep -q '^rcptguard_leaked_recipients_total 1\$' $LAB_DIR/m.txt && grep -q '^rcptguard_wave [01]\$' $LAB_DIR/m.txt && grep -q '^rcptguard_prefix_bans_total{action=\"narrowed\"} 0\$' $LAB_DIR/m.txt"
	# Its 8th probe was alice, which exists; it was banned at its 11th,
	# before it asked for bob.
	t "bans --json: the valid recipient the harvester learned before its ban (alice), with the count" bash -c \
		"$rg bans -s $sock --json | jq -e '.[0].leaked_count == 1 and .[0].leaked == [\"alice@example.org\"]' >/dev/null || { $rg bans -s $sock --json; false; }"
	t "status: the wave and the judgement counters" bash -c \
		"$rg status -s $sock | grep -Eq '^wave: on (no|yes), rate [0-9]+, baseline [0-9.]+' && $rg status -s $sock | grep -q '^tracker: .*, share_spared 0, narrowed 0, refused 0, leaked 1, ' && $rg status -s $sock --json | jq -e '.wave.enabled == true and .tracker.leaked == 1' >/dev/null"
	sleep 1.2
	t "metrics_file: written for the textfile collector, renamed into place" bash -c \
		"grep -q '^rcptguard_up 1\$' $LAB_DIR/rg.prom && grep -q '^rcptguard_active_bans 1\$' $LAB_DIR/rg.prom && [ ! -e $LAB_DIR/rg.prom.tmp ]"
	# Hostile clients: oversized, binary, silent, too many.
	t "control: an oversized request gets an error reply" bash -c \
		"head -c 3000 /dev/zero | tr '\\\\0' a | socat -t 2 - UNIX-CONNECT:$sock | head -2 | grep -q 'request too long'"
	t "control: a binary request gets an error reply" bash -c \
		"printf 'st\\001\\377tus\\n' | socat -t 2 - UNIX-CONNECT:$sock | grep -q 'printable ASCII'"
	for i in $(seq 1 20); do socat -u UNIX-CONNECT:$sock SYSTEM:'sleep 20' 2>/dev/null & done
	# Until all 16 slots are taken (the socats start in the background).
	for i in $(seq 1 50); do
		out=$($rg status -s $sock 2>&1)
		case $out in *'too many control clients'*) break ;; esac
		sleep 0.1
	done
	t "control: 20 silent clients (16 allowed) refuse the rest, packets still flow" bash -c \
		"echo '$out' | grep -q 'too many control clients' && ip netns exec $LAB_CLI $here/build/smtpc -b $GOOD4 -s $SRV4 deliver -n 1 | grep -q delivered=1"
	# They are dropped 10 to 12 s after they came (checked once a second),
	# not before.
	local s0=$SECONDS
	for i in $(seq 1 30); do
		$rg status -s $sock 2>/dev/null | grep -q '^rcptguard ' && break
		sleep 0.5
	done
	t "control: silent clients dropped after 10 s ($((SECONDS - s0)) s after the check above); the daemon answers again" bash -c \
		"[ $((SECONDS - s0)) -ge 8 ] && $rg status -s $sock | grep -q '^rcptguard ' && $rg metrics -s $sock | grep -q '^rcptguard_control_requests_total{result=\"error\"} [2-9]'"
	pkill -f "UNIX-CONNECT:$sock" 2>/dev/null
	# Requests whose client is gone before the answer (the write gets
	# EPIPE), and a client that types one byte at a time.
	for i in $(seq 1 30); do printf 'status\n' | socat -u - UNIX-CONNECT:$sock 2>/dev/null; done
	t "control: 30 requests whose client closed before the answer; the daemon lives and answers" bash -c \
		"kill -0 $rgpid && $rg status -s $sock | grep -q '^rcptguard '"
	t "control: a client typing its request a byte every 0.2 s is answered" bash -c \
		"{ for c in s t a t u s; do printf \$c; sleep 0.2; done; printf '\\n'; sleep 1; } | socat -t 3 - UNIX-CONNECT:$sock | grep -q '^rcptguard '"
	t "reload through the socket: a bad file is refused with FILE:LINE" bash -c \
		"cp $LAB_DIR/rg.conf $LAB_DIR/rg.good; echo 'threshold = 3' >>$LAB_DIR/rg.conf; out=\$($rg reload -s $sock 2>&1); rc=\$?; cp $LAB_DIR/rg.good $LAB_DIR/rg.conf; [ \$rc -eq 1 ] && echo \"\$out\" | grep -q '^$LAB_DIR/rg.conf:[0-9]*: unknown key' && $rg reload -s $sock | grep -q loaded"
	rg_stop
	t "a daemon that is not running: clear message, exit code 3, no hang" bash -c \
		"out=\$(timeout 5 $rg status -s $sock 2>&1); [ \$? -eq 3 ] && echo \"\$out\" | grep -q 'the daemon is not running'"
	lab_srv nft delete table inet rcptguard 2>/dev/null
}

# After start: an unprivileged user with CAP_NET_ADMIN only, no new
# privileges, and bans still reach the kernel.
live_privileges() {
	local dir=$LAB_DIR/nobody caps
	mkdir -p "$dir" && chown nobody "$dir"
	if ! rg_start nfqueue "user = nobody\nstate_file = $dir/state"; then
		nok "privileges: daemon starts" "$(tail -3 "$LAB_DIR/rg.log")"
		return
	fi
	queue_rules add
	t "privileges: runs as nobody, CAP_NET_ADMIN alone in effective, permitted and bounding sets, none inheritable or ambient, no_new_privs" bash -c \
		"s=/proc/$rgpid/status; grep -q '^Uid:.65534.65534.65534.65534' \$s && grep -q '^Gid:.65534.65534.65534.65534' \$s && grep -q '^Groups:[[:space:]]*\$' \$s && grep -q '^CapEff:.0000000000001000' \$s && grep -q '^CapPrm:.0000000000001000' \$s && grep -q '^CapBnd:.0000000000001000' \$s && grep -q '^CapInh:.0000000000000000' \$s && grep -q '^CapAmb:.0000000000000000' \$s && grep -q '^NoNewPrivs:.1' \$s && grep -q 'running as user nobody with CAP_NET_ADMIN only (checked' '$LAB_DIR/rg.log'"
	# Not dumpable: /proc/PID belongs to root, so the user it runs as
	# cannot ptrace it nor read its memory.
	t "privileges: not dumpable (its /proc entries stay root's: $(stat -c %U /proc/$rgpid/mem 2>/dev/null))" \
		test "$(stat -c %u /proc/$rgpid/mem)" = 0
	lab_cli "$here/build/smtpc" -T 300 -b $ATT4 -s $SRV4 harvest -n 20 -k 20 -g 2 >/dev/null
	sleep 1.2
	t "privileges: after the drop, the ban reaches the kernel and the state file is written" bash -c \
		"ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32 | grep -q '$ATT4' && grep -q '^$ATT4/32 harvest 1 ' $dir/state"
	queue_rules del
	rg_stop
	lab_srv nft delete table inet rcptguard 2>/dev/null
}

# The sandbox: on in the running daemon, and a forbidden call (execve)
# kills it at once, with the kernel's word for it; mail still flows.
live_sandbox() {
	local dir=$LAB_DIR/sandbox g rc i
	mkdir -p "$dir" && chown nobody "$dir"
	queue_rules add
	if ! rg_start nfqueue "user = nobody\nstate_file = $dir/state"; then
		nok "sandbox: daemon starts" "$(tail -3 "$LAB_DIR/rg.log")"
		queue_rules del
		return
	fi
	t "sandbox: the running daemon is under a seccomp filter (Seccomp: 2), said in its log" bash -c \
		"grep -q '^Seccomp:.2' /proc/$rgpid/status && grep -q 'sandbox: seccomp allows [0-9]* system calls, any other kills the process' '$LAB_DIR/rg.log'"
	# Its loop still works inside: a harvest banned, the state written,
	# a reload, a status.
	lab_cli "$here/build/smtpc" -T 300 -b $ATT4 -s $SRV4 harvest -n 20 -k 20 -g 2 >/dev/null
	[ -n "${NOHUP:-}" ] || kill -HUP $rgpid
	sleep 1.2
	t "sandbox: inside it, a ban reaches the kernel, the state file is written, reload and status answer" bash -c \
		"ip netns exec $LAB_SRV nft list set inet rcptguard banned4_32 | grep -q '$ATT4' && grep -q '^$ATT4/32 harvest 1 ' $dir/state && grep -q 'reload: .* loaded' '$LAB_DIR/rg.log' && '$top/rcptguard' status -s '$LAB_DIR/ctl' >/dev/null && kill -0 $rgpid"
	echo sandbox-probe | timeout 5 socat - "UNIX-CONNECT:$LAB_DIR/ctl" >/dev/null 2>&1
	for i in $(seq 1 50); do kill -0 $rgpid 2>/dev/null || break; sleep 0.1; done
	if kill -0 $rgpid 2>/dev/null; then
		rc=alive
		rg_stop
	else
		wait $rgpid 2>/dev/null
		rc=$?
	fi
	t "sandbox: a forbidden call (execve) kills the daemon at once by SIGSYS (exit $rc), the kernel logs the call (59)" bash -c \
		"[ $rc = 159 ] && dmesg | grep 'type=1326' | grep 'pid=$rgpid ' | grep -q 'syscall=59 '"
	g=$(lab_cli "$here/build/smtpc" -T 3000 -b $GOOD4 -s $SRV4 deliver -n 2)
	t "sandbox: after the kill, mail still flows through the queue rules ($g)" test "${g#*delivered=2}" != "$g"
	# sandbox = no: the same probe returns, the daemon lives.
	if rg_start nfqueue "sandbox = no"; then
		t "sandbox = no: no filter (Seccomp: 0), the probe's execve fails with ENOENT and the daemon lives" bash -c \
			"grep -q '^Seccomp:.0' /proc/$rgpid/status && echo sandbox-probe | timeout 5 socat - 'UNIX-CONNECT:$LAB_DIR/ctl' | grep -q 'execve was not stopped (No such file or directory)' && kill -0 $rgpid"
		rg_stop
	else
		nok "sandbox = no: daemon starts" "$(tail -3 "$LAB_DIR/rg.log")"
	fi
	queue_rules del
	lab_srv nft delete table inet rcptguard 2>/dev/null
	return 0
}

# Bare ACKs bypass the queue (the rules' default, compat and managed):
# the same events and bans as with every packet queued, from far fewer
# packets. Each way runs the same dialogues: a harvest one probe at a
# time, a pipelined IPv6 one, a harvest inside TLS, two deliveries.
live_queue_fewer() {
	local way res=$LAB_DIR/qf tlsh=198.18.0.67
	mkdir -p "$res"
	lab_cli_addr $tlsh
	for way in compat-all compat managed-all managed; do
		case $way in
		compat-all) lab_srv env QUEUE_ACKS=1 sh "$here/nft/queue-compat.sh" add local 0 25; rg_start nfqueue "prefix4 = 32" ;;
		compat) queue_rules add; rg_start nfqueue "prefix4 = 32" ;;
		managed-all) rg_start nfqueue "manage_queue = yes\nqueue_acks = yes" ;;
		managed) rg_start nfqueue "manage_queue = yes" ;;
		esac || { nok "queue fewer: daemon starts ($way)" "$(tail -3 "$LAB_DIR/rg.log")"; continue; }
		lab_cli "$here/build/smtpc" -T 2000 -b $ATT4 -s $SRV4 harvest -n 25 -k 10 -g 2 >/dev/null
		lab_cli "$here/build/smtpc" -T 2000 -b $ATT6 -s $SRV6 harvest -n 25 -k 25 -P -g 2 >/dev/null
		lab_cli "$here/build/smtpc" -T 2000 -b $GOOD4 -s $SRV4 deliver -n 2 >/dev/null
		lab_cli "$here/build/smtpc" -T 2000 -S tls13 -b $tlsh -s $SRV4 harvest -n 24 -k 24 -g 2 >/dev/null
		sleep 0.5
		rg_stop
		case $way in
		compat-all) lab_srv env QUEUE_ACKS=1 sh "$here/nft/queue-compat.sh" del local 0 25 ;;
		compat) queue_rules del ;;
		esac
		jq -c '[.packets, .smtp.sessions, .flows.verified]' "$LAB_DIR/sum.json" >"$res/$way.n"
		sum_events >"$res/$way.ev"
		lab_srv nft delete table inet rcptguard 2>/dev/null
	done
	for pair in "compat-all compat" "managed-all managed"; do
		set -- $pair
		t "queue fewer ($2): the same events, sessions and bans as with every packet queued ($(jq -c '{r: .events.rcpt_rejected, tls: .tls, bans}' "$res/$2.ev" 2>/dev/null))" \
			bash -c "[ -s '$res/$1.ev' ] && diff '$res/$1.ev' '$res/$2.ev' && [ \"\$(jq '.[1:]' '$res/$1.n')\" = \"\$(jq '.[1:]' '$res/$2.n')\" ] && jq -e '.bans >= 3 and .tls > 0' '$res/$2.ev' >/dev/null"
		# Command and reply dialogues carry most ACKs on data; what is
		# left are the bare ones (measured: about a seventh here).
		t "queue fewer ($2): packets queued $(jq '.[0]' "$res/$1.n" 2>/dev/null) -> $(jq '.[0]' "$res/$2.n" 2>/dev/null), at least a tenth fewer" \
			bash -c "[ \$(( \$(jq '.[0]' '$res/$2.n') * 10 )) -le \$(( \$(jq '.[0]' '$res/$1.n') * 9 )) ]"
	done
}

# A session rcptguard can no longer read (STARTTLS with tls_infer = no)
# bypasses the queue for the rest of it: the verdict marks one packet,
# the connection keeps the mark, and the queue's first rule accepts it.
live_opaque_bypass() {
	local way g res=$LAB_DIR/ob
	mkdir -p "$res"
	for way in none 0x40000000; do
		if ! rg_start nfqueue "manage_queue = yes\ntls_infer = no\nopaque_mark = $way"; then
			nok "opaque bypass: daemon starts ($way)" "$(tail -3 "$LAB_DIR/rg.log")"
			continue
		fi
		g=$(lab_cli "$here/build/smtpc" -T 3000 -S tls13 -b $GOOD4 -s $SRV4 deliver -n 3 -z 60000)
		echo "$g" >"$res/$way.client"
		"$top/rcptguard" status -s "$LAB_DIR/ctl" --json >"$res/$way.status"
		lab_srv nft list chain inet rcptguard queue_in >"$res/$way.rules" 2>&1
		rg_stop
		jq '.packets' "$LAB_DIR/sum.json" >"$res/$way.n"
		lab_srv nft delete table inet rcptguard 2>/dev/null
	done
	t "opaque bypass: 3 STARTTLS deliveries of 60 KB all delivered both ways ($(cat "$res/0x40000000.client" 2>/dev/null))" bash -c \
		"grep -q 'delivered=3 ' '$res/none.client' && grep -q 'delivered=3 ' '$res/0x40000000.client'"
	t "opaque bypass: sessions marked ($(jq '.capture.opaque_marked' "$res/0x40000000.status" 2>/dev/null)), the queue's ct mark rule accepted their packets, packets queued $(cat "$res/none.n" 2>/dev/null) -> $(cat "$res/0x40000000.n" 2>/dev/null)" bash -c \
		"[ \$(jq '.capture.opaque_marked' '$res/0x40000000.status') -ge 3 ] && [ \$(jq '.capture.opaque_marked // 0' '$res/none.status') = 0 ] && grep -Eq 'ct mark & 0x40000000 == 0x40000000 counter packets [1-9]' '$res/0x40000000.rules' && [ \$(( \$(cat '$res/0x40000000.n') * 2 )) -le \$(cat '$res/none.n') ]"
}

# A drop that cannot be done stops the daemon (no root process parsing
# traffic by accident), says why and what to do, and stops no mail.
live_privileges_refused() {
	local rc g i
	queue_rules add
	rg_start nfqueue "user = rcptguard-nosuch" && nok "privileges: a missing user is refused" "it started"
	for i in $(seq 1 50); do kill -0 $rgpid 2>/dev/null || break; sleep 0.1; done
	wait $rgpid 2>/dev/null
	rc=$?
	t "privileges: a missing user stops the daemon, exit 1, the cause and the fix in one line ($(grep -o 'cannot run as user.*' "$LAB_DIR/rg.log" | head -c 160))" bash -c \
		"[ $rc = 1 ] && grep -q \"cannot run as user rcptguard-nosuch (no user 'rcptguard-nosuch'): not starting; create the user (adduser --system --group rcptguard-nosuch) or set user = root. Mail still flows\" '$LAB_DIR/rg.log'"
	g=$(lab_cli "$here/build/smtpc" -T 3000 -b $GOOD4 -s $SRV4 deliver -n 2)
	t "privileges: with the daemon refused, mail still flows through the queue rules ($g)" \
		test "${g#*delivered=2}" != "$g"
	queue_rules del
	lab_srv nft delete table inet rcptguard 2>/dev/null
	return 0
}

# A SYN flood from 1,000,000 spoofed sources through the queue, while a
# legitimate sender delivers: flows capped, no ban, every message arrives.
live_synflood() {
	local mac fpid g
	queue_rules add
	if ! rg_start nfqueue "max_flows = 4096"; then
		nok "SYN flood: daemon starts"
		queue_rules del
		return
	fi
	mac=$(lab_srv cat "/sys/class/net/v$LAB_ID-s/address")
	ip netns exec "$LAB_CLI" "$here/build/synflood" "v$LAB_ID-c" "$mac" $SRV6 1000000 >"$work/flood.out" &
	fpid=$!
	g=$(lab_cli "$here/build/smtpc" -b $GOOD4 -s $SRV4 deliver -n 10)
	wait $fpid
	sleep 0.5
	"$top/rcptguard" status -s "$LAB_DIR/ctl" --json >"$work/flood-status.json" 2>&1
	rg_stop
	queue_rules del
	t "SYN flood live ($(cat "$work/flood.out"), 1,000,000 spoofed sources): legitimate mail 10/10 during it" bash -c \
		"grep -q 'sent=1000000' '$work/flood.out' && [[ '$g' == *delivered=10* ]]"
	t "SYN flood live: flows held at max_flows (4096), evicted, no source tracked but the one legitimate sender, no ban" \
		jq -e '.flows.peak <= 4096 and .flows.created > 100000 and .flows.evicted > 100000 and .tracker.sources_peak <= 1 and .bans == 0' "$LAB_DIR/sum.json"
	t "SYN flood live: right after, the daemon answers its control socket, still enforcing, flows within the cap" \
		jq -e '.enforcing == true and .memory.flows <= 4096 and .packets > 100000' "$work/flood-status.json"
}

# Adopting the table of an earlier run: chains it no longer wants go in
# the same batch (gateway and manage_queue turned off).
live_adopt() {
	rg_start pcap "manage_queue = yes\ngateway = yes" || { nok "adopt: daemon starts"; return; }
	rg_stop
	local before after
	before=$(lab_srv nft list table inet rcptguard 2>/dev/null | grep -c 'chain ')
	RG_KEEP=1 rg_start pcap || { nok "adopt: daemon starts again"; return; }
	after=$(lab_srv nft list table inet rcptguard 2>/dev/null | grep 'chain ' | tr -d '\t{' | xargs)
	rg_stop
	t "adopt: 8 chains from a gateway run with manage_queue (drop, queue and mark chains), only 'input' after a plain restart ($after)" bash -c \
		"[ $before -eq 8 ] && [ '$after' = 'chain input' ]"
	lab_srv nft delete table inet rcptguard 2>/dev/null
}

# Many queues, one judgement: queue = 0-1 runs a worker per queue, and
# capture = pcap with workers = 2 a fanout group; each gives the same
# events and bans as one worker. The IPv6 harvester spreads its probes
# over twelve addresses of its /64, which the kernel's hash spreads over
# both workers: the one tracker still counts the /64 as one source.
# (Twelve addresses, one guess each: harvest bans at the tenth.)
live_workers() {
	local way res=$LAB_DIR/wk tlsh=198.18.0.68 i
	mkdir -p "$res"
	lab_cli_addr $tlsh
	for i in $(seq 1 12); do lab_cli_addr fd00:1a::1:$i; done
	for way in nfq1 nfq2 pcap1 pcap2; do
		case $way in
		nfq1) rg_start nfqueue "manage_queue = yes\nprefix4 = 32" ;;
		nfq2) rg_start nfqueue "manage_queue = yes\nprefix4 = 32\nqueue = 0-1" ;;
		# A copy of the traffic bans after the reply has left: how
		# many probes more get through is a race, so observe only.
		pcap1) rg_start pcap "prefix4 = 32\nmode = observe" ;;
		pcap2) rg_start pcap "prefix4 = 32\nmode = observe\nworkers = 2" ;;
		esac || { nok "workers: daemon starts ($way)" "$(tail -3 "$LAB_DIR/rg.log")"; continue; }
		# The /64 first, one guess an address: what the workers have
		# parsed by then is its traffic alone.
		for i in $(seq 1 12); do
			lab_cli "$here/build/smtpc" -T 1000 -b fd00:1a::1:$i -s $SRV6 harvest -n 1 -o $i -P >/dev/null
		done
		status_settled "$res/$way.status6"
		lab_cli "$here/build/smtpc" -T 1000 -b $ATT4 -s $SRV4 harvest -n 25 -k 10 -g 2 >/dev/null
		lab_cli "$here/build/smtpc" -T 1000 -b $GOOD4 -s $SRV4 deliver -n 2 >"$res/$way.good"
		lab_cli "$here/build/smtpc" -T 1000 -S tls13 -b $tlsh -s $SRV4 harvest -n 24 -k 24 -g 2 >/dev/null
		sleep 0.5
		"$top/rcptguard" status -s "$LAB_DIR/ctl" --json >"$res/$way.status"
		if [ $way = nfq2 ]; then
			lab_srv nft -j list set inet rcptguard banned6_64 | jq -r '.nftables[1].set.elem[].elem.val + "/64"' >"$res/$way.bans" 2>&1
		else
			grep ' ban ' "$LAB_DIR/rg.log" >"$res/$way.bans"
		fi
		rg_stop
		sum_events >"$res/$way.ev"
		lab_srv nft delete table inet rcptguard 2>/dev/null
	done
	for pair in "nfq1 nfq2" "pcap1 pcap2"; do
		set -- $pair
		t "workers ($2): the same events, sources and bans as one worker ($(jq -c '{r: .events.rcpt_rejected, tls, bans}' "$res/$2.ev" 2>/dev/null))" \
			bash -c "[ -s '$res/$1.ev' ] && diff '$res/$1.ev' '$res/$2.ev' && jq -e '.bans >= 3 and .tls > 0' '$res/$2.ev' >/dev/null"
		t "workers ($2): two workers, each parsed packets ($(jq -c '.workers.packets' "$res/$2.status" 2>/dev/null)), no event dropped, no hold timed out" \
			bash -c "jq -e '.workers.count == 2 and ([.workers.packets[]] | length == 2 and all(. > 0)) and (.workers.ring_full // 0) == 0 and (.workers.hold_timeouts // 0) == 0' '$res/$2.status' >/dev/null"
		# The kernel's hash has a random seed: the ten addresses before
		# the ban all on one worker is a chance of 1 in 512.
		t "workers ($2): the /64, its addresses on both workers ($(jq -c '.workers.packets' "$res/$2.status6" 2>/dev/null)), is banned as one; the legitimate sender delivered" \
			bash -c "jq -e '[.workers.packets[]] | all(. > 0)' '$res/$2.status6' >/dev/null && grep -q 'fd00:1a::/64' '$res/$2.bans' && grep -q 'delivered=2' '$res/$2.good'"
	done
	t "workers (nfq2): verdicts waited for the bans they decided ($(jq -c '.workers.holds' "$res/nfq2.status" 2>/dev/null) holds)" \
		bash -c "[ \$(jq '.workers.holds' '$res/nfq2.status') -ge 3 ]"
}

# The same with the daemon built with ThreadSanitizer (no seccomp: the
# sanitizer's own calls are not on the list): traffic on both workers, a
# ban, status and a reload while they run, and not one race reported.
live_workers_tsan() {
	local i res=$LAB_DIR/wk
	mkdir -p "$res"
	for i in $(seq 1 12); do lab_cli_addr fd00:1a::1:$i 2>/dev/null; done
	if [ ! -x "$here/build/tsan/rcptguard" ]; then
		nok "workers under ThreadSanitizer: build/tsan/rcptguard is built"
		return
	fi
	if ! RG_BIN=$here/build/tsan/rcptguard rg_start nfqueue "manage_queue = yes\nqueue = 0-1\nsandbox = no\nprefix4 = 32"; then
		nok "workers under ThreadSanitizer: daemon starts" "$(tail -3 "$LAB_DIR/rg.log")"
		return
	fi
	lab_cli "$here/build/smtpc" -T 1000 -b $ATT4 -s $SRV4 harvest -n 25 -k 10 -g 2 >/dev/null
	[ -n "${NOHUP:-}" ] || kill -HUP $rgpid
	for i in $(seq 1 12); do
		lab_cli "$here/build/smtpc" -T 1000 -b fd00:1a::1:$i -s $SRV6 harvest -n 1 -o $i -P >/dev/null
	done
	lab_cli "$here/build/smtpc" -T 1000 -b $GOOD4 -s $SRV4 deliver -n 2 >"$res/tsan.good"
	status_settled "$res/tsan.status"
	rg_stop
	t "workers under ThreadSanitizer: no race in the workers, the loop, status or a reload ($(grep -c 'ThreadSanitizer' "$LAB_DIR/rg.log") reports, $(jq -c '.workers.packets' "$res/tsan.status" 2>/dev/null) packets)" \
		bash -c "! grep -q 'ThreadSanitizer' '$LAB_DIR/rg.log' && grep -q 'reload: .* loaded' '$LAB_DIR/rg.log' && grep -q ' ban $ATT4/32 ' '$LAB_DIR/rg.log' && grep -q ' ban fd00:1a::/64 ' '$LAB_DIR/rg.log' && grep -q 'delivered=2' '$res/tsan.good' && jq -e '[.workers.packets[]] | all(. > 0)' '$res/tsan.status' >/dev/null"
	lab_srv nft delete table inet rcptguard 2>/dev/null
}

# Fail-open with workers: the loop stuck (a reload whose configuration
# file is a FIFO nobody writes yet), the workers go on. Held verdicts are
# let go after verdict_hold, events past the ring's 64 are dropped and
# counted, and mail flows: a pipelined harvest of 100 probes is answered
# in full and three messages are delivered while the loop is stuck.
live_workers_stall() {
	local res=$LAB_DIR/wk h g
	mkdir -p "$res"
	# Observe: no ruleset of ours, so the shipped compat rules queue.
	lab_srv sh "$here/nft/queue-compat.sh" add local 0-1 25
	if ! rg_start nfqueue "queue = 0-1\nworker_ring = 64\nmode = observe\nprefix4 = 32"; then
		nok "workers stalled: daemon starts" "$(tail -3 "$LAB_DIR/rg.log")"
		lab_srv sh "$here/nft/queue-compat.sh" del local 0-1 25
		return
	fi
	mv "$LAB_DIR/rg.conf" "$LAB_DIR/rg.conf.real"
	mkfifo "$LAB_DIR/rg.conf"
	kill -HUP $rgpid
	sleep 0.3
	h=$(lab_cli "$here/build/smtpc" -T 3000 -b $ATT4 -s $SRV4 harvest -n 100 -k 100 -P)
	g=$(lab_cli "$here/build/smtpc" -T 3000 -b $GOOD4 -s $SRV4 deliver -n 3)
	# Unstuck: the loop reads the file and goes on.
	timeout 5 sh -c "cat '$LAB_DIR/rg.conf.real' >'$LAB_DIR/rg.conf'"
	sleep 0.5
	"$top/rcptguard" status -s "$LAB_DIR/ctl" --json >"$res/stall.status"
	rg_stop
	lab_srv sh "$here/nft/queue-compat.sh" del local 0-1 25
	rm -f "$LAB_DIR/rg.conf"
	t "workers stalled: mail flows while the loop is stuck ($h; $g)" \
		bash -c "[[ '$h' == *probes=100*timeouts=0* || '$h' == *timeouts=0*probes=100* ]] && [ \$(( \$(echo '$h' | sed 's/.*rejected=\\([0-9]*\\).*/\\1/') + \$(echo '$h' | sed 's/.* accepted=\\([0-9]*\\).*/\\1/') )) = 100 ] && [[ '$g' == *delivered=3* ]]"
	t "workers stalled: a held verdict let go after verdict_hold ($(jq -c '.workers.hold_timeouts' "$res/stall.status" 2>/dev/null)), the rest at once ($(jq -c '.workers.unheld' "$res/stall.status" 2>/dev/null)), events past the ring dropped and counted ($(jq -c '.workers.ring_full' "$res/stall.status" 2>/dev/null)), the reload done after" \
		bash -c "jq -e '.workers.hold_timeouts >= 1 and .workers.hold_timeouts <= 4 and .workers.unheld > 10 and .workers.ring_full >= 36' '$res/stall.status' >/dev/null && grep -q 'reload: .* loaded' '$LAB_DIR/rg.log'"
	lab_srv nft delete table inet rcptguard 2>/dev/null
}
