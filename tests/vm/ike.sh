# Helpers for IKE tests: ikeuser daemons in netns A and B (see interop.sh `topology`).
# shellcheck shell=bash
source tests/vm/interop.sh

IKE_DIR=${IKE_DIR:-$(mktemp -d /tmp/ike.XXXXXX)}
IKE_PSK="a pre-shared key for the tests"

# ike_conf NS FILE KEY=VALUE...: an ikeuser config with one connection `c` and child `net`
# between netns NS (A or B) and the other one, for the current `topology`. Keys: ike, esp
# (TOML arrays; `default` leaves the line out, for ikeuser's defaults), mode, start, psk, local_id, remote_id, local_ts, remote_ts, dpd, rekey, life,
# tries (retransmit_tries), ike_rekey (the IKE SA's rekey_time), cert, key, ca (certificates
# instead of the PSK; ca is one file), encap (true: ESP in UDP without a NAT), keepalive, ah
# (a TOML array: ah_proposals instead of esp_proposals), version (1: IKEv1), aggressive,
# rekey_bytes, life_bytes.
ike_conf() {
	local ns=$1 file=$2 ike='["aes128gcm16-prfsha256-ecp256"]' esp='["aes128gcm16"]'
	local mode=$AMODE start=none psk=$IKE_PSK local_id="" remote_id="" dpd=0 rekey=0 life=0 tries="" ike_rekey=0
	local cert="" key="" ca="" encap=false keepalive="" remote_port="" ah="" version="" aggressive=""
	local rekey_bytes=0 life_bytes=0
	local local_addr=$A_OUT remote_addr=$B_OUT local_ts=$SEL_A remote_ts=$SEL_B kv
	if [ "$ns" = B ]; then
		local_addr=$B_OUT remote_addr=$A_OUT local_ts=$SEL_B remote_ts=$SEL_A
	fi
	shift 2
	for kv in "$@"; do
		local "${kv%%=*}=${kv#*=}"
	done
	{
		echo "[daemon]"
		echo "socket = \"$IKE_DIR/$ns.sock\""
		[ -z "$tries" ] || echo "retransmit_tries = $tries"
		[ -z "$keepalive" ] || echo "keepalive = $keepalive"
		echo
		echo "[connections.c]"
		[ -z "$version" ] || echo "version = $version"
		[ -z "$aggressive" ] || echo "aggressive = $aggressive"
		echo "local_addr = \"$local_addr\""
		echo "remote_addr = \"$remote_addr\""
		[ -z "$local_id" ] || echo "local_id = \"$local_id\""
		[ -z "$remote_id" ] || echo "remote_id = \"$remote_id\""
		if [ -n "$cert" ]; then
			printf 'auth = "pubkey"\ncert = "%s"\nkey = "%s"\nca = ["%s"]\n' "$cert" "$key" "$ca"
		else
			echo "psk = \"$psk\""
		fi
		[ "$ike" = default ] || echo "ike_proposals = $ike"
		echo "start = \"$start\""
		[ "$dpd" = 0 ] || echo "dpd_delay = $dpd"
		[ "$ike_rekey" = 0 ] || echo "rekey_time = $ike_rekey"
		[ "$encap" = false ] || echo "encap = $encap"
		[ -z "$remote_port" ] || echo "remote_port = $remote_port"
		echo
		echo "[connections.c.children.net]"
		echo "mode = \"$mode\""
		echo "local_ts = [\"$local_ts\"]"
		echo "remote_ts = [\"$remote_ts\"]"
		[ "$esp" = default ] || [ -n "$ah" ] || echo "esp_proposals = $esp"
		[ -z "$ah" ] || echo "ah_proposals = $ah"
		[ "$rekey" = 0 ] || echo "rekey_time = $rekey"
		[ "$life" = 0 ] || echo "life_time = $life"
		[ "$rekey_bytes" = 0 ] || echo "rekey_bytes = $rekey_bytes"
		[ "$life_bytes" = 0 ] || echo "life_bytes = $life_bytes"
	} >"$file"
}

# second_subnets: for tunnel44, a second pair of protected subnets (10.1.1.0/24 behind A,
# 10.2.1.0/24 behind B) for a second child; sets A_IN2/B_IN2 and SEL_A2/SEL_B2.
second_subnets() {
	A_IN2=10.1.1.1 B_IN2=10.2.1.1 SEL_A2=10.1.1.0/24 SEL_B2=10.2.1.0/24
	ip -n A addr add $A_IN2/32 dev lo
	ip -n B addr add $B_IN2/32 dev lo
	ip -n A route add $SEL_B2 dev a0 src $A_IN2
	ip -n B route add $SEL_A2 dev b0 src $B_IN2
}

# ike_child FILE NS NAME: append child NAME protecting the second subnets to NS's config FILE.
ike_child() {
	local file=$1 ns=$2 name=$3 l=$SEL_A2 r=$SEL_B2
	[ "$ns" = A ] || l=$SEL_B2 r=$SEL_A2
	printf '\n[connections.c.children.%s]\nmode = "tunnel"\nlocal_ts = ["%s"]\nremote_ts = ["%s"]\n' \
		"$name" "$l" "$r" >>"$file"
}

