# Hostile ESP against a live ripsec <-> XFRM tunnel: each is dropped and counted, nothing crashes,
# and the tunnel keeps working afterwards.
source tests/vm/interop.sh
source tests/vm/probe.sh

sa_drop() { # SPI REASON -> that SA's counter
	json_get "$(ip netns exec A ikeuser sa list --json)" "[s['stats']['drop-$2'] for s in j if s['spi'] == $1][0]"
}

global_drop() { json_get "$(ip netns exec A ikeuser stats --json)" "j['counters']['drop-$1']"; }

test_replayed_packets_are_dropped() {
	load
	xfrm_setup aes128gcm16 tunnel44 >/dev/null
	f=$(mktemp)
	ip netns exec A python3 tests/vm/esp_inject.py capture a0 10.0.0.2 "$f" >"$f.out" &
	cap=$!
	wait_until "the capture socket to open" 30 "grep -q capturing $f.out"
	ip netns exec B ping -c 5 -i 0.3 -W 2 -I 10.2.0.1 10.1.0.1 >/dev/null || fail "ping B -> A"
	wait $cap || fail "no ESP frame captured"
	ip netns exec B python3 tests/vm/esp_inject.py replay b0 "$f" 5
	expect_eventually "sa_drop 0x2000 replay" 5 "replays dropped on SA 0x2000"
	ip netns exec B ping -c 1 -W 2 -I 10.2.0.1 10.1.0.1 >/dev/null || fail "tunnel broken after replays"
}

test_forged_and_malformed_esp_is_dropped_and_counted() {
	load
	xfrm_setup aes128gcm16 tunnel44 >/dev/null
	inj() { ip netns exec B python3 tests/vm/esp_inject.py send 10.0.0.1 "$@"; }
	# Right SPI, fresh sequence number, random bytes: the ICV cannot match.
	for seq in 100 101 102; do inj 0x2000 "$seq" 64; done
	# Too short to hold IV, trailer and ICV.
	inj 0x2000 200 4
	inj 0x2000 201 0
	# Unknown SPI.
	inj 0x7777 1 64
	expect_eventually "sa_drop 0x2000 auth" 3 "ICV failures on SA 0x2000"
	expect_eventually "sa_drop 0x2000 malformed" 2 "truncated packets on SA 0x2000"
	expect_eventually "global_drop no-sa" 1 "packets for an unknown SPI"
	# The forged sequence numbers did not move the window: real traffic still passes.
	ip netns exec B ping -c 2 -i 0.3 -W 2 -I 10.2.0.1 10.1.0.1 >/dev/null || fail "tunnel broken after forgeries"
	expect_eq "$(json_get "$(ip netns exec A ikeuser sa list --json)" "[s['replay_top'] for s in j if s['spi'] == 0x2000][0]")" 2 "replay window top"
}

test_discard_and_bypass_policies() {
	load
	xfrm_setup aes128gcm16 tunnel44 >/dev/null
	ip netns exec A ikeuser policy add dir out src 10.1.0.0/24 dst 10.2.0.0/24 proto tcp dport 9 priority 0 action discard >/dev/null
	ip netns exec A ping -c 1 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "ping should still be protected"
	! ip netns exec A timeout 3 nc -z -s 10.1.0.1 10.2.0.1 9 || fail "discarded traffic got through"
	[ "$(global_drop discard)" -ge 1 ] || fail "discard not counted"
	# No policy matches 10.0.0.0/24 traffic: it passes in the clear.
	ip netns exec A ping -c 1 -W 2 10.0.0.2 >/dev/null || fail "unmatched traffic blocked"
}

