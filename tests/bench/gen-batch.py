#!/usr/bin/env python3
"""Bulk configuration for the benchmark: prints `ikeuser batch` lines for extra SAs or policies
that the measured flow never uses (scripts/bench; runs in the VM).

  gen-batch.py sa     FIRST COUNT LOCAL KEYHEX
  gen-batch.py policy FIRST COUNT DIR LOCAL LOCAL_NET
  gen-batch.py xfrm-sa ... / xfrm-policy ...   the same entries as `ip -batch` lines (XFRM)

Entry i (FIRST <= i < FIRST+COUNT) belongs to a made-up peer: gateway 198.18.0.0 + i
(198.18.0.0/15, room for 131072 peers), host 172.16.0.0 + i behind it, reqid 1000 + i.

sa: SPI 0x100000 + i, AES-GCM-128 tunnel mode, alternately inbound (peer -> LOCAL) and
    outbound (LOCAL -> peer), so both the SPI index and the reqid index grow.
policy: DIR out: LOCAL_NET -> host/32; DIR in: host/32 -> LOCAL_NET; protect through the
    peer's gateway. A /32 destination (out) or source (in) is more specific than the measured
    /24 policy, so at equal priority these come first in SPD order and a linear lookup has to
    look at all of them before it reaches the measured flow's policy: the worst case, on purpose.
"""
import sys


def ip4(n):
    return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def peer(i):
    """The made-up peer i: its gateway and the host behind it."""
    return ip4((198 << 24 | 18 << 16) + i), ip4((172 << 24 | 16 << 16) + i)


def sa_lines(first, count, local, key):
    for i in range(first, first + count):
        gw, _ = peer(i)
        src, dst = (gw, local) if i % 2 == 0 else (local, gw)
        yield (f"sa add src {src} dst {dst} proto esp spi {0x100000 + i:#x} reqid {1000 + i} "
               f"mode tunnel alg aes128gcm16 key 0x{key}")


def policy_lines(first, count, direction, local, local_net):
    for i in range(first, first + count):
        gw, host = peer(i)
        if direction == "out":
            sel, tmpl = f"src {local_net} dst {host}/32", f"src {local} dst {gw}"
        else:
            sel, tmpl = f"src {host}/32 dst {local_net}", f"src {gw} dst {local}"
        yield f"policy add dir {direction} {sel} tmpl proto esp mode tunnel reqid {1000 + i} {tmpl}"


def xfrm_lines(ripsec_lines):
    """The same entries as `ip -batch` lines for XFRM."""
    for line in ripsec_lines:
        w = line.split()
        if w[0] == "sa":
            # sa add src S dst D proto esp spi X reqid R mode tunnel alg A key 0xK
            key = w[w.index("key") + 1]
            yield (f"xfrm state add src {w[3]} dst {w[5]} proto esp spi {w[9]} reqid {w[11]} "
                   f"mode tunnel aead rfc4106(gcm(aes)) {key} 128")
        else:
            # policy add dir D src S dst D tmpl proto esp mode tunnel reqid R src S dst D
            t = w.index("tmpl")
            yield (f"xfrm policy add dir {w[3]} src {w[5]} dst {w[7]} tmpl src {w[t + 8]} "
                   f"dst {w[t + 10]} proto esp reqid {w[t + 6]} mode tunnel")


def main(argv):
    xfrm = len(argv) > 1 and argv[1].startswith("xfrm-")
    if xfrm:
        argv = [argv[0], argv[1][len("xfrm-"):]] + argv[2:]
    if len(argv) == 6 and argv[1] == "sa":
        lines = sa_lines(int(argv[2]), int(argv[3]), argv[4], argv[5])
    elif len(argv) == 7 and argv[1] == "policy" and argv[4] in ("in", "out"):
        lines = policy_lines(int(argv[2]), int(argv[3]), argv[4], argv[5], argv[6])
    else:
        sys.exit(__doc__)
    if int(argv[2]) + int(argv[3]) > 131072:
        sys.exit("gen-batch.py: at most 131072 entries")
    if xfrm:
        lines = xfrm_lines(lines)
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv)
