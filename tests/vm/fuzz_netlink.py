#!/usr/bin/env python3
"""Fuzzes ripsec's generic netlink family with malformed, boundary and random requests.

Raw genetlink over a socket (struct packing), so that any attribute can be missing, duplicated,
of the wrong type or length, truncated or unknown. A model of the family (the spec
rust/proto/ripsec.yaml plus the rules of rust/netlink.rs) says whether each request must be
accepted or rejected. Around every request the SA and policy dumps of its netns are compared:
  - a rejected request must carry an extack message and change nothing;
  - an accepted request must be one the model calls valid, and its effect must show in the dumps;
  - the kernel must report nothing (oops, WARN, ...) in dmesg.

Passes: --systematic (every command x every attribute x every mutation, deterministic) and
--count N random requests (valid and invalid, mixed) across --netns namespaces with a ping
flowing over a ripsec SA between the first two. Prints a summary; exits 1 on any violation.
Needs root and ripsec.ko loaded.
"""
import argparse
import collections
import ctypes
import errno
import os
import random
import socket
import struct
import subprocess
import sys
import time

import yaml

SPEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../rust/proto/ripsec.yaml")

# ---- netlink plumbing ----------------------------------------------------------------------
NETLINK_GENERIC, SOL_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK = 16, 270, 10, 11
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP, NLM_F_CAPPED, NLM_F_ACK_TLVS = 1, 4, 0x300, 0x100, 0x200
NLMSGERR_ATTR_MSG = 1
NLA_F_NESTED, NLA_F_NET_BYTEORDER = 0x8000, 0x4000
GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 16, 3, 1, 2
CLONE_NEWNET = 0x40000000


def nla(ty, payload, flags=0, length=None):
    """One attribute; `length` overrides the header's length field (truncation mutations)."""
    n = 4 + len(payload) if length is None else length
    raw = struct.pack("=HH", n, ty | flags) + payload
    return raw + b"\0" * (-len(raw) % 4)


def parse_attrs(data):
    """[(type, payload)] of a well-formed attribute stream (replies from the kernel)."""
    out, off = [], 0
    while off + 4 <= len(data):
        n, ty = struct.unpack_from("=HH", data, off)
        if n < 4:
            break
        out.append((ty & 0x3FFF, data[off + 4:off + n]))
        off += (n + 3) & ~3
    return out


class Reply:
    def __init__(self, err=0, msg=None, msgs=()):
        self.err, self.msg, self.msgs = err, msg, list(msgs)


def error_of(payload, flags):
    """(errno, extack message or None) of an NLMSG_ERROR payload."""
    err = -struct.unpack_from("=i", payload)[0]
    msg = None
    if flags & NLM_F_CAPPED or err == 0:
        tlv = payload[20:] if flags & NLM_F_CAPPED else b""
        for t, v in parse_attrs(tlv):
            if t == NLMSGERR_ATTR_MSG:
                msg = v.rstrip(b"\0").decode(errors="replace")
    return err, msg


class Genl:
    """A generic netlink socket of one netns."""

    def __init__(self, family="ripsec"):
        self.sk = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self.sk.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self.sk.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        self.sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sk.bind((0, 0))
        self.seq = 0
        self.buf = bytearray(1 << 16)
        r = self.send(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, nla(CTRL_ATTR_FAMILY_NAME, family.encode() + b"\0"))
        if r.err:
            sys.exit(f"fuzz_netlink: no genetlink family {family} (is ripsec.ko loaded?)")
        self.id = struct.unpack("=H", dict(r.msgs[0])[CTRL_ATTR_FAMILY_ID])[0]

    def messages(self):
        """(type, flags, seq, payload) of each message that arrives, datagram by datagram."""
        while True:
            # One preallocated buffer: a fresh 1 MB recv() buffer per message costs more than
            # the request itself in a TCG guest. Netlink messages here stay below 32 kB.
            n = self.sk.recv_into(self.buf)
            data = bytes(self.buf[:n])
            off = 0
            while off + 16 <= len(data):
                n, ty, fl, seq, _ = struct.unpack_from("=IHHII", data, off)
                yield ty, fl, seq, data[off + 16:off + n]
                off += (n + 3) & ~3

    def send(self, fam, cmd, attrs, flags=NLM_F_REQUEST | NLM_F_ACK, version=1, reserved=0):
        self.seq += 1
        body = struct.pack("=BBH", cmd, version, reserved) + attrs
        self.sk.send(struct.pack("=IHHII", 16 + len(body), fam, flags, self.seq, 0) + body)
        msgs = []
        for ty, fl, seq, payload in self.messages():
            if seq != self.seq:
                continue
            if ty == NLMSG_ERROR:
                return Reply(*error_of(payload, fl), msgs)
            if ty == NLMSG_DONE:
                err = -struct.unpack_from("=i", payload)[0] if len(payload) >= 4 else 0
                msg = dict(parse_attrs(payload[4:])).get(NLMSGERR_ATTR_MSG) if fl & NLM_F_ACK_TLVS else None
                return Reply(err, msg and msg.rstrip(b"\0").decode(errors="replace"), msgs)
            msgs.append(parse_attrs(payload[4:]))

    def do(self, cmd, attrs, **kw):
        return self.send(self.id, cmd, attrs, **kw)

    def do_many(self, reqs):
        """Replies to [(cmd, attrs, version, reserved)] sent in one datagram, in order."""
        first = self.seq + 1
        out = bytearray()
        for cmd, attrs, version, reserved in reqs:
            self.seq += 1
            body = struct.pack("=BBH", cmd, version, reserved) + attrs
            out += struct.pack("=IHHII", 16 + len(body), self.id, NLM_F_REQUEST | NLM_F_ACK, self.seq, 0) + body
            out += b"\0" * (-len(out) % 4)
        self.sk.send(bytes(out))
        replies = {}
        msgs = collections.defaultdict(list)
        for ty, fl, seq, payload in self.messages():
            if not first <= seq <= self.seq:
                continue
            if ty == NLMSG_ERROR:
                replies[seq] = Reply(*error_of(payload, fl), msgs.pop(seq, []))
                if len(replies) == len(reqs):
                    break
            else:
                msgs[seq].append(parse_attrs(payload[4:]))
        return [replies[s] for s in range(first, self.seq + 1)]

    def dump(self, cmd, attrs=b""):
        r = self.send(self.id, cmd, attrs, flags=NLM_F_REQUEST | NLM_F_DUMP)
        if r.err:
            raise RuntimeError(f"dump of command {cmd} failed: {os.strerror(r.err)} {r.msg}")
        return r.msgs


_libc = ctypes.CDLL(None, use_errno=True)


def in_netns(name, fn):
    """Runs fn() with this thread in netns `name` (sockets made there stay there)."""
    here = os.open("/proc/self/ns/net", os.O_RDONLY)
    there = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(there, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
        return fn()
    finally:
        _libc.setns(here, CLONE_NEWNET)
        os.close(here)
        os.close(there)


# ---- the family, from the spec -------------------------------------------------------------
class Spec:
    def __init__(self, path):
        with open(path) as f:
            y = yaml.safe_load(f)
        attrs = next(s for s in y["attribute-sets"] if s["name"] == "ripsec")["attributes"]
        self.num, self.type, self.maxlen, self.name = {}, {}, {}, {}
        for i, a in enumerate(attrs, 1):
            self.num[a["name"]] = i
            self.name[i] = a["name"]
            self.type[a["name"]] = a["type"]
            self.maxlen[a["name"]] = a.get("checks", {}).get("max-len")
        self.max = len(attrs)
        self.cmd, self.request, self.dumpable = {}, {}, set()
        for op in y["operations"]["list"]:
            if "do" not in op:
                continue  # events
            self.cmd[op["name"]] = op["value"]
            self.request[op["name"]] = list((op["do"].get("request") or {}).get("attributes", []))
            if "dump" in op:
                self.dumpable.add(op["name"])


S = Spec(SPEC)
A = S.num
INT_LEN = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}
INT_FMT = {"u8": "=B", "u16": "=H", "u32": "=I", "u64": "=Q"}
VOLATILE = {A["stats"], A["sa-seq-out"], A["sa-replay-top"], A["sa-pmtu"]}
LIMITS = ["sa-soft-bytes", "sa-soft-packets", "sa-soft-add-secs", "sa-soft-use-secs",
          "sa-hard-bytes", "sa-hard-packets", "sa-hard-add-secs", "sa-hard-use-secs"]
