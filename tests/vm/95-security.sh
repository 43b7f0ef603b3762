# Security: only the admin of a netns configures ripsec or hears its events (every command and
# group of the spec, over raw netlink), one netns's state is invisible and unusable from
# another, key material shows only with show-keys, and the daemon's control socket refuses
# other users.
# shellcheck shell=bash
source tests/vm/ike.sh

test_every_command_and_group_needs_net_admin_of_the_netns() {
	load
	mkns sec
	# Root first (so the checks can fail: it reaches every handler and joins the group), then
	# nobody and root of a user namespace without the netns (EPERM), then the owner of a user
	# namespace with its own netns (admin there): one Python process, forked per role.
	ip netns exec sec /usr/bin/python3 tests/vm/nl_perm.py rust/proto/ripsec.yaml roles
	# What ikeuser says to those who may not listen.
	expect_rejected "permission denied: ripsec's events are for CAP_NET_ADMIN" as_nobody ikeuser monitor
}

# pair N SEED: netns aN and bN joined by veth (10.0.0.1 and .2), transport-mode ESP both
# ways with SPIs 0x1000 (a -> b) and 0x2000 (b -> a) and keys derived from SEED.
pair() {
	local a=a$1 b=b$1 k1 k2 ns
	mkns "$a" "$b"
	ip link add "v$a" netns "$a" type veth peer name "v$b" netns "$b"
	ip -n "$a" link set "v$a" up
	ip -n "$b" link set "v$b" up
	ip -n "$a" addr add 10.0.0.1/24 dev "v$a"
	ip -n "$b" addr add 10.0.0.2/24 dev "v$b"
	k1=0x$(hexkey 20 "$2.1") k2=0x$(hexkey 20 "$2.2")
	for ns in "$a" "$b"; do
		ip netns exec "$ns" ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 reqid 1 mode transport alg aes128gcm16 key "$k1"
		ip netns exec "$ns" ikeuser sa add src 10.0.0.2 dst 10.0.0.1 proto esp spi 0x2000 reqid 1 mode transport alg aes128gcm16 key "$k2"
	done
	ip netns exec "$a" ikeuser policy add dir out src 10.0.0.1/32 dst 10.0.0.2/32 tmpl proto esp mode transport reqid 1 >/dev/null
	ip netns exec "$a" ikeuser policy add dir in src 10.0.0.2/32 dst 10.0.0.1/32 tmpl proto esp mode transport reqid 1 >/dev/null
	ip netns exec "$b" ikeuser policy add dir out src 10.0.0.2/32 dst 10.0.0.1/32 tmpl proto esp mode transport reqid 1 >/dev/null
	ip netns exec "$b" ikeuser policy add dir in src 10.0.0.1/32 dst 10.0.0.2/32 tmpl proto esp mode transport reqid 1 >/dev/null
}

# sa_counter NS SPI DST COUNTER: one counter of one SA.
sa_counter() {
	json_get "$(ip netns exec "$1" ikeuser sa get dst "$3" proto esp spi "$2" --json)" "j[0]['stats']['$4']"
}

ping_pair() { ip netns exec "a$1" ping -c "$2" -i 0.2 -W 2 10.0.0.2 >/dev/null || fail "ping in pair $1"; }

test_same_spi_in_two_netns_are_two_sas() {
	load
	pair 1 one
	pair 2 two
	ping_pair 1 3
	expect_eq "$(sa_counter a1 0x1000 10.0.0.2 packets-out)" 3 "a1's 0x1000 after 3 pings in pair 1"
	expect_eq "$(sa_counter b1 0x1000 10.0.0.2 packets-in)" 3 "b1's 0x1000 after 3 pings in pair 1"
	expect_eq "$(sa_counter a2 0x1000 10.0.0.2 packets-out)" 0 "a2's 0x1000 after pings in pair 1"
	expect_eq "$(sa_counter b2 0x1000 10.0.0.2 packets-in)" 0 "b2's 0x1000 after pings in pair 1"
	ping_pair 2 2
	expect_eq "$(sa_counter a2 0x1000 10.0.0.2 packets-out)" 2 "a2's 0x1000 after 2 pings in pair 2"
	expect_eq "$(sa_counter a1 0x1000 10.0.0.2 packets-out)" 3 "a1's 0x1000 after pings in pair 2"
	# Global counters and dumps are per netns too; the initial netns has nothing.
	expect_eq "$(json_get "$(ip netns exec a1 ikeuser stats --json)" "j['counters']['packets-out']")" 3 "a1's packets-out"
	expect_eq "$(json_get "$(ip netns exec a2 ikeuser stats --json)" "j['counters']['packets-out']")" 2 "a2's packets-out"
	expect_eq "$(json_get "$(ikeuser stats --json)" "(j['sa_count'], j['policy_count'], j['counters']['packets-out'])")" "(0, 0, 0)" "initial netns"
	expect_eq "$(json_get "$(ikeuser sa list --json)" 'len(j)')" 0 "SAs dumped in the initial netns"
	expect_eq "$(json_get "$(ip netns exec a1 ikeuser policy list --json)" 'len(j)')" 2 "policies dumped in a1"
	# Each pair decrypted with its own keys: not one authentication failure anywhere.
	for ns in a1 b1 a2 b2; do
		expect_eq "$(json_get "$(ip netns exec $ns ikeuser stats --json)" "j['counters']['drop-auth']")" 0 "drop-auth in $ns"
	done
	# Deleting and flushing in one netns leaves the other's SAs working.
	ip netns exec a1 ikeuser sa del dst 10.0.0.2 proto esp spi 0x1000
	ip netns exec b1 ikeuser sa flush
	ip netns exec b1 ikeuser policy flush
	ping_pair 2 2
	expect_eq "$(sa_counter a2 0x1000 10.0.0.2 packets-out)" 4 "a2's 0x1000 after a1 deleted its 0x1000"
	expect_eq "$(sa_counter b2 0x1000 10.0.0.2 packets-in)" 4 "b2's 0x1000 after b1 flushed"
	expect_eq "$(json_get "$(ip netns exec b2 ikeuser policy list --json)" 'len(j)')" 2 "b2's policies after b1 flushed"
}

