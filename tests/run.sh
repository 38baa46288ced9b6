#!/bin/bash
# The whole test suite. Every check counts as one test; the unit binaries
# add their own counts. Ends with "N passed, N failed" for CI.
#
# Two tiers. TEST_TIER=offline (make test, and the Debian package build):
# no root, no namespaces, no network, no apt: unit tests plain and under
# ASan/UBSan, the live side against a fake nf_tables and golden rulesets,
# the command line, bad input, every capture fixture, floods, fuzz
# regressions, the man pages. The default, all (make check), adds what
# needs root: real Postfix in network namespaces, the live daemon, the
# kernel's nf_tables, timed fuzzing, lint, the package. A test whose tool
# is missing in the offline tier is listed as skipped, never as passed.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
rg=$top/rcptguard
asan_rg=$top/build/asan/rcptguard
work=$(mktemp -d /tmp/rcptguard-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0 skipped=0
tier=${TEST_TIER:-all}
case $tier in all | offline) ;; *) echo "TEST_TIER must be all or offline" >&2; exit 2 ;; esac
# online: the sections that need root, namespaces or the kernel.
online() { [ "$tier" = all ]; }
skip() { online && return 0; skipped=$((skipped + 1)); printf 'skip %s (%s)\n' "$1" "$2"; }
# have TOOL...: all there, else the caller skips (offline tier only: in
# the full suite a missing tool is a failure of make deps).
have() {
	local x
	for x; do
		command -v "$x" >/dev/null 2>&1 || { online && { nok "$x is missing (make deps)"; return 1; }; return 1; }
	done
}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1

ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
nok() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '     %s\n' "$2"; }
# t NAME COMMAND...: one test, passing when the command succeeds.
t() {
	local name=$1
	shift
	if out=$("$@" 2>&1); then ok "$name"; else nok "$name" "$(printf '%s' "$out" | tail -5)"; fi
}
# FLEET_ONLY=1: the fleet tests alone (see tests/fleet.sh).
if [ -n "${FLEET_ONLY:-}" ]; then
	. tests/fleet.sh
	fleet_tests
	echo "$pass passed, $fail failed"
	exit $((fail > 0))
fi
# LIVE_ONLY=...: only those live tests (see tests/live.sh).
if [ -n "${LIVE_ONLY:-}" ]; then
	. tests/live.sh
	live_tests
	echo "$pass passed, $fail failed"
	exit $((fail > 0))
fi
# Add a unit binary's own counts.
unit() {
	local name=$1 bin=$2 out last p f
	out=$("$bin" 2>&1)
	# Show failures only; the binary's own closing line is summed below.
	printf '%s\n' "$out" | grep -Ev '^ok |^[0-9]+ passed, [0-9]+ failed$' | sed "s/^/[$name] /" || true
	last=$(printf '%s\n' "$out" | tail -1)
	if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
		pass=$((pass + p)) fail=$((fail + f))
		printf '%s: %s of %s tests passed\n' "$name" "$p" "$((p + f))"
		[ "$p" -gt 0 ] || nok "$name ran no test"
	else
		nok "$name did not finish" "$last"
	fi
}

echo "== unit tests"
unit unit build/unit
echo "== unit tests under AddressSanitizer and UBSan"
unit unit-asan build/asan/unit
echo "== the live side without a kernel (fake nf_tables, golden rulesets)"
unit liveunit build/liveunit
unit liveunit-asan build/asan/liveunit

echo "== command line"
version_prints() {
	$rg --version | grep -q '^rcptguard [0-9]'
}
t "--version prints the version" version_prints
help_lists_replay() {
	$rg --help | grep -q replay
}
t "--help lists replay" help_lists_replay
unknown_command_exits_1() {
	$rg frobnicate 2>/dev/null; [ $? -eq 1 ]
}
t "unknown command exits 1" unknown_command_exits_1
cat >"$work/good.conf" <<CONF
smtp_ports = 25 587
allowlist = 198.18.0.0/24
rule harvest {
	class = rcpt_rejected
	threshold = 5
}
CONF
check_config_prints() {
	$rg check-config -c $work/good.conf | grep -q 'threshold = 5'
}
t "check-config prints the effective config" check_config_prints
printf 'smtp_ports = 25\nthreshold = 3\nrule x {\n\tclass = nope\n}\n' >"$work/bad.conf"
check_config_reports_file_line() {
	out=$($rg check-config -c $work/bad.conf 2>&1); [ $? -eq 1 ] && echo "$out" | grep -q "^$work/bad.conf:2: unknown key .threshold." && echo "$out" | grep -q "^$work/bad.conf:4: unknown event class"
}
t "check-config reports FILE:LINE and fails" check_config_reports_file_line
printf '# office\n198.18.4.0/24\n198.18.4.7  # a host in it\n\n198.18.4.0/24\n198.18.6.1/24\nfd00:18::/48\n' >"$work/allow.txt"
printf 'allowlist = 198.18.0.0/16\nallowlist_file = %s\n' "$work/allow.txt" >"$work/allow.conf"
allowlist_file_warnings() {
	out=$($rg check-config -c $work/allow.conf 2>$work/allow.err) && grep -q '^allowlist = 198.18.0.0/16 198.18.4.0/24 198.18.4.7/32 198.18.4.0/24 198.18.6.0/24 fd00:18::/48$' <<<"$out" && grep -q "^$work/allow.txt:2: warning: allowlist entry 198.18.4.0/24 is inside 198.18.0.0/16 ($work/allow.conf:1)" $work/allow.err && grep -q "^$work/allow.txt:5: warning: allowlist entry 198.18.4.0/24 repeats 198.18.4.0/24 ($work/allow.txt:2)" $work/allow.err && grep -q "^$work/allow.txt:6: warning: 198.18.6.1/24 has host bits set; taken as 198.18.6.0/24" $work/allow.err && [ $(wc -l <$work/allow.err) -eq 5 ]
}
t "allowlist file: overlaps, repeats and host bits reported as FILE:LINE warnings, entries kept" allowlist_file_warnings
echo 'not-an-address' >>"$work/allow.txt"
allowlist_file_malformed_line() {
	out=$($rg check-config -c $work/allow.conf 2>&1); [ $? -eq 1 ] && grep -q "^$work/allow.txt:8: not an address or prefix: .not-an-address." <<<"$out"
}
t "allowlist file: a malformed line is an error with FILE:LINE" allowlist_file_malformed_line
check_config_missing_file() {
	! $rg check-config -c $work/none.conf 2>/dev/null
}
t "check-config on a missing file fails" check_config_missing_file

