#!/usr/bin/env bash
# Self-check of tests/vm/strongswan.sh: two charons, each in its own netns (joined by a veth),
# bring up an IPv4 PSK tunnel and an IPv6 transport-mode SA between them, send traffic through
# both, check the XFRM states, rekey with PFS, try the other proposals, terminate, stop.
# Needs root, iproute2 and Debian's strongswan-charon + strongswan-swanctl.
# A kernel without ESP (CONFIG_INET_ESP unset, e.g. a container host) only gets the IKE part and
# exit status 77; run it in the test VM for the whole check: scripts/vm-run tests/vm/strongswan_selftest.sh
# Usage: tests/vm/strongswan_selftest.sh   (exit status 0 = all good; leaves nothing behind but,
# on failure or with SWAN_SELFTEST_KEEP=1, the state directories with the charon logs)
# shellcheck shell=bash
set -eEuo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/strongswan.sh
source "$HERE/strongswan.sh"

A=swst-a-$$ B=swst-b-$$
WORK=$(mktemp -d /tmp/swan-selftest.XXXXXX)
DA=$WORK/a DB=$WORK/b
T0=$(date +%s%N)

cleanup() {
	local rc=$?
	trap - EXIT
	swan_stop_all "$WORK" || rc=1
	ip netns del "$A" 2>/dev/null || true
	ip netns del "$B" 2>/dev/null || true
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		echo "selftest FAILED (logs: $WORK)" >&2
		swan_log "$DA" 30 >&2 || true
		swan_log "$DB" 30 >&2 || true
	elif [ -z "${SWAN_SELFTEST_KEEP:-}" ]; then
		rm -rf "$WORK"
	else
		echo "kept $WORK"
	fi
	exit $rc
}
trap cleanup EXIT

step() { printf '[%5d ms] %s\n' $((($(date +%s%N) - T0) / 1000000)) "$*"; }
die() {
	echo "FAIL: $*" >&2
	exit 1
}

# count_states NS MODE: number of ESP states in NS with that mode.
count_states() { ip -n "$1" xfrm state | grep -c "proto esp .* mode $2" || true; }

# min_packets NS: smallest packet counter over the ESP states of NS (0 if any SA saw nothing).
min_packets() {
	ip -s -n "$1" xfrm state | awk '/lifetime current:/ {getline; n = $2 + 0; if (min == "" || n < min) min = n} END {print min + 0}'
}

step "netns $A, $B and veth"
for ns in "$A" "$B"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
ip link add swa0 netns "$A" type veth peer name swb0 netns "$B"
ip -n "$A" link set swa0 up
ip -n "$B" link set swb0 up
ip -n "$A" addr add 10.0.0.1/24 dev swa0
ip -n "$B" addr add 10.0.0.2/24 dev swb0
ip -n "$A" addr add fd00::1/64 dev swa0 nodad
ip -n "$B" addr add fd00::2/64 dev swb0 nodad
ip -n "$A" addr add 10.1.0.1/32 dev lo
ip -n "$B" addr add 10.2.0.1/32 dev lo
ip -n "$A" route add 10.2.0.0/24 dev swa0 src 10.1.0.1
ip -n "$B" route add 10.1.0.0/24 dev swb0 src 10.2.0.1

# Can this kernel do ESP at all (in a netns)?
have_esp=yes
if ! ip -n "$A" xfrm state add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x100 mode tunnel \
	aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f1011121314 128 2>/dev/null; then
	have_esp=no
fi
ip -n "$A" xfrm state flush

host_pid_before=$(ls -l /run/charon.pid 2>/dev/null || true)

step "start charon in both"
swan_start "$A" "$DA"
swan_start "$B" "$DB"
pa=$(_swan_pid "$DA") pb=$(_swan_pid "$DB")
[ "$pa" != "$pb" ] || die "both instances report the same pid"
[ "$(ls -l /run/charon.pid 2>/dev/null || true)" = "$host_pid_before" ] || die "host /run/charon.pid changed"
[ "$(readlink "/proc/$pa/ns/net")" = "$(ip netns exec "$A" readlink /proc/self/ns/net)" ] ||
	die "charon A is not in netns $A"
step "charon A pid $pa, charon B pid $pb"

