#!/usr/bin/env bash
# Not part of the suite: captures strongSwan's key derivation for ike/tests/fixtures/strongswan/.
# charon (netns B) logs its DH secret, the raw IKE_SA_INIT packets and every derived key at
# level 4; ikeuser (netns A) initiates one IKE SA per proposal. Run it in the VM:
#   scripts/vm-run 'bash tests/vm/capture-strongswan-kdf.sh target/vm-logs'
# then ike/tests/fixtures/strongswan/extract.py turns the logs into fixtures.
# shellcheck shell=bash
set -uo pipefail
out=$(realpath "${1:?usage: capture-strongswan-kdf.sh OUTDIR}")
RIPSEC_ROOT=$(pwd)
export RIPSEC_ROOT
source tests/vm/lib.sh
source tests/vm/90-strongswan.sh
export SWAN_LOG_LEVELS="default = 1
			ike = 4
			chd = 4
			net = 4
			enc = 1"
for p in "aes128gcm16-prfsha256-ecp256 aes128gcm16" "aes256-sha256-prfsha384-modp2048 aes256-sha256" \
	"aes256gcm16-prfsha512-curve25519 aes256gcm16"; do
	set -- $p
	(
		swan_pair tunnel44 "$1" "$2"
		ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5)"
		swan_wait_sa B "$SWAN" net
		cp "$SWAN/charon.log" "$out/strongswan-kdf-$1.log"
		echo "captured $out/strongswan-kdf-$1.log"
	) || exit 1
	delete_all_netns
done
