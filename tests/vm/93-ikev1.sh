# IKEv1 (`version = 1`) between ikeuser (ripsec data plane) in netns A and strongSwan's charon
# (`version = 1`, XFRM) in B: Main Mode and Aggressive Mode with a pre-shared key, Quick Mode, each side
# initiating; tunnel and transport, IPv4 and IPv6, with and without PFS; traffic both ways with
# a SHA-256 check; Deletes both ways; Child SA rekeys from each side; DPD; a PSK, a proposal
# and an Aggressive Mode mismatch explained.
# shellcheck shell=bash
source tests/vm/ike.sh
source tests/vm/strongswan.sh
source tests/vm/pki.sh

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

test_v1_aggressive_mode_each_side_initiating() {
	export SWAN_EXTRA_CONF="i_dont_care_about_security_and_use_aggressive_mode_psk = yes"
	v1_pair tunnel44 aes128-sha256-modp2048 aes128gcm16 aggressive=true -- ike.aggressive=yes
	expect_contains "$(ip netns exec A ikeuser check "$IKE_DIR/A.toml" 2>&1)" "test PSK guesses offline"
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	swan_wait_sa B "$SWAN" net
	expect_contains "$(ikectl A status)" "IKEv1 Aggressive Mode"
	traffic_both_ways 30000
	ikectl A down c >/dev/null || fail "down failed"
	wait_for 10 'test "$(charon_sas)" = 0' || fail "charon kept $(charon_sas) SAs after ikeuser's Deletes"
	swan_initiate B "$SWAN" net c || fail "charon could not initiate: $(ike_log A | tail -5)"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "ikeuser installed $(sa_count A) SAs"
	traffic_both_ways 30000
}

test_v1_aggressive_mode_refused_unless_asked_for() {
	v1_pair tunnel44 aes128-sha256-modp2048 aes128gcm16 -- ike.aggressive=yes
	if swan_initiate B "$SWAN" net c >/dev/null 2>&1; then fail "charon got a Child SA by Aggressive Mode"; fi
	wait_for 5 'ike_log A | grep -q "started Aggressive Mode, which exposes the PSK to offline guessing"' ||
		fail "no explanation: $(ike_log A | tail -5)"
	expect_eq "$(sa_count A)" 0 "SAs in A"
}

# A Child SA rekey is a new Quick Mode, then a Delete of the old SAs: by ikeuser (at its
# rekey_time, under pings that must all pass), then by charon.
test_v1_child_rekeys_from_each_side_lose_nothing() {
	v1_pair tunnel44 aes256-sha256-modp2048 aes128-sha256 rekey=6 life=60
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5)"
	swan_wait_sa B "$SWAN" net
	local first second pinger
	first=$(child_spi A net)
	ip netns exec A ping -c 100 -i 0.1 -W 1 -I "$A_IN" "$B_IN" >"$IKE_DIR/ping" &
	pinger=$!
	wait_for 15 'test "$(child_spi A net)" != "$first"' || fail "no rekey at rekey_time: $(ike_log A | tail -5)"
	wait $pinger || fail "pings lost during the rekey: $(tail -3 "$IKE_DIR/ping")"
	wait_for 10 'test "$(sa_count A)" = 2' || fail "A has $(sa_count A) SAs after the rekey"
	wait_for 10 'test "$(charon_sas)" = 2' || fail "charon has $(charon_sas) SAs after the rekey"
	# charon's own rekey, without ikeuser's rekey_time running into it (IKEv1 has no way to
	# resolve two rekeys of one Child SA at once; each side would keep both).
	ikeuser_stop A
	swan_stop B "$SWAN"
	delete_all_netns
	# IKEv1 charon lets a rekeyed Child SA expire unless told to delete it.
	export SWAN_EXTRA_CONF="delete_rekeyed = yes
		delete_rekeyed_delay = 0"
	v1_pair tunnel44 aes256-sha256-modp2048 aes128-sha256
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5)"
	swan_wait_sa B "$SWAN" net
	second=$(child_spi A net)
	swan_rekey B "$SWAN" net
	wait_for 10 'test "$(child_spi A net)" != "$second"' || fail "charon's rekey did not replace the Child SA"
	wait_for 10 'test "$(sa_count A)" = 2' || fail "A has $(sa_count A) SAs after charon's rekey"
	traffic_both_ways 20000
}

