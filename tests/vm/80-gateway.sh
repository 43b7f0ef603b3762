# Net-to-net: hosts H1 (10.1.0.0/24) and H2 (10.2.0.0/24) talk through gateways GA (ripsec) and
# GB (XFRM or ripsec) that protect the forwarded traffic in an ESP tunnel 192.0.2.1 <-> .2.
source tests/vm/gateway.sh

gateway_traffic() {
	ip netns exec H1 ping -c 2 -i 0.2 -W 2 10.2.0.2 >/dev/null || fail "ping H1 -> H2"
	ip netns exec H2 ping -c 2 -i 0.2 -W 2 10.1.0.2 >/dev/null || fail "ping H2 -> H1"
	tcp_transfer H1 H2 10.2.0.2 10.1.0.2 200000
	tcp_transfer H2 H1 10.1.0.2 10.2.0.2 200000
	[ "$(sa_stat GA 0x1000 packets-out)" -gt 10 ] || fail "GA did not encrypt the forwarded traffic"
	[ "$(sa_stat GA 0x2000 packets-in)" -gt 10 ] || fail "GA did not decrypt the traffic for H1"
	expect_eq "$(json_get "$(ip netns exec GA ikeuser stats --json)" 'sum(v for k, v in j["counters"].items() if k.startswith("drop-"))')" 0 "GA drops"
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

# 10k policies of eight shapes ahead of the tunnel's in SPD order, and three that match its
# traffic behind it: the tunnel policy still wins (the SPD index equals the linear order),
# through inserts one request at a time and deletes.
test_gateway_with_10k_policies_protects_by_the_last() {
	gateway_setup ripsec
	python3 tests/vm/spd_scale.py 10000 >/tmp/spd-scale.batch
	local t0=$SECONDS
	ip netns exec GA ikeuser batch /tmp/spd-scale.batch >/dev/null || fail "loading 10k policies"
	echo "10k policies inserted in $((SECONDS - t0)) s"
	expect_eq "$(json_get "$(ip netns exec GA ikeuser stats --json)" 'j["policy_count"]')" 10002 "GA policies"
	gateway_traffic
	expect_eq "$(json_get "$(ip netns exec GA ikeuser stats --json)" 'j["counters"]["drop-discard"]')" 0 "GA discards"
	# Delete every other decoy and the first late catcher: the tunnel policy still wins.
	ip netns exec GA ikeuser policy list --json >/tmp/spd-scale.json
	python3 -c 'import json
ps = json.load(open("/tmp/spd-scale.json"))
late = [p for p in ps if p.get("action") == "discard" and p.get("src") == "10.1.0.0/16"]
drop = [p for p in ps if p["id"] > 2 and p["id"] % 2] + late
print("".join("policy del id %d\n" % p["id"] for p in drop), end="")' >/tmp/spd-del.batch
	ip netns exec GA ikeuser batch /tmp/spd-del.batch >/dev/null || fail "deleting policies"
	[ "$(json_get "$(ip netns exec GA ikeuser stats --json)" 'j["policy_count"]')" -lt 6000 ] || fail "policies not deleted"
	ip netns exec H1 ping -c 2 -i 0.2 -W 2 10.2.0.2 >/dev/null || fail "ping H1 -> H2 after deletes"
	tcp_transfer H1 H2 10.2.0.2 10.1.0.2 100000
	expect_eq "$(json_get "$(ip netns exec GA ikeuser stats --json)" 'j["counters"]["drop-discard"]')" 0 "GA discards after deletes"
	ip netns exec GA ikeuser policy flush
	expect_eq "$(json_get "$(ip netns exec GA ikeuser stats --json)" 'j["policy_count"]')" 0 "GA policies after flush"
}