echo "== bad input"
echo "this is not a capture" >"$work/text.pcap"
replay_not_a_capture() {
	out=$($rg replay $work/text.pcap 2>&1 >/dev/null); [ $? -eq 2 ] && echo "$out" | grep -q 'not a readable capture file'
}
t "replay of a non-capture: clear error, exit 2" replay_not_a_capture
head -c 15000 tests/fixtures/postfix-harvest.pcap >"$work/cut.pcap"
replay_truncated_capture() {
	out=$($rg replay --json $work/cut.pcap 2>$work/cut.err); rc=$?; [ $rc -eq 2 ] && grep -q 'packet [0-9]*: .*truncated' $work/cut.err && echo "$out" | tail -1 | jq -e '.packets > 90 and .events.rcpt_rejected > 20' >/dev/null
}
t "replay of a truncated capture: packet number, what was read is kept" replay_truncated_capture
# pcapng with two interfaces (two captures merged, each its own
# interface block): the same events as the two read one after the other.
if have mergecap && have editcap; then
	mergecap -I none -F pcapng -w "$work/two-if.pcapng" tests/fixtures/postfix-pipelined.pcap tests/fixtures/postfix-delivery.pcap
	replay_pcapng_two_interfaces() {
		local a b m
		a=$($rg replay --json tests/fixtures/postfix-pipelined.pcap | tail -1 | jq -c '[.packets, .events.rcpt_rejected, .events.rcpt_accepted, .bans]')
		b=$($rg replay --json tests/fixtures/postfix-delivery.pcap | tail -1 | jq -c '[.packets, .events.rcpt_rejected, .events.rcpt_accepted, .bans]')
		m=$($rg replay --json "$work/two-if.pcapng" | tail -1 | jq -c '[.packets, .events.rcpt_rejected, .events.rcpt_accepted, .bans]')
		echo "$a + $b = $m"
		[ "$m" = "$(jq -nc --argjson a "$a" --argjson b "$b" '[range(4)] | map($a[.] + $b[.])')" ]
	}
	t "replay of a pcapng with two interfaces: the events of both captures" replay_pcapng_two_interfaces
	# Two link types in one pcapng: libpcap reads one only; the packet
	# where it stops is named, what was read is kept, exit 2.
	mergecap -I none -F pcapng -w "$work/two-links.pcapng" tests/fixtures/postfix-harvest.pcap tests/fixtures/postfix-delivery.pcap
	replay_pcapng_two_link_types() {
		out=$($rg replay --json "$work/two-links.pcapng" 2>"$work/two-links.err"); rc=$?
		[ $rc -eq 2 ] && grep -q 'two-links.pcapng: packet [0-9]*: .*different from the type of the first interface' "$work/two-links.err" && echo "$out" | tail -1 | jq -e '.type == "summary"' >/dev/null
	}
	t "replay of a pcapng mixing link types: the packet named, exit 2, a summary of what was read" replay_pcapng_two_link_types
	# Nanosecond timestamps: the same events, bans at the same times.
	editcap -F nsecpcap tests/fixtures/postfix-harvest.pcap "$work/nsec.pcap"
	replay_nanosecond() {
		diff <($rg replay tests/fixtures/postfix-harvest.pcap | grep ' ban ') <($rg replay "$work/nsec.pcap" | grep ' ban ') &&
			[ "$($rg replay --json "$work/nsec.pcap" | tail -1 | jq '.events.rcpt_rejected')" = 27 ]
	}
	t "replay of a nanosecond pcap: the same events and ban times as the microsecond original" replay_nanosecond
	# Snapped at 64 bytes: less than the link, IPv6 and TCP headers with
	# options. Each packet counted as truncated, nothing invented.
	editcap -s 64 tests/fixtures/postfix-harvest.pcap "$work/snap64.pcap"
	replay_snaplen_64() {
		$rg replay --json "$work/snap64.pcap" | tail -1 | jq -e '.packets == 105 and .decode.tcp_truncated == .packets and .events.rcpt_rejected == 0 and .bans == 0' >/dev/null
	}
	t "replay of a capture snapped at 64 bytes: every packet counted as truncated, no event invented, no ban" replay_snaplen_64
else
	nok "pcapng, nanosecond and snaplen captures" "mergecap and editcap (wireshark-common) missing"
