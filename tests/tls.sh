# Rejections inside STARTTLS, against Postfix's own log (sourced by
# tests/run.sh; uses its t, ok, nok, $rg). The captures come from
# tests/fixtures/record-tls.sh: per client address, what Postfix
# rejected; the addresses play these parts:
#
#   .40 calibration (cleartext)   .41 .42 .43 .44 harvesters: one at a time,
#   pipelined by 3, 10 and 50     .45 harvests in cleartext, then in TLS
#   .46 an RSET and a new MAIL between probes   .47 streams its batches
#   .50 .51 legitimate: deliveries, a stale address   .52 .53 list
#   servers (4 of 40 gone, three times; 24 of 120 gone)
#   fd00:1a::46 a harvester over IPv6
# With Postfix's defaults (error sleep, 421): .41 one session of 30
# probes, .42 RSET between probes, .50 deliveries.

# The replay's count for an address: cleartext and TLS rejections of its
# source key (/32, /64).
tls_count() {	# json address
	local key=$2/32
	case $2 in *:*) key=$(echo "$2" | sed 's/::[0-9a-f]*$/::\/64/') ;; esac
	jq -r --arg k "$key" '.sources[] | select(.key == $k) | "\(.rcpt_rejected) \(.rcpt_rejected_tls)"' "$1"
}

# One capture: counts per source and bans against the truth. A table
# line goes to standard output for the notes.
tls_judge() {	# label pcap truth-file
	local label=$1 pcap=$2 truth=$3 json rout a want clear tls bans
	json=$(mktemp)
	rout=$(mktemp)
	# A capture of other ports comes with its configuration.
	local conf=()
	[ -f "${pcap%.pcap}.conf" ] && conf=(-c "${pcap%.pcap}.conf")
	$rg replay "${conf[@]}" --json "$pcap" >"$rout"
	tail -1 "$rout" >"$json"
	# The error sleep, learnt in the clear: Postfix's own settings are
	# the truth (defaults: 1 s, soft limit 10; the lab's others sleep 0).
	local sleep_line
	sleep_line=$($rg replay "${conf[@]}" --calibration "$pcap" | sed -n 's/.*; error sleep \([0-9]*\) ms after \([0-9]*\) errors$/\1 \2/p')
	if [[ $label == *defaults* ]]; then
		t "$label: calibration learnt Postfix's error sleep (1 s from the soft limit of 10 on: got ms/after ${sleep_line:-none})" \
			awk -v v="$sleep_line" 'BEGIN { n = split(v, a, " "); exit !(n == 2 && a[1] >= 950 && a[1] <= 1150 && (a[2] == 10 || a[2] == 11)) }'
	else
		t "$label: no error sleep learnt from a Postfix that does not sleep (${sleep_line:-none})" test -z "$sleep_line"
	fi
	bans=" $(jq -r 'select(.type == "ban") | .key' "$rout" | sort | tr '\n' ' ')"
	if [[ $label == *padded* ]]; then
		t "$label: every TLS session blind (padding), no rejection inferred, no TLS ban ($(jq -c '.tls | {sessions, blind: .blind.padding, rejected}' "$json"))" \
			jq -e '.tls.sessions > 20 and .tls.blind.padding == .tls.sessions and .tls.rejected == 0 and .bans_by_rule.harvest_tls == 0' "$json"
		rm -f "$json" "$rout"
		return
	fi
	local line="" bad=""
	while read -r _ a want; do
		read -r clear tls < <(tls_count "$json" "$a")
		clear=${clear:-0} tls=${tls:-0}
		line="$line $a=$((clear + tls))/$want"
		case $a in
		198.18.0.52|198.18.0.53)	# list servers: TLS hides the addresses,
				# so a batch mixing many accepted ones may count a few
				# fewer (longer addresses explain the bytes too): at
				# most a quarter or 3 fewer (the safe side), never more
			local slack=$((want / 4 > 3 ? want / 4 : 3))
			[ $((clear + tls)) -le "$want" ] && [ $((clear + tls)) -ge $((want - slack)) ] || bad="$bad $a" ;;
		*)	[ $((clear + tls)) -eq "$want" ] || bad="$bad $a" ;;
		esac
	done < <(grep '^rejected ' "$truth")
	echo "tls table $label:$line"
	t "$label: rejections per source as Postfix logged them (inferred/logged:$line)" test -z "$bad"
	# Banned: every harvester Postfix rejected 20 times or more
	# (harvest_tls); never a legitimate source (the calibrating sender,
	# the deliveries, the stale address, the list servers: one with 24
	# of 120 gone, spared by the share of accepted recipients inferred
	# too). The harvester at 19 may go either way (a wave of rejections
	# bans it at 3, by design).
	local missing="" wrong=""
	while read -r _ a want; do
		local key=$a/32
		case $a in *:*) key=$(echo "$a" | sed 's/::[0-9a-f]*$/::\/64/') ;; esac
		case $a in
		198.18.0.40|198.18.0.50|198.18.0.51|198.18.0.52|198.18.0.53)
			[[ " $bans" == *" $key "* ]] && wrong="$wrong $key" ;;
		*)	[ "$want" -ge 20 ] && [[ " $bans" != *" $key "* ]] && missing="$missing $key" ;;
		esac
	done < <(grep '^rejected ' "$truth")
	t "$label: every harvester Postfix rejected 20 times or more is banned, no legitimate source ($bans)" \
		test -z "$missing$wrong"
	# Each TLS ban is decided at the packet of the server's reply that
	# made the count, not at the client's next one: live, NFQUEUE holds
	# that packet until the ban is in the kernel.
	if command -v tshark >/dev/null; then
		local times from
		times=$(jq -r 'select(.type == "ban" and .rule == "harvest_tls") | .time' "$rout" |
			sed 's/Z$//' | while read -r ts; do date -u -d "$ts" +%s.%6N; done | sort -u | tr '\n' ' ')
		from=$(tshark -r "$pcap" -T fields -e frame.time_epoch -e tcp.srcport 2>/dev/null |
			awk -v want="$times" 'BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) need[w[i]] = 1 }
				{ t = sprintf("%.6f", $1); if (t in need) { seen[t] = 1; if ($2 != 25 && $2 != 465) bad++ } }
				END { for (t in need) if (!(t in seen)) bad++; print bad + 0 }')
		t "$label: every TLS ban decided at the server's reply packet ($(echo $times | wc -w) bans)" test "$from" = 0
	fi
	# Postfix's 421 after 20 errors (the defaults) is a reply never seen
	# in the clear: its exchange stays unexplained, and counts nothing.
	local unexplained=0
	[[ $label == *defaults* ]] && unexplained=1
	t "$label: every TLS session counted, every exchange explained but $unexplained ($(jq -c '.tls | {sessions, counted, unexplained, capped}' "$json"))" \
		jq -e --argjson u $unexplained '.tls.sessions >= 5 and .tls.counted == .tls.sessions and .tls.unexplained <= $u and .tls.capped == 0' "$json"
	rm -f "$json" "$rout"
}