# conf DIR ME PEER MYNET PEERNET MY6 PEER6 MYID PEERID: the two connections of one side.
conf() {
	local dir=$1 me=$2 peer=$3 mynet=$4 peernet=$5 my6=$6 peer6=$7
	swan_conf "$dir" net local_addrs="$me" remote_addrs="$peer" local_id="$8" remote_id="$9" \
		psk=selftest-secret-1 proposals=aes128gcm16-prfsha256-ecp256 esp_proposals=aes128gcm16 \
		local_ts="$mynet" remote_ts="$peernet" mode=tunnel dpd_delay=5 rekey_time=1h life_time=2h
	swan_conf "$dir" tr6 local_addrs="$my6" remote_addrs="$peer6" local_id="$my6" remote_id="$peer6" \
		psk=0x73656c66746573742d736563726574 proposals=aes128gcm16-prfsha256-curve25519 \
		esp_proposals=aes256-sha256-curve25519 mode=transport child=tr6c
}
conf "$DA" 10.0.0.1 10.0.0.2 10.1.0.0/24 10.2.0.0/24 fd00::1 fd00::2 a.test b.test
conf "$DB" 10.0.0.2 10.0.0.1 10.2.0.0/24 10.1.0.0/24 fd00::2 fd00::1 b.test a.test
step "load"
swan_load "$A" "$DA"
swan_load "$B" "$DB"
swan_swanctl "$A" "$DA" --list-conns | grep -q 'net: IKEv2' || die "connection net not loaded in A"

if [ $have_esp = no ]; then
	step "this kernel cannot install ESP SAs: checking IKE SAs only"
	swan_initiate_ike "$A" "$DA" net
	swan_wait_sa "$B" "$DB" net 5
	swan_initiate_ike "$B" "$DB" tr6
	swan_wait_sa "$A" "$DA" tr6 5
	swan_list_sas "$A" "$DA" | grep -Eq '^net: #[0-9]+, ESTABLISHED, IKEv2' || die "A: IKE SA net not established"
	swan_list_sas "$B" "$DB" | grep -Eq '^tr6: #[0-9]+, ESTABLISHED, IKEv2' || die "B: IKE SA tr6 not established"
	grep -q 'IKE_SA tr6\[[0-9]*\] established between fd00::1' "$DA/charon.log" || die "A: tr6 not established"
	grep -q 'selected proposal: IKE:AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519' "$DB/charon.log" ||
		die "B: curve25519 proposal not selected"
	swan_terminate "$A" "$DA" net
	swan_terminate "$A" "$DA" tr6
	[ -z "$(swan_list_sas "$B" "$DB")" ] || die "B: SAs left: $(swan_list_sas "$B" "$DB")"
	swan_stop "$A" "$DA"
	swan_stop "$B" "$DB"
	! _swan_pid "$DA" >/dev/null || die "charon A still running"
	step "SKIP: IKE part good; ESP/XFRM part not run (no ESP in this kernel)"
	exit 77
fi

step "IPv4 tunnel: initiate from A"
swan_initiate "$A" "$DA" net
swan_wait_sa "$B" "$DB" net 5
[ "$(count_states "$A" tunnel)" = 2 ] || die "A: want 2 tunnel states: $(ip -n "$A" xfrm state)"
[ "$(count_states "$B" tunnel)" = 2 ] || die "B: want 2 tunnel states: $(ip -n "$B" xfrm state)"
ip -n "$A" xfrm state | grep -q 'aead rfc4106(gcm(aes))' || die "A: no AES-GCM state"
ip netns exec "$A" ping -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || die "ping through tunnel"
ip netns exec "$B" ping -c 3 -i 0.2 -W 2 -I 10.2.0.1 10.1.0.1 >/dev/null || die "ping back through tunnel"
[ "$(min_packets "$A")" -gt 0 ] || die "A: an ESP state carried no packets: $(ip -s -n "$A" xfrm state)"
[ "$(min_packets "$B")" -gt 0 ] || die "B: an ESP state carried no packets"
swan_list_sas "$A" "$DA" | grep -Eq 'net: #[0-9]+, reqid [0-9]+, INSTALLED, TUNNEL, ESP:AES_GCM_16-128' ||
	die "A: list-sas lacks the CHILD SA: $(swan_list_sas "$A" "$DA")"
