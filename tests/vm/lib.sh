# Helpers for VM tests; sourced by tests/vm/run-all inside the VM (running as root).
# A test is a shell function named test_* in tests/vm/NN-*.sh; it runs in its own subshell
# with `set -e`, so any failing command fails the test.
# shellcheck shell=bash
RIPSEC_KO=${RIPSEC_KO:-$RIPSEC_ROOT/ripsec.ko}

loaded() { [ -d /sys/module/ripsec ]; }
load() { crypto_modules && { loaded || insmod "$RIPSEC_KO"; }; }

# The test kernel builds ChaCha20-Poly1305 as a module (scripts/kernel.config), so that one
# test can see a crypto driver missing; every other test gets it inserted here.
CHACHA_KO="${RIPSEC_KDIR:-}/crypto/chacha20poly1305.ko"
crypto_modules() { [ -d /sys/module/chacha20poly1305 ] || [ ! -f "$CHACHA_KO" ] || insmod "$CHACHA_KO"; }
unload() { if loaded; then rmmod ripsec; fi; }

# fail MSG: fail the current test with a message.
fail() {
	FAIL_MSG="$*"
	echo "FAIL: $*" >&2
	exit 1
}

# expect_contains TEXT NEEDLE [WHAT]
expect_contains() {
	case "$1" in
	*"$2"*) ;;
	*) fail "${3:-output} does not contain '$2'; it was: $1" ;;
	esac
}

expect_not_contains() {
	case "$1" in
	*"$2"*) fail "${3:-output} contains '$2'; it was: $1" ;;
	*) ;;
	esac
}

# expect_eq GOT WANT WHAT
expect_eq() {
	[ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
}

# wait_for SECONDS CMD...: retries CMD every 0.2 s until it succeeds or SECONDS (at least 30:
# a wait ends as soon as the check holds, and a loaded TCG guest can be slow) have passed.
# CMD runs in a subshell, so a check that calls `fail` (exit) is just retried. A single argument
# is evaluated anew each time, for checks with $(...) in them: wait_for 5 'test "$(f)" = 2'.
wait_for() {
	local end=$((SECONDS + ($1 > 30 ? $1 : 30)))
	shift
	until if [ $# -eq 1 ]; then (eval "$1"); else ("$@"); fi; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.2
	done
}

# wait_until WHAT SECONDS CMD...: wait_for, failing the test with what it waited for if CMD
# never held. WHAT completes "waiting for ...".
wait_until() {
	local what=$1 secs=$2
	shift 2
	wait_for "$secs" "$@" || fail "gave up after $((secs > 30 ? secs : 30)) s waiting for $what"
}

# expect_eventually CMD WANT WHAT: the output of CMD (shell code, run anew each try) becomes
# WANT, for a result that arrives on its own time (a counter, an event, a removal); fails like
# expect_eq with the last output if it does not within 30 s. It passes as soon as the output
# matches, so a later change is for the caller's next check to see.
expect_eventually() {
	local cmd=$1 want=$2 what=$3
	wait_for 30 "[ \"\$($cmd)\" = $(printf %q "$want") ]" || expect_eq "$(eval "$cmd")" "$want" "$what"
}

# wait_listening NS tcp|udp PORT: until a socket in NS listens on (or, UDP, is bound to) PORT.
wait_listening() {
	local flags=-Hltn
	[ "$2" = udp ] && flags=-Hlun
	wait_until "a $2 socket on port $3 in netns $1" 20 "ss $flags -N $1 'sport = :$3' | grep -q ."
}

# start_monitor NS FILE [ARGS...]: `ikeuser monitor ARGS` of NS in the background, its events in
# FILE; returns once it is subscribed (its line on stderr), so no event is missed. Sets MON.
start_monitor() {
	local ns=$1 file=$2
	shift 2
	ip netns exec "$ns" ikeuser monitor "$@" >"$file" 2>"$file.err" &
	MON=$!
	wait_until "ikeuser monitor in $ns to subscribe" 30 "grep -q subscribed $file.err"
}

stop_monitor() { kill "$MON" 2>/dev/null || true; wait "$MON" 2>/dev/null || true; }

# start_dumpcap NS IFACE FILTER FILE: capture into FILE (pcapng) in the background; returns once
# dumpcap captures (it writes the file's header then). Sets DUMPCAP.
start_dumpcap() {
	ip netns exec "$1" dumpcap -q -i "$2" -f "$3" -w "$4" 2>/dev/null &
	DUMPCAP=$!
	wait_until "dumpcap on $2 in $1 to start" 20 "[ -s $4 ]"
}

# stop_dumpcap: ends the capture. libpcap hands dumpcap frames in blocks that it retires after a
# read timeout (250 ms), and SIGINT drops the block not yet handed over: the pause lets the
# frames of the traffic just sent reach the file. No state to wait on (the file is buffered).
stop_dumpcap() {
	sleep 0.5
	kill -INT "$DUMPCAP"
	wait "$DUMPCAP" || true
}

# mkns NAME...: create network namespaces with loopback up.
mkns() {
	local n
	for n in "$@"; do
		ip netns add "$n"
		ip -n "$n" link set lo up
	done
}

delete_all_netns() {
	local n
	for n in $(ip netns list | awk '{print $1}'); do ip netns del "$n"; done
}

# json_get JSON PYTHON-EXPR: evaluate EXPR with `j` bound to the parsed JSON.
json_get() {
	# -I -S: no site packages to scan; a third of the start-up time in the VM.
	python3 -I -S -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

# as_nobody CMD...: run CMD as uid/gid 65534 with no capabilities.
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all -- "$@"
}

# Keys of the right length for each algorithm (hex, no meaning).
KEY_GCM128=0x000102030405060708090a0b0c0d0e0f10111213
key_of_len() { printf '0x%s' "$(head -c "$1" /dev/zero | tr '\0' 'a' | sed 's/a/ab/g')"; }

# add_sa SPI [DST] [EXTRA...]: an AES-GCM-128 tunnel SA from 10.0.0.1.
add_sa() {
	local spi=$1 dst=${2:-10.0.0.2}
	shift 2 2>/dev/null || shift
	ikeuser sa add src 10.0.0.1 dst "$dst" proto esp spi "$spi" mode tunnel alg aes128gcm16 key "$KEY_GCM128" "$@"
}

# expect_rejected WANT-SUBSTRING CMD...: CMD must fail and print WANT-SUBSTRING.
expect_rejected() {
	local want=$1 out
	shift
	if out=$("$@" 2>&1); then
		fail "accepted but should be rejected: $*"
	fi
	expect_contains "$out" "$want" "error of '$*'"
}

# ynl_errors < CASES: run raw requests (`OP JSON` lines) through the kernel's YNL library.
ynl_errors() {
	local dir="$RIPSEC_KDIR/source/tools/net/ynl/pyynl"
	[ -d "$dir" ] || dir="$RIPSEC_KDIR/tools/net/ynl/pyynl"
	/usr/bin/python3 tests/vm/ynl_errors.py "$dir" rust/proto/ripsec.yaml
}
