# IPv6 extension headers, IPv4 options and fragments meet the SPD with their real protocol and
# ports: plaintext that a protect policy covers is never delivered and never leaves in the clear,
# whatever headers or fragmentation it carries; the same traffic through the SA passes.
# A is ripsec, B is XFRM (tests/vm/interop.sh); crafted packets come from tests/vm/frag_probe.py.
source tests/vm/gateway.sh
source tests/vm/probe.sh

# use_policy DIR ports|any: A's DIR policy for SEL_B -> SEL_A (in) or SEL_A -> SEL_B (out) covers
# UDP to port 7777 only, or everything.
use_policy() {
	local dir=$1 kind=$2 id src=$SEL_B dst=$SEL_A tsrc=$B_OUT tdst=$A_OUT extra=""
	if [ "$dir" = out ]; then src=$SEL_A dst=$SEL_B tsrc=$A_OUT tdst=$B_OUT; fi
	[ "$kind" = ports ] && extra="proto udp dport 7777"
	id=$(json_get "$(ip netns exec A ikeuser policy list --json)" "[p['id'] for p in j if p['dir'] == '$dir'][0]")
	ip netns exec A ikeuser policy del id "$id"
	# shellcheck disable=SC2086
	ip netns exec A ikeuser policy add dir "$dir" src "$src" dst "$dst" $extra tmpl proto esp mode tunnel reqid 1 src "$tsrc" dst "$tdst" >/dev/null
}

# expect_drops GOT WANT: the per-case lines of `frag_probe.py run` against what each must count.
expect_drops() {
	[ "$1" = "$2" ] || fail "drops per case:
--- got
$1
--- want
$2"
}

V6_CASES="plain hop-by-hop dest-opts routing several atomic two-fragments three-fragments overlapping tiny-first odd-middle esp-middle"
V4_CASES="plain options two-fragments three-fragments overlapping lone-later"

# What each case counts on A when plaintext arrives for a protect policy. Whole packets (also
# once reassembled) are drop-policy. Overlapping fragments are discarded by the kernel's
# reassembly (RFC 5722) and a lone later IPv4 fragment waits there, so neither reaches ripsec.
# A tiny first fragment and a middle fragment of odd length are passed on unreassembled: with
# a port selector they may be its traffic (drop-fragment), without one they surely are. A lone
# fragment that says it is ESP is not ESP ripsec can process (drop-fragment) for a host
# (WANT_ESP_MIDDLE), and plaintext like the others for a gateway.
want_v6() { # ports|any
	local frag=drop-fragment
	[ "$1" = any ] && frag=drop-policy
	printf '%s\n' "plain drop-policy=1" "hop-by-hop drop-policy=1" "dest-opts drop-policy=1" \
		"routing drop-policy=1" "several drop-policy=1" "atomic drop-policy=1" \
		"two-fragments drop-policy=1" "three-fragments drop-policy=1" "overlapping" \
		"tiny-first $frag=1" "odd-middle $frag=1" "esp-middle ${WANT_ESP_MIDDLE:-$frag}=1"
}

want_v4() {
	printf '%s\n' "plain drop-policy=1" "options drop-policy=1" "two-fragments drop-policy=1" \
		"three-fragments drop-policy=1" "overlapping" "lone-later"
}

