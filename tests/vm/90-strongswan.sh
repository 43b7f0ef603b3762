# ikeuser (ripsec data plane) in netns A against strongSwan's charon (XFRM data plane) in B:
# both sides initiate, traffic both ways, rekeys of Child and IKE SAs under traffic, DELETE,
# DPD, trap, and mismatches. PSK and certificates (RSA, ECDSA; FQDN and DN IDs); DH 14/19/31;
# GCM and CBC-HMAC, plus ChaCha20-Poly1305 and NULL-HMAC for ESP; tunnel and transport; v4/v6.
# shellcheck shell=bash
source tests/vm/ike.sh
source tests/vm/strongswan.sh
source tests/vm/pki.sh

SWAN=$IKE_DIR/swanB
# charon keeps a rekeyed Child SA's inbound SA for 5 s by default; the tests count SAs.
export SWAN_EXTRA_CONF="delete_rekeyed_delay = 0"

# xfrm_sa_count: SAs charon installed in B, counting its outbound SAs twice: after a rekey,
# charon keeps the old inbound SA a while for packets in flight.
xfrm_sa_count() { echo $((2 * $(ip -n B xfrm state | grep -c "^src $B_OUT " || true))); }

# spi_in: ikeuser's inbound SPI of its Child SA.
spi_in() { json_get "$(ikectl A status --json)" 'j["status"]["ike_sas"][0]["children"][0]["spi_in"]'; }

# rekeyed_by CMD...: runs CMD (which starts a Child SA rekey) while pinging A -> B; the pings
# must all pass, the SPI must change, and both sides end up with exactly one Child SA.
rekeyed_by() {
	local before after pinger sent
	before=$(spi_in)
	sent=$(packets_out A)
	ip netns exec A ping -c 30 -i 0.1 -W 1 -I "$A_IN" "$B_IN" >"$IKE_DIR/ping" &
	pinger=$!
	wait_sending A "$sent"
	"$@" >/dev/null || fail "rekey ($*) failed: $(ike_log A | tail -5)"
	wait $pinger || fail "pings lost during the rekey ($*): $(tail -3 "$IKE_DIR/ping")"
	wait_for 10 'test "$(sa_count A)" = 2' || fail "A has $(sa_count A) SAs after the rekey"
	wait_for 10 'test "$(xfrm_sa_count)" = 2' || fail "charon has $(xfrm_sa_count) SAs after the rekey"
	after=$(spi_in)
	[ "$before" != "$after" ] || fail "the inbound SPI did not change ($before) after $*"
}

test_swan_ikeuser_initiates_tunnel44_gcm_ecp256_rekeys_and_deletes() {
	swan_pair tunnel44 aes128gcm16-prfsha256-ecp256 aes128gcm16
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	swan_wait_sa B "$SWAN" net
	traffic_both_ways 100000
	rekeyed_by ikectl A rekey c
	# An IKE SA rekey replaces the IKE SA; the Child SA stays and moves to the new one.
	local ike_id spi
	ike_id=$(json_get "$(ikectl A status --json)" 'j["status"]["ike_sas"][0]["id"]')
	spi=$(spi_in)
	# Under pings: an IKE SA rekey leaves the Child SA (and its traffic) alone.
	ip netns exec A ping -c 20 -i 0.1 -W 1 -I "$A_IN" "$B_IN" >"$IKE_DIR/ping" &
	local pinger=$!
	ikectl A rekey c --ike >/dev/null || fail "IKE rekey: $(ike_log A | tail -3)"
	wait $pinger || fail "pings lost during the IKE rekey: $(tail -3 "$IKE_DIR/ping")"
	[ "$(json_get "$(ikectl A status --json)" 'j["status"]["ike_sas"][0]["id"]')" != "$ike_id" ] ||
		fail "the IKE SA was not replaced"
	expect_eq "$(spi_in)" "$spi" "the Child SA's inbound SPI after the IKE rekey"
	traffic_both_ways 20000
	# The new IKE SA carries the next Child SA rekey.
	rekeyed_by ikectl A rekey c
	swan_list_sas B "$SWAN" | grep -q ESTABLISHED || fail "charon lost the IKE SA after the IKE rekey"
	ikectl A down c >/dev/null || fail "down: $(ike_log A | tail -3)"
	wait_for 5 'test "$(xfrm_sa_count)" = 0' || fail "charon still has SAs after ikeuser's DELETE"
	expect_clean A
}

