# NAT traversal through a real NAT router: netns N masquerades (nftables) A's private network
# 192.168.1.0/24 behind its public address 10.0.0.254; B is public (10.0.0.2). ikeuser behind
# the NAT against charon and the other way round, ikeuser against ikeuser, and a NAT that
# rebinds mid-flow, to a new port and then to a new address; transport mode through the NAT. Tunnel mode, 10.1.0.0/24 behind A, 10.2.0.0/24 behind B.
# shellcheck shell=bash
source tests/vm/ike.sh
source tests/vm/strongswan.sh

SWAN=$IKE_DIR/swan
NAT_PUBLIC=10.0.0.254

nat_cleanup() {
	local rc=$?
	# The test's `set -e` would end this trap at `(exit $rc)` below, before ike_cleanup.
	set +e
	swan_stop_all "$SWAN" || true
	if [ $rc -ne 0 ]; then
		echo "--- NAT mappings"
		ip netns exec N conntrack -L -p udp 2>/dev/null || true
		swan_log "$SWAN" 40 || true
	fi
	(exit $rc)
	ike_cleanup
}

# nat_topology: A (192.168.1.2, inner 10.1.0.1) - N (192.168.1.1 | 10.0.0.254, masquerade) -
# B (10.0.0.2, inner 10.2.0.1). Sets what interop.sh's `topology` sets, for ike_conf.
nat_topology() {
	load
	mkns A N B
	ip link add a0 netns A type veth peer name n0 netns N
	ip link add n1 netns N type veth peer name b0 netns B
	ip -n A link set a0 up
	ip -n B link set b0 up
	ip -n N link set n0 up
	ip -n N link set n1 up
	ip -n A addr add 192.168.1.2/24 dev a0
	ip -n N addr add 192.168.1.1/24 dev n0
	ip -n N addr add $NAT_PUBLIC/24 dev n1
	ip -n B addr add 10.0.0.2/24 dev b0
	ip -n A route add default via 192.168.1.1
	ip netns exec N sysctl -qw net.ipv4.ip_forward=1
	ip netns exec N nft -f - <<-'EOF'
		table ip nat {
			chain post {
				type nat hook postrouting priority srcnat;
				oifname "n1" masquerade
			}
		}
	EOF
	ip -n A addr add 10.1.0.1/32 dev lo
	ip -n B addr add 10.2.0.1/32 dev lo
	ip -n A route add 10.2.0.0/24 via 192.168.1.1 src 10.1.0.1
	ip -n B route add 10.1.0.0/24 dev b0 src 10.2.0.1
	A_OUT=192.168.1.2 B_OUT=10.0.0.2 A_IN=10.1.0.1 B_IN=10.2.0.1
	SEL_A=10.1.0.0/24 SEL_B=10.2.0.0/24 AMODE=tunnel
	trap nat_cleanup EXIT
}

# ikeuser_behind_nat [KEY=VALUE...]: ikeuser in A (behind the NAT) with FQDN IDs, towards B.
ikeuser_behind_nat() {
	ike_conf A "$IKE_DIR/A.toml" local_id=a.nat.test remote_id=b.nat.test keepalive=2 "$@"
	ikeuser_start A "$IKE_DIR/A.toml"
}

# ikeuser_public [KEY=VALUE...]: ikeuser in B (public); the peer is the NAT's address.
ikeuser_public() {
	ike_conf B "$IKE_DIR/B.toml" local_id=b.nat.test remote_id=a.nat.test remote_addr=$NAT_PUBLIC "$@"
	ikeuser_start B "$IKE_DIR/B.toml"
}