fi
build/mkpcap unknown-link "$work/link147.pcap"
replay_unknown_link() {
	out=$($rg replay $work/link147.pcap 2>&1); [ $? -eq 2 ] && echo "$out" | grep -q 'unsupported link type 147'
}
t "replay of an unknown link type: clear error" replay_unknown_link
replay_bad_config() {
	! $rg replay -c $work/bad.conf tests/fixtures/postfix-harvest.pcap >/dev/null 2>&1
}
t "replay with a bad config refuses to run" replay_bad_config

# Rejections Postfix logged must all be seen, except inside TLS: there
# Postfix refused a recipient (the STARTTLS scenario sends one) that no
# one on the wire can read, and the session must show up as opaque.
tls_check() {	# name pcap postfix-count replay-count
	case $1 in
	*starttls*)
		tls_rejection_invisible() {
			[ $3 -ge 1 ] && [ $4 -eq 0 ] && $rg replay --json $2 | tail -1 | jq -e '.smtp.opaque_starttls == 1' >/dev/null
		}
		t "$1: a rejection inside TLS ($3 in Postfix's log) is invisible" tls_rejection_invisible "$1" "$2" "$3" "$4" ;;
	*)
		if [ "$4" = "$3" ]; then
			ok "$1: rejected recipients = Postfix's log ($3, replay $4)"
		else
			nok "$1: rejected recipients = Postfix's log ($3, replay $4)" \
				"$(grep '^tcpdump:' "${2%.pcap}.postfix" 2>/dev/null | tr '\n' ' ') replay: $($rg replay --json "$2" | tail -1 | jq -c '{flows: .flows | {created, verified, midstream}, gaps: .reasm.gaps, desyncs: .smtp.desyncs, unverified: .events_unverified}')"
		fi ;;
	esac
}

echo "== real Postfix captures (committed), against their expected replay"
for pcap in tests/fixtures/postfix-*.pcap; do
	name=$(basename "$pcap" .pcap)
	replay_as_expected() {
		diff <($rg replay --json $1) ${1%.pcap}.expected
	}
	t "$name: replay output as expected" replay_as_expected "$pcap"
	replay_as_expected_asan() {
		diff <($asan_rg replay --json $1) ${1%.pcap}.expected
	}
	t "$name: same output under ASan/UBSan" replay_as_expected_asan "$pcap"
	want=$(sed -n 's/^rejected_rcpt=//p' "${pcap%.pcap}.postfix")
	got=$($rg replay --json "$pcap" | tail -1 | jq '.events.rcpt_rejected')
	tls_check "$name" "$pcap" "$want" "$got"
	if ! have tshark; then skip "$name: rejected recipients against tshark" "no tshark"; continue; fi
	shark=$(tshark -r "$pcap" -Y smtp.response.code -T fields -e smtp.response.code \
		-E occurrence=a -E separator=, 2>/dev/null | tr ',' '\n' | grep -c '^550$')
	t "$name: rejected recipients = tshark's 550 replies ($shark)" test "$got" = "$shark"
done

echo "== STARTTLS: rejections inferred from TLS record lengths (committed captures, tests/fixtures/tls)"
. tests/tls.sh
for pcap in tests/fixtures/tls/postfix-tls-*.pcap; do
	name=$(basename "$pcap" .pcap)
	replay_tls_as_expected() {
		local conf=()
		[ -f "${1%.pcap}.conf" ] && conf=(-c "${1%.pcap}.conf")
		diff <($rg replay "${conf[@]}" --json $1) ${1%.pcap}.expected
	}
	t "$name: replay output as expected" replay_tls_as_expected "$pcap"
	tls_judge "$name" "$pcap" "${pcap%.pcap}.postfix"
done

echo "== replay on two threads (reading and decoding on one, the pipeline on the other): what one thread finds"
# Every committed capture, a generated one of many chunks (cleartext, and
# 80% TLS), several files in one run, and a capture cut short.
build/mkbench "$work/many.pcap" 2000 >/dev/null && build/mkbench "$work/many-tls.pcap" 1000 80 >/dev/null
same_on_two_threads() {	# capture... (a .conf beside the first is used)
	local conf=() a b
	[ -f "${1%.pcap}.conf" ] && conf=(-c "${1%.pcap}.conf")
	a=$($rg replay "${conf[@]}" --json --calibration --threads 1 "$@" 2>&1; echo "exit $?")
	b=$($rg replay "${conf[@]}" --json --calibration --threads 2 "$@" 2>&1; echo "exit $?")
	[ "$(wc -l <<<"$a")" -gt 1 ] && [ "$a" = "$b" ] || { diff <(echo "$a") <(echo "$b") | head -5; return 1; }
}
for pcap in tests/fixtures/postfix-*.pcap tests/fixtures/tls/postfix-tls-*.pcap; do
	t "$(basename "$pcap" .pcap): the same output, bans and summary, on two threads" same_on_two_threads "$pcap"
done
many_on_two_threads() {
	[ "$($rg replay --json --threads 2 "$1" | grep -c '"type":"ban"')" -ge 100 ] && same_on_two_threads "$1"
}
t "a generated capture of 2000 sessions ($(($(stat -c %s "$work/many.pcap") / 1048576)) MB, 100 bans or more): the same on two threads" \
	many_on_two_threads "$work/many.pcap"
