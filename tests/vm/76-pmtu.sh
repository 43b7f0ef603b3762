# Path MTU: TCP flows started cold (no warm-up ping) through ripsec tunnels and transport mode
# lose no segment to the MTU check and no time to a retransmission timeout (SYNs offer an MSS
# that fits once encapsulated); ICMP errors for the ESP packets lower the SA's path MTU;
# fragmented ESP is reassembled by the receiver even when netfilter's defragmentation is
# bypassed.
# shellcheck shell=bash
source tests/vm/interop.sh

# ripsec_both ALG MODE: ripsec in A and in B with the same keys, for `topology MODE`.
ripsec_both() {
	local alg=$1 mode=$2
	load
	topology "$mode"
	ripsec_sas_policies "$alg"
}

# ripsec_sas_policies ALG: SPI 0x1000 (A -> B) and 0x2000 (B -> A) and the policies, in A and
# in B, for A_OUT/B_OUT, SEL_A/SEL_B and AMODE.
ripsec_sas_policies() {
	local alg=$1 n k1 k2 ns tmpl_a="" tmpl_b=""
	n=$(alg_key_len "$alg")
	k1=$(hexkey "$n" "$alg-a2b") k2=$(hexkey "$n" "$alg-b2a")
	for ns in A B; do
		ip netns exec $ns ikeuser sa add src $A_OUT dst $B_OUT proto esp spi 0x1000 reqid 1 mode $AMODE alg "$alg" key "0x$k1"
		ip netns exec $ns ikeuser sa add src $B_OUT dst $A_OUT proto esp spi 0x2000 reqid 1 mode $AMODE alg "$alg" key "0x$k2"
	done
	if [ "$AMODE" = tunnel ]; then
		tmpl_a="src $A_OUT dst $B_OUT" tmpl_b="src $B_OUT dst $A_OUT"
	fi
	ip netns exec A ikeuser policy add dir out src $SEL_A dst $SEL_B tmpl proto esp mode $AMODE reqid 1 $tmpl_a >/dev/null
	ip netns exec A ikeuser policy add dir in src $SEL_B dst $SEL_A tmpl proto esp mode $AMODE reqid 1 $tmpl_b >/dev/null
	ip netns exec B ikeuser policy add dir out src $SEL_B dst $SEL_A tmpl proto esp mode $AMODE reqid 1 $tmpl_b >/dev/null
	ip netns exec B ikeuser policy add dir in src $SEL_A dst $SEL_B tmpl proto esp mode $AMODE reqid 1 $tmpl_a >/dev/null
}

# netstat NS COUNTER: a counter of /proc/net/netstat or /proc/net/snmp(6) in NS (0 if absent).
netstat() {
	ip netns exec "$1" awk -v want="$2" '
		FILENAME ~ /snmp6$/ { if ($1 == want) v = $2; next }
		{ if (!(FNR % 2)) { for (i = 2; i <= NF; i++) if (p[1] k[i] == want) v = $i } else { split($0, k); p[1] = substr($1, 1, length($1) - 1) } }
		END { print v + 0 }' /proc/net/netstat /proc/net/snmp /proc/net/snmp6
}

# drops NS: every drop counter of ripsec in NS, drop-mtu included.
drops() { json_get "$(ip netns exec "$1" ikeuser stats --json)" 'sum(v for k, v in j["counters"].items() if k.startswith("drop-"))'; }

# sa_pmtu NS SPI: the path MTU SA SPI learnt (0: none).
sa_pmtu() { json_get "$(ip netns exec "$1" ikeuser sa list --json)" "[s['pmtu'] for s in j if s['spi'] == $2][0]"; }

# show NS...: what the counters say, for the log.
show() {
	local ns
	for ns in "$@"; do
		echo "$ns: timeouts $(netstat "$ns" TcpExtTCPTimeouts) retrans-segs $(netstat "$ns" TcpRetransSegs)" \
			"frag-creates $(netstat "$ns" IpFragCreates)/$(netstat "$ns" Ip6FragCreates) drops $(drops "$ns")"
	done
}

# no_loss NS...: no retransmission timeout, no drop by ripsec (none for the MTU either), and
# no ESP fragmented.
no_loss() {
	local ns
	show "$@"
	for ns in "$@"; do
		expect_eq "$(netstat "$ns" TcpExtTCPTimeouts)" 0 "TCP retransmission timeouts in $ns"
		expect_eq "$(drops "$ns")" 0 "ripsec drops in $ns"
		expect_eq "$(netstat "$ns" IpFragCreates)/$(netstat "$ns" Ip6FragCreates)" 0/0 "IP fragments made in $ns"
	done
}

