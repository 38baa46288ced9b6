#!/bin/bash
# make bench-peers: the same harvest attack and the same legitimate mail
# against Postfix alone (Debian's error limits, and hardened ones),
# fail2ban (Debian's package, postfix jail, nftables action) and rcptguard
# (NFQUEUE and pcap), each in the same namespace lab with a real Postfix.
#
# Attack: PEERS_SOURCES sources (default 20) in 198.18.0.0/24, each
# guessing PEERS_PROBES names (default 2000) at PEERS_RATE per second
# (default 50), 20 a session, reconnecting, for at most PEERS_SECONDS
# (default 60). A legitimate sender delivers one message every 0.5 s.
# Threshold 10 rejected recipients in 10 minutes, ban 1 hour, everywhere.
#
# PEERS_RATE=0 is full speed (the anchor: one harvester, as fast as
# Postfix answers). Cases named *-pfdefault run with Postfix's default
# error limits under the defender; the others with no tarpit and high
# limits, so that the defender is the only defence.
#
# Printed per defender, and written to bench/results/peers-*.txt with a
# plot (peers-*.png) of probes answered by Postfix over time:
#   probes answered by Postfix, and past each source's threshold;
#   connections Postfix accepted after a source crossed its threshold;
#   threshold to ban (median, p99): from the capture time of the reply
#     that crossed it (rcptguard replay of a capture taken on the mail
#     host) to the element appearing in the kernel (nft monitor);
#   valid addresses harvested; CPU seconds of the defender and of
#   Postfix (its cgroup); legitimate messages delivered.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
NSRC=${PEERS_SOURCES:-20} PROBES=${PEERS_PROBES:-2000} RATE=${PEERS_RATE:-50} DUR=${PEERS_SECONDS:-60}
CASES=${PEERS_CASES:-postfix-default postfix-hardened fail2ban rcptguard-nfqueue rcptguard-pcap}
. tests/lab/lab.sh
cg=/sys/fs/cgroup/cpuacct/rgpeers.$$
cleanup() {
	kill $(jobs -p) 2>/dev/null || true
	[ -f "$LAB_DIR/f2b/pid" ] && kill "$(cat "$LAB_DIR/f2b/pid")" 2>/dev/null || true
	pkill -f "rcptguard run -f -c $LAB_DIR/" 2>/dev/null || true
	lab_down
	if [ -d "$cg" ]; then
		for p in $(cat "$cg/tasks" 2>/dev/null); do echo "$p" >/sys/fs/cgroup/cpuacct/tasks 2>/dev/null || true; done
		rmdir "$cg" 2>/dev/null || true
	fi
}
trap cleanup EXIT
command -v fail2ban-server >/dev/null || { echo "bench-peers: fail2ban is missing (make bench-peers installs it)" >&2; exit 1; }
lab_up
postfix_up
GOOD4=198.18.0.77
lab_cli_addr $GOOD4
att=()
for i in $(seq 1 "$NSRC"); do att+=(198.18.0.$((99 + i))); lab_cli_addr 198.18.0.$((99 + i)); done
mkdir -p bench/results "$cg"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=bench/results/peers-$stamp.txt
exec > >(tee "$out")
echo "# $(uname -srm), $(nproc) cores; Postfix $(postconf -d mail_version | cut -d' ' -f3), $(fail2ban-server -V | head -1)"
echo "# attack: $NSRC sources x $PROBES probes at $( [ "$RATE" = 0 ] && echo 'full speed' || echo "$RATE/s") each, 20 a session, at most ${DUR}s; threshold 10 in 10m, ban 1h"
echo "# ban_p50/p99: from the deciding reply on the wire to the element in the kernel; negative: the ban was in"
echo "#   before that reply left the host (NFQUEUE holds it until rcptguard's verdict)"
printf '%-18s %8s %8s %8s %10s %10s %8s %9s %9s %7s\n' defender answered past_thr conn_aft ban_p50_ms ban_p99_ms harvest cpu_def_s cpu_pfx_s legit

pf() { lab_srv postconf -c "$LAB_DIR/postfix" -e "$@"; lab_srv postfix -c "$LAB_DIR/postfix" reload >/dev/null 2>&1; sleep 0.5; }

# Postfix's master and every process it starts, in one cpuacct cgroup.
lab_srv sh -c "cat $LAB_DIR/postfix/spool/pid/master.pid" | tr -d ' ' >"$cg/tasks"

