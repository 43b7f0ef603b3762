"""Crafted plaintext with IPv6 extension headers, IP options and fragments, for the tests that
check none of it slips past a protect policy (tests/vm/72-exthdr.sh, 70-attacks.sh). Run inside
a netns. Packets are built here byte by byte (scapy takes a minute to import under TCG); the
host tests of the builders are in `selftest`.

  cases 4|6                      the case names for a family
  run NS SRC DST DPORT TAG IFACE|- DMAC|- CASE...
                                 each case as a UDP datagram to DST:DPORT carrying TAG-CASE:
                                 injected on IFACE towards DMAC (the sender's stack never sees
                                 it), or with "-" sent through the local stack (raw socket); after
                                 each, prints "CASE reason=delta ..." for the drop counters of
                                 ripsec in netns NS that moved
  app SRC DST DPORT TAG [hopopts|dstopts] [SIZE]
                                 an ordinary UDP socket's datagram, with IPV6_HOPOPTS/IPV6_DSTOPTS
  listen ADDR PORT SECONDS       print the payload of every UDP datagram that arrives, one a line
  capture IFACE SECONDS NEEDLE   until SIGTERM or SECONDS pass, count the frames leaving IFACE
                                 that contain NEEDLE, the ESP frames, and the ESP frames behind
                                 an IPv6 options header (also those arriving), and the longest
                                 frame that arrived (GRO makes them longer than the MTU)
  nest SPI KEY OSRC ODST ISRC IDST DEPTH SEQ TAG IFACE DMAC
                                 a UDP datagram ISRC -> IDST:7777 carrying TAG, in DEPTH layers of
                                 tunnel-mode AES-GCM-128 ESP (OSRC -> ODST, SPI, KEY with salt,
                                 sequence numbers from SEQ), injected on IFACE
  selftest                       check the builders against known packets
"""
import ipaddress
import os
import select
import signal
import socket
import struct
import sys
import time

IPV6_HOPOPTS, IPV6_DSTOPTS = 54, 59
HOP, ROUTING, FRAG, DEST, UDP_P, ESP_P = 0, 43, 44, 60, 17, 50


def addr(a):
    return ipaddress.ip_address(a).packed


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp(src, dst, sport, dport, data):
    """A UDP header and data, checksum over the pseudo-header of SRC and DST."""
    length = 8 + len(data)
    hdr = struct.pack("!HHHH", sport, dport, length, 0)
    s, d = addr(src), addr(dst)
    if len(s) == 4:
        pseudo = s + d + struct.pack("!BBH", 0, UDP_P, length)
    else:
        pseudo = s + d + struct.pack("!IxxxB", length, UDP_P)
    c = csum(pseudo + hdr + data) or 0xFFFF
    return hdr[:6] + struct.pack("!H", c) + data


def ipv6(src, dst, nh, payload):
    return struct.pack("!IHBB", 6 << 28, len(payload), nh, 64) + addr(src) + addr(dst) + payload


def ipv4(src, dst, proto, payload, ident=0, frag=0, more=False, options=b""):
    ihl = 5 + len(options) // 4
    flags_off = (0x2000 if more else 0) | frag
    hdr = struct.pack("!BBHHHBBH", 0x40 | ihl, 0, 4 * ihl + len(payload), ident, flags_off, 64, proto, 0)
    hdr += addr(src) + addr(dst) + options
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload


