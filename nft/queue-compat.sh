#!/bin/sh
# The NFQUEUE rules of queue-local.nft / queue-gateway.nft, for kernels
# without the nft "queue" expression: iptables-nft emits the xtables
# NFQUEUE target, which nftables runs through its compat layer.
#
#   queue-compat.sh add|del [local|gateway] [QUEUE] [PORT...]
#
# Defaults: local, queue 0, port 25. QUEUE may be a range such as 0-3.
set -eu
op=${1:?usage: queue-compat.sh add|del [local|gateway] [QUEUE] [PORT...]}
where=${2:-local}
queue=${3:-0}
[ $# -gt 3 ] && shift 3 || set -- 25
case $op in add) flag=-A ;; del) flag=-D ;; *) echo "queue-compat.sh: add or del" >&2; exit 2 ;; esac
case $queue in
*-*) target="--queue-balance $queue" ;;
*) target="--queue-num $queue" ;;
esac
for port in "$@"; do
	for ipt in iptables-nft ip6tables-nft; do
		# --queue-bypass: with no listener, accept (fail-open).
		if [ "$where" = gateway ]; then
			$ipt $flag FORWARD -p tcp --dport "$port" -j NFQUEUE $target --queue-bypass
			$ipt $flag FORWARD -p tcp --sport "$port" -j NFQUEUE $target --queue-bypass
		else
			$ipt $flag INPUT -p tcp --dport "$port" -j NFQUEUE $target --queue-bypass
			$ipt $flag OUTPUT -p tcp --sport "$port" -j NFQUEUE $target --queue-bypass
		fi
	done
done
