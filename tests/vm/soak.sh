#!/usr/bin/env bash
# Concurrency and lifecycle soak, run inside the VM (as root):
#   scripts/vm-run "bash tests/vm/soak.sh --duration 600 --seed 7"
# Workers run side by side for --duration seconds:
#   traffic   sequenced UDP both ways over three Child SAs of one IKE SA between ikeuser daemons
#             in netns A and B, with Child SAs rekeyed every few seconds by both sides and the
#             IKE SA too (make-before-break: every datagram must arrive);
#   churn     manual SAs and policies added, updated, deleted and flushed in netns C and D with
#             pings over them, and in A on selectors the measured flows do not use;
#   netns     namespaces created with SAs, policies and an event listener inside, then deleted;
#   listen    `ikeuser monitor` started and killed in A and B.
# Then: per-flow sent/received/lost/reordered, rekeys (distinct SPIs seen), counts of the
# workers' operations, and rmmod while traffic flows (it must succeed or refuse cleanly).
# Exits non-zero on a lost datagram, too few rekeys, a failed operation or a dead worker;
# scripts/vm-run adds dmesg and kmemleak.
set -euo pipefail
RIPSEC_ROOT=${RIPSEC_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
export RIPSEC_ROOT
cd "$RIPSEC_ROOT"

DURATION=90 SEED=1 RATE=50
while [ $# -gt 0 ]; do
	case $1 in
	--duration) DURATION=$2 ;;
	--seed) SEED=$2 ;;
	--rate) RATE=$2 ;;
	*)
		echo "usage: $0 [--duration SECONDS] [--seed N] [--rate DATAGRAMS-PER-SECOND-PER-FLOW]" >&2
		exit 2
		;;
	esac
	shift 2
done

source tests/vm/lib.sh
source tests/vm/ike.sh
SOAK=$IKE_DIR
CHILD_REKEY_A=4 CHILD_REKEY_B=5 IKE_REKEY_A=11 IKE_REKEY_B=14 CHILD_LIFE=40
CHILDREN="net net2 net3"

say() { printf '[soak %4ds] %s\n' "$SECONDS" "$*"; }

# child_net N: the 10.1.N.0/24 (A) and 10.2.N.0/24 (B) subnets of child N (0..2), with routes.
child_net() {
	local n=$1
	[ "$n" = 0 ] && return 0
	ip -n A addr add "10.1.$n.1/32" dev lo
	ip -n B addr add "10.2.$n.1/32" dev lo
	ip -n A route add "10.2.$n.0/24" dev a0 src "10.1.$n.1"
	ip -n B route add "10.1.$n.0/24" dev b0 src "10.2.$n.1"
}

# soak_child FILE NS NAME N REKEY: a child for the subnets of child_net N with short lifetimes.
soak_child() {
	local file=$1 ns=$2 name=$3 n=$4 rekey=$5 l=10.1.$4.0/24 r=10.2.$4.0/24
	[ "$ns" = A ] || { l=10.2.$n.0/24 r=10.1.$n.0/24; }
	printf '\n[connections.c.children.%s]\nmode = "tunnel"\nlocal_ts = ["%s"]\nremote_ts = ["%s"]\n' \
		"$name" "$l" "$r" >>"$file"
	printf 'rekey_time = %s\nlife_time = %s\n' "$rekey" "$CHILD_LIFE" >>"$file"
}

setup_ike() {
	load
	topology tunnel44
	child_net 1
	child_net 2
	ike_conf A "$SOAK/A.toml" rekey=$CHILD_REKEY_A life=$CHILD_LIFE ike_rekey=$IKE_REKEY_A
	ike_conf B "$SOAK/B.toml" rekey=$CHILD_REKEY_B life=$CHILD_LIFE ike_rekey=$IKE_REKEY_B
	soak_child "$SOAK/A.toml" A net2 1 $CHILD_REKEY_A
	soak_child "$SOAK/A.toml" A net3 2 $CHILD_REKEY_A
	soak_child "$SOAK/B.toml" B net2 1 $CHILD_REKEY_B
	soak_child "$SOAK/B.toml" B net3 2 $CHILD_REKEY_B
	# Log lines count seconds from each daemon's start; the report sets lost datagrams against them.
	date +%s.%N >"$SOAK/A.start"
	ikeuser_start A "$SOAK/A.toml"
	date +%s.%N >"$SOAK/B.start"
	ikeuser_start B "$SOAK/B.toml"
	ikectl A up c >/dev/null || fail "up: $(ike_log A | tail -5)"
	wait_for 20 'test "$(sa_count A)" = 6' || fail "A has $(sa_count A) SAs, want 6: $(ike_log A | tail -5)"
}

