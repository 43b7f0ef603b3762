#!/usr/bin/env python3
"""Fuzzes a running ikeuser daemon (run as root in the test VM).

Two ikeuser daemons, in netns A (the target) and B (the legitimate peer), hold three
connections between address pairs on one veth: `c2` (IKEv2), `m1` (IKEv1 Main Mode) and `a1`
(IKEv1 Aggressive Mode). A sniffer on B's side of the veth captures their valid exchanges
(IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA for a Child SA and for the IKE SA, INFORMATIONAL with
DPD and Deletes, Main, Aggressive and Quick Mode, Informational Deletes), each initiated from
both sides. Then mutants of those datagrams (bit flips, byte insertion and deletion, length
fields, payload types and the critical bit, truncation, splicing; header SPIs and message IDs
kept, or set to the live IKE SA's so the message passes the SPI lookup) go to A's UDP 500 and
4500 (with the non-ESP marker), from a third address and spoofed from the peer's address.

Meanwhile the legitimate peer pings through its Child SA and rekeys. Violations (exit 1):
a daemon exits or stops answering, the peer's exchanges or pings fail, A answers the third
address with anything but IKE_SA_INIT handling (or a retransmission of a response it sent the
peer), A's memory grows without bound, or after the fuzz and the half-open expiry A holds IKE
SAs, SAs or policies beyond the legitimate peer's.

Usage: fuzz_ike.py [--seed N] [--count N] [--keep-going]
"""

import argparse
import collections
import ctypes
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PSK = "a pre-shared key for the fuzz"
ATTACKER = "10.0.0.3"
# name: (A's address, B's address, IKE version, aggressive, A's subnet, B's subnet)
CONNS = {
    "c2": ("10.0.0.1", "10.0.0.2", 2, False, "10.1.0.0/24", "10.2.0.0/24"),
    "m1": ("10.0.0.11", "10.0.0.12", 1, False, "10.1.1.0/24", "10.2.1.0/24"),
    "a1": ("10.0.0.21", "10.0.0.22", 1, True, "10.1.2.0/24", "10.2.2.0/24"),
}
A_ADDRS = {c[0] for c in CONNS.values()}
B_ADDRS = {c[1] for c in CONNS.values()}
HALF_OPEN_EXPIRY = 30  # ike/src/engine/types.rs HALF_OPEN_TIMEOUT
IKE_PORT, NATT_PORT = 500, 4500
V2_INIT, V1_MAIN, V1_AGGR, V1_INFO = 34, 2, 4, 5


def sh(*cmd, check=True, timeout=60):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stdout}{r.stderr}")
    return r


class Violations:
    def __init__(self, keep_going):
        self.items = []
        self.keep_going = keep_going
        self.lock = threading.Lock()

    def add(self, msg):
        with self.lock:
            self.items.append(msg)
        print(f"VIOLATION: {msg}", flush=True)


# ---- setup ---------------------------------------------------------------------------------


def conf(ns, d, dpd):
    out = [f'[daemon]\nsocket = "{d}/{ns}.sock"\n']
    for name, (a, b, ver, aggr, sa, sb) in CONNS.items():
        local, remote, lts, rts = (a, b, sa, sb) if ns == "A" else (b, a, sb, sa)
        out.append(f"[connections.{name}]")
        if ver == 1:
            out.append("version = 1")
            props = '["aes128-sha256-modp2048"]'
        else:
            props = '["aes128gcm16-prfsha256-ecp256"]'
        if aggr:
            out.append("aggressive = true")
        out.append(f'local_addr = "{local}"\nremote_addr = "{remote}"\npsk = "{PSK}"')
        out.append(f'ike_proposals = {props}\nstart = "none"')
        if dpd:
            out.append(f"dpd_delay = {dpd}")
        out.append(f'\n[connections.{name}.children.net]\nmode = "tunnel"')
        out.append(f'local_ts = ["{lts}"]\nremote_ts = ["{rts}"]\nesp_proposals = ["aes128gcm16"]\n')
    path = f"{d}/{ns}.toml"
    with open(path, "w") as f:
        f.write("\n".join(out))
    return path


