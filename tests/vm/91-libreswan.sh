# ikeuser (ripsec data plane) in netns A against Libreswan 4.10's pluto (XFRM data plane) in B,
# both with their default proposals (no ike=/esp= in pluto's conn, none in ikeuser's file), PSK,
# IKEv2: each side initiates in turn, traffic both ways, the chosen algorithms are checked on
# both sides, and a DELETE from either side removes the other's SAs.
# shellcheck shell=bash
source tests/vm/ike.sh
source tests/vm/libreswan.sh

LSW=$IKE_DIR/lswB

lsw_cleanup() {
	local rc=$?
	# The test's `set -e` would end this trap at `(exit $rc)` below, before ike_cleanup.
	set +e
	if [ $rc -ne 0 ]; then
		echo "--- pluto's SAs"
		ip -n B xfrm state || true
		lsw_whack "$LSW" --showstates 2>/dev/null || true
		lsw_log "$LSW" 80 || true
	fi
	lsw_stop B "$LSW" || true
	(exit $rc)
	ike_cleanup
}

# lsw_pair MODE [IKEUSER-KEY=VALUE...] -- [PLUTO-KEY=VALUE...]: topology, ikeuser in A and pluto
# in B with connection `c`, both with their default proposals.
lsw_pair() {
	local mode=$1 a=() b=() subnets=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do a+=("$1"); shift; done
	[ $# -eq 0 ] || shift
	b=("$@")
	load
	topology "$mode"
	trap lsw_cleanup EXIT
	ike_conf A "$IKE_DIR/A.toml" ike=default esp=default "${a[@]}"
	ikeuser_start A "$IKE_DIR/A.toml"
	lsw_start B "$LSW"
	# Transport mode: pluto's selectors are the hosts themselves.
	[ "$AMODE" = transport ] || subnets=(leftsubnet="$SEL_B" rightsubnet="$SEL_A")
	lsw_conf "$LSW" c psk="$IKE_PSK" left="$B_OUT" right="$A_OUT" type="$AMODE" "${subnets[@]}" "${b[@]}"
	lsw_load B "$LSW" c
}

# ike_proposal / child_alg / spi_in: what ikeuser negotiated (IKE SA, its first Child SA).
spi_in() { json_get "$(ikectl A status --json)" 'j["status"]["ike_sas"][0]["children"][0]["spi_in"]'; }
ike_proposal() { json_get "$(ikectl A status --json)" 'j["status"]["ike_sas"][0]["proposal"]'; }
child_alg() { json_get "$(ikectl A status --json)" 'j["status"]["ike_sas"][0]["children"][0]["alg"]'; }

# expect_algs: both sides agree on what their defaults chose. ikeuser's status shows the IKE and
# ESP algorithms; pluto logs the IKE SA's (newest IKE_SA_INIT reply or IKE_AUTH request) and the
# newest Child SA's; its XFRM SAs are AES-GCM.
expect_algs() {
	echo "negotiated: IKE $(ike_proposal); ESP $(child_alg)"
	ikectl A status
	expect_eq "$(ike_proposal)" "AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519" "ikeuser's IKE proposal"
	expect_eq "$(child_alg)" aes256gcm16 "ikeuser's ESP algorithm"
	expect_contains "$(lsw_log "$LSW" 400 | grep '{cipher=' | tail -1)" \
		"{cipher=AES_GCM_16_256 integ=n/a prf=HMAC_SHA2_256 group=DH31}" "pluto's IKE SA"
	expect_contains "$(lsw_log "$LSW" 400 | grep 'established Child SA' | tail -1)" \
		"xfrm=AES_GCM_16_256-NONE" "pluto's Child SA"
	expect_contains "$(ip -n B xfrm state)" "aead rfc4106(gcm(aes))" "pluto's XFRM SAs"
}

# lsw_deleted_by_ikeuser: `ikeuser down` sends DELETE; pluto must remove its IKE and Child SAs.
lsw_deleted_by_ikeuser() {
	ikectl A down c >/dev/null || fail "down: $(ike_log A | tail -3)"
	expect_clean A
	wait_for 10 'test "$(lsw_sa_count B)" = 0' || fail "pluto kept $(lsw_sa_count B) XFRM SAs after ikeuser's DELETE"
	wait_for 10 '! lsw_whack "$LSW" --showstates | grep -q "\"c\""' ||
		fail "pluto kept states after ikeuser's DELETE: $(lsw_whack "$LSW" --showstates)"
}

# spis NS: the SPIs of NS's XFRM states. gone SPI...: none of them is still in B.
spis() { ip -n "$1" xfrm state | awk '$1 == "proto" {print $4}'; }
gone() {
	local s st
	st=$(ip -n B xfrm state)
	for s in "$@"; do case $st in *"spi $s "*) return 1 ;; esac; done
}

