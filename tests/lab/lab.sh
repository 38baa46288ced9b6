# Network-namespace lab shared by the capture recorder, the end-to-end
# tests and the demo: a mail host running a real Postfix with a config
# directory of its own, and a client host, joined by a veth pair.
# Addresses come from 198.18.0.0/15 and fd00::/8 only.
#
#   . tests/lab/lab.sh; lab_up; postfix_up; ...; lab_down
#
# lab_down runs from an EXIT trap, so a failing test still cleans up.

LAB_ID=${LAB_ID:-$$}
LAB_SRV=rgsrv$LAB_ID
LAB_CLI=rgcli$LAB_ID
LAB_DIR=${LAB_DIR:-/tmp/rcptguard-lab.$LAB_ID}
SRV4=198.18.0.1
CLI4=198.18.0.2
SRV6=fd00:18::1
CLI6=fd00:18::2
# Recipients that exist; every other one at example.org is refused at
# RCPT time with 550 5.1.1 (virtual mailbox table).
LAB_USERS="alice bob carol postmaster"

lab_srv() { ip netns exec "$LAB_SRV" "$@"; }
lab_cli() { ip netns exec "$LAB_CLI" "$@"; }

lab_up() {
	mkdir -p "$LAB_DIR"
	ip netns add "$LAB_SRV"
	ip netns add "$LAB_CLI"
	ip link add "v$LAB_ID-s" netns "$LAB_SRV" type veth peer name "v$LAB_ID-c" netns "$LAB_CLI"
	lab_srv ip link set lo up
	lab_cli ip link set lo up
	lab_srv ip addr add $SRV4/24 dev "v$LAB_ID-s"
	lab_cli ip addr add $CLI4/24 dev "v$LAB_ID-c"
	lab_srv ip -6 addr add $SRV6/64 dev "v$LAB_ID-s" nodad
	lab_cli ip -6 addr add $CLI6/64 dev "v$LAB_ID-c" nodad
	lab_srv ip link set "v$LAB_ID-s" up
	lab_cli ip link set "v$LAB_ID-c" up
	# Real offload would hand the capture 64 KB super-segments; keep the
	# segments as they are on a wire.
	lab_srv ethtool -K "v$LAB_ID-s" tso off gso off gro off >/dev/null 2>&1 || true
	lab_cli ethtool -K "v$LAB_ID-c" tso off gso off gro off >/dev/null 2>&1 || true
}

# Extra client addresses (attackers), IPv4 and IPv6: lab_cli_addr 198.18.0.7
lab_cli_addr() {
	case $1 in
	*:*) lab_cli ip -6 addr add "$1/64" dev "v$LAB_ID-c" nodad ;;
	*) lab_cli ip addr add "$1/24" dev "v$LAB_ID-c" ;;
	esac
}

# PF_NS, PF_DIR and PF_LISTEN run another instance: in another namespace,
# from another directory, on other addresses (the fleet's MX hosts).
postfix_up() {
	local pf=${PF_DIR:-$LAB_DIR/postfix} ns=${PF_NS:-$LAB_SRV} map="" u uid gid
	uid=$(id -u postfix) gid=$(id -g postfix)
	mkdir -p "$pf/spool" "$pf/data" "$pf/mail"
	chown postfix:postfix "$pf/data" "$pf/mail"
	for u in $LAB_USERS; do map="$map $u@example.org=example.org/$u/,"; done
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mx.example.org \
		-keyout "$pf/key.pem" -out "$pf/cert.pem" >/dev/null 2>&1
	cp /etc/postfix/master.cf "$pf/master.cf"
	# Submissions over implicit TLS (RFC 8314), for the TLS tests.
	printf '465 inet n - y - - smtpd -o smtpd_tls_wrappermode=yes\n' >>"$pf/master.cf"
	cat >"$pf/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $pf/spool
data_directory = $pf/data
maillog_file = $pf/maillog
maillog_file_prefixes = $LAB_DIR
myhostname = mx.example.org
mydomain = example.org
mydestination =
inet_interfaces = ${PF_LISTEN:-$SRV4, [$SRV6]}
inet_protocols = all
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP
virtual_mailbox_domains = example.org
virtual_mailbox_maps = inline:{${map%,} }
virtual_mailbox_base = $pf/mail
recipient_delimiter = +
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
alias_maps =
alias_database =
smtputf8_enable = no
biff = no
smtpd_tls_cert_file = $pf/cert.pem
smtpd_tls_key_file = $pf/key.pem
smtpd_tls_security_level = may
smtpd_peername_lookup = no
# The anchor setting of the comparison: no tarpit, high error limits, so
# that a harvester runs at full speed (what rcptguard must stop).
smtpd_error_sleep_time = ${PF_ERROR_SLEEP:-0}
smtpd_soft_error_limit = ${PF_SOFT_LIMIT:-1000}
smtpd_hard_error_limit = ${PF_HARD_LIMIT:-1000}
smtpd_junk_command_limit = 1000
# Sessions that open a transaction and abandon it (benchmarks) use up
# Postfix's flow-control tokens, after which each new one waits a second.
in_flow_delay = 0
smtpd_recipient_limit = 1000
CF
	# A TLS test's OpenSSL settings (record padding) for smtpd.
	[ -n "${PF_OPENSSL_CONF:-}" ] &&
		echo "import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C OPENSSL_CONF=$PF_OPENSSL_CONF" >>"$pf/main.cf"
	ip netns exec "$ns" postfix -c "$pf" check >/dev/null 2>&1 || true
	ip netns exec "$ns" postfix -c "$pf" start >/dev/null 2>&1 || {
		echo "lab: postfix did not start:" >&2
		ip netns exec "$ns" postfix -c "$pf" start >&2
		return 1
	}
	# Wait (bounded) for the listener.
	local i
	for i in $(seq 1 50); do
		ip netns exec "$ns" ss -Hltn "sport = :25" | grep -q . && return 0
		sleep 0.1
	done
	echo "lab: postfix is not listening on port 25" >&2
	return 1
}

postfix_log() { cat "$LAB_DIR/postfix/maillog" 2>/dev/null; }
# Rejected-recipient lines in Postfix's own log. Before a transaction has
# a queue ID they read "NOQUEUE: reject: RCPT", after an accepted
# recipient "<queue id>: reject: RCPT".
postfix_rejects() { postfix_log | grep -c ': reject: RCPT from .*: 550 5.1.1 ' || true; }
# Wait (at most 5 s) until Postfix's log stops growing: postlogd writes
# asynchronously, and the tests count its lines.
log_settle() {
	local prev=-1 cur i
	for i in $(seq 1 50); do
		cur=$(postfix_log | wc -l)
		[ "$cur" = "$prev" ] && return 0
		prev=$cur
		sleep 0.1
	done
}
# Messages delivered to the virtual mailboxes.
mailbox_count() { find "$LAB_DIR/postfix/mail" -path '*/new/*' -type f 2>/dev/null | wc -l; }

lab_down() {
	[ -n "${LAB_DOWN_DONE:-}" ] && return 0
	LAB_DOWN_DONE=1
	if [ -d "$LAB_DIR/postfix" ]; then
		ip netns exec "$LAB_SRV" postfix -c "$LAB_DIR/postfix" stop >/dev/null 2>&1 || true
		# master exits asynchronously: make sure nothing is left behind.
		pkill -f "$LAB_DIR/postfix" 2>/dev/null || true
	fi
	for ns in "$LAB_SRV" "$LAB_CLI"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	[ -n "${LAB_KEEP:-}" ] || rm -rf "$LAB_DIR"
}
