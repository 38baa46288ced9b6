# The fleet, with the real LAPI of Debian's crowdsec 1.4.6 (sourced by
# tests/run.sh; uses its t, ok, nok). Three namespaces and LAPI:
#
#   MX1 (rgsrv): Postfix, rcptguard         198.18.0.1   fd00:18::1
#   CLI (rgcli): harvesters, senders, LAPI  198.18.0.2   198.18.1.2 (router)
#   MX2 (rgmx2): Postfix, rcptguard         198.18.1.1   fd00:1b::1
#   MX3 (rgmx3): Postfix, rcptguard         198.18.2.1   fd00:1c::1
#   MX4 (rgmx4): an SMTP sink and Debian's crowdsec-firewall-bouncer
#                instead of rcptguard       198.18.3.1   fd00:1d::1
#
# A harvester banned on MX1 must be dropped by MX2 and MX3 within 2 s; an
# unban on MX2 lifts it on MX1; a /64 stays a /64; MX2's allowlist wins.

# The lab, LAPI with a machine and a bouncer per host, both daemons
# running and linked. 0, or 1 with the reason on standard error. Sets
# rg1, rg2, lapi (pids) and L (LAPI's directory); fleet_down undoes it.
fleet_lab_up() {	# [extra config for both hosts]
	local here=$top i mx key
	. "$here/tests/lab/lab.sh"
	LAB_ID=fl$$
	LAB_SRV=rgsrv$LAB_ID LAB_CLI=rgcli$LAB_ID LAB_DIR=/tmp/rcptguard-lab.$LAB_ID
	MX2=rgmx2$LAB_ID MX3=rgmx3$LAB_ID MX4=rgmx4$LAB_ID
	L=$LAB_DIR/lapi rg1= rg2= rg3= fwb= lapi=
	# lab.sh runs lab_down once a shell; the live tests' may have run.
	LAB_DOWN_DONE=
	ATT4=198.18.0.66 ATT6=fd00:1a::66 SPARE4=198.18.0.67 ATT4B=198.18.0.68 ATT4C=198.18.0.69 GOOD4=198.18.0.77 MX2_4=198.18.1.1 MX3_4=198.18.2.1 MX4_4=198.18.3.1
	{ lab_up && postfix_up; } >"$LAB_DIR.log" 2>&1 || { tail -3 "$LAB_DIR.log" >&2; return 1; }
	lab_cli_addr $ATT4; lab_cli_addr $ATT6; lab_cli_addr $SPARE4; lab_cli_addr $ATT4B; lab_cli_addr $ATT4C; lab_cli_addr $GOOD4
	lab_srv ip -6 route add fd00:1a::/64 dev "v$LAB_ID-s"
	# MX2 and MX3, behind the client namespace, which routes between them.
	fleet_mx_up "$MX2" m 1 1b postfix || { echo "fleet: Postfix on MX2 did not start" >&2; return 1; }
	fleet_mx_up "$MX3" n 2 1c postfix || { echo "fleet: Postfix on MX3 did not start" >&2; return 1; }
	fleet_mx_up "$MX4" o 3 1d sink
	lab_cli sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

	# LAPI alone, in the client namespace, with a config of our own.
	mkdir -p "$L/etc" "$L/data" "$L/hub"
	echo "simulation: false" >"$L/etc/simulation.yaml"
	printf 'name: default_ip_remediation\nfilters:\n - Alert.Remediation == true && Alert.GetScope() == "Ip"\ndecisions:\n - type: ban\n   duration: 4h\non_success: break\n' >"$L/etc/profiles.yaml"
	cat >"$L/config.yaml" <<YAML
common:
  daemonize: false
  log_media: stdout
  log_level: info
config_paths:
  config_dir: $L/etc/
  data_dir: $L/data/
  hub_dir: $L/hub/
  simulation_path: $L/etc/simulation.yaml
db_config:
  type: sqlite
  db_path: $L/data/crowdsec.db
  use_wal: true
  flush:
    max_items: 100000
    max_age: 7d
api:
  client:
    credentials_path: $L/etc/local_api_credentials.yaml
  server:
    listen_uri: "$CLI4:8080"
    profiles_path: $L/etc/profiles.yaml
    trusted_ips:
      - "127.0.0.1"
YAML
	ip netns exec "$LAB_CLI" crowdsec -c "$L/config.yaml" -no-cs -info >"$L/lapi.log" 2>&1 &
	lapi=$!
	for i in $(seq 1 100); do grep -q 'Local API listening' "$L/lapi.log" && break; sleep 0.1; done
	grep -q 'Local API listening' "$L/lapi.log" || { tail -3 "$L/lapi.log" >&2; return 1; }
	for mx in mx1 mx2 mx3; do
		cscli -c "$L/config.yaml" machines add $mx --password "pw-$mx-0123456789" -f /dev/null >/dev/null 2>&1
		key=$(cscli -c "$L/config.yaml" bouncers add $mx -o raw 2>/dev/null)
		( umask 077; printf 'machine_id = %s\npassword = pw-%s-0123456789\napi_key = %s\n' $mx $mx "$key" >"$LAB_DIR/$mx.secret" )
	done
	fleet_conf() {	# mx extra
		printf 'capture = pcap\nservers = local\nstate_file = none\ncontrol_socket = %s\nuser = root\ncrowdsec_url = http://%s:8080\ncrowdsec_credentials = %s\n%b\n' \
			"$LAB_DIR/$1.ctl" "$CLI4" "$LAB_DIR/$1.secret" "${2:-}" >"$LAB_DIR/$1.conf"
	}
	fleet_conf mx1 "${1:-}"
	fleet_conf mx2 "allowlist = $SPARE4\n${1:-}"
	fleet_conf mx3 "${1:-}"
	ip netns exec "$LAB_SRV" "$top/rcptguard" run -f -c "$LAB_DIR/mx1.conf" 2>"$LAB_DIR/mx1.log" &
	rg1=$!
	ip netns exec "$MX2" "$top/rcptguard" run -f -c "$LAB_DIR/mx2.conf" 2>"$LAB_DIR/mx2.log" &
	rg2=$!
	ip netns exec "$MX3" "$top/rcptguard" run -f -c "$LAB_DIR/mx3.conf" 2>"$LAB_DIR/mx3.log" &
	rg3=$!
	for i in $(seq 1 50); do grep -q running: "$LAB_DIR/mx1.log" && grep -q running: "$LAB_DIR/mx2.log" &&
		grep -q running: "$LAB_DIR/mx3.log" && break; sleep 0.1; done
	# MX4 runs Debian's bouncer, with a key of its own and rcptguard's
	# origin, as a host without rcptguard would.
	key=$(cscli -c "$L/config.yaml" bouncers add mx4 -o raw 2>/dev/null)
	cat >"$LAB_DIR/fwb.yaml" <<YAML
mode: nftables
update_frequency: 1s
daemonize: false
log_mode: stdout
log_level: info
api_url: http://$CLI4:8080/
api_key: $key
disable_ipv6: false
deny_action: DROP
supported_decisions_types:
  - ban
origins:
  - rcptguard
nftables:
  ipv4:
    enabled: true
    set-only: false
    table: crowdsec
    chain: crowdsec-chain
  ipv6:
    enabled: true
    set-only: false
    table: crowdsec6
    chain: crowdsec6-chain
YAML
	if command -v crowdsec-firewall-bouncer >/dev/null; then
		ip netns exec "$MX4" crowdsec-firewall-bouncer -c "$LAB_DIR/fwb.yaml" >"$LAB_DIR/fwb.log" 2>&1 &
		fwb=$!
	fi
	sleep 1.5	# the first login and the startup stream
}

