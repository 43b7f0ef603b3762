# SA management over netlink: add/get/list/update/del/flush, validation, isolation.

test_sa_add_get_list_del_for_every_algorithm() {
	load
	add_sa 0x1000
	ikeuser sa add src fd00::1 dst fd00::2 proto esp spi 0x1001 mode transport alg aes256gcm16 key "$(key_of_len 36)"
	ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1002 mode transport alg chacha20poly1305 key "$(key_of_len 36)"
	ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1003 mode tunnel alg aes128-sha256 key "$(key_of_len 48)"
	ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1004 mode tunnel alg aes256-sha256 key "$(key_of_len 64)" esn
	ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1005 mode tunnel alg null-sha256 key "$(key_of_len 32)"
	ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto ah spi 0x1006 mode transport alg sha256 key "$(key_of_len 32)"
	j=$(ikeuser sa list --json)
	expect_eq "$(json_get "$j" 'len(j)')" 7 "SAs listed"
	expect_eq "$(json_get "$j" 'sorted(s["alg"] for s in j)')" "['aes128-sha256', 'aes128gcm16', 'aes256-sha256', 'aes256gcm16', 'chacha20poly1305', 'null-sha256', 'sha256']" "algorithms"
	expect_eq "$(json_get "$j" '[s for s in j if s["spi"]==0x1004][0]["esn"]')" True "esn flag"
	expect_eq "$(json_get "$j" '[s for s in j if s["spi"]==0x1001][0]["dst"]')" fd00::2 "IPv6 dst"
	expect_eq "$(json_get "$j" 'all(s["crypto_driver"] for s in j)')" True "crypto driver reported"
	one=$(ikeuser sa get dst 10.0.0.2 proto esp spi 0x1000 --json)
	expect_eq "$(json_get "$one" 'j[0]["replay_window"]')" 32 "default replay window"
	ikeuser sa del dst 10.0.0.2 proto esp spi 0x1000
	expect_rejected "no SA 0x00001000" ikeuser sa get dst 10.0.0.2 proto esp spi 0x1000
	expect_eq "$(json_get "$(ikeuser stats --json)" 'j["sa_count"]')" 6 "sa_count after delete"
	ikeuser sa flush proto ah
	expect_eq "$(json_get "$(ikeuser stats --json)" 'j["sa_count"]')" 5 "sa_count after flush of AH"
	ikeuser sa flush
	expect_eq "$(json_get "$(ikeuser stats --json)" 'j["sa_count"]')" 0 "sa_count after flush"
}

test_keys_are_shown_only_when_asked() {
	load
	add_sa 0x1000
	out=$(ikeuser sa list; ikeuser sa get dst 10.0.0.2 proto esp spi 0x1000; ikeuser sa list --json)
	expect_not_contains "$out" "0405060708" "listing without show-keys"
	out=$(ikeuser sa get dst 10.0.0.2 proto esp spi 0x1000 show-keys)
	expect_contains "$out" "key $KEY_GCM128"
	out=$(ikeuser sa list show-keys --json)
	expect_eq "$(json_get "$out" 'j[0]["key"]')" "$KEY_GCM128" "key in JSON with show-keys"
}

test_same_spi_for_other_destination_or_protocol_is_a_different_sa() {
	load
	add_sa 0x2000 10.0.0.2
	add_sa 0x2000 10.0.0.3
	ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto ah spi 0x2000 mode transport alg sha256 key "$(key_of_len 32)"
	expect_eq "$(json_get "$(ikeuser sa list --json)" 'len(j)')" 3 "SAs sharing SPI 0x2000"
	ikeuser sa del dst 10.0.0.3 proto esp spi 0x2000
	ikeuser sa get dst 10.0.0.2 proto esp spi 0x2000 >/dev/null
	ikeuser sa get dst 10.0.0.2 proto ah spi 0x2000 >/dev/null
	expect_rejected "exists" add_sa 0x2000 10.0.0.2
}

test_sa_validation_names_the_attribute() {
	load
	add_sa 0x1000
	expect_rejected "sa-spi: SA 0x00001000 to that destination exists" add_sa 0x1000
	expect_rejected "sa-key: aes128gcm16 needs 20 bytes, got 16" \
		ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1001 mode tunnel alg aes128gcm16 key "$(key_of_len 16)"
	expect_rejected "sa-key: aes256-sha256 needs 64 bytes, got 32" \
		ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1001 mode tunnel alg aes256-sha256 key "$(key_of_len 32)"
	expect_rejected "sa-alg: unknown algorithm 'aes999'" \
		ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1001 mode tunnel alg aes999 key "$KEY_GCM128"
	expect_rejected "sa-alg: sha256 is an AH algorithm, sa-proto is ESP" \
		ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1001 mode tunnel alg sha256 key "$(key_of_len 32)"
	expect_rejected "sa-alg: aes128gcm16 is an ESP algorithm, sa-proto is AH" \
		ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto ah spi 0x1001 mode tunnel alg aes128gcm16 key "$KEY_GCM128"
	expect_rejected "sa-spi: SPIs 0-255 are reserved" add_sa 255
	expect_rejected "sa-replay-window: 4097 is above the maximum 4096" add_sa 0x1001 10.0.0.2 replay-window 4097
	add_sa 0x1002 10.0.0.2 replay-window 4096
	expect_rejected "sa-soft-packets: soft limit 10 is above the hard limit 5" add_sa 0x1003 10.0.0.2 soft-packets 10 hard-packets 5
	expect_rejected "sa-soft-add-secs: soft limit 100 is above the hard limit 50" add_sa 0x1003 10.0.0.2 soft-add-secs 100 hard-add-secs 50
	expect_rejected "no SA 0x00001234 to that destination" ikeuser sa del dst 10.0.0.2 proto esp spi 0x1234
	expect_rejected "no SA 0x00001000 to update" ikeuser sa update dst 10.0.0.9 proto esp spi 0x1000 hard-bytes 5
	# Rejected requests left nothing behind.
	expect_eq "$(json_get "$(ikeuser stats --json)" 'j["sa_count"]')" 2 "SAs after rejected requests"
}