t "a generated capture, 80% of it TLS: the same on two threads" same_on_two_threads "$work/many-tls.pcap"
t "three files in one replay: the same on two threads" same_on_two_threads \
	tests/fixtures/postfix-harvest.pcap "$work/many.pcap" tests/fixtures/postfix-pipelined.pcap
head -c 20000000 "$work/many.pcap" >"$work/many-cut.pcap"
many_cut_on_two_threads() {
	same_on_two_threads "$work/many-cut.pcap" && $rg replay --threads 2 "$work/many-cut.pcap" 2>&1 >/dev/null |
		grep -Eq "^rcptguard: .*many-cut.pcap: packet [0-9]+: .*; the [0-9]+ packets before it were used$"
}
t "a capture cut short: on two threads the same packet named, exit 2, what was read kept" many_cut_on_two_threads
# The hand-over itself under ThreadSanitizer: no data race between the
# reader and the pipeline, and the same figures as rcptguard replay.
# Each way of sharing the decoding (the side ahead, always the reader,
# always the pipeline) gives those figures; the forced ones decode all of
# the chunks on their side.
feed_tsan() {
	local got want mode decoded n
	want=$($rg replay --json "$1" | tail -1 | jq -r '"packets=\(.packets) rejected=\(.events.rcpt_rejected) accepted=\(.events.rcpt_accepted) bans=\(.bans) rc=-2"')
	for mode in ahead reader pipeline; do
		got=$(TSAN_OPTIONS="halt_on_error=1 exitcode=66" build/tsan/feedcheck "$1" $mode) || return 1
		[ "$(head -1 <<<"$got")" = "$want" ] || { echo "feedcheck $mode: $got; replay: $want"; return 1; }
		decoded=$(sed -n 's/^decoded=\([0-9]*\)\/.*/\1/p' <<<"$got")
		n=$(sed -n 's/^decoded=[0-9]*\/\([0-9]*\)$/\1/p' <<<"$got")
		[ "$n" -gt 10 ] || { echo "feedcheck $mode: only $n chunks"; return 1; }
		case $mode in
		reader) [ "$decoded" = "$n" ] || { echo "reader decoded $decoded of $n"; return 1; } ;;
		pipeline) [ "$decoded" = 0 ] || { echo "reader decoded $decoded of $n, forced to none"; return 1; } ;;
		esac
	done
}
if [ -x build/tsan/feedcheck ]; then
	t "replay's two threads under ThreadSanitizer, frames decoded by either side: no data race, the figures of rcptguard replay (2000 sessions)" feed_tsan "$work/many.pcap"
	t "replay's two threads under ThreadSanitizer, frames decoded by either side: no data race, the figures of rcptguard replay (80% TLS)" feed_tsan "$work/many-tls.pcap"
else
	skip "replay's two threads under ThreadSanitizer" "no clang: build/tsan/feedcheck not built"
fi
threads_bad_value() {
	local out
	out=$($rg replay --threads 3 tests/fixtures/postfix-harvest.pcap 2>&1 >/dev/null); [ $? -eq 1 ] && grep -q -- "--threads takes 1 or 2, not '3'" <<<"$out"
}
t "replay --threads 3: refused with a clear error" threads_bad_value

# Replay maps a classic pcap file and reads its frames where they lie
# (src/cli/capfile.c). build/capcheck reads a file with libpcap and with
# that reader side by side and compares every frame's time, length and
# bytes, and how the reading ended: "frames=N end=R mapped=M".
capcheck_is() {	# FILE "frames=N end=R mapped=M" (frames=* for any count above 0)
	local got
	got=$(build/capcheck "$1") || return 1
	case $got in $2) ;; *) echo "capcheck $1: $got, not $2"; return 1 ;; esac
	[ "${got#frames=0 }" = "$got" ] || [ "${2#frames=0 }" != "$2" ] || { echo "capcheck $1: no frames"; return 1; }
}
for pcap in tests/fixtures/postfix-*.pcap "$work/many.pcap"; do
	t "replay's reader over $(basename "$pcap"): mapped, every frame libpcap's" capcheck_is "$pcap" "frames=* end=-2 mapped=1"
done
build/capcheck swap tests/fixtures/postfix-harvest.pcap "$work/swapped.pcap"
t "replay's reader over a capture of the other byte order: mapped, every frame libpcap's" \
	capcheck_is "$work/swapped.pcap" "frames=105 end=-2 mapped=1"
if have editcap; then
	editcap -F nsecpcap tests/fixtures/postfix-harvest.pcap "$work/nsec-rd.pcap"
	build/capcheck swap "$work/nsec-rd.pcap" "$work/nsec-swapped.pcap"
	t "replay's reader over nanosecond time stamps, in either byte order: mapped, libpcap's times" \
		eval 'capcheck_is "$work/nsec-rd.pcap" "frames=105 end=-2 mapped=1" && capcheck_is "$work/nsec-swapped.pcap" "frames=105 end=-2 mapped=1"'
	mergecap -F pcapng -w "$work/one.pcapng" tests/fixtures/postfix-harvest.pcap
	t "replay's reader over a pcapng: left to libpcap" capcheck_is "$work/one.pcapng" "frames=105 end=-2 mapped=0"
else
	nok "replay's reader over nanosecond and pcapng captures" "editcap and mergecap (wireshark-common) missing"