# inbound_plaintext MODE CASES WANT-FN: every case, for a policy with ports and one without.
inbound_plaintext() {
	local mode=$1 cases=$2 want=$3 kind got out
	load
	xfrm_setup aes128gcm16 "$mode" >/dev/null
	local dmac
	dmac=$(mac_of A a0)
	out=$(mktemp)
	start_listener A "$A_IN" "$out" 600
	for kind in any ports; do
		use_policy in $kind
		# shellcheck disable=SC2086
		got=$(ip netns exec B /usr/bin/python3 tests/vm/frag_probe.py run A "$B_IN" "$A_IN" 7777 "$kind" b0 "$dmac" $cases)
		expect_drops "$got" "$($want $kind)"
	done
	# Through the SA, the same traffic arrives: extension headers and all.
	ip netns exec B /usr/bin/python3 tests/vm/frag_probe.py app "$B_IN" "$A_IN" 7777 sa-plain
	ip netns exec B /usr/bin/python3 tests/vm/frag_probe.py app "$B_IN" "$A_IN" 7777 sa-big "" 3000
	if [ "${mode#tunnel6}" != "$mode" ]; then
		ip netns exec B /usr/bin/python3 tests/vm/frag_probe.py app "$B_IN" "$A_IN" 7777 sa-hbh hopopts
		ip netns exec B /usr/bin/python3 tests/vm/frag_probe.py app "$B_IN" "$A_IN" 7777 sa-dst dstopts
	fi
	local sa="sa-big sa-plain "
	[ "${mode#tunnel6}" != "$mode" ] && sa="sa-big sa-dst sa-hbh sa-plain "
	# Plaintext delivered by mistake came before the SA's datagrams: it would be in the list.
	expect_eventually "received $out" "$sa" "datagrams delivered to A's application (plaintext must not be)"
	expect_eq "$(delivered "$out")" "$sa" "datagrams delivered to A's application (plaintext must not be)"
	expect_eq "$(sa_drop 0x2000 policy)" 0 "decrypted traffic refused by A's in policy"
}

sa_drop() { # SPI REASON -> that SA's counter on A
	json_get "$(ip netns exec A ikeuser sa list --json)" "[s['stats']['drop-$2'] for s in j if s['spi'] == $1][0]"
}

test_inbound_ipv6_plaintext_with_extension_headers_and_fragments_is_dropped() {
	WANT_ESP_MIDDLE=drop-fragment inbound_plaintext tunnel66 "$V6_CASES" want_v6
}

test_inbound_ipv4_plaintext_with_options_and_fragments_is_dropped() {
	inbound_plaintext tunnel44 "$V4_CASES" want_v4
}

# What leaves through A's own stack: whole and reassembled packets are protected (no drop);
# fragments the stack passes on unreassembled may be the port policy's traffic.
WANT_OUT="hop-by-hop
dest-opts
several
atomic
two-fragments
three-fragments
tiny-first drop-fragment=1
odd-middle drop-fragment=1
esp-middle drop-fragment=1"

test_outbound_ipv6_with_extension_headers_and_fragments_leaves_protected() {
	load
	xfrm_setup aes128gcm16 tunnel66 >/dev/null
	use_policy out ports
	local out cap got o
	out=$(mktemp) cap=$(mktemp)
	start_listener B "$B_IN" "$out" 600
	start_capture A a0 "$cap" out-
	# Applications: an ordinary socket, IPV6_HOPOPTS, IPV6_DSTOPTS, and a datagram the stack
	# fragments (it leaves as fragments of one ESP packet).
	for o in "" hopopts dstopts; do
		# shellcheck disable=SC2086
		ip netns exec A /usr/bin/python3 tests/vm/frag_probe.py app "$A_IN" "$B_IN" 7777 "out-app${o:+-$o}" $o
	done
	ip netns exec A /usr/bin/python3 tests/vm/frag_probe.py app "$A_IN" "$B_IN" 7777 out-app-big "" 3000
	# Crafted packets written to a raw socket, through A's stack.
	got=$(ip netns exec A /usr/bin/python3 tests/vm/frag_probe.py run A "$A_IN" "$B_IN" 7777 out - - \
		hop-by-hop dest-opts several atomic two-fragments three-fragments tiny-first odd-middle esp-middle)
	expect_drops "$got" "$WANT_OUT"
	# Once B has them all, every frame has passed the capture's socket.
	local want="out-app out-app-big out-app-dstopts out-app-hopopts out-atomic out-dest-opts out-hop-by-hop out-several out-three-fragments out-two-fragments "
	expect_eventually "received $out" "$want" "datagrams B's application received (through XFRM)"
	local wire
	wire=$(stop_capture "$cap")
	expect_contains "$wire" "plaintext 0 " "frames on the wire carrying a probe in the clear"
	expect_not_contains "$wire" " esp 0" "ESP frames on the wire"
	expect_eq "$(delivered "$out")" "$want" "datagrams B's application received (through XFRM)"
}

