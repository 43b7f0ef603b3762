#!/usr/bin/env python3
"""`ikeuser batch` lines for the SPD scale test (tests/vm/80-gateway.sh): COUNT policies of many
shapes on gateway GA that come before its tunnel policies (10.1.0.0/24 <-> 10.2.0.0/24,
priority 0) in SPD order but never match the test's traffic (ICMP, and TCP to ports
5000-5999 with ephemeral ports from 32768 up), then three policies that do match it but come
after the tunnel's. A lookup that returns anything but the tunnel policy drops the traffic.

  spd_scale.py COUNT
"""
import sys

PREFIX = "policy add"
DECOY_TMPL = "tmpl proto esp mode tunnel reqid 9 src 192.0.2.1 dst 192.0.2.9"


def ip4(n):
    return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def decoy(k):
    """Policy k: eight shapes in turn, all ahead of the tunnel in precedence order."""
    host = ip4((172 << 24 | 16 << 16) + k)
    kind = k % 8
    if kind < 3:  # more specific destination
        return f"dir out src 10.1.0.0/24 dst {host}/32 {DECOY_TMPL}"
    if kind == 3:  # same prefixes, one UDP port
        return f"dir out src 10.1.0.0/24 dst 10.2.0.0/24 proto udp dport {20000 + k} action discard"
    if kind == 4:  # same prefixes, a TCP port range below the ephemeral ports
        lo = 30000 + (k // 8) * 2
        return f"dir out src 10.1.0.0/24 dst 10.2.0.0/24 proto tcp dport {lo}-{lo + 1} action discard"
    if kind == 5:  # forwarded traffic from elsewhere
        return f"dir fwd src {host}/32 dst 10.1.0.0/24 {DECOY_TMPL}"
    if kind == 6:  # inbound, ICMP of one type and code
        return f"dir in src {host}/32 dst 0.0.0.0/0 proto icmp sport 8 dport 0 action discard"
    return f"dir out src fd01::/64 dst fd09::{k:x}/128 action discard"


LATE = [
    # Same destination length, shorter source: less specific than the tunnel's out policy.
    "dir out src 10.1.0.0/16 dst 10.2.0.0/24 action discard",
    # The tunnel's selector at a worse priority.
    "dir out src 10.1.0.0/24 dst 10.2.0.0/24 priority 5 action discard",
    # The forward direction's, less specific.
    "dir fwd src 10.2.0.0/16 dst 10.1.0.0/24 action discard",
]


def main(argv):
    if len(argv) != 2 or not argv[1].isdigit():
        sys.exit(__doc__)
    count = int(argv[1])
    lines = [decoy(k) for k in range(count - len(LATE))] + LATE
    sys.stdout.write("".join(f"{PREFIX} {line}\n" for line in lines))


if __name__ == "__main__":
    main(sys.argv)
