#!/bin/bash
# The table of settings (check-config --settings) against its two other
# homes: every row is documented in rcptguard.conf(5) and every documented
# key is a row, in the same section (global or RULES); the documented
# defaults are the code's (what check-config prints for an empty file, and
# for a rule block that sets only its class); packaging/rcptguard.conf
# names only keys of the table, and its commented-out global lines show
# the defaults (but for the rows marked example).
set -eu
cd "$(dirname "$0")/.."
man=man/rcptguard.conf.5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/empty.conf"
printf 'rule t {\n\tclass = auth_failed\n}\n' >"$tmp/rule.conf"
./rcptguard check-config -c "$tmp/empty.conf" | sed -n '/^rule /q;p' >"$tmp/global"
./rcptguard check-config -c "$tmp/rule.conf" | sed -n '/^rule t {/,/^}/p' | tr -d '\t' >"$tmp/rule"

bad=0 n=0
check() {	# section key default
	local file=$tmp/$1 key=$2 want=$3 got
	n=$((n + 1))
	got=$(sed -n "s/^$key = //p" "$file")
	if [ "$want" = none ]; then
		[ -z "$got" ] || [ "$got" = none ] && return 0
	elif [ "$got" = "$want" ]; then
		return 0
	fi
	echo "$man: $key: documented default '$want', code says '${got:-nothing}'" >&2
	bad=$((bad + 1))
}

section=global
while IFS= read -r line; do
	case $line in
	'.Sh RULES'*) section=rule ;;
	'.It Ic '*' No = Ar '*)
		set -- $line
		check "$section" "$3" "$7"
		;;
	esac
done <"$man"
./rcptguard check-config --settings >"$tmp/table"
rows=0
while IFS=$'\t' read -r scope key def flags help; do
	rows=$((rows + 1))
	if [ "$scope" = rule ]; then sec='/^\.Sh RULES/,$p'; else sec='1,/^\.Sh RULES/p'; fi
	if ! sed -n "$sec" "$man" | grep -q "^\.It Ic $key\( \|\$\)"; then
		echo "$man: $scope setting $key is not documented" >&2
		bad=$((bad + 1))
	fi
done <"$tmp/table"
# Documented keys that are no row.
section=global
while IFS= read -r line; do
	case $line in
	'.Sh RULES'*) section=rule ;;
	'.It Ic '*)
		set -- $line
		if ! awk -F'\t' -v s="$section" -v k="$3" '$1 == s && $2 == k { f = 1 } END { exit !f }' "$tmp/table"; then
			echo "$man: documents $section key $3, which the code does not have" >&2
			bad=$((bad + 1))
		fi
		;;
	esac
done <"$man"
# rcptguard(8) lists the settings a reload does not apply.
want=$(awk -F'\t' '$1 == "global" && $4 ~ /^restart/ { print $2 }' "$tmp/table" | sort | tr '\n' ' ')
got=$(sed -n '/^Settings the capture and the ruleset were opened with/{n;p;}' man/rcptguard.8 |
	sed 's/^\.Pq Ic //; s/ , /\n/g' | sort | tr '\n' ' ')
if [ "$want" != "$got" ]; then
	echo "man/rcptguard.8: restart-only settings listed: $got; the table's: $want" >&2
	bad=$((bad + 1))
fi
# packaging/rcptguard.conf
pk=packaging/rcptguard.conf
inrule=0 pkn=0
while IFS= read -r line; do
	l=${line#\#}
	case $l in
	'rule '*'{'*) inrule=1; continue ;;
	'}'*) inrule=0; continue ;;
	esac
	[[ $l =~ ^[[:space:]]*([a-z_0-9]+)\ =\ (.*)$ ]] || continue
	key=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
	scope=global; [ $inrule = 1 ] && scope=rule
	pkn=$((pkn + 1))
	row=$(awk -F'\t' -v s="$scope" -v k="$key" '$1 == s && $2 == k' "$tmp/table")
	if [ -z "$row" ]; then
		echo "$pk: $scope key $key is not a setting" >&2
		bad=$((bad + 1))
		continue
	fi
	def=$(cut -f3 <<<"$row") flags=$(cut -f4 <<<"$row")
	if [ $scope = global ] && [ "${line:0:1}" = '#' ] && [[ $flags != *example* ]] && [ "$val" != "$def" ]; then
		echo "$pk: #$key = $val is shown as the default, the code's is $def" >&2
		bad=$((bad + 1))
	fi
done <"$pk"
echo "$n documented defaults checked, $rows settings in the table, $pkn lines of $pk; $bad differ"
[ "$n" -ge 20 ] && [ "$rows" -ge 40 ] && [ "$pkn" -ge 20 ] && [ "$bad" -eq 0 ]
