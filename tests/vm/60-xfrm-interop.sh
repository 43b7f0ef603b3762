# ESP interop with Linux XFRM: every algorithm x tunnel (v4/v4, v6/v6, v4 in v6, v6 in v4) and
# transport (v4, v6); ping and a TCP transfer with a SHA-256 check, in both directions.
source tests/vm/interop.sh

# Every mode with one AEAD (AES-GCM); CBC + HMAC (authenc, random IVs) in tunnel 4/4 and
# transport v6; every other algorithm once in tunnel 4/4. The modes share all code but the
# algorithm's, so the full cross product (36) mostly repeated itself; 65-wire-check and the
# ESN cases below cover the algorithms again, on the wire and in transport.
for mode in tunnel44 tunnel66 tunnel46 tunnel64 transport4 transport6; do
	eval "test_xfrm_aes128gcm16_${mode}() { xfrm_interop aes128gcm16 $mode; }"
done
for alg in aes128-sha256 aes256gcm16 chacha20poly1305 aes256-sha256 null-sha256; do
	eval "test_xfrm_${alg//-/_}_tunnel44() { xfrm_interop $alg tunnel44; }"
done
test_xfrm_aes128_sha256_transport6() { xfrm_interop aes128-sha256 transport6; }

# Extended sequence numbers: the high 32 bits enter the ICV (AEAD associated data, or authencesn
# for CBC + HMAC), so a mismatch with XFRM fails every packet.
for alg in aes128gcm16 chacha20poly1305 aes128-sha256; do
	eval "test_xfrm_esn_${alg//-/_}_tunnel44() { xfrm_interop $alg tunnel44 esn; }"
done
eval "test_xfrm_esn_null_sha256_transport6() { xfrm_interop null-sha256 transport6 esn; }"

# udp_arrives FROM-NS TO-NS TO-ADDR FROM-ADDR: whether a UDP datagram gets through (True/False).
udp_arrives() {
	local port=$((6000 + RANDOM % 1000)) got
	got=$(mktemp)
	ip netns exec "$2" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(3)
try:
    s.recv(100)
    print("True")
except socket.timeout:
    print("False")' "$3" "$port" >"$got" &
	local listener=$!
	wait_for 10 "ip netns exec $2 ss -Hlun 'sport = :$port' | grep -q ." || fail "UDP listener in $2 did not start"
	ip netns exec "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.sendto(b"x", (sys.argv[2], int(sys.argv[3])))' "$4" "$3" "$port"
	wait $listener || true
	cat "$got"
}

# ripsec spares decrypted packets XFRM's socket-level policy check only where that check
# would pass them: an XFRM inbound policy, or XFRM's default "block", in the same netns still
# applies to what ripsec decrypted.
test_xfrm_inbound_policy_in_the_same_netns_still_applies() {
	load
	xfrm_setup aes128gcm16 tunnel44
	expect_eq "$(udp_arrives B A "$A_IN" "$B_IN")" True "decrypted UDP, no XFRM policy in A"
	ip -n A xfrm policy add dir in src $SEL_B dst $SEL_A tmpl src $B_OUT dst $A_OUT proto esp reqid 7 mode tunnel
	expect_eq "$(udp_arrives B A "$A_IN" "$B_IN")" False "decrypted UDP, an XFRM inbound policy in A wants its own SA"
	local mismatches
	mismatches=$(ip netns exec A awk '$1 == "XfrmInTmplMismatch" { print $2 }' /proc/net/xfrm_stat)
	[ "${mismatches:-0}" -ge 1 ] || fail "XFRM counted no template mismatch in A: '$mismatches'"
	ip -n A xfrm policy flush
	expect_eq "$(udp_arrives B A "$A_IN" "$B_IN")" True "decrypted UDP, XFRM policy gone"
	ip -n A xfrm policy setdefault in block fwd accept out accept
	expect_eq "$(udp_arrives B A "$A_IN" "$B_IN")" False "decrypted UDP, XFRM blocks by default in A"
	ip -n A xfrm policy setdefault in accept fwd accept out accept
	expect_eq "$(udp_arrives B A "$A_IN" "$B_IN")" True "decrypted UDP, XFRM accepts by default again"
}