# hard_expires FILE: the SPIs of the EXPIRE(hard) events in a monitor's JSON lines (a soft
# limit only a second before the hard one may be overtaken by it: not counted here).
hard_expires() {
	/usr/bin/python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] != "expire" or e.get("hard"): print(e["event"] + ":" + hex(e.get("spi", 0)))' "$1" | sort | tr '\n' ' '
}

test_events_and_getspi_stay_in_their_netns() {
	load
	mkns n1 n2
	local dir ns pids=()
	dir=$(mktemp -d)
	for ns in n1 n2 ""; do
		if [ -n "$ns" ]; then
			ip netns exec "$ns" ikeuser monitor --json >"$dir/$ns.ev" &
		else
			ikeuser monitor --json >"$dir/init.ev" &
		fi
		pids+=($!)
	done
	sleep 0.5
	# The same SPI and destination in both, and one SPI only n2 has.
	ip netns exec n1 ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x3000 mode tunnel alg aes128gcm16 key "$KEY_GCM128" soft-add-secs 1 hard-add-secs 2
	ip netns exec n2 ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x3000 mode tunnel alg aes128gcm16 key "$KEY_GCM128" soft-add-secs 1 hard-add-secs 2
	ip netns exec n2 ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x4000 mode tunnel alg aes128gcm16 key "$KEY_GCM128" soft-add-secs 1 hard-add-secs 2
	# GETSPI: the one SPI of a range, reserved in n1, is still free in n2, and then in neither.
	expect_eq "$(json_get "$(ip netns exec n1 ikeuser getspi proto esp dst 10.0.0.9 min 0x5000 max 0x5000 --json)" 'j["spi"]')" $((0x5000)) "GETSPI in n1"
	expect_eq "$(json_get "$(ip netns exec n2 ikeuser getspi proto esp dst 10.0.0.9 min 0x5000 max 0x5000 --json)" 'j["spi"]')" $((0x5000)) "GETSPI of the same SPI in n2"
	expect_rejected "no free SPI" ip netns exec n1 ikeuser getspi proto esp dst 10.0.0.9 min 0x5000 max 0x5000
	expect_rejected "no free SPI" ip netns exec n2 ikeuser getspi proto esp dst 10.0.0.9 min 0x5000 max 0x5000
	expect_eq "$(json_get "$(ikeuser getspi proto esp dst 10.0.0.9 min 0x5000 max 0x5000 --json)" 'j["spi"]')" $((0x5000)) "GETSPI in the initial netns"
	# shellcheck disable=SC2016 # evaluated by wait_for
	wait_for 10 '[ "$(ip netns exec n2 ikeuser sa list --json)" = "[]" ] && [ "$(ip netns exec n1 ikeuser sa list --json)" = "[]" ]' ||
		fail "SAs outlived hard-add-secs 2"
	sleep 0.5
	kill "${pids[@]}"
	wait "${pids[@]}" 2>/dev/null || true
	expect_eq "$(hard_expires "$dir/n1.ev")" "expire:0x3000 " "n1's events"
	expect_eq "$(hard_expires "$dir/n2.ev")" "expire:0x3000 expire:0x4000 " "n2's events"
	expect_eq "$(cat "$dir/init.ev")" "" "the initial netns's events"
}

