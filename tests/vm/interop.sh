# The ripsec <-> XFRM test topology: netns A (ripsec) and B (native XFRM) joined by veth.
# shellcheck shell=bash

# Key material per algorithm: ripsec takes one key (cipher key, salt, then HMAC key);
# `ip xfrm` takes the same bytes split per its syntax.
xfrm_alg_args() { # ALG KEYHEX(without 0x) -> ip xfrm algorithm arguments
	local alg=$1 k=$2
	case $alg in
	aes128gcm16 | aes256gcm16) echo "aead 'rfc4106(gcm(aes))' 0x$k 128" ;;
	chacha20poly1305) echo "aead 'rfc7539esp(chacha20,poly1305)' 0x$k 128" ;;
	aes128-sha256) echo "enc 'cbc(aes)' 0x${k:0:32} auth-trunc 'hmac(sha256)' 0x${k:32} 128" ;;
	aes256-sha256) echo "enc 'cbc(aes)' 0x${k:0:64} auth-trunc 'hmac(sha256)' 0x${k:64} 128" ;;
	null-sha256) echo "enc 'ecb(cipher_null)' '' auth-trunc 'hmac(sha256)' 0x$k 128" ;;
	esac
}

alg_key_len() {
	case $1 in
	aes128gcm16) echo 20 ;; aes256gcm16 | chacha20poly1305) echo 36 ;;
	aes128-sha256) echo 48 ;; aes256-sha256) echo 64 ;; null-sha256) echo 32 ;;
	esac
}

# A deterministic key of N bytes, seeded by a word.
hexkey() { printf %s "$2" | sha512sum | cut -c "1-$((2 * $1))"; }

# topology MODE: netns A and B joined by veth a0/b0 (10.0.0.1/2, fd00::1/2). MODE is tunnel44
# (inner v4 over outer v4), tunnel66, tunnel46 (v4 in v6), tunnel64 (v6 in v4), transport4 or
# transport6. Sets A_OUT/B_OUT (outer addresses), A_IN/B_IN (inner addresses, on lo with
# routes for tunnels), SEL_A/SEL_B (the prefixes to protect) and AMODE (tunnel|transport).
topology() {
	local mode=$1 outer inner
	case $mode in
	tunnel44) outer=4 inner=4 ;; tunnel66) outer=6 inner=6 ;; tunnel46) outer=6 inner=4 ;;
	tunnel64) outer=4 inner=6 ;; transport4) outer=4 inner=4 ;; transport6) outer=6 inner=6 ;;
	*) fail "topology: unknown mode $mode" ;;
	esac
	mkns A B
	ip link add a0 netns A type veth peer name b0 netns B
	ip -n A link set a0 up
	ip -n B link set b0 up
	ip -n A addr add 10.0.0.1/24 dev a0
	ip -n B addr add 10.0.0.2/24 dev b0
	ip -n A addr add fd00::1/64 dev a0 nodad
	ip -n B addr add fd00::2/64 dev b0 nodad
	if [ $outer = 4 ]; then A_OUT=10.0.0.1 B_OUT=10.0.0.2; else A_OUT=fd00::1 B_OUT=fd00::2; fi
	AMODE=tunnel
	if [ "${mode#transport}" != "$mode" ]; then
		AMODE=transport
		A_IN=$A_OUT B_IN=$B_OUT
		if [ $outer = 4 ]; then SEL_A=$A_OUT/32 SEL_B=$B_OUT/32; else SEL_A=$A_OUT/128 SEL_B=$B_OUT/128; fi
	elif [ $inner = 4 ]; then
		A_IN=10.1.0.1 B_IN=10.2.0.1 SEL_A=10.1.0.0/24 SEL_B=10.2.0.0/24
		ip -n A addr add 10.1.0.1/32 dev lo
		ip -n B addr add 10.2.0.1/32 dev lo
		ip -n A route add 10.2.0.0/24 dev a0 src 10.1.0.1
		ip -n B route add 10.1.0.0/24 dev b0 src 10.2.0.1
	else
		A_IN=fd01::1 B_IN=fd02::1 SEL_A=fd01::/64 SEL_B=fd02::/64
		ip -n A addr add fd01::1/128 dev lo nodad
		ip -n B addr add fd02::1/128 dev lo nodad
		ip -n A -6 route add fd02::/64 dev a0 src fd01::1
		ip -n B -6 route add fd01::/64 dev b0 src fd02::1
	fi
}

