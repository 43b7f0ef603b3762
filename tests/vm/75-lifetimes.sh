# SA lifetimes and events: soft and hard limits by packets, bytes and time emit EXPIRE on the
# events group (seen through `ikeuser monitor`), hard expiry removes the SA, and outbound
# traffic for a protect policy without an SA emits ACQUIRE.
source tests/vm/interop.sh

# Every wait below ends when the event or removal it waits for shows; the time limits of
# test_time_limits_since_add_and_since_first_use are the only seconds that must pass.

# events FILE PYTHON-FILTER: the matching events, one "kind:spi" per line
events() {
	/usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if eval(sys.argv[2]):
        print(e["event"] + (":hard" if e.get("hard") else ":soft" if e["event"] == "expire" else "") + ":" + hex(e.get("spi", e.get("policy", 0))))
PY
}

# expire_events FILE: the EXPIRE events in FILE, "kind:spi " each.
expire_events() { events "$1" 'e["event"] == "expire"' | tr '\n' ' '; }

sa_exists() { ip netns exec A ikeuser sa get dst "$1" proto esp spi "$2" >/dev/null 2>&1; }

ping_a() { ip netns exec A ping -c "$1" -i 0.2 -W 1 -I "$A_IN" "$B_IN" >/dev/null 2>&1 || true; }

test_packet_limits_soft_then_hard_then_acquire() {
	load
	xfrm_setup aes128gcm16 tunnel44 >/dev/null
	local ev
	ev=$(mktemp)
	start_monitor A "$ev" --json
	ip netns exec A ikeuser sa update dst 10.0.0.2 proto esp spi 0x1000 soft-packets 3 hard-packets 5
	ping_a 8
	# The pings are answered or timed out: their events are on the monitor's socket already.
	expect_eventually "expire_events $ev" "expire:soft:0x1000 expire:hard:0x1000 " "EXPIRE events"
	wait_until "an ACQUIRE event" 10 "grep -q acquire $ev"
	stop_monitor
	cat "$ev"
	! sa_exists 10.0.0.2 0x1000 || fail "hard-expired SA 0x1000 still installed"
	sa_exists 10.0.0.1 0x2000 || fail "SA 0x2000 (no limits) was removed"
	# Pings 6-8 found no SA: ACQUIRE for the out policy (rate-limited), and drops.
	[ -n "$(events "$ev" 'e["event"] == "acquire" and e["reqid"] == 1 and e["src"] == "10.1.0.1" and e["tunnel_dst"] == "10.0.0.2"')" ] ||
		fail "no ACQUIRE for the protect policy without SA"
	local n
	n=$(events "$ev" 'e["event"] == "acquire"' | wc -l)
	[ "$n" -le 2 ] || fail "ACQUIRE not rate-limited: $n events for 3 packets in 0.6 s"
	[ "$(json_get "$(ip netns exec A ikeuser stats --json)" "j['counters']['drop-no-sa'] + j['counters']['drop-expired']")" -ge 3 ] ||
		fail "drops without a usable SA not counted"
	# Exactly five packets went out on 0x1000 before it expired.
	expect_eq "$(ip -n B -s xfrm state get src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 | sed -n '/lifetime current:/{n;p}' | grep -o '[0-9]*(packets)')" \
		"5(packets)" "packets XFRM received on 0x1000"
}

test_time_limits_since_add_and_since_first_use() {
	load
	xfrm_setup aes128gcm16 tunnel44 >/dev/null
	local ev
	ev=$(mktemp)
	start_monitor A "$ev" --json
	# 0x3000 (new, unused): seconds since add. 0x1000: seconds since first use, not yet.
	ip netns exec A ikeuser sa add src 10.0.0.2 dst 10.0.0.1 proto esp spi 0x3000 reqid 9 mode tunnel \
		alg aes128gcm16 key "$KEY_GCM128" soft-add-secs 1 hard-add-secs 3
	ip netns exec A ikeuser sa update dst 10.0.0.2 proto esp spi 0x1000 soft-use-secs 1 hard-use-secs 2
	# The seconds themselves are the subject: 0x3000 goes after 3, and by then 0x1000 would have
	# gone too (2 s after its update) if its limits counted from the update, not from first use.
	wait_until "SA 0x3000 to expire (hard-add-secs 3)" 15 "! sa_exists 10.0.0.1 0x3000"
	sa_exists 10.0.0.2 0x1000 || fail "unused SA 0x1000 expired although its limits count from first use"
	ping_a 1
	wait_until "SA 0x1000 to expire (hard-use-secs 2 after the ping)" 15 "! sa_exists 10.0.0.2 0x1000"
	expect_eventually "expire_events $ev" \
		"expire:soft:0x3000 expire:hard:0x3000 expire:soft:0x1000 expire:hard:0x1000 " "EXPIRE events"
	stop_monitor
	cat "$ev"
}