# DPD (RFC 3706): R-U-THERE every second of silence, answered by charon; once charon is killed
# (no Delete sent), ikeuser gives up after its retransmissions and removes the SAs.
test_v1_dpd_after_charon_dies() {
	v1_pair tunnel44 aes256-sha256-modp2048 aes128-sha256 dpd=1 tries=3
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5)"
	swan_wait_sa B "$SWAN" net
	# Seconds of R-U-THERE (every 1 s) answered are the subject; nothing shows a round passed.
	sleep 3
	expect_eq "$(sa_count A)" 2 "SAs in A while charon answers R-U-THERE"
	swan_kill B "$SWAN"
	wait_for 20 'test "$(sa_count A)" = 0' || fail "ikeuser kept $(sa_count A) SAs after charon died: $(ike_log A | tail -5)"
	expect_contains "$(ike_log A)" "R-U-THERE (DPD): the peer is gone"
}

# sa_limit NS SPI LIMIT: a limit ("hard-bytes", ...) of ripsec's SA with SPI (0x...) in NS.
sa_limit() {
	json_get "$(ip netns exec "$1" ikeuser sa list --json)" \
		"[s['limits']['$3'] for s in j if s['spi'] == int('$2', 16)][0]"
}

# Lifetimes in kilobytes: ikeuser proposes its child's life_bytes, charon takes them, and
# ikeuser rekeys at rekey_bytes (the module's soft byte limit). Then charon proposes its 66
# minutes to an ikeuser child with life_time = 120: ikeuser answers RESPONDER-LIFETIME, which
# charon accepts, and installs 120 s; an ikeuser initiator honours that notify itself.
test_v1_lifetimes_in_kilobytes_and_responder_lifetime() {
	v1_pair tunnel44 aes256-sha256-modp2048 aes128-sha256 rekey_bytes=300000 life_bytes=2000000
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5)"
	swan_wait_sa B "$SWAN" net
	local first out
	first=$(child_spi A net)
	out=$(json_get "$(ikectl A status --json)" "j['status']['ike_sas'][0]['children'][0]['spi_out']")
	expect_eq "$(sa_limit A "$out" hard-bytes)" 2000000 "hard byte limit of A's outbound SA"
	expect_eq "$(sa_limit A "$out" soft-bytes)" 300000 "soft byte limit of A's outbound SA"
	expect_eq "$(sa_limit A "$first" hard-bytes)" 2000000 "hard byte limit of A's inbound SA"
	swan_log "$SWAN" 400 | grep -q "received 2000000 lifebytes" ||
		fail "charon did not read our kilobytes: $(swan_log "$SWAN" 20)"
	traffic_both_ways 400000
	wait_for 20 'test "$(child_spi A net)" != "$first"' || fail "no rekey at rekey_bytes: $(ike_log A | tail -5)"
	expect_contains "$(ike_log A)" "soft lifetime"
	traffic_both_ways 20000
	ikeuser_stop A
	swan_stop B "$SWAN"
	delete_all_netns
	v1_pair tunnel44 aes256-sha256-modp2048 aes128-sha256 rekey=100 life=120
	swan_initiate B "$SWAN" net c || fail "charon could not initiate: $(ike_log A | tail -5)"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "ikeuser installed $(sa_count A) SAs: $(ike_log A | tail -5)"
	local left
	left=$(json_get "$(ikectl A status --json)" "j['status']['ike_sas'][0]['children'][0]['expires_in_secs']")
	[ "$left" -le 120 ] || fail "ikeuser's Child SA expires in $left s, not within its life_time"
	traffic_both_ways 20000
	ikeuser_stop A
	swan_stop B "$SWAN"
	delete_all_netns
	load
	topology tunnel44
	trap ike_cleanup EXIT
	ike_conf A "$IKE_DIR/A.toml" version=1 ike='["aes256-sha384-ecp384"]'
	ike_conf B "$IKE_DIR/B.toml" version=1 ike='["aes256-sha384-ecp384"]' rekey=50 life=60
	ikeuser_start A "$IKE_DIR/A.toml"
	ikeuser_start B "$IKE_DIR/B.toml"
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(ike_log B | tail -5)"
	left=$(json_get "$(ikectl A status --json)" "j['status']['ike_sas'][0]['children'][0]['expires_in_secs']")
	[ "$left" -le 60 ] || fail "A's Child SA expires in $left s; B's RESPONDER-LIFETIME said 60"
}