# cold_flow MODE [xfrm]: 1 MB each way over TCP, the first packets of the netns (no warm-up);
# B runs ripsec too, or XFRM.
cold_flow() {
	if [ "${2:-}" = xfrm ]; then
		load
		xfrm_setup aes128gcm16 "$1"
	else
		ripsec_both aes128gcm16 "$1"
	fi
	tcp_transfer A B "$B_IN" "$A_IN" 1000000
	tcp_transfer B A "$A_IN" "$B_IN" 1000000
	if [ "${2:-}" = xfrm ]; then no_loss A; else no_loss A B; fi
	expect_eq "$(sa_pmtu A 0x1000)" 0 "path MTU learnt without ICMP"
}

test_cold_tcp_tunnel44() { cold_flow tunnel44; }
test_cold_tcp_tunnel66() { cold_flow tunnel66; }
test_cold_tcp_tunnel46() { cold_flow tunnel46; }
test_cold_tcp_transport4() { cold_flow transport4; }
test_cold_tcp_transport6() { cold_flow transport6; }
# XFRM advertises the MSS of the plain route: ripsec lowers it on the way in.
test_cold_tcp_xfrm_tunnel44() { cold_flow tunnel44 xfrm; }
test_cold_tcp_xfrm_transport6() { cold_flow transport6 xfrm; }

# router_setup MODE [far]: A - R - B, R's link to B with MTU 1400 (with `far`, on R's side
# only: B's side keeps 1500, so only R knows, and B still offers a 1500-byte MSS); tunnel44,
# tunnel66, transport4 or transport6 between A and B (tunnels with the inner networks of
# `topology`).
router_setup() {
	load
	mkns A R B
	ip link add a0 netns A type veth peer name r0 netns R
	ip link add r1 netns R type veth peer name b0 netns B
	ip -n R link set r1 mtu 1400
	[ "${2:-}" = far ] || ip -n B link set b0 mtu 1400
	local ns dev
	for ns in A R B; do
		for dev in $(ip -n $ns -o link show | awk -F': ' '$2 !~ /^lo/ {sub(/@.*/, "", $2); print $2}'); do
			ip -n $ns link set "$dev" up
		done
	done
	ip -n A addr add 192.0.2.1/24 dev a0 && ip -n R addr add 192.0.2.254/24 dev r0
	ip -n B addr add 198.51.100.2/24 dev b0 && ip -n R addr add 198.51.100.254/24 dev r1
	ip -n A addr add 2001:db8:1::1/64 dev a0 nodad && ip -n R addr add 2001:db8:1::fe/64 dev r0 nodad
	ip -n B addr add 2001:db8:2::2/64 dev b0 nodad && ip -n R addr add 2001:db8:2::fe/64 dev r1 nodad
	ip -n A route add default via 192.0.2.254 && ip -n B route add default via 198.51.100.254
	ip -n A -6 route add default via 2001:db8:1::fe && ip -n B -6 route add default via 2001:db8:2::fe
	ip netns exec R sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	AMODE=tunnel
	case $1 in
	tunnel44)
		A_OUT=192.0.2.1 B_OUT=198.51.100.2 A_IN=10.1.0.1 B_IN=10.2.0.1 SEL_A=10.1.0.0/24 SEL_B=10.2.0.0/24
		ip -n A addr add 10.1.0.1/32 dev lo && ip -n B addr add 10.2.0.1/32 dev lo
		ip -n A route add 10.2.0.0/24 via 192.0.2.254 src 10.1.0.1
		ip -n B route add 10.1.0.0/24 via 198.51.100.254 src 10.2.0.1
		;;
	tunnel66)
		A_OUT=2001:db8:1::1 B_OUT=2001:db8:2::2 A_IN=fd01::1 B_IN=fd02::1 SEL_A=fd01::/64 SEL_B=fd02::/64
		ip -n A addr add fd01::1/128 dev lo nodad && ip -n B addr add fd02::1/128 dev lo nodad
		ip -n A -6 route add fd02::/64 via 2001:db8:1::fe src fd01::1
		ip -n B -6 route add fd01::/64 via 2001:db8:2::fe src fd02::1
		;;
	transport4)
		AMODE=transport A_OUT=192.0.2.1 B_OUT=198.51.100.2 SEL_A=192.0.2.1/32 SEL_B=198.51.100.2/32
		A_IN=$A_OUT B_IN=$B_OUT
		;;
	transport6)
		AMODE=transport A_OUT=2001:db8:1::1 B_OUT=2001:db8:2::2 SEL_A=2001:db8:1::1/128 SEL_B=2001:db8:2::2/128
		A_IN=$A_OUT B_IN=$B_OUT
		;;
	esac
	ripsec_sas_policies aes128gcm16
}