# One more MX host behind the client namespace, with a Postfix of its own
# or an SMTP sink.
fleet_mx_up() {	# netns veth-letter net-number ipv6-net postfix|sink
	ip netns add "$1"
	ip link add "w$LAB_ID-$2" netns "$1" type veth peer name "w$LAB_ID-$2c" netns "$LAB_CLI"
	ip netns exec "$1" ip link set lo up
	ip netns exec "$1" ip addr add 198.18.$3.1/24 dev "w$LAB_ID-$2"
	ip netns exec "$1" ip -6 addr add fd00:$4::1/64 dev "w$LAB_ID-$2" nodad
	ip netns exec "$1" ip link set "w$LAB_ID-$2" up
	lab_cli ip addr add 198.18.$3.2/24 dev "w$LAB_ID-$2c"
	lab_cli ip -6 addr add fd00:$4::2/64 dev "w$LAB_ID-$2c" nodad
	lab_cli ip link set "w$LAB_ID-$2c" up
	ip netns exec "$1" ip route add 198.18.0.0/24 via 198.18.$3.2
	ip netns exec "$1" ip -6 route add fd00:1a::/64 via fd00:$4::2
	lab_srv ip route add 198.18.$3.0/24 via $CLI4
	if [ "$5" = postfix ]; then
		PF_NS=$1 PF_DIR=$LAB_DIR/postfix-$1 PF_LISTEN="198.18.$3.1, [fd00:$4::1]" postfix_up >&2
	else
		ip netns exec "$1" "$top/build/smtpc" -s 198.18.$3.1 -p 25 sink -n 300 >/dev/null 2>&1 &
	fi
}