test_byte_limits_and_raising_limits_rearms_soft() {
	load
	xfrm_setup aes128gcm16 tunnel44 >/dev/null
	local ev
	ev=$(mktemp)
	start_monitor A "$ev" --json
	# Each ping is 528 inner bytes (IPv4 + ICMP + 500 data).
	ip netns exec A ikeuser sa update dst 10.0.0.2 proto esp spi 0x1000 soft-bytes 1000 hard-bytes 100000
	ip netns exec A ping -c 2 -i 0.2 -W 3 -s 500 -I "$A_IN" "$B_IN" >/dev/null || fail "ping A -> B"
	expect_eventually "expire_events $ev" "expire:soft:0x1000 " "soft by bytes"
	# Raised above what was used: soft is re-armed and fires again at the new limit.
	ip netns exec A ikeuser sa update dst 10.0.0.2 proto esp spi 0x1000 soft-bytes 2500 hard-bytes 3000
	ip netns exec A ping -c 1 -W 3 -s 500 -I "$A_IN" "$B_IN" >/dev/null || fail "ping A -> B after the update"
	# An event below the raised limit, if it came late, shows in the exact list at the end.
	expect_eq "$(expire_events "$ev" | wc -w)" 1 "no event below the raised limit"
	ip netns exec A ping -c 3 -i 0.2 -W 1 -s 500 -I "$A_IN" "$B_IN" >/dev/null 2>&1 || true
	expect_eventually "expire_events $ev" "expire:soft:0x1000 expire:soft:0x1000 expire:hard:0x1000 " "EXPIRE events"
	stop_monitor
	! sa_exists 10.0.0.2 0x1000 || fail "SA 0x1000 outlived hard-bytes"
}

test_monitor_prints_readable_events() {
	load
	xfrm_setup aes128gcm16 tunnel44 >/dev/null
	local f
	f=$(mktemp)
	start_monitor A "$f"
	ip netns exec A ikeuser sa update dst 10.0.0.2 proto esp spi 0x1000 hard-packets 1
	ping_a 3
	wait_until "the EXPIRE and ACQUIRE lines" 10 "grep -q '^expire hard' $f && grep -q '^acquire' $f"
	stop_monitor
	cat "$f"
	expect_contains "$(cat "$f")" "expire hard: SA esp spi 0x00001000 to 10.0.0.2 (reqid 1) reached a hard limit; the SA is removed"
	expect_contains "$(cat "$f")" "acquire: icmp 10.1.0.1:8 -> 10.2.0.1:0 matched policy"
}

test_events_stay_in_their_netns() {
	load
	xfrm_setup aes128gcm16 tunnel44 >/dev/null
	mkns C
	local f in_a mon_c
	f=$(mktemp) in_a=$(mktemp)
	start_monitor C "$f" --json
	mon_c=$MON
	# A's own monitor shows when the events have been sent: to every subscriber at once.
	start_monitor A "$in_a" --json
	ip netns exec A ikeuser sa update dst 10.0.0.2 proto esp spi 0x1000 hard-packets 1
	ping_a 3
	wait_until "A's monitor to see the EXPIRE and ACQUIRE" 10 "grep -q expire $in_a && grep -q acquire $in_a"
	stop_monitor
	MON=$mon_c
	stop_monitor
	expect_eq "$(wc -c <"$f")" 0 "events seen in another netns"
}