# Forwarded: GA (ripsec) between H1 and GB (XFRM) - H2, with a port policy on GA.
gw_use_policy() { # DIR ports|any FAMILY
	local dir=$1 kind=$2 src dst id extra="" tsrc tdst reqid
	if [ "$3" = 6 ]; then
		src=fd01::/64 dst=fd02::/64 tsrc=fd0a::1 tdst=fd0a::2 reqid=8
	else
		src=10.1.0.0/24 dst=10.2.0.0/24 tsrc=192.0.2.1 tdst=192.0.2.2 reqid=7
	fi
	if [ "$dir" = fwd ]; then
		local t=$src; src=$dst dst=$t t=$tsrc; tsrc=$tdst tdst=$t
	fi
	[ "$kind" = ports ] && extra="proto udp dport 7777"
	id=$(json_get "$(ip netns exec GA ikeuser policy list --json)" "[p['id'] for p in j if p['dir'] == '$dir' and p['src'] == '$src'][0]")
	ip netns exec GA ikeuser policy del id "$id"
	# shellcheck disable=SC2086
	ip netns exec GA ikeuser policy add dir "$dir" src "$src" dst "$dst" $extra tmpl proto esp mode tunnel reqid "$reqid" src "$tsrc" dst "$tdst" >/dev/null
}

# forwarded FAMILY CASES WANT-FN WANT-OUT WANT-H2: plaintext from GB's side for H1 is dropped at GA's
# FORWARD hook; what H1 sends H2 leaves GA only in ESP, and what may be protected arrives.
forwarded() {
	local fam=$1 cases=$2 want=$3 want_out=$4 h1 h2 kind got out cap
	gateway_setup xfrm v6
	if [ "$fam" = 6 ]; then h1=fd01::2 h2=fd02::2; else h1=10.1.0.2 h2=10.2.0.2; fi
	ip netns exec H1 ping -c 1 -W 3 "$h2" >/dev/null || true # neighbours and routes settle
	out=$(mktemp) cap=$(mktemp)
	start_listener H1 "$h1" "$out" 600
	for kind in any ports; do
		gw_use_policy fwd $kind "$fam"
		# shellcheck disable=SC2086
		got=$(ip netns exec GB /usr/bin/python3 tests/vm/frag_probe.py run GA "$h2" "$h1" 7777 "fwd-$kind" gb0 "$(mac_of GA ga0)" $cases)
		expect_drops "$got" "$($want $kind)"
	done
	expect_eq "$(delivered "$out")" "" "plaintext forwarded to H1"
	gw_use_policy out ports "$fam"
	start_listener H2 "$h2" "$out" 600
	start_capture GA ga0 "$cap" fwo-
	# shellcheck disable=SC2086
	got=$(ip netns exec H1 /usr/bin/python3 tests/vm/frag_probe.py run GA "$h1" "$h2" 7777 fwo h1 "$(mac_of GA ga1)" $cases)
	expect_drops "$got" "$want_out"
	# Once H2 has them all, every frame has passed the capture's socket.
	expect_eventually "received $out" "$5" "datagrams H2 received through the tunnel"
	local wire
	wire=$(stop_capture "$cap")
	expect_contains "$wire" "plaintext 0 " "frames between the gateways carrying a probe in the clear"
	expect_not_contains "$wire" " esp 0" "ESP frames between the gateways"
	expect_eq "$(delivered "$out")" "$5" "datagrams H2 received through the tunnel"
}

test_forwarded_ipv6_plaintext_is_dropped_or_protected() {
	forwarded 6 "$V6_CASES" want_v6 "plain
hop-by-hop
dest-opts
routing
several
atomic
two-fragments
three-fragments
overlapping
tiny-first drop-fragment=1
odd-middle drop-fragment=1
esp-middle drop-fragment=1" "fwo-atomic fwo-dest-opts fwo-hop-by-hop fwo-plain fwo-routing fwo-several fwo-three-fragments fwo-two-fragments "
}

