# Hostile ESP against a live ripsec <-> XFRM tunnel: each is dropped and counted, nothing crashes,
# and the tunnel keeps working afterwards.
source tests/vm/interop.sh

sa_drop() { # SPI REASON -> that SA's counter
	json_get "$(ip netns exec A ikeuser sa list --json)" "[s['stats']['drop-$2'] for s in j if s['spi'] == $1][0]"
}

global_drop() { json_get "$(ip netns exec A ikeuser stats --json)" "j['counters']['drop-$1']"; }

test_replayed_packets_are_dropped() {
	load
	xfrm_setup aes128gcm16 tunnel44 >/dev/null
	f=$(mktemp)
	ip netns exec A python3 tests/vm/esp_inject.py capture a0 10.0.0.2 "$f" &
	cap=$!
	sleep 1
	ip netns exec B ping -c 3 -i 0.3 -W 2 -I 10.2.0.1 10.1.0.1 >/dev/null || fail "ping B -> A"
	wait $cap || fail "no ESP frame captured"
	ip netns exec B python3 tests/vm/esp_inject.py replay b0 "$f" 5
	sleep 1
	expect_eq "$(sa_drop 0x2000 replay)" 5 "replays dropped on SA 0x2000"
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
	sleep 1
	expect_eq "$(sa_drop 0x2000 auth)" 3 "ICV failures on SA 0x2000"
	expect_eq "$(sa_drop 0x2000 malformed)" 2 "truncated packets on SA 0x2000"
	expect_eq "$(global_drop no-sa)" 1 "packets for an unknown SPI"
	# The forged sequence numbers did not move the window: real traffic still passes.
	ip netns exec B ping -c 2 -i 0.3 -W 2 -I 10.2.0.1 10.1.0.1 >/dev/null || fail "tunnel broken after forgeries"
	expect_eq "$(json_get "$(ip netns exec A ikeuser sa list --json)" "[s['replay_top'] for s in j if s['spi'] == 0x2000][0]")" 2 "replay window top"
}

test_discard_and_bypass_policies() {
	load
	xfrm_setup aes128gcm16 tunnel44 >/dev/null
	ip netns exec A ikeuser policy add dir out src 10.1.0.0/24 dst 10.2.0.0/24 proto tcp dport 9 priority 0 action discard >/dev/null
	ip netns exec A ping -c 1 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "ping should still be protected"
	ip netns exec A timeout 3 nc -z -s 10.1.0.1 10.2.0.1 9 && fail "discarded traffic got through"
	[ "$(global_drop discard)" -ge 1 ] || fail "discard not counted"
	# No policy matches 10.0.0.0/24 traffic: it passes in the clear.
	ip netns exec A ping -c 1 -W 2 10.0.0.2 >/dev/null || fail "unmatched traffic blocked"
}