fi
# Damaged headers: a snapshot length below the frames' (libpcap cuts
# them to it), a captured length over 262144 in the second record (both
# stop there), and version 2.3, whose two lengths may be the other way
# round (left to libpcap).
cp tests/fixtures/postfix-harvest.pcap "$work/snap100.pcap" && build/capcheck poke "$work/snap100.pcap" 16 100
t "replay's reader, snapshot length 100 in the header: the frames cut to it as libpcap cuts them" \
	capcheck_is "$work/snap100.pcap" "frames=105 end=-2 mapped=1"
first=$(od -An -tu4 -j32 -N4 tests/fixtures/postfix-harvest.pcap | tr -d ' ')
cp tests/fixtures/postfix-harvest.pcap "$work/huge.pcap" && build/capcheck poke "$work/huge.pcap" $((24 + 16 + first + 8)) 300000
t "replay's reader, a captured length of 300000: an error at the second frame, as libpcap's" \
	capcheck_is "$work/huge.pcap" "frames=1 end=-1 mapped=1"
cp tests/fixtures/postfix-harvest.pcap "$work/v23.pcap" && printf '\003\000' | dd of="$work/v23.pcap" bs=1 seek=6 conv=notrunc 2>/dev/null
t "replay's reader, version 2.3: left to libpcap" capcheck_is "$work/v23.pcap" "frames=105 end=-2 mapped=0"
# Cut anywhere: in the file header, in a record header, in a frame, or
# just after one. Each cut is read alike by both.
cuts_read_alike() {
	local size n bad=0 tried=0
	size=$(stat -c %s tests/fixtures/postfix-harvest.pcap)
	for n in $(seq 0 1 60) $(seq 61 11 "$size"); do
		head -c "$n" tests/fixtures/postfix-harvest.pcap >"$work/cut-rd.pcap"
		tried=$((tried + 1))
		[ "$n" -lt 24 ] && continue	# not a capture: libpcap refuses it to both
		build/capcheck "$work/cut-rd.pcap" >/dev/null 2>"$work/cut-rd.err" || { bad=$((bad + 1)); head -2 "$work/cut-rd.err"; }
	done
	echo "$tried cuts, $bad read differently"
	[ "$bad" = 0 ] && [ "$tried" -gt 1000 ]
}
t "a capture cut at each of its first 60 bytes and every 11th after: replay's reader stops where libpcap stops" cuts_read_alike
# The whole replay, mapped or through libpcap (a pipe cannot be mapped),
# on one thread and on two: the same output, and a damaged file stops at
# the same packet.
mapped_or_piped() {	# capture
	local m p1 p2 name="s|^rcptguard: -: |rcptguard: $1: |; s|: packet \([0-9]*\): .*|: packet \1|"
	m=$($rg replay --json --threads 2 "$1" 2>&1; echo "exit $?")
	p1=$($rg replay --json --threads 1 - <"$1" 2>&1; echo "exit $?")
	p2=$(cat "$1" | $rg replay --json --threads 2 - 2>&1; echo "exit $?")
	m=$(sed "$name" <<<"$m")
	[ "$(wc -l <<<"$m")" -gt 1 ] || return 1
	[ "$m" = "$(sed "$name" <<<"$p1")" ] || { diff <(echo "$m") <(sed "$name" <<<"$p1") | head -5; return 1; }
	[ "$m" = "$(sed "$name" <<<"$p2")" ] || { diff <(echo "$m") <(sed "$name" <<<"$p2") | head -5; return 1; }
}
t "replay of a mapped file and of the same through a pipe: the same output (2000 sessions)" mapped_or_piped "$work/many.pcap"
t "replay of a cut file, mapped and through a pipe: the same output, the same packet named" mapped_or_piped "$work/many-cut.pcap"

echo "== synthetic captures (tests/mkpcap)"
while IFS=$'\t' read -r scen filter want; do
	case $scen in ''|'#'*) continue ;; esac
	[ -f "$work/$scen.pcap" ] || build/mkpcap "$scen" "$work/$scen.pcap"
	[ -f "$work/$scen.json" ] || $rg replay --json "$work/$scen.pcap" | tail -1 >"$work/$scen.json"
	got=$(jq -c "$filter" "$work/$scen.json")
	if [ "$got" = "$want" ]; then ok "$scen: $filter = $want"; else nok "$scen: $filter = $want" "got $got"; fi
done <tests/fixtures/synthetic.tsv

echo "== a day of one MX (tests/mkday): every harvester banned, no legitimate sender"
for seed in 1 2 3; do
	out=$(tests/day.sh $seed)
	printf '%s\n' "$out" | grep -Ev '^(ok  |FAIL) '
	while IFS= read -r line; do
		case $line in
		"ok   "*) ok "${line#ok   }" ;;
		"FAIL "*) nok "${line#FAIL }" ;;
		esac
	done < <(printf '%s\n' "$out" | grep -E '^(ok  |FAIL) ')
done
# The corpus tells the rules apart: the old single count (10 distinct in
# 10 minutes, nothing else) bans list servers and providers and lets the
# distributed harvest through.
printf 'rule harvest {\n\tclass = rcpt_rejected\n\tshare = 0\n}\n' >"$work/count-only.conf"
co_out=$(tests/day.sh 1 "$work/count-only.conf")
day1_count_only_list_server() {
	printf '%s\n' "$1" | grep -Eq '^FAIL day 1: list_server: none of 3 banned \([1-9]'
}
t "day 1 under a count-only rule: list servers banned (so the share is what spares them)" \
	day1_count_only_list_server "$co_out"
