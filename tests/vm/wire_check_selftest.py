"""Self-test for wire_check.py: craft RFC 4303 ESP frames for every ripsec algorithm and check
that wire_check passes them with the right keys and fails on any wrong key byte, any flipped
frame byte, an unknown SA, a missing ESN flag and too few frames.

  /usr/bin/python3 tests/vm/wire_check_selftest.py      (needs tshark and python3-cryptography)

Per algorithm: IPv4 and IPv6 outer x tunnel mode (inner IPv4 ICMP echo) and transport mode
(inner UDP), two frames each; plus ESN SAs whose sequence numbers wrap into seq hi = 1.
Crypto comes from python3-cryptography and hmac, the framing from struct.
"""
import hashlib
import hmac
import ipaddress
import os
import struct
import subprocess
import sys
import tempfile

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

HERE = os.path.dirname(os.path.abspath(__file__))
KEYLEN = {"aes128gcm16": 20, "aes256gcm16": 36, "chacha20poly1305": 36,
          "aes128-sha256": 48, "aes256-sha256": 64, "null-sha256": 32}


def csum(b):
    b += b"\0" * (len(b) % 2)
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip_packet(src, dst, proto, payload):
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0, s.packed, d.packed)
        return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), proto, 64, s.packed, d.packed) + payload


def icmp_echo(seq):
    b = struct.pack("!BBHHH", 8, 0, 0, 0x1234, seq) + b"ripsec wire_check ping"
    return b[:2] + struct.pack("!H", csum(b)) + b[4:]


def udp(src, dst, data):
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    u = struct.pack("!HHHH", 4000, 5000, 8 + len(data), 0) + data
    tail = struct.pack("!xBH", 17, len(u)) if s.version == 4 else struct.pack("!I3xB", len(u), 17)
    pseudo = s.packed + d.packed + tail
    return u[:6] + struct.pack("!H", csum(pseudo + u) or 0xFFFF) + u[8:]


def esp(alg, key, spi, seq, nh, inner, seqhi=None, badpad=False):
    """RFC 4303 ESP: SPI, seq, IV, encrypted (payload, pad 1,2,3.., pad length, next header), ICV.
    badpad: pad with one extra block of zeros instead (correctly encrypted and authenticated)."""
    hdr = struct.pack("!II", spi, seq & 0xFFFFFFFF)
    hib = b"" if seqhi is None else struct.pack("!I", seqhi)
    cbc = alg in ("aes128-sha256", "aes256-sha256")
    padlen = -(len(inner) + 2) % (16 if cbc else 4)
    pad = bytes(padlen + (16 if cbc else 4)) if badpad else bytes(range(1, padlen + 1))
    pt = inner + pad + bytes([len(pad), nh])
    if alg in ("aes128gcm16", "aes256gcm16", "chacha20poly1305"):  # nonce = salt || IV
        iv = os.urandom(8)
        aead = ChaCha20Poly1305(key[:-4]) if alg == "chacha20poly1305" else AESGCM(key[:-4])
        return hdr + iv + aead.encrypt(key[-4:] + iv, pt, hdr[:4] + hib + hdr[4:])
    body = hdr + pt
    if cbc:
        iv = os.urandom(16)
        enc = Cipher(algorithms.AES(key[:-32]), modes.CBC(iv)).encryptor()
        body = hdr + iv + enc.update(pt) + enc.finalize()
    return body + hmac.new(key[-32:], body + hib, hashlib.sha256).digest()[:16]


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # LINKTYPE_ETHERNET
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1000 + i, 0, len(fr), len(fr)) + fr)


def ether(ip):
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01" + (b"\x08\x00" if ip[0] >> 4 == 4 else b"\x86\xdd") + ip


def build(badpad=False):
    """Return (frames, specs) with specs[i] = (spec string, [frame indexes]).
    badpad: the last frame of every SA has bad (zero) padding."""
    frames, specs, spi = [], [], 0x1000
    outers = [("10.0.0.1", "10.0.0.2"), ("fd00::1", "fd00::2")]
    for alg, klen in KEYLEN.items():
        for src, dst in outers:
            for tunnel in (True, False):
                spi += 1
                key = os.urandom(klen)
                idx = []
                for seq in (1, 2):
                    if tunnel:
                        inner, nh = ip_packet("192.168.1.1", "192.168.2.1", 1, icmp_echo(seq)), 4
                    else:
                        inner, nh = udp(src, dst, b"transport %d" % seq), 17
                    idx.append(len(frames))
                    e = esp(alg, key, spi, seq, nh, inner, None, badpad and seq == 2)
                    frames.append(ether(ip_packet(src, dst, 50, e)))
                specs.append((f"spi=0x{spi:x},src={src},dst={dst},alg={alg},key=0x{key.hex()}", idx))
    for alg in ("aes128gcm16", "aes128-sha256", "chacha20poly1305"):  # ESN, low 32 bits wrap
        spi += 1
        key = os.urandom(KEYLEN[alg])
        idx = []
        for seq in (0xFFFFFFFE, 0xFFFFFFFF, 0x100000000, 0x100000001):
            inner = ip_packet("192.168.1.1", "192.168.2.1", 1, icmp_echo(seq & 0xFFFF))
            idx.append(len(frames))
            e = esp(alg, key, spi, seq, 4, inner, seq >> 32, badpad and seq == 0x100000001)
            frames.append(ether(ip_packet("10.0.0.1", "10.0.0.2", 50, e)))
        specs.append((f"spi=0x{spi:x},src=10.0.0.1,dst=10.0.0.2,alg={alg},key=0x{key.hex()},esn=1", idx))
    return frames, specs