test_swan_charon_initiates_tunnel66_cbc_modp2048_rekeys_and_deletes() {
	swan_pair tunnel66 aes256-sha256-modp2048 aes256-sha256
	swan_initiate B "$SWAN" net c || fail "charon could not initiate: $(ike_log A | tail -5)"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "ikeuser installed $(sa_count A) SAs"
	traffic_both_ways 100000
	rekeyed_by swan_rekey B "$SWAN" net
	ip netns exec A ping -c 20 -i 0.1 -W 1 -I "$A_IN" "$B_IN" >"$IKE_DIR/ping" &
	local pinger=$!
	swan_rekey B "$SWAN" --ike c
	wait_for 10 grep -q "rekeyed, now" "$IKE_DIR/A.log" || fail "no IKE rekey by charon: $(ike_log A | tail -5)"
	wait $pinger || fail "pings lost during charon's IKE rekey: $(tail -3 "$IKE_DIR/ping")"
	traffic_both_ways 20000
	swan_terminate B "$SWAN" c
	wait_for 5 expect_clean A >/dev/null 2>&1 || expect_clean A
	expect_contains "$(ike_log A)" "the peer [fd00::2]:500 deleted the IKE SA"
}

test_swan_charon_initiates_transport4_gcm256_curve25519_pfs() {
	swan_pair transport4 aes256gcm16-prfsha256-curve25519 aes256gcm16-curve25519
	swan_initiate B "$SWAN" net c || fail "charon could not initiate: $(ike_log A | tail -5)"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "ikeuser installed $(sa_count A) SAs"
	traffic_both_ways 50000
	# A rekey with PFS from each side.
	rekeyed_by swan_rekey B "$SWAN" net
	rekeyed_by ikectl A rekey c
	expect_contains "$(ikectl A status)" "transport aes256gcm16"
}

test_swan_ikeuser_initiates_transport6_cbc128_ecp384() {
	swan_pair transport6 aes128-sha256-ecp384 aes128-sha256
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	expect_contains "$(ikectl A status)" "ECP_384"
	traffic_both_ways 50000
	swan_terminate_child B "$SWAN" net
	wait_for 5 'test "$(sa_count A)" = 0' || fail "ikeuser kept $(sa_count A) SAs after charon deleted the child"
}

test_swan_dpd_after_the_peer_dies() {
	# Liveness checks run both ways; each side notices when the other dies without a DELETE.
	swan_pair tunnel44 aes128gcm16-prfsha256-ecp256 aes128gcm16 dpd=1 tries=3 -- dpd_delay=1s
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	swan_wait_sa B "$SWAN" net
	swan_kill B "$SWAN"
	wait_for 25 expect_clean A >/dev/null 2>&1 || fail "ikeuser did not notice the dead charon: $(ike_log A | tail -5)"
	expect_contains "$(ike_log A)" "unreachable"
	# charon's turn: a new charon, and ikeuser dies.
	ip -n B xfrm state flush
	ip -n B xfrm policy flush
	swan_start B "$SWAN"
	swan_load B "$SWAN"
	ikectl A up c >/dev/null || fail "second up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	swan_wait_sa B "$SWAN" net
	kill -KILL "$(cat "$IKE_DIR/A.pid")"
	wait_for 25 'test "$(xfrm_sa_count)" = 0' || fail "charon kept $(xfrm_sa_count) SAs after ikeuser died: $(swan_log "$SWAN" 15)"
	swan_log "$SWAN" 200 | grep -q "giving up after" || fail "charon's log does not show the DPD timeout: $(swan_log "$SWAN" 15)"
}