fleet_down() {
	local p
	# Every step whatever the ones before gave: it also runs from the
	# EXIT trap of scripts under set -e (bench/fleet.sh).
	for p in "${rg1:-}" "${rg2:-}" "${rg3:-}" "${fwb:-}" "${lapi:-}"; do
		if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi
	done
	pkill -f "sink -n 300" 2>/dev/null || true
	ip netns exec "$MX2" postfix -c "$LAB_DIR/postfix-$MX2" stop >/dev/null 2>&1 || true
	ip netns exec "$MX3" postfix -c "$LAB_DIR/postfix-$MX3" stop >/dev/null 2>&1 || true
	sleep 0.3
	ip netns del "$MX2" 2>/dev/null || true
	ip netns del "$MX3" 2>/dev/null || true
	ip netns del "$MX4" 2>/dev/null || true
	lab_down || true
}

fleet_tests() {
	local here=$top i
	trap 'fleet_down; rm -rf "$work"' EXIT
	if ! fleet_lab_up 2>"$work/fleet-lab.err"; then
		nok "fleet: the lab, LAPI and both daemons come up" "$(tail -3 "$work/fleet-lab.err")"
		fleet_down
		return
	fi
	ok "fleet: LAPI $(crowdsec -version 2>&1 | sed -n 's/.*version: //p' | head -1) listens on $CLI4:8080, the three hosts running"
	t "fleet: the hosts log in to LAPI and read its stream" fleet_linked
	t "fleet: before any ban, the harvester's address reaches MX2 and MX3" fleet_reach2 $ATT4 1

	# The harvest on MX1; from MX1's ban (the time in its log line) to
	# the element in MX2's set, seen by a watcher every 20 ms.
	local delay
	local w2 w3 delay3
	fleet_watch "$MX2" banned4_32 $ATT4 "$LAB_DIR/seen1" &
	w2=$!
	fleet_watch "$MX3" banned4_32 $ATT4 "$LAB_DIR/seen1b" &
	w3=$!
	lab_cli "$here/build/smtpc" -T 1500 -b $ATT4 -s $SRV4 harvest -n 60 -k 20 -P -g 3 >/dev/null
	wait $w2 $w3
	delay=$(fleet_delay "$LAB_DIR/mx1.log" $ATT4 "$LAB_DIR/seen1")
	delay3=$(fleet_delay "$LAB_DIR/mx1.log" $ATT4 "$LAB_DIR/seen1b")
	t "fleet: a harvester banned on MX1 is dropped by MX2 ${delay} ms after the ban (within 2 s)" \
		fleet_in_set "$MX2" banned4_32 $ATT4 "$delay"
	t "fleet: ... and by MX3 ${delay3} ms after it" fleet_in_set "$MX3" banned4_32 $ATT4 "$delay3"
	t "fleet: MX2 and MX3 drop its connections" fleet_reach2 $ATT4 0
	t "fleet: interop: MX4, running Debian's crowdsec-firewall-bouncer, drops the harvester too" fleet_interop
	t "fleet: MX2 logged the fleet ban with its origin and scenario" \
		grep -q "fleet ban $ATT4/32 duration=.* origin=rcptguard scenario=rcptguard/harvest" "$LAB_DIR/mx2.log"
	t "fleet: the legitimate sender delivers on all three" fleet_good

	# A /64 stays a /64.
	lab_cli "$here/build/smtpc" -T 1500 -b $ATT6 -s $SRV6 harvest -n 40 -k 20 -P -g 3 >/dev/null
	for i in $(seq 1 50); do
		ip netns exec "$MX2" nft list set inet rcptguard banned6_64 2>/dev/null | grep -q "fd00:1a::" && break
		sleep 0.05
	done
	t "fleet: the IPv6 harvester's /64 arrives on MX2 as a /64" fleet_in_set "$MX2" banned6_64 "fd00:1a::" 0

	# A longer re-ban extends the element elsewhere; a shorter one does
	# not shorten it. The bans come from "another rcptguard host": alerts
	# pushed as machine mx3.
	fleet_extend_run
	t "fleet: a longer re-ban extends the timeout on MX2 and MX1 ($FLEET_EXT); a shorter one does not shorten it" \
		fleet_extended

	# MX2's allowlist wins over the fleet.
	lab_cli "$here/build/smtpc" -T 1500 -b $SPARE4 -s $SRV4 harvest -n 40 -k 20 -P -g 3 >/dev/null
	sleep 2
	t "fleet: an address allowlisted on MX2 is banned on MX1, not on MX2 (logged, counted)" fleet_allowlisted

	# An unban on MX2 lifts the ban everywhere.
	"$top/rcptguard" unban -s "$LAB_DIR/mx2.ctl" $ATT4 >/dev/null 2>&1
	for i in $(seq 1 60); do
		ip netns exec "$LAB_SRV" nft list set inet rcptguard banned4_32 2>/dev/null | grep -q "$ATT4" || break
		sleep 0.05
	done
	t "fleet: an unban on MX2 lifts the ban on MX1 too" fleet_lifted
	t "fleet: status and metrics show the link" fleet_status

	# LAPI down: local bans go on, alerts wait; back (with a new token
	# secret): pushes resume, and MX2 gets the ban within 2 s of its return.
	kill "$lapi"; wait "$lapi" 2>/dev/null; lapi=
	lab_cli "$here/build/smtpc" -T 1500 -b $ATT4B -s $SRV4 harvest -n 40 -k 20 -P -g 3 >/dev/null
	sleep 1.2
	t "fleet: with LAPI down, MX1 still bans locally, the alert queued" fleet_down_local
	sleep 28	# a 30 s outage
	fleet_watch "$MX2" banned4_32 $ATT4B "$LAB_DIR/seen2" &
	local w=$! back
	ip netns exec "$LAB_CLI" crowdsec -c "$L/config.yaml" -no-cs -info >"$L/lapi2.log" 2>&1 &
	lapi=$!
	for i in $(seq 1 100); do grep -q 'Local API listening' "$L/lapi2.log" && break; sleep 0.05; done
	back=$(date +%s%N)
	wait $w
	delay=$(( ($(cat "$LAB_DIR/seen2" 2>/dev/null || echo 0) - back) / 1000000 ))
	t "fleet: LAPI back after 30 s: MX1 logs in again, MX2 drops the harvester ${delay} ms after LAPI's return (within 2 s)" \
		fleet_back "$delay"
	# Bad answers, from a stub in LAPI's place: counted, survived,
	# nothing lost locally.
	kill "$lapi"; wait "$lapi" 2>/dev/null; lapi=
	local m stub
	for m in push500 malformed truncated huge slow; do
		ip netns exec "$LAB_CLI" "$here/build/lapistub" $CLI4 8080 $m >"$LAB_DIR/stub-$m.log" 2>&1 &
		stub=$!
		for i in $(seq 1 50); do grep -q listening "$LAB_DIR/stub-$m.log" && break; sleep 0.05; done
		fleet_snapshot >"$LAB_DIR/before-$m.json"
		awk '/^VmHWM/ { print $2 }' /proc/$rg2/status >"$LAB_DIR/rss-$m"
		[ $m = push500 ] && lab_cli "$here/build/smtpc" -T 1500 -b $ATT4C -s $SRV4 harvest -n 40 -k 20 -P -g 3 >/dev/null
		sleep 2.5
		t "fleet: LAPI answers $m: counted, both daemons answer at once, local bans kept" fleet_bad $m
		kill $stub 2>/dev/null; wait $stub 2>/dev/null
	done
	# LAPI over TLS: MX2 verifies it against crowdsec_ca_file, and refuses
	# it against another CA.
	fleet_tls
	kill "$rg1" "$rg2" "$rg3" 2>/dev/null
	wait "$rg1" "$rg2" "$rg3" 2>/dev/null
	rg1= rg2= rg3=
	fleet_down
	trap 'rm -rf "$work"' EXIT
	t "fleet: no namespace left behind" fleet_no_netns
}