def run(pcap, specs, *extra):
    args = [sys.executable, os.path.join(HERE, "wire_check.py"), pcap, *extra]
    for s in specs:
        args += ["--sa", s]
    p = subprocess.run(args, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def flip_key(spec, pos):
    head, key = spec.split(",key=0x")
    key, _, tail = key.partition(",")
    k = bytearray.fromhex(key)
    k[pos] ^= 0x01
    return f"{head},key=0x{k.hex()}" + (f",{tail}" if tail else "")


def sa_results(out):
    """spi -> (frames, ok, failed frame numbers) parsed from wire_check's per-SA lines."""
    res = {}
    for line in out.splitlines():
        if line.startswith("SA spi="):
            spi = int(line.split()[1][4:], 16)
            n, ok = int(line.split(": ")[1].split()[0]), int(line.split(" frames, ")[1].split()[0])
            bad = line.split("(frames ")[1].split(")")[0].split(",") if "(frames " in line else []
            res[spi] = (n, ok, [int(f) for f in bad])
    return res


def main():
    frames, specs = build()
    all_specs = [s for s, _ in specs]
    spis = [int(s.split(",")[0][4:], 16) for s in all_specs]
    failed = []

    def expect(name, rc, out, want_rc, want_bad=None, must=""):
        """want_bad: spi -> frame numbers that must fail (all other frames must pass)."""
        res = sa_results(out)
        ok = rc == want_rc and must in out
        if want_bad is not None:
            ok = ok and all(res.get(spi) == (len(idx), len(idx) - len(want_bad.get(spi, [])),
                                             want_bad.get(spi, [])) for spi, (_, idx) in zip(spis, specs))
        print(f"{'ok  ' if ok else 'FAIL'} {name}: exit {rc}")
        if not ok:
            failed.append(name)
            print("     " + out.strip().replace("\n", "\n     "))

    with tempfile.TemporaryDirectory() as d:
        good = os.path.join(d, "good.pcap")
        write_pcap(good, frames)
        rc, out = run(good, all_specs, "--min-frames", str(len(frames)))
        print("     " + out.strip().replace("\n", "\n     "))
        expect(f"all {len(frames)} frames of {len(specs)} SAs pass with the right keys", rc, out, 0, {})
        rc, out = run(good, all_specs, "--min-frames", str(len(frames) + 1))
        expect("too few frames", rc, out, 1, {})
        rc, out = run(good, all_specs[1:])
        expect("SA not given: unknown SA", rc, out, 1, None, "frame 1: unknown SA (spi=0x1001")
        rc, out = run(good, [s.replace(",esn=1", "") for s in all_specs])
        esn_bad = {spi: [i + 1 for i in idx] for spi, (s, idx) in zip(spis, specs) if "esn=1" in s}
        expect("ESN SAs checked without esn=1", rc, out, 1, esn_bad)
        everything = {spi: [i + 1 for i in idx] for spi, (_, idx) in zip(spis, specs)}
        rc, out = run(good, [flip_key(all_specs[0], 0)] + all_specs[1:])
        expect("one key byte flipped in one SA", rc, out, 1, {spis[0]: everything[spis[0]]})
        for pos in (0, -1):  # first cipher key byte; last byte = salt or HMAC key
            rc, out = run(good, [flip_key(s, pos) for s in all_specs])
            expect(f"key byte {pos} flipped in every SA: all frames fail", rc, out, 1, everything)
        for off in (-1, -20):  # last ICV byte; a ciphertext/payload byte
            fr = list(frames)
            for _, idx in specs:
                b = bytearray(fr[idx[-1]])
                b[off] ^= 0x80
                fr[idx[-1]] = bytes(b)
            write_pcap(good, fr)
            rc, out = run(good, all_specs)
            expect(f"byte {off} flipped in the last frame of every SA: exactly those fail", rc, out, 1,
                   {spi: [idx[-1] + 1] for spi, (_, idx) in zip(spis, specs)})
        frames, specs2 = build(badpad=True)
        write_pcap(good, frames)
        rc, out = run(good, [s for s, _ in specs2])
        expect("zero padding (authentic) in the last frame of every SA: exactly those fail", rc, out, 1,
               {spi: [idx[-1] + 1] for spi, (_, idx) in zip(spis, specs)})
    print("wire_check selftest:", "FAILED " + ", ".join(failed) if failed else "all passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