# INITIAL-CONTACT: a restarted charon says it in Main Mode, and ikeuser drops the ISAKMP SA
# and Child SAs it still held (else it would adopt them under the new SA); a restarted
# ikeuser says it, and charon drops its old IKE SA.
test_v1_initial_contact_from_a_restarted_peer() {
	# charon says INITIAL-CONTACT only to a peer ID without wildcards (A_OUT is not set yet).
	v1_pair tunnel44 aes256-sha256-modp2048 aes128-sha256 -- remote_id=10.0.0.1
	swan_initiate B "$SWAN" net c || fail "charon could not initiate: $(ike_log A | tail -5)"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "ikeuser installed $(sa_count A) SAs"
	swan_kill B "$SWAN"
	ip -n B xfrm state flush
	ip -n B xfrm policy flush
	swan_start B "$SWAN"
	swan_load B "$SWAN"
	swan_initiate B "$SWAN" net c || fail "the restarted charon could not initiate: $(ike_log A | tail -5)"
	wait_for 10 'test "$(ike_sa_count A)" = 1' || fail "A kept $(ike_sa_count A) ISAKMP SAs: $(ike_log A | tail -5)"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "A has $(sa_count A) SAs after charon's INITIAL-CONTACT"
	expect_contains "$(ike_log A)" "INITIAL-CONTACT"
	traffic_both_ways 20000
	# ikeuser's turn: it dies, comes back (removing what it left) and connects again.
	kill -KILL "$(cat "$IKE_DIR/A.pid")"
	ikeuser_start A "$IKE_DIR/A.toml"
	ikectl A up c >/dev/null || fail "up after the restart: $(ike_log A | tail -5)"
	wait_for 10 'test "$(charon_ike_sas)" = 1' || fail "charon kept $(charon_ike_sas) ISAKMP SAs: $(swan_list_sas B "$SWAN")"
	wait_for 10 'test "$(charon_sas)" = 2' || fail "charon kept $(charon_sas) SAs"
	traffic_both_ways 20000
}

