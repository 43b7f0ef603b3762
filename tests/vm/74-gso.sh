# GSO/TSO super-packets and paged (non-linear) receives through every hook: the header walk
# reads them through a pulled linear head, ESP segments before encrypting, and nothing writes a
# packet before it is made linear and private. H1 - GA (ripsec) - GB (XFRM) - H2, with TSO on
# every veth (the default) and GRO turned on, so GA receives skbs far longer than the MTU. (BIG
# TCP, over 64 KiB, is left to the host tests of the header walk: under TCG, TCP's pacing never
# builds super-packets that large.)
source tests/vm/gateway.sh
source tests/vm/probe.sh

test_gso_and_paged_packets_through_every_hook() {
	gateway_setup xfrm v6
	local ns dev
	for ns in H1 GA GB H2; do
		for dev in $(ip -n $ns -o link show | awk -F': ' '$2 !~ /^lo/ {sub(/@.*/, "", $2); print $2}'); do
			ip netns exec $ns ethtool -K "$dev" gro on tso on gso on >/dev/null
		done
	done
	# An in policy for other traffic, so GA's LOCAL_IN hook reads every header chain.
	ip netns exec GA ikeuser policy add dir in src 10.9.0.0/24 dst 10.1.0.1/32 tmpl proto esp mode tunnel reqid 7 src 192.0.2.2 dst 192.0.2.1 >/dev/null
	ip netns exec GA ikeuser policy add dir in src fd09::/64 dst fd01::1/128 tmpl proto esp mode tunnel reqid 8 src fd0a::2 dst fd0a::1 >/dev/null
	local cap
	cap=$(mktemp)
	start_capture GA ga1 "$cap" none
	# LOCAL_IN and POST_ROUTING of GA itself, in the clear (no policy covers H1 <-> GA).
	tcp_transfer H1 GA 10.1.0.1 10.1.0.2 4000000
	tcp_transfer GA H1 10.1.0.2 10.1.0.1 4000000
	tcp_transfer H1 GA fd01::1 fd01::2 4000000
	tcp_transfer GA H1 fd01::2 fd01::1 4000000
	# FORWARD in the clear (to GB's own address) and through the tunnel (H1 <-> H2), both ways.
	tcp_transfer H1 GB 192.0.2.2 10.1.0.2 2000000
	tcp_transfer H1 H2 10.2.0.2 10.1.0.2 2000000
	tcp_transfer H2 H1 10.1.0.2 10.2.0.2 2000000
	local wire longest
	wire=$(stop_capture "$cap")
	longest=$(echo "$wire" | sed -n 's/.*longest-in \([0-9]*\).*/\1/p')
	[ "${longest:-0}" -gt 3000 ] || fail "GA received no GRO/TSO super-packet (longest frame $longest)"
	[ "$(sa_stat GA 0x1000 packets-out)" -gt 1000 ] || fail "GA encrypted too few segments"
	expect_eq "$(json_get "$(ip netns exec GA ikeuser stats --json)" 'sum(v for k, v in j["counters"].items() if k.startswith("drop-"))')" 0 "GA drops"
}
