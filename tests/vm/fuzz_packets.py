"""Fuzzes ripsec's packet input: ESP, AH and ESP in UDP, tunnel and transport mode, IPv4 and
IPv6, with IP options, IPv6 extension headers and fragments. Every packet is built here, with
the SAs' keys, so that many are authentic up to one fault (bad padding, next header, trailer,
inner packet) and reach the code behind the ICV check. Run as root in the VM:

  fuzz_packets.py [--seed N] [--count N] [--systematic] [--batch N]

It makes two netns (fz-a holds the SAs, fz-b injects Ethernet frames on the veth between them
through a packet socket), loads ripsec.ko if needed, and sends:
  --systematic  per SA: valid packets (also fragmented, behind options), every truncation of
                the ESP/AH part, bad ICV, unknown SPI, replays, encapsulation mismatches and
                authentic packets with bad trailers, next headers and inner packets; each class
                in its own batch, each packet's drop reason checked exactly
  --count N     N random packets: valid ones, and valid ones mutated (bytes flipped, cut,
                appended, garbage after a valid SPI), in batches of --batch

After each batch it reads ripsec's counters: every invalid packet is dropped and counted once,
under its reason where that is determined, every valid one arrives at its UDP socket (its id in
the payload), nothing invalid does. Prints a summary; exits 1 on any violation.
"""
import argparse
import ctypes
import hashlib
import hmac
import os
import random
import re
import select
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import frag_probe as fp  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
NS_A, NS_B = "fz-a", "fz-b"
A4, B4, A6, B6 = "10.99.0.1", "10.99.0.2", "fd99::1", "fd99::2"
IN4, IN6 = "10.98.1.1", "fd98:1::1"  # tunnel-mode inner destination, on A's loopback
TUN_PORT = 7777
ESP_P, AH_P, UDP_P, IPIP, IPV6 = 50, 51, 17, 4, 41
NAT_T = 4500


