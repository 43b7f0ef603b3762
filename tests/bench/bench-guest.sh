#!/usr/bin/env bash
# The benchmark; runs inside the VM (scripts/bench starts it through scripts/vm-run).
#
# A pair of netns, "left" and "right", joined by veth (outer 10.0.0.1 <-> 10.0.0.2); left
# protects 10.1.0.0/24 (host 10.1.0.1 on lo), right 10.2.0.0/24 (host 10.2.0.1). Every path
# carries the same left -> right traffic:
#   ripsec         ripsec on both sides          aes128gcm16 = rfc4106(gcm(aes)), ICV 16, tunnel
#   XFRM           the kernel's IPsec on both    same algorithm, keys and SPIs
#   ripsec -> XFRM ripsec left, XFRM right       the interop setup of tests/vm/interop.sh
#   WireGuard      wg0 on both sides             ChaCha20-Poly1305 (WireGuard has no choice)
#   ripsec / XFRM in UDP   the same, ESP in UDP (encap espinudp 4500 4500)
#   ripsec / XFRM AH       AH with HMAC-SHA-256-128 (hmac(sha256), XFRM with flag align4)
#   plaintext      inner networks routed over the veth directly
# For each: one TCP flow (iperf3, Mbit/s received) and 64-byte UDP payloads (iperf3 -b 0,
# packets per second received). ripsec.ko is loaded only for the paths that use it.
#
# Then ripsec's per-packet cost with many SAs and many policies. Three ripsec pairs run side by
# side: A/B keeps only its tunnel (the baseline), C/D gets extra unrelated SAs, E/F extra
# non-matching policies. Each step alternates UDP runs on the baseline pair and on the loaded
# pair, so both see the same interference; cost = baseline rate / loaded rate.
#
# Under TCG, another VM on the host can slow this one down several times over, so every
# measurement is repeated (BENCH_REPS rounds, interleaved in time) and the best run is kept.
# Nothing here is an assertion: the exit status is non-zero only when a setup step fails or a
# measurement gives no result.
#
# Knobs: BENCH_TCP_SECS (3, after 1 s warm-up), BENCH_UDP_SECS (3), BENCH_REPS (2),
# BENCH_SAS ("1000 100000"), BENCH_POLICIES ("1000 10000"): two steps each; BENCH_INTEROP (1).
set -eEuo pipefail
cd "$RIPSEC_ROOT"
. tests/vm/lib.sh
. tests/vm/interop.sh # hexkey, xfrm_alg_args
trap 'echo "bench: setup step failed (line $LINENO): $BASH_COMMAND" >&2' ERR