# charon NS LOCAL REMOTE LOCAL-TS REMOTE-TS LOCAL-ID REMOTE-ID [KEY=VALUE...]: charon in NS
# with connection c (extra swan_conf keys last).
charon() {
	mkdir -p "$SWAN"
	swan_start "$1" "$SWAN"
	swan_conf "$SWAN" c child=net local_addrs="$2" remote_addrs="${3:-%any}" psk="$IKE_PSK" \
		local_id="$6" remote_id="$7" proposals=aes128gcm16-prfsha256-ecp256 \
		esp_proposals=aes128gcm16 local_ts="$4" remote_ts="$5" dpd_delay=2s "${@:8}"
	swan_load "$1" "$SWAN"
}

# transport_traffic: ping and TCP with checksums between A and B's own addresses, both ways;
# B reaches A at the NAT's address. TCP checksums cover the addresses the NAT rewrote, so the
# receivers must take them as verified (RFC 3948 §3.1.2).
transport_traffic() {
	ip netns exec A ping -c 2 -i 0.2 -W 2 -I 192.168.1.2 10.0.0.2 >/dev/null || fail "ping A -> B"
	ip netns exec B ping -c 2 -i 0.2 -W 2 -I 10.0.0.2 $NAT_PUBLIC >/dev/null || fail "ping B -> A"
	tcp_transfer A B 10.0.0.2 192.168.1.2 30000
	tcp_transfer B A $NAT_PUBLIC 10.0.0.2 30000 192.168.1.2
}

test_nat_transport_ikeuser_behind_nat_to_charon() {
	nat_topology
	ikeuser_behind_nat mode=transport local_ts=192.168.1.2/32 remote_ts=10.0.0.2/32
	charon B 10.0.0.2 "" 10.0.0.2/32 dynamic b.nat.test a.nat.test mode=transport
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	expect_contains "$(ikectl A status)" "192.168.1.2/32 === 10.0.0.2/32"
	ip -n B xfrm policy | grep -q "src 10.0.0.2/32 dst $NAT_PUBLIC/32" || fail "charon's policy: $(ip -n B xfrm policy)"
	transport_traffic
	ikectl A rekey c >/dev/null || fail "child rekey: $(ike_log A | tail -3)"
	transport_traffic
}

test_nat_transport_charon_behind_nat_to_ikeuser() {
	nat_topology
	ikeuser_public mode=transport local_ts=10.0.0.2/32 remote_ts=$NAT_PUBLIC/32
	charon A 192.168.1.2 10.0.0.2 dynamic dynamic a.nat.test b.nat.test mode=transport
	swan_initiate A "$SWAN" net c || fail "charon could not initiate: $(ike_log B | tail -5)"
	expect_contains "$(ikectl B status)" "10.0.0.2/32 === $NAT_PUBLIC/32"
	transport_traffic
	ikectl B rekey c >/dev/null || fail "child rekey from the public side: $(ike_log B | tail -3)"
	transport_traffic
}

# nat_remap RULE...: replaces N's source NAT rules at once (no packet meets an empty chain),
# then forgets its mappings: the next packets get new ones.
nat_remap() {
	local rule
	{
		echo "flush chain ip nat post"
		for rule in "$@"; do
			echo "add rule ip nat post $rule"
		done
	} | ip netns exec N nft -f -
	ip netns exec N conntrack -F 2>/dev/null
}

# udp_mappings: the NAT's UDP conntrack entries.
udp_mappings() { ip netns exec N conntrack -L -p udp 2>/dev/null; }