# Inbound policy (RFC 4301 §5.2): what an "in" protect policy covers must arrive through an SA
# that policy allows; plaintext for it is dropped, and so is decrypted traffic it does not cover.
test_plaintext_for_a_protect_in_policy_is_dropped() {
	load
	xfrm_setup aes128gcm16 tunnel44 >/dev/null
	# B stops protecting B -> A: its pings reach A in the clear.
	ip -n B xfrm policy del dir out src 10.2.0.0/24 dst 10.1.0.0/24
	! ip netns exec B ping -c 2 -i 0.2 -W 1 -I 10.2.0.1 10.1.0.1 >/dev/null || fail "plaintext accepted by a protect in policy"
	[ "$(global_drop policy)" -ge 2 ] || fail "plaintext drops not counted as drop-policy"
	# Unprotected traffic no policy covers still passes.
	ip netns exec B ping -c 1 -W 2 10.0.0.1 >/dev/null || fail "unrelated plaintext blocked"
}

test_decrypted_traffic_outside_the_in_policy_is_dropped() {
	load
	xfrm_setup aes128gcm16 tunnel44 >/dev/null
	local id
	id=$(json_get "$(ip netns exec A ikeuser policy list --json)" "[p['id'] for p in j if p['dir'] == 'in'][0]")
	# The in policy now wants reqid 2; SA 0x2000 has reqid 1.
	ip netns exec A ikeuser policy del id "$id"
	ip netns exec A ikeuser policy add dir in src 10.2.0.0/24 dst 10.1.0.0/24 tmpl proto esp mode tunnel reqid 2 src 10.0.0.2 dst 10.0.0.1 >/dev/null
	! ip netns exec B ping -c 2 -i 0.2 -W 1 -I 10.2.0.1 10.1.0.1 >/dev/null || fail "SA with the wrong reqid accepted"
	[ "$(sa_drop 0x2000 policy)" -ge 2 ] || fail "policy mismatch not counted on SA 0x2000"
	# The in policy covers TCP only: decrypted ICMP is dropped, TCP passes.
	id=$(json_get "$(ip netns exec A ikeuser policy list --json)" "[p['id'] for p in j if p['dir'] == 'in'][0]")
	ip netns exec A ikeuser policy del id "$id"
	ip netns exec A ikeuser policy add dir in src 10.2.0.0/24 dst 10.1.0.0/24 proto tcp tmpl proto esp mode tunnel reqid 1 src 10.0.0.2 dst 10.0.0.1 >/dev/null
	! ip netns exec B ping -c 1 -W 1 -I 10.2.0.1 10.1.0.1 >/dev/null || fail "decrypted ICMP outside the in policy accepted"
	tcp_transfer B A 10.1.0.1 10.2.0.1 20000
}

# ESP inside ESP is decrypted again (the inner ESP is allowed by its own in policy) as deep as the
# kernel's secpath holds (6); an authenticated peer nesting deeper is dropped and counted on the SA.
test_esp_nested_deeper_than_the_secpath_holds_is_dropped_on_its_sa() {
	load
	xfrm_setup aes128gcm16 tunnel44 >/dev/null
	ip netns exec A ikeuser policy add dir in src 10.0.0.2/32 dst 10.0.0.1/32 proto esp tmpl proto esp mode tunnel reqid 1 src 10.0.0.2 dst 10.0.0.1 >/dev/null
	local out dmac
	out=$(mktemp)
	dmac=$(mac_of A a0)
	start_listener A 10.1.0.1 "$out" 300
	nest() { ip netns exec B /usr/bin/python3 tests/vm/frag_probe.py nest 0x2000 "$KEY_BA" 10.0.0.2 10.0.0.1 10.2.0.1 10.1.0.1 "$@" b0 "$dmac"; }
	nest 6 100 nest6
	nest 7 200 nest7
	# Both are decrypted (6 + 7 layers) and one dropped once they have been processed.
	expect_eventually "json_get \"\$(ip netns exec A ikeuser sa list --json)\" \"[s['stats']['packets-in'] for s in j if s['spi'] == 0x2000][0]\"" 13 "ESP layers decrypted"
	expect_eventually "sa_drop 0x2000 nesting" 1 "nesting drops on SA 0x2000"
	wait_until "the listener to print nest6" 10 "grep -q nest6 $out"
	expect_eq "$(delivered "$out")" "nest6 " "datagrams delivered"
	expect_eq "$(global_drop nomem)" 0 "drop-nomem"
}