def opts(nh, pad=4):
    """A hop-by-hop or destination options header holding one PadN option."""
    body = bytes([1, pad]) + b"\0" * pad
    return bytes([nh, (2 + len(body)) // 8 - 1]) + body


def routing0(nh, via):
    """A type 0 routing header with segments left 0."""
    return bytes([nh, 2, 0, 0]) + b"\0" * 4 + addr(via)


def fraghdr(nh, offset, more, ident):
    return struct.pack("!BBHI", nh, 0, (offset << 3) | int(more), ident)


def v6_frags(src, dst, payload, nh, size, ident):
    """PAYLOAD (what follows the fragment header) in fragments of SIZE bytes (a multiple of 8)."""
    out = []
    for at in range(0, len(payload), size):
        more = at + size < len(payload)
        out.append(ipv6(src, dst, FRAG, fraghdr(nh, at // 8, more, ident) + payload[at:at + size]))
    return out


def v6_cases(src, dst, dport, tag):
    def dgram(extra=b""):
        return udp(src, dst, 1000, dport, tag + extra)

    whole = dgram(b"." * 160)
    # 16-byte destination options: the tiny first fragment ends in the middle of it.
    dest16 = opts(UDP_P, 12)
    return {
        "plain": [ipv6(src, dst, UDP_P, dgram())],
        "hop-by-hop": [ipv6(src, dst, HOP, opts(UDP_P) + dgram())],
        "dest-opts": [ipv6(src, dst, DEST, opts(UDP_P) + dgram())],
        "routing": [ipv6(src, dst, ROUTING, routing0(UDP_P, dst) + dgram())],
        "several": [ipv6(src, dst, HOP, opts(DEST) + opts(ROUTING) + routing0(DEST, dst) + opts(UDP_P) + dgram())],
        "atomic": [ipv6(src, dst, FRAG, fraghdr(UDP_P, 0, False, 0x4321) + dgram())],
        "two-fragments": v6_frags(src, dst, whole, UDP_P, 112, 0x1111),
        "three-fragments": v6_frags(src, dst, whole, UDP_P, 72, 0x2222),
        # The second fragment rewrites bytes 32-63 of the first (RFC 5722 forbids overlaps).
        "overlapping": [
            ipv6(src, dst, FRAG, fraghdr(UDP_P, 0, True, 0x3333) + whole[:64]),
            ipv6(src, dst, FRAG, fraghdr(UDP_P, 4, False, 0x3333) + b"x" * 32 + whole[64:]),
        ],
        # The first fragment ends inside the destination options; UDP is in the second one.
        "tiny-first": [
            ipv6(src, dst, FRAG, fraghdr(DEST, 0, True, 0x5555) + dest16[:8]),
            ipv6(src, dst, FRAG, fraghdr(DEST, 1, False, 0x5555) + dest16[8:] + whole),
        ],
        # A middle fragment whose length is no multiple of 8: reassembly refuses to queue it,
        # so it reaches the hooks as a lone later fragment.
        "odd-middle": [ipv6(src, dst, FRAG, fraghdr(UDP_P, 4, True, 0x6666) + whole[32:45])],
        # The same, claiming to be ESP: a later fragment's next header is the sender's word.
        "esp-middle": [ipv6(src, dst, FRAG, fraghdr(ESP_P, 4, True, 0x7777) + whole[32:45])],
    }


def v4_frags(src, dst, payload, size, ident):
    return [ipv4(src, dst, UDP_P, payload[at:at + size], ident, at // 8, at + size < len(payload))
            for at in range(0, len(payload), size)]


def v4_cases(src, dst, dport, tag):
    whole = udp(src, dst, 1000, dport, tag + b"." * 160)
    plain = udp(src, dst, 1000, dport, tag)
    return {
        "plain": [ipv4(src, dst, UDP_P, plain)],
        "options": [ipv4(src, dst, UDP_P, plain, options=b"\x01\x01\x01\x00")],
        "two-fragments": v4_frags(src, dst, whole, 96, 0x1111),
        "three-fragments": v4_frags(src, dst, whole, 64, 0x2222),
        "overlapping": [
            ipv4(src, dst, UDP_P, whole[:64], 0x3333, 0, True),
            ipv4(src, dst, UDP_P, b"x" * 32 + whole[64:], 0x3333, 4),
        ],
        # A later fragment alone: it never completes a datagram.
        "lone-later": [ipv4(src, dst, UDP_P, whole[32:], 0x4444, 4)],
    }


def cases(family, src, dst, dport, tag):
    return (v6_cases if family == "6" else v4_cases)(src, dst, dport, tag)


class Counters:
    """ripsec's global counters in netns NS, read over the generic netlink family (a netlink
    socket opened in that netns): a read takes microseconds, `ikeuser stats` seconds in the VM."""

    def __init__(self, ns):
        import ctypes
        import yaml

        spec = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "../../rust/proto/ripsec.yaml")))
        attrs = {s["name"]: s["attributes"] for s in spec["attribute-sets"]}
        number = lambda lst, name: next(i for i, a in enumerate(lst, 1) if a["name"] == name)  # noqa: E731
        self.stats_attr = number(attrs["ripsec"], "stats")
        self.names = {i: a["name"] for i, a in enumerate(attrs["stats"], 1)}
        self.cmd = next(o["value"] for o in spec["operations"]["list"] if o["name"] == "get-stats")
        self.version = spec["version"]
        libc = ctypes.CDLL(None, use_errno=True)
        home = open("/proc/self/ns/net")
        with open(f"/run/netns/{ns}") as target:
            if libc.setns(target.fileno(), 0x40000000) != 0:  # CLONE_NEWNET
                raise OSError(ctypes.get_errno(), f"setns into {ns}")
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)  # NETLINK_GENERIC
        libc.setns(home.fileno(), 0x40000000)
        self.family = self.resolve("ripsec")

    def request(self, family, cmd, version, attrs=b""):
        msg = struct.pack("=BBH", cmd, version, 0) + attrs
        self.sock.send(struct.pack("=IHHII", 16 + len(msg), family, 1, 1, 0) + msg)  # NLM_F_REQUEST
        reply = self.sock.recv(65536)
        length, kind = struct.unpack("=IH", reply[:6])
        if kind == 2:  # NLMSG_ERROR
            raise OSError(-struct.unpack("=i", reply[16:20])[0], "netlink request failed")
        return reply[20:length]

    def resolve(self, name):
        raw_name = name.encode() + b"\0"
        attr = struct.pack("=HH", 4 + len(raw_name), 2) + raw_name + b"\0" * (-len(raw_name) % 4)
        for ty, data in attributes(self.request(0x10, 3, 1, attr)):  # CTRL_CMD_GETFAMILY
            if ty == 1:  # CTRL_ATTR_FAMILY_ID
                return struct.unpack("=H", data[:2])[0]
        raise OSError("no generic netlink family ripsec")

    def stats(self):
        """Every 64-bit counter of the netns, by name."""
        for ty, data in attributes(self.request(self.family, self.cmd, self.version)):
            if ty & 0x3FFF == self.stats_attr:
                return {self.names[t]: struct.unpack("=Q", d)[0] for t, d in attributes(data)
                        if t in self.names and len(d) == 8}
        raise OSError("GET_STATS reply without stats")

    def drops(self):
        return {k: v for k, v in self.stats().items() if k.startswith("drop-")}


def attributes(data):
    """(type, payload) of each netlink attribute in DATA."""
    at = 0
    while at + 4 <= len(data):
        length, ty = struct.unpack("=HH", data[at:at + 4])
        if length < 4:
            break
        yield ty, data[at + 4:at + length]
        at += (length + 3) & ~3


class Emitter:
    """Sends IP packets on IFACE towards DMAC, or with "-" through the local stack."""

    def __init__(self, iface, dmac):
        self.l2 = None
        if iface != "-":
            self.l2 = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            self.l2.bind((iface, 0))
            self.eth = bytes.fromhex(dmac.replace(":", "")) + self.l2.getsockname()[4]

    def send(self, pkt):
        v6 = pkt[0] >> 4 == 6
        if self.l2:
            self.l2.send(self.eth + (b"\x86\xdd" if v6 else b"\x08\x00") + pkt)
            return
        dst = str(ipaddress.ip_address(pkt[24:40] if v6 else pkt[16:20]))
        s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        try:
            s.sendto(pkt, (dst, 0))
        except PermissionError:
            pass  # a netfilter hook dropped it: what the caller checks in the counters
        finally:
            s.close()


def cmd_run(ns, src, dst, dport, tag, iface, dmac, *names):
    family = "6" if ":" in dst else "4"
    out = Emitter(iface, dmac)
    counters = Counters(ns)
    after = counters.drops()
    for name in names:
        before = after
        for p in cases(family, src, dst, int(dport), f"{tag}-{name}".encode())[name]:
            out.send(p)
            time.sleep(0.01)
        time.sleep(0.1)
        after = counters.drops()
        moved = " ".join(f"{k}={after[k] - before.get(k, 0)}" for k in sorted(after) if after[k] != before.get(k, 0))
        print(f"{name} {moved}".rstrip(), flush=True)


def cmd_app(src, dst, dport, tag, opt="", size="0"):
    v6 = ":" in dst
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    if opt:
        # An 8-byte options header: next header, length 0, PadN of 4.
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_HOPOPTS if opt == "hopopts" else IPV6_DSTOPTS,
                     bytes([0, 0, 1, 4, 0, 0, 0, 0]))
    payload = tag.encode() + b"." * max(0, int(size) - len(tag))
    s.sendto(payload, (dst, int(dport)))


def cmd_listen(address, port, seconds):
    v6 = ":" in address
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((address, int(port)))
    end = time.time() + float(seconds)
    print("listening", flush=True)
    while (left := end - time.time()) > 0:
        if select.select([s], [], [], left)[0]:
            data = s.recv(65535)
            print(data.split(b".")[0].decode(errors="replace"), len(data), flush=True)


def esp_gcm(spi, seq, key, inner, next_header):
    """A tunnel-mode ESP payload (RFC 4106): KEY is the AES key followed by the 4-byte salt."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    pad = (-(len(inner) + 2)) % 4
    plain = inner + bytes(range(1, pad + 1)) + bytes([pad, next_header])
    iv = struct.pack("!Q", seq)
    head = struct.pack("!II", spi, seq)
    return head + iv + AESGCM(key[:-4]).encrypt(key[-4:] + iv, plain, head)


def cmd_nest(spi, key, osrc, odst, isrc, idst, depth, seq, tag, iface, dmac):
    v6 = ":" in odst
    pkt = (ipv6 if ":" in idst else ipv4)(isrc, idst, UDP_P, udp(isrc, idst, 1000, 7777, tag.encode()))
    for n in range(int(depth)):
        nh = 41 if pkt[0] >> 4 == 6 else 4
        esp = esp_gcm(int(spi, 0), int(seq) + n, bytes.fromhex(key), pkt, nh)
        pkt = ipv6(osrc, odst, ESP_P, esp) if v6 else ipv4(osrc, odst, ESP_P, esp)
    Emitter(iface, dmac).send(pkt)


def cmd_capture(iface, seconds, needle):
    """Counts what leaves IFACE (frames that decrypting peers re-inject on it are not on the
    wire), and ESP behind options headers in both directions."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((iface, 0))
    end = time.time() + float(seconds)
    hits = esp = behind = behind_in = longest_in = 0
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("capturing", flush=True)
    while (left := end - time.time()) > 0:
        # Told to stop, it still counts what is queued already: no pause needed before SIGTERM.
        if not select.select([s], [], [], 0 if stop else min(left, 0.2))[0]:
            if stop:
                break
            continue
        frame, (_, _, pkttype, _, _) = s.recvfrom(65535)
        ethertype = frame[12:14]
        # ESP behind a hop-by-hop or destination options header.
        is_behind = ethertype == b"\x86\xdd" and frame[20] in (0, 60) and len(frame) > 54 and frame[54] == 50
        if pkttype != socket.PACKET_OUTGOING:
            behind_in += is_behind
            longest_in = max(longest_in, len(frame))
            continue
        behind += is_behind
        esp += (ethertype == b"\x08\x00" and frame[23] == 50) or (ethertype == b"\x86\xdd" and frame[20] == 50)
        if needle.encode() in frame:
            hits += 1
            if hits <= 5:
                print("in the clear:", frame[:96].hex(), flush=True)
    print(f"plaintext {hits} esp {esp} esp-behind-options {behind} in-esp-behind-options {behind_in}"
          f" longest-in {longest_in}", flush=True)


def selftest():
    # RFC 1071's example sums.
    assert csum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    # The security report's probe: hop-by-hop with PadN, then UDP 1000 -> 7777 "plaintext-probe".
    want = bytes.fromhex("60000000001f0040fd000000000000000000000000000002fd00000000000000000000000000000111"
                         "0001040000000003e81e61001784ad706c61696e746578742d70726f6265")
    got = ipv6("fd00::2", "fd00::1", HOP, opts(UDP_P) + udp("fd00::2", "fd00::1", 1000, 7777, b"plaintext-probe"))
    assert got == want, got.hex()
    # An IPv4 header sums to zero with its checksum.
    assert csum(ipv4("10.0.0.1", "10.0.0.2", UDP_P, b"x" * 8, options=b"\x01" * 4)[:24]) == 0
    # Fragments put together give back the datagram.
    for family, src, dst in (("6", "fd02::1", "fd01::1"), ("4", "10.2.0.1", "10.1.0.1")):
        c = cases(family, src, dst, 7777, b"t")
        whole = udp(src, dst, 1000, 7777, b"t" + b"." * 160)
        hl, off_of = (48, lambda p: struct.unpack("!H", p[42:44])[0] >> 3) if family == "6" else \
            (20, lambda p: struct.unpack("!H", p[6:8])[0] & 0x1FFF)
        for name in ("two-fragments", "three-fragments"):
            pieces = c[name]
            assert len(pieces) == (2 if name[0] == "t" and name[1] == "w" else 3), (family, name, len(pieces))
            data = b"".join(p[hl:] for p in sorted(pieces, key=off_of))
            assert data == whole, (family, name)
    print("frag_probe selftest ok")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "cases":
        print(" ".join(cases(args[0], "::1" if args[0] == "6" else "127.0.0.1", "::1" if args[0] == "6" else "127.0.0.1", 1, b"x")))
    elif cmd == "run":
        cmd_run(*args)
    elif cmd == "app":
        cmd_app(*args)
    elif cmd == "listen":
        cmd_listen(*args)
    elif cmd == "nest":
        cmd_nest(*args)
    elif cmd == "capture":
        cmd_capture(*args)
    elif cmd == "selftest":
        selftest()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
