# Per-netns state: the family is visible in every netns and each has its own state.

test_family_visible_in_netns_created_before_and_after_load() {
	mkns before
	load
	mkns after
	ip netns exec before ikeuser info | grep -q "ripsec 0.1.0"
	ip netns exec after ikeuser info | grep -q "ripsec 0.1.0"
}

test_state_is_separate_per_netns() {
	load
	mkns a b
	for _ in 1 2 3; do ip netns exec a ikeuser info >/dev/null; done
	ip netns exec b ikeuser info >/dev/null
	ja=$(ip netns exec a ikeuser info --json)
	jb=$(ip netns exec b ikeuser info --json)
	j0=$(ikeuser info --json)
	expect_eq "$(json_get "$ja" 'j["netns_requests"]')" 4 "requests seen by netns a"
	expect_eq "$(json_get "$jb" 'j["netns_requests"]')" 2 "requests seen by netns b"
	expect_eq "$(json_get "$j0" 'j["netns_requests"]')" 1 "requests seen by the initial netns"
	ca=$(json_get "$ja" 'j["netns_cookie"]')
	cb=$(json_get "$jb" 'j["netns_cookie"]')
	c0=$(json_get "$j0" 'j["netns_cookie"]')
	[ "$ca" != "$cb" ] && [ "$ca" != "$c0" ] && [ "$cb" != "$c0" ] || fail "netns cookies not distinct: $ca $cb $c0"
}

test_state_starts_fresh_after_reload() {
	load
	mkns a
	ip netns exec a ikeuser info >/dev/null
	unload
	load
	j=$(ip netns exec a ikeuser info --json)
	expect_eq "$(json_get "$j" 'j["netns_requests"]')" 1 "requests after reload"
}

test_netns_deleted_while_loaded() {
	load
	for i in $(seq 1 10); do mkns "n$i"; ip netns exec "n$i" ikeuser info >/dev/null; done
	delete_all_netns
	ikeuser info >/dev/null
	unload
}