# Algorithms the fuzzer uses (name: (proto, key bytes)); others appear as unknown names.
ALGS = {"aes128gcm16": (50, 20), "aes256gcm16": (50, 36), "aes128gmac": (50, 20),
        "aes128-sha256": (50, 48), "null-sha1": (50, 20), "aes128-aesxcbc": (50, 32),
        "chacha20poly1305": (50, 36), "sha256": (51, 32), "sha1": (51, 20), "aesxcbc": (51, 16)}
ESP, AH = 50, 51
# encap-fd of the systematic pass's base request, replaced by a fresh socket's descriptor.
FD_PLACEHOLDER = 0x5EC0FD


def enc(name, value):
    """The payload of attribute `name` for a Python value."""
    t = S.type[name]
    if t in INT_FMT:
        return struct.pack(INT_FMT[t], value)
    if t == "flag":
        return b""
    if t == "string":
        return value.encode() + b"\0"
    return bytes(value)


def ip4(*b):
    return bytes(b)


def ip6(last):
    return bytes([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last])


# ---- requests ------------------------------------------------------------------------------
class Req:
    """A request: command name, attributes [(type, payload, flag bits, header length or None)],
    extra header fields, and trailing garbage."""

    def __init__(self, cmd, fields=(), dump=False):
        self.cmd, self.dump, self.attrs = cmd, dump, [(A[n], enc(n, v), 0, None) for n, v in fields]
        self.version, self.reserved, self.trailer, self.what, self.ns = 1, 0, b"", "base", None

    def copy(self, what):
        r = Req(self.cmd, dump=self.dump)
        r.attrs, r.version, r.reserved, r.trailer = list(self.attrs), self.version, self.reserved, self.trailer
        r.what, r.ns = what, self.ns
        return r

    def wire(self):
        return b"".join(nla(t, p, f, n) for t, p, f, n in self.attrs) + self.trailer

    def value(self, name):
        """The payload of the last `name` attribute, or None."""
        vals = [p for t, p, _, _ in self.attrs if t == A[name]]
        return vals[-1] if vals else None


def u(payload):
    return None if payload is None else int.from_bytes(payload, sys.byteorder)


# ---- state of a netns ----------------------------------------------------------------------
def sa_key(d):
    return (u(d.get(A["sa-spi"])), u(d.get(A["sa-proto"])), u(d.get(A["sa-family"])), d.get(A["sa-dst"]))


class State:
    """SAs by (spi, proto, family, dst) and policies by id, without counters."""

    def __init__(self, g):
        show = nla(A["show-keys"], b"")
        self.sas = {}
        for m in g.dump(S.cmd["sa-get"], show):
            d = {t: v for t, v in m if t not in VOLATILE}
            self.sas[sa_key(d)] = d
        self.sps = {}
        for m in g.dump(S.cmd["sp-get"]):
            d = dict(m)
            self.sps[u(d[A["sp-id"]])] = d

    def spis(self):
        return {k[0] for k in self.sas}

    def diff(self, other):
        """What differs between two states, ignoring SAs that vanished on their own (hard limit
        reached while traffic flowed or time passed): a short description, or None."""
        out = []
        for k in set(self.sas) | set(other.sas):
            a, b = self.sas.get(k), other.sas.get(k)
            if a == b:
                continue
            if b is None and any(u(a.get(A[n])) for n in LIMITS[4:]):
                continue
            out.append(f"SA {k[0]:#x}/{k[1]}: {describe(a)} -> {describe(b)}")
        for k in set(self.sps) | set(other.sps):
            if self.sps.get(k) != other.sps.get(k):
                out.append(f"policy {k}: {describe(self.sps.get(k))} -> {describe(other.sps.get(k))}")
        return "; ".join(out) or None


def describe(d):
    if d is None:
        return "none"
    return "{" + ", ".join(f"{S.name.get(t, t)}={v.hex()}" for t, v in sorted(d.items())) + "}"


# ---- the model -----------------------------------------------------------------------------
class Invalid(Exception):
    """The request must be rejected (with any errno, or one of `errnos` if given)."""

    def __init__(self, why, errnos=None):
        super().__init__(why)
        self.errnos = errnos


def structural(req):
    """The kernel policy's and the module's attribute-level checks."""
    allowed = {A[n] for n in S.request[req.cmd]}
    seen = set()
    if req.reserved:
        raise Invalid("genl header reserved field set")
    if req.trailer:
        raise Invalid("trailing bytes")
    for t, p, f, n in req.attrs:
        if n is not None:
            raise Invalid("attribute length field wrong")
        if t == 0 or t > S.max:
            raise Invalid("unknown attribute")
        name = S.name[t]
        if t not in allowed:
            raise Invalid(f"{name} not taken by {req.cmd}")
        if f & NLA_F_NESTED:
            raise Invalid(f"{name} has NLA_F_NESTED")
        if f & NLA_F_NET_BYTEORDER:
            raise Invalid(f"{name} has NLA_F_NET_BYTEORDER")
        ty = S.type[name]
        if ty in INT_LEN and len(p) != INT_LEN[ty]:
            raise Invalid(f"{name} length {len(p)}")
        if ty == "flag" and p:
            raise Invalid(f"{name} flag with payload")
        if ty == "string" and b"\0" not in p:
            raise Invalid(f"{name} not NUL-terminated")
        if ty == "binary" and S.maxlen[name] is not None and len(p) > S.maxlen[name]:
            raise Invalid(f"{name} too long")
        # Dumps ignore their attributes but show-keys, yet refuse duplicates as requests do.
        if t in seen:
            raise Invalid(f"{name} duplicated")
        seen.add(t)


