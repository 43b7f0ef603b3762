# ESP in UDP (RFC 3948) with manual keying: ripsec (A) against XFRM (B, `encap espinudp`), the
# ENCAP_ATTACH request's refusals, bad datagrams on port 4500, MAPPING events, and detaching
# in every order (the socket closes, its owner is killed, rmmod, the netns goes).
source tests/vm/interop.sh

# hold_xfrm_socket NS ADDR: a UDP socket on ADDR:4500 with XFRM's UDP_ENCAP and bypass socket
# policies, as charon keeps one; XFRM receives ESP in UDP only through such a socket (and
# checks its policy before the encapsulation when the socket has none).
hold_xfrm_socket() {
	ip netns exec "$1" python3 -c '
import socket, sys, time
a = sys.argv[1]
v6 = ":" in a
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_UDP, 100, 2)  # UDP_ENCAP, UDP_ENCAP_ESPINUDP
for direction in (0, 1):  # struct xfrm_userpolicy_info: sel.family, dir, action allow
    p = bytearray(168)
    p[40:42] = (10 if v6 else 2).to_bytes(2, "little")
    p[160] = direction
    s.setsockopt(41 if v6 else 0, 35 if v6 else 17, bytes(p))  # IP(V6)_XFRM_POLICY
s.bind((a, 4500))
time.sleep(100000)' "$2" &
}

# start_encap_listener: `ikeuser encap listen` in A (LISTENER); returns once it has handed its
# sockets to the module (it says so), not merely bound them.
start_encap_listener() {
	local out
	out=$(mktemp)
	ip netns exec A ikeuser encap listen >"$out" &
	LISTENER=$!
	wait_until "ikeuser encap listen in A to hand its sockets to ripsec" 30 "grep -q receiving $out"
}

# encap_setup ALG MODE: xfrm_setup's SAs and policies, every SA carried in UDP 4500 <-> 4500;
# ripsec's socket is held by `ikeuser encap listen` (LISTENER), XFRM's by a python process.
encap_setup() {
	local alg=$1 mode=$2
	topology "$mode"
	local ao=$A_OUT bo=$B_OUT amode=$AMODE n k1 k2 tmpl_a="" tmpl_b="" sel_ab="" sel_ba=""
	n=$(alg_key_len "$alg")
	k1=$(hexkey "$n" "$alg-a2b")
	k2=$(hexkey "$n" "$alg-b2a")
	KEY_AB=$k1 KEY_BA=$k2
	if [ $amode = tunnel ]; then
		tmpl_a="src $ao dst $bo" tmpl_b="src $bo dst $ao"
		sel_ab="sel src $SEL_A dst $SEL_B" sel_ba="sel src $SEL_B dst $SEL_A"
	fi
	start_encap_listener
	hold_xfrm_socket B "$bo"
	wait_listening B udp 4500
	ip netns exec A ikeuser sa add src $ao dst $bo proto esp spi 0x1000 reqid 1 mode $amode alg "$alg" key "0x$k1" encap espinudp 4500 4500
	ip netns exec A ikeuser sa add src $bo dst $ao proto esp spi 0x2000 reqid 1 mode $amode alg "$alg" key "0x$k2" encap espinudp 4500 4500
	ip netns exec A ikeuser policy add dir out src $SEL_A dst $SEL_B tmpl proto esp mode $amode reqid 1 $tmpl_a >/dev/null
	ip netns exec A ikeuser policy add dir in src $SEL_B dst $SEL_A tmpl proto esp mode $amode reqid 1 $tmpl_b >/dev/null
	eval "ip -n B xfrm state add src $ao dst $bo proto esp spi 0x1000 reqid 1 mode $amode $(xfrm_alg_args "$alg" "$k1") encap espinudp 4500 4500 0.0.0.0 $sel_ab"
	eval "ip -n B xfrm state add src $bo dst $ao proto esp spi 0x2000 reqid 1 mode $amode $(xfrm_alg_args "$alg" "$k2") encap espinudp 4500 4500 0.0.0.0 $sel_ba"
	ip -n B xfrm policy add dir out src $SEL_B dst $SEL_A tmpl src $bo dst $ao proto esp reqid 1 mode $amode
	ip -n B xfrm policy add dir in src $SEL_A dst $SEL_B tmpl src $ao dst $bo proto esp reqid 1 mode $amode
}

