"""Independent on-the-wire ESP verifier: decrypt AND authenticate every ESP frame of a pcap.

  /usr/bin/python3 tests/vm/wire_check.py PCAP --sa SPEC [--sa SPEC ...] [--min-frames N] [--min-per-sa N]

  SPEC = spi=0x1001,src=10.0.0.1,dst=10.0.0.2,alg=ALG,key=0xHEX[,esn=1[,seqhi=N]]
  ALG and key layout as in ripsec: aes128gcm16 (16+4 salt), aes256gcm16 (32+4 salt),
  chacha20poly1305 (32+4 salt), aes128-sha256 (16 AES-CBC + 32 HMAC), aes256-sha256
  (32+32), null-sha256 (32 HMAC). src/dst are the outer addresses (IPv4 or IPv6).

Every frame containing ESP (except ESP quoted inside ICMP errors) must match a given
SA by (spi, outer src, outer dst), be decrypted (correct 1,2,3.. padding, next header
dissected) and pass its ICV check. Prints one line per SA; exit 0 only if all of this
holds for every frame and at least N (default 1) ESP frames were seen, else 1.

Verifier: tshark (esp_sa UAT, esp.enable_encryption_decode/enable_authentication_check,
fields esp.icv_good/esp.icv_bad/esp.pad_len/esp.pad/esp.protocol). TShark 4.0 cannot do
ChaCha20-Poly1305 (no such ESP algorithm before Wireshark 4.2) nor ESN (the UAT has no
ESN column, so ESN frames always show "ICV bad"): SAs with alg=chacha20poly1305 or esn=1
are verified with python3-cryptography instead (frames' raw ESP bytes taken from tshark
JSON), and their line says so. For ESN the high 32 bits start at seqhi (default 0) and
may advance by one when the low 32 bits wrap.
"""
import argparse
import hashlib
import hmac
import ipaddress
import json
import os
import subprocess
import sys
import tempfile

HMAC256 = "HMAC-SHA-256-128 [RFC4868]"
GCM16 = "AES-GCM with 16 octet ICV [RFC4106]"
# ripsec name -> (tshark 4.0 encryption algorithm or None if unsupported, cipher key bytes
#                 incl. salt, tshark authentication algorithm, HMAC key bytes)
ALGS = {
    "aes128gcm16": (GCM16, 20, "NULL", 0),
    "aes256gcm16": (GCM16, 36, "NULL", 0),
    "chacha20poly1305": (None, 36, "NULL", 0),
    "aes128-sha256": ("AES-CBC [RFC3602]", 16, HMAC256, 32),
    "aes256-sha256": ("AES-CBC [RFC3602]", 32, HMAC256, 32),
    "null-sha256": ("NULL", 0, HMAC256, 32),
}
FIELDS = ["frame.number", "frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
          "esp.spi", "esp.sequence", "esp.icv_good", "esp.icv_bad", "esp.pad_len",
          "esp.pad", "esp.protocol"]
TRUE = ("1", "True", "true")


class SA:
    def __init__(self, spec):
        try:
            kv = dict(p.split("=", 1) for p in spec.split(","))
            self.spi = int(kv["spi"], 0)
            self.src, self.dst = ipaddress.ip_address(kv["src"]), ipaddress.ip_address(kv["dst"])
            self.alg = kv["alg"]
            self.key = bytes.fromhex(kv["key"].removeprefix("0x"))
            self.esn = kv.get("esn", "0") == "1"
            self.seqhi = int(kv.get("seqhi", "0"), 0)
            enc, klen, self.auth, alen = ALGS[self.alg]
        except (KeyError, ValueError) as e:
            raise argparse.ArgumentTypeError(f"bad SA {spec!r}: {e!r} (algs: {', '.join(ALGS)})")
        if len(self.key) != klen + alen:
            raise argparse.ArgumentTypeError(f"{spec}: {self.alg} needs {klen + alen} key bytes")
        self.enc, self.ekey, self.akey = enc, self.key[:klen], self.key[klen:]
        self.tshark = enc is not None and not self.esn
        self.frames, self.bad = 0, []

    def uat(self):
        ver = "IPv6" if self.src.version == 6 else "IPv4"
        hexkey = lambda k: "0x" + k.hex() if k else ""
        return (f'uat:esp_sa:"{ver}","{self.src}","{self.dst}","0x{self.spi:08x}",'
                f'"{self.enc}","{hexkey(self.ekey)}","{self.auth}","{hexkey(self.akey)}"')


def tshark(pcap, args, confdir):
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=confdir)  # empty dir: ignore user's esp_sa
    p = subprocess.run(["tshark", "-n", "-r", pcap] + args, env=env, capture_output=True, text=True)
    if p.returncode != 0 and "cut short in the middle of a packet" not in p.stderr:
        sys.exit(f"tshark failed ({p.returncode}): {p.stderr.strip()}")  # (a truncated last frame is fine)
    return p.stdout


def outer(protos, row):
    """(src, dst) of the IP header right before the first ESP; None if ESP is inside ICMP."""
    before = protos[:protos.index("esp")]
    if "icmp" in before or "icmpv6" in before:
        return None
    ver = [p for p in before if p in ("ip", "ipv6")][-1]
    i = before.count(ver) - 1
    return tuple(ipaddress.ip_address(row[f"{ver}.{d}"].split(",")[i]) for d in ("src", "dst"))


