# The ripsec <-> XFRM test topology: netns A (ripsec) and B (native XFRM) joined by veth.
# shellcheck shell=bash

# Key material per algorithm: ripsec takes one key (cipher key, salt, then HMAC key);
# `ip xfrm` takes the same bytes split per its syntax. Names are ripsec's (strongSwan's
# keywords): aes{128,192,256}gcm{8,12,16}, aes{128,192,256}gmac, chacha20poly1305,
# aes{128,192,256}-sha{1,256,384,512}, null-sha{1,256,384,512}.
# Integrity algorithms by ripsec's (strongSwan's) name: key bytes, ICV bits, XFRM's name.
hmac_key_len() { case $1 in sha1) echo 20 ;; sha256) echo 32 ;; sha384) echo 48 ;; sha512) echo 64 ;; aesxcbc | aescmac) echo 16 ;; esac; }
hmac_trunc_bits() { case $1 in sha1 | aesxcbc | aescmac) echo 96 ;; sha256) echo 128 ;; sha384) echo 192 ;; sha512) echo 256 ;; esac; }
xfrm_auth_name() { case $1 in aesxcbc) echo 'xcbc(aes)' ;; aescmac) echo 'cmac(aes)' ;; *) echo "hmac($1)" ;; esac; }

xfrm_alg_args() { # ALG KEYHEX(without 0x) -> ip xfrm algorithm arguments
	local alg=$1 k=$2 bits hmac
	case $alg in
	chacha20poly1305) echo "aead 'rfc7539esp(chacha20,poly1305)' 0x$k 128" ;;
	aes*gcm*) echo "aead 'rfc4106(gcm(aes))' 0x$k $((8 * ${alg#aes???gcm}))" ;;
	aes*gmac) echo "aead 'rfc4543(gcm(aes))' 0x$k 128" ;;
	aes*-*)
		bits=${alg:3:3} hmac=${alg#*-}
		echo "enc 'cbc(aes)' 0x${k:0:$((bits / 4))} auth-trunc '$(xfrm_auth_name "$hmac")' 0x${k:$((bits / 4))} $(hmac_trunc_bits "$hmac")"
		;;
	null-*) echo "enc 'ecb(cipher_null)' '' auth-trunc '$(xfrm_auth_name "${alg#null-}")' 0x$k $(hmac_trunc_bits "${alg#null-}")" ;;
	esac
}

alg_key_len() {
	local alg=$1
	case $alg in
	chacha20poly1305) echo 36 ;;
	aes*gcm* | aes*gmac) echo $((${alg:3:3} / 8 + 4)) ;;
	aes*-*) echo $((${alg:3:3} / 8 + $(hmac_key_len "${alg#*-}"))) ;;
	null-*) hmac_key_len "${alg#null-}" ;;
	esac
}

# A deterministic key of N bytes, seeded by a word.
hexkey() {
	local h
	h=$(printf %s "$2" | sha512sum | cut -c 1-128)$(printf %s "$2." | sha512sum | cut -c 1-128)
	printf '%s\n' "${h:0:$((2 * $1))}"
}

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
	xfrm_states "$alg" "$esn"
	policies_both_sides esp
}

# policies_both_sides PROTO: ripsec's policies in A and XFRM's in B for the current `topology`,
# protecting its selectors with PROTO (esp or ah), reqid 1.
policies_both_sides() {
	local proto=$1 tmpl_a="" tmpl_b=""
	if [ "$AMODE" = tunnel ]; then
		tmpl_a="src $A_OUT dst $B_OUT"
		tmpl_b="src $B_OUT dst $A_OUT"
	fi
	ip netns exec A ikeuser policy add dir out src $SEL_A dst $SEL_B tmpl proto $proto mode $AMODE reqid 1 $tmpl_a >/dev/null
	ip netns exec A ikeuser policy add dir in src $SEL_B dst $SEL_A tmpl proto $proto mode $AMODE reqid 1 $tmpl_b >/dev/null
	ip -n B xfrm policy add dir out src $SEL_B dst $SEL_A tmpl src $B_OUT dst $A_OUT proto $proto reqid 1 mode $AMODE
	ip -n B xfrm policy add dir in src $SEL_A dst $SEL_B tmpl src $A_OUT dst $B_OUT proto $proto reqid 1 mode $AMODE
}

# xfrm_states ALG [esn]: SPI 0x1000 (A -> B) and 0x2000 (B -> A) with ALG on both sides, for
# the current `topology`, replacing any SAs there were.
xfrm_states() {
	local alg=$1 esn=${2:-} ao=$A_OUT bo=$B_OUT amode=$AMODE n k1 k2
	n=$(alg_key_len "$alg")
	k1=$(hexkey "$n" "$alg-a2b")
	k2=$(hexkey "$n" "$alg-b2a")
	local sel_ab="" sel_ba="" esn_a="" esn_b=""
	if [ "$esn" = esn ]; then
		esn_a="esn replay-window 128"
		esn_b="replay-window 128 flag esn"
	fi
	if [ $amode = tunnel ]; then
		# XFRM takes the inner family of a tunnel state from its selector.
		sel_ab="sel src $SEL_A dst $SEL_B"
		sel_ba="sel src $SEL_B dst $SEL_A"
	fi
	KEY_AB=$k1 KEY_BA=$k2
	ip netns exec A ikeuser sa flush >/dev/null
	ip -n B xfrm state flush
	ip netns exec A ikeuser sa add src $ao dst $bo proto esp spi 0x1000 reqid 1 mode $amode alg "$alg" key "0x$k1" $esn_a
	ip netns exec A ikeuser sa add src $bo dst $ao proto esp spi 0x2000 reqid 1 mode $amode alg "$alg" key "0x$k2" $esn_a
	eval "ip -n B xfrm state add src $ao dst $bo proto esp spi 0x1000 reqid 1 mode $amode $(xfrm_alg_args "$alg" "$k1") $sel_ab $esn_b"
	eval "ip -n B xfrm state add src $bo dst $ao proto esp spi 0x2000 reqid 1 mode $amode $(xfrm_alg_args "$alg" "$k2") $sel_ba $esn_b"
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

# xfrm_interop ALG MODE [esn]: the full check for one combination (XFRM_BYTES of TCP each way).
xfrm_interop() {
	load
	xfrm_setup "$@"
	traffic_both_ways "${XFRM_BYTES:-100000}"
	local j
	j=$(ip netns exec A ikeuser sa list --json)
	expect_eq "$(json_get "$j" '[s["stats"]["packets-out"] > 0 for s in j if s["spi"] == 0x1000][0]')" True "ripsec sent on 0x1000"
	expect_eq "$(json_get "$j" '[s["stats"]["packets-in"] > 0 for s in j if s["spi"] == 0x2000][0]')" True "ripsec received on 0x2000"
	expect_eq "$(json_get "$j" 'sum(v for s in j for k, v in s["stats"].items() if k.startswith("drop-"))')" 0 "ripsec drops, drop-mtu included (SYNs offer an MSS that fits)"
}

# send_udp NS SRC DST COUNT HEX: COUNT datagrams with payload HEX from SRC to DST:4500.
send_udp() {
	ip netns exec "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
for _ in range(int(sys.argv[3])):
    s.sendto(bytes.fromhex(sys.argv[4]), (sys.argv[2], 4500))' "$2" "$3" "$4" "$5"
}

# a_stat COUNTER: a global ripsec counter of netns A.
a_stat() { json_get "$(ip netns exec A ikeuser stats --json)" "j['counters']['$1']"; }
