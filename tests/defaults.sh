#!/bin/bash
# The defaults written in rcptguard.conf(5) must be the ones the code uses.
# Each documented key reads ".It Ic KEY No = Ar DEFAULT"; the code's
# defaults are what check-config prints for an empty file (global keys)
# and for a rule block that sets only its class (rule keys).
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
echo "$n documented defaults checked, $bad differ"
[ "$n" -ge 20 ] && [ "$bad" -eq 0 ]