def topology():
    script = """
set -e
source tests/vm/lib.sh
source tests/vm/interop.sh
load
topology tunnel44
for n in 1 2; do
  ip -n A addr add 10.0.0.${n}1/24 dev a0
  ip -n B addr add 10.0.0.${n}2/24 dev b0
  ip -n A addr add 10.1.$n.1/32 dev lo
  ip -n B addr add 10.2.$n.1/32 dev lo
  ip -n A route add 10.2.$n.0/24 dev a0 src 10.1.$n.1
  ip -n B route add 10.1.$n.0/24 dev b0 src 10.2.$n.1
done
ip -n B addr add 10.0.0.3/24 dev b0
"""
    r = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"setup failed: {r.stdout}{r.stderr}")


class Daemon:
    def __init__(self, ns, d, dpd):
        self.ns, self.d = ns, d
        self.sock = f"{d}/{ns}.sock"
        self.log = open(f"{d}/{ns}.log", "a")
        cfg = conf(ns, d, dpd)
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "ikeuser", "daemon", "-c", cfg],
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            if self.ctl("status", check=False).returncode == 0:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        sys.exit(f"the daemon in {ns} did not start: {self.tail()}")

    def ctl(self, *args, check=True, timeout=60):
        return sh("ip", "netns", "exec", self.ns, "ikeuser", "--socket", self.sock, *args,
                  check=check, timeout=timeout)

    def status(self):
        return json.loads(self.ctl("status", "--json", timeout=30).stdout)["status"]

    def alive(self):
        return self.proc.poll() is None

    def pid(self):
        # `ip netns exec` execs the daemon in place: same pid.
        return self.proc.pid

    def cpu_seconds(self):
        try:
            with open(f"/proc/{self.pid()}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            return -1

    def rss_kib(self):
        try:
            with open(f"/proc/{self.pid()}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return -1
        return -1

    def log_shapes(self, since, n=8):
        """The most frequent kinds of log line after byte offset `since` (numbers, addresses
        and hex masked), to show how deep the fuzz got."""
        with open(f"{self.d}/{self.ns}.log", errors="replace") as f:
            f.seek(since)
            lines = f.read().splitlines()
        shapes = collections.Counter(re.sub(r"[0-9a-f]{6,}|[0-9]+", "#", line[line.find("]") + 1:])
                                     for line in lines)
        return shapes.most_common(n)

    def log_size(self):
        return os.path.getsize(f"{self.d}/{self.ns}.log")

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def tail(self, n=30):
        with open(f"{self.d}/{self.ns}.log") as f:
            return "".join(f.readlines()[-n:])


def in_netns(ns):
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    if hasattr(os, "setns"):
        os.setns(fd, os.CLONE_NEWNET)
    else:
        _setns(fd)
    os.close(fd)


def _setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        raise OSError(ctypes.get_errno(), "setns")


# ---- capture -------------------------------------------------------------------------------


def ike_of(udp_payload, port):
    """The IKE message in a UDP payload to or from `port` (None for ESP or keepalives)."""
    if port == NATT_PORT:
        if len(udp_payload) < 4 or udp_payload[:4] != b"\0\0\0\0":
            return None
        udp_payload = udp_payload[4:]
    return udp_payload if len(udp_payload) >= 28 else None


class Sniffer(threading.Thread):
    """Every IKE datagram on B's veth end, both directions; keeps the legitimate ones as the
    corpus (while `recording`), the live IKE SPIs per connection, and checks A's answers to
    the third address."""

    def __init__(self, violations):
        super().__init__(daemon=True)
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.s.bind(("b0", 0))
        self.s.settimeout(0.5)
        self.violations = violations
        self.recording = True
        self.corpus = []  # (conn, A is the sender, ike bytes)
        # conn -> the IKE SAs A spoke of to B lately, newest last: [spi_i, spi_r, A is the
        # initiator, the message ID A expects in B's next request]. With those of half-open
        # SAs the fuzz's own IKE_SA_INIT/Main Mode mutants opened, the next mutants go on.
        self.live = collections.defaultdict(list)
        self.sent_to_peer = set()  # what A sent the legitimate peer (retransmissions are fine)
        self.answers = {"init": 0, "v1-phase1": 0, "v1-info": 0, "retransmit": 0}
        self.stop = False
        self.lock = threading.Lock()

    def only_incoming(self):
        """From now on only frames B receives: what A sends (BPF: drop PACKET_OUTGOING)."""
        prog = struct.pack("HBBI" * 4, 0x20, 0, 0, 0xFFFFF004, 0x15, 0, 1, 4, 0x06, 0, 0, 0,
                           0x06, 0, 0, 0x40000)
        buf = ctypes.create_string_buffer(prog)
        fprog = struct.pack("HL", 4, ctypes.addressof(buf))
        self.s.setsockopt(socket.SOL_SOCKET, 26, fprog)  # SO_ATTACH_FILTER
        self._filter = buf  # the kernel copied it, but keep it alive anyway

    def run(self):
        while not self.stop:
            try:
                frame = self.s.recv(70000)
            except socket.timeout:
                continue
            self.frame(frame)

    def frame(self, frame):
        if len(frame) < 14 + 28 or frame[12:14] != b"\x08\x00":
            return
        ip = frame[14:]
        ihl = (ip[0] & 15) * 4
        if ip[9] != 17:
            return
        src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        udp = ip[ihl:]
        sport, dport = struct.unpack("!HH", udp[:4])
        if sport not in (IKE_PORT, NATT_PORT) and dport not in (IKE_PORT, NATT_PORT):
            return
        if src in A_ADDRS and dst == ATTACKER:
            self.answer_to_attacker(ike_of(udp[8:], sport))
            return
        msg = ike_of(udp[8:], sport if src in A_ADDRS else dport)
        if msg is None:
            return
        conn = conn_of(src, dst)
        if conn is None:
            return
        from_a = src in A_ADDRS
        with self.lock:
            if from_a:
                self.sent_to_peer.add(msg)
                if msg[8:16] != bytes(8):
                    self.track(conn, msg)
            if self.recording:
                self.corpus.append((conn, from_a, msg))

    def track(self, conn, msg):
        sas = self.live[conn]
        spis = msg[:16]
        sa = next((x for x in sas if x[0] == spis), None)
        if sa is None:
            sa = [spis, bool(msg[19] & 0x08), 0]
            sas.append(sa)
            del sas[:-8]
        if msg[17] >> 4 == 2 and msg[19] & 0x20:  # A's response to B's request N
            sa[2] = struct.unpack("!I", msg[20:24])[0] + 1

    def answer_to_attacker(self, msg):
        if msg is None:
            return
        version, exch, flags = msg[17] >> 4, msg[18], msg[19]
        with self.lock:
            replay = msg in self.sent_to_peer
        if replay:
            kind = "retransmit"
        elif version == 2 and exch == V2_INIT and flags & 0x20:
            kind = "init"
        elif version == 1 and exch in (V1_MAIN, V1_AGGR) and not flags & 1:
            kind = "v1-phase1"
        elif version == 1 and exch == V1_INFO and not flags & 1:
            kind = "v1-info"
        else:
            self.violations.add(
                f"A answered the third address with version {version} exchange {exch} "
                f"flags 0x{flags:02x}: {msg[:64].hex()}")
            return
        self.answers[kind] += 1


def conn_of(src, dst):
    for name, (a, b, *_rest) in CONNS.items():
        if {src, dst} == {a, b}:
            return name
    return None


def kinds_of(corpus):
    """The corpus by (connection, sender, version, exchange, response flag), without
    duplicates: the fuzz picks a kind first, so the many DPD messages do not crowd out the one
    IKE_SA_INIT."""
    kinds = collections.defaultdict(list)
    for conn, from_a, m in dict.fromkeys(corpus):
        kinds[(conn, from_a, m[17] >> 4, m[18], m[19] & 0x20)].append((conn, from_a, m))
    return kinds


def legit_exchanges(a, b):
    """Every exchange the corpus should hold, each side initiating; leaves all three up."""
    steps = [
        (b, "up", "c2"), (b, "rekey", "c2"), (a, "rekey", "c2"), (b, "rekey", "c2", "--ike"),
        (a, "down", "c2"), (a, "up", "c2"),
        (b, "up", "m1"), (b, "rekey", "m1"), (a, "down", "m1"), (a, "up", "m1"),
        (b, "up", "a1"), (a, "rekey", "a1"),
    ]
    for d, *args in steps:
        r = d.ctl(*args, check=False, timeout=90)
        if r.returncode != 0:
            sys.exit(f"legitimate `{' '.join(args)}` from {d.ns} failed: {r.stdout}{r.stderr}\n"
                     f"{a.tail()}\n{b.tail()}")
        time.sleep(0.3)


# ---- mutation ------------------------------------------------------------------------------


def payload_offsets(m):
    """(offset of the byte naming it, offset of its generic header) of each payload in the
    chain, as far as it parses."""
    out, at, next_at = [], 28, 16
    seen = 0
    while at + 4 <= len(m) and m[next_at] != 0 and seen < 64:
        out.append((next_at, at))
        plen = struct.unpack("!H", m[at + 2:at + 4])[0]
        if plen < 4:
            break
        next_at, at = at, at + plen
        seen += 1
    return out


INTERESTING16 = [0, 1, 3, 4, 5, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF]
INTERESTING32 = [0, 1, 27, 28, 29, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
PAYLOAD_TYPES = list(range(0, 18)) + list(range(32, 54)) + [128, 200, 255]


def mutate(rng, m, corpus):
    m = bytearray(m)
    op = rng.randrange(12)
    if len(m) < 28:  # no header left to aim at
        op = rng.choice([0, 1, 2, 7, 8, 11]) if m else 1
    if op == 0:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(m))
            m[i] ^= 1 << rng.randrange(8)
    elif op == 1:
        i = rng.randrange(len(m) + 1)
        m[i:i] = bytes(rng.randrange(256) for _ in range(rng.choice([1, 1, 2, 4, 16, 200])))
    elif op == 2:
        i = rng.randrange(len(m))
        del m[i:i + rng.choice([1, 1, 2, 4, 16])]
    elif op == 3:  # the header's length
        v = rng.choice(INTERESTING32 + [len(m) + rng.randint(-8, 8)])
        m[24:28] = struct.pack("!I", v & 0xFFFFFFFF)
    elif op in (4, 5, 6):
        pays = payload_offsets(m)
        if not pays:
            return mutate(rng, m, corpus)
        name_at, at = rng.choice(pays)
        if op == 4:  # a payload's length
            v = rng.choice(INTERESTING16 + [struct.unpack("!H", m[at + 2:at + 4])[0] + rng.randint(-5, 5)])
            m[at + 2:at + 4] = struct.pack("!H", v & 0xFFFF)
        elif op == 5:  # a payload's type
            m[name_at] = rng.choice(PAYLOAD_TYPES)
        else:  # the critical bit (and reserved bits)
            m[at + 1] ^= rng.choice([0x80, 0x80, 0x01, 0x7F])
    elif op == 7:
        del m[rng.randrange(len(m)):]
    elif op == 8:  # splice: our head, another message's tail
        other = rng.choice(corpus)[2]
        m = m[:rng.randrange(len(m) + 1)] + other[rng.randrange(len(other) + 1):]
    elif op == 9:  # a payload from another message appended to the chain
        other = rng.choice(corpus)[2]
        theirs, mine = payload_offsets(other), payload_offsets(m)
        if theirs:
            name_at, at = rng.choice(theirs)
            plen = struct.unpack("!H", other[at + 2:at + 4])[0]
            last = mine[-1][1] if mine else 16
            m[last] = other[name_at]
            m += other[at:at + plen]
            m[24:28] = struct.pack("!I", len(m))
    elif op == 10:  # header fields: exchange type, flags, version, message ID
        f = rng.randrange(4)
        if f == 0:
            m[18] = rng.choice([0, 1, 2, 4, 5, 6, 32, 33, 34, 35, 36, 37, 38, 255, rng.randrange(256)])
        elif f == 1:
            m[19] ^= 1 << rng.randrange(8)
        elif f == 2:
            m[17] = rng.choice([0x10, 0x20, 0x21, 0x30, 0x02, rng.randrange(256)])
        else:
            m[20:24] = struct.pack("!I", rng.choice(INTERESTING32 + [rng.randrange(1 << 32)]))
    else:  # random bytes over a stretch
        i = rng.randrange(len(m))
        for j in range(i, min(len(m), i + rng.randint(1, 32))):
            m[j] = rng.randrange(256)
    return bytes(m)


def fix_spis(rng, m, conn, live):
    """Kept as captured (an old SA), or one of the IKE SAs A spoke of lately, with (IKEv2)
    the initiator flag and often the message ID it expects, so the message gets past the SA
    lookup and the window to the SK payload's checks."""
    if not live.get(conn) or len(m) < 28 or rng.random() < 0.25:
        return m
    spis, a_initiated, next_id = rng.choice(live[conn][-3:] if rng.random() < 0.7 else live[conn])
    m = bytearray(spis + m[16:])
    if rng.random() < 0.1:
        m[8:16] = bytes(8)  # an INIT-like header with a known initiator SPI
    if m[17] >> 4 == 2 and rng.random() < 0.9:
        m[19] = (m[19] & ~0x08) | (0 if a_initiated else 0x08)
        if not m[19] & 0x20 and rng.random() < 0.8:
            m[20:24] = struct.pack("!I", next_id + rng.choice([0, 0, 0, -1, 1]) & 0xFFFFFFFF)
    return bytes(m)


# ---- sending -------------------------------------------------------------------------------


class Sender:
    """Raw IPv4/UDP: from the third address or spoofed from the peer's, to 500 or 4500."""

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.ident = 0
        # Bound so A's answers to the third address do not draw port unreachables.
        self.sinks = []
        for port in (IKE_PORT, NATT_PORT):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind((ATTACKER, port))
            u.setblocking(False)
            self.sinks.append(u)

    def send(self, src, dst, dport, payload):
        sport = dport
        udp_len = 8 + len(payload)
        if 20 + udp_len > 65535:
            return
        # No UDP checksum (zero, allowed over IPv4): the fuzzer's time goes to datagrams.
        udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
        self.ident = (self.ident + 1) & 0xFFFF
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, self.ident, 0, 64, 17, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
        try:
            self.s.sendto(ip + udp, (dst, 0))
        except OSError:
            pass  # ENOBUFS under load: the datagram is simply not sent

    def drain(self):
        for u in self.sinks:
            try:
                while True:
                    u.recv(70000)
            except BlockingIOError:
                pass


# ---- the legitimate peer during the fuzz ---------------------------------------------------


class Peer(threading.Thread):
    """Pings through c2's Child SA and rekeys c2's and m1's Child SAs, in turn, until stopped."""

    def __init__(self, a, b, violations):
        super().__init__(daemon=True)
        self.a, self.b, self.violations = a, b, violations
        self.stop = False
        self.counts = {"ping": 0, "rekey": 0, "failed-once": 0}

    def attempt(self, what, fn):
        for i in range(2):  # TCG under load is slow: one retry before it counts
            if fn():
                return True
            if self.stop:
                return True
            if i == 0:
                self.counts["failed-once"] += 1
                time.sleep(2)
        self.violations.add(f"the legitimate peer's {what} failed twice")
        return False

    def ping(self):
        r = subprocess.run(["ip", "netns", "exec", "B", "ping", "-c", "1", "-W", "5", "-I",
                            "10.2.0.1", "10.1.0.1"], capture_output=True)
        return r.returncode == 0

    def rekey(self, conn):
        return self.b.ctl("rekey", conn, check=False, timeout=90).returncode == 0

    def run(self):
        n = 0
        while not self.stop:
            if n % 3 == 2:
                conn = "c2" if n % 2 else "m1"
                if self.attempt(f"rekey of {conn}", lambda: self.rekey(conn)):
                    self.counts["rekey"] += 1
            elif self.attempt("ping through c2", self.ping):
                self.counts["ping"] += 1
            n += 1
            for _ in range(20):
                if self.stop:
                    break
                time.sleep(0.1)


# ---- checks --------------------------------------------------------------------------------


def state_of(a):
    """A's IKE SAs (conn, peer, state), its SAs' (dst, spi) count and protect policies."""
    st = a.status()
    ike = sorted((s["conn"], s.get("peer"), s["state"], len(s["children"])) for s in st["ike_sas"])
    sas = json.loads(sh("ip", "netns", "exec", "A", "ikeuser", "sa", "list", "--json").stdout)
    pols = json.loads(sh("ip", "netns", "exec", "A", "ikeuser", "policy", "list", "--json").stdout)
    return ike, len(sas), len(pols), sas


def check_clean(a, baseline, violations):
    ike, nsas, npols, sas = state_of(a)
    base_ike, base_sas, base_pols, _ = baseline
    if [(c, p, s) for c, p, s, _n in ike] != [(c, p, s) for c, p, s, _n in base_ike]:
        violations.add(f"A's IKE SAs after the fuzz: {ike}, before: {base_ike}")
    if nsas != base_sas:
        violations.add(f"A holds {nsas} SAs after the fuzz, {base_sas} before: {sas}")
    if npols != base_pols:
        violations.add(f"A holds {npols} policies after the fuzz, {base_pols} before")
    return ike, nsas, npols


def settled_state(a, seconds=15):
    """A's state once the inbound SAs of Child SAs that rekeys replaced are gone (they linger
    5 s for the peer's packets in flight): two SAs per Child SA."""
    end = time.time() + seconds
    while True:
        st = state_of(a)
        if st[1] == 2 * sum(n for *_, n in st[0]) or time.time() > end:
            return st
        time.sleep(0.5)


def wait_settled(a, baseline, seconds):
    """Waits for rekeys in flight and expiries to finish, up to `seconds`."""
    end = time.time() + seconds
    while time.time() < end:
        ike, nsas, npols, _ = state_of(a)
        if ([(c, p, s) for c, p, s, _n in ike] == [(c, p, s) for c, p, s, _n in baseline[0]]
                and nsas == baseline[1] and npols == baseline[2]):
            return
        time.sleep(2)


# ---- main ----------------------------------------------------------------------------------


def fuzz(args, a, b, sniffer, violations):
    rng = random.Random(args.seed)
    corpus = sniffer.corpus
    groups = list(kinds_of(corpus).values())
    sender = Sender()
    peer = Peer(a, b, violations)
    rss = [a.rss_kib()]
    log_at = a.log_size()
    cpu = (a.cpu_seconds(), sum(os.times()[:2]))
    peer.start()
    t0 = time.time()
    sent = {"third/500": 0, "third/4500": 0, "peer/500": 0, "peer/4500": 0}
    for n in range(args.count):
        conn, from_a, msg = rng.choice(rng.choice(groups))
        m = msg
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            if len(m) == 0:
                break
            m = mutate(rng, m, corpus)
        if rng.random() < 0.7:
            with sniffer.lock:
                live = {c: list(v) for c, v in sniffer.live.items()}
            m = fix_spis(rng, m, conn, live)
        a_addr, b_addr = CONNS[conn][0], CONNS[conn][1]
        spoof = rng.random() < 0.5
        src = b_addr if spoof else ATTACKER
        port = NATT_PORT if rng.random() < 0.3 else IKE_PORT
        if port == NATT_PORT:
            m = (b"\0\0\0\0" if rng.random() < 0.95 else b"") + m
        sender.send(src, a_addr, port, m)
        sent[f"{'peer' if spoof else 'third'}/{port}"] += 1
        if n % 200 == 199:
            sender.drain()
            # Not faster than the daemon can read: it is fuzzed, not flooded.
            time.sleep(args.pause)
        if n % 2000 == 1999:
            rss.append(a.rss_kib())
            for d in (a, b):
                if not d.alive():
                    violations.add(f"the daemon in {d.ns} exited: {d.tail()}")
            if not a.alive() or (violations.items and not args.keep_going):
                break
            if args.minutes and time.time() - t0 > 60 * args.minutes:
                print(f"fuzz: stopped after {args.minutes} minutes", flush=True)
                break
            print(f"fuzz: {n + 1} sent, {time.time() - t0:.0f} s, A's RSS {rss[-1]} KiB, "
                  f"peer {peer.counts}", flush=True)
    duration = time.time() - t0
    print(f"CPU seconds during the fuzz: A's daemon {a.cpu_seconds() - cpu[0]:.1f}, "
          f"the fuzzer {sum(os.times()[:2]) - cpu[1]:.1f}")
    print("A's most frequent log lines during the fuzz:")
    for shape, k in a.log_shapes(log_at):
        print(f"  {k:7d} {shape[:150]}")
    peer.stop = True
    peer.join()
    rss.append(a.rss_kib())
    return sent, duration, rss, peer.counts


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--pause", type=float, default=0.05, help="seconds after every 200 datagrams")
    ap.add_argument("--keep-going", action="store_true", help="do not stop at the first violation")
    ap.add_argument("--minutes", type=float, default=0, help="stop sending after this long (checked every 2000)")
    args = ap.parse_args()
    violations = Violations(args.keep_going)
    d = tempfile.mkdtemp(prefix="ikefuzz.")
    topology()
    a = Daemon("A", d, dpd=3)
    b = Daemon("B", d, dpd=3)
    try:
        in_netns("B")
        sniffer = Sniffer(violations)
        sniffer.start()
        legit_exchanges(a, b)
        time.sleep(4)  # a DPD round trip in the corpus
        sniffer.recording = False
        sniffer.only_incoming()
        kinds = sorted((k, len(v)) for k, v in kinds_of(sniffer.corpus).items())
        print(f"corpus: {len(sniffer.corpus)} datagrams of {len(kinds)} kinds "
              "((conn, sent by A, version, exchange, response), count):")
        for k, n in kinds:
            print(f"  {k} {n}")
        baseline = settled_state(a)
        print(f"before: A's IKE SAs {baseline[0]}, {baseline[1]} SAs, {baseline[2]} policies")
        sent, duration, rss, peer = fuzz(args, a, b, sniffer, violations)
        total = sum(sent.values())
        print(f"fuzz: {total} datagrams in {duration:.0f} s ({total / max(duration, 1):.0f}/s): {sent}")
        print(f"legitimate peer: {peer}")
        print(f"A's answers to the third address: {sniffer.answers}")
        if a.alive():
            time.sleep(HALF_OPEN_EXPIRY + 3)
            wait_settled(a, baseline, 30)
            ike, nsas, npols = check_clean(a, baseline, violations)
            print(f"after: A's IKE SAs {ike}, {nsas} SAs, {npols} policies")
            rss.append(a.rss_kib())
            print(f"A's RSS: {rss[0]} KiB before, peak {max(rss)} KiB, {rss[-1]} KiB after the expiry")
            if rss[-1] > 2 * rss[0] + 8192:
                violations.add(f"A's RSS grew from {rss[0]} to {rss[-1]} KiB")
        else:
            violations.add(f"the daemon in A exited: {a.tail()}")
        for dm in (a, b):
            if not dm.alive():
                violations.add(f"the daemon in {dm.ns} is gone")
        sniffer.stop = True
    finally:
        a.stop()
        b.stop()
    if violations.items:
        print(f"FAIL: {len(violations.items)} violations (seed {args.seed}); logs in {d}")
        print("--- A's log (end)\n" + a.tail(40))
        sys.exit(1)
    print(f"fuzz_ike: no violations (seed {args.seed})")


if __name__ == "__main__":
    main()