[ "$(ip -n "$A" rule | wc -l)" = 3 ] || die "A: charon installed routing rules: $(ip -n "$A" rule)"

step "IPv6 transport: initiate from B"
swan_initiate "$B" "$DB" tr6c tr6
swan_wait_sa "$A" "$DA" tr6c 5
[ "$(count_states "$A" transport)" = 2 ] || die "A: want 2 transport states: $(ip -n "$A" xfrm state)"
ip netns exec "$B" ping -c 3 -i 0.2 -W 2 fd00::1 >/dev/null || die "ping6 over transport SA"
ip -s -n "$A" xfrm state list src fd00::2 dst fd00::1 | grep -q 'enc cbc(aes)' || die "A: no AES-CBC state from B"
[ "$(ip -s -n "$A" xfrm state list src fd00::2 dst fd00::1 | awk '/lifetime current:/ {getline; print $2 + 0}')" -gt 0 ] ||
	die "A: inbound transport SA carried no packets"

step "rekey tr6c with PFS (curve25519)"
old=$(ip -n "$A" xfrm state list src fd00::2 dst fd00::1 | awk '/proto esp spi/ {print $4}')
swan_rekey "$B" "$DB" tr6c
for _ in $(seq 50); do
	new=$(ip -n "$A" xfrm state list src fd00::2 dst fd00::1 | awk '/proto esp spi/ {print $4}' | grep -v "^$old$" || true)
	[ -z "$new" ] || break
	sleep 0.1
done
[ -n "$new" ] || die "rekey: no new SA"
grep -q 'CURVE_25519' "$DA/charon.log" || die "rekey: no CURVE_25519 in the responder's log"
ip netns exec "$B" ping -c 2 -i 0.2 -W 2 fd00::1 >/dev/null || die "ping6 after rekey"

step "other proposals (reload with changed config, IKE SA + child up and down)"
for combo in aes256-sha256-modp2048:aes256gcm16 aes128gcm16-prfsha256-ecp256:aes128-sha256 \
	aes256-sha256-modp2048:aes256-sha256-modp2048; do
	ike=${combo%%:*} esp=${combo#*:}
	for side in "$A:$DA:10.0.0.1:10.0.0.2" "$B:$DB:10.0.0.2:10.0.0.1"; do
		IFS=: read -r ns dir me peer <<<"$side"
		swan_conf "$dir" alg local_addrs="$me" remote_addrs="$peer" psk=s3 proposals="$ike" esp_proposals="$esp" \
			local_ts="$me/32[icmp]" remote_ts="$peer/32[icmp]" mode=transport
		swan_load "$ns" "$dir"
	done
	swan_initiate "$A" "$DA" alg
	ip netns exec "$A" ping -c 1 -W 2 10.0.0.2 >/dev/null || die "ping with $combo"
	swan_terminate "$A" "$DA" alg
	step "  $ike / $esp ok"
done

step "terminate"
swan_terminate "$A" "$DA" net
swan_terminate "$B" "$DB" tr6
for _ in $(seq 30); do
	[ -z "$(ip -n "$B" xfrm state)" ] && [ -z "$(ip -n "$A" xfrm state)" ] && break
	sleep 0.1
done
[ -z "$(ip -n "$A" xfrm state)" ] || die "A: states left after terminate: $(ip -n "$A" xfrm state)"
[ -z "$(ip -n "$B" xfrm state)" ] || die "B: states left after terminate: $(ip -n "$B" xfrm state)"
[ -z "$(swan_list_sas "$A" "$DA")" ] || die "A: SAs left: $(swan_list_sas "$A" "$DA")"

step "stop"
swan_stop "$A" "$DA"
swan_stop "$B" "$DB"
! _swan_pid "$DA" >/dev/null || die "charon A still running"
! _swan_pid "$DB" >/dev/null || die "charon B still running"
[ ! -e "$DA/run/charon.pid" ] || die "charon A left its pid file"
ip -n "$A" xfrm policy | grep -q . && die "A: policies left after stop: $(ip -n "$A" xfrm policy)"
grep -q 'SIGTERM received, shutting down' "$DB/charon.log" || die "B: no shutdown in log"
step "all good"