# An alert with its decision, as another rcptguard host (machine mx3)
# would push it: prints LAPI's status.
fleet_push_alert() {	# address duration-seconds
	local tok now
	tok=$(ip netns exec "$LAB_CLI" curl -s -m 5 -X POST \
		-d '{"machine_id":"mx3","password":"pw-mx3-0123456789","scenarios":[]}' \
		"http://$CLI4:8080/v1/watchers/login" | jq -r .token)
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	jq -cn --arg v "$1" --arg d "${2}s" --arg now "$now" '[{scenario: "rcptguard/harvest",
		scenario_hash: "", scenario_version: "test", message: "a ban of another host",
		events_count: 10, start_at: $now, stop_at: $now, capacity: 10, leakspeed: "60s",
		simulated: false, events: [], source: {scope: "Ip", value: $v, ip: $v},
		decisions: [{duration: $d, origin: "rcptguard", scenario: "rcptguard/harvest",
			     scope: "Ip", type: "ban", value: $v}]}]' |
		ip netns exec "$LAB_CLI" curl -s -m 5 -o /dev/null -w '%{http_code}' \
			-H "Authorization: Bearer $tok" -d @- "http://$CLI4:8080/v1/alerts"
}

# The seconds left of value's element in the set, or 0.
fleet_expires() {	# netns set value
	ip netns exec "$1" nft -j list set inet rcptguard "$2" 2>/dev/null |
		jq --arg v "$3" '[.nftables[].set.elem? // [] | .[] | .elem? | select(.val == $v) | .expires] | first // 0'
}