# Churn netns C and D: a veth pair 10.9.0.1 - 10.9.0.2, inner 10.91.0.1 (C) and 10.92.0.1 (D).
setup_churn() {
	mkns C D
	ip link add c0 netns C type veth peer name d0 netns D
	ip -n C link set c0 up
	ip -n D link set d0 up
	ip -n C addr add 10.9.0.1/24 dev c0
	ip -n D addr add 10.9.0.2/24 dev d0
	ip -n C addr add 10.91.0.1/32 dev lo
	ip -n D addr add 10.92.0.1/32 dev lo
	ip -n C route add 10.92.0.0/24 dev c0 src 10.91.0.1
	ip -n D route add 10.91.0.0/24 dev d0 src 10.92.0.1
}

# op WORKER CMD...: runs CMD, counting it as one operation of WORKER or as a failure (logged).
op() {
	local w=$1
	shift
	if "$@" >>"$SOAK/$w.out" 2>&1; then
		OPS=$((OPS + 1))
	else
		ERRS=$((ERRS + 1))
		echo "FAILED after ${SECONDS}s: $*" >>"$SOAK/$w.errors"
	fi
}

running() { [ ! -e "$SOAK/stop" ]; }
# worker_done NAME EXTRA-JSON: the counts a worker leaves for the report.
worker_done() { printf '{"ops": %d, "errors": %d%s}\n' "$OPS" "$ERRS" "${2:-}" >"$SOAK/$1.counts"; }