# xfrm_setup ALG MODE [esn]: ripsec in A and XFRM in B with the same keys (MODE as for
# `topology`); `esn` gives both sides 64-bit sequence numbers. Sets what `topology` sets, and
# KEY_AB/KEY_BA.
xfrm_setup() {
	local alg=$1 mode=$2 esn=${3:-}
	topology "$mode"
	local ao=$A_OUT bo=$B_OUT amode=$AMODE sel_a=$SEL_A sel_b=$SEL_B
	local n k1 k2
	n=$(alg_key_len "$alg")
	k1=$(hexkey "$n" "$alg-a2b")
	k2=$(hexkey "$n" "$alg-b2a")
	local tmpl_a="" tmpl_b="" sel_ab="" sel_ba="" esn_a="" esn_b=""
	if [ "$esn" = esn ]; then
		esn_a="esn replay-window 128"
		esn_b="replay-window 128 flag esn"
	fi
	if [ $amode = tunnel ]; then
		tmpl_a="src $ao dst $bo"
		tmpl_b="src $bo dst $ao"
		# XFRM takes the inner family of a tunnel state from its selector.
		sel_ab="sel src $sel_a dst $sel_b"
		sel_ba="sel src $sel_b dst $sel_a"
	fi
	KEY_AB=$k1 KEY_BA=$k2
	ip netns exec A ikeuser sa add src $ao dst $bo proto esp spi 0x1000 reqid 1 mode $amode alg "$alg" key "0x$k1" $esn_a
	ip netns exec A ikeuser sa add src $bo dst $ao proto esp spi 0x2000 reqid 1 mode $amode alg "$alg" key "0x$k2" $esn_a
	ip netns exec A ikeuser policy add dir out src $sel_a dst $sel_b tmpl proto esp mode $amode reqid 1 $tmpl_a >/dev/null
	ip netns exec A ikeuser policy add dir in src $sel_b dst $sel_a tmpl proto esp mode $amode reqid 1 $tmpl_b >/dev/null
	eval "ip -n B xfrm state add src $ao dst $bo proto esp spi 0x1000 reqid 1 mode $amode $(xfrm_alg_args "$alg" "$k1") $sel_ab $esn_b"
	eval "ip -n B xfrm state add src $bo dst $ao proto esp spi 0x2000 reqid 1 mode $amode $(xfrm_alg_args "$alg" "$k2") $sel_ba $esn_b"
	ip -n B xfrm policy add dir out src $sel_b dst $sel_a tmpl src $bo dst $ao proto esp reqid 1 mode $amode
	ip -n B xfrm policy add dir in src $sel_a dst $sel_b tmpl src $ao dst $bo proto esp reqid 1 mode $amode
}

# tcp_transfer FROM-NS TO-NS TO-ADDR FROM-ADDR BYTES [LISTEN-ADDR]: sends random data over TCP
# and compares SHA-256 of what was sent and what arrived. The listener binds LISTEN-ADDR when
# TO-ADDR is not its own (a NAT in between).
tcp_transfer() {
	local from=$1 to=$2 addr=$3 src=$4 bytes=$5 listen=${6:-$3} port=$((5000 + RANDOM % 1000)) d
	d=$(mktemp -d)
	head -c "$bytes" /dev/urandom >"$d/sent"
	ip netns exec "$to" timeout 130 nc -l "$listen" "$port" >"$d/got" &
	local listener=$!
	# Under load the listener may take longer than a fixed pause to listen (the client would
	# get a reset): wait until it does.
	wait_for 20 "ip netns exec $to ss -Hltn 'sport = :$port' | grep -q ." || fail "TCP $to: nc did not listen on $port"
	if ! ip netns exec "$from" timeout 120 nc -N -s "$src" "$addr" "$port" <"$d/sent"; then
		echo "--- ripsec SAs of $from, then $to:"
		ip netns exec "$from" ikeuser sa list || true
		ip netns exec "$to" ikeuser sa list || true
		ip netns exec "$to" ikeuser stats || true
		ip -n "$from" route get "$addr"
		fail "TCP $from -> $to ($addr): client failed"
	fi
	wait $listener || true
	[ "$(sha256sum <"$d/sent")" = "$(sha256sum <"$d/got")" ] ||
		fail "TCP $from -> $to: $(stat -c %s "$d/got") of $bytes bytes arrived, or they differ"
}

# traffic_both_ways BYTES: ping and a TCP transfer with a checksum, A -> B and B -> A.
traffic_both_ways() {
	local bytes=${1:-100000}
	ip netns exec A ping -c 2 -i 0.2 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "ping A -> B"
	ip netns exec B ping -c 2 -i 0.2 -W 2 -I "$B_IN" "$A_IN" >/dev/null || fail "ping B -> A"
	tcp_transfer A B "$B_IN" "$A_IN" "$bytes"
	tcp_transfer B A "$A_IN" "$B_IN" "$bytes"
}

# xfrm_interop ALG MODE [esn]: the full check for one combination.
xfrm_interop() {
	load
	xfrm_setup "$@"
	traffic_both_ways 100000
	local j
	j=$(ip netns exec A ikeuser sa list --json)
	expect_eq "$(json_get "$j" '[s["stats"]["packets-out"] > 0 for s in j if s["spi"] == 0x1000][0]')" True "ripsec sent on 0x1000"
	expect_eq "$(json_get "$j" '[s["stats"]["packets-in"] > 0 for s in j if s["spi"] == 0x2000][0]')" True "ripsec received on 0x2000"
	expect_eq "$(json_get "$j" 'sum(v for s in j for k, v in s["stats"].items() if k.startswith("drop-") and k != "drop-mtu")')" 0 "ripsec drops other than MTU"
}