day1_count_only_distributed() {
	printf '%s\n' "$1" | grep -Eq '^FAIL day 1: harvest_distributed: [0-9]+ of 330 banned'
}
t "day 1 under a count-only rule: the distributed harvest gets through (so waves are what stop it)" \
	day1_count_only_distributed "$co_out"

echo "== floods and hostile streams (tests/mkflood, replayed through a pipe)"
build/mkflood synflood 1000000 100 | $rg replay --json - | tail -1 >"$work/synflood.json"
t "SYN flood, 1,000,000 spoofed sources: flows held at max_flows, the rest evicted, 100 of 100 deliveries followed, no ban" \
	jq -e '.flows.created == 1000100 and .flows.peak == 65536 and .flows.evicted > 900000 and .smtp.bodies == 100 and .events.rcpt_accepted == 100 and .bans == 0 and .tracker.sources_peak <= 100' "$work/synflood.json"
printf 'max_sources = 100000\n' >"$work/ms.conf"
build/mkflood sources 1000000 50 | $rg replay -c "$work/ms.conf" --json - | tail -1 >"$work/sources.json"
# Each tracked source holds one rejection here, a hit in each of the two
# harvest rules: bytes_per_source and two hits, twice that for the
# arrays' doubling, plus the fixed part (an idle tracker, as in the
# delivery fixture's summary).
idle=$(jq '.tracker.memory_bytes' tests/fixtures/postfix-delivery.expected | tail -1)
t "1,000,000 sources with one rejection each: 100,000 tracked, the rest evicted, memory $(jq '.tracker.memory_bytes' "$work/sources.json") bytes within the bound, all 50 harvesters banned" \
	jq -e --argjson idle "${idle:-0}" '.events.rcpt_rejected == 1000600 and .tracker.sources_peak == 100000 and .tracker.evictions == 900050 and .bans == 50 and .tracker.memory_bytes <= 2 * .tracker.max_sources * (.tracker.bytes_per_source + 2 * .tracker.bytes_per_hit) + $idle' "$work/sources.json"
build/mkflood patho | $rg replay --json - >"$work/patho.out"
tail -1 "$work/patho.out" >"$work/patho.json"
t "endless line (8 MB, no CRLF): counted as overlong at once, skipped" \
	jq -e '.smtp.overlong_lines == 1 and .reasm.cap_flow == 0' "$work/patho.json"
t "a million 1-byte segments: the body is followed to its end" \
	jq -e '.packets > 1000000 and .smtp.body_bytes >= 1000000 and .smtp.bodies == 2' "$work/patho.json"
t "retransmissions with other content: the first copy wins, one rejection counted" \
	jq -e '.reasm.retrans > 0 and .events.rcpt_rejected == 1001 and .events_unverified == 1000' "$work/patho.json"
t "a flood of 100,000 replies with no command: unpaired, counted, no event" \
	jq -e '.smtp.unsolicited >= 1 and .smtp.unpaired_replies >= 100000' "$work/patho.json"
t "rejections on 50 flows picked up mid-stream (1,000): reported unverified, no ban" \
	jq -e '.flows.midstream == 50 and .events_unverified == 1000 and .bans == 0' "$work/patho.json"
