#!/usr/bin/env bash
# IKE setup rate; runs inside the VM (scripts/bench-ike starts it through scripts/vm-run).
set -eEuo pipefail
cd "$RIPSEC_ROOT"
. tests/vm/lib.sh
. tests/vm/ike.sh
. tests/vm/strongswan.sh
trap 'echo "bench-ike: setup step failed (line $LINENO): $BASH_COMMAND" >&2' ERR
COUNT=${BENCH_IKE_COUNT:-200}
PARALLEL=${BENCH_IKE_PARALLEL:-4}
IKE=aes128gcm16-prfsha256-ecp256
# IKEv1 has no AEAD for phase 1: AES-CBC with SHA-256 as PRF and integrity.
IKE1=aes128-sha256-ecp256
ESP=aes128gcm16
SWAN=$IKE_DIR/swanB
cleanup() {
	ikeuser_stop B || true
	swan_stop_all "$SWAN" || true
}
trap cleanup EXIT

load
topology tunnel44
bench() { ip netns exec A ikeuser bench-setup -c "$IKE_DIR/A.toml" c --count "$COUNT" --parallel "$PARALLEL" --json; }

# run_pair VERSION IKE: IKE setups against an ikeuser responder, then against charon.
run_pair() {
	local version=$1 ike=$2 r_ikeuser r_charon
	ike_conf A "$IKE_DIR/A.toml" version="$version" ike="[\"$ike\"]" esp="[\"$ESP\"]"
	ike_conf B "$IKE_DIR/B.toml" version="$version" ike="[\"$ike\"]" esp="[\"$ESP\"]"
	ikeuser_start B "$IKE_DIR/B.toml" >&2
	r_ikeuser=$(bench)
	ikeuser_stop B >&2
	expect_eq "$(sa_count B)" 0 "SAs left by the ikeuser responder"
	mkdir -p "$SWAN"
	SWAN_EXTRA_CONF="delete_rekeyed_delay = 0" swan_start B "$SWAN" >&2
	rm -f "$SWAN"/swanctl/conf.d/*.conf
	swan_conf "$SWAN" c child=net local_addrs="$B_OUT" remote_addrs="$A_OUT" psk="$IKE_PSK" \
		proposals="$ike" esp_proposals="$ESP" local_ts="$SEL_B" remote_ts="$SEL_A" ike.version="$version"
	swan_load B "$SWAN" >&2
	r_charon=$(bench)
	swan_stop B "$SWAN" >&2
	echo "$r_ikeuser"
	echo "$r_charon"
}

echo "bench-ike: $COUNT IKE SAs (+ first Child SA) per responder, $PARALLEL in flight, ESP $ESP, tunnel;"
echo "  IKEv2 $IKE; IKEv1 Main Mode + Quick Mode $IKE1"
v2=$(run_pair 2 "$IKE")
v1=$(run_pair 1 "$IKE1")

python3 - "$v2" "$v1" <<'PY'
import json, sys
print(f"{'responder':<28}{'setups/s':>10}{'msgs/setup':>12}{'median ms':>11}{'failed':>8}")
for version, results in (("IKEv2", sys.argv[1]), ("IKEv1", sys.argv[2])):
    a, b = (json.loads(line) for line in results.splitlines())
    for name, r in ((f"{version} ikeuser (ripsec)", a), (f"{version} charon (XFRM)", b)):
        print(f"{name:<28}{r['per_second']:>10.1f}{r['requests_per_setup']:>12.2f}{r['median_ms']:>11.1f}{r['failed']:>8}")
    ratio = a["per_second"] / b["per_second"] if b["per_second"] else float("nan")
    print(f"{version} ratio ikeuser/charon setups per second: {ratio:.2f}")
PY