f2b_start() {
	local d=$LAB_DIR/f2b
	rm -rf "$d"; mkdir -p "$d"
	cp -r /etc/fail2ban/filter.d /etc/fail2ban/action.d "$d/"
	cp /etc/fail2ban/jail.conf /etc/fail2ban/paths-common.conf /etc/fail2ban/paths-debian.conf "$d/"
	cat >"$d/fail2ban.conf" <<EOF
[Definition]
loglevel = INFO
logtarget = $d/fail2ban.log
socket = $d/sock
pidfile = $d/pid
dbfile = :memory:
EOF
	cat >"$d/jail.local" <<EOF
[DEFAULT]
banaction = nftables-multiport
banaction_allports = nftables-allports
backend = pyinotify
ignoreip = 127.0.0.1/8 ::1 $GOOD4
[postfix]
enabled = true
mode = more
port = smtp
logpath = $LAB_DIR/postfix/maillog
maxretry = 10
findtime = 600
bantime = 3600
EOF
	ip netns exec "$LAB_SRV" fail2ban-server -f -x -c "$d" -s "$d/sock" -p "$d/pid" >"$d/server.out" 2>&1 &
	defpid=$!
	for i in $(seq 1 100); do grep -q "Jail 'postfix' started" "$d/fail2ban.log" 2>/dev/null && return 0; sleep 0.1; done
	echo "fail2ban did not start:" >&2; tail -n 5 "$d/server.out" "$d/fail2ban.log" >&2; return 1
}

rg_start() {	# nfqueue|pcap
	printf 'capture = %s\nmanage_queue = yes\nservers = local\nallowlist = %s\nstate_file = none\ncontrol_socket = none\nuser = root\n' \
		"$1" "$GOOD4" >"$LAB_DIR/rg.conf"
	lab_srv nft delete table inet rcptguard 2>/dev/null || true
	ip netns exec "$LAB_SRV" "$top/rcptguard" run -f -c "$LAB_DIR/rg.conf" 2>"$LAB_DIR/rg.log" &
	defpid=$!
	for i in $(seq 1 50); do grep -q running: "$LAB_DIR/rg.log" && return 0; sleep 0.1; done
	return 1
}