# a_stat NAME: a global counter of A.

# sa_packets_in SPI: packets A received on that SA.
sa_packets_in() { json_get "$(ip netns exec A ikeuser sa list --json)" "[s['stats']['packets-in'] for s in j if s['spi'] == $1][0]"; }

# encap_interop ALG MODE: traffic with checksums both ways, all of it in UDP 4500 on the wire
# (no native ESP), decrypted and authenticated there by tshark with the keys.
encap_interop() {
	load
	encap_setup "$@"
	local f
	f=$(mktemp --suffix=.pcap)
	start_dumpcap B b0 "udp port 4500 or esp" "$f"
	traffic_both_ways 100000
	stop_dumpcap
	expect_eq "$(tshark -n -r "$f" -Y 'ip.proto == 50 or ipv6.nxt == 50' 2>/dev/null | wc -l)" 0 "native ESP frames on the wire"
	/usr/bin/python3 tests/vm/wire_check.py "$f" --min-per-sa 5 \
		--sa "spi=0x1000,src=$A_OUT,dst=$B_OUT,alg=$1,key=0x$KEY_AB" \
		--sa "spi=0x2000,src=$B_OUT,dst=$A_OUT,alg=$1,key=0x$KEY_BA"
	local j
	j=$(ip netns exec A ikeuser sa list --json)
	expect_eq "$(json_get "$j" '[s["encap"] for s in j if s["spi"] == 0x1000][0]')" \
		"{'type': 'espinudp', 'sport': 4500, 'dport': 4500}" "sa list --json encap"
	expect_contains "$(ip netns exec A ikeuser sa list)" "encap espinudp 4500 4500"
	expect_eq "$(json_get "$j" 'sum(v for s in j for k, v in s["stats"].items() if k.startswith("drop-"))')" 0 "ripsec drops"
	kill $LISTENER
}

test_espinudp_xfrm_tunnel44() { encap_interop aes128gcm16 tunnel44; }
test_espinudp_xfrm_tunnel66() { encap_interop aes128gcm16 tunnel66; }
test_espinudp_xfrm_transport4() { encap_interop aes128gcm16 transport4; }
test_espinudp_xfrm_transport6() { encap_interop aes128gcm16 transport6; }

# encap_probe ACTION...: raw ENCAP_ATTACH requests (tests/vm/encap_probe.py).
encap_probe() {
	local dir="$RIPSEC_KDIR/source/tools/net/ynl/pyynl"
	[ -d "$dir" ] || dir="$RIPSEC_KDIR/tools/net/ynl/pyynl"
	/usr/bin/python3 tests/vm/encap_probe.py "$dir" rust/proto/ripsec.yaml "$@"
}

test_espinudp_attach_refusals() {
	load
	mkns A X
	local out
	out=$(ip netns exec A bash -c "$(declare -f encap_probe); encap_probe refusals X")
	echo "$out"
	expect_contains "$out" "tcp: encap-fd: not a UDP socket"
	expect_contains "$out" "unbound: encap-fd: the socket is not bound to a port"
	expect_contains "$out" "foreign: encap-fd: the socket belongs to another network namespace"
	expect_contains "$out" "first: ok port 4500"
	expect_contains "$out" "twice: encap-fd: ripsec already receives ESP in UDP on this socket"
	expect_contains "$out" "xfrm: encap-fd: the socket already has another encapsulation"
	expect_contains "$out" "closed-fd: encap-fd: the requesting process has no such socket"
	expect_contains "$out" "pipe: encap-fd: the requesting process has no such socket"
	expect_contains "$out" "missing: encap-fd: missing"
	# Admin only.
	expect_rejected "needs CAP_NET_ADMIN" ip netns exec A bash -c "$(declare -f as_nobody); as_nobody ikeuser encap listen port 4600"
	# The CLI's own errors.
	ip netns exec A python3 -c "import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 4700)); time.sleep(30)" &
	wait_for 10 "ss -Hlun -N A 'sport = :4700' | grep -q ." || fail "no test socket on 4700"
	expect_rejected "cannot bind UDP 0.0.0.0:4700" ip netns exec A timeout 10 ikeuser encap listen port 4700
	kill %% 2>/dev/null || true
}