# child_spi NS CHILD: the inbound SPI of Child SA CHILD of the first IKE SA in NS.
child_spi() {
	json_get "$(ikectl "$1" status --json)" \
		"[c['spi_in'] for c in j['status']['ike_sas'][0]['children'] if c['name'] == '$2'][0]"
}

# second_traffic: ping and TCP between the second subnets, both ways.
second_traffic() {
	ip netns exec A ping -c 2 -i 0.2 -W 2 -I "$A_IN2" "$B_IN2" >/dev/null || fail "ping A -> B (second subnets)"
	ip netns exec B ping -c 2 -i 0.2 -W 2 -I "$B_IN2" "$A_IN2" >/dev/null || fail "ping B -> A (second subnets)"
	tcp_transfer A B "$B_IN2" "$A_IN2" 20000
	tcp_transfer B A "$A_IN2" "$B_IN2" 20000
}

# ikeuser_start NS CONF: starts a daemon in NS (log in $IKE_DIR/NS.log) and waits for its socket.
ikeuser_start() {
	local ns=$1 conf=$2 i
	ip netns exec "$ns" ikeuser daemon -c "$conf" >>"$IKE_DIR/$ns.log" 2>&1 &
	echo $! >"$IKE_DIR/$ns.pid"
	# Up to 30 s: a loaded TCG guest can take long; a daemon that died ends the wait at once.
	for i in $(seq 150); do
		ikectl "$ns" status >/dev/null 2>&1 && return 0
		kill -0 "$(cat "$IKE_DIR/$ns.pid")" 2>/dev/null || break
		sleep 0.2
	done
	cat "$IKE_DIR/$ns.log" >&2
	fail "the ikeuser daemon in $ns did not start"
}

# ike_pair MODE [KEY=VALUE...]: topology plus a daemon on each side with the same settings.
ike_pair() {
	local mode=$1
	shift
	load
	topology "$mode"
	trap ike_cleanup EXIT
	ike_conf A "$IKE_DIR/A.toml" "$@"
	ike_conf B "$IKE_DIR/B.toml" "$@"
	ikeuser_start A "$IKE_DIR/A.toml"
	ikeuser_start B "$IKE_DIR/B.toml"
}

# ikectl NS ARGS...: the CLI talking to NS's daemon.
ikectl() {
	local ns=$1
	shift
	ip netns exec "$ns" ikeuser --socket "$IKE_DIR/$ns.sock" "$@"
}

# ikeuser_stop NS: SIGTERM, then wait for the daemon to exit.
ikeuser_stop() {
	local pid i
	pid=$(cat "$IKE_DIR/$1.pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.2
	done
	fail "the ikeuser daemon in $1 did not exit after SIGTERM"
}

# ike_log NS: the daemon's log so far.
ike_log() { cat "$IKE_DIR/$1.log" 2>/dev/null || true; }

# sa_count NS: ripsec SAs in NS.
sa_count() { json_get "$(ip netns exec "$1" ikeuser sa list --json)" 'len(j)'; }
# packets_out NS: what the ripsec SAs in NS have sent, all together.
packets_out() { json_get "$(ip netns exec "$1" ikeuser sa list --json)" 'sum(s["stats"]["packets-out"] for s in j)'; }
# wait_sending NS BEFORE: until NS's SAs have sent a few packets more than BEFORE (packets_out
# before a background ping or flood started): its traffic is flowing.
wait_sending() { wait_until "traffic from $1 through its SAs" 20 "[ \$(packets_out $1) -ge $(($2 + 3)) ]"; }
# ike_sa_count NS: IKE SAs the daemon in NS reports.
ike_sa_count() { json_get "$(ikectl "$1" status --json)" 'len(j["status"]["ike_sas"])'; }

# protect_policy_count NS: ripsec policies in NS other than bypass ones.
protect_policy_count() {
	json_get "$(ip netns exec "$1" ikeuser policy list --json)" 'len([p for p in j if p["action"] == "protect"])'
}

# expect_clean NS...: no SAs and no protect policies left.
expect_clean() {
	local ns
	for ns in "$@"; do
		expect_eq "$(sa_count "$ns")" 0 "SAs left in $ns"
		expect_eq "$(protect_policy_count "$ns")" 0 "protect policies left in $ns"
	done
}

# ike_cleanup: the EXIT trap of IKE tests; stops the daemons and, if the test failed, shows
# the end of their logs.
ike_cleanup() {
	local rc=$? ns
	ikeuser_stop A || true
	ikeuser_stop B || true
	if [ $rc -ne 0 ]; then
		for ns in A B; do
			[ -f "$IKE_DIR/$ns.log" ] || continue
			echo "--- ikeuser log of $ns (end)"
			tail -n 80 "$IKE_DIR/$ns.log"
		done
		# Repeated last, so the reason is in the lines run-all shows.
		[ -z "${FAIL_MSG:-}" ] || echo "FAIL: $FAIL_MSG"
	fi
}