test_raw_netlink_errors_name_the_attribute() {
	load
	# Requests ikeuser would never send, through the kernel's YNL library and our spec.
	out=$(ynl_errors <<'CASES'
sa-add {"sa-spi": 4096, "sa-proto": 50, "sa-family": 2}
sa-add {"sa-spi": 4096, "sa-proto": 50, "sa-family": 7, "sa-dst": "0a000002"}
sa-add {"sa-spi": 4096, "sa-proto": 50, "sa-family": 2, "sa-dst": "fd000000000000000000000000000002"}
sa-add {"sa-spi": 4096, "sa-proto": 99, "sa-family": 2, "sa-dst": "0a000002"}
sa-add {"sa-spi": 4096, "sa-proto": 50, "sa-family": 2, "sa-dst": "0a000002", "sa-mode": 9}
sa-add {"sa-spi": 4096, "sa-proto": 50, "sa-family": 2, "sa-dst": "0a000002", "sa-mode": 1, "sa-src": "0a000001", "sa-alg": "aes128gcm16"}
sa-add {"sa-spi": 4096, "sa-proto": 50, "sa-family": 2, "sa-dst": "0a000002", "sa-mode": 1, "sa-src": "0a000001", "sa-alg": "aes128gcm16", "sa-key": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00"}
sa-add {"sa-spi": 4096, "sa-proto": 50, "sa-family": 2, "sa-dst": "0a000002", "sa-replay-top": 5}
sa-update {"sa-spi": 4096, "sa-proto": 50, "sa-family": 2, "sa-dst": "0a000002", "sa-key": "00"}
get-info {"sp-dir": 1}
getspi {"sa-proto": 50, "sa-family": 1, "sa-dst": "0a0000"}
getspi {"sa-proto": 50, "sa-family": 2, "sa-dst": "0a0000"}
getspi {"sa-proto": 50, "sa-dst": "0a000002"}
CASES
)
	expect_contains "$out" "1: sa-dst: missing"
	expect_contains "$out" "2: sa-family: 7 is not 2 (IPv4) or 10 (IPv6)"
	expect_contains "$out" "3: sa-dst: an IPv4 address is 4 bytes, got 16"
	expect_contains "$out" "4: sa-proto: 99 is not 50 (ESP) or 51 (AH)"
	expect_contains "$out" "5: sa-mode: 9 is not 0 (transport) or 1 (tunnel)"
	expect_contains "$out" "6: sa-key: missing"
	# Longer than the policy's 96-byte maximum: rejected by the genl core, pointing at sa-key.
	expect_contains "$out" "7: Attribute failed policy validation"
	expect_contains "$out" "'bad-attr': '.sa-key'"
	# Attributes a command does not take are rejected, not ignored.
	expect_contains "$out" "8: Attribute failed policy validation"
	expect_contains "$out" "'bad-attr': '.sa-replay-top'"
	expect_contains "$(echo "$out" | grep '^9: ')" "'bad-attr': '.sa-key'" "sa-update with a key"
	expect_contains "$(echo "$out" | grep '^10: ')" "'bad-attr': '.sp-dir'" "get-info with a policy attribute"
	# GETSPI checks the destination it may be given like every other command.
	expect_contains "$out" "11: sa-family: 1 is not 2 (IPv4) or 10 (IPv6)"
	expect_contains "$out" "12: sa-dst: an IPv4 address is 4 bytes, got 3"
	expect_contains "$out" "13: sa-family: missing"
	expect_eq "$(json_get "$(ikeuser stats --json)" 'j["sa_count"]')" 0 "SAs after rejected raw requests"
}

test_sa_update_changes_lifetimes_only() {
	load
	add_sa 0x1000 10.0.0.2 hard-bytes 1000
	ikeuser sa update dst 10.0.0.2 proto esp spi 0x1000 soft-bytes 500 hard-bytes 2000
	j=$(ikeuser sa get dst 10.0.0.2 proto esp spi 0x1000 --json)
	expect_eq "$(json_get "$j" 'j[0]["limits"]["hard-bytes"]')" 2000 "hard-bytes after update"
	expect_eq "$(json_get "$j" 'j[0]["limits"]["soft-bytes"]')" 500 "soft-bytes after update"
	expect_rejected "unknown word \`alg\`" ikeuser sa update dst 10.0.0.2 proto esp spi 0x1000 alg aes256gcm16
}

test_dump_of_many_sas_spans_several_messages() {
	load
	f=$(mktemp)
	for i in $(seq 1 3000); do
		printf 'sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi %d mode tunnel alg aes128gcm16 key %s\n' $((0x10000 + i)) "$KEY_GCM128"
	done >"$f"
	ikeuser batch "$f"
	expect_eq "$(ikeuser sa list --json | python3 -c 'import json,sys; j=json.load(sys.stdin); print(len(j), len({s["spi"] for s in j}))')" "3000 3000" "SAs dumped (total, distinct)"
	expect_eq "$(json_get "$(ikeuser stats --json)" 'j["sa_count"]')" 3000 "sa_count"
	ikeuser sa flush
	expect_eq "$(json_get "$(ikeuser stats --json)" 'j["sa_count"]')" 0 "sa_count after flush"
}

test_batch_reports_the_failing_line() {
	load
	f=$(mktemp)
	printf '# comment\nsa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 mode tunnel alg aes128gcm16 key %s\n\nsa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 mode tunnel alg aes128gcm16 key %s\n' "$KEY_GCM128" "$KEY_GCM128" >"$f"
	expect_rejected "$f:4: " ikeuser batch "$f"
}

test_getspi_reserves_unique_spis() {
	load
	add_sa 0x1000
	spis=$(for _ in $(seq 1 20); do ikeuser getspi proto esp min 0x1000 max 0x1014 --json; done | python3 -c 'import json,sys; print(sorted(json.loads(l)["spi"] for l in sys.stdin))')
	expect_eq "$(python3 -c "s=$spis; print(len(s), len(set(s)), min(s) > 0x1000, max(s) <= 0x1014)")" "20 20 True True" "20 reserved SPIs in 0x1001-0x1014"
	expect_rejected "no free SPI in 0x1000-0x1014" ikeuser getspi proto esp min 0x1000 max 0x1014
	expect_rejected "spi-min: SPIs 0-255 are reserved" ikeuser getspi proto esp min 5
	expect_rejected "spi-min: above spi-max" ikeuser getspi proto esp min 0x2000 max 0x1000
	# Adding an SA consumes its reservation: the SPI stays taken.
	spi=$(ikeuser getspi proto esp min 0x3000 max 0x3001 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["spi"])')
	add_sa "$spi"
	other=$(ikeuser getspi proto esp min 0x3000 max 0x3001 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["spi"])')
	[ "$other" != "$spi" ] || fail "GETSPI returned SPI $spi, which an SA uses"
}

test_sas_are_per_netns() {
	load
	mkns a b
	ip netns exec a bash -c "source tests/vm/lib.sh; add_sa 0x1000; add_sa 0x1001"
	expect_eq "$(json_get "$(ip netns exec a ikeuser stats --json)" 'j["sa_count"]')" 2 "SAs in a"
	expect_eq "$(json_get "$(ip netns exec b ikeuser stats --json)" 'j["sa_count"]')" 0 "SAs in b"
	expect_eq "$(json_get "$(ikeuser stats --json)" 'j["sa_count"]')" 0 "SAs in the initial netns"
	expect_rejected "no SA" ip netns exec b ikeuser sa get dst 10.0.0.2 proto esp spi 0x1000
	# The same id can exist in another netns.
	ip netns exec b bash -c "source tests/vm/lib.sh; add_sa 0x1000"
	ip netns exec b ikeuser sa flush
	expect_eq "$(json_get "$(ip netns exec a ikeuser stats --json)" 'j["sa_count"]')" 2 "SAs in a after flush in b"
}

test_unprivileged_cannot_configure() {
	load
	for cmd in "sa list" "sa flush" "policy list" "stats" "getspi proto esp"; do
		# shellcheck disable=SC2086
		expect_rejected "CAP_NET_ADMIN" as_nobody ikeuser $cmd
	done
	expect_rejected "CAP_NET_ADMIN" as_nobody ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 mode tunnel alg aes128gcm16 key "$KEY_GCM128"
	expect_eq "$(json_get "$(ikeuser stats --json)" 'j["sa_count"]')" 0 "SAs after unprivileged attempts"
}

test_unload_with_sas_and_netns_is_clean() {
	load
	mkns a
	f=$(mktemp)
	key=$(key_of_len 64)
	for i in $(seq 1 500); do
		printf 'sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi %d mode tunnel alg aes256-sha256 key %s\n' $((0x10000 + i)) "$key"
	done >"$f"
	ikeuser batch "$f"
	ip netns exec a ikeuser batch "$f"
	ikeuser policy add dir out src 10.1.0.0/16 dst 10.2.0.0/16 tmpl proto esp mode tunnel reqid 1 src 10.0.0.1 dst 10.0.0.2 >/dev/null
	unload
	ip netns del a
}