# Manual SAs both ways between C and D with policies, a ping over them, then one of: update
# the SAs, delete them one by one, or flush everything.
worker_churn() {
	RANDOM=$((SEED * 7 + 1))
	local OPS=0 ERRS=0 rounds=0 pings=0 spi1 spi2 k=$KEY_GCM128 a id
	while running; do
		spi1=$(printf '0x%x' $((0x10000 + RANDOM * 4 + 1))) spi2=$(printf '0x%x' $((0x10000 + RANDOM * 4 + 2)))
		for ns in C D; do
			a=(10.9.0.1 10.9.0.2 10.91.0.0/24 10.92.0.0/24)
			[ $ns = C ] || a=(10.9.0.2 10.9.0.1 10.92.0.0/24 10.91.0.0/24)
			local so=$spi1 si=$spi2
			[ $ns = C ] || { so=$spi2 si=$spi1; }
			# Four operations over one netlink socket (an exec costs seconds on a loaded TCG guest).
			printf '%s\n' \
				"sa add src ${a[0]} dst ${a[1]} proto esp spi $so reqid 5 mode tunnel alg aes128gcm16 key $k" \
				"sa add src ${a[1]} dst ${a[0]} proto esp spi $si reqid 5 mode tunnel alg aes128gcm16 key $k" \
				"policy add dir out src ${a[2]} dst ${a[3]} tmpl proto esp mode tunnel reqid 5 src ${a[0]} dst ${a[1]}" \
				"policy add dir in src ${a[3]} dst ${a[2]} tmpl proto esp mode tunnel reqid 5 src ${a[1]} dst ${a[0]}" \
				>"$SOAK/churn.batch"
			op churn ip netns exec $ns ikeuser batch "$SOAK/churn.batch"
			OPS=$((OPS + 3))
		done
		op churn ip netns exec C ping -c 2 -i 0.2 -W 3 -I 10.91.0.1 10.92.0.1
		pings=$((pings + 2))
		case $((RANDOM % 3)) in
		0)
			for ns in C D; do
				op churn ip netns exec $ns ikeuser sa update dst 10.9.0.2 proto esp spi "$spi1" hard-bytes 100000000
			done
			op churn ip netns exec D ping -c 2 -i 0.2 -W 3 -I 10.92.0.1 10.91.0.1
			pings=$((pings + 2))
			for ns in C D; do
				op churn ip netns exec $ns ikeuser sa flush
				op churn ip netns exec $ns ikeuser policy flush
			done
			;;
		1)
			for ns in C D; do
				op churn ip netns exec $ns ikeuser sa del dst 10.9.0.2 proto esp spi "$spi1"
				op churn ip netns exec $ns ikeuser sa del dst 10.9.0.1 proto esp spi "$spi2"
				op churn ip netns exec $ns ikeuser policy flush
			done
			;;
		2)
			for ns in C D; do
				op churn ip netns exec $ns ikeuser sa flush proto esp
				op churn ip netns exec $ns ikeuser policy flush
			done
			;;
		esac
		# In A, beside the daemon's state: an SA and a policy no measured flow uses.
		spi1=$(printf '0x%x' $((0x20000 + RANDOM)))
		op churn ip netns exec A ikeuser sa add src 10.0.0.1 dst 10.0.0.77 proto esp spi "$spi1" mode tunnel alg aes128gcm16 key $k
		if id=$(ip netns exec A ikeuser --json policy add dir out src 10.77.0.0/24 dst 10.78.0.0/24 priority 500 \
			tmpl proto esp mode tunnel src 10.0.0.1 dst 10.0.0.77 2>>"$SOAK/churn.errors"); then
			OPS=$((OPS + 1))
			op churn ip netns exec A ikeuser policy del id "$(json_get "$id" 'j["id"]')"
		else
			ERRS=$((ERRS + 1))
		fi
		op churn ip netns exec A ikeuser sa del dst 10.0.0.77 proto esp spi "$spi1"
		rounds=$((rounds + 1))
	done
	worker_done churn ", \"rounds\": $rounds, \"pings\": $pings"
}

# A namespace with ripsec state and a listener inside, deleted under them.
worker_netns() {
	RANDOM=$((SEED * 7 + 2))
	local OPS=0 ERRS=0 cycles=0 ns mon
	while running; do
		ns=soak$cycles
		op netns mkns $ns
		ip netns exec $ns ikeuser monitor >/dev/null 2>&1 &
		mon=$!
		op netns ip netns exec $ns ikeuser sa add src 10.5.0.1 dst 10.5.0.2 proto esp spi 0x$((1000 + cycles)) mode tunnel alg aes128gcm16 key $KEY_GCM128
		op netns ip netns exec $ns ikeuser policy add dir out src 10.6.0.0/24 dst 10.7.0.0/24 tmpl proto esp mode tunnel src 10.5.0.1 dst 10.5.0.2 reqid 9
		op netns ip netns exec $ns ikeuser policy add dir in src 10.7.0.0/24 dst 10.6.0.0/24 tmpl proto esp mode tunnel src 10.5.0.2 dst 10.5.0.1
		# A packet for the policy without an SA: an ACQUIRE for the listener.
		ip -n $ns addr add 10.6.0.1/32 dev lo
		ip -n $ns route add 10.7.0.0/24 dev lo src 10.6.0.1
		ip netns exec $ns ping -c 1 -W 1 10.7.0.1 >/dev/null 2>&1 || true
		# Sometimes the listener goes first, mostly the namespace.
		if [ $((RANDOM % 4)) = 0 ]; then kill $mon 2>/dev/null || true; fi
		op netns ip netns del $ns
		sleep 0.$((RANDOM % 5))
		kill $mon 2>/dev/null || true
		wait $mon 2>/dev/null || true
		cycles=$((cycles + 1))
	done
	worker_done netns ", \"cycles\": $cycles"
}