T_TCP=${BENCH_TCP_SECS:-3}
T_UDP=${BENCH_UDP_SECS:-3}
REPS=${BENCH_REPS:-2}
read -r -a SA_STEPS <<<"${BENCH_SAS-1000 100000}"
read -r -a SP_STEPS <<<"${BENCH_POLICIES-1000 10000}"
INTEROP=${BENCH_INTEROP:-1}
[ ${#SA_STEPS[@]} = 2 ] && [ ${#SP_STEPS[@]} = 2 ] || { echo "bench: BENCH_SAS and BENCH_POLICIES take two counts each" >&2; exit 1; }

ALG=aes128gcm16 SA_PROTO=esp XFRM_FLAGS=""
KEY_LR=$(hexkey 20 bench-l2r) # AES-128 key + 4-byte salt, left -> right, SPI 0x1000
KEY_RL=$(hexkey 20 bench-r2l) # right -> left, SPI 0x2000
ESP_KEYS=("$KEY_LR" "$KEY_RL")
AH_KEYS=("$(hexkey 32 bench-ah-l2r)" "$(hexkey 32 bench-ah-r2l)") # HMAC-SHA-256 keys
L_OUT=10.0.0.1 R_OUT=10.0.0.2
L_NET=10.1.0.0/24 R_NET=10.2.0.0/24
L_IN=10.1.0.1 R_IN=10.2.0.1
UDP_LEN=64
# The sender and the receiver of a single-flow run on different vCPUs (iperf3 -A): left to the
# scheduler, both sometimes share one vCPU and the rate halves, whichever path runs.
PIN=()
[ "$(nproc)" -ge 2 ] && PIN=(-A 0,1)
WORK=$(mktemp -d /tmp/ripsec-bench.XXXXXX)
T0=$(date +%s)
failures=0

say() { printf '%s\n' "$*"; }
section() { printf '\n== %s  [t=%ds]\n' "$*" $(($(date +%s) - T0)); }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# best VALUES...: the largest number ("-" if none); ratio A B: A/B or "-".
best() { printf '%s\n' "$@" | awk '$1 != "-" && $1 != "" && (b == "" || $1 > b) { b = $1 } END { print (b == "" ? "-" : b) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }

# ---- topology; every function takes the netns pair: LEFT RIGHT. Commands go in batches
# (`ip -batch`, `ikeuser batch`): under TCG each process start costs about half a second.

# topo L R: the two netns over veth, inner hosts on lo, and an iperf3 server on the right.
topo() {
	ip netns add "$1"
	ip netns add "$2"
	ip link add veth0 netns "$1" type veth peer name veth0 netns "$2"
	printf '%s\n' "link set lo up" "link set veth0 up" "addr add $L_OUT/24 dev veth0" "addr add $L_IN/32 dev lo" |
		ip -n "$1" -batch -
	printf '%s\n' "link set lo up" "link set veth0 up" "addr add $R_OUT/24 dev veth0" "addr add $R_IN/32 dev lo" |
		ip -n "$2" -batch -
	server_start "$2"
}

# inner_routes L R DEV: each side reaches the other's inner network through DEV.
inner_routes() {
	ip -n "$1" route add $R_NET dev "$3" src $L_IN
	ip -n "$2" route add $L_NET dev "$3" src $R_IN
}

# ripsec_lines LOCAL PEER LOCAL-NET PEER-NET SPI-OUT KEY-OUT SPI-IN KEY-IN: `ikeuser batch`
# lines for one side: an SA per direction (reqid 1), the outbound policy, and the inbound
# policy that decrypted traffic must match (ripsec will require it; it accepts it already).
ripsec_lines() {
	cat <<-EOF
		sa add src $1 dst $2 proto $SA_PROTO spi $5 reqid 1 mode tunnel alg $ALG key 0x$6 $SA_ENCAP
		sa add src $2 dst $1 proto $SA_PROTO spi $7 reqid 1 mode tunnel alg $ALG key 0x$8 $SA_ENCAP
		policy add dir out src $3 dst $4 tmpl proto $SA_PROTO mode tunnel reqid 1 src $1 dst $2
		policy add dir in src $4 dst $3 tmpl proto $SA_PROTO mode tunnel reqid 1 src $2 dst $1
	EOF
}
ripsec_left_lines() { ripsec_lines $L_OUT $R_OUT $L_NET $R_NET 0x1000 "$KEY_LR" 0x2000 "$KEY_RL"; }
ripsec_right_lines() { ripsec_lines $R_OUT $L_OUT $R_NET $L_NET 0x2000 "$KEY_RL" 0x1000 "$KEY_LR"; }
ripsec_left() { ripsec_left_lines | ip netns exec "$1" ikeuser batch - >/dev/null; }
ripsec_right() { ripsec_right_lines | ip netns exec "$1" ikeuser batch - >/dev/null; }

# xfrm_lines: the same for `ip -batch` (XFRM), same keys and SPIs.
xfrm_lines() {
	local alg1 alg2
	if [ "$SA_PROTO" = ah ]; then
		alg1="auth-trunc hmac($ALG) 0x$6 128" alg2="auth-trunc hmac($ALG) 0x$8 128"
	else
		alg1=$(xfrm_alg_args $ALG "$6")
		alg2=$(xfrm_alg_args $ALG "$8")
	fi
	cat <<-EOF
		xfrm state add src $1 dst $2 proto $SA_PROTO spi $5 reqid 1 mode tunnel ${alg1//\'/} $XFRM_ENCAP sel src $3 dst $4 $XFRM_FLAGS
		xfrm state add src $2 dst $1 proto $SA_PROTO spi $7 reqid 1 mode tunnel ${alg2//\'/} $XFRM_ENCAP sel src $4 dst $3 $XFRM_FLAGS
		xfrm policy add dir out src $3 dst $4 tmpl src $1 dst $2 proto $SA_PROTO reqid 1 mode tunnel
		xfrm policy add dir in src $4 dst $3 tmpl src $2 dst $1 proto $SA_PROTO reqid 1 mode tunnel
	EOF
}
xfrm_left() { xfrm_lines $L_OUT $R_OUT $L_NET $R_NET 0x1000 "$KEY_LR" 0x2000 "$KEY_RL" | ip -n "$1" -batch -; }
xfrm_right() { xfrm_lines $R_OUT $L_OUT $R_NET $L_NET 0x2000 "$KEY_RL" 0x1000 "$KEY_LR" | ip -n "$1" -batch -; }

wireguard() { # L R
	(umask 077 && wg genkey >"$WORK/wg-l.key" && wg genkey >"$WORK/wg-r.key")
	local pl pr
	pl=$(wg pubkey <"$WORK/wg-l.key")
	pr=$(wg pubkey <"$WORK/wg-r.key")
	ip -n "$1" link add wg0 type wireguard
	ip -n "$2" link add wg0 type wireguard
	ip netns exec "$1" wg set wg0 private-key "$WORK/wg-l.key" listen-port 51820 \
		peer "$pr" endpoint $R_OUT:51820 allowed-ips $R_NET
	ip netns exec "$2" wg set wg0 private-key "$WORK/wg-r.key" listen-port 51820 \
		peer "$pl" endpoint $L_OUT:51820 allowed-ips $L_NET
	ip -n "$1" link set wg0 up
	ip -n "$2" link set wg0 up
}

# setup_PATH L R. ripsec.ko is unloaded for the others, so its hooks cost them nothing.
setup_plaintext() { unload && topo "$1" "$2" && inner_routes "$1" "$2" veth0; }
setup_wireguard() { unload && topo "$1" "$2" && wireguard "$1" "$2" && inner_routes "$1" "$2" wg0; }
setup_xfrm() { unload && topo "$1" "$2" && inner_routes "$1" "$2" veth0 && xfrm_left "$1" && xfrm_right "$2"; }
setup_ripsec() { load && topo "$1" "$2" && inner_routes "$1" "$2" veth0 && ripsec_left "$1" && ripsec_right "$2"; }
setup_interop() { load && topo "$1" "$2" && inner_routes "$1" "$2" veth0 && ripsec_left "$1" && xfrm_right "$2"; }

# ESP in UDP 4500 <-> 4500 (RFC 3948): the same SAs with `encap espinudp`, each side's socket
# held by `ikeuser encap listen` (ripsec) or a UDP_ENCAP socket (XFRM, as charon keeps one).
SA_ENCAP="" XFRM_ENCAP=""
encap_on() { SA_ENCAP="encap espinudp 4500 4500" XFRM_ENCAP="encap espinudp 4500 4500 0.0.0.0"; }
encap_off() { SA_ENCAP="" XFRM_ENCAP=""; }
hold_encap_socket() { # NS ripsec|xfrm
	if [ "$2" = ripsec ]; then
		ip netns exec "$1" ikeuser encap listen port 4500 addr 0.0.0.0 >/dev/null &
	else
		ip netns exec "$1" python3 -c 'import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_UDP, 100, 2)
s.bind(("0.0.0.0", 4500))
time.sleep(100000)' &
	fi
	SERVERS+=($!)
	local i
	for i in $(seq 60); do
		ip netns exec "$1" ss -lunH 'sport = :4500' | grep -q . && return 0
		sleep 0.5
	done
	return 1
}
setup_xfrm_udp() {
	encap_on && unload && topo "$1" "$2" && inner_routes "$1" "$2" veth0 &&
		hold_encap_socket "$1" xfrm && hold_encap_socket "$2" xfrm && xfrm_left "$1" && xfrm_right "$2" && encap_off
}
setup_ripsec_udp() {
	encap_on && load && topo "$1" "$2" && inner_routes "$1" "$2" veth0 &&
		hold_encap_socket "$1" ripsec && hold_encap_socket "$2" ripsec && ripsec_left "$1" && ripsec_right "$2" && encap_off
}

# AH with HMAC-SHA-256-128 on both sides instead of ESP (XFRM with RFC 4302's IPv4 alignment).
ah_on() { SA_PROTO=ah ALG=sha256 XFRM_FLAGS="flag align4" KEY_LR=${AH_KEYS[0]} KEY_RL=${AH_KEYS[1]}; }
ah_off() { SA_PROTO=esp ALG=aes128gcm16 XFRM_FLAGS="" KEY_LR=${ESP_KEYS[0]} KEY_RL=${ESP_KEYS[1]}; }
setup_xfrm_ah() { ah_on && setup_xfrm "$1" "$2" && ah_off; }
setup_ripsec_ah() { ah_on && setup_ripsec "$1" "$2" && ah_off; }

# Several flows over several SAs: MULTI pairs of inner hosts 10.1.0.k <-> 10.2.0.k, each pair
# with its own SA per direction (SPIs 0x1100+k / 0x2100+k, reqid 10+k) and /32 policies, and its
# own iperf3 server (port 5300+k).
MULTI=4
multi_lines() { # ripsec|xfrm SIDE(l|r)
	local k a b me peer out in kout kin r
	for k in $(seq $MULTI); do
		r=$((10 + k))
		if [ "$2" = l ]; then
			a=10.1.0.$k b=10.2.0.$k me=$L_OUT peer=$R_OUT out=$((0x1100 + k)) in=$((0x2100 + k)) kout=$KEY_LR kin=$KEY_RL
		else
			a=10.2.0.$k b=10.1.0.$k me=$R_OUT peer=$L_OUT out=$((0x2100 + k)) in=$((0x1100 + k)) kout=$KEY_RL kin=$KEY_LR
		fi
		if [ "$1" = ripsec ]; then
			printf '%s\n' \
				"sa add src $me dst $peer proto esp spi $out reqid $r mode tunnel alg $ALG key 0x$kout" \
				"sa add src $peer dst $me proto esp spi $in reqid $r mode tunnel alg $ALG key 0x$kin" \
				"policy add dir out src $a/32 dst $b/32 tmpl proto esp mode tunnel reqid $r src $me dst $peer" \
				"policy add dir in src $b/32 dst $a/32 tmpl proto esp mode tunnel reqid $r src $peer dst $me"
		else
			printf '%s\n' \
				"xfrm state add src $me dst $peer proto esp spi $out reqid $r mode tunnel $(xfrm_alg_args $ALG "$kout" | tr -d "'") sel src $a/32 dst $b/32" \
				"xfrm state add src $peer dst $me proto esp spi $in reqid $r mode tunnel $(xfrm_alg_args $ALG "$kin" | tr -d "'") sel src $b/32 dst $a/32" \
				"xfrm policy add dir out src $a/32 dst $b/32 tmpl src $me dst $peer proto esp reqid $r mode tunnel" \
				"xfrm policy add dir in src $b/32 dst $a/32 tmpl src $peer dst $me proto esp reqid $r mode tunnel"
		fi
	done
}
multi_hosts() { # L R: the extra inner hosts and their iperf3 servers
	local k
	for k in $(seq 2 $MULTI); do
		ip -n "$1" addr add 10.1.0.$k/32 dev lo
		ip -n "$2" addr add 10.2.0.$k/32 dev lo
	done
	for k in $(seq $MULTI); do
		ip netns exec "$2" iperf3 -s -B 10.2.0.$k -p $((5300 + k)) >"$WORK/iperf3-multi-$k.log" 2>&1 &
		SERVERS+=($!)
	done
}
setup_ripsec_multi() {
	load && topo "$1" "$2" && inner_routes "$1" "$2" veth0 && multi_hosts "$1" "$2" &&
		multi_lines ripsec l | ip netns exec "$1" ikeuser batch - >/dev/null &&
		multi_lines ripsec r | ip netns exec "$2" ikeuser batch - >/dev/null
}
setup_xfrm_multi() {
	unload && topo "$1" "$2" && inner_routes "$1" "$2" veth0 && multi_hosts "$1" "$2" &&
		multi_lines xfrm l | ip -n "$1" -batch - && multi_lines xfrm r | ip -n "$2" -batch -
}
# multi_up L R: every pair reaches the other and knows its path MTU, and every server listens.
multi_up() {
	local k i
	for k in $(seq $MULTI); do
		for i in 1 2 3 4 5; do
			ip netns exec "$1" ping -c 1 -W 2 -I 10.1.0.$k 10.2.0.$k >/dev/null 2>&1 && break
		done
		ip netns exec "$1" ping -c 2 -i 0.2 -W 1 -M do -s 1472 -I 10.1.0.$k 10.2.0.$k >/dev/null 2>&1 || true
		for i in $(seq 60); do
			ip netns exec "$2" ss -ltnH "sport = :$((5300 + k))" | grep -q . && break
			sleep 0.5
		done
	done
}
# run_multi L NAME: MULTI TCP flows at once, one per SA pair; prints the summed Mbit/s.
run_multi() {
	local k pids=()
	for k in $(seq $MULTI); do
		ip netns exec "$1" timeout 120 iperf3 -c 10.2.0.$k -B 10.1.0.$k -p $((5300 + k)) -J -t "$T_TCP" -O 1 \
			>"$WORK/$2-$k.json" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}" || true
	python3 -c 'import json, sys
try:
    runs = [json.load(open(f"{sys.argv[1]}-{k}.json")) for k in range(1, int(sys.argv[2]) + 1)]
    print(round(sum(r["end"]["sum_received"]["bits_per_second"] for r in runs) / 1e6, 1))
except Exception:
    print("-")' "$WORK/$2" $MULTI
}

# tunnel_up L: the left inner host reaches the right one (WireGuard needs a handshake first).
# Then a full-size DF ping, so that every path starts with its path MTU known: ripsec, which
# has no per-SA routes (unlike XFRM), learns it from the ICMP error for the first big packet.
tunnel_up() {
	local i
	for i in 1 2 3 4 5; do
		if ip netns exec "$1" ping -c 1 -W 2 -I $L_IN $R_IN >/dev/null 2>&1; then
			ip netns exec "$1" ping -c 2 -i 0.2 -W 1 -M do -s 1472 -I $L_IN $R_IN >/dev/null 2>&1 || true
			return 0
		fi
	done
	echo "bench: no connectivity $L_IN -> $R_IN through the tunnel in netns $1" >&2
	return 1
}

SERVERS=()
# server_start R: an iperf3 server on the right inner host, until teardown.
server_start() {
	ip netns exec "$1" iperf3 -s -B $R_IN >"$WORK/iperf3-$1.log" 2>&1 &
	SERVERS+=($!)
}

# server_ready R: waits until the iperf3 server of R listens.
server_ready() {
	local i
	for i in $(seq 60); do
		ip netns exec "$1" ss -ltnH 'sport = :5201' | grep -q . && return 0
		sleep 0.5
	done
	echo "bench: the iperf3 server in $1 did not start: $(cat "$WORK/iperf3-$1.log")" >&2
	return 1
}

teardown() {
	local p
	for p in "${SERVERS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${SERVERS[@]}"; do wait "$p" 2>/dev/null || true; done
	SERVERS=()
	delete_all_netns
	unload # waits for the netns cleanup that touches ripsec state
}

# ---- measurements

# run KIND L NAME: one iperf3 run from the left netns L to its right peer. Prints the result
# (tcp: Mbit/s received; udp: kpps received), then the TCP retransmissions or the UDP kpps
# sent; "-" if it failed.
run() {
	local kind=$1 f="$WORK/$3.json" args
	if [ "$kind" = tcp ]; then args=(-t "$T_TCP" -O 1); else args=(-u -l $UDP_LEN -b 0 -t "$T_UDP"); fi
	ip netns exec "$2" timeout 120 iperf3 -c $R_IN -B $L_IN -J "${PIN[@]}" "${args[@]}" >"$f" 2>&1 || true
	python3 - "$kind" "$f" $UDP_LEN <<'EOF'
import json, sys
kind, path, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    end = json.load(open(path))["end"]
    if kind == "tcp":
        print(round(end["sum_received"]["bits_per_second"] / 1e6, 1), end["sum_sent"].get("retransmits", "-"))
    else:
        r, s = end["sum_received"], end["sum_sent"]
        print(round(r["bytes"] / size / r["seconds"] / 1e3, 2), round(s["bytes"] / size / s["seconds"] / 1e3, 2))
except Exception:
    print("- -")
EOF
}

# measure KIND L NAME VAR: run, log, and append the result to the list in variable VAR.
measure() {
	local out v
	out=$(run "$1" "$2" "$3")
	v=${out%% *}
	if [ "$v" = - ]; then
		failures=$((failures + 1))
		echo "bench: $3 gave no result; iperf3: $(tail -c 300 "$WORK/$3.json" | tr '\n' ' ')" >&2
	fi
	case $1 in
	tcp) say "  $3: $v Mbit/s (${out#* } retransmissions)" ;;
	udp) say "  $3: $v kpps received (${out#* } kpps sent)" ;;
	esac
	printf -v "$4" '%s %s' "${!4:-}" "$v"
}

# stats NS PYTHON-EXPR: EXPR over `ikeuser stats --json` of NS (`j`).
stats() { json_get "$(ip netns exec "$1" ikeuser stats --json)" "$2"; }
drops() { stats "$1" '", ".join(f"{k} {v}" for k, v in j["counters"].items() if k.startswith("drop-") and v) or "none"'; }

# The highest-priority driver the kernel has for a crypto algorithm (what XFRM gets).
crypto_driver() {
	awk -v want="$1" '/^name/ { name = $3 } /^driver/ { drv = $3 }
		/^priority/ { if (name == want && $3 > best) { best = $3; pick = drv } }
		END { print (pick == "" ? "?" : pick) }' /proc/crypto
}

# ---- the run (`BENCH_FUNCTIONS_ONLY=1 source tests/bench/bench-guest.sh` stops here, for poking
# at one setup by hand in a VM)
if [ -n "${BENCH_FUNCTIONS_ONLY:-}" ]; then trap - ERR && return 0; fi

section "ripsec benchmark"
say "VM: $(nproc) vCPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); AES-NI $(grep -qw aes /proc/cpuinfo && echo yes || echo no), PCLMULQDQ $(grep -qw pclmulqdq /proc/cpuinfo && echo yes || echo no)), $(awk '/MemTotal/ {printf "%d MiB", $2/1024}' /proc/meminfo), kernel $(uname -r)"
say "tcp: one iperf3 flow, ${T_TCP} s after 1 s warm-up; udp: iperf3 -u -l $UDP_LEN -b 0 for ${T_UDP} s, packets received; best of $REPS rounds; ${PIN[*]:-unpinned} (client, server vCPU)"
for t in iperf3 wg ss; do command -v $t >/dev/null || { echo "bench: $t not found (scripts/setup installs it)" >&2; exit 1; }; done
# scripts/bench boots without kmemleak (its writes then fail). Where it runs, its periodic scan
# would take a vCPU for minutes once 100k SAs exist; vm-run's leak check at the end scans on
# demand and still works.
if echo scan=off 2>/dev/null >/sys/kernel/debug/kmemleak; then
	say "kmemleak: on (every allocation records a stack trace: allocations cost far more)"
else
	say "kmemleak: off"
fi
teardown

PATHS=(plaintext wireguard xfrm ripsec xfrm_udp ripsec_udp xfrm_ah ripsec_ah)
[ "$INTEROP" = 1 ] && PATHS+=(interop)
declare -A TCP UDP
for r in $(seq "$REPS"); do
	order=("${PATHS[@]}")
	# Every other round runs backwards, so a slow drift does not favour one path.
	if [ $((r % 2)) = 0 ]; then for i in "${!PATHS[@]}"; do order[i]=${PATHS[${#PATHS[@]} - 1 - i]}; done; fi
	for p in "${order[@]}"; do
		section "round $r/$REPS: $p"
		"setup_$p" A B
		tunnel_up A
		server_ready B
		measure tcp A "$p-tcp-$r" "TCP[$p]"
		measure udp A "$p-udp-$r" "UDP[$p]"
		case $p in
		ripsec)
			RIPSEC_DRIVER=$(json_get "$(ip netns exec A ikeuser sa list --json)" 'j[0]["crypto_driver"]')
			say "  ripsec drops: A: $(drops A); B: $(drops B)"
			;;
		interop | ripsec_udp | ripsec_ah) say "  ripsec drops: A: $(drops A)" ;;
		xfrm) XFRM_DRIVER=$(crypto_driver 'rfc4106(gcm(aes))') ;;
		esac
		teardown
	done
done

# ---- several flows over several SAs
declare -A MULTI_TCP
for r in $(seq "$REPS"); do
	order=(xfrm_multi ripsec_multi)
	[ $((r % 2)) = 0 ] && order=(ripsec_multi xfrm_multi)
	for p in "${order[@]}"; do
		section "round $r/$REPS: $p ($MULTI TCP flows over $MULTI SA pairs)"
		"setup_$p" A B
		multi_up A B
		v=$(run_multi A "$p-$r")
		[ "$v" = - ] && failures=$((failures + 1))
		say "  $p-$r: $v Mbit/s in total"
		MULTI_TCP[$p]="${MULTI_TCP[$p]:-} $v"
		[ "$p" = ripsec_multi ] && say "  ripsec drops: A: $(drops A); B: $(drops B)"
		teardown
	done
done

# ---- ripsec scaling
section "ripsec scaling: setting up A/B (baseline), C/D (extra SAs), E/F (extra policies)"
load
for pair in "A B" "C D" "E F"; do
	set -- $pair
	topo "$1" "$2"
	inner_routes "$1" "$2" veth0
	ripsec_left "$1"
	ripsec_right "$2"
	tunnel_up "$1"
	server_ready "$2"
done

NOTES=()
note() { NOTES+=("$*") && say "  $*"; }
# gen FILE ARGS...: tests/bench/gen-batch.py ARGS > FILE, timed.
gen() {
	local f=$1 t=$(now)
	shift
	python3 tests/bench/gen-batch.py "$@" >"$f"
	note "generate $(wc -l <"$f") $1 lines: $(since "$t") s"
}
# load_all NS FILE NS FILE: two `ikeuser batch` at once (one per vCPU), each timed.
load_all() {
	local pids=() what=() t=$(now) i rc=0
	while [ $# -gt 0 ]; do
		(s=$(now) && ip netns exec "$1" ikeuser batch "$2" >/dev/null &&
			echo "load $(wc -l <"$2") $(awk '{print ($1 == "sa" ? "SAs" : "policies"); exit}' "$2") into $1: $(since "$s") s") >"$2.took" &
		pids+=($!) what+=("$2")
		shift 2
	done
	for i in "${!pids[@]}"; do
		wait "${pids[i]}" || { echo "bench: loading ${what[i]} failed" >&2; rc=1; }
		[ -s "${what[i]}.took" ] && note "$(cat "${what[i]}.took")"
	done
	[ $rc = 0 ] && note "(both at once: $(since "$t") s)"
	return $rc
}
mem_avail() { awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo; }

declare -A BASE LOADED
ROWS=()
# step LABEL L: alternates UDP runs on the baseline pair and on the loaded pair L.
step() {
	local r key=${1// /_}
	ROWS+=("$1")
	say "  ${2}: $(stats "$2" '"%d SAs, %d policies" % (j["sa_count"], j["policy_count"])')"
	for r in $(seq "$REPS"); do
		measure udp A "base-$key-$r" "BASE[$1]"
		measure udp "$2" "$key-$r" "LOADED[$1]"
	done
}

section "ripsec scaling: ${SA_STEPS[0]} SAs, ${SP_STEPS[0]} policies"
sa1=${SA_STEPS[0]} sa2=${SA_STEPS[1]} sp1=${SP_STEPS[0]} sp2=${SP_STEPS[1]}
gen "$WORK/sa1-c" sa 0 "$sa1" $L_OUT "$KEY_LR"
gen "$WORK/sa1-d" sa 0 "$sa1" $R_OUT "$KEY_RL"
gen "$WORK/sp1-e" policy 0 "$sp1" out $L_OUT $L_NET
gen "$WORK/sp1-f" policy 0 "$sp1" in $R_OUT $R_NET
mem0=$(mem_avail)
load_all C "$WORK/sa1-c" D "$WORK/sa1-d"
load_all E "$WORK/sp1-e" F "$WORK/sp1-f"
step "+$sa1 SAs" C
step "+$sp1 policies" E

section "ripsec scaling: $sa2 SAs, $sp2 policies"
gen "$WORK/sa2-c" sa "$sa1" $((sa2 - sa1)) $L_OUT "$KEY_LR"
gen "$WORK/sa2-d" sa "$sa1" $((sa2 - sa1)) $R_OUT "$KEY_RL"
gen "$WORK/sp2-e" policy "$sp1" $((sp2 - sp1)) out $L_OUT $L_NET
gen "$WORK/sp2-f" policy "$sp1" $((sp2 - sp1)) in $R_OUT $R_NET
load_all C "$WORK/sa2-c" D "$WORK/sa2-d"
load_all E "$WORK/sp2-e" F "$WORK/sp2-f"
n=$(stats C 'j["sa_count"]')
[ "$n" = $((sa2 + 2)) ] || { echo "bench: C has $n SAs, want $((sa2 + 2))" >&2; exit 1; }
note "memory: $((mem0 - $(mem_avail))) MiB less MemAvailable with 2 x $sa2 SAs and 2 x $sp2 policies more"
step "+$sa2 SAs" C
step "+$sp2 policies" E
say "  drops: C $(drops C); D $(drops D); E $(drops E); F $(drops F)"

t=$(now)
ip netns exec C ikeuser sa flush
ip netns exec D ikeuser sa flush
note "flush 2 x $((sa2 + 2)) SAs: $(since "$t") s"
t=$(now)
teardown
note "teardown (netns deletion and rmmod): $(since "$t") s"

# ---- bulk configuration, ripsec against XFRM: each load alone into a fresh netns, one
# request per entry (`ikeuser batch`, `ip -batch`), timed, with the memory it took.
section "bulk configuration: ripsec and XFRM, $sp2 policies and $sa2 SAs"
gen "$WORK/bulk-sp" policy 0 "$sp2" out $L_OUT $L_NET
gen "$WORK/bulk-sp-x" xfrm-policy 0 "$sp2" out $L_OUT $L_NET
gen "$WORK/bulk-sa" sa 0 "$sa2" $L_OUT "$KEY_LR"
gen "$WORK/bulk-sa-x" xfrm-sa 0 "$sa2" $L_OUT "$KEY_LR"
declare -A BULK_S BULK_KB
# Kernel memory in use, in KiB: slab and per-CPU allocations (SAs, policies, crypto transforms,
# index nodes all live there), after dropping reclaimable caches (dentries and inodes of the
# 9p root come and go). MemAvailable also moves with the page cache, too much for 10k policies.
kmem() {
	sync
	echo 2 >/proc/sys/vm/drop_caches
	awk '/^(Slab|Percpu):/ {s += $2} END {print s}' /proc/meminfo
}
# bulk NAME NS FILE ripsec|xfrm COUNT: one timed load; memory = kernel memory after - before.
bulk() {
	local m0 t
	ip netns add "$2"
	m0=$(kmem)
	t=$(now)
	if [ "$4" = ripsec ]; then
		ip netns exec "$2" ikeuser batch "$3" >/dev/null
	else
		ip -n "$2" -batch "$3"
	fi
	BULK_S[$1]=$(since "$t")
	BULK_KB[$1]=$(($(kmem) - m0))
	say "  $1: $5 in ${BULK_S[$1]} s, $((BULK_KB[$1] * 1024 / $5)) bytes each"
}
load
bulk ripsec_sp P1 "$WORK/bulk-sp" ripsec "$sp2"
bulk xfrm_sp P2 "$WORK/bulk-sp-x" xfrm "$sp2"
bulk ripsec_sa P3 "$WORK/bulk-sa" ripsec "$sa2"
bulk xfrm_sa P4 "$WORK/bulk-sa-x" xfrm "$sa2"
teardown

# ---- report
section "results"
say "VM: $(nproc) vCPUs under QEMU/TCG: absolute numbers mean little, the ratios are what count."
say "algorithm: aes128gcm16 = rfc4106(gcm(aes)), ICV 16, tunnel mode, same keys (WireGuard: ChaCha20-Poly1305)"
say "crypto driver: ripsec ${RIPSEC_DRIVER:-?}, XFRM ${XFRM_DRIVER:-?}"
say "best of $REPS rounds; tcp: one flow; udp64: 64-byte UDP payloads, packets received per second"
say ""
printf '%-16s %12s %12s   %s\n' path "tcp Mbit/s" "udp64 kpps" "vs XFRM (tcp, udp)"
declare -A NAME=([plaintext]="plaintext veth" [wireguard]=WireGuard [xfrm]=XFRM [ripsec]=ripsec [interop]="ripsec -> XFRM"
	[xfrm_udp]="XFRM in UDP" [ripsec_udp]="ripsec in UDP" [xfrm_ah]="XFRM AH" [ripsec_ah]="ripsec AH")
for p in "${PATHS[@]}"; do
	# shellcheck disable=SC2086
	tcp=$(best ${TCP[$p]}) udp=$(best ${UDP[$p]})
	# shellcheck disable=SC2086
	printf '%-16s %12s %12s   %s, %s\n' "${NAME[$p]}" "$tcp" "$udp" "$(ratio "$tcp" "$(best ${TCP[xfrm]})")" "$(ratio "$udp" "$(best ${UDP[xfrm]})")"
done
# shellcheck disable=SC2086
say "ripsec/XFRM: tcp $(ratio "$(best ${TCP[ripsec]})" "$(best ${TCP[xfrm]})"), udp64 $(ratio "$(best ${UDP[ripsec]})" "$(best ${UDP[xfrm]})")  (target: >= 1)"
# shellcheck disable=SC2086
say "ripsec/XFRM, ESP in UDP (encap espinudp): tcp $(ratio "$(best ${TCP[ripsec_udp]})" "$(best ${TCP[xfrm_udp]})"), udp64 $(ratio "$(best ${UDP[ripsec_udp]})" "$(best ${UDP[xfrm_udp]})")"
# shellcheck disable=SC2086
say "ripsec/XFRM, AH hmac(sha256) tunnel: tcp $(ratio "$(best ${TCP[ripsec_ah]})" "$(best ${TCP[xfrm_ah]})"), udp64 $(ratio "$(best ${UDP[ripsec_ah]})" "$(best ${UDP[xfrm_ah]})")"
# shellcheck disable=SC2086
mx=$(best ${MULTI_TCP[xfrm_multi]:-}) mr=$(best ${MULTI_TCP[ripsec_multi]:-})
say "$MULTI TCP flows over $MULTI SA pairs at once (Mbit/s in total): XFRM $mx, ripsec $mr, ripsec/XFRM $(ratio "$mr" "$mx")  (target: >= 1)"
say ""
say "bulk configuration, one request per entry, each alone into a fresh netns (memory: slab + per-CPU):"
printf '%-16s %9s %9s %7s %13s %13s %7s\n' "" "ripsec s" "XFRM s" ratio "ripsec B/each" "XFRM B/each" ratio
for kind in sp sa; do
	if [ $kind = sp ]; then n=$sp2 label="$sp2 policies"; else n=$sa2 label="$sa2 SAs"; fi
	rb=$((BULK_KB[ripsec_$kind] * 1024 / n)) xb=$((BULK_KB[xfrm_$kind] * 1024 / n))
	printf '%-16s %9s %9s %7s %13s %13s %7s\n' "$label" "${BULK_S[ripsec_$kind]}" "${BULK_S[xfrm_$kind]}" \
		"$(ratio "${BULK_S[ripsec_$kind]}" "${BULK_S[xfrm_$kind]}")" "$rb" "$xb" "$(ratio "$rb" "$xb")"
done
say "(targets: policy inserts <= 2x XFRM's time; memory per SA and per policy <= XFRM's)"
say ""
say "ripsec per-packet cost, 64-byte UDP, ripsec on both sides (target: flat)"
say "baseline: 1 SA and 1 policy per direction. Extra SAs: unrelated (own SPI, reqid, peer), in"
say "both netns. Extra policies: /32 selectors that come before the measured policy in SPD order"
say "(out in the sender, in in the receiver), so a linear lookup looks at every one of them."
printf '%-18s %14s %12s %10s %14s %12s\n' case "baseline kpps" "kpps" "us/packet" "cost vs base" "vs XFRM udp"
# shellcheck disable=SC2086
xfrm_udp=$(best ${UDP[xfrm]}) all_base=$(best ${BASE[*]})
printf '%-18s %14s %12s %10s %14s %12s\n' "1 SA, 1 policy" "$all_base" "$all_base" \
	"$(awk -v v="$all_base" 'BEGIN { if (v == "-" || v == 0) print "-"; else printf "%.0f", 1000 / v }')" 1.00 "$(ratio "$all_base" "$xfrm_udp")"
for row in "${ROWS[@]}"; do
	# shellcheck disable=SC2086
	b=$(best ${BASE[$row]}) v=$(best ${LOADED[$row]})
	us=$(awk -v v="$v" 'BEGIN { if (v == "-" || v == 0) print "-"; else printf "%.0f", 1000 / v }')
	printf '%-18s %14s %12s %10s %14s %12s\n' "$row" "$b" "$v" "$us" "$(ratio "$b" "$v")" "$(ratio "$v" "$xfrm_udp")"
done
say "(cost vs base = baseline kpps / kpps, from runs alternating between the two pairs;"
say " us/packet = 1/kpps, sender and receiver together on $(nproc) vCPUs)"
say ""
say "bulk configuration (ikeuser batch):"
for l in "${NOTES[@]}"; do say "  $l"; done
say ""
say "bench: done in $(($(date +%s) - T0)) s"
if [ "$failures" != 0 ]; then
	echo "bench: $failures measurement(s) gave no result (see above)" >&2
	exit 1
fi