# KEY: a recognisable 20-byte key (aes128gcm16). A leak check looks for any 6 bytes of it in
# the encodings a program might print: hex (any case, with or without separators), decimal
# byte lists, base64, raw bytes.
KEY_PATTERN=5ec7e75e1d3a
KEY_HEX=0x${KEY_PATTERN}${KEY_PATTERN}${KEY_PATTERN}5ec7
# leaks NAME FILE KEYHEX...: fail if FILE shows any of the keys.
leaks() {
	/usr/bin/python3 - "$@" <<'PY' || fail "$1 shows key material"
import base64, re, sys
name, path, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
data = open(path, "rb").read()
text = data.decode("latin-1").lower()
for k in keys:
    key = bytes.fromhex(k.removeprefix("0x"))
    for i in range(len(key) - 5):
        w = key[i:i + 6]
        forms = [w.hex(), ":".join(f"{b:02x}" for b in w), " ".join(f"{b:02x}" for b in w),
                 ", ".join(str(b) for b in w), ",".join(str(b) for b in w)]
        found = [f for f in forms if f in text] + (["raw bytes"] if w in data else [])
        found += [b for b in (base64.b64encode(key[j:j + 9]).decode().lower() for j in range(0, 3)) if b in text]
        if found:
            print(f"{name}: key {k} byte {i}: {found[0]!r} in {path}", file=sys.stderr)
            sys.exit(1)
PY
}

test_keys_show_only_with_show_keys() {
	load
	local out dmesg_before
	out=$(mktemp)
	dmesg_before=$(dmesg | wc -l)
	mkns A
	ip netns exec A ikeuser monitor --json >"$out.ev" &
	local mon=$!
	sleep 0.5
	ip netns exec A ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 mode tunnel alg aes128gcm16 key "$KEY_HEX" soft-add-secs 1 hard-add-secs 2 >"$out.add" 2>&1
	ip netns exec A ikeuser sa add src 10.0.0.1 dst 10.0.0.3 proto esp spi 0x1001 mode tunnel alg aes128gcm16 key "$KEY_HEX"
	# The positive control: the detector finds the key where it is asked for.
	ip netns exec A ikeuser sa list show-keys >"$out.shown"
	if (leaks shown "$out.shown" "$KEY_HEX") 2>/dev/null; then fail "the leak check did not find the key in show-keys output"; fi
	ip netns exec A /usr/bin/python3 tests/vm/nl_perm.py rust/proto/ripsec.yaml keys "$KEY_HEX"
	{
		ip netns exec A ikeuser sa list
		ip netns exec A ikeuser sa list --json
		ip netns exec A ikeuser sa get dst 10.0.0.3 proto esp spi 0x1001
		ip netns exec A ikeuser sa get dst 10.0.0.3 proto esp spi 0x1001 --json
		ip netns exec A ikeuser stats --json
	} >"$out.list" 2>&1
	leaks "sa list/get/stats" "$out.list" "$KEY_HEX"
	leaks "sa add" "$out.add" "$KEY_HEX"
	# Requests that carry the key and fail: the errors name the problem, never the key.
	{
		ip netns exec A ikeuser sa add src 10.0.0.1 dst 10.0.0.3 proto esp spi 0x1001 mode tunnel alg aes128gcm16 key "$KEY_HEX"
		ip netns exec A ikeuser sa add src 10.0.0.1 dst 10.0.0.3 proto esp spi 0x1002 mode tunnel alg aes128gcm16 key "${KEY_HEX}5e"
		ip netns exec A ikeuser sa add src 10.0.0.1 dst 10.0.0.3 proto esp spi 0x1002 mode tunnel alg aes128gcm16 key "${KEY_HEX}5"
		ip netns exec A ikeuser sa add src 10.0.0.1 dst 10.0.0.3 proto esp spi 0x1002 mode tunnel alg aes128gcm16 key "${KEY_HEX}zz"
		ip netns exec A ikeuser sa add src 10.0.0.1 dst 10.0.0.3 proto esp spi 0x1002 mode tunnel alg aes999 key "$KEY_HEX"
		ip netns exec A ikeuser sa add src 10.0.0.1 dst 10.0.0.3 proto esp spi 0x1002 mode tunnel alg aes128gcm16 key "$KEY_HEX" replay-window 99999
		ip netns exec A ikeuser sa add src 10.0.0.1 dst 10.0.0.3 proto esp spi 0x1002 mode tunnel alg aes128gcm16 key "$KEY_HEX" bogus 1
		printf 'sa add src 10.0.0.1 dst 10.0.0.3 proto esp spi 0x1001 mode tunnel alg aes128gcm16 key %s\n' "$KEY_HEX" |
			ip netns exec A ikeuser batch -
		as_nobody ikeuser sa add src 10.0.0.1 dst 10.0.0.3 proto esp spi 0x1002 mode tunnel alg aes128gcm16 key "$KEY_HEX"
	} >"$out.errors" 2>&1 || true
	cat "$out.errors"
	[ "$(grep -c '^ikeuser: ' "$out.errors")" -eq 9 ] || fail "not every bad request failed"
	leaks "error messages" "$out.errors" "$KEY_HEX"
	# EXPIRE events of 0x1000 (carrying no key), then the kernel log.
	wait_for 10 '! ip netns exec A ikeuser sa get dst 10.0.0.2 proto esp spi 0x1000 >/dev/null 2>&1'
	sleep 0.3
	kill $mon
	wait $mon 2>/dev/null || true
	grep -q expire "$out.ev" || fail "no EXPIRE events: $(cat "$out.ev")"
	leaks events "$out.ev" "$KEY_HEX"
	dmesg | tail -n +"$((dmesg_before + 1))" >"$out.dmesg"
	leaks dmesg "$out.dmesg" "$KEY_HEX"
}

