"""AH (RFC 4302) checked by an independent implementation: scapy's (python3-scapy).

  /usr/bin/python3 tests/vm/ah_check.py verify PCAP --sa SPEC [--sa SPEC ...] [--min-per-sa N]
      Every AH packet of PCAP (IPv4 fragments reassembled) must belong to a given SA and
      pass scapy's ICV check (mutable fields zeroed as scapy does it). Prints one line per SA; exit 0 only if every frame
      passed and each SA had at least N (default 1) frames.
  /usr/bin/python3 tests/vm/ah_check.py send SRC DST --sa SPEC SEQ[:KIND]...
      Sends, in order, ICMP echo requests SRC -> DST in transport-mode AH under SPEC, made by
      scapy with sequence number SEQ, then spoiled by KIND: ttl (TTL / hop limit and TOS /
      traffic class changed after signing: must pass), flip (one byte of the ICMP payload
      flipped), truncate (the ICV cut short), length (AH's payload length two words too
      long), spi (SPI + 1).

  SPEC = spi=0x1000,alg=sha1|sha256|sha384|sha512,key=0xHEX[,esn=1]
"""
import argparse
import socket
import sys

from scapy.all import ICMP, IP, IPv6, ICMPv6EchoRequest, Raw, defragment, rdpcap
from scapy.layers.ipsec import AH, IPSecIntegrityError, SecurityAssociation

SCAPY_ALGS = {
    "sha1": "HMAC-SHA1-96",
    "sha256": "SHA2-256-128",
    "sha384": "SHA2-384-192",
    "sha512": "SHA2-512-256",
}


def parse_sa(spec):
    f = dict(kv.split("=", 1) for kv in spec.split(","))
    spi = int(f["spi"], 0)
    sa = SecurityAssociation(
        AH,
        spi=spi,
        auth_algo=SCAPY_ALGS[f["alg"]],
        auth_key=bytes.fromhex(f["key"].removeprefix("0x")),
        esn_en=f.get("esn") == "1",
    )
    return spi, sa


def ip_layer(frame):
    """The IP packet of an Ethernet or cooked capture frame."""
    for layer in (IP, IPv6):
        if frame.haslayer(layer):
            return frame[layer]
    return None


def verify(args):
    sas = dict(parse_sa(s) for s in args.sa)
    good = {spi: 0 for spi in sas}
    bad = 0
    # Transport-mode AH larger than the MTU leaves as IPv4 fragments: check the datagram.
    packets = [p for p in (ip_layer(f) for f in rdpcap(args.pcap)) if p is not None]
    v4 = defragment([p for p in packets if isinstance(p, IP)])
    for pkt in list(v4) + [p for p in packets if isinstance(p, IPv6)]:
        if not pkt.haslayer(AH):
            continue
        spi = pkt[AH].spi
        if spi not in sas:
            print(f"AH frame with unknown SPI 0x{spi:08x}")
            bad += 1
            continue
        # Parse the IP packet afresh: scapy zeroes fields on its own copy.
        again = pkt.__class__(bytes(pkt))
        try:
            sas[spi].decrypt(again)
            good[spi] += 1
        except IPSecIntegrityError as e:
            print(f"SPI 0x{spi:08x}: ICV bad ({e}); packet {bytes(pkt).hex()}")
            bad += 1
    ok = bad == 0
    for spi, n in good.items():
        enough = n >= args.min_per_sa
        ok = ok and enough
        print(f"SPI 0x{spi:08x}: {n} AH frames with a good ICV (scapy){'' if enough else ' - too few'}")
    return 0 if ok else 1


def spoil(pkt, kind, v6):
    raw = bytearray(bytes(pkt))
    ah_at = 40 if v6 else (raw[0] & 0x0F) * 4
    if kind == "ttl":
        if v6:
            raw[7] = 3
            raw[0:2] = bytes([0x6B, 0x80])
        else:
            raw[8] = 3
            raw[1] = 0x28
            raw[10:12] = b"\0\0"
            raw[10:12] = ip_checksum(raw[:20]).to_bytes(2, "big")
    elif kind == "flip":
        raw[-1] ^= 0x01
    elif kind == "truncate":
        del raw[ah_at + 14 :]
        fix_length(raw, v6)
    elif kind == "length":
        raw[ah_at + 1] += 2
    elif kind == "spi":
        raw[ah_at + 7] ^= 0x01
    return bytes(raw)


def ip_checksum(hdr):
    s = sum(int.from_bytes(hdr[i : i + 2], "big") for i in range(0, len(hdr), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def fix_length(raw, v6):
    if v6:
        raw[4:6] = (len(raw) - 40).to_bytes(2, "big")
    else:
        raw[2:4] = len(raw).to_bytes(2, "big")
        raw[10:12] = b"\0\0"
        raw[10:12] = ip_checksum(raw[:20]).to_bytes(2, "big")


KINDS = ("ttl", "flip", "truncate", "length", "spi")


def send_all(args):
    _, sa = parse_sa(args.sa[0])
    v6 = ":" in args.dst
    # IPPROTO_RAW sends the packet as it is (IPv4: length and checksum filled in).
    family = socket.AF_INET6 if v6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
        for spec in args.packets:
            seq, _, kind = spec.partition(":")
            seq = int(seq)
            if kind and kind not in KINDS:
                sys.exit(f"unknown attack {kind}; one of {', '.join(KINDS)}")
            if v6:
                pkt = IPv6(src=args.src, dst=args.dst) / ICMPv6EchoRequest(id=7, seq=seq, data=b"ah" * 16)
            else:
                pkt = IP(src=args.src, dst=args.dst, flags="DF") / ICMP(id=7, seq=seq) / Raw(b"ah" * 16)
            signed = sa.encrypt(pkt, seq_num=seq)
            s.sendto(spoil(signed, kind, v6) if kind else bytes(signed), (args.dst, 0))
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify")
    v.add_argument("pcap")
    v.add_argument("--sa", action="append", required=True)
    v.add_argument("--min-per-sa", type=int, default=1)
    s = sub.add_parser("send")
    s.add_argument("src")
    s.add_argument("dst")
    s.add_argument("--sa", action="append", required=True)
    s.add_argument("packets", nargs="+", metavar="SEQ[:KIND]")
    args = p.parse_args()
    return verify(args) if args.cmd == "verify" else send_all(args)


if __name__ == "__main__":
    sys.exit(main())
