# ESP interop with Linux XFRM for the rest of the algorithm table (RFC 8221 and the default
# proposals of strongSwan and Libreswan): AES-GCM with 8- and 12-byte ICVs and 192-bit keys,
# AES-GMAC (authentication only), AES-CBC with HMAC-SHA-1-96, SHA-384-192, SHA-512-256,
# AES-XCBC-96 and AES-CMAC-96 and 192-bit keys, and NULL with each of them. Each in tunnel 4/4 and in transport v6 (60-xfrm-interop
# runs the first algorithms in every mode), one topology per group: per algorithm a ping each
# way and TCP with a SHA-256 check (data one way, ACKs the other), and no drops at all.
source tests/vm/interop.sh

AEADS="aes192gcm16 aes128gcm12 aes192gcm12 aes256gcm12 aes128gcm8 aes192gcm8 aes256gcm8
	aes128gmac aes192gmac aes256gmac"
MACS="aes192-sha256 aes128-sha384 aes192-sha384 aes256-sha384 aes128-sha512 aes192-sha512
	aes256-sha512 aes128-sha1 aes192-sha1 aes256-sha1 null-sha384 null-sha512 null-sha1
	aes128-aesxcbc aes192-aesxcbc aes256-aesxcbc aes128-aescmac aes192-aescmac aes256-aescmac
	null-aesxcbc null-aescmac"

# xfrm_algorithms MODE ALG[:esn]...: one topology; for each ALG, new SAs with it on both sides
# (`:esn`: with 64-bit sequence numbers), then traffic and ripsec's counters.
xfrm_algorithms() {
	local mode=$1 a alg esn j
	shift
	load
	xfrm_setup "${1%:esn}" "$mode"
	for a in "$@"; do
		alg=${a%:esn} esn=""
		[ "$alg" = "$a" ] || esn=esn
		echo "--- $a"
		xfrm_states "$alg" $esn
		ip netns exec A ping -c 1 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "$a: ping A -> B"
		ip netns exec B ping -c 1 -W 2 -I "$B_IN" "$A_IN" >/dev/null || fail "$a: ping B -> A"
		# Data one way, ACKs the other: both SAs carry TCP.
		tcp_transfer A B "$B_IN" "$A_IN" 20000
		j=$(ip netns exec A ikeuser sa list --json)
		expect_eq "$(json_get "$j" '(sorted(s["alg"] for s in j), all(s["stats"]["packets-in"] + s["stats"]["packets-out"] > 2 for s in j), sum(v for s in j for k, v in s["stats"].items() if k.startswith("drop-")))')" \
			"(['$alg', '$alg'], True, 0)" "$a: ripsec's SAs (algorithm, both used, drops: drop-mtu too, as SYNs offer an MSS that fits)"
	done
}

# shellcheck disable=SC2086 # the lists split into words
test_xfrm_gcm_icvs_192_bit_keys_and_gmac_tunnel44() { xfrm_algorithms tunnel44 $AEADS; }
# shellcheck disable=SC2086
test_xfrm_gcm_icvs_192_bit_keys_and_gmac_transport6() { xfrm_algorithms transport6 $AEADS; }
# shellcheck disable=SC2086
test_xfrm_cbc_and_null_macs_tunnel44() { xfrm_algorithms tunnel44 $MACS; }
# shellcheck disable=SC2086
test_xfrm_cbc_and_null_macs_transport6() { xfrm_algorithms transport6 $MACS; }

# With ESN the high sequence bits enter the ICV: the AAD for GCM and GMAC, authencesn for each
# new MAC.
test_xfrm_esn_new_algorithms_tunnel44() {
	xfrm_algorithms tunnel44 aes128gmac:esn aes192gcm8:esn aes256-sha512:esn aes128-sha384:esn aes128-sha1:esn \
		aes128-aesxcbc:esn null-aescmac:esn
}

# Every algorithm `ikeuser info` lists is available in this kernel and takes an SA with a key
# of its length (AH ones too).
test_every_listed_algorithm_takes_an_sa() {
	load
	local algs a proto n spi=0x3000
	algs=$(json_get "$(ikeuser info --json)" '" ".join(a["proto"] + ":" + a["name"] for a in j["algorithms"] if a["available"])')
	expect_eq "$(echo "$algs" | wc -w)" 43 "available algorithms"
	for a in $algs; do
		proto=${a%%:*} a=${a#*:}
		if [ "$proto" = ah ]; then n=$(hmac_key_len "$a"); else n=$(alg_key_len "$a"); fi
		ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto "$proto" spi $spi mode tunnel alg "$a" key "0x$(hexkey "$n" "$a")" ||
			fail "SA with $a ($n bytes)"
		spi=$((spi + 1))
	done
	expect_eq "$(json_get "$(ikeuser sa list --json)" 'len([s for s in j if s["crypto_driver"]])')" 43 "SAs with a crypto driver"
	expect_rejected "sa-key: aes256-sha512 needs 96 bytes, got 95" \
		ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x4000 mode tunnel alg aes256-sha512 key "0x$(hexkey 95 x)"
	ikeuser sa flush
}

# A crypto driver the kernel lacks (ChaCha20-Poly1305, a module of the test kernel, taken out
# and module autoloading off, as where the module is not installed): the SA is refused with
# the template named, `ikeuser info` says so, nothing is installed; with the module back, the
# same SA is taken.
test_missing_crypto_driver_is_named() {
	load
	[ -f "$CHACHA_KO" ] || fail "the test kernel has no $CHACHA_KO (scripts/kernel.config builds it as a module)"
	local modprobe
	modprobe=$(cat /proc/sys/kernel/modprobe)
	# shellcheck disable=SC2064 # restore the value read now
	trap "echo '$modprobe' >/proc/sys/kernel/modprobe" EXIT
	echo /bin/false >/proc/sys/kernel/modprobe
	rmmod chacha20poly1305 || fail "chacha20poly1305.ko is in use"
	local add=(ikeuser sa add src 10.0.0.1 dst 10.0.0.2 spi 0x5000 mode tunnel proto esp alg chacha20poly1305)
	expect_eq "$(json_get "$(ikeuser info --json)" 'sorted(a["name"] for a in j["algorithms"] if not a["available"])')" \
		"['chacha20poly1305']" "algorithms without a driver"
	expect_contains "$(ikeuser info)" "no (kernel lacks the template)"
	expect_rejected "sa-alg: no crypto driver for rfc7539esp(chacha20,poly1305) (load the kernel module that provides it, or build it into the kernel)" \
		"${add[@]}" key "0x$(hexkey 36 x)"
	expect_eq "$(json_get "$(ikeuser sa list --json)" 'len(j)')" 0 "SAs after the refusal"
	insmod "$CHACHA_KO"
	"${add[@]}" key "0x$(hexkey 36 x)" || fail "the SA with the module back"
	expect_eq "$(json_get "$(ikeuser info --json)" 'all(a["available"] for a in j["algorithms"])')" True "every algorithm with the module back"
	ikeuser sa flush
}
