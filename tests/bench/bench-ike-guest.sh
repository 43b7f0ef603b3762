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
ESP=aes128gcm16
SWAN=$IKE_DIR/swanB
cleanup() {
	ikeuser_stop B || true
	swan_stop_all "$SWAN" || true
}
trap cleanup EXIT

load
topology tunnel44
ike_conf A "$IKE_DIR/A.toml" ike="[\"$IKE\"]" esp="[\"$ESP\"]"
ike_conf B "$IKE_DIR/B.toml" ike="[\"$IKE\"]" esp="[\"$ESP\"]"
bench() { ip netns exec A ikeuser bench-setup -c "$IKE_DIR/A.toml" c --count "$COUNT" --parallel "$PARALLEL" --json; }

echo "bench-ike: $COUNT IKE SAs (+ first Child SA) per responder, $PARALLEL in flight, $IKE / ESP $ESP, tunnel"
ikeuser_start B "$IKE_DIR/B.toml"
r_ikeuser=$(bench)
ikeuser_stop B
expect_eq "$(sa_count B)" 0 "SAs left by the ikeuser responder"

mkdir -p "$SWAN"
SWAN_EXTRA_CONF="delete_rekeyed_delay = 0" swan_start B "$SWAN"
swan_conf "$SWAN" c child=net local_addrs="$B_OUT" remote_addrs="$A_OUT" psk="$IKE_PSK" \
	proposals="$IKE" esp_proposals="$ESP" local_ts="$SEL_B" remote_ts="$SEL_A"
swan_load B "$SWAN"
r_charon=$(bench)

python3 - "$r_ikeuser" "$r_charon" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{'responder':<22}{'setups/s':>10}{'requests/setup':>16}{'median ms':>11}{'failed':>8}")
for name, r in (("ikeuser (ripsec)", a), ("charon (XFRM)", b)):
    print(f"{name:<22}{r['per_second']:>10.1f}{r['requests_per_setup']:>16.2f}{r['median_ms']:>11.1f}{r['failed']:>8}")
ratio = a["per_second"] / b["per_second"] if b["per_second"] else float("nan")
print(f"ratio ikeuser/charon setups per second: {ratio:.2f}")
PY