# Until the element's time left on MX2 passes min seconds (3 s at most).
fleet_wait_expires() {	# netns value min
	local i
	for i in $(seq 1 60); do
		[ "$(fleet_expires "$1" banned4_32 "$2")" -gt "$3" ] && return 0
		sleep 0.05
	done
	return 1
}

fleet_extend_run() {
	local v=198.18.0.70
	FLEET_EXT="push failed"
	FLEET_EXT1= FLEET_EXT2= FLEET_EXT1_MX1= FLEET_EXT3=
	[ "$(fleet_push_alert $v 3600)" = 201 ] || return 0
	fleet_wait_expires "$MX2" $v 3000
	FLEET_EXT1=$(fleet_expires "$MX2" banned4_32 $v)
	[ "$(fleet_push_alert $v 28800)" = 201 ] || return 0
	fleet_wait_expires "$MX2" $v 28000
	fleet_wait_expires "$LAB_SRV" $v 28000
	FLEET_EXT2=$(fleet_expires "$MX2" banned4_32 $v)
	FLEET_EXT1_MX1=$(fleet_expires "$LAB_SRV" banned4_32 $v)
	[ "$(fleet_push_alert $v 1800)" = 201 ] || return 0
	sleep 2.5
	FLEET_EXT3=$(fleet_expires "$MX2" banned4_32 $v)
	FLEET_EXT="MX2 ${FLEET_EXT1} s, then ${FLEET_EXT2} s; MX1 ${FLEET_EXT1_MX1} s; after the shorter one ${FLEET_EXT3} s"
}

fleet_extended() {
	echo "$FLEET_EXT"
	[ -n "$FLEET_EXT3" ] && [ "$FLEET_EXT1" -gt 3000 ] && [ "$FLEET_EXT1" -le 3600 ] &&
		[ "$FLEET_EXT2" -gt 28000 ] && [ "$FLEET_EXT1_MX1" -gt 28000 ] && [ "$FLEET_EXT3" -gt 28000 ]
}

fleet_linked() {
	grep -q 'crowdsec: http://' "$LAB_DIR/mx1.log" && grep -q 'crowdsec: http://' "$LAB_DIR/mx2.log" &&
		"$top/rcptguard" status -s "$LAB_DIR/mx1.ctl" --json | jq -e '.crowdsec.up == true and .crowdsec.logins >= 1 and .crowdsec.pulls >= 1' >/dev/null &&
		"$top/rcptguard" status -s "$LAB_DIR/mx2.ctl" --json | jq -e '.crowdsec.up == true and .crowdsec.pulls >= 1' >/dev/null &&
		"$top/rcptguard" status -s "$LAB_DIR/mx3.ctl" --json | jq -e '.crowdsec.up == true and .crowdsec.pulls >= 1' >/dev/null
}

fleet_reach() {	# from to expect-delivered
	local out
	out=$(lab_cli "$top/build/smtpc" -T 1000 -b "$1" -s "$2" deliver -n 1)
	[[ $out == *delivered=$3* ]] || { echo "$out"; false; }
}

fleet_reach2() {	# from expect-delivered
	fleet_reach "$1" $MX2_4 "$2" && fleet_reach "$1" $MX3_4 "$2"
}

fleet_in_set() {	# netns set value delay-ms
	ip netns exec "$1" nft list set inet rcptguard "$2" | grep -q "$3" && [ "$4" -le 2000 ]
}