test_nat_ikeuser_behind_nat_to_charon() {
	nat_topology
	ikeuser_behind_nat dpd=2
	charon B 10.0.0.2 "" 10.2.0.0/24 10.1.0.0/24 b.nat.test a.nat.test
	local cap
	cap=$(mktemp --suffix=.pcap)
	ip netns exec N dumpcap -q -i n1 -f "udp" -w "$cap" 2>/dev/null &
	local dump=$!
	wait_for 20 "[ -s $cap ]" || fail "dumpcap did not start"
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	expect_contains "$(ikectl A status)" "NAT: we are behind a NAT; IKE on 192.168.1.2:4500 <-> 10.0.0.2:4500, ESP in UDP"
	ip -n B xfrm state | grep -q "encap type espinudp sport 4500" || fail "charon's SAs are not in UDP: $(ip -n B xfrm state)"
	traffic_both_ways 50000
	# Rekeys of the Child SA and the IKE SA through the NAT, under pings.
	ip netns exec A ping -c 30 -i 0.1 -W 1 -I "$A_IN" "$B_IN" >"$IKE_DIR/ping" &
	local pinger=$!
	ikectl A rekey c >/dev/null || fail "child rekey: $(ike_log A | tail -3)"
	ikectl A rekey c --ike >/dev/null || fail "IKE rekey: $(ike_log A | tail -3)"
	wait $pinger || fail "pings lost during the rekeys: $(tail -3 "$IKE_DIR/ping")"
	# Keepalives (every 2 s) and DPD keep going through the NAT: the seconds are the subject (two
	# keepalives at least), and the capture's file is buffered, with nothing to watch.
	sleep 5
	kill -INT $dump
	wait $dump || true
	[ "$(tshark -n -r "$cap" -Y 'udp.dstport == 4500 && udp.length == 9' 2>/dev/null | wc -l)" -ge 2 ] ||
		fail "no NAT keepalives on the wire"
	swan_list_sas B "$SWAN" | grep -q ESTABLISHED || fail "charon lost the IKE SA"
	traffic_both_ways 20000
	expect_eq "$(json_get "$(ip netns exec A ikeuser stats --json)" 'j["counters"]["drop-encap"]')" 0 "drop-encap in A"
}

test_nat_charon_behind_nat_to_ikeuser() {
	nat_topology
	ikeuser_public
	charon A 192.168.1.2 10.0.0.2 10.1.0.0/24 10.2.0.0/24 a.nat.test b.nat.test
	swan_initiate A "$SWAN" net c || fail "charon could not initiate: $(ike_log B | tail -5)"
	expect_contains "$(ikectl B status)" "NAT: the peer is behind a NAT; IKE on 10.0.0.2:4500 <-> 10.0.0.254:"
	traffic_both_ways 50000
	ikectl B rekey c >/dev/null || fail "child rekey from the public side: $(ike_log B | tail -3)"
	traffic_both_ways 20000
	# charon's NAT moves it to another public address: its next liveness check brings ikeuser
	# along (MIGRATE), without a new IKE SA.
	ip -n N addr add 10.0.0.253/24 dev n1
	nat_remap "oifname n1 snat to 10.0.0.253"
	wait_for 20 "grep -q 'it is now at 10.0.0.253:' $IKE_DIR/B.log" || fail "B did not follow charon: $(ike_log B | tail -5)"
	traffic_both_ways 20000
	expect_eq "$(ike_sa_count B)" 1 "IKE SAs in B after the address change"
}

# a_packets_in: packets ripsec's SAs in A have received.
a_packets_in() { json_get "$(ip netns exec A ikeuser sa list --json)" 'sum(s["stats"]["packets-in"] for s in j)'; }

