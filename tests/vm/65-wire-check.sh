# Independent wire check: capture the ESP between ripsec (A) and XFRM (B) and have tshark (or, where
# tshark 4.0 cannot: ChaCha20-Poly1305 and ESN, python3-cryptography) decrypt and authenticate
# every frame with the SA keys. See tests/vm/wire_check.py.
source tests/vm/interop.sh

# wire_check ALG MODE [esn]
wire_check() {
	load
	xfrm_setup "$@" >/dev/null
	local f esn=""
	f=$(mktemp --suffix=.pcap)
	[ "${3:-}" = esn ] && esn=",esn=1"
	start_dumpcap B b0 esp "$f"
	ip netns exec A ping -c 3 -i 0.2 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "ping A -> B"
	tcp_transfer A B "$B_IN" "$A_IN" 30000
	stop_dumpcap
	/usr/bin/python3 tests/vm/wire_check.py "$f" --min-per-sa 5 \
		--sa "spi=0x1000,src=$A_OUT,dst=$B_OUT,alg=$1,key=0x$KEY_AB$esn" \
		--sa "spi=0x2000,src=$B_OUT,dst=$A_OUT,alg=$1,key=0x$KEY_BA$esn"
}

# One algorithm of each kind tshark (or python3-cryptography) checks: AES-GCM below (with ESN)
# and in 62-espinudp (in UDP), ChaCha20-Poly1305, CBC + HMAC in both key sizes, NULL.
for alg in chacha20poly1305 aes256-sha256 null-sha256; do
	eval "test_wire_${alg//-/_}_tunnel44() { wire_check $alg tunnel44; }"
done
test_wire_aes128_sha256_transport6() { wire_check aes128-sha256 transport6; }
test_wire_aes128gcm16_tunnel66_esn() { wire_check aes128gcm16 tunnel66 esn; }

# The check itself must fail on a wrong key (a check that cannot fail proves nothing).
test_wire_check_rejects_a_wrong_key() {
	load
	xfrm_setup aes128gcm16 tunnel44 >/dev/null
	local f bad
	f=$(mktemp --suffix=.pcap)
	start_dumpcap B b0 esp "$f"
	ip netns exec A ping -c 3 -i 0.2 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "ping A -> B"
	stop_dumpcap
	bad=$(printf '%s' "$KEY_AB" | sed 's/^./f/; s/^ff/0f/')
	[ "$bad" != "$KEY_AB" ] || fail "test bug: key unchanged"
	if /usr/bin/python3 tests/vm/wire_check.py "$f" --sa "spi=0x1000,src=$A_OUT,dst=$B_OUT,alg=aes128gcm16,key=0x$bad" \
		--sa "spi=0x2000,src=$B_OUT,dst=$A_OUT,alg=aes128gcm16,key=0x$KEY_BA"; then
		fail "wire_check accepted frames under a wrong key"
	fi
}