fleet_good() {
	local a b
	local a b c
	a=$(lab_cli "$top/build/smtpc" -b $GOOD4 -s $SRV4 deliver -n 2)
	b=$(lab_cli "$top/build/smtpc" -b $GOOD4 -s $MX2_4 deliver -n 2)
	c=$(lab_cli "$top/build/smtpc" -b $GOOD4 -s $MX3_4 deliver -n 2)
	[[ $a == *delivered=2* && $b == *delivered=2* && $c == *delivered=2* ]] || { echo "$a / $b / $c"; false; }
}

fleet_allowlisted() {
	ip netns exec "$LAB_SRV" nft list set inet rcptguard banned4_32 | grep -q "$SPARE4" &&
		! ip netns exec "$MX2" nft list set inet rcptguard banned4_32 | grep -q "$SPARE4" &&
		grep -q "fleet ban $SPARE4/32 .*not applied: allowlisted" "$LAB_DIR/mx2.log" &&
		"$top/rcptguard" status -s "$LAB_DIR/mx2.ctl" --json | jq -e '.crowdsec.allowlisted >= 1' >/dev/null
}

fleet_lifted() {
	! ip netns exec "$LAB_SRV" nft list set inet rcptguard banned4_32 | grep -q "$ATT4" &&
		grep -q "fleet unban $ATT4/32" "$LAB_DIR/mx1.log" || { tail -5 "$LAB_DIR/mx1.log"; false; }
}

fleet_status() {
	"$top/rcptguard" status -s "$LAB_DIR/mx1.ctl" | grep -q '^crowdsec: url http://' &&
		"$top/rcptguard" metrics -s "$LAB_DIR/mx1.ctl" | grep -q '^rcptguard_crowdsec_pushed_total [1-9]' &&
		"$top/rcptguard" metrics -s "$LAB_DIR/mx2.ctl" | grep -q '^rcptguard_crowdsec_applied_total [1-9]'
}

fleet_no_netns() {
	! ip netns list | grep -q "fl$$"
}

# Until the element is in the set (at most 10 s): its time, in ns, to file.
fleet_watch() {	# netns set value file
	local i
	for i in $(seq 1 500); do
		if ip netns exec "$1" nft list set inet rcptguard "$2" 2>/dev/null | grep -q "$3"; then
			date +%s%N >"$4"
			return 0
		fi
		sleep 0.02
	done
	return 1
}

# Milliseconds from the ban's own time (its log line) to the watcher's.
fleet_delay() {	# log key seen-file
	local iso seen
	iso=$(grep -m1 " ban $2/" "$1" | awk '{ for (i = 1; i <= NF; i++) if ($i == "ban") { print $(i - 1); exit } }')
	seen=$(cat "$3" 2>/dev/null) || { echo 99999; return; }
	[ -n "$iso" ] || { echo 99999; return; }
	echo $(( (seen - $(date -d "$iso" +%s%N)) / 1000000 ))
}

fleet_down_local() {
	ip netns exec "$LAB_SRV" nft list set inet rcptguard banned4_32 | grep -q "$ATT4B" &&
		"$top/rcptguard" status -s "$LAB_DIR/mx1.ctl" --json | jq -e '.crowdsec.up == false and .crowdsec.queued >= 1' >/dev/null
}

fleet_back() {	# delay-ms
	[ "$1" -ge 0 ] && [ "$1" -le 2000 ] &&
		"$top/rcptguard" status -s "$LAB_DIR/mx1.ctl" --json | jq -e '.crowdsec.logins >= 2 and .crowdsec.queued == 0' >/dev/null
}

# Both hosts' crowdsec counters, for a before/after.
fleet_snapshot() {
	printf '{"mx1":%s,"mx2":%s}\n' \
		"$("$top/rcptguard" status -s "$LAB_DIR/mx1.ctl" --json | jq -c .crowdsec)" \
		"$("$top/rcptguard" status -s "$LAB_DIR/mx2.ctl" --json | jq -c .crowdsec)"
}