# AH children over IKEv1: an AH proposal in Quick Mode (ikeuser's list, charon's pick), traffic,
# a rekey by charon with PFS and Deletes of protocol AH; then forced ESP in UDP (`encap = true`),
# by the ikeuser initiator and by charon as initiator (`encap = yes`): NAT-D hides the forcing
# side's address, both move to 4500 and the Child SAs carry ESP in UDP.
test_v1_ah_children_and_forced_encapsulation() {
	export SWAN_EXTRA_CONF="delete_rekeyed = yes
		delete_rekeyed_delay = 0"
	v1_pair tunnel44 aes256-sha256-modp2048 sha256 ah='["sha512-modp2048", "sha256-modp2048"]' -- \
		ah_proposals=sha256-modp2048
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	swan_wait_sa B "$SWAN" net
	expect_eq "$(json_get "$(ip netns exec A ikeuser sa list --json)" 'sorted(set((s["proto"], s["alg"]) for s in j))')" \
		"[('ah', 'sha256')]" "ripsec's SAs in A"
	expect_contains "$(ip -n B xfrm state)" "proto ah" "charon's SAs"
	traffic_both_ways 30000
	local first
	first=$(child_spi A net)
	swan_rekey B "$SWAN" net
	wait_for 10 'test "$(child_spi A net)" != "$first"' || fail "charon's AH rekey did not replace the Child SA: $(ike_log A | tail -5)"
	wait_for 10 'test "$(sa_count A)" = 2' || fail "A has $(sa_count A) SAs after charon's rekey"
	traffic_both_ways 10000
	ikectl A down c >/dev/null || fail "down failed"
	wait_for 10 'test "$(charon_sas)" = 0' || fail "charon kept $(charon_sas) SAs after ikeuser's AH Deletes"
	ikeuser_stop A
	swan_stop B "$SWAN"
	delete_all_netns
	v1_pair tunnel44 aes256-sha256-modp2048 aes128gcm16 encap=true
	ikectl A up c >/dev/null || fail "up with encap: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	swan_wait_sa B "$SWAN" net
	expect_contains "$(ikectl A status)" "IKE on $A_OUT:4500 <-> $B_OUT:4500, ESP in UDP"
	ip -n B xfrm state | grep -q "encap type espinudp sport 4500 dport 4500" || fail "charon's SAs are not in UDP: $(ip -n B xfrm state)"
	traffic_both_ways 20000
	ikeuser_stop A
	swan_stop B "$SWAN"
	delete_all_netns
	v1_pair tunnel44 aes256-sha256-modp2048 aes128gcm16 -- encap=yes
	swan_initiate B "$SWAN" net c || fail "charon could not initiate: $(ike_log A | tail -5)"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "ikeuser installed $(sa_count A) SAs"
	expect_contains "$(ikectl A status)" "ESP in UDP"
	ip -n B xfrm state | grep -q "encap type espinudp sport 4500 dport 4500" || fail "charon's SAs are not in UDP: $(ip -n B xfrm state)"
	traffic_both_ways 20000
}

# ike_sa_id: the id of the ISAKMP SA in A.
ike_sa_id() { json_get "$(ikectl A status --json)" 'j["status"]["ike_sas"][0]["id"]'; }
# charon_ike_sas: the ISAKMP SAs charon has.
charon_ike_sas() { swan_list_sas B "$SWAN" | grep -c "^c: #" || true; }

# IKEv1 has no phase 1 rekey: at rekey_time ikeuser makes a new ISAKMP SA, which takes the
# Child SAs over on both sides (charon adopts them), and deletes the old one, under pings that
# must all pass; then (a fresh pair, so the two never run into each other) charon
# re-authenticates, and ikeuser adopts the children as responder.
test_v1_isakmp_sa_re_established_from_each_side_under_pings() {
	v1_pair tunnel44 aes256-sha256-modp2048 aes128-sha256 ike_rekey=8
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5)"
	swan_wait_sa B "$SWAN" net
	local first spi pinger
	first=$(ike_sa_id)
	spi=$(child_spi A net)
	ip netns exec A ping -c 150 -i 0.1 -W 1 -I "$A_IN" "$B_IN" >"$IKE_DIR/ping" &
	pinger=$!
	wait_for 20 'test "$(ike_sa_id)" != "$first"' || fail "no new ISAKMP SA at rekey_time: $(ike_log A | tail -5)"
	wait_for 10 'test "$(charon_ike_sas)" = 1' || fail "charon has $(charon_ike_sas) ISAKMP SAs: $(swan_list_sas B "$SWAN")"
	wait $pinger || fail "pings lost while the ISAKMP SA was replaced: $(tail -3 "$IKE_DIR/ping")"
	expect_eq "$(child_spi A net)" "$spi" "the Child SA under the new ISAKMP SA"
	expect_eq "$(sa_count A)" 2 "SAs in A"
	ikeuser_stop A
	swan_stop B "$SWAN"
	delete_all_netns
	v1_pair tunnel44 aes256-sha256-modp2048 aes128-sha256
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5)"
	swan_wait_sa B "$SWAN" net
	first=$(ike_sa_id)
	swan_rekey B "$SWAN" --ike c
	wait_for 10 'test "$(ike_sa_id)" != "$first"' || fail "charon's re-authentication did not replace the ISAKMP SA: $(ike_log A | tail -5)"
	wait_for 10 'test "$(sa_count A)" = 2' || fail "A has $(sa_count A) SAs after charon re-authenticated"
	traffic_both_ways 20000
}