class Sa:
    """One inbound SA of A and how to build its packets."""

    def __init__(self, n, name, proto, mode, v6, alg, encap=False):
        self.name, self.proto, self.mode, self.v6, self.alg, self.encap = name, proto, mode, v6, alg, encap
        self.spi = 0xC0DE0000 + n
        self.reqid = n
        self.seq = 0
        self.key = hashlib.sha512(name.encode()).digest()[:{"aes128gcm16": 20, "aes128-sha256": 48,
                                                               "sha256": 32}[alg]]
        self.src, self.dst = (B6, A6) if v6 else (B4, A4)
        self.tunnel = mode == "tunnel"
        if self.tunnel:
            self.inner_src = f"fd98:{n + 10}::1" if v6 else f"10.98.{n + 10}.1"
            self.inner_dst = IN6 if v6 else IN4
            self.port = TUN_PORT
        else:
            self.inner_src, self.inner_dst = self.src, self.dst
            self.port = 7780 + n
        self.icv_len = 16
        self.iv_len = {"aes128gcm16": 8, "aes128-sha256": 16}.get(alg, 0)
        self.gcm = AESGCM(self.key[:16]) if alg == "aes128gcm16" else None

    def next_seq(self):
        self.seq += 1
        return self.seq

    def config(self):
        k = "0x" + self.key.hex()
        enc = f" encap espinudp {NAT_T} {NAT_T}" if self.encap else ""
        sa = (f"sa add src {self.src} dst {self.dst} proto {self.proto} spi {self.spi:#x} reqid {self.reqid} "
              f"mode {self.mode} alg {self.alg} key {k} replay-window 64{enc}")
        if self.tunnel:
            plen = 64 if self.v6 else 24
            net = self.inner_src.rsplit(":", 2)[0] + "::" if self.v6 else self.inner_src.rsplit(".", 1)[0] + ".0"
            sel = f"src {net}/{plen} dst {self.inner_dst}/{128 if self.v6 else 32}"
            tmpl = f"tmpl proto {self.proto} mode tunnel reqid {self.reqid} src {self.src} dst {self.dst}"
        else:
            sel = f"src {self.src}/{128 if self.v6 else 32} dst {self.dst}/{128 if self.v6 else 32} proto udp dport {self.port}"
            tmpl = f"tmpl proto {self.proto} mode transport reqid {self.reqid}"
        return [sa, f"policy add dir in {sel} {tmpl}"]

    # --- the inner packet ---------------------------------------------------------------------

    def inner(self, pid, extra=0, src=None):
        """What the SA carries, with PID in its UDP payload, and the next header naming it."""
        data = b"fz%d." % pid + b"." * extra
        src = src or self.inner_src
        dgram = fp.udp(src, self.inner_dst, 1000, self.port, data)
        if not self.tunnel:
            return dgram, UDP_P
        if self.v6:
            return fp.ipv6(src, self.inner_dst, UDP_P, dgram), IPV6
        return fp.ipv4(src, self.inner_dst, UDP_P, dgram), IPIP

    # --- ESP -----------------------------------------------------------------------------------

    def block(self):
        return 16 if self.alg == "aes128-sha256" else 4

    def trailer(self, body, nh, min_pad=0):
        pad = (-(len(body) + 2)) % self.block()
        if pad < min_pad:
            pad += self.block()
        return body + bytes(range(1, pad + 1)) + bytes([pad, nh])

    def esp_raw(self, seq, plain, spi=None):
        """ESP with PLAIN (body, padding, pad length, next header) as is, authentic."""
        head = struct.pack("!II", self.spi if spi is None else spi, seq & 0xFFFFFFFF)
        if self.alg == "aes128gcm16":
            iv = os.urandom(8)
            return head + iv + self.gcm.encrypt(self.key[16:] + iv, plain, head)
        iv = os.urandom(16)
        whole = plain[: len(plain) // 16 * 16]
        enc = Cipher(algorithms.AES(self.key[:16]), modes.CBC(iv)).encryptor()
        ct = enc.update(whole) + enc.finalize() + plain[len(whole):]  # a ragged tail stays as is
        return head + iv + ct + hmac.new(self.key[16:], head + iv + ct, hashlib.sha256).digest()[:16]

    def esp(self, seq, body, nh):
        return self.esp_raw(seq, self.trailer(body, nh))

    # --- AH ------------------------------------------------------------------------------------

    def ah_len(self):
        n = 12 + self.icv_len
        return n + (-n % 8 if self.v6 else 0)

    def ah(self, seq, payload, nh, ip_front):
        """AH for PAYLOAD; IP_FRONT(l4) gives the IP header(s) in front of it, for the ICV."""
        ah = bytearray(struct.pack("!BBHII", nh, self.ah_len() // 4 - 2, 0, self.spi, seq & 0xFFFFFFFF))
        ah += bytes(self.ah_len() - 12)
        l4 = bytes(ah) + payload
        front = bytearray(ip_front(l4)[: -len(l4)])
        if self.v6:
            front[0:4] = b"\x60\0\0\0"
            front[7] = 0
        else:
            front[1] = 0  # TOS
            front[6:9] = bytes(3)  # flags, fragment offset, TTL
            front[10:12] = bytes(2)  # checksum
        icv = hmac.new(self.key, bytes(front) + l4, hashlib.sha256).digest()[:16]
        ah[12:28] = icv
        return bytes(ah) + payload

    # --- the outer packet -----------------------------------------------------------------------

    def l4(self, seq, body, nh, ip_front=None):
        """The ESP or AH part of an authentic packet."""
        if self.proto == "esp":
            return self.esp(seq, body, nh)
        return self.ah(seq, body, nh, ip_front or (lambda l4: self.ip(l4)))

    def ip(self, l4, udp=None):
        """The outer IP packet around L4 (ESP in UDP when UDP, by default as the SA has it).
        The IPv4 identification is the last sequence number's: AH authenticates it."""
        udp = self.encap if udp is None else udp
        proto = ESP_P if self.proto == "esp" else AH_P
        if udp:
            l4, proto = fp.udp(self.src, self.dst, NAT_T, NAT_T, l4), UDP_P
        if self.v6:
            return fp.ipv6(self.src, self.dst, proto, l4)
        return fp.ipv4(self.src, self.dst, proto, l4, ident=self.seq & 0xFFFF)

    def frags(self, pkt, size, whole_headers=True):
        """PKT (whole, no extension headers) in IP fragments of SIZE bytes of payload. An IPv6
        first fragment holds all headers up to the upper layer's (RFC 8200 §4.5): AH, and UDP
        after it, when WHOLE_HEADERS."""
        if self.v6:
            if whole_headers and self.proto == "ah":
                size = max(size, (self.ah_len() + 8 + 7) // 8 * 8)
            return fp.v6_frags(self.src, self.dst, pkt[40:], pkt[6], size, random.getrandbits(32))
        ident = struct.unpack("!H", pkt[4:6])[0]
        proto = pkt[9]
        data = pkt[20:]
        return [fp.ipv4(self.src, self.dst, proto, data[at:at + size], ident, at // 8, at + size < len(data))
                for at in range(0, len(data), size)]


def with_exthdr(sa, l4, udp=None):
    """SA's packet with L4 behind hop-by-hop, destination options, routing and destination
    options (IPv6) or with NOP options (IPv4)."""
    udp = sa.encap if udp is None else udp
    proto = ESP_P if sa.proto == "esp" else AH_P
    if udp:
        l4, proto = fp.udp(sa.src, sa.dst, NAT_T, NAT_T, l4), UDP_P
    if sa.v6:
        hdrs = fp.opts(fp.DEST) + fp.opts(fp.ROUTING) + fp.routing0(fp.DEST, sa.dst) + fp.opts(proto)
        return fp.ipv6(sa.src, sa.dst, fp.HOP, hdrs + l4)
    return fp.ipv4(sa.src, sa.dst, proto, l4, ident=sa.seq & 0xFFFF, options=b"\x01\x01\x01\x00")


def make_sas():
    sas = [
        Sa(1, "esp-tun4", "esp", "tunnel", False, "aes128gcm16"),
        Sa(2, "esp-tun6", "esp", "tunnel", True, "aes128gcm16"),
        Sa(3, "esp-tr4", "esp", "transport", False, "aes128gcm16"),
        Sa(4, "esp-tr6", "esp", "transport", True, "aes128gcm16"),
        Sa(5, "cbc-tun4", "esp", "tunnel", False, "aes128-sha256"),
        Sa(6, "cbc-tr6", "esp", "transport", True, "aes128-sha256"),
        Sa(7, "udp-tun4", "esp", "tunnel", False, "aes128gcm16", encap=True),
        Sa(8, "udp-tr4", "esp", "transport", False, "aes128gcm16", encap=True),
        Sa(9, "udp-tun6", "esp", "tunnel", True, "aes128gcm16", encap=True),
        Sa(10, "ah-tr4", "ah", "transport", False, "sha256"),
        Sa(11, "ah-tr6", "ah", "transport", True, "sha256"),
        Sa(12, "ah-tun4", "ah", "tunnel", False, "sha256"),
        Sa(13, "ah-tun6", "ah", "tunnel", True, "sha256"),
    ]
    return sas


# --- packets and what must become of them -------------------------------------------------------

class Pkt:
    """Frames (IP packets) that make one packet, and what ripsec must do with it: "ok" (deliver
    PID), "dummy" (count, deliver nothing), "drop" (any one drop reason), a drop reason
    ("malformed", "auth", ...), or "none" (the stack drops it before ripsec sees it)."""
    __slots__ = ("frames", "want", "pid", "what", "opened")

    def __init__(self, frames, want, pid=None, what="", opened=False):
        self.frames, self.want, self.pid, self.what = frames, want, pid, what
        # Authentic (counted in packets-in) though dropped afterwards.
        self.opened = opened


class Gen:
    def __init__(self, sas, rng):
        self.sas, self.rng = sas, rng
        self.pid = 0
        self.pool = {}  # SA name -> authentic ESP/AH parts to mutate, far ahead in sequence

    def new_pid(self):
        self.pid += 1
        return self.pid

    def valid(self, sa, extra=None, shape="plain"):
        pid = self.new_pid()
        body, nh = sa.inner(pid, self.rng.randrange(0, 200) if extra is None else extra)
        seq = sa.next_seq()
        if shape == "exthdr":
            l4 = sa.l4(seq, body, nh, lambda l4: with_exthdr(sa, l4))
            frames = [with_exthdr(sa, l4)]
        else:
            l4 = sa.l4(seq, body, nh)
            whole = sa.ip(l4)
            frames = [whole]
            if shape == "frag":
                frames = sa.frags(whole, 8 * self.rng.randrange(3, 12))
                if self.rng.random() < 0.5:
                    frames.reverse()
        return Pkt(frames, "ok", pid, f"{sa.name} valid-{shape}")

    def authentic(self, sa, body, nh, want, what):
        """Authentic, with a fault found once it is opened."""
        return Pkt([sa.ip(sa.l4(sa.next_seq(), body, nh))], want, None, f"{sa.name} {what}", opened=True)

    def truncations(self, sa):
        """The ESP/AH part of a valid packet cut at every length."""
        body, nh = sa.inner(self.new_pid(), 20)
        l4 = sa.l4(sa.next_seq(), body, nh)
        out = []
        for n in range(len(l4)):
            if sa.proto == "ah":
                want = "malformed" if n < sa.ah_len() else "auth"
            else:
                cipher = n - 8 - sa.iv_len - sa.icv_len
                whole_blocks = cipher % (16 if sa.alg == "aes128-sha256" else 1) == 0
                want = "auth" if cipher >= 2 and whole_blocks else "malformed"
            out.append(Pkt([sa.ip(l4[:n])], want, None, f"{sa.name} cut-{n}"))
        return out

    def faults(self, sa):
        """Packets with one fault each, and the reason each must be dropped for."""
        out = []
        pid = self.new_pid()
        body, nh = sa.inner(pid, 30)
        l4 = bytearray(sa.l4(sa.next_seq(), body, nh))
        l4[-1] ^= 1
        out.append(Pkt([sa.ip(bytes(l4))], "auth", None, f"{sa.name} bad-icv"))
        other = bytearray(sa.l4(sa.next_seq(), body, nh))
        other[4 if sa.proto == "ah" else 0] ^= 0x40  # the SPI
        out.append(Pkt([sa.ip(bytes(other))], "no-sa", None, f"{sa.name} unknown-spi"))
        # ESP in UDP for an SA without it, native ESP for one with it.
        if sa.proto == "esp":
            out.append(Pkt([sa.ip(sa.l4(sa.next_seq(), body, nh), udp=not sa.encap)], "encap", None,
                           f"{sa.name} encap-mismatch"))
        if sa.proto == "ah":
            bad = bytearray(sa.l4(sa.next_seq(), body, nh))
            bad[1] = 2  # 16 bytes: shorter than AH with its ICV
            out.append(Pkt([sa.ip(bytes(bad))], "malformed", None, f"{sa.name} ah-len-short"))
            bad[1] = 200  # longer than the packet
            out.append(Pkt([sa.ip(bytes(bad))], "malformed", None, f"{sa.name} ah-len-long"))
        if sa.proto == "ah" and sa.v6:
            # AH naming a Fragment header: netfilter's IPv6 defragmentation drops one cut short
            # counted nowhere, and queues a whole one until it times out; ripsec counts both
            # first (seeds 13 and 14 found them).
            ah = bytearray(sa.l4(sa.next_seq(), body, nh))[:sa.ah_len()]
            ah[0] = 44
            out.append(Pkt([sa.ip(bytes(ah) + bytes(7))], "malformed", None, f"{sa.name} frag-header-cut"))
            last_fragment = struct.pack("!BBHI", UDP_P, 0, 2848 << 3, 0xD4B4A888) + bytes(121)
            out.append(Pkt([sa.ip(bytes(ah) + last_fragment)], "malformed", None, f"{sa.name} frag-behind-ah"))
        if sa.tunnel:
            out.append(self.authentic(sa, body, UDP_P, "policy", "tunnel-nh-udp"))
            out.append(self.authentic(sa, body, IPIP if nh == IPV6 else IPV6, "malformed", "tunnel-nh-family"))
            alien, anh = sa.inner(self.new_pid(), 0, src="fd97::1" if sa.v6 else "10.97.0.1")
            out.append(self.authentic(sa, alien, anh, "policy", "inner-outside-policy"))
            out.append(self.authentic(sa, body[:-3], nh, "malformed", "inner-cut"))
            out.append(self.authentic(sa, b"", nh, "malformed", "inner-empty"))
            bad_inner = bytearray(body)
            bad_inner[0] = (bad_inner[0] & 0x0F) | (0x40 if sa.v6 else 0x60)  # the other version
            out.append(self.authentic(sa, bytes(bad_inner), nh, "malformed", "inner-bad-header"))
        else:
            wrong_port = fp.udp(sa.src, sa.dst, 1000, sa.port + 100, b"fz0.")
            out.append(self.authentic(sa, wrong_port, UDP_P, "policy", "transport-outside-policy"))
        if sa.proto == "esp":
            bad_pad = bytearray(sa.trailer(body, nh, min_pad=1))
            bad_pad[-3] ^= 0x20
            esp_bad = [
                (bytes(bad_pad), "trailer", "bad-padding"),
                (body[:sa.block() - 2] + bytes([200, nh]), "trailer", "pad-length-too-long"),
            ]
            for plain, want, what in esp_bad:
                out.append(Pkt([sa.ip(sa.esp_raw(sa.next_seq(), plain))], want, None, f"{sa.name} {what}"))
            if sa.tunnel:
                out.append(Pkt([sa.ip(sa.esp_raw(sa.next_seq(), sa.trailer(b"", nh)))], "malformed", None,
                               f"{sa.name} trailer-only", opened=True))
            if sa.alg == "aes128-sha256":
                # Authentic, but the ciphertext is no multiple of the block size.
                ragged = sa.trailer(body, nh) + b"\x05" * 5
                out.append(Pkt([sa.ip(sa.esp_raw(sa.next_seq(), ragged))], "malformed", None,
                               f"{sa.name} cbc-ragged"))
            out.append(Pkt([sa.ip(sa.esp(sa.next_seq(), body, 59))], "dummy", None, f"{sa.name} dummy"))
        # Replays of a packet already accepted (sent just before): the same frames again.
        first = self.valid(sa, 10)
        out.append(first)
        out.append(Pkt(first.frames, "replay", None, f"{sa.name} replay"))
        # Authentic, fresh, but whose fragments are all needed: a bad one spoils the lot.
        spoilt = bytearray(sa.l4(sa.next_seq(), sa.inner(self.new_pid(), 100)[0], nh))
        spoilt[-1] ^= 0x80
        out.append(Pkt(sa.frags(sa.ip(bytes(spoilt)), 32), "auth", None, f"{sa.name} frag-bad-icv"))
        if sa.v6 and sa.proto == "ah":
            # The first fragment ends inside AH: the kernel does not reassemble it (RFC 8200
            # §4.5), ripsec drops it; the rest wait in the queue until it expires.
            cut = sa.frags(sa.ip(sa.l4(sa.next_seq(), body, nh)), 16, whole_headers=False)
            out.append(Pkt(cut, "fragment", None, f"{sa.name} frag-headers-split"))
        # Frames the IP layer drops before ripsec: a cut frame whose header claims more.
        whole = self.valid(sa, 10).frames[0]
        out.append(Pkt([whole[: len(whole) - 5]], "none", None, f"{sa.name} ip-cut"))
        return out

    def systematic(self):
        """Batches of (class name, packets)."""
        for sa in self.sas:
            yield f"{sa.name} valid", [self.valid(sa, shape=s) for s in ("plain", "frag", "exthdr") for _ in range(3)]
            yield f"{sa.name} truncated", self.truncations(sa)
            yield f"{sa.name} faults", self.faults(sa)

    # --- random ---------------------------------------------------------------------------------

    def mutate(self, sa, l4):
        rng = self.rng
        b = bytearray(l4)
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            op = rng.randrange(6)
            if op <= 2 and b:  # flip a byte
                at = rng.randrange(len(b))
                b[at] ^= rng.randrange(1, 256)
            elif op == 3:  # cut
                del b[rng.randrange(len(b) + 1):]
            elif op == 4:  # append
                b += rng.randbytes(rng.randrange(1, 40))
            else:  # insert
                at = rng.randrange(len(b) + 1)
                b[at:at] = rng.randbytes(rng.randrange(1, 20))
        if bytes(b) == l4:
            b.append(0)
        if sa.encap and (b[:4] == b"\0\0\0\0" or bytes(b) == b"\xff"):
            b[0] = 0xC0  # would be IKE or a keepalive, not ESP
        return bytes(b)

    def random_packet(self):
        rng = self.rng
        sa = rng.choice(self.sas)
        r = rng.random()
        if r < 0.1:
            return self.valid(sa, shape=rng.choice(("plain", "plain", "frag", "exthdr")))
        if r < 0.15:
            # Garbage behind a valid SPI and a fresh sequence number.
            hdr = struct.pack("!II", sa.spi, sa.next_seq()) if sa.proto == "esp" else \
                struct.pack("!BBHII", rng.randrange(256), rng.randrange(256), 0, sa.spi, sa.next_seq())
            return Pkt([sa.ip(hdr + rng.randbytes(rng.randrange(0, 300)))], "drop", None, f"{sa.name} garbage")
        bad = self.mutate(sa, rng.choice(self.pooled(sa)))
        shape = rng.random()
        if shape < 0.15 and sa.proto == "esp":
            frames = [with_exthdr(sa, bad)]
        else:
            frames = [sa.ip(bad)]
            if shape > 0.85 and len(bad) > 64:
                frames = sa.frags(frames[0], 8 * rng.randrange(3, 8))
        return Pkt(frames, "drop", None, f"{sa.name} mutated")

    def pooled(self, sa):
        """Authentic ESP/AH parts of SA (random next headers too) to mutate: built once (crypto
        is slow in Python under TCG), with sequence numbers the valid packets never reach; a
        mutated copy must be dropped all the same."""
        if sa.name not in self.pool:
            rng, pool = self.rng, []
            for i in range(48):
                body, nh = sa.inner(0, rng.randrange(0, 200))
                if sa.proto == "esp" and i % 3 == 0:
                    nh = rng.randrange(256)
                pool.append(sa.l4((1 << 31) + rng.getrandbits(30), body, nh))
            self.pool[sa.name] = pool
        return self.pool[sa.name]


# --- the VM side --------------------------------------------------------------------------------

def sh(*cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode:
        sys.exit(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    return r.stdout


def in_netns(ns, make):
    """MAKE() called inside netns NS (sockets stay in it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = open("/proc/self/ns/net")
    with open(f"/run/netns/{ns}") as target:
        if libc.setns(target.fileno(), 0x40000000) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {ns}")
        try:
            return make()
        finally:
            libc.setns(home.fileno(), 0x40000000)


class Vm:
    def __init__(self, sas):
        if not os.path.isdir("/sys/module/ripsec"):
            sh("insmod", os.environ.get("RIPSEC_KO", os.path.join(ROOT, "ripsec.ko")))
        for ns in (NS_A, NS_B):
            sh("ip", "netns", "del", ns, check=False)
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", "fa0", "netns", NS_A, "type", "veth", "peer", "fb0", "netns", NS_B)
        sh("ip", "-n", NS_A, "addr", "add", A4 + "/24", "dev", "fa0")
        sh("ip", "-n", NS_A, "addr", "add", A6 + "/64", "dev", "fa0", "nodad")
        sh("ip", "-n", NS_A, "addr", "add", IN4 + "/32", "dev", "lo")
        sh("ip", "-n", NS_A, "addr", "add", IN6 + "/128", "dev", "lo")
        for ns, dev in ((NS_A, "fa0"), (NS_B, "fb0")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "netns", "exec", NS_A, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0",
           "net.ipv4.conf.fa0.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
        sh("sysctl", "-qw", "net.core.netdev_max_backlog=100000")
        self.listener = subprocess.Popen(["ip", "netns", "exec", NS_A, "ikeuser", "encap", "listen"],
                                         stdout=subprocess.DEVNULL)
        for _ in range(300):
            if ":4500" in sh("ip", "netns", "exec", NS_A, "ss", "-Hlun", "sport = :4500"):
                break
            time.sleep(0.1)
        else:
            sys.exit("ikeuser encap listen did not bind UDP 4500")
        batch = "/tmp/fuzz-packets.batch"
        with open(batch, "w") as f:
            for sa in sas:
                f.write("\n".join(sa.config()) + "\n")
        sh("ip", "netns", "exec", NS_A, "ikeuser", "batch", batch)
        self.counters = fp.Counters(NS_A)
        self.socks = {}
        for port in sorted({sa.port for sa in sas}):
            def bind(port=port):
                s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
                s.bind(("::", port))
                s.setblocking(False)
                return s
            self.socks[port] = in_netns(NS_A, bind)
        amac = open_mac(NS_A, "fa0")

        def l2():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            s.bind(("fb0", 0))
            return s
        self.l2 = in_netns(NS_B, l2)
        self.eth = bytes.fromhex(amac.replace(":", "")) + self.l2.getsockname()[4]

    def close(self):
        self.listener.terminate()
        self.listener.wait()
        for ns in (NS_A, NS_B):
            sh("ip", "netns", "del", ns, check=False)

    def send(self, frames):
        for f in frames:
            self.l2.send(self.eth + (b"\x86\xdd" if f[0] >> 4 == 6 else b"\x08\x00") + f)

    def received(self):
        """PIDs that arrived on the UDP sockets since the last call."""
        got = []
        for s in self.socks.values():
            while True:
                try:
                    data = s.recv(65535)
                except BlockingIOError:
                    break
                if data.startswith(b"fz"):
                    got.append(int(data[2:].split(b".")[0]))
        return got

    def stack(self):
        """The kernel's own drop counters in NS_A (IP, IPv6, UDP, reassembly, the veth's rx
        drops): where a packet went that the stack dropped before ripsec saw it."""
        text = sh("ip", "netns", "exec", NS_A, "sh", "-c",
                  "cat /proc/net/snmp /proc/net/snmp6 /proc/net/netstat; "
                  "echo fa0 rx_dropped $(cat /sys/class/net/fa0/statistics/rx_dropped)")
        out, names = {}, None
        for line in text.splitlines():
            words = line.split()
            if len(words) == 2 and words[1].isdigit():  # snmp6: "Ip6InDiscards 0"
                out[words[0]] = int(words[1])
            elif len(words) == 3 and words[0] == "fa0":
                out["fa0_rx_dropped"] = int(words[2])
            elif words and words[0].endswith(":"):  # snmp, netstat: a names line, then values
                if names and names[0] == words[0] and all(w.lstrip("-").isdigit() for w in words[1:]):
                    out.update({names[0][:-1] + n: int(v) for n, v in zip(names[1:], words[1:])})
                    names = None
                else:
                    names = words
        return {k: v for k, v in out.items() if STACK_DROP.search(k)}

    def settle(self):
        """Counters once the packets sent are processed (they are, when two reads agree)."""
        last = self.counters.stats()
        while True:
            time.sleep(0.05)
            now = self.counters.stats()
            if now == last:
                return now
            last = now


def open_mac(ns, dev):
    return sh("ip", "netns", "exec", ns, "cat", f"/sys/class/net/{dev}/address").strip()


# The kernel's counters of packets it dropped or could not deliver.
STACK_DROP = re.compile(r"Err|Fail|Discard|Drop|Timeout|Unknown|Trunc|NoPorts|dropped|Prune|Overflow")


class Checker:
    def __init__(self, vm):
        self.vm = vm
        self.before = vm.settle()
        self.stack_before = vm.stack()
        self.stack_total = {}
        self.sent = 0
        self.frames = 0
        self.violations = []
        self.by_reason = {}
        self.pcap_dir = None

    def save(self, name, pkts):
        """Writes the frames of a batch that broke a rule to a pcap file in --pcap DIR."""
        path = os.path.join(self.pcap_dir, "violation-" + re.sub(r"[^\w]+", "-", name).strip("-") + ".pcap")
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for i, p in enumerate(pkts):
                for frame in p.frames:
                    eth = self.vm.eth + (b"\x86\xdd" if frame[0] >> 4 == 6 else b"\x08\x00") + frame
                    f.write(struct.pack("<IIII", i, 0, len(eth), len(eth)) + eth)
        print(f"  the batch's frames are in {path} (the packet's index is the timestamp)", flush=True)

    def batch(self, name, pkts):
        vm = self.vm
        for p in pkts:
            vm.send(p.frames)
            self.frames += len(p.frames)
        self.sent += len(pkts)
        after = vm.settle()
        got = vm.received()
        delta = {k: after.get(k, 0) - self.before.get(k, 0) for k in after}
        self.before = after
        stack = vm.stack()
        stack_delta = {k: v - self.stack_before.get(k, 0) for k, v in stack.items()
                       if v != self.stack_before.get(k, 0)}
        self.stack_before = stack
        for k, v in stack_delta.items():
            self.stack_total[k] = self.stack_total.get(k, 0) + v
        want = {}
        anydrop = 0
        for p in pkts:
            if p.want == "drop":
                anydrop += 1
            elif p.want not in ("ok", "dummy", "none"):
                want["drop-" + p.want] = want.get("drop-" + p.want, 0) + 1
        drops = {k: v for k, v in delta.items() if k.startswith("drop-") and v}
        for k, v in drops.items():
            self.by_reason[k] = self.by_reason.get(k, 0) + v
        ok = {p.pid for p in pkts if p.want == "ok"}
        dummies = sum(p.want == "dummy" or p.opened for p in pkts)
        problems = []
        total_want = sum(want.values()) + anydrop
        if sum(drops.values()) != total_want:
            problems.append(f"{sum(drops.values())} drops counted for {total_want} invalid packets")
        for k in sorted(set(want) | set(drops)):
            if drops.get(k, 0) < want.get(k, 0) or (not anydrop and drops.get(k, 0) != want.get(k, 0)):
                problems.append(f"{k}: {drops.get(k, 0)}, want {want.get(k, 0)}{' + some' if anydrop else ''}")
        if delta.get("packets-in", 0) != len(ok) + dummies:
            problems.append(f"packets-in +{delta.get('packets-in', 0)}, want {len(ok) + dummies}")
        gotset = set(got)
        if gotset - ok:
            bad = sorted(gotset - ok)[:5]
            problems.append(f"invalid packets delivered: {[next(p.what for p in pkts if p.pid == i) for i in bad]}")
        if ok - gotset:
            missing = sorted(ok - gotset)[:5]
            problems.append(f"{len(ok - gotset)} valid packets not delivered: "
                            f"{[next(p.what for p in pkts if p.pid == i) for i in missing]}")
        if len(got) != len(gotset):
            problems.append("a packet was delivered twice")
        if problems:
            kinds = {}
            for p in pkts:
                kind = f"{p.what} x{len(p.frames)}" if len(p.frames) > 1 else p.what
                kinds[kind] = kinds.get(kind, 0) + 1
            problems.append("batch: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
            problems.append("kernel drop counters: " +
                            (", ".join(f"{k} +{v}" for k, v in sorted(stack_delta.items())) or "unchanged"))
            self.violations.append(f"{name}: " + "; ".join(problems))
            print(f"VIOLATION {name}: " + "; ".join(problems), flush=True)
            if self.pcap_dir:
                self.save(name, pkts)
        return not problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=0, help="random packets")
    ap.add_argument("--minutes", type=float, default=0, help="stop the random packets after this long")
    ap.add_argument("--batch", type=int, default=2000, help="random packets between counter checks")
    ap.add_argument("--systematic", action="store_true")
    ap.add_argument("--each", action="store_true", help="systematic classes packet by packet (slow)")
    ap.add_argument("--keep", action="store_true", help="leave the netns in place")
    ap.add_argument("--fine-after", type=int, default=0,
                    help="from this many random packets on, check every --fine-batch packets")
    ap.add_argument("--fine-batch", type=int, default=1)
    ap.add_argument("--pcap", metavar="DIR", help="write each violating batch's frames to DIR")
    args = ap.parse_args()
    random.seed(args.seed)
    rng = random.Random(args.seed)
    sas = make_sas()
    vm = Vm(sas)
    gen = Gen(sas, rng)
    check = Checker(vm)
    check.pcap_dir = args.pcap
    start = time.time()
    if args.systematic:
        for name, pkts in gen.systematic():
            if args.each:
                for p in pkts:
                    check.batch(p.what, [p])
            else:
                check.batch(name, pkts)
        print(f"systematic: {check.sent} packets ({check.frames} frames) in {time.time() - start:.0f} s",
              flush=True)
    done = 0
    t0 = time.time()
    built = 0.0
    shown = t0
    while done < args.count:
        n = min(args.batch, args.count - done)
        if args.fine_after:
            n = min(args.fine_batch, n) if done >= args.fine_after else min(n, args.fine_after - done)
        b0 = time.time()
        pkts = [gen.random_packet() for _ in range(n)]
        built += time.time() - b0
        check.batch(f"random #{done}", pkts)
        done += n
        over = args.minutes and time.time() - t0 > 60 * args.minutes
        if time.time() - shown > 60 or done == args.count or over:
            shown = time.time()
            el = time.time() - t0
            print(f"random: {done}/{args.count} packets, {el:.0f} s ({done / max(el, 1e-3):.0f}/s, "
                  f"building {built:.0f} s), {len(check.violations)} violations", flush=True)
        if over:
            print(f"random: stopped after {args.minutes} minutes", flush=True)
            break
    elapsed = time.time() - start
    print(f"summary: seed {args.seed}, {check.sent} packets ({check.frames} frames) in {elapsed:.0f} s, "
          f"{len(check.violations)} violations")
    print("drops: " + " ".join(f"{k}={v}" for k, v in sorted(check.by_reason.items())))
    print("kernel drop counters: " + (" ".join(f"{k}={v}" for k, v in sorted(check.stack_total.items())) or "unchanged"))
    if not args.keep:
        vm.close()
    sys.exit(1 if check.violations else 0)


if __name__ == "__main__":
    main()