fleet_bad() {	# mode
	local now rss
	# Both answer within a second: the loop never waits for LAPI.
	now=$(timeout 1 "$top/rcptguard" status -s "$LAB_DIR/mx1.ctl" --json) || { echo "mx1 does not answer"; return 1; }
	timeout 1 "$top/rcptguard" status -s "$LAB_DIR/mx2.ctl" >/dev/null || { echo "mx2 does not answer"; return 1; }
	kill -0 $rg1 && kill -0 $rg2 || { echo "a daemon died"; return 1; }
	# The bans in force stay in the kernel.
	ip netns exec "$LAB_SRV" nft list set inet rcptguard banned6_64 | grep -q "fd00:1a::" || { echo "lost a ban"; return 1; }
	case $1 in
	push500)
		# Dropped as invalid, never retried; the local ban is in force.
		ip netns exec "$LAB_SRV" nft list set inet rcptguard banned4_32 | grep -q "$ATT4C" &&
			jq -e '.crowdsec.invalid >= 1 and .crowdsec.queued == 0' <<<"$now" >/dev/null &&
			grep -q "LAPI refused 1 alert as invalid (500 " "$LAB_DIR/mx1.log" ;;
	slow)
		true ;;
	huge)
		# 50 MB read, none of it kept.
		rss=$(awk '/^VmHWM/ { print $2 }' /proc/$rg2/status)
		echo "MX2 peak RSS ${rss} kB, $(cat "$LAB_DIR/rss-$1") kB (peak) before; $(fleet_snapshot)"
		jq -s -e '.[0].mx2.pull_errors < .[1].mx2.pull_errors' "$LAB_DIR/before-$1.json" <(fleet_snapshot) >/dev/null &&
			[ "$rss" -lt $(( $(cat "$LAB_DIR/rss-$1") + 16384 )) ] ;;
	*)
		jq -s -e '.[0].mx2.pull_errors < .[1].mx2.pull_errors' "$LAB_DIR/before-$1.json" <(fleet_snapshot) >/dev/null ;;
	esac
}

fleet_interop() {
	local i
	[ -n "$fwb" ] || { echo "crowdsec-firewall-bouncer is not installed (make deps)"; return 1; }
	for i in $(seq 1 60); do
		ip netns exec "$MX4" nft list set ip crowdsec crowdsec-blacklists 2>/dev/null | grep -q "$ATT4" && break
		sleep 0.05
	done
	ip netns exec "$MX4" nft list set ip crowdsec crowdsec-blacklists | grep -q "$ATT4" &&
		fleet_reach "$ATT4" $MX4_4 0 || { tail -3 "$LAB_DIR/fwb.log"; false; }
}

fleet_tls() {
	local i ca=$LAB_DIR/ca-cert.pem other=$LAB_DIR/other-cert.pem
	# A CA of the test's own; LAPI's certificate and MX2's client
	# certificate (OU rcptguard, for LAPI's agents_allowed_ou and
	# bouncers_allowed_ou) signed by it.
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=fleet-ca \
		-keyout "$LAB_DIR/ca-key.pem" -out "$ca" >/dev/null 2>&1
	openssl req -newkey rsa:2048 -nodes -subj /CN=lapi -keyout "$LAB_DIR/lapi-key.pem" \
		-out "$LAB_DIR/lapi.csr" >/dev/null 2>&1
	printf 'subjectAltName=IP:%s\n' "$CLI4" >"$LAB_DIR/lapi.ext"
	openssl x509 -req -in "$LAB_DIR/lapi.csr" -CA "$ca" -CAkey "$LAB_DIR/ca-key.pem" -CAcreateserial \
		-days 2 -extfile "$LAB_DIR/lapi.ext" -out "$LAB_DIR/lapi-cert.pem" >/dev/null 2>&1
	openssl req -newkey rsa:2048 -nodes -subj "/OU=rcptguard/CN=mx2" -keyout "$LAB_DIR/mx2-key.pem" \
		-out "$LAB_DIR/mx2.csr" >/dev/null 2>&1
	printf 'extendedKeyUsage=clientAuth\n' >"$LAB_DIR/mx2.ext"
	openssl x509 -req -in "$LAB_DIR/mx2.csr" -CA "$ca" -CAkey "$LAB_DIR/ca-key.pem" -CAcreateserial \
		-days 2 -extfile "$LAB_DIR/mx2.ext" -out "$LAB_DIR/mx2-cert.pem" >/dev/null 2>&1
	chmod 600 "$LAB_DIR/mx2-key.pem"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=lapi -addext "subjectAltName=IP:$CLI4" \
		-keyout "$LAB_DIR/other-key.pem" -out "$other" >/dev/null 2>&1
	sed "s|^    profiles_path:|    tls:\n      cert_file: $LAB_DIR/lapi-cert.pem\n      key_file: $LAB_DIR/lapi-key.pem\n      ca_cert_path: $ca\n      client_verification: VerifyClientCertIfGiven\n      agents_allowed_ou:\n        - rcptguard\n      bouncers_allowed_ou:\n        - rcptguard\n    profiles_path:|" \
		"$L/config.yaml" >"$L/config-tls.yaml"
	ip netns exec "$LAB_CLI" crowdsec -c "$L/config-tls.yaml" -no-cs -info >"$L/lapi-tls.log" 2>&1 &
	lapi=$!
	for i in $(seq 1 100); do grep -q 'Local API listening' "$L/lapi-tls.log" && break; sleep 0.05; done
	fleet_tls_mx2 "crowdsec_ca_file = $ca"
	t "fleet: LAPI over https: MX2 reads the stream, the server verified against crowdsec_ca_file" \
		fleet_tls_ok
	# No password, no API key: the certificate alone, as machine and as
	# bouncer (LAPI registers both as CN@address).
	( umask 077; echo "# the client certificate is all" >"$LAB_DIR/mx2-cert.secret" )
	fleet_tls_mx2 "crowdsec_ca_file = $ca\ncrowdsec_cert_file = $LAB_DIR/mx2-cert.pem\ncrowdsec_key_file = $LAB_DIR/mx2-key.pem\ncrowdsec_credentials = $LAB_DIR/mx2-cert.secret"
	t "fleet: a TLS client certificate alone logs MX2 in as machine and as bouncer (LAPI: $(fleet_tls_cn))" \
		fleet_tls_cert
	fleet_tls_mx2 "crowdsec_ca_file = $other"
	t "fleet: LAPI over https with a certificate of another CA: refused, counted, logged" fleet_tls_refused
}

