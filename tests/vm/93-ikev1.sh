# IKEv1 (`version = 1`) between ikeuser (ripsec data plane) in netns A and strongSwan's charon
# (`version = 1`, XFRM) in B: Main Mode with a pre-shared key and Quick Mode, each side
# initiating; tunnel and transport, IPv4 and IPv6, with and without PFS; traffic both ways with
# a SHA-256 check; Deletes both ways; a PSK mismatch and a proposal mismatch explained.
# shellcheck shell=bash
source tests/vm/ike.sh
source tests/vm/strongswan.sh

# v1_pair MODE IKE ESP [IKEUSER-KEY=VALUE...] -- [SWAN-KEY=VALUE...]: swan_pair with both
# sides on IKEv1.
v1_pair() {
	local mode=$1 ike=$2 esp=$3 a=() b=()
	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do a+=("$1"); shift; done
	[ $# -eq 0 ] || shift
	b=("$@")
	swan_pair "$mode" "$ike" "$esp" version=1 "${a[@]}" -- ike.version=1 "${b[@]}"
}

# charon_sas: XFRM SAs charon installed in B.
charon_sas() { ip -n B xfrm state | grep -c "^src " || true; }

test_v1_ikeuser_initiates_main_mode_tunnel44() {
	v1_pair tunnel44 aes256-sha256-modp2048 aes128-sha256
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	swan_wait_sa B "$SWAN" net
	local st
	st=$(ikectl A status)
	expect_contains "$st" "IKEv1 Main Mode"
	expect_contains "$st" "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
	expect_eq "$(json_get "$(ip netns exec A ikeuser sa list --json)" 'sorted(s["alg"] for s in j)')" \
		"['aes128-sha256', 'aes128-sha256']" "ripsec's SAs in A"
	expect_contains "$(swan_list_sas B "$SWAN")" "IKEv1"
	traffic_both_ways 100000
	ikectl A down c >/dev/null || fail "down failed"
	wait_for 10 'test "$(charon_sas)" = 0' || fail "charon kept $(charon_sas) SAs after ikeuser's Deletes"
	wait_for 5 expect_clean A >/dev/null 2>&1 || expect_clean A
}

test_v1_charon_initiates_transport6_gcm_pfs() {
	v1_pair transport6 aes128-sha1-ecp256 aes256gcm16-ecp256
	swan_initiate B "$SWAN" net c || fail "charon could not initiate: $(ike_log A | tail -5)"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "ikeuser installed $(sa_count A) SAs: $(ike_log A | tail -5)"
	expect_contains "$(ikectl A status)" "AES_CBC_128/HMAC_SHA1_96/PRF_HMAC_SHA1/ECP_256"
	expect_eq "$(json_get "$(ip netns exec A ikeuser sa list --json)" 'sorted(set(s["alg"] for s in j))')" \
		"['aes256gcm16']" "ripsec's SAs in A"
	traffic_both_ways 100000
	swan_terminate B "$SWAN" c
	wait_for 10 'test "$(sa_count A)" = 0' || fail "ikeuser kept $(sa_count A) SAs after charon's Deletes"
	expect_contains "$(ike_log A)" "deleted"
}

test_v1_tunnel66_both_ways_then_charon_deletes_the_child() {
	v1_pair tunnel66 aes192-sha384-modp3072 aes256-sha512
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5)"
	swan_wait_sa B "$SWAN" net
	traffic_both_ways 30000
	swan_terminate_child B "$SWAN" net
	wait_for 10 'test "$(sa_count A)" = 0' || fail "ikeuser kept $(sa_count A) SAs after charon deleted the child"
	# The ISAKMP SA stays: a new Quick Mode under it brings the child back.
	swan_initiate B "$SWAN" net c || fail "charon could not start a new Quick Mode"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "ikeuser installed $(sa_count A) SAs"
	traffic_both_ways 10000
}

test_v1_psk_mismatch_is_explained_and_leaves_nothing() {
	v1_pair tunnel44 aes256-sha256-modp2048 aes128-sha256 psk="not the same key" tries=2
	if ikectl A up c >/dev/null 2>&1; then fail "up succeeded with different PSKs"; fi
	# charon answers message 5 with nothing it can decrypt; ikeuser, as responder, explains.
	expect_eq "$(sa_count A)" 0 "SAs in A"
	ikeuser_stop A
	ike_conf A "$IKE_DIR/A.toml" version=1 ike='["aes256-sha256-modp2048"]' esp='["aes128-sha256"]' psk="not the same key"
	ikeuser_start A "$IKE_DIR/A.toml"
	if swan_initiate B "$SWAN" net c >/dev/null 2>&1; then fail "charon got a Child SA with different PSKs"; fi
	wait_for 5 'ike_log A | grep -q "most likely the pre-shared key"' ||
		fail "no PSK explanation: $(ike_log A | tail -5)"
	expect_eq "$(sa_count A)" 0 "SAs in A"
	expect_eq "$(charon_sas)" 0 "SAs in B"
}

test_v1_proposal_mismatch_names_both_sides() {
	v1_pair tunnel44 aes256-sha256-modp2048 aes128-sha256 -- proposals=aes128-sha1-modp3072
	local out
	if out=$(ikectl A up c 2>&1); then fail "up succeeded without a common proposal"; fi
	expect_contains "$out$(ike_log A)" "NO-PROPOSAL-CHOSEN"
	expect_contains "$out$(ike_log A)" "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
	swan_initiate B "$SWAN" net c >/dev/null 2>&1 || true
	wait_for 5 'ike_log A | grep -q "the peer offered AES_CBC_128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_3072"' ||
		fail "no explanation: $(ike_log A | tail -5)"
}