test_nat_ikeuser_to_ikeuser_and_rebinding() {
	nat_topology
	ikeuser_behind_nat dpd=1
	ikeuser_public
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5)"
	traffic_both_ways 30000
	local id port
	id=$(json_get "$(ikectl B status --json)" 'j["status"]["ike_sas"][0]["id"]')
	port=$(json_get "$(ikectl B status --json)" 'j["status"]["ike_sas"][0]["peer"].rsplit(":", 1)[1]')
	# The NAT rebinds: its mappings are forgotten and new ones come from another port range.
	nat_remap "oifname n1 meta l4proto udp masquerade to :20000-20099" "oifname n1 masquerade"
	# The next IKE request from behind the NAT (a rekey) carries the new mapping to B.
	ikectl A rekey c >/dev/null || fail "rekey after rebinding: $(ike_log A | tail -3)"
	wait_for 10 "grep -q \"the peer's NAT mapping changed\" $IKE_DIR/B.log" || fail "B did not follow: $(ike_log B | tail -5)"
	local new
	new=$(json_get "$(ikectl B status --json)" 'j["status"]["ike_sas"][0]["peer"].rsplit(":", 1)[1]')
	[ "$new" != "$port" ] && [ "$new" -ge 20000 ] && [ "$new" -le 20099 ] || fail "B's view of the peer's port: $port -> $new"
	expect_eq "$(json_get "$(ikectl B status --json)" 'j["status"]["ike_sas"][0]["id"]')" "$id" "B's IKE SA (no new negotiation)"
	expect_contains "$(ikectl B status)" "ESP in UDP, port 4500 -> $new"
	traffic_both_ways 30000
	expect_eq "$(json_get "$(ip netns exec B ikeuser sa list --json)" 'sorted(s["encap"]["dport"] for s in j)[-1]')" "$new" "B's outbound SA follows the new port"
	# The NAT now hides A behind another public address: B's SAs and tunnel templates move
	# there (MIGRATE), keeping their sequence numbers, and the IKE SA stays the same.
	local out_spi seq0
	out_spi=$(json_get "$(ikectl B status --json)" 'j["status"]["ike_sas"][0]["children"][0]["spi_out"]')
	seq0=$(json_get "$(ip netns exec B ikeuser sa list --json)" "[s['seq_out'] for s in j if s['spi'] == int('$out_spi', 16)][0]")
	ip -n N addr add 10.0.0.253/24 dev n1
	nat_remap "oifname n1 snat to 10.0.0.253"
	# A's next liveness check (every second) comes from the new address.
	wait_for 10 "grep -q 'it is now at 10.0.0.253:' $IKE_DIR/B.log" || fail "B did not follow the new address: $(ike_log B | tail -5)"
	! grep -q "cannot move Child SA" "$IKE_DIR/B.log" || fail "B: $(grep "cannot move" "$IKE_DIR/B.log")"
	traffic_both_ways 30000
	local sas
	sas=$(ip netns exec B ikeuser sa list --json)
	expect_eq "$(json_get "$sas" "[s['dst'] for s in j if s['spi'] == int('$out_spi', 16)][0]")" 10.0.0.253 "B's outbound SA destination"
	[ "$(json_get "$sas" "[s['seq_out'] for s in j if s['spi'] == int('$out_spi', 16)][0]")" -gt $((seq0 + 1024)) ] ||
		fail "B's outbound SA restarted its sequence numbers (was $seq0): $sas"
	expect_contains "$(ip netns exec B ikeuser policy list)" "10.0.0.253"
	! ip netns exec B ikeuser policy list | grep -q "$NAT_PUBLIC" || fail "a template still names $NAT_PUBLIC: $(ip netns exec B ikeuser policy list)"
	expect_eq "$(json_get "$(ikectl B status --json)" 'j["status"]["ike_sas"][0]["id"]')" "$id" "B's IKE SA after the address change"
	# SIGKILL A's daemon while ESP in UDP flows to it: the socket ripsec receives on closes
	# under traffic (dmesg and kmemleak must stay clean), and ESP in UDP then finds no socket.
	local in0
	in0=$(a_packets_in)
	ip netns exec B ping -c 20 -i 0.1 -W 1 -I "$B_IN" "$A_IN" >/dev/null &
	local pinger=$!
	wait_for 10 "[ \$(a_packets_in) -gt $in0 ]" || fail "no ESP in UDP reached A before the kill"
	kill -KILL "$(cat "$IKE_DIR/A.pid")"
	wait $pinger || true
	wait_for 10 "! ss -Hlun -N A 'sport = :4500' | grep -q ." || fail "A's UDP 4500 socket outlived its daemon"
	ip netns exec A ikeuser stats >/dev/null || fail "ripsec in A after the daemon died"
}

