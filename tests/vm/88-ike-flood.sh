# An IKE_SA_INIT flood from spoofed sources at an ikeuser responder: COOKIEs engage (RFC 7296
# §2.6) and `ikeuser status` says so, the half-open IKE SAs and the daemon's memory stay
# bounded, and a legitimate peer still sets up its IKE SA during the flood.
# shellcheck shell=bash
source tests/vm/ike.sh

# Spoofed sources: a prefix B routes back towards A, where the COOKIE answers die.
FLOOD_PREFIX=198.18.0.0/15
flood=""

# rss_kib NS: the resident memory of NS's daemon, in KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$(cat "$IKE_DIR/$1.pid")/status"; }

# flood_cleanup: the EXIT trap; stops a flood still running, then as ike_cleanup (which
# sees the test's exit status).
flood_cleanup() {
	local rc=$?
	[ -z "$flood" ] || kill "$flood" 2>/dev/null || true
	(exit $rc)
	ike_cleanup
}

# responder NS KEY: a field of the "responder" part of NS's status.
responder() { json_get "$(ikectl "$1" status --json)" "j['status']['responder']['$2']"; }

test_ike_flood_cookies_bounded_memory_legit_peer_connects() {
	load
	topology tunnel44
	trap flood_cleanup EXIT
	ike_conf A "$IKE_DIR/A.toml"
	ike_conf B "$IKE_DIR/B.toml"
	# A low threshold: a 1-vCPU TCG VM does a few DHs a second, and half-open IKE SAs expire
	# after 30 s, so the default 64 is barely reached by a flood the VM can send.
	sed -i '/^socket = /a cookie_threshold = 8' "$IKE_DIR/B.toml"
	ikeuser_start A "$IKE_DIR/A.toml"
	ikeuser_start B "$IKE_DIR/B.toml"
	ip -n B route add $FLOOD_PREFIX via "$A_OUT" dev b0
	local threshold before after out
	threshold=$(responder B cookie_threshold)
	expect_eq "$threshold" 8 "B's COOKIE threshold"
	expect_contains "$(ikectl B status)" \
		"IKE responder: 0 half-open IKE SAs, no COOKIEs demanded (from $threshold half-open on)"
	before=$(rss_kib B)

	ip netns exec A python3 -I tests/vm/ike_flood.py "$B_OUT" $FLOOD_PREFIX 80 >"$IKE_DIR/flood.out" &
	flood=$!
	wait_for 20 '[ "$(responder B cookies_demanded)" = True ]' ||
		fail "B never demanded COOKIEs: $(ikectl B status --json)"
	echo "[$SECONDS s] B demands COOKIEs; RSS $(rss_kib B) KiB"
	expect_contains "$(ikectl B status)" "COOKIEs demanded (from $threshold half-open on)"

	# The legitimate peer answers the COOKIE demand and gets its IKE SA despite the flood.
	out=$(ikectl A up c) || fail "up during the flood failed: $out; $(ike_log A | tail -20)"
	expect_contains "$out" "Child SA \`net\` installed"
	echo "[$SECONDS s] A is up"
	ip netns exec A ping -c 2 -i 0.2 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "ping during the flood"
	expect_contains "$(ike_log A)" "the responder demands a COOKIE"
	# Half-open IKE SAs stop at the threshold (plus one or two legitimate ones).
	local half_open
	half_open=$(responder B half_open)
	[ "$half_open" -le $((threshold + 2)) ] || fail "$half_open half-open IKE SAs, threshold $threshold"
	expect_eq "$(responder B cookies_demanded)" True "COOKIEs demanded while the flood goes on"

	echo "[$SECONDS s] B's responder: $(json_get "$(ikectl B status --json)" 'j["status"]["responder"]')"
	kill "$flood" 2>/dev/null || true
	wait "$flood" || true
	after=$(rss_kib B)
	echo "flood: $(cat "$IKE_DIR/flood.out"); daemon RSS ${before} KiB -> ${after} KiB"
	# Loose: the state the flood can create is bounded by the threshold.
	[ $((after - before)) -lt 32768 ] || fail "B's daemon grew from $before to $after KiB"
	expect_eq "$(json_get "$(ikectl B status --json)" 'sum(s["state"] == "established" for s in j["status"]["ike_sas"])')" \
		1 "established IKE SAs in B"
}
