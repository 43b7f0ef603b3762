# Helpers around tests/vm/frag_probe.py (Debian's python3 with scapy): listeners, captures,
# MAC addresses.
# shellcheck shell=bash

mac_of() { ip -n "$1" -o link show "$2" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }

# start_listener NS ADDR FILE [SECONDS]: UDP 7777 on ADDR, printing what arrives into FILE.
start_listener() {
	: >"$3"
	ip netns exec "$1" /usr/bin/python3 tests/vm/frag_probe.py listen "$2" 7777 "${4:-60}" >"$3" &
	LISTENER=$!
	trap 'kill $LISTENER ${CAPTURE:-} 2>/dev/null || true' EXIT
	for _ in $(seq 150); do grep -q listening "$3" 2>/dev/null && return; sleep 0.2; done
	fail "listener in $1 did not start"
}

# start_capture NS IFACE FILE NEEDLE: count frames on IFACE carrying NEEDLE (and ESP frames).
start_capture() {
	: >"$3"
	ip netns exec "$1" /usr/bin/python3 tests/vm/frag_probe.py capture "$2" 600 "$4" >"$3" &
	CAPTURE=$!
	trap 'kill ${LISTENER:-} $CAPTURE 2>/dev/null || true' EXIT
	for _ in $(seq 150); do grep -q capturing "$3" 2>/dev/null && return; sleep 0.2; done
	fail "capture in $1 did not start"
}

# stop_capture FILE: the capture's "plaintext N esp M" line.
stop_capture() {
	kill -TERM "$CAPTURE" 2>/dev/null || true
	wait "$CAPTURE" 2>/dev/null || true
	cat "$1" >&2
	sed -n 's/^plaintext/plaintext/p' "$1"
}

# delivered FILE: the tags a listener printed, sorted, space-separated.
delivered() {
	kill "$LISTENER" 2>/dev/null || true
	awk '$1 != "listening" {print $1}' "$1" | sort | tr '\n' ' '
}