test_forwarded_ipv4_plaintext_is_dropped_or_protected() {
	forwarded 4 "$V4_CASES" want_v4 "plain
options
two-fragments
three-fragments
overlapping
lone-later" "fwo-options fwo-plain fwo-three-fragments fwo-two-fragments "
}

# Transport mode puts ESP behind hop-by-hop and destination options headers, where XFRM puts it
# (ip6_find_1stfragopt), and finds it there: both ways between ripsec and XFRM.
test_transport6_esp_behind_extension_headers_both_ways() {
	load
	xfrm_setup aes128gcm16 transport6 >/dev/null
	local to_a to_b cap o
	to_a=$(mktemp) to_b=$(mktemp) cap=$(mktemp)
	start_listener A fd00::1 "$to_a" 300
	local a_listener=$LISTENER
	start_listener B fd00::2 "$to_b" 300
	start_capture A a0 "$cap" tr-
	for o in hopopts dstopts; do
		ip netns exec A /usr/bin/python3 tests/vm/frag_probe.py app fd00::1 fd00::2 7777 "tr-a-$o" $o
		ip netns exec B /usr/bin/python3 tests/vm/frag_probe.py app fd00::2 fd00::1 7777 "tr-b-$o" $o
	done
	# Once both have arrived, every frame has passed the capture's socket.
	expect_eventually "received $to_b" "tr-a-dstopts tr-a-hopopts " "datagrams XFRM received from ripsec"
	expect_eventually "received $to_a" "tr-b-dstopts tr-b-hopopts " "datagrams ripsec received from XFRM"
	local wire
	wire=$(stop_capture "$cap")
	expect_contains "$wire" "plaintext 0 " "probes in the clear on the wire"
	expect_contains "$wire" "esp-behind-options 2 in-esp-behind-options 2" "ESP frames behind an options header, out and in"
	expect_eq "$(delivered "$to_b")" "tr-a-dstopts tr-a-hopopts " "datagrams XFRM received from ripsec"
	LISTENER=$a_listener
	expect_eq "$(delivered "$to_a")" "tr-b-dstopts tr-b-hopopts " "datagrams ripsec received from XFRM"
}

# Transport mode between two ripsec hosts over IPv6: full-size TCP segments leave as fragmented
# ESP (IP fragments ESP that no longer fits), which the receiver reassembles before its LOCAL_IN
# hook now. This used to fail: IPv6 reassembled only after that hook.
test_ripsec_to_ripsec_transport6_with_full_size_tcp() {
	load
	topology transport6
	local k1 k2 ns me peer
	k1=$(hexkey 20 t6-a2b) k2=$(hexkey 20 t6-b2a)
	for ns in A B; do
		if [ $ns = A ]; then me=fd00::1 peer=fd00::2; else me=fd00::2 peer=fd00::1; fi
		ip netns exec $ns ikeuser sa add src fd00::1 dst fd00::2 proto esp spi 0x1000 reqid 1 mode transport alg aes128gcm16 key "0x$k1"
		ip netns exec $ns ikeuser sa add src fd00::2 dst fd00::1 proto esp spi 0x2000 reqid 1 mode transport alg aes128gcm16 key "0x$k2"
		ip netns exec $ns ikeuser policy add dir out src $me/128 dst $peer/128 proto tcp tmpl proto esp mode transport reqid 1 >/dev/null
		ip netns exec $ns ikeuser policy add dir in src $peer/128 dst $me/128 proto tcp tmpl proto esp mode transport reqid 1 >/dev/null
	done
	tcp_transfer A B fd00::2 fd00::1 300000
	tcp_transfer B A fd00::1 fd00::2 300000
	local j
	j=$(ip netns exec B ikeuser sa list --json)
	[ "$(json_get "$j" '[s["stats"]["packets-in"] for s in j if s["spi"] == 0x1000][0]')" -gt 100 ] || fail "B decrypted too few packets"
	expect_eq "$(json_get "$(ip netns exec B ikeuser stats --json)" 'sum(v for k, v in j["counters"].items() if k.startswith("drop-"))')" 0 "B's drops"
}