class Model:
    """Judges requests against a netns's state; `check` returns a function that verifies an
    accepted request's reply and effect (before, after state, reply) or raises Invalid."""

    def __init__(self, ctx):
        self.ctx = ctx

    def check(self, req, st):
        structural(req)
        if req.dump:
            return lambda before, after, r: None
        return getattr(self, "c_" + req.cmd.replace("-", "_"))(req, st)

    # helpers
    @staticmethod
    def need(req, name):
        v = req.value(name)
        if v is None:
            raise Invalid(f"{name} missing")
        return v

    def family(self, req, name):
        f = u(self.need(req, name))
        if f not in (2, 10):
            raise Invalid(f"{name} {f}")
        return f

    def addr(self, req, name, fam, required=True):
        v = req.value(name)
        if v is None:
            if required:
                raise Invalid(f"{name} missing")
            return None
        if len(v) != (4 if fam == 2 else 16):
            raise Invalid(f"{name} length {len(v)} for family {fam}")
        return v

    def proto(self, req, name):
        p = u(self.need(req, name))
        if p not in (ESP, AH):
            raise Invalid(f"{name} {p}")
        return p

    def mode(self, req, name):
        m = u(self.need(req, name))
        if m not in (0, 1):
            raise Invalid(f"{name} {m}")
        return m

    def sa_id(self, req):
        spi = u(self.need(req, "sa-spi"))
        if spi < 256:
            raise Invalid("reserved spi")
        proto = self.proto(req, "sa-proto")
        fam = self.family(req, "sa-family")
        return (spi, proto, fam, self.addr(req, "sa-dst", fam))

    @staticmethod
    def limits(req):
        v = [u(req.value(n)) or 0 for n in LIMITS]
        for i in range(4):
            if v[i] and v[i + 4] and v[i] > v[i + 4]:
                raise Invalid("soft limit above hard")
        return v

    @staticmethod
    def unchanged(before, after, r):
        d = before.diff(after)
        if d:
            raise AssertionError(f"a read changed state: {d}")

    # commands
    def c_get_info(self, req, st):
        def eff(before, after, r):
            self.unchanged(before, after, r)
            got = dict(r.msgs[0]) if r.msgs else {}
            if u(got.get(A["netns-cookie"])) is None or A["version"] not in got:
                raise AssertionError("get-info reply lacks version or netns-cookie")
        return eff

    def c_get_stats(self, req, st):
        def eff(before, after, r):
            self.unchanged(before, after, r)
            got = dict(r.msgs[0])
            n = u(got[A["sa-count"]])
            if not (min(len(before.sas), len(after.sas)) <= n <= max(len(before.sas), len(after.sas))):
                raise AssertionError(f"get-stats sa-count {n}, dumps hold {len(after.sas)}")
            if u(got[A["sp-count"]]) != len(after.sps):
                raise AssertionError(f"get-stats sp-count {u(got[A['sp-count']])}, dump holds {len(after.sps)}")
        return eff

    def c_sa_flush(self, req, st):
        p = None
        if req.value("sa-proto") is not None:
            p = self.proto(req, "sa-proto")

        def eff(before, after, r):
            want = _without(before)
            want.sas = {k: v for k, v in before.sas.items() if p is not None and k[1] != p}
            d = want.diff(after)
            if d:
                raise AssertionError(f"sa-flush proto {p}: {d}")
        return eff

    def c_sp_flush(self, req, st):
        def eff(before, after, r):
            if after.sps:
                raise AssertionError("sp-flush left policies")
            if State.diff(_only_sas(before), _only_sas(after)):
                raise AssertionError("sp-flush changed SAs")
        return eff

    def c_sa_get(self, req, st):
        k = self.sa_id(req)
        if k not in st.sas:
            raise Invalid("no such SA", {errno.ENOENT})
        show = req.value("show-keys") is not None

        def eff(before, after, r):
            self.unchanged(before, after, r)
            got = {t: v for t, v in r.msgs[0] if t not in VOLATILE}
            want = dict(before.sas[k])
            if not show:
                want.pop(A["sa-key"], None)
            if got != want:
                raise AssertionError(f"sa-get reply {describe(got)} != dump {describe(want)}")
        return eff

    def c_sa_del(self, req, st):
        k = self.sa_id(req)
        if k not in st.sas:
            raise Invalid("no such SA", {errno.ENOENT})

        def eff(before, after, r):
            want = _without(before, sa=k)
            d = want.diff(after)
            if d or k in after.sas:
                raise AssertionError(f"sa-del: {d or 'SA still there'}")
        return eff

    def c_sa_update(self, req, st):
        k = self.sa_id(req)
        lim = self.limits(req)
        if k not in st.sas:
            raise Invalid("no such SA", {errno.ENOENT})
        sport, dport = u(req.value("sa-encap-sport")), u(req.value("sa-encap-dport"))
        has_encap = A["sa-encap-type"] in st.sas[k]
        if sport is not None or dport is not None:
            if not has_encap:
                raise Invalid("ports for an SA without encapsulation")
            if sport == 0 or dport == 0:
                raise Invalid("port 0")
        set_limits = sport is None and dport is None or any(req.value(n) is not None for n in LIMITS)

        def eff(before, after, r):
            if k not in after.sas:
                if any(lim[4:]) or any(u(before.sas[k].get(A[n])) for n in LIMITS[4:]):
                    return  # hard-expired at once
                raise AssertionError("sa-update removed the SA")
            want = dict(before.sas[k])
            if set_limits:
                for n, v in zip(LIMITS, lim):
                    want[A[n]] = enc(n, v)
            if sport is not None:
                want[A["sa-encap-sport"]] = enc("sa-encap-sport", sport)
            if dport is not None:
                want[A["sa-encap-dport"]] = enc("sa-encap-dport", dport)
            got = after.sas[k]
            if got != want:
                raise AssertionError(f"sa-update: {describe(got)} != expected {describe(want)}")
            d = _without(before, sa=k).diff(_without(after, sa=k))
            if d:
                raise AssertionError(f"sa-update changed other entries: {d}")
        return eff

    def c_sa_add(self, req, st):
        k = self.sa_id(req)
        spi, proto, fam, dst = k
        lim = self.limits(req)
        etype = req.value("sa-encap-type")
        sport, dport = u(req.value("sa-encap-sport")), u(req.value("sa-encap-dport"))
        if etype is None and (sport is not None or dport is not None):
            raise Invalid("ports without encap type")
        if etype is not None:
            if u(etype) != 2 or proto != ESP or not sport or not dport:
                raise Invalid("bad encapsulation")
        mode = self.mode(req, "sa-mode")
        src = self.addr(req, "sa-src", fam)
        alg = self.need(req, "sa-alg").split(b"\0")[0]
        try:
            name = alg.decode()
        except UnicodeDecodeError:
            raise Invalid("alg not UTF-8")
        if ALGS.get(name, (0,))[0] != proto or name not in self.ctx.available:
            raise Invalid(f"alg {name!r} not usable for proto {proto}")
        key = self.need(req, "sa-key")
        if len(key) != ALGS[name][1]:
            raise Invalid("key length")
        window = u(req.value("sa-replay-window"))
        if window is not None and window > 4096:
            raise Invalid("replay window above 4096")
        if req.value("sa-ah-align8") is not None and proto != AH:
            raise Invalid("align8 for ESP")
        if k in st.sas:
            raise Invalid("SA exists", {errno.EEXIST})

        def eff(before, after, r):
            self.ctx.unreserve(req.ns, spi)
            got = after.sas.get(k)
            if got is None:
                if any(lim[4:]):
                    return  # hard-expired already
                raise AssertionError("sa-add: SA not in the dump")
            want = {A["sa-mode"]: enc("sa-mode", mode), A["sa-src"]: src, A["sa-alg"]: alg + b"\0",
                    A["sa-key"]: key, A["sa-reqid"]: enc("sa-reqid", u(req.value("sa-reqid")) or 0),
                    A["sa-replay-window"]: enc("sa-replay-window", 32 if window is None else window)}
            for n, v in zip(LIMITS, lim):
                want[A[n]] = enc(n, v)
            if etype is not None:
                want[A["sa-encap-sport"]] = enc("sa-encap-sport", sport)
                want[A["sa-encap-dport"]] = enc("sa-encap-dport", dport)
            bad = {S.name[t]: (got.get(t), v) for t, v in want.items() if got.get(t) != v}
            for n in ("sa-esn", "sa-ah-align8"):
                if (A[n] in got) != (req.value(n) is not None):
                    bad[n] = "flag"
            if bad:
                raise AssertionError(f"sa-add: SA differs from the request: {bad}")
            d = before.diff(_without(after, sa=k))
            if d:
                raise AssertionError(f"sa-add changed other entries: {d}")
        return eff

    def selector(self, req):
        fam = self.family(req, "sel-family")
        bits = 32 if fam == 2 else 128
        sel = [fam]
        for an, ln in (("sel-src", "sel-src-len"), ("sel-dst", "sel-dst-len")):
            a = self.addr(req, an, fam, required=False)
            plen = u(req.value(ln))
            if plen is None:
                plen = bits if a is not None else 0
            if plen > bits:
                raise Invalid(f"{ln} {plen}")
            a = a or bytes(bits // 8)
            n = int.from_bytes(a, "big")
            if n & ((1 << (bits - plen)) - 1):
                raise Invalid(f"{an} host bits")
            sel += [a, plen]
        proto = u(req.value("sel-proto")) or 0
        sel.append(proto)
        for lo_n, hi_n in (("sel-sport-lo", "sel-sport-hi"), ("sel-dport-lo", "sel-dport-hi")):
            lo, hi = u(req.value(lo_n)), u(req.value(hi_n))
            if (lo is not None or hi is not None) and proto == 0:
                raise Invalid("ports without sel-proto")
            lo = lo or 0
            hi = hi if hi is not None else (0xFFFF if lo == 0 else lo)
            if lo > hi:
                raise Invalid("port range reversed")
            sel += [lo, hi]
        return tuple(sel)

    def c_sp_add(self, req, st):
        d = u(self.need(req, "sp-dir"))
        if d > 2:
            raise Invalid("sp-dir")
        action = u(self.need(req, "sp-action"))
        if action > 2:
            raise Invalid("sp-action")
        prio = u(req.value("sp-priority")) or 0
        sel = self.selector(req)
        tmpl = ["tmpl-proto", "tmpl-mode", "tmpl-reqid", "tmpl-family", "tmpl-src", "tmpl-dst"]
        if action != 0:
            if any(req.value(n) is not None for n in tmpl):
                raise Invalid("template on a non-protect policy")
        else:
            self.proto(req, "tmpl-proto")
            if self.mode(req, "tmpl-mode") == 1:
                f = self.family(req, "tmpl-family")
                self.addr(req, "tmpl-src", f)
                self.addr(req, "tmpl-dst", f)
            elif any(req.value(n) is not None for n in tmpl[3:]):
                raise Invalid("tunnel endpoints in transport mode")
        if any(u(p[A["sp-dir"]]) == d and u(p[A["sp-priority"]]) == prio and policy_sel(p) == sel
               for p in st.sps.values()):
            raise Invalid("duplicate policy", {errno.EEXIST})

        def eff(before, after, r):
            pid = u(dict(r.msgs[0])[A["sp-id"]])
            got = after.sps.get(pid)
            if got is None or pid in before.sps:
                raise AssertionError(f"sp-add: policy {pid} not new in the dump")
            if policy_sel(got) != sel or u(got[A["sp-dir"]]) != d or u(got[A["sp-action"]]) != action \
                    or u(got[A["sp-priority"]]) != prio:
                raise AssertionError(f"sp-add: policy {describe(got)} differs from the request")
            for n in tmpl:
                v = req.value(n)
                if v is not None and got.get(A[n]) != v:
                    raise AssertionError(f"sp-add: {n} {got.get(A[n])} != {v}")
            changed = before.diff(_without(after, sp=pid))
            if changed:
                raise AssertionError(f"sp-add changed other entries: {changed}")
        return eff

    def sp_exists(self, req, st):
        pid = u(self.need(req, "sp-id"))
        if pid not in st.sps:
            raise Invalid("no such policy", {errno.ENOENT})
        return pid

    def c_sp_get(self, req, st):
        pid = self.sp_exists(req, st)

        def eff(before, after, r):
            self.unchanged(before, after, r)
            if dict(r.msgs[0]) != before.sps[pid]:
                raise AssertionError("sp-get reply differs from the dump")
        return eff

    def c_sp_del(self, req, st):
        pid = self.sp_exists(req, st)

        def eff(before, after, r):
            d = _without(before, sp=pid).diff(after)
            if pid in after.sps or d:
                raise AssertionError(f"sp-del did not delete exactly the policy: {d}")
        return eff

    def c_getspi(self, req, st):
        self.proto(req, "sa-proto")
        if req.value("sa-family") is not None or req.value("sa-dst") is not None:
            f = self.family(req, "sa-family")
            self.addr(req, "sa-dst", f, required=False)
        lo = u(req.value("spi-min"))
        lo = 256 if lo is None else lo
        hi = u(req.value("spi-max"))
        hi = 0xFFFFFFFF if hi is None else hi
        if lo < 256 or lo > hi:
            raise Invalid("spi range")
        in_use, res = st.spis(), self.ctx.reserved(req.ns)
        small = hi - lo < 65536
        if small and all(s in in_use for s in range(lo, hi + 1)):
            raise Invalid("range full", {errno.ENOSPC})
        # Reservations expire after 60 s by the kernel's clock, not quite ours.
        full = small and all(s in in_use or s in res for s in range(lo, hi + 1))
        tolerate = {errno.ENOSPC} if full or len(res) > 4000 else set()

        def eff(before, after, r):
            self.unchanged(before, after, r)
            spi = u(dict(r.msgs[0])[A["sa-spi"]])
            if not lo <= spi <= hi or spi in in_use:
                raise AssertionError(f"getspi gave {spi:#x}, range {lo:#x}-{hi:#x}, in use: {spi in in_use}")
            self.ctx.reserve(req.ns, spi)
        eff.tolerate = tolerate
        return eff

    def c_encap_attach(self, req, st):
        fd = u(self.need(req, "encap-fd"))
        if not self.ctx.attachable(req.ns, fd):
            raise Invalid("not an attachable socket")

        def eff(before, after, r):
            self.unchanged(before, after, r)
            self.ctx.attached(req.ns, fd)
        eff.tolerate = {errno.ENOSPC}
        return eff

    def c_migrate(self, req, st):
        reqid = u(self.need(req, "sa-reqid"))
        if reqid == 0:
            raise Invalid("reqid 0")
        fam = self.family(req, "sa-family")
        old = self.addr(req, "migrate-old", fam)
        new = self.addr(req, "migrate-new", fam)
        if u(req.value("sa-encap-dport")) == 0:
            raise Invalid("port 0")
        moving = [k for k, d in st.sas.items()
                  if u(d.get(A["sa-reqid"])) == reqid and k[2] == fam and old in (k[3], d.get(A["sa-src"]))]
        if not moving and not any(u(p.get(A["tmpl-reqid"])) == reqid for p in st.sps.values()):
            raise Invalid("nothing to migrate", {errno.ENOENT})
        if any(k[3] == old and (k[0], k[1], k[2], new) in st.sas and old != new for k in moving):
            raise Invalid("new id taken", {errno.EEXIST})

        def eff(before, after, r):
            n = u(dict(r.msgs[0])[A["sa-count"]])
            if n != len(moving):
                raise AssertionError(f"migrate moved {n} SAs, {len(moving)} match")
        # Templates match by their own family and endpoints: ENOENT is possible when only a
        # template of another address has the reqid.
        eff.tolerate = {errno.ENOENT} if not moving else set()
        return eff


def policy_sel(p):
    f = u(p[A["sel-family"]])
    return (f, p[A["sel-src"]], u(p[A["sel-src-len"]]), p[A["sel-dst"]], u(p[A["sel-dst-len"]]),
            u(p[A["sel-proto"]]), u(p[A["sel-sport-lo"]]), u(p[A["sel-sport-hi"]]),
            u(p[A["sel-dport-lo"]]), u(p[A["sel-dport-hi"]]))


def _without(st, sa=None, sp=None):
    c = State.__new__(State)
    c.sas = {k: v for k, v in st.sas.items() if k != sa}
    c.sps = {k: v for k, v in st.sps.items() if k != sp}
    return c


def _only_sas(st):
    c = State.__new__(State)
    c.sas, c.sps = st.sas, {}
    return c


# ---- mutations -----------------------------------------------------------------------------
U32_EDGES = [0, 1, 255, 256, 4096, 4097, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
U8_EDGES = [0, 1, 2, 3, 9, 10, 11, 32, 33, 50, 51, 127, 128, 129, 255]
EDGES = {"u8": U8_EDGES, "u16": [0, 1, 255, 256, 4500, 65534, 65535],
         "u32": U32_EDGES, "u64": [0, 1, 2, 4096, 1 << 32, 1 << 63, (1 << 64) - 1]}
STRINGS = [b"", b"\0", b"aes128gcm16", b"aes128gcm16\0junk", b"sha256\0", b"aes128gcm16\0",
           b"x" * 200 + b"\0", b"\xff\xfe\0", b"AES128GCM16\0", b"null-sha1\0", b"chacha20poly1305\0"]


# --full: every length 0..9 of integers and 0..max-len+1 of binaries, and every other type.
FULL = False


def other_types():
    """Payloads of every attribute type, to put where another type belongs."""
    return [("u8", b"\x01"), ("u16", b"\x01\x00"), ("u32", b"\x01\0\0\0"), ("u64", b"\x01" + b"\0" * 7),
            ("flag", b""), ("string", b"x\0"), ("binary4", b"\x0a\x01\x00\x02"), ("binary16", bytes(range(16))),
            ("nest", nla(A["sa-spi"], struct.pack("=I", 0x1234)))]


def attr_mutations(req, t):
    """(description, request) for every mutation of attribute type t of req (present in it)."""
    name = S.name[t]
    ty = S.type[name]
    i = next(j for j, a in enumerate(req.attrs) if a[0] == t)
    orig = req.attrs[i]

    def with_attr(what, attr):
        r = req.copy(f"{name}: {what}")
        r.attrs[i] = attr
        return r
    out = []
    r = req.copy(f"{name}: missing")
    del r.attrs[i]
    out.append(r)
    r = req.copy(f"{name}: duplicated")
    r.attrs.insert(i + 1, orig)
    out.append(r)
    r = req.copy(f"{name}: duplicated, last first")
    r.attrs.append(orig)
    out.append(r)
    if ty in INT_LEN:
        size = INT_LEN[ty]
        for n in range(0, 10) if FULL else sorted({0, size - 1, size + 1, 2 * size} - {size}):
                out.append(with_attr(f"length {n}", (t, (orig[1] * 9)[:n].ljust(n, b"\x01"), 0, None)))
        for v in EDGES[ty]:
            out.append(with_attr(f"value {v}", (t, struct.pack(INT_FMT[ty], v), 0, None)))
    elif ty == "flag":
        for n in (1, 4, 8):
            out.append(with_attr(f"length {n}", (t, b"\x01" * n, 0, None)))
    elif ty == "string":
        for v in STRINGS:
            out.append(with_attr(f"string {v[:20]!r}", (t, v, 0, None)))
    elif ty == "binary":
        top = (S.maxlen[name] or 32) + 2
        size = len(orig[1])
        lengths = range(0, top) if FULL else sorted({0, 1, 3, 4, 5, 15, 16, 17, size - 1, size + 1, top - 2, top - 1})
        for n in lengths:
            out.append(with_attr(f"length {n}", (t, bytes((k * 37 + 1) & 0xFF for k in range(n)), 0, None)))
        for fill in (0, 0xFF):
            out.append(with_attr(f"all {fill:#x}", (t, bytes([fill]) * len(orig[1]), 0, None)))
    for what, payload in other_types() if FULL else other_types()[4:]:
        out.append(with_attr(f"as {what}", (t, payload, 0, None)))
    out.append(with_attr("NLA_F_NESTED", (t, orig[1], NLA_F_NESTED, None)))
    out.append(with_attr("NLA_F_NET_BYTEORDER", (t, orig[1], NLA_F_NET_BYTEORDER, None)))
    out.append(with_attr("length field past the end", (t, orig[1], 0, 4 + len(orig[1]) + 64)))
    out.append(with_attr("length field 3", (t, orig[1], 0, 3)))
    return out


def request_mutations(req):
    """Mutations of the request as a whole."""
    out = []
    for t in (0, S.max + 1, 200, 0x3FFF):
        r = req.copy(f"unknown attribute {t}")
        r.attrs.append((t, b"\0\0\0\0", 0, None))
        out.append(r)
    for t in range(1, S.max + 1):
        if S.name[t] not in S.request[req.cmd]:
            ty = S.type[S.name[t]]
            r = req.copy(f"{S.name[t]}: not taken")
            r.attrs.append((t, b"\0" * INT_LEN.get(ty, 4) if ty != "flag" else b"", 0, None))
            out.append(r)
    for n in (1, 2, 3, 4, 8):
        r = req.copy(f"{n} trailing bytes")
        r.trailer = b"\x01" * n
        out.append(r)
    r = req.copy("genl reserved field")
    r.reserved = 1
    out.append(r)
    for v in (0, 2, 255):
        r = req.copy(f"genl version {v}")
        r.version = v
        out.append(r)
    return out


# ---- the fuzzer ----------------------------------------------------------------------------
class Fuzzer:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.ns = args.netns
        self.g = {n: in_netns(n, Genl) for n in self.ns}
        self.model = Model(self)
        self.states = {n: State(self.g[n]) for n in self.ns}
        self.res = collections.defaultdict(list)
        self.fresh, self.attached_socks = {}, collections.defaultdict(list)
        self.stats = collections.Counter()
        self.rejects = collections.Counter()
        self.violations = []
        info = self.g[self.ns[0]].do(S.cmd["get-info"], b"")
        self.available = set()
        for t, v in info.msgs[0]:
            if t == A["alg"]:
                d = dict(parse_attrs(v))
                if 6 in d:  # alg attribute "available"
                    self.available.add(d[1].rstrip(b"\0").decode())
        self.traffic = None

    # -- context the model asks about --
    def reserved(self, ns):
        now = time.monotonic()
        self.res[ns] = [(t, s) for t, s in self.res[ns] if now - t < 62]
        return {s for _, s in self.res[ns]}

    def reserve(self, ns, spi):
        self.res[ns].append((time.monotonic(), spi))

    def unreserve(self, ns, spi):
        self.res[ns] = [(t, s) for t, s in self.res[ns] if s != spi]

    def attachable(self, ns, fd):
        return self.fresh.get(fd, (None,))[0] == ns

    def attached(self, ns, fd):
        _, sk = self.fresh.pop(fd)
        self.attached_socks[ns].append(sk)
        while len(self.attached_socks[ns]) > 2:
            self.attached_socks[ns].pop(0).close()

    def fresh_socket(self, ns):
        for fd, (n, _) in self.fresh.items():
            if n == ns:
                return fd

        def mk():
            sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sk.bind(("127.0.0.1", 0))
            return sk
        sk = in_netns(ns, mk)
        self.fresh[sk.fileno()] = (ns, sk)
        return sk.fileno()

    # -- one request --
    def run(self, req, ns):
        req.ns = ns
        g = self.g[ns]
        before = self.states[ns]
        try:
            eff = self.model.check(req, before)
            verdict, errnos = "valid", getattr(eff, "tolerate", set())
        except Invalid as e:
            eff, verdict, errnos, why = None, "invalid", e.errnos, str(e)
        flags = NLM_F_REQUEST | (NLM_F_DUMP if req.dump else NLM_F_ACK)
        r = g.do(S.cmd[req.cmd], req.wire(), flags=flags, version=req.version, reserved=req.reserved)
        after = State(g)
        self.states[ns] = after
        where = f"[{ns}] {req.cmd}{' dump' if req.dump else ''} ({req.what})"
        self.count_reply(where, r)
        if r.err:
            d = before.diff(after)
            if d:
                self.violation(f"{where}: rejected ({r.msg}) but the state changed: {d}")
            if verdict == "valid" and r.err not in errnos:
                self.violation(f"{where}: valid but rejected: {os.strerror(r.err)}: {r.msg}")
            if verdict == "invalid" and errnos and r.err not in errnos:
                self.violation(f"{where}: rejected with {os.strerror(r.err)} ({r.msg}), "
                               f"expected {[os.strerror(e) for e in errnos]} ({why})")
        else:
            if verdict == "invalid":
                self.violation(f"{where}: accepted, but invalid: {why}")
            else:
                try:
                    eff(before, after, r)
                except AssertionError as e:
                    self.violation(f"{where}: accepted, but {e}")
                except (KeyError, IndexError) as e:
                    self.violation(f"{where}: accepted, but the reply lacks {e}")
        return r

    def count_reply(self, where, r):
        """Counts a reply under its outcome; a rejection must say why (extack)."""
        self.stats["requests"] += 1
        if not r.err:
            self.stats["accepted"] += 1
            return
        self.stats["rejected"] += 1
        self.rejects[f"{errno.errorcode.get(r.err, r.err)}: {r.msg}"] += 1
        if not r.msg:
            self.violation(f"{where}: rejected ({os.strerror(r.err)}) without an extack message")

    def violation(self, text):
        self.violations.append(text)
        print("VIOLATION:", text, flush=True)
        if len(self.violations) >= self.args.max_violations:
            self.summary()
            sys.exit(1)

    def quiet(self, ns, cmd, fields=()):
        """A setup request outside the checks."""
        r = self.g[ns].do(S.cmd[cmd], Req(cmd, fields).wire())
        self.states[ns] = State(self.g[ns])
        return r

    # -- valid requests for the current state --
    def addr(self, fam):
        i = self.rng.randint(1, 4)
        return ip4(10, 1, 0, i) if fam == 2 else ip6(i)

    def some_sa(self, ns):
        sas = list(self.states[ns].sas)
        return self.rng.choice(sas) if sas and self.rng.random() < 0.9 else \
            (self.rng.randint(256, 0xFFFF), ESP, 2, self.addr(2))

    def some_sp(self, ns):
        sps = list(self.states[ns].sps)
        return self.rng.choice(sps) if sps and self.rng.random() < 0.9 else self.rng.randint(0, 1 << 20)

    def base(self, cmd, ns):
        """A valid request of `cmd` for netns `ns`'s current state (mostly: picked ids may be gone)."""
        fields = getattr(self, "f_" + cmd.replace("-", "_"), lambda ns: [])(ns)
        return Req(cmd, fields)

    def f_sa_add(self, ns):
        rng = self.rng
        proto = AH if rng.random() < 0.2 else ESP
        fam = rng.choice((2, 10))
        alg = rng.choice([a for a, (p, _) in ALGS.items() if p == proto and a in self.available])
        f = [("sa-spi", rng.randint(256, 0x3FF) if rng.random() < 0.5 else rng.randint(256, 0xFFFFFFFF)),
             ("sa-proto", proto), ("sa-family", fam), ("sa-dst", self.addr(fam)),
             ("sa-mode", rng.randint(0, 1)), ("sa-src", self.addr(fam)), ("sa-alg", alg),
             ("sa-key", rng.randbytes(ALGS[alg][1]))]
        if rng.random() < 0.5:
            f.append(("sa-reqid", rng.randint(1, 3)))
        if rng.random() < 0.3:
            f.append(("sa-replay-window", rng.choice((0, 32, 64, 4096))))
        if rng.random() < 0.2:
            f.append(("sa-esn", None))
        if rng.random() < 0.2:
            f += self.limits()
        if proto == ESP and rng.random() < 0.15:
            f += [("sa-encap-type", 2), ("sa-encap-sport", 4500), ("sa-encap-dport", rng.randint(1, 65535))]
        if proto == AH and rng.random() < 0.3:
            f.append(("sa-ah-align8", None))
        return f

    def sa_ref(self, ns):
        """The id fields of an existing SA (sometimes of none), and its attributes."""
        spi, p, fam, dst = self.some_sa(ns)
        return ([("sa-spi", spi), ("sa-proto", p), ("sa-family", fam), ("sa-dst", dst)],
                self.states[ns].sas.get((spi, p, fam, dst), {}))

    def f_sa_update(self, ns):
        rng = self.rng
        f, d = self.sa_ref(ns)
        if rng.random() < 0.7:
            f += self.limits()
        if A["sa-encap-type"] in d and rng.random() < 0.3:
            f += [("sa-encap-sport", rng.randint(1, 65535)), ("sa-encap-dport", rng.randint(1, 65535))]
        return f

    def f_sa_del(self, ns):
        return self.sa_ref(ns)[0]

    def f_sa_get(self, ns):
        f = self.sa_ref(ns)[0]
        return f + [("show-keys", None)] if self.rng.random() < 0.5 else f

    def f_sa_flush(self, ns):
        return [("sa-proto", self.rng.choice((ESP, AH)))] if self.rng.random() < 0.5 else []

    def f_sp_add(self, ns):
        rng = self.rng
        fam = rng.choice((2, 10))
        bits = 32 if fam == 2 else 128
        action = rng.choice((0, 0, 1, 2))
        f = [("sp-dir", rng.randint(0, 2)), ("sp-action", action), ("sel-family", fam)]
        if rng.random() < 0.9:
            f.append(("sp-priority", rng.randint(0, 3)))
        for an, ln in (("sel-src", "sel-src-len"), ("sel-dst", "sel-dst-len")):
            if rng.random() < 0.7:
                f += [(an, self.addr(fam)), (ln, bits)]
        if rng.random() < 0.4:
            f += [("sel-proto", rng.choice((6, 17))), ("sel-sport-lo", 1000), ("sel-sport-hi", 2000),
                  ("sel-dport-lo", rng.randint(1, 100)), ("sel-dport-hi", 100)]
        if action == 0:
            f += [("tmpl-proto", rng.choice((ESP, AH))), ("tmpl-reqid", rng.randint(0, 3))]
            if rng.random() < 0.5:
                tf = rng.choice((2, 10))
                f += [("tmpl-mode", 1), ("tmpl-family", tf), ("tmpl-src", self.addr(tf)),
                      ("tmpl-dst", self.addr(tf))]
            else:
                f.append(("tmpl-mode", 0))
        return f

    def f_sp_del(self, ns):
        return [("sp-id", self.some_sp(ns))]

    f_sp_get = f_sp_del

    def f_getspi(self, ns):
        rng = self.rng
        f = [("sa-proto", rng.choice((ESP, AH)))]
        if rng.random() < 0.5:
            fam = rng.choice((2, 10))
            f += [("sa-family", fam), ("sa-dst", self.addr(fam))]
        if rng.random() < 0.7:
            lo = rng.choice((256, 0x1000, rng.randint(256, 0xFFFFFFFF)))
            f += [("spi-min", lo), ("spi-max", min(0xFFFFFFFF, lo + rng.choice((0, 15, 1 << 20))))]
        return f

    def f_encap_attach(self, ns):
        return [("encap-fd", self.fresh_socket(ns))]

    def f_migrate(self, ns):
        rng = self.rng
        sas = [(k, d) for k, d in self.states[ns].sas.items() if u(d.get(A["sa-reqid"]))]
        if sas:
            k, d = rng.choice(sas)
            fam, old, reqid = k[2], k[3], u(d[A["sa-reqid"]])
        else:
            fam, old, reqid = 2, self.addr(2), rng.randint(1, 3)
        f = [("sa-reqid", reqid), ("sa-family", fam), ("migrate-old", old), ("migrate-new", self.addr(fam))]
        if rng.random() < 0.3:
            f.append(("sa-encap-dport", rng.randint(1, 65535)))
        return f

    def limits(self):
        rng = self.rng
        out = []
        for i in range(4):
            if rng.random() < 0.5:
                soft = rng.choice((1 << 20, 1 << 40, 3600))
                out += [(LIMITS[i], soft), (LIMITS[i + 4], soft * 2)]
        return out or [(LIMITS[0], 1 << 30), (LIMITS[4], 1 << 31)]

    # -- the systematic pass --
    def fixture(self, ns):
        """One SA with encapsulation and reqid 7, one with AH, one protect policy; nothing else."""
        self.quiet(ns, "sa-flush")
        self.quiet(ns, "sp-flush")
        self.quiet(ns, "sa-add", [("sa-spi", 0x5000), ("sa-proto", ESP), ("sa-family", 2),
                                  ("sa-dst", ip4(10, 1, 0, 2)), ("sa-mode", 1), ("sa-src", ip4(10, 1, 0, 1)),
                                  ("sa-alg", "aes128gcm16"), ("sa-key", bytes(20)), ("sa-reqid", 7),
                                  ("sa-encap-type", 2), ("sa-encap-sport", 4500), ("sa-encap-dport", 4500)])
        self.quiet(ns, "sp-add", [("sp-dir", 0), ("sp-action", 0), ("sel-family", 2),
                                  ("sel-dst", ip4(10, 2, 0, 0)), ("sel-dst-len", 16), ("tmpl-proto", ESP),
                                  ("tmpl-mode", 1), ("tmpl-reqid", 7), ("tmpl-family", 2),
                                  ("tmpl-src", ip4(10, 1, 0, 1)), ("tmpl-dst", ip4(10, 1, 0, 2))])
        return self.states[ns]

    def systematic_bases(self, cmd, ns):
        st = self.states[ns]
        (sa,) = [k for k in st.sas]
        (sp,) = list(st.sps)
        sa_f = [("sa-spi", sa[0]), ("sa-proto", sa[1]), ("sa-family", sa[2]), ("sa-dst", sa[3])]
        key = [("sa-spi", 0x6000), ("sa-proto", ESP), ("sa-family", 2), ("sa-dst", ip4(10, 1, 0, 3))]
        common = [("sa-mode", 0), ("sa-src", ip4(10, 1, 0, 1)), ("sa-reqid", 7), ("sa-replay-window", 64)]
        lim = [(n, (i % 4 + 1) * 1000 * (2 if i >= 4 else 1)) for i, n in enumerate(LIMITS)]
        bases = {
            "sa-add": [Req(cmd, key + common + [("sa-alg", "aes128-sha256"), ("sa-key", bytes(range(48))),
                                                ("sa-esn", None)] + lim +
                           [("sa-encap-type", 2), ("sa-encap-sport", 4500), ("sa-encap-dport", 4501)]),
                       Req(cmd, [("sa-spi", 0x6001), ("sa-proto", AH), ("sa-family", 2),
                                 ("sa-dst", ip4(10, 1, 0, 3))] + common +
                           [("sa-alg", "sha256"), ("sa-key", bytes(32)), ("sa-ah-align8", None)])],
            "sa-update": [Req(cmd, sa_f + lim + [("sa-encap-sport", 4600), ("sa-encap-dport", 4601)])],
            "sa-del": [Req(cmd, sa_f)], "sa-get": [Req(cmd, sa_f + [("show-keys", None)])],
            "sa-flush": [Req(cmd, [("sa-proto", AH)])],
            "sp-add": [Req(cmd, [("sp-dir", 1), ("sp-priority", 5), ("sp-action", 0), ("sel-family", 2),
                                 ("sel-src", ip4(10, 3, 0, 0)), ("sel-src-len", 16), ("sel-dst", ip4(10, 4, 0, 0)),
                                 ("sel-dst-len", 24), ("sel-proto", 17), ("sel-sport-lo", 500),
                                 ("sel-sport-hi", 600), ("sel-dport-lo", 4500), ("sel-dport-hi", 4500),
                                 ("tmpl-proto", ESP), ("tmpl-mode", 1), ("tmpl-reqid", 9), ("tmpl-family", 10),
                                 ("tmpl-src", ip6(1)), ("tmpl-dst", ip6(2))])],
            "sp-del": [Req(cmd, [("sp-id", sp)])], "sp-get": [Req(cmd, [("sp-id", sp)])],
            "getspi": [Req(cmd, [("sa-proto", ESP), ("sa-family", 2), ("sa-dst", ip4(10, 1, 0, 2)),
                                 ("spi-min", 0x7000), ("spi-max", 0x7FFF)])],
            "migrate": [Req(cmd, [("sa-reqid", 7), ("sa-family", 2), ("migrate-old", ip4(10, 1, 0, 2)),
                                  ("migrate-new", ip4(10, 1, 0, 4)), ("sa-encap-dport", 4502)])],
            "encap-attach": [Req(cmd, [("encap-fd", FD_PLACEHOLDER)])],
        }
        return bases.get(cmd, [Req(cmd)])

    def systematic(self, ns):
        fix = self.fixture(ns)
        cases = []
        for cmd in S.cmd:
            bases = self.systematic_bases(cmd, ns)
            cases += [(bases[0], None)] + [(m, None) for m in request_mutations(bases[0])]
            for name in S.request[cmd]:
                b = next((b for b in bases if b.value(name) is not None), None)
                if b is not None:
                    cases += [(m, None) for m in attr_mutations(b, A[name])]
            if cmd in S.dumpable:
                d = Req(cmd, dump=True)
                d.attrs = list(bases[0].attrs)
                cases += [(d, None)] + [(m, None) for m in request_mutations(d)]
                for t, _, _, _ in d.attrs:
                    cases += [(m, None) for m in attr_mutations(d, t)]
        for req, _ in cases:
            st = self.states[ns]
            if st.sas != fix.sas or st.sps != fix.sps:
                fix = self.fixture(ns)
            ph = struct.pack("=I", FD_PLACEHOLDER)
            req.attrs = [(t, struct.pack("=I", self.fresh_socket(ns)) if p == ph else p, fl, n)
                         for t, p, fl, n in req.attrs]
            self.run(req, ns)
        self.stats["systematic"] = len(cases)

    # -- the random pass --
    WEIGHTS = {"sa-add": 20, "sa-update": 8, "sa-del": 6, "sa-get": 8, "sa-flush": 1, "sp-add": 16,
               "sp-del": 6, "sp-get": 6, "sp-flush": 1, "getspi": 5, "get-stats": 3, "get-info": 2,
               "encap-attach": 2, "migrate": 4}

    def random_request(self, ns):
        """A random request for netns `ns`: valid for its state, or mutated once or twice."""
        cmds, weights = zip(*self.WEIGHTS.items())
        st = self.states[ns]
        if len(st.sas) > 48:
            self.quiet(ns, "sa-flush")
        if len(st.sps) > 48:
            self.quiet(ns, "sp-flush")
        cmd = self.rng.choices(cmds, weights)[0]
        req = self.base(cmd, ns)
        if self.rng.random() < 0.3 and cmd in S.dumpable:
            req.dump = True
        if self.rng.random() < 0.5:
            for _ in range(self.rng.randint(1, 2)):
                present = sorted({a[0] for a in req.attrs if 0 < a[0] <= S.max})
                muts = request_mutations(req)
                if present:
                    muts += attr_mutations(req, self.rng.choice(present))
                req = self.rng.choice(muts)
        return req

    def random_pass(self, count):
        for n in range(count):
            ns = self.rng.choice(self.ns)
            self.run(self.random_request(ns), ns)
            if self.traffic:
                self.traffic.restore(self)
            if self.args.progress and (n + 1) % self.args.progress == 0:
                self.progress(n + 1)

    def burst_pass(self, count, size):
        """Random requests `size` at a time in one datagram, for the long campaign's rate. Each
        gets its own reply: a rejection must carry an extack message and a reply must parse.
        The state is read once per burst (the next burst's requests are made from it), so
        whether a rejected request changed nothing is checked by the per-request passes."""
        done = 0
        stop = self.t0 + 60 * self.args.minutes if self.args.minutes else None
        while done < count and (stop is None or time.monotonic() < stop):
            ns = self.rng.choice(self.ns)
            reqs = []
            for _ in range(min(size, count - done)):
                req = self.random_request(ns)
                req.dump = False  # one dump at a time per socket: those go through run()
                reqs.append(req)
            replies = self.g[ns].do_many([(S.cmd[r.cmd], r.wire(), r.version, r.reserved) for r in reqs])
            for req, r in zip(reqs, replies):
                self.count_reply(f"[{ns}] {req.cmd} ({req.what}) in a burst", r)
            self.states[ns] = State(self.g[ns])
            if self.traffic:
                self.traffic.restore(self)
            before = done
            done += len(reqs)
            if self.args.progress and done // self.args.progress != before // self.args.progress:
                self.progress(done)

    def progress(self, n):
        print(f"{n} requests, {len(self.violations)} violations, "
              f"{self.stats['requests'] / (time.monotonic() - self.t0):.0f}/s", flush=True)

    def summary(self):
        secs = time.monotonic() - self.t0
        s = self.stats
        print(f"fuzz_netlink: seed {self.args.seed}: {s['requests']} requests in {secs:.0f} s "
              f"({s['requests'] / max(secs, 1e-9):.0f}/s), {s['accepted']} accepted, {s['rejected']} rejected, "
              f"{s['systematic']} systematic cases")
        for k, v in self.rejects.most_common():
            print(f"  rejected {v:7d}x  {k}")
        if self.traffic:
            print(f"  traffic: {self.traffic.packets(self)} packets over the ripsec SA")
        print(f"  violations: {len(self.violations)}")


# ---- traffic over a ripsec SA between the first two netns ----------------------------------
class Traffic:
    A_IP, B_IP = "10.99.0.1", "10.99.0.2"

    def __init__(self, fz, a, b):
        self.a, self.b = a, b
        subprocess.run(["ip", "link", "add", "fzv0", "netns", a, "type", "veth", "peer", "name", "fzv1",
                        "netns", b], check=True)
        for ns, dev, ip in ((a, "fzv0", self.A_IP), (b, "fzv1", self.B_IP)):
            subprocess.run(["ip", "-n", ns, "addr", "add", ip + "/24", "dev", dev], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", dev, "up"], check=True)
        self.restore(fz)
        self.ping = subprocess.Popen(["ip", "netns", "exec", a, "ping", "-q", "-i", "0.05", self.B_IP],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def sa(self, spi, src, dst):
        return [("sa-spi", spi), ("sa-proto", ESP), ("sa-family", 2), ("sa-dst", socket.inet_aton(dst)),
                ("sa-mode", 0), ("sa-src", socket.inet_aton(src)), ("sa-alg", "aes128gcm16"),
                ("sa-key", bytes(range(20)))]

    def sp(self, d, src, dst):
        return [("sp-dir", d), ("sp-priority", 9999), ("sp-action", 0), ("sel-family", 2),
                ("sel-src", socket.inet_aton(src)), ("sel-dst", socket.inet_aton(dst)),
                ("tmpl-proto", ESP), ("tmpl-mode", 0)]

    def restore(self, fz):
        """Puts back the traffic's SAs and policies when a fuzz request removed them."""
        for ns, me, peer in ((self.a, self.A_IP, self.B_IP), (self.b, self.B_IP, self.A_IP)):
            st = fz.states[ns]
            for spi, src, dst in ((0x1000, self.A_IP, self.B_IP), (0x2000, self.B_IP, self.A_IP)):
                if (spi, ESP, 2, socket.inet_aton(dst)) not in st.sas:
                    fz.quiet(ns, "sa-add", self.sa(spi, src, dst))
            for d, src, dst in ((0, me, peer), (1, peer, me)):
                want = (2, socket.inet_aton(src), 32, socket.inet_aton(dst), 32, 0, 0, 0xFFFF, 0, 0xFFFF)
                if not any(policy_sel(p) == want and u(p[A["sp-dir"]]) == d for p in fz.states[ns].sps.values()):
                    fz.quiet(ns, "sp-add", self.sp(d, src, dst))

    def packets(self, fz):
        r = fz.g[self.b].do(S.cmd["get-stats"], b"")
        stats = dict(parse_attrs(dict(r.msgs[0])[A["stats"]]))
        return u(stats.get(1, b"\0"))

    def stop(self):
        self.ping.terminate()
        self.ping.wait()


def kernel_reports(since):
    out = subprocess.run(["dmesg"], capture_output=True, text=True).stdout.splitlines()[since:]
    bad = ("Oops", "BUG:", "WARNING:", "kernel BUG", "KASAN", "UBSAN", "general protection", "Call Trace:")
    return [line for line in out if any(b in line for b in bad)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=0, help="random requests (0: none)")
    ap.add_argument("--systematic", action="store_true", help="every command x attribute x mutation")
    ap.add_argument("--netns", type=int, default=3, help="namespaces to create (fz0, fz1, ...)")
    ap.add_argument("--traffic", action="store_true", help="ping over a ripsec SA between fz0 and fz1")
    ap.add_argument("--full", action="store_true", help="systematic pass: every length and type")
    ap.add_argument("--progress", type=int, default=0, help="print a line every N random requests")
    ap.add_argument("--burst", type=int, default=0,
                    help="send the --count random requests N at a time, checking each reply but the state "
                         "once per burst (the long campaign's rate)")
    ap.add_argument("--minutes", type=float, default=0, help="end the burst pass after this long")
    ap.add_argument("--max-violations", type=int, default=20)
    args = ap.parse_args()
    global FULL
    FULL = args.full
    names = [f"fz{i}" for i in range(args.netns)]
    for n in names:
        subprocess.run(["ip", "netns", "add", n], check=True)
        subprocess.run(["ip", "-n", n, "link", "set", "lo", "up"], check=True)
    args.netns = names
    dmesg_start = len(subprocess.run(["dmesg"], capture_output=True, text=True).stdout.splitlines())
    fz = Fuzzer(args)
    fz.t0 = time.monotonic()
    try:
        if args.traffic and len(names) >= 2:
            fz.traffic = Traffic(fz, names[0], names[1])
        if args.systematic:
            fz.systematic(names[-1])
        if args.burst > 1:
            fz.burst_pass(args.count, args.burst)
        else:
            fz.random_pass(args.count)
    finally:
        if fz.traffic:
            fz.traffic.stop()
        for n in names:
            subprocess.run(["ip", "netns", "del", n])
    for line in kernel_reports(dmesg_start):
        fz.violation(f"kernel: {line}")
    fz.summary()
    sys.exit(1 if fz.violations else 0)


if __name__ == "__main__":
    main()
