# AH (RFC 4302) interop with Linux XFRM: every AH algorithm in tunnel 4/4, tunnel 6/6,
# transport v4 and transport v6, ping each way and TCP with a SHA-256 check, against XFRM SAs
# with and without their IPv4 4-byte alignment flag (ripsec's `align8` matches the latter).
# Then an independent check of the ICVs by scapy, mutable fields changed in flight by
# nftables, and attacks crafted with scapy.
source tests/vm/interop.sh

AH_ALGS="sha1 sha256 sha384 sha512 aesxcbc aescmac"

# ah_setup MODE: the `topology` with AH policies on both sides.
ah_setup() {
	topology "$1"
	policies_both_sides ah
}

# ah_states ALG ALIGN [esn]: SPI 0x1000 (A -> B) and 0x2000 (B -> A) with integrity ALG on both
# sides. ALIGN is `align4` (XFRM `flag align4`, ripsec's default) or `align8` (XFRM without
# the flag, ripsec `align8`). Sets KEY_AB and KEY_BA.
ah_states() {
	local alg=$1 align=$2 esn=${3:-} n sel_ab="" sel_ba="" r_flags="" x_flags=""
	n=$(hmac_key_len "$alg")
	KEY_AB=$(hexkey "$n" "ah-$alg-a2b")
	KEY_BA=$(hexkey "$n" "ah-$alg-b2a")
	if [ "$align" = align8 ]; then r_flags=align8; else x_flags=align4; fi
	if [ "$esn" = esn ]; then
		r_flags="$r_flags esn replay-window 128"
		x_flags="$x_flags esn"
	fi
	[ -n "$x_flags" ] && x_flags="replay-window 128 flag $x_flags"
	if [ "$AMODE" = tunnel ]; then
		sel_ab="sel src $SEL_A dst $SEL_B"
		sel_ba="sel src $SEL_B dst $SEL_A"
	fi
	ip netns exec A ikeuser sa flush >/dev/null
	ip -n B xfrm state flush
	# shellcheck disable=SC2086 # the flag lists split into words
	ip netns exec A ikeuser sa add src $A_OUT dst $B_OUT proto ah spi 0x1000 reqid 1 mode $AMODE alg "$alg" key "0x$KEY_AB" $r_flags
	# shellcheck disable=SC2086
	ip netns exec A ikeuser sa add src $B_OUT dst $A_OUT proto ah spi 0x2000 reqid 1 mode $AMODE alg "$alg" key "0x$KEY_BA" $r_flags
	local auth_ab auth_ba
	auth_ab="auth-trunc $(xfrm_auth_name "$alg") 0x$KEY_AB $(hmac_trunc_bits "$alg")"
	auth_ba="auth-trunc $(xfrm_auth_name "$alg") 0x$KEY_BA $(hmac_trunc_bits "$alg")"
	# shellcheck disable=SC2086
	ip -n B xfrm state add src $A_OUT dst $B_OUT proto ah spi 0x1000 reqid 1 mode $AMODE $auth_ab $sel_ab $x_flags
	# shellcheck disable=SC2086
	ip -n B xfrm state add src $B_OUT dst $A_OUT proto ah spi 0x2000 reqid 1 mode $AMODE $auth_ba $sel_ba $x_flags
}

# ah_check_counters WHAT: both ripsec SAs carried traffic, and nothing was dropped (not even
# for the MTU: SYNs offer an MSS that fits).
ah_check_counters() {
	local j
	j=$(ip netns exec A ikeuser sa list --json)
	expect_eq "$(json_get "$j" '(all(s["proto"] == "ah" for s in j), all(s["stats"]["packets-in"] + s["stats"]["packets-out"] > 2 for s in j), sum(v for s in j for k, v in s["stats"].items() if k.startswith("drop-")))')" \
		"(True, True, 0)" "$1: ripsec's AH SAs (both used, no drops)"
}

# ah_interop MODE ALIGN [esn]: one topology; per algorithm new SAs, then a ping each way and
# TCP (data one way, ACKs the other).
ah_interop() {
	local mode=$1 align=$2 esn=${3:-} alg
	load
	ah_setup "$mode"
	for alg in $AH_ALGS; do
		echo "--- $alg $align $esn"
		ah_states "$alg" "$align" "$esn"
		ip netns exec A ping -c 1 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "$alg: ping A -> B"
		ip netns exec B ping -c 1 -W 2 -I "$B_IN" "$A_IN" >/dev/null || fail "$alg: ping B -> A"
		tcp_transfer A B "$B_IN" "$A_IN" 20000
		ah_check_counters "$alg $mode $align"
	done
}