test_nat_both_peers_behind_their_own_nat() {
	nat_topology
	# B moves behind a second NAT (N2, public 10.0.0.253) that forwards IKE and NAT-T to it.
	mkns N2
	ip -n B addr flush dev b0
	ip -n B link set b0 netns N2
	ip -n N2 link set b0 name n3
	ip link add b0 netns B type veth peer name n2 netns N2
	ip -n N2 link set n3 up
	ip -n N2 link set n2 up
	ip -n B link set b0 up
	ip -n N2 addr add 10.0.0.253/24 dev n3
	ip -n N2 addr add 192.168.2.1/24 dev n2
	ip -n B addr add 192.168.2.2/24 dev b0
	ip -n B route add default via 192.168.2.1
	ip -n B route replace 10.1.0.0/24 via 192.168.2.1 src 10.2.0.1
	ip netns exec N2 sysctl -qw net.ipv4.ip_forward=1
	ip netns exec N2 nft -f - <<-'EOF2'
		table ip nat {
			chain pre {
				type nat hook prerouting priority dstnat;
				iifname "n3" udp dport { 500, 4500 } dnat to 192.168.2.2
			}
			chain post {
				type nat hook postrouting priority srcnat;
				oifname "n3" masquerade
			}
		}
	EOF2
	ike_conf A "$IKE_DIR/A.toml" local_id=a.nat.test remote_id=b.nat.test remote_addr=10.0.0.253 keepalive=2
	ike_conf B "$IKE_DIR/B.toml" local_id=b.nat.test remote_id=a.nat.test local_addr=192.168.2.2 remote_addr=$NAT_PUBLIC keepalive=2
	ikeuser_start A "$IKE_DIR/A.toml"
	ikeuser_start B "$IKE_DIR/B.toml"
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5)"
	expect_contains "$(ikectl A status)" "NAT: both sides are behind a NAT"
	expect_contains "$(ikectl B status)" "NAT: both sides are behind a NAT"
	traffic_both_ways 30000
	ikectl B rekey c >/dev/null || fail "rekey from the responder behind its NAT: $(ike_log B | tail -3)"
	traffic_both_ways 20000
}

# IKEv1 through the NAT (RFC 3947): ikeuser behind it, charon public, both `version = 1`. NAT-D
# finds the NAT, Main Mode moves to 4500, Quick Mode asks for UDP-Tunnel and ESP goes in UDP;
# keepalives hold the mapping; then charon initiates back through the NAT's mapping.
test_nat_ikev1_ikeuser_behind_nat_to_charon() {
	nat_topology
	ikeuser_behind_nat version=1 ike='["aes256-sha256-modp2048"]' esp='["aes128gcm16"]'
	charon B 10.0.0.2 "" 10.2.0.0/24 10.1.0.0/24 b.nat.test a.nat.test \
		ike.version=1 proposals=aes256-sha256-modp2048 dpd_delay=0s
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	swan_wait_sa B "$SWAN" net
	expect_contains "$(ikectl A status)" "NAT: we are behind a NAT; IKE on 192.168.1.2:4500 <-> 10.0.0.2:4500, ESP in UDP"
	ip -n B xfrm state | grep -q "encap type espinudp sport 4500" || fail "charon's SAs are not in UDP: $(ip -n B xfrm state)"
	traffic_both_ways 50000
	ikectl A rekey c >/dev/null || fail "child rekey: $(ike_log A | tail -3)"
	wait_for 10 'test "$(sa_count A)" = 2' || fail "A has $(sa_count A) SAs after the rekey"
	traffic_both_ways 20000
}