# Event listeners in the measured namespaces, started and killed.
worker_listen() {
	RANDOM=$((SEED * 7 + 3))
	local OPS=0 ERRS=0 started=0 ns pid
	while running; do
		for ns in A B; do
			ip netns exec $ns ikeuser monitor >/dev/null 2>&1 &
			pid=$!
			started=$((started + 1))
			sleep 0.$((RANDOM % 10))
			kill -0 $pid 2>/dev/null || { ERRS=$((ERRS + 1)) && echo "monitor in $ns died" >>"$SOAK/listen.errors"; }
			kill $pid 2>/dev/null || true
			wait $pid 2>/dev/null || true
		done
	done
	worker_done listen ", \"listeners\": $started"
}

# The daemons' view every second: SPIs and IKE SA ids, to count the rekeys that really happened.
worker_poll() {
	local OPS=0 ERRS=0
	while running; do
		if ikectl A status --json >>"$SOAK/status-A.jsonl" 2>>"$SOAK/poll.out"; then OPS=$((OPS + 1)); else ERRS=$((ERRS + 1)); fi
		sleep 1
	done
	worker_done poll
}

# flow_start N: the sequenced UDP stream of child N, one end in A and one in B.
flow_start() {
	local n=$1 port=$((7000 + $1)) me peer
	rm -f "$SOAK/flow$n-"*
	for me in A B; do
		peer=B
		[ $me = A ] || peer=A
		local bind=10.1.$n.1 to=10.2.$n.1
		[ $me = A ] || { bind=10.2.$n.1 to=10.1.$n.1; }
		ip netns exec $me python3 -I -S tests/vm/soak_udp.py --bind $bind --port $port --peer $to \
			--peer-port $port --rate "$RATE" --out "$SOAK/flow$n-$me.json" \
			--ready "$SOAK/flow$n-$me.ready" --peer-ready "$SOAK/flow$n-$peer.ready" \
			--done "$SOAK/flow$n-$me.done" --peer-done "$SOAK/flow$n-$peer.done" &
		echo $! >"$SOAK/flow$n-$me.pid"
	done
}

flows_stop() {
	local f
	for f in "$SOAK"/flow*-?.pid; do
		if [ -f "$f" ]; then kill -TERM "$(cat "$f")" 2>/dev/null || true; fi
	done
	for f in "$SOAK"/flow*-?.pid; do
		if [ -f "$f" ]; then wait "$(cat "$f")" 2>/dev/null || echo "flow $f exited with $?" >>"$SOAK/flows.errors"; fi
	done
}

# rmmod_under_traffic: unload with the IKE tunnels carrying a flow and a ping flood over a manual
# SA in C/D. rmmod must succeed, or refuse (busy) and succeed once the traffic and daemons stop.
rmmod_under_traffic() {
	local flood out
	worker_churn_once
	ip netns exec C ping -f -I 10.91.0.1 10.92.0.1 >/dev/null 2>&1 &
	flood=$!
	mkdir "$SOAK/rmmod"
	SOAK=$SOAK/rmmod flow_start 0
	sleep 2
	if out=$(rmmod ripsec 2>&1); then
		RMMOD="unloaded under traffic"
	else
		RMMOD="refused under traffic ($out)"
	fi
	say "rmmod: $RMMOD"
	sleep 1
	kill $flood 2>/dev/null || true
	wait $flood 2>/dev/null || true
	SOAK=$SOAK/rmmod flows_stop
	ikeuser_stop A
	ikeuser_stop B
	if loaded; then rmmod ripsec || fail "rmmod failed after the traffic and the daemons stopped"; fi
	loaded && fail "ripsec still loaded"
	return 0
}