fleet_tls_mx2() {	# extra config
	local i
	kill "$rg2" 2>/dev/null; wait "$rg2" 2>/dev/null
	fleet_conf mx2 "allowlist = $SPARE4\n$1"
	sed -i "s|^crowdsec_url = .*|crowdsec_url = https://$CLI4:8080|" "$LAB_DIR/mx2.conf"
	: >"$LAB_DIR/mx2.log"
	ip netns exec "$MX2" "$top/rcptguard" run -f -c "$LAB_DIR/mx2.conf" 2>"$LAB_DIR/mx2.log" &
	rg2=$!
	for i in $(seq 1 50); do grep -q running: "$LAB_DIR/mx2.log" && break; sleep 0.1; done
	sleep 2
}

fleet_tls_ok() {
	"$top/rcptguard" status -s "$LAB_DIR/mx2.ctl" --json | jq -e '.crowdsec.up == true and .crowdsec.pulls >= 1 and .crowdsec.url == "https://'$CLI4':8080"' >/dev/null ||
		{ tail -3 "$LAB_DIR/mx2.log"; tail -3 "$L/lapi-tls.log"; false; }
}

# The machines and bouncers LAPI registered from certificates.
fleet_tls_cn() {
	echo "machines $(cscli -c "$L/config-tls.yaml" machines list -o json 2>/dev/null | jq -r '[.[] | select(.auth_type == "tls") | .machineId] | join(",")')," \
		"bouncers $(cscli -c "$L/config-tls.yaml" bouncers list -o json 2>/dev/null | jq -r '[.[] | select(.auth_type == "tls") | .name] | join(",")')"
}

fleet_tls_cert() {
	"$top/rcptguard" status -s "$LAB_DIR/mx2.ctl" --json | jq -e '.crowdsec.up == true and .crowdsec.logins >= 1 and .crowdsec.pulls >= 1' >/dev/null &&
		cscli -c "$L/config-tls.yaml" machines list -o json 2>/dev/null | jq -e '[.[] | select(.auth_type == "tls" and (.machineId | startswith("mx2@")))] | length == 1' >/dev/null &&
		cscli -c "$L/config-tls.yaml" bouncers list -o json 2>/dev/null | jq -e '[.[] | select(.auth_type == "tls" and (.name | startswith("mx2@")))] | length == 1' >/dev/null ||
		{ tail -3 "$LAB_DIR/mx2.log"; tail -3 "$L/lapi-tls.log"; false; }
}

fleet_tls_refused() {
	"$top/rcptguard" status -s "$LAB_DIR/mx2.ctl" --json | jq -e '.crowdsec.up == false and .crowdsec.pulls == 0 and .crowdsec.pull_errors >= 1' >/dev/null &&
		grep -qi 'certificate' "$LAB_DIR/mx2.log" || { tail -3 "$LAB_DIR/mx2.log"; false; }
}