# v1_certificates_each_side_initiating KIND IKE ESP [IKEUSER-KEY=VALUE...] -- [SWAN-KEY=VALUE...]:
# both sides with KIND (rsa or ec) certificates from pki.sh and FQDN IDs; ikeuser initiates,
# checks charon's certificate and charon ours, traffic, Delete; then charon initiates.
v1_certificates_each_side_initiating() {
	local kind=$1 ike=$2 esp=$3 a=() b=()
	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do a+=("$1"); shift; done
	[ $# -eq 0 ] || shift
	b=("$@")
	pki_init
	v1_pair tunnel44 "$ike" "$esp" "${a[@]}" \
		cert="$PKI/left-$kind.crt" key="$PKI/left-$kind.key" ca="$PKI/ca-$kind.crt" \
		local_id=left.ripsec.test remote_id=right.ripsec.test -- "${b[@]}" \
		cert="$PKI/right-$kind.crt" key="$PKI/right-$kind.key" cacert="$PKI/ca-$kind.crt" \
		local_id=right.ripsec.test remote_id=left.ripsec.test
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	swan_wait_sa B "$SWAN" net
	expect_contains "$(ikectl A status)" "pubkey CN=right.ripsec.test, O=ripsec"
	expect_contains "$(swan_log "$SWAN" 400)" "authentication of 'left.ripsec.test'"
	traffic_both_ways 20000
	ikectl A down c >/dev/null || fail "down failed"
	wait_for 10 'test "$(charon_sas)" = 0' || fail "charon kept $(charon_sas) SAs"
	swan_initiate B "$SWAN" net c || fail "charon could not initiate: $(ike_log A | tail -5)"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "ikeuser installed $(sa_count A) SAs"
	traffic_both_ways 20000
}

# Main Mode with RSA certificates (signature authentication): each side initiating, the
# peer's certificate checked against the CA and its identity, charon verifying ours.
test_v1_main_mode_rsa_certificates_each_side_initiating() {
	v1_certificates_each_side_initiating rsa aes256-sha256-modp2048 aes128-sha256
}


# Aggressive Mode with RSA certificates: CERT and SIG in messages 2 and 3, no PSK hash in the
# clear; each side initiating.
test_v1_aggressive_mode_rsa_certificates_each_side_initiating() {
	v1_certificates_each_side_initiating rsa aes256-sha256-modp2048 aes128gcm16 aggressive=true -- \
		ike.aggressive=yes
	expect_contains "$(ikectl A status)" "IKEv1 Aggressive Mode"
}

# Main Mode with ECDSA certificates (P-256, RFC 4754's Authentication Method 9): SIG holds r
# and s; each side initiating, charon verifying ours and we its.
test_v1_main_mode_ecdsa_certificates_each_side_initiating() {
	v1_certificates_each_side_initiating ec aes256-sha256-ecp256 aes128gcm16
}
# v1_ikeuser_pair MODE [KEY=VALUE...]: ikeuser in A and in B, both IKEv1, same settings.
v1_ikeuser_pair() {
	local mode=$1
	shift
	load
	topology "$mode"
	trap ike_cleanup EXIT
	ike_conf A "$IKE_DIR/A.toml" version=1 ike='["aes256-sha384-ecp384"]' "$@"
	ike_conf B "$IKE_DIR/B.toml" version=1 ike='["aes256-sha384-ecp384"]' "$@"
	ikeuser_start A "$IKE_DIR/A.toml"
	ikeuser_start B "$IKE_DIR/B.toml"
}

# ikeuser against ikeuser over IKEv1: Main Mode with a Quick Mode rekey, then Aggressive Mode.
test_v1_ikeuser_to_ikeuser_main_and_aggressive_mode() {
	v1_ikeuser_pair tunnel44 esp='["aes256gcm16-ecp384"]'
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(ike_log B | tail -5)"
	expect_contains "$(ikectl B status)" "IKEv1 Main Mode"
	traffic_both_ways 30000
	ikectl B rekey c >/dev/null || fail "rekey from B: $(ike_log B | tail -5)"
	wait_for 10 'test "$(sa_count A)" = 2' || fail "A has $(sa_count A) SAs after B's rekey"
	traffic_both_ways 10000
	ikectl A down c >/dev/null || fail "down failed"
	wait_for 5 expect_clean A B >/dev/null 2>&1 || expect_clean A B
	ikeuser_stop A
	ikeuser_stop B
	delete_all_netns
	v1_ikeuser_pair transport4 aggressive=true
	ikectl B up c >/dev/null || fail "up (Aggressive Mode): $(ike_log B | tail -5)"
	expect_contains "$(ikectl A status)" "IKEv1 Aggressive Mode"
	traffic_both_ways 10000
}

# ike-scan (an independent IKEv1 implementation) probes ikeuser's responder: its default Main
# Mode proposals (DES, 3DES, MD5, MODP-1024) are refused with NO-PROPOSAL-CHOSEN, an AES-256/
# SHA2-256/MODP-2048 one gets a Main Mode answer, an Aggressive Mode probe gets one where the
# connection allows it; garbage on UDP 500 changes nothing.
test_v1_ike_scan_probes_the_responder() {
	command -v ike-scan >/dev/null || fail "ike-scan is not installed (scripts/setup installs it)"
	load
	topology tunnel44
	trap ike_cleanup EXIT
	ike_conf B "$IKE_DIR/B.toml" version=1 ike='["aes256-sha256-modp2048"]' aggressive=true remote_id=probe@ripsec.test
	ikeuser_start B "$IKE_DIR/B.toml"
	local out
	out=$(ip netns exec A ike-scan --sport=0 --retry=2 "$B_OUT" 2>&1)
	expect_contains "$out" "Notify message 14 (NO-PROPOSAL-CHOSEN)"
	out=$(ip netns exec A ike-scan --sport=0 --retry=2 --trans=7/256,4,1,14 "$B_OUT" 2>&1)
	expect_contains "$out" "Main Mode Handshake returned"
	expect_contains "$out" "Enc=AES"
	expect_contains "$out" "Group=14:modp2048"
	out=$(ip netns exec A ike-scan --sport=0 --retry=2 --aggressive --id=probe@ripsec.test \
		--dhgroup=14 --trans=7/256,4,1,14 "$B_OUT" 2>&1)
	expect_contains "$out" "Aggressive Mode Handshake returned"
	ip netns exec A python3 - "$B_OUT" <<-'PY'
		import os, socket, sys
		s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		header = os.urandom(16) + bytes([1, 0x10, 2, 0]) + bytes(4) + (40).to_bytes(4, "big")
		for n in range(300):
		    s.sendto(os.urandom(n % 200), (sys.argv[1], 500))
		    s.sendto(header + os.urandom(12)[: n % 13], (sys.argv[1], 500))
	PY
	out=$(ip netns exec A ike-scan --sport=0 --retry=2 --trans=7/256,4,1,14 "$B_OUT" 2>&1)
	expect_contains "$out" "Main Mode Handshake returned"
	kill -0 "$(cat "$IKE_DIR/B.pid")" || fail "the daemon died"
	expect_eq "$(sa_count B)" 0 "SAs in B"
}