test_swan_certs_rsa_fqdn_ids_ikeuser_initiates_tunnel44() {
	pki_init
	swan_pair tunnel44 aes128gcm16-prfsha256-ecp256 aes128gcm16 \
		cert="$PKI/left-rsa.crt" key="$PKI/left-rsa.key" ca="$PKI/ca-rsa.crt" \
		local_id=left.ripsec.test remote_id=right.ripsec.test -- \
		cert="$PKI/right-rsa.crt" key="$PKI/right-rsa.key" cacert="$PKI/ca-rsa.crt" \
		local_id=right.ripsec.test remote_id=left.ripsec.test
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	swan_wait_sa B "$SWAN" net
	traffic_both_ways 50000
	expect_contains "$(ikectl A status)" "peer authenticated by pubkey CN=right.ripsec.test, O=ripsec"
	expect_contains "$(swan_log "$SWAN" 400)" "authentication of 'left.ripsec.test' with RSA_EMSA_PKCS1_SHA2_256 successful"
	# The Child SA and the IKE SA rekey over the certificate-authenticated SA.
	rekeyed_by ikectl A rekey c
	ikectl A rekey c --ike >/dev/null || fail "IKE rekey: $(ike_log A | tail -3)"
	traffic_both_ways 20000
}

test_swan_certs_ecdsa_dn_ids_charon_initiates_tunnel66() {
	pki_init
	# No IDs on our side: we are our certificate's subject DN; charon is likewise by default.
	swan_pair tunnel66 aes256-sha256-ecp521 aes256-sha256 \
		cert="$PKI/left-ec.crt" key="$PKI/left-ec.key" ca="$PKI/ca-ec.crt" \
		remote_id="CN=right.ripsec.test, O=ripsec" -- \
		cert="$PKI/right-ec.crt" key="$PKI/right-ec.key" cacert="$PKI/ca-ec.crt" \
		remote_id="CN=left.ripsec.test, O=ripsec"
	swan_initiate B "$SWAN" net c || fail "charon could not initiate: $(ike_log A | tail -5)"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "ikeuser installed $(sa_count A) SAs"
	traffic_both_ways 50000
	expect_contains "$(ikectl A status)" "peer authenticated by pubkey CN=right.ripsec.test, O=ripsec"
	expect_contains "$(ikectl A status)" "ECP_521"
	expect_contains "$(swan_log "$SWAN" 400)" "authentication of 'CN=left.ripsec.test, O=ripsec' with ECDSA_WITH_SHA256_DER successful"
	swan_terminate B "$SWAN" c
	wait_for 5 expect_clean A >/dev/null 2>&1 || expect_clean A
}

test_swan_certs_untrusted_either_way_is_explained() {
	pki_init
	# Our certificate is from a CA charon does not trust: it refuses us, and we say what may be
	# wrong. (This comes first: charon caches certificates it has seen, by subject.)
	swan_pair tunnel44 aes128gcm16-prfsha256-ecp256 aes128gcm16 \
		cert="$PKI/left-untrusted.crt" key="$PKI/left-untrusted.key" ca="$PKI/both-cas.crt" \
		local_id=left.ripsec.test remote_id=right.ripsec.test -- \
		cert="$PKI/right-rsa.crt" key="$PKI/right-rsa.key" cacert="$PKI/ca-ec.crt" \
		local_id=right.ripsec.test remote_id=left.ripsec.test
	local out
	if out=$(ikectl A up c 2>&1); then fail "up succeeded with our untrusted certificate"; fi
	expect_contains "$out" "does not trust our certificate 'CN=left.ripsec.test, O=ripsec'"
	expect_contains "$(swan_log "$SWAN" 400)" "no trusted"
	expect_clean A
	# charon's certificate is from a CA we do not trust.
	ikeuser_stop A
	ike_conf A "$IKE_DIR/A.toml" cert="$PKI/left-ec.crt" key="$PKI/left-ec.key" ca="$PKI/ca-ec.crt" \
		local_id=left.ripsec.test remote_id=right.ripsec.test
	ikeuser_start A "$IKE_DIR/A.toml"
	if out=$(ikectl A up c 2>&1); then fail "up succeeded with an untrusted peer certificate"; fi
	expect_contains "$out" "certificate 'CN=right.ripsec.test, O=ripsec' is not signed by a trusted CA: its issuer is 'CN=ripsec test RSA CA, O=ripsec'"
	expect_clean A
	# charon had installed its side; our AUTHENTICATION_FAILED notify makes it remove that.
	wait_for 5 'test "$(xfrm_sa_count)" = 0' || fail "charon kept $(xfrm_sa_count) SAs after we rejected its certificate"
	expect_contains "$(swan_log "$SWAN" 100)" "parsed INFORMATIONAL request 2 [ N(AUTH_FAILED) ]"
}