have valgrind || skip "valgrind memcheck" "no valgrind"
valgrind_fixtures() {
	valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect $rg replay --json tests/fixtures/*.pcap >/dev/null && build/mkflood patho | valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect $rg replay -c $work/ms.conf - >/dev/null
}
have valgrind && t "valgrind memcheck: the replay of every fixture, no error, no leak" valgrind_fixtures

if online; then
echo "== a fresh capture of real Postfix in network namespaces"
if LAB_ID=t$$ tests/fixtures/record.sh "$work/live" >"$work/live.log" 2>&1; then
	ok "recorded sessions with tcpdump against Postfix"
	for name in postfix-delivery postfix-harvest postfix-pipelined postfix-starttls; do
		want=$(sed -n 's/^rejected_rcpt=//p' "$work/live/$name.postfix")
		got=$($rg replay --json "$work/live/$name.pcap" | tail -1 | jq '.events.rcpt_rejected')
		tls_check "live $name" "$work/live/$name.pcap" "$want" "$got"
	done
	live_harvest_banned_once() {
		$rg replay --json $work/live/postfix-harvest.pcap | jq -s -e 'map(select(.type=="ban")) | length == 1 and .[0].key == "fd00:18::/64"' >/dev/null
	}
	t "live postfix-harvest: the harvester's /64 is banned once" live_harvest_banned_once
	live_delivery_no_event() {
		grep -q '^delivered=3' $work/live/postfix-delivery.postfix && $rg replay --json $work/live/postfix-delivery.pcap | tail -1 | jq -e '.smtp.bodies == 3 and .bans == 0 and .events.rcpt_accepted == 3' >/dev/null
	}
	t "live postfix-delivery: three messages, no event against the sender" live_delivery_no_event
else
	nok "recorded sessions with tcpdump against Postfix" "$(tail -5 "$work/live.log")"
fi
echo "== STARTTLS: fresh captures of real Postfix, every TLS variant and a padding server"
if LAB_ID=s$$ tests/fixtures/record-tls.sh "$work/tls" tls13 gcm cbc cbc-mte padded defaults implicit >"$work/tls.log" 2>&1; then
	ok "recorded STARTTLS sessions against Postfix"
	for m in tls13 gcm cbc cbc-mte padded defaults implicit; do
		tls_judge "live $m" "$work/tls/postfix-tls-$m.pcap" "$work/tls/postfix-tls-$m.postfix"
	done
else
	nok "recorded STARTTLS sessions against Postfix" "$(tail -5 "$work/tls.log")"
fi
no_lab_namespace_left() {
	! ip netns list | grep -q "t$$\|s$$"
}
t "the lab left no namespace behind" no_lab_namespace_left

echo "== the live daemon against Postfix in network namespaces"
. tests/live.sh
live_tests
echo "== the fleet: MX hosts sharing bans through CrowdSec's LAPI"
. tests/fleet.sh
fleet_tests
# chaos_run LABEL [CHAOS_QUEUE WORKERS]: two minutes of faults, then its checks.
chaos_run() {
	local L=$1 log=$work/chaos-$1.log chaos_rc
	CHAOS_QUEUE=${2:-0} timeout 400 bench/chaos.sh 120 >"$log" 2>&1
	chaos_rc=$?
	sed -n '/^chaos run:/,$p' "$log" | sed 's/^/   /'
	chaos_line() { grep -m1 "$1" "$log"; }
	t "chaos ($L): every fault injected was survived ($(sed -n '/^fault /,/^clock /p' "$log" | awk 'NR > 1 { i += $2; s += $3 } END { print i " injected, " s " survived" }'))" \
		bash -c "sed -n '/^fault /,/^clock /p' '$log' | awk 'NR > 1 { i += \$2; if (\$2 != \$3) bad = 1 } END { exit !(i >= 8 && !bad) }'"
	t "chaos ($L): no legitimate message lost ($(chaos_line '^legitimate messages:'))" \
		bash -c "grep -m1 '^legitimate messages:' '$log' | grep -Eq ' [1-9][0-9]* accepted by Postfix, .* 0 lost$'"
	t "chaos ($L): no legitimate source ever in a set, the daemon never died by itself" bash -c \
		"grep -q '^legitimate sources seen in a set: 0 times' '$log' && grep -q '(0 by itself)' '$log'"
	t "chaos ($L): every undisturbed harvest burst stopped within the threshold ($(chaos_line '^harvest bursts:'))" bash -c \
		"grep -Eq '^harvest bursts: [0-9]+, [1-9][0-9]* judged .*, 0 of them let past' '$log'"
	t "chaos ($L): after every repair the kernel's bans are the daemon's; RSS and descriptors flat ($(chaos_line '^repairs checked:'))" bash -c \
		"grep -Eq '^repairs checked: [1-9][0-9]*, kernel and daemon differed after 0' '$log' && grep -q '^growth within one life .*: 0' '$log'"
	t "chaos ($L): the daemon ran with ${3:-1} capture worker(s) ($(chaos_line '^chaos run:'))" \
		bash -c "grep -q '^chaos run: .*, ${3:-1} capture worker(s)' '$log'"
	t "chaos ($L): the script's own verdict (exit $chaos_rc)" test "$chaos_rc" = 0
}
echo "== chaos: 2 minutes of faults against the lab's Postfix (bench/chaos.sh; make chaos for 15)"
chaos_run "one queue"
echo "== chaos: the same with queue = 0-1, two capture workers as user nobody"
chaos_run "two workers" 0-1 2
no_live_namespace_left() {
	! ip netns list | grep -q "lv$$\|rgsrvch\|rgclich"
}
t "the live and chaos tests left no namespace behind" no_live_namespace_left

fi	# online

echo "== fuzzing (libFuzzer, ASan, UBSan; make fuzz for long runs)"
for f in decode reasm smtp config control tls state; do
	if [ ! -x build/fuzz/fuzz_$f ]; then
		online && nok "fuzz $f: build/fuzz/fuzz_$f was not built" || skip "fuzz $f" "no clang: not built"
		continue
	fi
	if [ -d tests/fuzz/regress/$f ]; then
		fuzz_regressions_pass() {
			build/fuzz/fuzz_$1 tests/fuzz/regress/$1/* >$work/regress-$1.log 2>&1 || { grep -E 'ERROR|runtime error' $work/regress-$1.log | head -3; false; }
		}
		t "fuzz $f: inputs that once crashed it pass" fuzz_regressions_pass "$f"
	fi
	online || continue
	line=$(tests/fuzz/run.sh "${FUZZ_SECONDS:-20}" $f)
	case $line in *'no crash'*) ok "$line" ;; *) nok "fuzz $f" "$line" ;; esac
done

if online; then
echo "== static checks (make lint)"
if out=$(tests/lint/run.sh 2>&1); then ok "$(tail -1 <<<"$out")"; else nok "make lint" "$(tail -8 <<<"$out")"; fi
fi

echo "== documentation"
for m in man/*.[0-9]; do
	mandoc_lint() {
		out=$(mandoc -Tlint -W warning $1 2>&1); [ -z "$out" ] || { echo "$out"; false; }
	}
	t "mandoc -Tlint $m" mandoc_lint "$m"
done
t "man page defaults match the code" tests/defaults.sh
online && t "nft/rcptguard.nft is accepted by nft (dry run)" nft -c -f nft/rcptguard.nft
online && for f in nft/queue-local.nft nft/queue-gateway.nft; do
	# Kernels without the nft queue expression (this one) refuse the rule
	# with ENOENT; anything else, a syntax error above all, is a failure.
	nft_file_parses() {
		out=$(nft -c -f $1 2>&1) && exit 0; echo "$out" | grep -q 'No such file or directory' && ! echo "$out" | grep -qi 'syntax error'
	}
	t "$f parses; the kernel accepts it or lacks only the queue expression" nft_file_parses "$f"
done
make_install_files() {
	make -s install DESTDIR=$work/stage PREFIX=/usr >/dev/null && for f in usr/sbin/rcptguard usr/share/man/man8/rcptguard.8 usr/share/man/man5/rcptguard.conf.5 etc/rcptguard/rcptguard.conf usr/share/rcptguard/rcptguard.nft usr/share/rcptguard/queue-local.nft usr/share/rcptguard/queue-gateway.nft usr/share/rcptguard/queue-compat.sh usr/lib/systemd/system/rcptguard.service; do test -f $work/stage/$f || { echo missing $f; exit 1; }; done && $work/stage/usr/sbin/rcptguard check-config -c $work/stage/etc/rcptguard/rcptguard.conf >/dev/null
}
t "make install puts every file in place" make_install_files
systemd_unit_hardened() {
	exp=$(systemd-analyze security --offline=true packaging/systemd/rcptguard.service 2>&1 | sed -n 's/.*Overall exposure level for rcptguard.service: \([0-9.]*\).*/\1/p'); echo "exposure $exp"; [ -n "$exp" ] && awk -v e="$exp" 'BEGIN { exit !(e < 2.0) }'
}
online && t "systemd unit: valid, hardened (systemd-analyze security exposure under 2.0)" systemd_unit_hardened
# The unit's SystemCallFilter (a wider list: it covers the setup too)
# admits every call of the daemon's own allow-list (src/live/sandbox.c),
# so the two never disagree on what the loop may do.
unit_filter_covers_sandbox() {
	local names allowed miss="" n
	names=$(sed -n '/^static const char \*const allowed\[\] = {/,/^};/p' src/live/sandbox.c | grep -o '"[a-z0-9_]*"' | tr -d '"'; echo socket mmap mprotect)
	[ "$(echo "$names" | wc -w)" -gt 50 ] || { echo "allow-list not found in sandbox.c"; return 1; }
	sc_expand() {
		local g m
		for g in "$@"; do
			for m in $(systemd-analyze syscall-filter "$g" 2>/dev/null | sed -n 's/^    \([@a-z0-9_-]*\)$/\1/p'); do
				case $m in @*) sc_expand "$m" ;; *) echo "$m" ;; esac
			done
		done
	}
	# The unit: @system-service, less @privileged and @resources, plus capset.
	grep -qx 'SystemCallFilter=@system-service' packaging/systemd/rcptguard.service &&
		grep -qx 'SystemCallFilter=~@privileged @resources' packaging/systemd/rcptguard.service &&
		grep -qx 'SystemCallFilter=capset' packaging/systemd/rcptguard.service || { echo "unit's filter lines changed"; return 1; }
	allowed=$(comm -23 <(sc_expand @system-service | sort -u) <(sc_expand @privileged @resources | sort -u); echo capset)
	for n in $names; do grep -qx "$n" <<<"$allowed" || miss="$miss $n"; done
	echo "not admitted by the unit:${miss:- none}"
	[ -z "$miss" ]
}
online && t "systemd unit: its SystemCallFilter admits every call of the daemon's seccomp allow-list" unit_filter_covers_sandbox

