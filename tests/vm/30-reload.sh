# Load/unload loops, also while extra network namespaces exist and churn.

test_reload_loop_with_extra_netns() {
	mkns x1 x2 x3 x4 x5
	for i in $(seq 1 20); do
		load
		ip netns exec "x$((i % 5 + 1))" ikeuser info >/dev/null
		unload
	done
}

test_reload_with_netns_churn() {
	for i in $(seq 1 10); do
		mkns "pre$i"
		load
		mkns "post$i"
		ip netns exec "post$i" ikeuser info >/dev/null
		ip netns del "pre$i"
		unload
		ip netns del "post$i"
	done
	[ -z "$(ip netns list)" ] || fail "netns left behind: $(ip netns list)"
}