def check_tshark(row, protos):
    first = lambda f: row[f].split(",")[0]
    if first("esp.icv_good") not in TRUE or first("esp.icv_bad") in TRUE:
        return "ICV bad" if first("esp.icv_bad") in TRUE else "ICV not checked"
    if first("esp.pad_len") == "" or first("esp.protocol") == "":
        return "not decrypted (no pad length/next header)"
    if first("esp.pad") != bytes(range(1, int(first("esp.pad_len")) + 1)).hex():
        return f"not decrypted (bad padding {first('esp.pad')})"
    if protos.index("esp") == len(protos) - 1 and int(first("esp.protocol"), 0) != 59:
        return "not decrypted (inner payload not dissected)"
    return None


def check_python(sa, esp):
    """Verify one raw ESP packet (SPI .. ICV); return an error string or None."""
    try:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    except ImportError:
        return "not verified: python3-cryptography is not installed (apt-get install python3-cryptography)"
    seq = int.from_bytes(esp[4:8], "big")
    his = [sa.seqhi, sa.seqhi + 1] if sa.esn else [None]
    for hi in his:
        hib = hi.to_bytes(4, "big") if sa.esn else b""
        if sa.enc in (GCM16, None):  # AEAD: nonce = salt || IV, AAD = SPI [|| seq hi] || seq
            aead = (AESGCM if sa.enc else ChaCha20Poly1305)(sa.ekey[:-4])
            try:
                pt = aead.decrypt(sa.ekey[-4:] + esp[8:16], esp[16:], esp[:4] + hib + esp[4:8])
            except InvalidTag:
                continue
        else:  # HMAC-SHA-256-128 over SPI..end of ciphertext [|| seq hi]
            mac = hmac.new(sa.akey, esp[:-16] + hib, hashlib.sha256).digest()[:16]
            if not hmac.compare_digest(mac, esp[-16:]):
                continue
            pt = esp[8:-16]
            if sa.enc != "NULL":
                if len(pt) < 32 or len(pt) % 16:
                    return "not decrypted (ciphertext not a multiple of 16)"
                d = Cipher(algorithms.AES(sa.ekey), modes.CBC(pt[:16])).decryptor()
                pt = d.update(pt[16:]) + d.finalize()
        if sa.esn:
            sa.seqhi = hi
        padlen = pt[-2] if len(pt) >= 2 else 255
        if padlen + 2 > len(pt) or pt[-2 - padlen:-2] != bytes(range(1, padlen + 1)):
            return "not decrypted (bad padding)"
        return None
    return f"ICV bad (seq {seq}" + (f", seq hi tried {his})" if sa.esn else ")")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pcap")
    ap.add_argument("--sa", action="append", default=[], type=SA, help="SA spec, repeatable")
    ap.add_argument("--min-frames", type=int, default=1)
    ap.add_argument("--min-per-sa", type=int, default=0, help="each SA must carry at least N frames")
    a = ap.parse_args()
    prefs = ["-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"]
    for sa in a.sa:
        if sa.tshark:
            prefs += ["-o", sa.uat()]
    with tempfile.TemporaryDirectory() as confdir:
        out = tshark(a.pcap, prefs + ["-Y", "esp", "-T", "fields", "-E", "separator=\t"]
                     + sum([["-e", f] for f in FIELDS], []), confdir)
        raw = {}
        if any(not sa.tshark for sa in a.sa):  # raw ESP bytes for the python-verified SAs
            for pkt in json.loads(tshark(a.pcap, prefs + ["-Y", "esp", "-T", "json", "-x",
                                                         "--no-duplicate-keys", "-j", "frame esp"], confdir)):
                lay = pkt["_source"]["layers"]
                esp = lay["esp_raw"]  # [hex, offset, length, ...], or a list of those
                esp = esp[0] if isinstance(esp[0], list) else esp
                raw[lay["frame"]["frame.number"]] = bytes.fromhex(esp[0])
    seen, skipped, failures = 0, 0, []
    for line in out.splitlines():
        row = dict(zip(FIELDS, line.split("\t")))
        protos = row["frame.protocols"].split(":")
        if "esp" not in protos:
            continue
        addrs = outer(protos, row)
        if addrs is None:
            skipped += 1
            continue
        seen += 1
        spi = int(row["esp.spi"].split(",")[0], 0)
        sa = next((s for s in a.sa if (s.spi, s.src, s.dst) == (spi, *addrs)), None)
        if sa is None:
            why = f"unknown SA (spi=0x{spi:x} {addrs[0]} -> {addrs[1]})"
        else:
            sa.frames += 1
            why = check_tshark(row, protos) if sa.tshark else check_python(sa, raw[row["frame.number"]])
            if why:
                sa.bad.append(row["frame.number"])
        if why:
            failures.append(f"frame {row['frame.number']}: {why}")
    for sa in a.sa:
        how = "tshark" if sa.tshark else "python3-cryptography (tshark 4.0 lacks " + \
            ("ESN" if sa.esn else "ChaCha20-Poly1305") + ")"
        print(f"SA spi=0x{sa.spi:x} {sa.src} -> {sa.dst} {sa.alg}{' esn' if sa.esn else ''}: "
              f"{sa.frames} frames, {sa.frames - len(sa.bad)} ok, {len(sa.bad)} failed"
              + (f" (frames {','.join(sa.bad[:10])})" if sa.bad else "") + f" [verified by {how}]")
    print(f"total: {seen} ESP frames, {len(failures)} failed"
          + (f", {skipped} ESP-in-ICMP-error frames ignored" if skipped else ""))
    if failures:
        print("FAIL: " + "; ".join(failures[:10]) + (" ..." if len(failures) > 10 else ""))
        return 1
    if seen < a.min_frames:
        print(f"FAIL: only {seen} ESP frames, need at least {a.min_frames}")
        return 1
    few = [f"0x{sa.spi:x}" for sa in a.sa if sa.frames < a.min_per_sa]
    if few:
        print(f"FAIL: SA {', '.join(few)} carried fewer than {a.min_per_sa} frames")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
