# Net-to-net: hosts H1 (10.1.0.0/24) and H2 (10.2.0.0/24) talk through gateways GA (ripsec) and
# GB (XFRM or ripsec) that protect the forwarded traffic in an ESP tunnel 192.0.2.1 <-> .2.
source tests/vm/interop.sh

# gw_ripsec NS LOCAL PEER LOCAL_NET PEER_NET OUT_SPI IN_SPI KEY_OUT KEY_IN
gw_ripsec() {
	local ns=$1 me=$2 peer=$3 mine=$4 theirs=$5
	ip netns exec "$ns" ikeuser sa add src "$me" dst "$peer" proto esp spi "$6" reqid 7 mode tunnel alg aes256gcm16 key "0x$8"
	ip netns exec "$ns" ikeuser sa add src "$peer" dst "$me" proto esp spi "$7" reqid 7 mode tunnel alg aes256gcm16 key "0x$9"
	ip netns exec "$ns" ikeuser policy add dir out src "$mine" dst "$theirs" tmpl proto esp mode tunnel reqid 7 src "$me" dst "$peer" >/dev/null
	ip netns exec "$ns" ikeuser policy add dir fwd src "$theirs" dst "$mine" tmpl proto esp mode tunnel reqid 7 src "$peer" dst "$me" >/dev/null
}

gw_xfrm() {
	local ns=$1 me=$2 peer=$3 mine=$4 theirs=$5 dir
	ip -n "$ns" xfrm state add src "$me" dst "$peer" proto esp spi "$6" reqid 7 mode tunnel aead 'rfc4106(gcm(aes))' "0x$8" 128
	ip -n "$ns" xfrm state add src "$peer" dst "$me" proto esp spi "$7" reqid 7 mode tunnel aead 'rfc4106(gcm(aes))' "0x$9" 128
	ip -n "$ns" xfrm policy add dir out src "$mine" dst "$theirs" tmpl src "$me" dst "$peer" proto esp reqid 7 mode tunnel
	for dir in in fwd; do
		ip -n "$ns" xfrm policy add dir $dir src "$theirs" dst "$mine" tmpl src "$peer" dst "$me" proto esp reqid 7 mode tunnel
	done
}

# gateway_setup KIND: GB's data path is KIND (xfrm or ripsec).
gateway_setup() {
	load
	mkns H1 GA GB H2
	ip link add h1 netns H1 type veth peer name ga1 netns GA
	ip link add ga0 netns GA type veth peer name gb0 netns GB
	ip link add gb2 netns GB type veth peer name h2 netns H2
	local ns dev
	for ns in H1 GA GB H2; do
		for dev in $(ip -n $ns -o link show | awk -F': ' '$2 !~ /^lo/ {sub(/@.*/, "", $2); print $2}'); do
			ip -n $ns link set "$dev" up
		done
	done
	ip -n H1 addr add 10.1.0.2/24 dev h1 && ip -n H1 route add default via 10.1.0.1
	ip -n GA addr add 10.1.0.1/24 dev ga1 && ip -n GA addr add 192.0.2.1/24 dev ga0
	ip -n GB addr add 10.2.0.1/24 dev gb2 && ip -n GB addr add 192.0.2.2/24 dev gb0
	ip -n H2 addr add 10.2.0.2/24 dev h2 && ip -n H2 route add default via 10.2.0.1
	ip -n GA route add 10.2.0.0/24 via 192.0.2.2
	ip -n GB route add 10.1.0.0/24 via 192.0.2.1
	for ns in GA GB; do ip netns exec $ns sysctl -qw net.ipv4.ip_forward=1; done
	local k1 k2
	k1=$(hexkey 36 gw-a2b) k2=$(hexkey 36 gw-b2a)
	gw_ripsec GA 192.0.2.1 192.0.2.2 10.1.0.0/24 10.2.0.0/24 0x1000 0x2000 "$k1" "$k2"
	"gw_$1" GB 192.0.2.2 192.0.2.1 10.2.0.0/24 10.1.0.0/24 0x2000 0x1000 "$k2" "$k1"
}

sa_stat() { # NS SPI COUNTER
	json_get "$(ip netns exec "$1" ikeuser sa list --json)" "[s['stats']['$3'] for s in j if s['spi'] == $2][0]"
}

gateway_traffic() {
	ip netns exec H1 ping -c 2 -i 0.2 -W 2 10.2.0.2 >/dev/null || fail "ping H1 -> H2"
	ip netns exec H2 ping -c 2 -i 0.2 -W 2 10.1.0.2 >/dev/null || fail "ping H2 -> H1"
	tcp_transfer H1 H2 10.2.0.2 10.1.0.2 200000
	tcp_transfer H2 H1 10.1.0.2 10.2.0.2 200000
	[ "$(sa_stat GA 0x1000 packets-out)" -gt 10 ] || fail "GA did not encrypt the forwarded traffic"
	[ "$(sa_stat GA 0x2000 packets-in)" -gt 10 ] || fail "GA did not decrypt the traffic for H1"
	expect_eq "$(json_get "$(ip netns exec GA ikeuser stats --json)" 'sum(v for k, v in j["counters"].items() if k.startswith("drop-") and k != "drop-mtu")')" 0 "GA drops"
}

test_gateway_ripsec_to_xfrm() {
	gateway_setup xfrm
	gateway_traffic
	# GB stops protecting H2 -> H1: GA's fwd policy drops the plaintext instead of forwarding it.
	ip -n GB xfrm policy del dir out src 10.2.0.0/24 dst 10.1.0.0/24
	! ip netns exec H2 ping -c 2 -i 0.2 -W 1 10.1.0.2 >/dev/null || fail "plaintext H2 -> H1 was forwarded"
	[ "$(json_get "$(ip netns exec GA ikeuser stats --json)" "j['counters']['drop-policy']")" -ge 2 ] ||
		fail "plaintext for a protect fwd policy not counted as drop-policy"
}

test_gateway_ripsec_to_ripsec() {
	gateway_setup ripsec
	gateway_traffic
	[ "$(sa_stat GB 0x2000 packets-out)" -gt 10 ] || fail "GB (ripsec) did not encrypt"
}