# IKEv1 between two ikeusers through the NAT, which rebinds: to another port range (the next
# Quick Mode from behind it carries the new mapping to B), then to another address (A's next
# R-U-THERE does). B follows each, authenticated, without a new negotiation; traffic flows.
test_nat_ikev1_ikeuser_to_ikeuser_rebinding() {
	nat_topology
	ikeuser_behind_nat version=1 ike='["aes256-sha256-modp2048"]' dpd=1
	ikeuser_public version=1 ike='["aes256-sha256-modp2048"]'
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(ike_log B | tail -5)"
	traffic_both_ways 30000
	local id port new
	id=$(json_get "$(ikectl B status --json)" 'j["status"]["ike_sas"][0]["id"]')
	port=$(json_get "$(ikectl B status --json)" 'j["status"]["ike_sas"][0]["peer"].rsplit(":", 1)[1]')
	nat_remap "oifname n1 meta l4proto udp masquerade to :20000-20099" "oifname n1 masquerade"
	ikectl A rekey c >/dev/null || fail "rekey after rebinding: $(ike_log A | tail -3)"
	wait_for 10 "grep -q \"the peer's NAT mapping changed\" $IKE_DIR/B.log" || fail "B did not follow: $(ike_log B | tail -5)"
	new=$(json_get "$(ikectl B status --json)" 'j["status"]["ike_sas"][0]["peer"].rsplit(":", 1)[1]')
	[ "$new" != "$port" ] && [ "$new" -ge 20000 ] && [ "$new" -le 20099 ] || fail "B's view of the peer's port: $port -> $new"
	expect_eq "$(json_get "$(ikectl B status --json)" 'j["status"]["ike_sas"][0]["id"]')" "$id" "B's ISAKMP SA (no new negotiation)"
	traffic_both_ways 30000
	ip -n N addr add 10.0.0.253/24 dev n1
	nat_remap "oifname n1 snat to 10.0.0.253"
	wait_for 10 "grep -q 'it is now at 10.0.0.253:' $IKE_DIR/B.log" || fail "B did not follow the new address: $(ike_log B | tail -5)"
	traffic_both_ways 30000
	expect_eq "$(json_get "$(ikectl B status --json)" 'j["status"]["ike_sas"][0]["id"]')" "$id" "B's ISAKMP SA after the address change"
	expect_eq "$(json_get "$(ikectl B status --json)" 'j["status"]["ike_sas"][0]["peer"].rsplit(":", 1)[0]')" 10.0.0.253 "B's ISAKMP peer"
}

# IKEv1 transport mode across the NAT with charon, each side behind it in turn: the IDs name
# the private address, each responder takes the NAT's address instead (NAT-OA reports the
# originals), ESP goes in UDP (UDP-Transport) and TCP checksums over rewritten addresses pass.
test_nat_ikev1_transport_each_side_behind_the_nat() {
	nat_topology
	local v1=(version=1 ike='["aes256-sha256-modp2048"]')
	ikeuser_behind_nat "${v1[@]}" mode=transport local_ts=192.168.1.2/32 remote_ts=10.0.0.2/32
	charon B 10.0.0.2 "" 10.0.0.2/32 dynamic b.nat.test a.nat.test mode=transport \
		ike.version=1 proposals=aes256-sha256-modp2048 dpd_delay=0s
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	expect_contains "$(ikectl A status)" "192.168.1.2/32 === 10.0.0.2/32"
	ip -n B xfrm policy | grep -q "src 10.0.0.2/32 dst $NAT_PUBLIC/32" || fail "charon's policy: $(ip -n B xfrm policy)"
	transport_traffic
	ikeuser_stop A
	swan_stop B "$SWAN"
	delete_all_netns
	nat_topology
	ikeuser_public "${v1[@]}" mode=transport local_ts=10.0.0.2/32 remote_ts=$NAT_PUBLIC/32
	charon A 192.168.1.2 10.0.0.2 dynamic dynamic a.nat.test b.nat.test mode=transport \
		ike.version=1 proposals=aes256-sha256-modp2048 dpd_delay=0s
	swan_initiate A "$SWAN" net c || fail "charon could not initiate: $(ike_log B | tail -5)"
	expect_contains "$(ikectl B status)" "10.0.0.2/32 === $NAT_PUBLIC/32"
	transport_traffic
	ikectl B rekey c >/dev/null || fail "child rekey from the public side: $(ike_log B | tail -3)"
	transport_traffic
}