# worker_churn_once: the churn worker's SAs and policies in C and D, left in place.
worker_churn_once() {
	local k=$KEY_GCM128
	ip netns exec C ikeuser sa add src 10.9.0.1 dst 10.9.0.2 proto esp spi 0x3100 reqid 5 mode tunnel alg aes128gcm16 key $k
	ip netns exec C ikeuser sa add src 10.9.0.2 dst 10.9.0.1 proto esp spi 0x3200 reqid 5 mode tunnel alg aes128gcm16 key $k
	ip netns exec D ikeuser sa add src 10.9.0.1 dst 10.9.0.2 proto esp spi 0x3100 reqid 5 mode tunnel alg aes128gcm16 key $k
	ip netns exec D ikeuser sa add src 10.9.0.2 dst 10.9.0.1 proto esp spi 0x3200 reqid 5 mode tunnel alg aes128gcm16 key $k
	ip netns exec C ikeuser policy add dir out src 10.91.0.0/24 dst 10.92.0.0/24 tmpl proto esp mode tunnel reqid 5 src 10.9.0.1 dst 10.9.0.2
	ip netns exec C ikeuser policy add dir in src 10.92.0.0/24 dst 10.91.0.0/24 tmpl proto esp mode tunnel reqid 5 src 10.9.0.2 dst 10.9.0.1
	ip netns exec D ikeuser policy add dir out src 10.92.0.0/24 dst 10.91.0.0/24 tmpl proto esp mode tunnel reqid 5 src 10.9.0.2 dst 10.9.0.1
	ip netns exec D ikeuser policy add dir in src 10.91.0.0/24 dst 10.92.0.0/24 tmpl proto esp mode tunnel reqid 5 src 10.9.0.1 dst 10.9.0.2
	ip netns exec C ping -c 1 -W 3 -I 10.91.0.1 10.92.0.1 >/dev/null || fail "no ping over the manual SAs before rmmod"
}

soak_cleanup() {
	local rc=$?
	touch "$SOAK/stop"
	flows_stop 2>/dev/null || true
	jobs -p | xargs -r kill 2>/dev/null || true
	wait 2>/dev/null || true
	ikeuser_stop A 2>/dev/null || true
	ikeuser_stop B 2>/dev/null || true
	if [ $rc -ne 0 ]; then
		for f in "$SOAK"/*.errors; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
		echo "--- ikeuser log of A (end)"
		tail -n 40 "$SOAK/A.log" 2>/dev/null || true
		echo "--- ikeuser log of B (end)"
		tail -n 40 "$SOAK/B.log" 2>/dev/null || true
		[ -z "${FAIL_MSG:-}" ] || echo "FAIL: $FAIL_MSG"
	fi
	delete_all_netns 2>/dev/null || true
	unload 2>/dev/null || true
	# The counts and logs stay on the host, in the shared repo tree.
	rm -rf target/vm-logs/soak-last
	mkdir -p target/vm-logs/soak-last
	cp -r "$SOAK"/*.log "$SOAK"/*.start "$SOAK"/*.json "$SOAK"/*.counts "$SOAK"/*.errors "$SOAK"/*.out target/vm-logs/soak-last/ 2>/dev/null || true
}

main() {
	say "duration ${DURATION}s, seed $SEED, $RATE datagrams/s per flow and direction, $(nproc) CPUs"
	trap soak_cleanup EXIT
	setup_ike
	setup_churn
	local n
	for n in 0 1 2; do flow_start $n; done
	local workers=()
	worker_churn &
	workers+=($!)
	worker_netns &
	workers+=($!)
	worker_listen &
	workers+=($!)
	worker_poll &
	workers+=($!)
	say "workers started"
	sleep "$DURATION"
	touch "$SOAK/stop"
	say "stopping the workers"
	flows_stop
	wait "${workers[@]}" || true
	# Everything still up after the churn: the SAs of the three children (the old ones of a
	# rekey in progress may still be there too).
	[ "$(sa_count A)" -ge 6 ] || fail "A has $(sa_count A) SAs after the soak"
	local ns
	for ns in A B; do ip netns exec $ns ikeuser stats --json >"$SOAK/stats-$ns.json" || true; done
	say "report"
	python3 tests/vm/soak_report.py "$SOAK" "$DURATION" "$CHILDREN" "$CHILD_REKEY_A" "$IKE_REKEY_A" ||
		fail "the soak's checks failed (report above)"
	rmmod_under_traffic
	say "done: rmmod $RMMOD"
}

main