if online; then
echo "== the Debian package"
if dpkg-query -W -f='${Status}' rcptguard 2>/dev/null | grep -q 'ok installed'; then
	nok "package test needs a machine without rcptguard installed (found one; not touching it)"
elif ! make -s deb >"$work/deb.log" 2>&1; then
	nok "make deb builds the package, lintian finds no error" "$(tail -5 "$work/deb.log")"
else
	ok "make deb builds the package, lintian finds no error"
	deb=$(ls build/deb/rcptguard_*_*.deb | head -1)
	t "dpkg -i installs it" dpkg -i "$deb"
	installed_version_and_conffile() {
		/usr/sbin/rcptguard --version | grep -q '^rcptguard ' && /usr/sbin/rcptguard check-config -c /etc/rcptguard/rcptguard.conf >/dev/null && dpkg-query -W -f='${Conffiles}' rcptguard | grep -q /etc/rcptguard/rcptguard.conf
	}
	t "installed: rcptguard --version and check-config of the shipped conffile" installed_version_and_conffile
	installed_user_and_files() {
		getent passwd rcptguard >/dev/null && [ "$(stat -c %U:%a /var/lib/rcptguard)" = rcptguard:750 ] && test -f /lib/systemd/system/rcptguard.service && test -f /usr/share/man/man8/rcptguard.8.gz && test -f /usr/share/rcptguard/rcptguard.nft
	}
	t "installed: system user, its state directory, unit, man pages, nft files" installed_user_and_files
	purge_removes_all() {
		dpkg --purge rcptguard >/dev/null && ! test -e /usr/sbin/rcptguard && ! test -e /etc/rcptguard && ! test -e /var/lib/rcptguard && ! dpkg-query -W rcptguard 2>/dev/null | grep -q .
	}
	t "dpkg --purge removes it cleanly" purge_removes_all
fi
fi	# online

echo
[ "$skipped" -eq 0 ] || echo "($skipped skipped: tools missing in the $tier tier)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