test_swan_two_children_in_one_connection() {
	swan_pair tunnel44 aes128gcm16-prfsha256-ecp256 aes128gcm16
	second_subnets
	ike_child "$IKE_DIR/A.toml" A net2
	ikeuser_stop A
	ikeuser_start A "$IKE_DIR/A.toml"
	swan_child "$SWAN" c net2 local_ts="$SEL_B2" remote_ts="$SEL_A2"
	swan_load B "$SWAN"
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	swan_wait_sa B "$SWAN" net
	swan_wait_sa B "$SWAN" net2
	traffic_both_ways 20000
	second_traffic
	# charon rekeys one child; the other stays as it was.
	local net net2
	# shellcheck disable=SC2034 # net2 is read by the wait_for check
	net=$(child_spi A net) net2=$(child_spi A net2)
	swan_rekey B "$SWAN" net2
	wait_for 10 'test "$(child_spi A net2)" != "$net2"' || fail "net2 was not rekeyed: $(ike_log A | tail -3)"
	expect_eq "$(child_spi A net)" "$net" "net's inbound SPI after net2's rekey"
	second_traffic
	ikectl A down c >/dev/null || fail "down: $(ike_log A | tail -3)"
	wait_for 5 'test "$(xfrm_sa_count)" = 0' || fail "charon still has SAs after ikeuser's DELETE"
	expect_clean A
}

test_swan_trap_on_demand() {
	swan_pair tunnel44 aes128gcm16-prfsha256-curve25519 aes128gcm16 start=trap
	ip netns exec A ping -c 1 -W 1 -I "$A_IN" "$B_IN" >/dev/null 2>&1 || true
	wait_for 10 'test "$(sa_count A)" = 2' || fail "the trap did not bring the tunnel up: $(ike_log A | tail -5)"
	ip netns exec A ping -c 2 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "ping after the trap"
	swan_wait_sa B "$SWAN" net
}

test_swan_mismatches_explain_and_leave_nothing() {
	swan_pair tunnel44 aes128gcm16-prfsha256-ecp256 aes128gcm16 -- proposals=aes256-sha256-modp2048
	local out
	if out=$(ikectl A up c 2>&1); then fail "up succeeded against a proposal mismatch"; fi
	expect_contains "$out" "no proposal chosen"
	expect_contains "$out" "AES_GCM_16"
	expect_clean A
	# charon initiating with a proposal ikeuser does not accept: ikeuser's log says why.
	if swan_initiate B "$SWAN" net c 2>/dev/null; then fail "charon got through a proposal mismatch"; fi
	expect_contains "$(ike_log A)" "AES_CBC"
	# PSK mismatch (charon's proposals fixed).
	swan_conf "$SWAN" c child=net local_addrs="$B_OUT" remote_addrs="$A_OUT" psk="not the same key" \
		proposals=aes128gcm16-prfsha256-ecp256 esp_proposals=aes128gcm16 local_ts="$SEL_B" remote_ts="$SEL_A"
	swan_load B "$SWAN"
	if out=$(ikectl A up c 2>&1); then fail "up succeeded with different PSKs"; fi
	expect_contains "$out" "AUTHENTICATION_FAILED"
	expect_clean A
	[ "$(xfrm_sa_count)" = 0 ] || fail "charon installed SAs despite the failures"
}

# alg_of_sas: the algorithms of ripsec's SAs in A, e.g. ['chacha20poly1305'].
alg_of_sas() { json_get "$(ip netns exec A ikeuser sa list --json)" 'sorted(set(s["alg"] for s in j))'; }