test_espinudp_sa_refusals() {
	load
	mkns A
	local sa="ip netns exec A ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp mode tunnel alg aes128gcm16 key $KEY_GCM128"
	expect_rejected "only ESP can be carried in UDP" ip netns exec A ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto ah spi 0x100 mode tunnel alg sha256 key "$(key_of_len 32)" encap espinudp 4500 4500
	expect_rejected "port 0 is not a port" $sa spi 0x100 encap espinudp 0 4500
	expect_rejected "only ESP in UDP" $sa spi 0x100 encap espinudp-nonike 4500 4500
	$sa spi 0x100
	$sa spi 0x200 encap espinudp 4500 4501 0.0.0.0
	expect_rejected "the SA has no UDP encapsulation" ip netns exec A ikeuser sa update dst 10.0.0.2 proto esp spi 0x100 encap espinudp 4500 4600
	ip netns exec A ikeuser sa update dst 10.0.0.2 proto esp spi 0x200 encap espinudp 4500 4600
	expect_contains "$(ip netns exec A ikeuser sa get dst 10.0.0.2 proto esp spi 0x200)" "encap espinudp 4500 4600"
	# Raw requests ikeuser would not send.
	local out
	out=$(ynl_errors <<'CASES'
sa-add {"sa-spi": 768, "sa-proto": 50, "sa-family": 2, "sa-dst": "0a000002", "sa-mode": 1, "sa-src": "0a000001", "sa-alg": "aes128gcm16", "sa-key": "000102030405060708090a0b0c0d0e0f10111213", "sa-encap-type": 3, "sa-encap-sport": 4500, "sa-encap-dport": 4500}
sa-add {"sa-spi": 768, "sa-proto": 50, "sa-family": 2, "sa-dst": "0a000002", "sa-mode": 1, "sa-src": "0a000001", "sa-alg": "aes128gcm16", "sa-key": "000102030405060708090a0b0c0d0e0f10111213", "sa-encap-sport": 4500, "sa-encap-dport": 4500}
sa-add {"sa-spi": 768, "sa-proto": 50, "sa-family": 2, "sa-dst": "0a000002", "sa-mode": 1, "sa-src": "0a000001", "sa-alg": "aes128gcm16", "sa-key": "000102030405060708090a0b0c0d0e0f10111213", "sa-encap-type": 2, "sa-encap-sport": 4500}
CASES
)
	expect_contains "$out" "1: sa-encap-type: 3 is not supported; only 2 (ESP in UDP, RFC 3948)"
	expect_contains "$out" "2: sa-encap-type: missing"
	expect_contains "$out" "3: sa-encap-dport: missing"
	# MIGRATE (the daemon's answer to a peer behind a NAT that moved to a new address), on
	# reqid 7: SA 0x300 goes out to 10.0.0.2 with ESP in UDP, 0x400 comes in from it.
	$sa spi 0x300 reqid 7 encap espinudp 4500 4500
	ip netns exec A ikeuser sa add src 10.0.0.2 dst 10.0.0.1 proto esp spi 0x400 mode tunnel alg aes128gcm16 key "$KEY_GCM128" reqid 7 encap espinudp 4500 4500
	ip netns exec A ikeuser sa add src 10.0.0.1 dst 10.0.0.5 proto esp spi 0x300 mode tunnel alg aes128gcm16 key "$KEY_GCM128"
	ip netns exec A ikeuser policy add dir out src 10.1.0.0/24 dst 10.2.0.0/24 tmpl proto esp mode tunnel reqid 7 src 10.0.0.1 dst 10.0.0.2
	out=$(ip netns exec A bash -c "$(declare -f ynl_errors); ynl_errors" <<'CASES'
migrate {"sa-reqid": 0, "sa-family": 2, "migrate-old": "0a000002", "migrate-new": "0a000004"}
migrate {"sa-reqid": 7, "sa-family": 2, "migrate-old": "0a000002"}
migrate {"sa-reqid": 7, "sa-family": 2, "migrate-old": "0a000002", "migrate-new": "0a00000400"}
migrate {"sa-reqid": 7, "sa-family": 2, "migrate-old": "0a000002", "migrate-new": "0a000005"}
migrate {"sa-reqid": 7, "sa-family": 2, "migrate-old": "0a000002", "migrate-new": "0a000004", "sa-encap-dport": 0}
migrate {"sa-reqid": 7, "sa-family": 2, "migrate-old": "0a000002", "migrate-new": "0a000004", "sa-encap-dport": 4501}
migrate {"sa-reqid": 8, "sa-family": 2, "migrate-old": "0a000002", "migrate-new": "0a000004"}
CASES
)
	expect_contains "$out" "1: sa-reqid: 0 would move SAs of every manual connection; name one"
	expect_contains "$out" "2: migrate-new: missing"
	expect_contains "$out" "3: migrate-new: an IPv4 address is 4 bytes, got 5"
	expect_contains "$out" "4: migrate-new: an SA with the same SPI to the new address exists"
	expect_contains "$out" "5: sa-encap-dport: port 0"
	expect_contains "$out" "6: ok"
	expect_contains "$out" "7: migrate-old: no SA or template of reqid 8 has this address"
	expect_contains "$(ip netns exec A ikeuser sa get dst 10.0.0.4 proto esp spi 0x300)" "encap espinudp 4500 4501"
	expect_contains "$(ip netns exec A ikeuser sa get dst 10.0.0.1 proto esp spi 0x400)" "src 10.0.0.4"
	expect_contains "$(ip netns exec A ikeuser sa get dst 10.0.0.1 proto esp spi 0x400)" "encap espinudp 4501 4500"
	expect_rejected "no SA" ip netns exec A ikeuser sa get dst 10.0.0.2 proto esp spi 0x300
	expect_contains "$(ip netns exec A ikeuser policy list)" "dst 10.0.0.4"
	expect_contains "$(ip netns exec A ikeuser sa get dst 10.0.0.5 proto esp spi 0x300)" "reqid 0"
}