# lsw_revives_after_ikeuser_delete: pluto initiated with whack --initiate, which marks the
# connection "up". On our DELETE it removes the deleted SAs, then brings the connection up
# again (Libreswan's revival), which we answer as responder.
lsw_revives_after_ikeuser_delete() {
	local old spi
	# shellcheck disable=SC2034 # spi is read by the wait_for check
	old=$(spis B) spi=$(spi_in)
	ikectl A down c >/dev/null || fail "down: $(ike_log A | tail -3)"
	# shellcheck disable=SC2086 # one SPI per word
	wait_for 10 gone $old || fail "pluto kept the deleted SAs: $(ip -n B xfrm state)"
	wait_for 10 'lsw_log "$LSW" 30 | grep -q "must remain up per local policy"' ||
		fail "pluto did not revive the connection: $(lsw_log "$LSW" 10)"
	wait_for 10 'test "$(sa_count A)" = 2 && test "$(spi_in)" != "$spi"' ||
		fail "no new Child SA after pluto's revival: $(ike_log A | tail -5)"
	lsw_wait_sa B "$LSW" c
}

# ikeuser_deleted_by_lsw: pluto's DELETE (whack --terminate) must empty ikeuser's side.
ikeuser_deleted_by_lsw() {
	lsw_terminate B "$LSW" c || fail "whack --terminate failed: $(lsw_log "$LSW" 10)"
	wait_for 10 expect_clean A >/dev/null 2>&1 || expect_clean A
	local peer=$B_OUT:500
	[ "${B_OUT#*:}" = "$B_OUT" ] || peer="[$B_OUT]:500"
	expect_contains "$(ike_log A)" "the peer $peer deleted the IKE SA"
	expect_eq "$(ike_sa_count A)" 0 "ikeuser's IKE SAs after pluto's DELETE"
}

test_lsw_ikeuser_initiates_tunnel44_defaults() {
	lsw_pair tunnel44
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(lsw_log "$LSW" 15)"
	lsw_wait_sa B "$LSW" c
	expect_algs
	traffic_both_ways 100000
	lsw_deleted_by_ikeuser
}

test_lsw_pluto_initiates_tunnel44_defaults() {
	lsw_pair tunnel44
	lsw_initiate B "$LSW" c || fail "pluto could not initiate: $(ike_log A | tail -5)"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "ikeuser installed $(sa_count A) SAs"
	expect_algs
	traffic_both_ways 100000
	ikeuser_deleted_by_lsw
}

# Transport mode over IPv6, each side initiating and the other deleting.
test_lsw_transport6_defaults_both_ways() {
	lsw_pair transport6
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(lsw_log "$LSW" 15)"
	lsw_wait_sa B "$LSW" c
	expect_algs
	expect_contains "$(ikectl A status)" "child net: transport aes256gcm16"
	traffic_both_ways 50000
	ikeuser_deleted_by_lsw
	lsw_initiate B "$LSW" c || fail "pluto could not initiate: $(ike_log A | tail -5)"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "ikeuser installed $(sa_count A) SAs"
	expect_algs
	traffic_both_ways 50000
	lsw_revives_after_ikeuser_delete
	traffic_both_ways 20000
	# whack --terminate also takes the "up" mark away: this time everything goes.
	ikeuser_deleted_by_lsw
	wait_for 10 'test "$(lsw_sa_count B)" = 0' || fail "pluto kept $(lsw_sa_count B) XFRM SAs after terminating"
}
