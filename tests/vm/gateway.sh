# The net-to-net topology: hosts H1 (10.1.0.0/24, fd01::/64) and H2 (10.2.0.0/24, fd02::/64)
# talk through gateways GA (ripsec) and GB (XFRM or ripsec) that protect the forwarded traffic
# in ESP tunnels 192.0.2.1 <-> .2 (reqid 7) and fd0a::1 <-> ::2 (reqid 8).
# shellcheck shell=bash
source tests/vm/interop.sh

# gw_ripsec NS LOCAL PEER LOCAL_NET PEER_NET OUT_SPI IN_SPI KEY_OUT KEY_IN [REQID]
gw_ripsec() {
	local ns=$1 me=$2 peer=$3 mine=$4 theirs=$5 reqid=${10:-7}
	ip netns exec "$ns" ikeuser sa add src "$me" dst "$peer" proto esp spi "$6" reqid "$reqid" mode tunnel alg aes256gcm16 key "0x$8"
	ip netns exec "$ns" ikeuser sa add src "$peer" dst "$me" proto esp spi "$7" reqid "$reqid" mode tunnel alg aes256gcm16 key "0x$9"
	ip netns exec "$ns" ikeuser policy add dir out src "$mine" dst "$theirs" tmpl proto esp mode tunnel reqid "$reqid" src "$me" dst "$peer" >/dev/null
	ip netns exec "$ns" ikeuser policy add dir fwd src "$theirs" dst "$mine" tmpl proto esp mode tunnel reqid "$reqid" src "$peer" dst "$me" >/dev/null
}

gw_xfrm() {
	local ns=$1 me=$2 peer=$3 mine=$4 theirs=$5 reqid=${10:-7} dir
	ip -n "$ns" xfrm state add src "$me" dst "$peer" proto esp spi "$6" reqid "$reqid" mode tunnel aead 'rfc4106(gcm(aes))' "0x$8" 128
	ip -n "$ns" xfrm state add src "$peer" dst "$me" proto esp spi "$7" reqid "$reqid" mode tunnel aead 'rfc4106(gcm(aes))' "0x$9" 128
	ip -n "$ns" xfrm policy add dir out src "$mine" dst "$theirs" tmpl src "$me" dst "$peer" proto esp reqid "$reqid" mode tunnel
	for dir in in fwd; do
		ip -n "$ns" xfrm policy add dir $dir src "$theirs" dst "$mine" tmpl src "$peer" dst "$me" proto esp reqid "$reqid" mode tunnel
	done
}

# gateway_setup KIND [v6]: GB's data path is KIND (xfrm or ripsec); with v6, the IPv6 networks
# and their tunnel too.
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
	[ "${2:-}" = v6 ] || return 0
	ip -n H1 addr add fd01::2/64 dev h1 nodad && ip -n H1 -6 route add default via fd01::1
	ip -n GA addr add fd01::1/64 dev ga1 nodad && ip -n GA addr add fd0a::1/64 dev ga0 nodad
	ip -n GB addr add fd02::1/64 dev gb2 nodad && ip -n GB addr add fd0a::2/64 dev gb0 nodad
	ip -n H2 addr add fd02::2/64 dev h2 nodad && ip -n H2 -6 route add default via fd02::1
	ip -n GA -6 route add fd02::/64 via fd0a::2
	ip -n GB -6 route add fd01::/64 via fd0a::1
	for ns in GA GB; do ip netns exec $ns sysctl -qw net.ipv6.conf.all.forwarding=1; done
	k1=$(hexkey 36 gw6-a2b) k2=$(hexkey 36 gw6-b2a)
	gw_ripsec GA fd0a::1 fd0a::2 fd01::/64 fd02::/64 0x3000 0x4000 "$k1" "$k2" 8
	"gw_$1" GB fd0a::2 fd0a::1 fd02::/64 fd01::/64 0x4000 0x3000 "$k2" "$k1" 8
}

sa_stat() { # NS SPI COUNTER
	json_get "$(ip netns exec "$1" ikeuser sa list --json)" "[s['stats']['$3'] for s in j if s['spi'] == $2][0]"
}