# no_hex_runs NAME FILE: no run of 32 or more hex digits or 16 or more listed numbers, the
# shapes an IKE key (SK_d, SK_e*, SK_a*, SK_p*) or a Child SA key would be printed in.
no_hex_runs() {
	/usr/bin/python3 - "$1" "$2" <<'PY' || fail "$1 shows something key-shaped"
import re, sys
text = open(sys.argv[2], errors="replace").read()
m = re.search(r"[0-9a-fA-F]{32,}|(?:\d{1,3}, ){15,}\d{1,3}", text)
if m:
    print(f"{sys.argv[1]}: {m.group(0)!r} in {sys.argv[2]}", file=sys.stderr)
    sys.exit(1)
PY
}

test_ike_keys_stay_out_of_logs_and_outputs() {
	local psk="psk-5ec7e75e1d3a-marker" out dmesg_before keys=""
	dmesg_before=$(dmesg | wc -l)
	ike_pair tunnel44 psk="$psk"
	out=$(mktemp)
	ip netns exec A ikeuser monitor --json >"$out.ev" &
	local mon=$!
	# child_keys: the keys of A's Child SAs now (one Child SA, before and after its rekey).
	child_keys() { json_get "$(ip netns exec A ikeuser sa list show-keys --json)" "' '.join(s['key'] for s in j)"; }
	{
		ikectl A up c
		keys=$(child_keys)
		ikectl A status
		ikectl A status --json
		ikectl B status --json
		ikectl A rekey c
		ikectl A status --json
		ip netns exec A ikeuser sa list
		ip netns exec A ikeuser sa list --json
		keys="$keys $(child_keys)"
		ikectl A down c
	} >"$out.cli" 2>&1 || fail "up/status/rekey/down failed: $(cat "$out.cli")"
	[ "$(echo "$keys" | tr ' ' '\n' | sort -u | grep -c .)" -ge 4 ] || fail "want the keys of 2 SAs before and 2 after the rekey, got: $keys"
	kill $mon
	wait $mon 2>/dev/null || true
	ikeuser_stop A
	ikeuser_stop B
	dmesg | tail -n +"$((dmesg_before + 1))" >"$out.dmesg"
	local f
	for f in "$out.cli" "$out.ev" "$out.dmesg" "$IKE_DIR/A.log" "$IKE_DIR/B.log"; do
		# shellcheck disable=SC2086 # one argument per key
		leaks "$(basename "$f")" "$f" $keys
		no_hex_runs "$(basename "$f")" "$f"
		if grep -qi 5ec7e75e1d3a "$f"; then fail "$f shows the PSK"; fi
	done
	grep -q "installed" "$IKE_DIR/A.log" || fail "A's log is empty: $(cat "$IKE_DIR/A.log")"
}

test_daemon_control_socket_refuses_other_users() {
	load
	topology tunnel44
	trap ike_cleanup EXIT
	# A directory anyone may enter, so only the socket's own mode and the daemon stand guard.
	chmod 755 "$IKE_DIR"
	ike_conf A "$IKE_DIR/A.toml"
	ikeuser_start A "$IKE_DIR/A.toml"
	expect_eq "$(stat -c '%a %U' "$IKE_DIR/A.sock")" "600 root" "the control socket's mode and owner"
	expect_rejected "permission denied on $IKE_DIR/A.sock" as_nobody ikeuser --socket "$IKE_DIR/A.sock" status
	# With the mode opened up, the daemon itself still refuses by the peer's uid.
	chmod 666 "$IKE_DIR/A.sock"
	expect_rejected "permission denied: uid 65534 may not control this daemon" as_nobody ikeuser --socket "$IKE_DIR/A.sock" down c
	expect_rejected "uid 65534 may not control" as_nobody ikeuser --socket "$IKE_DIR/A.sock" status
	ikectl A status >/dev/null || fail "root was refused after the others"
}