# narrower_mid_flow MODE: only R knows its link is narrower; A's first full-size ESP packets
# die there, R's ICMP teaches A's SA the path MTU, and ripsec then tells TCP the inner MTU
# (transport mode too: the ESP then leaves fragmented to TCP's new route MTU), so the flow
# completes. (Segments lost at R may cost a retransmission timeout, as with XFRM: R's error
# quotes ESP, not the TCP inside; so timeouts are not checked here.)
narrower_mid_flow() {
	router_setup "$1" far
	tcp_transfer A B "$B_IN" "$A_IN" 1000000
	show A B
	expect_eq "$(sa_pmtu A 0x1000)" 1400 "A's outbound SA's path MTU after R's ICMP"
	expect_eq "$(drops B)" 0 "ripsec drops in B"
}

test_narrower_path_mid_flow_tunnel44() { narrower_mid_flow tunnel44; }
test_narrower_path_mid_flow_transport4() { narrower_mid_flow transport4; }
test_narrower_path_mid_flow_transport6() { narrower_mid_flow transport6; }

# narrow_path MODE: R's ICMP error about A's ESP packets teaches A's SA the path MTU (1400);
# then a TCP flow gets through without loss. (TCP alone would never meet R's limit: B's SYN-ACK
# offers what fits B's 1400-byte link. A ping that may not be fragmented does.)
narrow_path() {
	router_setup "$1"
	expect_eq "$(sa_pmtu A 0x1000)" 0 "path MTU before any ICMP"
	# The first echo dies at R, which tells A; ripsec then refuses the next ones with the inner MTU.
	# (Echoes that fit A's 1500-byte link once encapsulated, not R's 1400.)
	local size=1400
	[ "$1" = tunnel44 ] || size=1370
	ip netns exec A ping -c 3 -i 0.3 -W 1 -M "do" -s $size -I "$A_IN" "$B_IN" || true
	wait_for 10 'test "$(sa_pmtu A 0x1000)" = 1400' || fail "A's outbound SA's path MTU after R's ICMP: $(sa_pmtu A 0x1000)"
	ip netns exec A ping -c 2 -i 0.3 -W 2 -M "do" -s 1250 -I "$A_IN" "$B_IN" >/dev/null || fail "ping that fits"
	tcp_transfer A B "$B_IN" "$A_IN" 300000
	show A B
	expect_eq "$(sa_pmtu A 0x2000)" 0 "A's inbound SA's path MTU"
	expect_eq "$(sa_pmtu B 0x2000)" 0 "B's outbound SA's path MTU (B's own link is 1400)"
	ip netns exec A ikeuser sa list | grep -q 'path MTU 1400' || fail "sa list does not show the path MTU"
	expect_eq "$(netstat A TcpExtTCPTimeouts)" 0 "TCP retransmission timeouts in A"
	expect_eq "$(json_get "$(ip netns exec A ikeuser stats --json)" 'sum(v for k, v in j["counters"].items() if k.startswith("drop-") and k != "drop-mtu")')" 0 "ripsec drops in A but the pings'"
	expect_eq "$(drops B)" 0 "ripsec drops in B"
}

test_icmp_lowers_sa_pmtu_tunnel44() { narrow_path tunnel44; }
test_icmp_lowers_sa_pmtu_tunnel66() { narrow_path tunnel66; }