test_swan_esp_chacha20poly1305_and_null_sha256() {
	# ChaCha20-Poly1305 (RFC 7634: 36 bytes of KEYMAT per direction, no Key Length attribute)
	# in a v4 tunnel, PFS on rekeys; ikeuser initiates, then each side rekeys.
	swan_pair tunnel44 aes128gcm16-prfsha256-curve25519 chacha20poly1305-curve25519
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	swan_wait_sa B "$SWAN" net
	expect_contains "$(ikectl A status)" "tunnel chacha20poly1305"
	expect_eq "$(alg_of_sas)" "['chacha20poly1305']" "ripsec's SAs in A"
	expect_contains "$(ip -n B xfrm state)" "rfc7539esp(chacha20,poly1305)" "charon's SAs"
	traffic_both_ways 50000
	rekeyed_by ikectl A rekey c
	rekeyed_by swan_rekey B "$SWAN" net
	expect_eq "$(alg_of_sas)" "['chacha20poly1305']" "ripsec's SAs in A after the rekeys"
	traffic_both_ways 20000

	# A fresh pair: NULL + HMAC-SHA-256 (integrity only: no encryption key, 32-byte HMAC keys)
	# in v4 transport mode; charon initiates, ikeuser rekeys.
	ikeuser_stop A
	swan_stop B "$SWAN"
	delete_all_netns
	swan_pair transport4 aes128gcm16-prfsha256-ecp256 null-sha256
	swan_initiate B "$SWAN" net c || fail "charon could not initiate: $(ike_log A | tail -5)"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "ikeuser installed $(sa_count A) SAs"
	expect_contains "$(ikectl A status)" "transport null-sha256"
	expect_eq "$(alg_of_sas)" "['null-sha256']" "ripsec's SAs in A"
	expect_contains "$(ip -n B xfrm state)" "cipher_null" "charon's SAs"
	traffic_both_ways 50000
	rekeyed_by ikectl A rekey c
	expect_eq "$(alg_of_sas)" "['null-sha256']" "ripsec's SAs in A after the rekey"
	traffic_both_ways 20000
}

# Neither side names a proposal: strongSwan's `default` keyword (its built-in IKE and ESP
# proposals, as with no proposals line) against ikeuser's defaults.
test_swan_default_proposals_on_both_sides() {
	swan_pair tunnel44 default default ike=default esp=default
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	swan_wait_sa B "$SWAN" net
	echo "negotiated: $(ikectl A status | grep -E 'IKE|child')"
	traffic_both_ways 20000
	rekeyed_by swan_rekey B "$SWAN" net
	traffic_both_ways 10000
}

test_swan_esp_sha512_and_gmac_with_modp4096_and_modp3072() {
	# AES-256-CBC + HMAC-SHA-512-256 (RFC 4868: 64-byte HMAC keys, 32-byte ICV) in a v4 tunnel;
	# ikeuser offers a list and charon picks it; then charon rekeys.
	# IKE with MODP-4096 (group 16) and HMAC-SHA-512-256 integrity (PRF HMAC-SHA-512).
	swan_pair tunnel44 aes256-sha512-modp4096 aes256-sha512 \
		esp='["aes128gcm16", "aes256-sha512", "aes192gcm12"]'
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	swan_wait_sa B "$SWAN" net
	expect_contains "$(ikectl A status)" "MODP_4096"
	expect_contains "$(ikectl A status)" "HMAC_SHA2_512_256/PRF_HMAC_SHA2_512"
	expect_eq "$(alg_of_sas)" "['aes256-sha512']" "ripsec's SAs in A"
	expect_contains "$(ip -n B xfrm state)" "hmac(sha512)" "charon's SAs"
	traffic_both_ways 30000
	rekeyed_by swan_rekey B "$SWAN" net
	expect_eq "$(alg_of_sas)" "['aes256-sha512']" "ripsec's SAs in A after the rekey"
	traffic_both_ways 10000

	# A fresh pair: AES-GMAC (RFC 4543: authentication only, 4-byte salt) in v6 transport
	# mode, IKE with MODP-3072 (group 15); charon initiates.
	ikeuser_stop A
	swan_stop B "$SWAN"
	delete_all_netns
	swan_pair transport6 aes128gcm16-prfsha384-modp3072 aes128gmac
	swan_initiate B "$SWAN" net c || fail "charon could not initiate: $(ike_log A | tail -5)"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "ikeuser installed $(sa_count A) SAs"
	expect_contains "$(ikectl A status)" "MODP_3072"
	expect_contains "$(ikectl A status)" "transport aes128gmac"
	expect_contains "$(ip -n B xfrm state)" "rfc4543(gcm(aes))" "charon's SAs"
	traffic_both_ways 30000
}

