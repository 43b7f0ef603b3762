# Module load/unload and `ikeuser info`.

test_load_and_unload() {
	load
	loaded || fail "/sys/module/ripsec missing after insmod"
	dmesg | grep -q 'ripsec 0.1.0 loaded' || fail "no load message in dmesg"
	grep -q '^ripsec ' /proc/modules
	unload
	! loaded || fail "module still present after rmmod"
}

test_info_lists_version_and_algorithms() {
	load
	out=$(ikeuser info)
	expect_contains "$out" "ripsec 0.1.0"
	expect_contains "$out" 'netlink family "ripsec" version 1'
	for alg in aes128gcm16 aes256gcm16 chacha20poly1305 aes128-sha256 aes256-sha256 null-sha256 sha256; do
		expect_contains "$out" "$alg"
	done
	expect_contains "$out" "rfc4106(gcm(aes))"
	expect_contains "$out" "rfc7539esp(chacha20,poly1305)"
	expect_contains "$out" "authenc(hmac(sha256),cbc(aes))"
	expect_not_contains "$out" "kernel lacks" "every algorithm should be available in the test kernel"
}

test_info_json() {
	load
	j=$(ikeuser info --json)
	expect_eq "$(json_get "$j" 'j["version"]')" 0.1.0 version
	expect_eq "$(json_get "$j" 'j["family_version"]')" 1 family_version
	expect_eq "$(json_get "$j" 'len(j["algorithms"])')" 43 "number of algorithms"
	expect_eq "$(json_get "$j" 'all(a["available"] for a in j["algorithms"])')" True "all available"
	expect_eq "$(json_get "$j" '[a["proto"] for a in j["algorithms"]].count("ah")')" 6 "AH algorithms"
	expect_eq "$(json_get "$j" '[a for a in j["algorithms"] if a["name"]=="aes256gcm16"][0]["enc_key_bits"]')" 256 "aes256gcm16 key bits"
}

test_info_unprivileged_is_eperm() {
	load
	if out=$(as_nobody ikeuser info 2>&1); then
		fail "an unprivileged user could query the module: $out"
	fi
	expect_contains "$out" "permission denied"
	expect_contains "$out" "CAP_NET_ADMIN"
	expect_contains "$out" "sudo"
}

test_info_without_module_says_how_to_load() {
	unload
	if out=$(ikeuser info 2>&1); then
		fail "ikeuser info succeeded without the module: $out"
	fi
	expect_contains "$out" "ripsec kernel module is not loaded"
	expect_contains "$out" "insmod ripsec.ko"
}

test_owner_of_a_user_namespace_is_admin_of_its_netns() {
	load
	# An unprivileged user owns a new user namespace and the netns created in it, and so holds
	# CAP_NET_ADMIN there (GENL_UNS_ADMIN_PERM); it stays unprivileged for the initial netns.
	out=$(as_nobody unshare --user --map-root-user --net ikeuser info)
	expect_contains "$out" "ripsec 0.1.0"
	if as_nobody unshare --user --map-root-user ikeuser info >/dev/null 2>&1; then
		fail "a user namespace without its own netns could configure the initial netns"
	fi
}

test_ynl_cli_drives_the_family_with_the_spec() {
	load
	ynl="$RIPSEC_KDIR/source/tools/net/ynl/pyynl/cli.py"
	[ -f "$ynl" ] || ynl="$RIPSEC_KDIR/tools/net/ynl/pyynl/cli.py"
	[ -f "$ynl" ] || fail "the kernel's YNL CLI was not found under $RIPSEC_KDIR"
	out=$(/usr/bin/python3 "$ynl" --spec rust/proto/ripsec.yaml --no-schema --do get-info --output-json)
	expect_eq "$(json_get "$out" 'j["version"]')" 0.1.0 "version via YNL"
	expect_eq "$(json_get "$out" 'len(j["alg"])')" 43 "algorithms via YNL"
	expect_eq "$(json_get "$out" 'j["alg"][0]["kernel-name"]')" "rfc4106(gcm(aes))" "first algorithm via YNL"
}