# inject MTU QUOTED-SRC SPI: an ICMP frag-needed from B to A quoting ESP QUOTED-SRC -> B.
inject() {
	ip netns exec B python3 -I -S -c '
import socket, struct, sys
mtu, src, spi = int(sys.argv[1]), sys.argv[2], int(sys.argv[3], 0)
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 1500, 1, 0x4000, 64, 50, 0, socket.inet_aton(src), socket.inet_aton("10.0.0.2"))
m = struct.pack("!BBHHH", 3, 4, 0, 0, mtu) + ip + struct.pack("!II", spi, 1)
c = sum(struct.unpack("!%dH" % (len(m) // 2), m))
while c > 0xffff: c = (c & 0xffff) + (c >> 16)
m = m[:2] + struct.pack("!H", ~c & 0xffff) + m[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.sendto(m, ("10.0.0.1", 0))' "$@"
}

# Forged errors: for another SA's source, above the learnt MTU, below the minimum.
test_icmp_errors_checked() {
	ripsec_both aes128gcm16 tunnel44
	inject 1400 10.0.0.3 0x1000
	inject 1400 10.0.0.1 0x2000
	inject 1400 10.0.0.1 0x3000
	expect_eq "$(sa_pmtu A 0x1000)/$(sa_pmtu A 0x2000)" 0/0 "path MTUs after errors for no SA of A's"
	inject 1400 10.0.0.1 0x1000
	wait_for 10 'test "$(sa_pmtu A 0x1000)" = 1400' || fail "path MTU after a valid error: $(sa_pmtu A 0x1000)"
	inject 1450 10.0.0.1 0x1000
	expect_eq "$(sa_pmtu A 0x1000)" 1400 "path MTU after a larger MTU"
	inject 100 10.0.0.1 0x1000
	wait_for 10 'test "$(sa_pmtu A 0x1000)" = 552' || fail "path MTU after a tiny MTU: $(sa_pmtu A 0x1000)"
	# The SA now sends at most 552 bytes: a cold TCP flow still gets through without loss.
	tcp_transfer A B "$B_IN" "$A_IN" 200000
	show A B
	expect_eq "$(netstat A TcpExtTCPTimeouts)" 0 "TCP retransmission timeouts"
	expect_eq "$(drops A)" 0 "ripsec drops in A"
}

# Full-size and larger UDP over IPv6 transport: the ESP leaves fragmented; B reassembles it
# although netfilter's defragmentation is bypassed (notrack before it), as it would be
# without conntrack.
test_ipv6_transport_fragmented_esp_reassembled() {
	ripsec_both aes128gcm16 transport6
	ip netns exec B nft -f - <<'NFT'
table ip6 notrack_all {
	chain pre { type filter hook prerouting priority -450; notrack; }
}
NFT
	local out
	out=$(mktemp)
	ip netns exec B timeout 60 python3 -I -S -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("fd00::2", 7000))
for _ in range(3):
    d, _ = s.recvfrom(65536)
    print(len(d), sum(d) % 65521, flush=True)' >"$out" &
	local listener=$!
	wait_for 20 "ip netns exec B ss -Hlun 'sport = :7000' | grep -q ." || fail "listener"
	ip netns exec A python3 -I -S -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for n in (1452, 3000, 9000):
    s.sendto(bytes(i % 251 for i in range(n)), ("fd00::2", 7000))'
	wait $listener || true
	cat "$out"
	expect_eq "$(awk '{print $1}' "$out" | tr '\n' ' ')" "1452 3000 9000 " "datagrams B received"
	[ "$(netstat A Ip6FragCreates)" -gt 0 ] || fail "A did not fragment the ESP: the test proves nothing"
	expect_eq "$(drops B)" 0 "ripsec drops in B"
}

# A learnt path MTU holds for net.ipv4.route.mtu_expires seconds (as XFRM's route exceptions
# do; 600 by default), then the device's MTU is tried again.
test_learnt_pmtu_expires() {
	ripsec_both aes128gcm16 tunnel44
	ip netns exec A sysctl -qw net.ipv4.route.mtu_expires=4
	inject 1400 10.0.0.1 0x1000
	wait_for 10 'test "$(sa_pmtu A 0x1000)" = 1400' || fail "path MTU after a valid error: $(sa_pmtu A 0x1000)"
	wait_for 20 'test "$(sa_pmtu A 0x1000)" = 0' || fail "the path MTU did not expire: $(sa_pmtu A 0x1000)"
	# Full-size packets that may not be fragmented go through again.
	ip netns exec A ping -c 2 -i 0.3 -W 2 -M "do" -s 1400 -I "$A_IN" "$B_IN" >/dev/null || fail "full-size ping after the expiry"
}