# AH Child SAs with charon (`ah_proposals` on both sides): SHA-256 in a v4 tunnel, ikeuser
# initiating (its list, charon's pick) and charon rekeying, IKE with HMAC-SHA-384-192; then
# SHA-512 in v6 transport mode, charon initiating, IKE with HMAC-SHA-1-96 and PRF HMAC-SHA-1
# (named, as old peers need). charon installs its IPv4 AH SAs with XFRM's align4 flag, which
# matches ripsec's default alignment.
test_swan_ah_children() {
	swan_pair tunnel44 aes128-sha384-ecp256 sha256 ah='["sha384", "sha256"]' -- ah_proposals=sha256
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	swan_wait_sa B "$SWAN" net
	expect_eq "$(json_get "$(ip netns exec A ikeuser sa list --json)" 'sorted(set((s["proto"], s["alg"]) for s in j))')" \
		"[('ah', 'sha256')]" "ripsec's SAs in A"
	expect_contains "$(ip -n B xfrm state)" "proto ah" "charon's SAs"
	expect_contains "$(ikectl A status)" "AH sha256"
	expect_contains "$(ikectl A status)" "HMAC_SHA2_384_192/PRF_HMAC_SHA2_384"
	traffic_both_ways 30000
	rekeyed_by swan_rekey B "$SWAN" net
	expect_eq "$(alg_of_sas)" "['sha256']" "ripsec's SAs in A after the rekey"
	traffic_both_ways 10000
	ikectl A down c >/dev/null || fail "down failed"
	wait_for 10 'test "$(xfrm_sa_count)" = 0' || fail "charon kept $(xfrm_sa_count) SAs after ikeuser's delete"

	ikeuser_stop A
	swan_stop B "$SWAN"
	delete_all_netns
	swan_pair transport6 aes256-sha1-ecp256 sha512 ah='["sha512"]' -- ah_proposals=sha512
	swan_initiate B "$SWAN" net c || fail "charon could not initiate: $(ike_log A | tail -5)"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "ikeuser installed $(sa_count A) SAs"
	expect_eq "$(alg_of_sas)" "['sha512']" "ripsec's SAs in A"
	expect_contains "$(ip -n B xfrm state)" "hmac(sha512)" "charon's SAs"
	expect_contains "$(ikectl A status)" "HMAC_SHA1_96/PRF_HMAC_SHA1"
	traffic_both_ways 30000
}

# AES-192 for the IKE SA (GCM, then CBC), Curve448 (charon's openssl plugin) and MODP-1024 (weak,
# named by both configs), AES-CMAC-96 for ESP and AES-XCBC-96 for AH (charon's xcbc plugin; the
# kernel computes both MACs on each side).
test_swan_aes192_curve448_modp1024_and_aes_macs() {
	swan_pair tunnel44 aes192gcm16-prfsha384-curve448 aes192-aescmac-curve448
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	swan_wait_sa B "$SWAN" net
	expect_contains "$(ikectl A status)" "AES_GCM_16_192/PRF_HMAC_SHA2_384/CURVE_448"
	expect_eq "$(alg_of_sas)" "['aes192-aescmac']" "ripsec's SAs in A"
	expect_contains "$(ip -n B xfrm state)" "cmac(aes)" "charon's SAs"
	traffic_both_ways 30000
	rekeyed_by ikectl A rekey c
	expect_eq "$(alg_of_sas)" "['aes192-aescmac']" "ripsec's SAs in A after a Curve448 PFS rekey"

	ikeuser_stop A
	swan_stop B "$SWAN"
	delete_all_netns
	SWAN_PLUGINS="$SWAN_PLUGINS xcbc" swan_pair transport6 aes192-sha256-modp1024 aesxcbc ah='["aesxcbc"]' -- ah_proposals=aesxcbc
	swan_initiate B "$SWAN" net c || fail "charon could not initiate: $(ike_log A | tail -5)"
	wait_for 5 'test "$(sa_count A)" = 2' || fail "ikeuser installed $(sa_count A) SAs"
	expect_eq "$(alg_of_sas)" "['aesxcbc']" "ripsec's SAs in A"
	expect_contains "$(ip -n B xfrm state)" "xcbc(aes)" "charon's SAs"
	expect_contains "$(ikectl A status)" "AES_CBC_192/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_1024"
	traffic_both_ways 30000
}

