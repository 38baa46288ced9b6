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
*-*) target="--queue-balance ${queue%-*}:${queue#*-}" ;;	# iptables writes a range 0:3
*) target="--queue-num $queue" ;;
esac
# Bare ACKs (no SYN, FIN or RST, no payload) carry nothing rcptguard
# reads: accepted before the queue, without a round trip to user space.
# A rule per TCP data offset D compares the packet's length with its
# headers' (IPv4 without options, IPv6 without extension headers; others
# go to the queue). QUEUE_ACKS=1 queues them too, as before.
bare_acks() {	# ipt chain --dport|--sport port
	[ "${QUEUE_ACKS:-0}" = 1 ] && return 0
	for d in 5 6 7 8 9 10 11 12 13 14 15; do
		if [ "$1" = iptables-nft ]; then
			u32="0>>24=0x45&&32>>28=$d" max=$((20 + 4 * d))
		else
			u32="4>>8&0xFF=6&&52>>28=$d" max=$((40 + 4 * d))
		fi
		$1 $flag "$2" -p tcp "$3" "$4" --tcp-flags FIN,SYN,RST NONE -m u32 --u32 "$u32" \
			-m length --length 0:$max -j ACCEPT
	done
}
for port in "$@"; do
	for ipt in iptables-nft ip6tables-nft; do
		# --queue-bypass: with no listener, accept (fail-open).
		if [ "$where" = gateway ]; then
			bare_acks $ipt FORWARD --dport "$port"
			$ipt $flag FORWARD -p tcp --dport "$port" -j NFQUEUE $target --queue-bypass
			bare_acks $ipt FORWARD --sport "$port"
			$ipt $flag FORWARD -p tcp --sport "$port" -j NFQUEUE $target --queue-bypass
		else
			bare_acks $ipt INPUT --dport "$port"
			$ipt $flag INPUT -p tcp --dport "$port" -j NFQUEUE $target --queue-bypass
			bare_acks $ipt OUTPUT --sport "$port"
			$ipt $flag OUTPUT -p tcp --sport "$port" -j NFQUEUE $target --queue-bypass
		fi
	done
done
