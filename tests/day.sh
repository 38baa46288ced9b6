#!/bin/bash
# day.sh SEED [CONFIG]: one MX over a day (tests/mkday), replayed with the
# default rules (or CONFIG), held against what each source meant.
#
# Prints a table per class and, last, one line per check:
#   ok|FAIL <text>
# Harvesters must all be banned, legitimate senders never; the pipelined
# and plain harvesters within their first session.
set -u
cd "$(dirname "$0")/.."
seed=${1:-1}
conf=${2:-}
work=$(mktemp -d /tmp/rcptguard-day.XXXXXX)
trap 'rm -rf "$work"' EXIT

build/mkday "$seed" "$work/day.pcap" "$work/truth.tsv" 2>"$work/mkday.err" || {
	echo "FAIL mkday $seed: $(cat "$work/mkday.err")"
	exit 1
}
./rcptguard replay ${conf:+-c "$conf"} --json "$work/day.pcap" >"$work/out.json" || {
	echo "FAIL replay of day $seed"
	exit 1
}
# key, rule, reason, rejected, accepted, epoch seconds (with fraction)
jq -r 'select(.type == "ban") |
	(.time | capture("(?<s>[^.]*)\\.(?<f>[0-9]+)Z")) as $t |
	[.key, .rule, .reason, .rejected, .accepted, (($t.s + "Z" | fromdate) + ("0." + $t.f | tonumber))] | @tsv' \
	"$work/out.json" >"$work/bans.tsv"
waves=$(jq -r 'select(.type == "wave" and .state == "start") | .time' "$work/out.json" | wc -l)

awk -F'\t' -v seed="$seed" -v waves="$waves" '
FNR == NR { if ($1 !~ /^#/) { cls[$1] = $2; harv[$1] = $3; first[$1] = $4; fend[$1] = $5; order[++n] = $1 } next }
{
	if (!($1 in cls)) { stray[$1] = 1; next }
	if ($1 in banned) next
	banned[$1] = 1; rej[$1] = $4; acc[$1] = $5; when[$1] = $6; how[$1] = $2 "/" $3
}
END {
	for (i = 1; i <= n; i++) {
		k = order[i]; c = cls[k]
		if (!(c in total)) corder[++nc] = c
		total[c]++; must[c] = harv[k]
		if (k in banned) {
			nb[c]++
			r = rej[k]; sum_rej[c] += r; if (r > max_rej[c]) max_rej[c] = r
			d = when[k] - first[k]; sum_t[c] += d; if (d > max_t[c]) max_t[c] = d
			if (when[k] <= fend[k] + 0.001) infirst[c]++
			byrule[c, how[k]]++; rules[c] = rules[c] (index(rules[c], how[k]) ? "" : " " how[k])
		}
	}
	printf "day %d: %d sources, %d waves\n", seed, n, waves
	printf "%-20s %-9s %7s %6s %9s %9s %10s %10s  %s\n", "class", "must", "sources", "banned",
		"in 1st", "rej@ban", "max rej", "max wait", "by rule/reason"
	for (j = 1; j <= nc; j++) {
		c = corder[j]; b = nb[c] + 0
		printf "%-20s %-9s %7d %6d %9s %9s %10s %10s  %s\n", c, must[c] ? "ban" : "never", total[c], b,
			b ? infirst[c] + 0 : "-", b ? sprintf("%.1f", sum_rej[c] / b) : "-",
			b ? max_rej[c] : "-", b ? sprintf("%.0fs", max_t[c]) : "-", rules[c]
	}
	for (j = 1; j <= nc; j++) {
		c = corder[j]; b = nb[c] + 0
		if (must[c])
			printf "%s day %d: %s: %d of %d banned\n", b == total[c] ? "ok  " : "FAIL", seed, c, b, total[c]
		else
			printf "%s day %d: %s: none of %d banned (%d)\n", b == 0 ? "ok  " : "FAIL", seed, c, total[c], b
		if (c == "harvest_pipelined" || c == "harvest_plain")
			printf "%s day %d: %s: each banned within its first session (%d of %d)\n",
				infirst[c] == total[c] ? "ok  " : "FAIL", seed, c, infirst[c], total[c]
		if (c == "harvest_slow")
			printf "%s day %d: harvest_slow: banned within its first hours (longest wait %.0fs)\n",
				b == total[c] && max_t[c] < 4 * 3600 ? "ok  " : "FAIL", seed, max_t[c]
	}
	ns = 0; for (k in stray) ns++
	printf "%s day %d: no ban of a source outside the scenario (%d)\n", ns ? "FAIL" : "ok  ", seed, ns
}' "$work/truth.tsv" "$work/bans.tsv"
