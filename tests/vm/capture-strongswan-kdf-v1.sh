#!/usr/bin/env bash
# Not part of the suite: captures strongSwan's IKEv1 key derivation for
# ike/tests/fixtures/strongswan/ikev1-*.txt. charon (netns B, responder) logs g^xy, SKEYID*,
# Ka, the IVs, HASH_I/HASH_R (with their inputs), the Quick Mode hashes and KEYMAT at ike/chd 4;
# charon dumps only the packets it receives, so dumpcap records both directions on b0. ikeuser
# (netns A) initiates one ISAKMP SA and one Quick Mode per suite. Run it in the VM:
#   scripts/vm-run 'bash tests/vm/capture-strongswan-kdf-v1.sh target/vm-logs'
# then ike/tests/fixtures/strongswan/extract_v1.py turns each log and pcap into a fixture.
# shellcheck shell=bash
set -uo pipefail
out=$(realpath "${1:?usage: capture-strongswan-kdf-v1.sh OUTDIR}")
RIPSEC_ROOT=$(pwd)
export RIPSEC_ROOT
source tests/vm/lib.sh
source tests/vm/93-ikev1.sh
export SWAN_LOG_LEVELS="default = 1
			ike = 4
			chd = 4
			net = 1
			enc = 1"
# name, Main or Aggressive Mode, IKE proposal, ESP proposal (with a group: PFS).
for p in "main-aes128-sha256-modp2048 main aes128-sha256-modp2048 aes128-sha256-modp2048" \
	"main-aes256-sha1-modp2048 main aes256-sha1-modp2048 aes256-sha1" \
	"aggressive-aes256-sha384-ecp384 aggressive aes256-sha384-ecp384 aes256gcm16-ecp384"; do
	set -- $p
	(
		a=() b=()
		if [ "$2" = aggressive ]; then
			export SWAN_EXTRA_CONF="i_dont_care_about_security_and_use_aggressive_mode_psk = yes"
			a=(aggressive=true) b=(ike.aggressive=yes)
		fi
		v1_pair tunnel44 "$3" "$4" "${a[@]}" -- "${b[@]}"
		pcap=$out/strongswan-kdf-ikev1-$1.pcap
		rm -f "$pcap"
		ip netns exec B dumpcap -q -P -i b0 -f "udp port 500 or udp port 4500" -w "$pcap" 2>/dev/null &
		DUMPCAP=$!
		wait_for 20 "[ -s $pcap ]" || fail "dumpcap did not start"
		ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5) / $(swan_log "$SWAN" 15)"
		# The responder installs its Child SA once Quick Mode's third message is in.
		swan_wait_sa B "$SWAN" net
		stop_dumpcap
		cp "$SWAN/charon.log" "$out/strongswan-kdf-ikev1-$1.log"
		echo "captured $out/strongswan-kdf-ikev1-$1.log and .pcap"
	) || exit 1
	delete_all_netns
done