cpu_of() {	# pid: user+system seconds
	awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

run_case() {
	local name=$1 d=$LAB_DIR/case-$1 lines cpu0 cpu1 dcpu=0 i
	mkdir -p "$d"
	defpid=
	case $name in
	postfix-default | *-pfdefault) pf smtpd_error_sleep_time=1s smtpd_soft_error_limit=10 smtpd_hard_error_limit=20 ;;
	postfix-hardened) pf smtpd_error_sleep_time=5s smtpd_soft_error_limit=3 smtpd_hard_error_limit=5 ;;
	*) pf smtpd_error_sleep_time=0 smtpd_soft_error_limit=1000 smtpd_hard_error_limit=1000 ;;
	esac
	# A fresh log for each case: fail2ban reads its log from the start, and
	# would otherwise ban every attacker for the earlier cases' probes.
	lab_srv postfix -c "$LAB_DIR/postfix" logrotate >/dev/null 2>&1
	sleep 0.3
	touch "$LAB_DIR/postfix/maillog"	# fail2ban wants it to exist
	case $name in
	fail2ban*) f2b_start ;;
	rcptguard-nfqueue) rg_start nfqueue ;;
	rcptguard-pcap) rg_start pcap ;;
	esac
	# New Postfix processes since the reload: into the cgroup.
	for p in $(pgrep -f "postfix" || true); do echo "$p" >"$cg/tasks" 2>/dev/null || true; done
	log_settle
	lines=$(postfix_log | wc -l)
	mbox0=$(mailbox_count)
	ip netns exec "$LAB_SRV" tcpdump -i "v$LAB_ID-s" -s 256 -w "$d/cap.pcap" --immediate-mode -Z root \
		'tcp port 25' >/dev/null 2>&1 &
	tcpd=$!
	ip netns exec "$LAB_SRV" nft monitor 2>/dev/null |
		perl -MTime::HiRes=time -ne '$| = 1; printf "%.6f %s", time, $_ if /add element/' >"$d/monitor" &
	sleep 0.5
	cpu0=$(cat "$cg/cpuacct.usage")
	t0=$(perl -MTime::HiRes=time -e 'printf "%.6f", time')
	( sent=0; ok=0; end=$((SECONDS + DUR))
	  while [ $SECONDS -lt $end ]; do
		r=$(lab_cli "$top/build/smtpc" -b $GOOD4 -s $SRV4 deliver -n 1 2>/dev/null || true)
		sent=$((sent + 1)); case $r in *delivered=1*) ok=$((ok + 1)) ;; esac
		sleep 0.5
		[ -e "$d/attack-done" ] && break
	  done; echo "$sent $ok" >"$d/legit" ) &
	lpid=$!
	local apids=()
	for a in "${att[@]}"; do
		lab_cli "$top/build/smtpc" -T 1000 -b "$a" -s $SRV4 harvest -n "$PROBES" -k 20 -r "$RATE" -D "$DUR" -g 1000000 \
			>"$d/att-$a" 2>&1 &
		apids+=($!)
	done
	wait "${apids[@]}" 2>/dev/null || true
	touch "$d/attack-done"
	wait $lpid || true
	log_settle
	cpu1=$(cat "$cg/cpuacct.usage")
	[ -n "$defpid" ] && dcpu=$(cpu_of "$defpid")
	if [ "${name#fail2ban}" != "$name" ]; then
		dcpu=$(cpu_of "$(cat "$LAB_DIR/f2b/pid")")
		kill "$(cat "$LAB_DIR/f2b/pid")" 2>/dev/null || true
	fi
	[ -n "$defpid" ] && { kill "$defpid" 2>/dev/null || true; wait "$defpid" 2>/dev/null || true; }
	sleep 0.3
	kill $tcpd 2>/dev/null || true
	pkill -f "nft monitor" 2>/dev/null || true
	wait $tcpd 2>/dev/null || true
	lab_srv nft delete table inet rcptguard 2>/dev/null || true
	lab_srv nft delete table inet f2b-table 2>/dev/null || true

	postfix_log | tail -n +$((lines + 1)) >"$d/maillog"
	# Per source, in log order: its rejects, and its connects after the
	# tenth reject.
	local answered=0 past=0 conn=0 harvested
	for a in "${att[@]}"; do
		read -r r p c < <(awk -v a="[$a]" '
			index($0, ": connect from ") && index($0, a) { if (n >= 10) c++ }
			index($0, "reject: RCPT from ") && index($0, a) { n++ }
			END { printf "%d %d %d\n", n, (n > 10 ? n - 10 : 0), c }' "$d/maillog")
		answered=$((answered + r)); past=$((past + p)); conn=$((conn + c))
	done
	harvested=$(cat "$d"/att-* | sed -n 's/.*harvested=//p' | tr ',' '\n' | grep -v '^-$' | sort -u | grep -c . || true)
	acc=$(cat "$d"/att-* | sed -n 's/.* accepted=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
	answered=$((answered + acc))
	# Threshold times: the ban decisions rcptguard's replay makes on this
	# very capture (same rule); ban times: the kernel's element events.
	"$top/rcptguard" replay --json "$d/cap.pcap" 2>/dev/null | jq -r 'select(.type == "ban") | "\(.key) \(.time)"' >"$d/thresholds" || true
	local lat
	lat=$(while read -r key when; do
		a=${key%/*}
		thr=$(date -d "$when" +%s.%N)
		ban=$(awk -v a="$a" '$0 ~ ("[{ ]" a "[ ,}]") { print $1; exit }' "$d/monitor")
		[ -n "$ban" ] && awk -v b="$ban" -v t="$thr" 'BEGIN { printf "%.3f\n", (b - t) * 1000 }'
	done <"$d/thresholds" | sort -n)
	local n50="-" n99="-" nl
	nl=$(printf '%s\n' "$lat" | grep -c . || true)
	if [ "$nl" -gt 0 ]; then
		n50=$(printf '%s\n' "$lat" | awk -v n="$nl" 'NR == int((n + 1) / 2) { print; exit }')
		n99=$(printf '%s\n' "$lat" | awk -v n="$nl" 'NR == (int(n * 0.99) > 0 ? int(n * 0.99) : 1) { print; exit }')
	fi
	read -r lsent lok <"$d/legit"
	printf '%-18s %8d %8d %8d %10s %10s %8d %9s %9.2f %3d/%-3d\n' "$name" "$answered" "$past" "$conn" "$n50" "$n99" \
		"$harvested" "$dcpu" "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print (b - a) / 1e9 }')" "$lok" "$lsent"
	# Probes answered over time, for the plot: 550s leaving Postfix.
	tshark -r "$d/cap.pcap" -Y 'smtp.response.code == 550' -T fields -e frame.time_epoch 2>/dev/null |
		awk -v t0="$t0" '{ s = int(($1 - t0) * 10); c[s]++ } END { n = 0; for (i = 0; i <= ('"$DUR"' + 5) * 10; i++) { n += c[i]; print i / 10, n } }' \
		>"bench/results/peers-$stamp-$name.dat"
}

for c in $CASES; do run_case "$c"; done

if command -v gnuplot >/dev/null; then
	plot=""
	for c in $CASES; do plot="$plot${plot:+, }'bench/results/peers-$stamp-$c.dat' with lines lw 2 title '$c'"; done
	gnuplot -e "set terminal png size 900,540; set output 'bench/results/peers-$stamp.png';
		set title 'Rejected probes answered by Postfix ($NSRC sources, $( [ "$RATE" = 0 ] && echo 'full speed' || echo "$RATE probes/s each"))';
		set xlabel 'seconds'; set ylabel 'probes answered (cumulative)'; set key top left; set logscale y;
		plot $plot" && echo "plot: bench/results/peers-$stamp.png"
fi
echo "written to $out"
