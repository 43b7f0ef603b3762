# Helpers around tests/vm/frag_probe.py (Debian's python3 with scapy): listeners, captures,
# MAC addresses.
# shellcheck shell=bash

mac_of() { ip -n "$1" -o link show "$2" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }

# start_probe NS FILE READY ARGS...: frag_probe.py ARGS in NS, in the background, its output in
# FILE; waits until it prints READY, and kills it when the test ends. Sets PROBE_PID.
start_probe() {
	local ns=$1 file=$2 ready=$3
	shift 3
	: >"$file"
	ip netns exec "$ns" /usr/bin/python3 tests/vm/frag_probe.py "$@" >"$file" &
	PROBE_PID=$!
	PROBES="${PROBES:-} $PROBE_PID"
	trap 'kill $PROBES 2>/dev/null || true' EXIT
	wait_until "frag_probe.py $1 in $ns to print '$ready'" 30 "grep -q '$ready' $file"
}

# start_listener NS ADDR FILE [SECONDS]: UDP 7777 on ADDR, printing what arrives into FILE.
start_listener() {
	start_probe "$1" "$3" listening listen "$2" 7777 "${4:-60}"
	LISTENER=$PROBE_PID
}

# start_capture NS IFACE FILE NEEDLE: count frames on IFACE carrying NEEDLE (and ESP frames).
start_capture() {
	start_probe "$1" "$3" capturing capture "$2" 600 "$4"
	CAPTURE=$PROBE_PID
}

# stop_capture FILE: the capture's "plaintext N esp M" line.
stop_capture() {
	kill -TERM "$CAPTURE" 2>/dev/null || true
	# Callers run this in $(...), a subshell that cannot wait for the capture (it is the
	# parent's child): wait for its summary line instead. With one vCPU, cat came first.
	wait_for 30 grep -q '^plaintext' "$1" || true
	cat "$1" >&2
	sed -n 's/^plaintext/plaintext/p' "$1"
}

# received FILE: the tags a listener has printed so far, sorted, space-separated.
received() { awk '$1 != "listening" {print $1}' "$1" | sort | tr '\n' ' '; }

# delivered FILE: stops the listener ($LISTENER); the tags it printed.
delivered() {
	kill "$LISTENER" 2>/dev/null || true
	received "$1"
}
