# Policy management: add/get/list/del/flush, precedence order, validation, isolation.

test_policy_add_list_get_del() {
	load
	id1=$(ikeuser policy add dir out src 10.1.0.0/16 dst 10.2.0.0/16 tmpl proto esp mode tunnel reqid 1 src 10.0.0.1 dst 10.0.0.2 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	ikeuser policy add dir in src 10.2.0.0/16 dst 10.1.0.0/16 tmpl proto esp mode tunnel reqid 1 src 10.0.0.2 dst 10.0.0.1 >/dev/null
	ikeuser policy add dir fwd src fd01::/64 dst fd02::/64 proto tcp dport 443 action discard >/dev/null
	ikeuser policy add dir out src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport 500 action bypass >/dev/null
	j=$(ikeuser policy list --json)
	expect_eq "$(json_get "$j" 'len(j)')" 4 "policies"
	expect_eq "$(json_get "$j" '[p["dir"] for p in j]')" "['out', 'out', 'in', 'fwd']" "directions in order"
	g=$(ikeuser policy get id "$id1" --json)
	expect_eq "$(json_get "$g" 'j[0]["tmpl"]')" "proto esp mode tunnel reqid 1 src 10.0.0.1 dst 10.0.0.2" "template"
	ikeuser policy del id "$id1"
	expect_rejected "sp-id: no policy $id1" ikeuser policy get id "$id1"
	ikeuser policy flush
	expect_eq "$(json_get "$(ikeuser stats --json)" 'j["policy_count"]')" 0 "policies after flush"
}

test_policy_precedence_is_priority_then_specificity_then_age() {
	load
	ikeuser policy add dir out src 0.0.0.0/0 dst 10.0.0.0/8 action bypass >/dev/null          # id 1
	ikeuser policy add dir out src 0.0.0.0/0 dst 10.1.0.0/16 action discard >/dev/null        # id 2: more specific
	ikeuser policy add dir out src 0.0.0.0/0 dst 0.0.0.0/0 priority 0 proto tcp action bypass >/dev/null  # id 3
	ikeuser policy add dir out src 0.0.0.0/0 dst 10.0.0.0/8 priority 0 proto udp action bypass >/dev/null # id 4
	ikeuser policy add dir out src 0.0.0.0/0 dst 0.0.0.0/0 priority 100 action discard >/dev/null        # id 5: lowest precedence
	ikeuser policy add dir out src 0.0.0.0/0 dst 10.1.2.0/24 priority 50 action bypass >/dev/null       # id 6
	order=$(json_get "$(ikeuser policy list --json)" '[p["id"] for p in j]')
	# priority 0: dst /16 (2), dst /8 + proto (4), dst /8 (1), dst /0 + proto (3); then 50 (6); then 100 (5).
	expect_eq "$order" "[2, 4, 1, 3, 6, 5]" "precedence order"
}

test_policy_validation_names_the_attribute() {
	load
	expect_rejected "sel-src: host bits set beyond /16" ikeuser policy add dir out src 10.1.2.3/16 dst 10.2.0.0/16 action bypass
	expect_rejected "sel-sport-lo: ports need sel-proto" ikeuser policy add dir out src 10.1.0.0/16 dst 10.2.0.0/16 sport 80 action bypass
	expect_rejected "sel-dport-lo: 90 is above sel-dport-hi 80" ikeuser policy add dir out src 10.1.0.0/16 dst 10.2.0.0/16 proto tcp dport 90-80 action bypass
	expect_rejected "tmpl-proto: missing" ikeuser policy add dir out src 10.1.0.0/16 dst 10.2.0.0/16 action protect tmpl mode tunnel src 10.0.0.1 dst 10.0.0.2
	expect_rejected "a tunnel template needs \`src ADDR dst ADDR\`" ikeuser policy add dir out src 10.1.0.0/16 dst 10.2.0.0/16 tmpl proto esp mode tunnel
	expect_rejected "tmpl-family: transport mode has no tunnel endpoints" ikeuser policy add dir out src 10.1.0.0/16 dst 10.2.0.0/16 tmpl proto esp mode transport src 10.0.0.1 dst 10.0.0.2
	expect_rejected "tmpl-proto: only protect policies take a template" ikeuser policy add dir out src 10.1.0.0/16 dst 10.2.0.0/16 action discard tmpl proto esp mode transport
	ikeuser policy add dir out src 10.1.0.0/16 dst 10.2.0.0/16 action bypass >/dev/null
	expect_rejected "a policy with this direction, selector and priority exists" ikeuser policy add dir out src 10.1.0.0/16 dst 10.2.0.0/16 action discard
	ikeuser policy add dir out src 10.1.0.0/16 dst 10.2.0.0/16 priority 1 action discard >/dev/null
	expect_rejected "\`src\` and \`dst\` must both be IPv4 or both IPv6" ikeuser policy add dir out src 10.1.0.0/16 dst fd00::/8 action bypass
	expect_eq "$(json_get "$(ikeuser stats --json)" 'j["policy_count"]')" 2 "policies after rejected requests"
}

test_raw_policy_errors_name_the_attribute() {
	load
	out=$(ynl_errors <<'CASES'
sp-add {"sp-action": 1, "sel-family": 2}
sp-add {"sp-dir": 3, "sp-action": 1, "sel-family": 2}
sp-add {"sp-dir": 0, "sp-action": 7, "sel-family": 2}
sp-add {"sp-dir": 0, "sp-action": 1, "sel-family": 2, "sel-dst": "0a000000", "sel-dst-len": 33}
sp-add {"sp-dir": 0, "sp-action": 1, "sel-family": 10, "sel-dst": "0a000000"}
sp-del {"sp-id": 77}
sp-add {"sp-dir": 0, "sp-action": 0, "sel-family": 2, "tmpl-proto": 50, "tmpl-mode": 1}
CASES
)
	expect_contains "$out" "1: sp-dir: missing"
	expect_contains "$out" "2: sp-dir: 3 is not 0 (out), 1 (in) or 2 (fwd)"
	expect_contains "$out" "3: sp-action: 7 is not 0 (protect), 1 (bypass) or 2 (discard)"
	expect_contains "$out" "4: sel-dst-len: prefix length 33 is above 32"
	expect_contains "$out" "5: sel-dst: an IPv6 address is 16 bytes, got 4"
	expect_contains "$out" "6: sp-id: no policy 77"
	expect_contains "$out" "7: tmpl-family: tunnel mode needs tmpl-family, tmpl-src, tmpl-dst"
	expect_eq "$(json_get "$(ikeuser stats --json)" 'j["policy_count"]')" 0 "policies after rejected raw requests"
}

test_policies_are_per_netns() {
	load
	mkns a
	ip netns exec a ikeuser policy add dir out src 10.1.0.0/16 dst 10.2.0.0/16 action bypass >/dev/null
	expect_eq "$(json_get "$(ip netns exec a ikeuser stats --json)" 'j["policy_count"]')" 1 "policies in a"
	expect_eq "$(json_get "$(ikeuser stats --json)" 'j["policy_count"]')" 0 "policies in the initial netns"
	expect_eq "$(ikeuser policy list)" "no policies" "listing in the initial netns"
}
