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