# ESP in UDP with charon: each side forces encapsulation in turn (strongSwan's `encap = yes`,
# ikeuser's `encap = true`), IKE moves to 4500, and traffic, a Child SA rekey, an IKE SA rekey
# and DPD run there.
test_swan_encap_charon_initiates() {
	swan_pair tunnel44 aes128gcm16-prfsha256-ecp256 aes128gcm16 dpd=2 -- encap=yes dpd_delay=2s
	swan_initiate B "$SWAN" net c || fail "charon could not initiate: $(ike_log A | tail -5)"
	traffic_both_ways 50000
	expect_contains "$(ikectl A status)" "NAT: the peer is behind a NAT; IKE on 10.0.0.1:4500 <-> 10.0.0.2:4500, ESP in UDP"
	ip -n B xfrm state | grep -q "encap type espinudp sport 4500 dport 4500" || fail "charon's SAs are not in UDP: $(ip -n B xfrm state)"
	rekeyed_by ikectl A rekey c
	ikectl A rekey c --ike >/dev/null || fail "IKE rekey: $(ike_log A | tail -3)"
	traffic_both_ways 20000
	# DPD runs on 4500 too: a few seconds idle, then both still up. The idle time is the
	# subject (dpd_delay 2 s: two rounds each way), with no state that shows a round passed.
	sleep 5
	swan_list_sas B "$SWAN" | grep -q ESTABLISHED || fail "charon lost the IKE SA"
	ip netns exec A ping -c 2 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "ping after DPD"
	expect_eq "$(json_get "$(ip netns exec A ikeuser stats --json)" 'j["counters"]["drop-encap"]')" 0 "drop-encap"
}

# ikeuser forces it as responder too: its faked NAT detection hash makes charon see it behind a
# NAT, so charon moves to 4500 and asks for ESP in UDP.
test_swan_encap_forced_by_the_ikeuser_responder() {
	swan_pair tunnel44 aes128gcm16-prfsha256-ecp256 aes128gcm16 encap=true
	swan_initiate B "$SWAN" net c || fail "charon could not initiate: $(ike_log A | tail -5)"
	expect_contains "$(ikectl A status)" "IKE on $A_OUT:4500 <-> $B_OUT:4500, ESP in UDP"
	ip -n B xfrm state | grep -q "encap type espinudp sport 4500 dport 4500" || fail "charon's SAs are not in UDP: $(ip -n B xfrm state)"
	expect_contains "$(swan_list_sas B "$SWAN")" "TUNNEL-in-UDP"
	traffic_both_ways 20000
}

# ikeuser also starts on charon's port 4500 (remote_port), with the non-ESP marker from the
# first message (RFC 7296 §2.23).
test_swan_encap_ikeuser_initiates() {
	swan_pair tunnel44 aes128gcm16-prfsha256-ecp256 aes128gcm16 encap=true remote_port=4500
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
	expect_contains "$(ike_log A)" "initiating to $B_OUT:4500"
	expect_contains "$(ikectl A status)" "IKE on $A_OUT:4500 <-> $B_OUT:4500, ESP in UDP"
	swan_wait_sa B "$SWAN" net
	traffic_both_ways 50000
	ip -n B xfrm state | grep -q "encap type espinudp sport 4500 dport 4500" || fail "charon's SAs are not in UDP: $(ip -n B xfrm state)"
	rekeyed_by ikectl A rekey c
	ikectl A down c >/dev/null || fail "down: $(ike_log A | tail -3)"
	wait_for 5 'test "$(xfrm_sa_count)" = 0' || fail "charon still has SAs after ikeuser's DELETE"
	expect_clean A
}