test_espinudp_bad_datagrams() {
	load
	encap_setup aes128gcm16 tunnel44
	local mal0 nosa0 auth0
	mal0=$(a_stat drop-malformed) nosa0=$(a_stat drop-no-sa) auth0=$(a_stat drop-auth)
	send_udp B 10.0.0.2 10.0.0.1 1000 ff                                # keepalive flood
	send_udp B 10.0.0.2 10.0.0.1 3 00                                   # too short for the marker
	send_udp B 10.0.0.2 10.0.0.1 3 000000                               # too short for the marker
	send_udp B 10.0.0.2 10.0.0.1 3 0000100000000001                     # too short for ESP
	send_udp B 10.0.0.2 10.0.0.1 3 fefe                                 # garbage
	send_udp B 10.0.0.2 10.0.0.1 5 "0000999900000001$(printf '%064d' 0)"  # unknown SPI
	send_udp B 10.0.0.2 10.0.0.1 4 "0000200000000fff$(printf '%064d' 0)"  # bad ICV
	send_udp B 10.0.0.2 10.0.0.1 2 00002000000010000102                 # truncated ESP
	send_udp B 10.0.0.2 10.0.0.1 3 0000000001                           # IKE too short for a header: the owner's
	wait_for 5 "[ \$(a_stat keepalives-in) -ge 1000 ]" || fail "keepalives counted: $(a_stat keepalives-in)"
	expect_eq "$(a_stat keepalives-in)" 1000 "keepalives"
	expect_eq "$(($(a_stat drop-malformed) - mal0))" 14 "malformed datagrams dropped"
	expect_eq "$(($(a_stat drop-no-sa) - nosa0))" 5 "unknown SPIs dropped"
	expect_eq "$(($(a_stat drop-auth) - auth0))" 4 "bad ICVs dropped"
	kill -0 $LISTENER || fail "the socket's owner died"
	# Native ESP for an SA that wants UDP is dropped (as XFRM does).
	local encap0
	encap0=$(a_stat drop-encap)
	ip netns exec B python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 50)