test_ah_xfrm_tunnel44_align4() { ah_interop tunnel44 align4; }
test_ah_xfrm_tunnel44_align8() { ah_interop tunnel44 align8; }
test_ah_xfrm_transport4_align4() { ah_interop transport4 align4; }
test_ah_xfrm_transport4_align8() { ah_interop transport4 align8; }
# IPv6 AH is always 64-bit aligned.
test_ah_xfrm_tunnel66() { ah_interop tunnel66 align8; }
test_ah_xfrm_transport6() { ah_interop transport6 align8; }

# With ESN the high sequence bits enter the ICV without being sent.
test_ah_xfrm_esn_tunnel44_and_transport6() {
	load
	ah_setup tunnel44
	ah_states sha256 align4 esn
	traffic_both_ways 30000
	ah_check_counters "esn tunnel44"
	delete_all_netns
	ah_setup transport6
	ah_states sha512 align8 esn
	traffic_both_ways 30000
	ah_check_counters "esn transport6"
}

# ripsec accepts either IPv4 alignment whatever it sends: its inbound SA at the default
# (32-bit) takes the 64-bit aligned AH of XFRM without the flag; its outbound SA says align8.
test_ah_ripsec_accepts_both_ipv4_alignments() {
	load
	ah_setup transport4
	ah_states sha256 align8
	ip netns exec A ikeuser sa del dst $A_OUT proto ah spi 0x2000
	ip netns exec A ikeuser sa add src $B_OUT dst $A_OUT proto ah spi 0x2000 reqid 1 mode transport alg sha256 key "0x$KEY_BA"
	ip netns exec B ping -c 2 -i 0.2 -W 2 "$A_IN" >/dev/null || fail "ping B -> A"
	# The flag shows where it is set, and only AH takes it.
	expect_contains "$(ip netns exec A ikeuser sa get dst $B_OUT proto ah spi 0x1000)" "replay-window 32 align8"
	expect_not_contains "$(ip netns exec A ikeuser sa get dst $A_OUT proto ah spi 0x2000)" "align8"
	expect_eq "$(json_get "$(ip netns exec A ikeuser sa list --json)" 'sorted(s.get("ah_align8", False) for s in j)')" \
		"[False, True]" "ah_align8 in sa list --json"
	expect_rejected "sa-ah-align8: only AH SAs have an AH header to align" \
		ip netns exec A ikeuser sa add src $A_OUT dst $B_OUT proto esp spi 0x3000 mode transport alg aes128gcm16 key "0x$(hexkey 20 x)" align8
	local j
	j=$(ip netns exec A ikeuser sa get dst $A_OUT proto ah spi 0x2000 --json)
	expect_eq "$(json_get "$j" '(j[0]["stats"]["packets-in"], sum(v for k, v in j[0]["stats"].items() if k.startswith("drop-")))')" \
		"(2, 0)" "ripsec took 64-bit aligned AH on a 32-bit aligned SA"
}

# The capture of a run in which B's nftables changed TTL and DSCP of every AH packet it sent
# (as a router would): ripsec accepts them, and scapy checks the ICV of every AH frame both
# ways; a wrong key must fail the check.
ah_wire_check() {
	local mode=$1 alg=$2 align=$3 f
	load
	ah_setup "$mode"
	ah_states "$alg" "$align"
	local family=ip rule="ip protocol ah ip ttl set 7 ip dscp set cs1"
	if [ "${mode%4}" = "$mode" ]; then
		family=ip6 rule="ip6 nexthdr ah ip6 hoplimit set 7 ip6 dscp set cs1"
	fi
	ip netns exec B nft -f - <<-EOF
		table $family mangle {
			chain post {
				type filter hook postrouting priority 300
				$rule
			}
		}
	EOF
	f=$(mktemp --suffix=.pcap)
	start_dumpcap A a0 "ip proto 51 or ip6 proto 51" "$f"
	traffic_both_ways 20000
	stop_dumpcap
	ah_check_counters "$alg $mode (TTL and DSCP changed by B's nftables)"
	local changed
	changed=$(tshark -r "$f" -Y "ip.ttl == 7 or ipv6.hlim == 7" 2>/dev/null | wc -l)
	[ "$changed" -ge 5 ] || fail "only $changed captured frames carry the TTL B's nftables set"
	/usr/bin/python3 tests/vm/ah_check.py verify "$f" --min-per-sa 5 \
		--sa "spi=0x1000,alg=$alg,key=0x$KEY_AB" --sa "spi=0x2000,alg=$alg,key=0x$KEY_BA" ||
		fail "scapy found a bad ICV"
	local bad
	bad=$(printf '%s' "$KEY_AB" | sed 's/^./f/; s/^ff/0f/')
	if /usr/bin/python3 tests/vm/ah_check.py verify "$f" \
		--sa "spi=0x1000,alg=$alg,key=0x$bad" --sa "spi=0x2000,alg=$alg,key=0x$KEY_BA" >/dev/null; then
		fail "the AH check accepted frames under a wrong key"
	fi
}

