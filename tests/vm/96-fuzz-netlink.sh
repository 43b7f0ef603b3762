# Netlink fuzzing (tests/vm/fuzz_netlink.py): every bad request gets an extack message and
# changes nothing (SA and policy dumps compared around each), every valid one takes effect.
# The long campaign (a million requests) is run by hand; see README, Troubleshooting.

fuzz_netlink() {
	/usr/bin/python3 tests/vm/fuzz_netlink.py "$@"
}

# Every command x every attribute x every mutation (missing, duplicated, each wrong type and
# length, boundary values, truncated, unknown and unexpected attributes), in one netns.
test_every_attribute_mutation_is_judged() {
	load
	out=$(fuzz_netlink --systematic --netns 1) || fail "fuzzer found violations: $out"
	echo "$out"
	expect_contains "$out" "violations: 0"
	# The pass really ran: both kernel policy and module rejections, and accepted requests.
	expect_contains "$out" "invalid attribute length"
	expect_contains "$out" "given more than once"
	expect_contains "$out" "an IPv4 address is 4 bytes"
	n=$(echo "$out" | sed -n 's/.* \([0-9]*\) accepted, .*/\1/p')
	[ "${n:-0}" -gt 100 ] || fail "only ${n:-0} accepted requests: the base requests are broken"
}

# Random valid and invalid requests across three netns while a ping crosses a ripsec SA.
test_random_requests_across_netns_under_traffic() {
	load
	out=$(fuzz_netlink --seed 96 --count 500 --netns 3 --traffic) || fail "fuzzer found violations: $out"
	echo "$out"
	expect_contains "$out" "violations: 0"
	pkts=$(echo "$out" | sed -n 's/.*traffic: \([0-9]*\) packets.*/\1/p')
	[ "${pkts:-0}" -gt 0 ] || fail "no packet crossed the ripsec SA"
}

# A request repeating an attribute is refused, naming it (the genl core keeps the last).
test_duplicated_attribute_is_rejected() {
	load
	add_sa 0x1000
	# YNL never repeats an attribute; the fuzzer's raw encoder does.
	out=$(/usr/bin/python3 - <<-'X'
	import sys; sys.path.insert(0, "tests/vm")
	import fuzz_netlink as f
	g = f.Genl()
	ids = [("sa-spi", 0x1000), ("sa-proto", 50), ("sa-family", 2), ("sa-dst", bytes([10, 0, 0, 2]))]
	r = g.do(f.S.cmd["sa-del"], f.Req("sa-del", ids + [("sa-spi", 0x2000)]).wire())
	print(r.err, r.msg)
	twice = f.Req("sa-get", [("show-keys", None), ("show-keys", None)]).wire()
	r = g.do(f.S.cmd["sa-get"], twice, flags=f.NLM_F_REQUEST | f.NLM_F_DUMP)
	print(r.err, r.msg, len(r.msgs))
	X
	)
	expect_eq "$out" "22 sa-spi: given more than once
22 show-keys: given more than once 0" "sa-del with sa-spi twice, then a dump with show-keys twice"
	ikeuser sa get dst 10.0.0.2 proto esp spi 0x1000 >/dev/null || fail "the rejected sa-del removed the SA"
}

test_net_byteorder_flag_is_rejected() {
	load
	add_sa 0x1000
	# The core ignores NLA_F_NET_BYTEORDER; ripsec's attributes each have one byte order.
	out=$(/usr/bin/python3 - <<-'X'
	import sys; sys.path.insert(0, "tests/vm")
	import fuzz_netlink as f
	g = f.Genl()
	req = f.Req("sa-del", [("sa-spi", 0x1000), ("sa-proto", 50), ("sa-family", 2), ("sa-dst", bytes([10, 0, 0, 2]))])
	req.attrs[0] = (req.attrs[0][0], req.attrs[0][1], f.NLA_F_NET_BYTEORDER, None)
	r = g.do(f.S.cmd["sa-del"], req.wire())
	print(r.err, r.msg)
	X
	)
	expect_eq "$out" "22 sa-spi: NLA_F_NET_BYTEORDER is not supported" "sa-del with sa-spi flagged as network byte order"
	ikeuser sa get dst 10.0.0.2 proto esp spi 0x1000 >/dev/null || fail "the rejected sa-del removed the SA"
}