s.sendto(bytes.fromhex("0000200000000fff") + bytes(32), ("10.0.0.1", 0))'
	wait_for 5 "[ \$(a_stat drop-encap) -gt $encap0 ]" || fail "native ESP for an encapsulating SA not dropped as drop-encap"
	traffic_both_ways 20000
	kill $LISTENER
}

test_espinudp_mapping_event() {
	load
	encap_setup aes128gcm16 tunnel44
	local ev
	ev=$(mktemp)
	start_monitor A "$ev" --json
	# B's NAT "rebinds": its ESP now leaves from port 4600.
	eval "ip -n B xfrm state update src 10.0.0.2 dst 10.0.0.1 proto esp spi 0x2000 reqid 1 mode tunnel \
		$(xfrm_alg_args aes128gcm16 "$KEY_BA") encap espinudp 4600 4500 0.0.0.0 sel src $SEL_B dst $SEL_A"
	ip netns exec B ping -c 20 -i 0.05 -W 1 -I "$B_IN" "$A_IN" >/dev/null || true
	wait_for 5 "grep -q mapping $ev" || fail "no MAPPING event: $(cat "$ev")"
	# The pings are over, so any further MAPPING events are on their way to the monitor; the
	# second lets them arrive (a count that only a later event could raise has no state to wait on).
	sleep 1
	stop_monitor
	local line
	line=$(grep mapping "$ev")
	# Rate-limited: one per new endpoint, then at most one per 5 s (the pings take a few).
	[ "$(echo "$line" | wc -l)" -le 2 ] || fail "$(echo "$line" | wc -l) MAPPING events for 20 packets from one new port"
	line=$(echo "$line" | head -n 1)
	expect_eq "$(json_get "$line" '(j["spi"], j["old_src"], j["old_sport"], j["new_src"], j["new_sport"])')" \
		"(8192, '10.0.0.2', 4500, '10.0.0.2', 4600)" "MAPPING event"
	# The SA keeps its peer until the key manager updates it; then traffic flows again.
	expect_contains "$(ip netns exec A ikeuser sa get dst 10.0.0.1 proto esp spi 0x2000)" "encap espinudp 4500 4500"
	ip netns exec A ikeuser sa update dst 10.0.0.1 proto esp spi 0x2000 encap espinudp 4600 4500
	kill $LISTENER
}

test_espinudp_detach_orders() {
	load
	encap_setup aes128gcm16 tunnel44
	ip netns exec A ping -c 2 -i 0.2 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "ping before"
	# The owner is killed: the module lets go of the socket, nothing arrives any more.
	kill -9 $LISTENER
	wait $LISTENER 2>/dev/null || true
	! ip netns exec A ping -c 2 -i 0.2 -W 1 -I "$A_IN" "$B_IN" >/dev/null || fail "replies without a socket"
	# A new owner: traffic resumes with the same SAs.
	start_encap_listener
	wait_for 5 "ip netns exec A ping -c 1 -W 1 -I $A_IN $B_IN >/dev/null" || fail "no traffic after a new owner"
	# The owner closes its socket by exiting normally.
	kill $LISTENER
	wait $LISTENER 2>/dev/null || true
	start_encap_listener
	wait_for 5 "ip netns exec A ping -c 1 -W 1 -I $A_IN $B_IN >/dev/null" || fail "no traffic after a restart"
	# rmmod with traffic flowing and the owner alive: the socket goes back to plain UDP.
	local flood before
	before=$(sa_packets_in 0x2000)
	ip netns exec B ping -f -c 1000 -I "$B_IN" "$A_IN" >/dev/null 2>&1 &
	flood=$!
	wait_until "the flood to reach A's SA" 20 "[ \$(sa_packets_in 0x2000) -gt $((before + 20)) ]"
	rmmod ripsec
	wait $flood || true
	kill -0 $LISTENER || fail "the owner died at rmmod"
	kill $LISTENER
	# The netns goes with its owner inside.
	load
	start_encap_listener
	kill -9 $LISTENER
	wait $LISTENER 2>/dev/null || true
	ip netns del A
	# The netns' teardown runs in a kernel worker, with nothing outside it to watch: the second
	# lets it run while the module is still loaded (the clean-up after the test unloads it).
	sleep 1
}