test_ah_wire_check_transport4_sha256_ttl_changed() { ah_wire_check transport4 sha256 align4; }
test_ah_wire_check_tunnel66_sha384_hoplimit_changed() { ah_wire_check tunnel66 sha384 align8; }

# Attacks, sent by scapy from B to ripsec's transport-mode AH SA 0x2000 (B's XFRM is not used),
# in this order: a good packet; TTL/TOS changed after signing (accepted); a replay; a flipped
# payload byte (auth); a wrong AH length (malformed, on the SA); a truncated ICV (malformed,
# in the netns only: no SPI to trust); an unknown SPI; then a good packet the window still takes.
ah_attacks() {
	local mode=$1 j malformed no_sa
	load
	topology "$mode"
	ip netns exec A ikeuser policy add dir in src $SEL_B dst $SEL_A tmpl proto ah mode transport reqid 1 >/dev/null
	KEY_BA=$(hexkey 32 ah-attack)
	ip netns exec A ikeuser sa add src $B_OUT dst $A_OUT proto ah spi 0x2000 reqid 1 mode transport alg sha256 key "0x$KEY_BA"
	malformed=$(a_stat drop-malformed)
	no_sa=$(a_stat drop-no-sa)
	ip netns exec B /usr/bin/python3 tests/vm/ah_check.py send "$B_OUT" "$A_OUT" --sa "spi=0x2000,alg=sha256,key=0x$KEY_BA" \
		1 2:ttl 2 3:flip 5:length 4:truncate 6:spi 3
	sa_stats() {
		j=$(ip netns exec A ikeuser sa get dst $A_OUT proto ah spi 0x2000 --json)
		json_get "$j" "(j[0]['stats']['packets-in'], j[0]['stats']['drop-replay'], j[0]['stats']['drop-auth'], j[0]['stats']['drop-malformed'])"
	}
	wait_for 5 "[ \"\$(sa_stats)\" = '(3, 1, 1, 1)' ]" || fail "SA counters $(sa_stats), want (in 3, replay 1, auth 1, malformed 1)"
	expect_eq "$(a_stat drop-malformed)" $((malformed + 2)) "netns drop-malformed (wrong length, truncated)"
	expect_eq "$(a_stat drop-no-sa)" $((no_sa + 1)) "netns drop-no-sa (unknown SPI)"
}

test_ah_attacks_transport4() { ah_attacks transport4; }
test_ah_attacks_transport6() { ah_attacks transport6; }

# AH SAs have lifetimes and events like ESP's: a hard packet limit removes the SA (EXPIRE),
# and the AH template without an SA asks for one (ACQUIRE names AH).
test_ah_lifetime_expire_and_acquire() {
	load
	ah_setup tunnel44
	ah_states sha256 align4
	local ev
	ev=$(mktemp)
	start_monitor A "$ev" --json
	ip netns exec A ikeuser sa update dst $B_OUT proto ah spi 0x1000 hard-packets 2
	ip netns exec A ping -c 4 -i 0.2 -W 1 -I "$A_IN" "$B_IN" >/dev/null 2>&1 || true
	wait_for 5 "grep -q '\"acquire\"' $ev" || fail "no ACQUIRE event: $(cat "$ev")"
	stop_monitor
	cat "$ev"
	json_lines() { /usr/bin/python3 -c 'import json, sys; [print(eval(sys.argv[1], {"e": json.loads(l)})) for l in open(sys.argv[2])]' "$1" "$ev"; }
	expect_contains "$(json_lines '(e["event"], e.get("proto"), e.get("spi"), e.get("hard"))')" "('expire', 'ah', 4096, True)"
	expect_contains "$(json_lines '(e["event"], e.get("proto"), e.get("reqid"), e.get("tunnel_dst"))')" "('acquire', 'ah', 1, '$B_OUT')"
	ip netns exec A ikeuser sa get dst $B_OUT proto ah spi 0x1000 >/dev/null 2>&1 && fail "hard-expired AH SA still installed"
	expect_eq "$(ip -n B -s xfrm state get src $A_OUT dst $B_OUT proto ah spi 0x1000 | sed -n '/lifetime current:/{n;p}' | grep -o '[0-9]*(packets)')" \
		"2(packets)" "packets XFRM received on AH SA 0x1000"
}
