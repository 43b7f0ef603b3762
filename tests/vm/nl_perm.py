"""Raw generic netlink probes of the ripsec family's permissions, with every operation and
multicast group taken from the YNL spec (so a command added later is covered too).

  nl_perm.py SPEC roles      as root in a fresh netns (the empty requests include sa-flush and
                             sp-flush): root reaches every handler and joins every group; then,
                             forked, uid 65534 and root of a user namespace that does not own
                             the netns get EPERM for every do, dump and join, and the owner of
                             a user namespace with its own netns is admin there again
  nl_perm.py SPEC keys HEX   as admin: SA dumps and gets carry no sa-key attribute and not the
                             key's bytes unless show-keys is set; with show-keys they carry them

Both permission modes also check the family the kernel registered against the spec: the same
request operations, each with GENL_UNS_ADMIN_PERM, and the same groups; event ids are no
requests. Prints one line per check; exits 1 if any failed.
"""
import ctypes
import errno
import os
import socket
import struct
import sys

import yaml

NETLINK_GENERIC, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP = 16, 270, 1
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 1, 4, 0x300
GENL_ID_CTRL, CTRL_CMD_GETFAMILY = 0x10, 3
CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME, CTRL_ATTR_OPS, CTRL_ATTR_MCAST_GROUPS = 1, 2, 6, 7
GENL_ADMIN_PERM, GENL_CMD_CAP_DO, GENL_CMD_CAP_DUMP, GENL_UNS_ADMIN_PERM = 0x1, 0x2, 0x4, 0x10

CLONE_NEWUSER, CLONE_NEWNET, PR_SET_DUMPABLE = 0x10000000, 0x40000000, 4
NOBODY = 65534

failures = []


def check(ok, what):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def attr(ty, payload):
    pad = (4 - len(payload) % 4) % 4
    return struct.pack("=HH", 4 + len(payload), ty) + payload + b"\0" * pad


def attrs(buf):
    """{type: payload} of a flat attribute buffer (the last one wins)."""
    out, off = {}, 0
    while off + 4 <= len(buf):
        ln, ty = struct.unpack_from("=HH", buf, off)
        if ln < 4:
            break
        out[ty & 0x3FFF] = buf[off + 4 : off + ln]
        off += (ln + 3) & ~3
    return out


def nest_list(buf):
    return [attrs(v) for v in attrs_list(buf)]


def attrs_list(buf):
    out, off = [], 0
    while off + 4 <= len(buf):
        ln, _ = struct.unpack_from("=HH", buf, off)
        if ln < 4:
            break
        out.append(buf[off + 4 : off + ln])
        off += (ln + 3) & ~3
    return out


class Genl:
    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self.sock.bind((0, 0))
        self.seq = 0

    def request(self, family, cmd, flags, payload=b""):
        """(errno or 0, [genl payloads]) of one request (a do needs NLM_F_ACK: it ends there)."""
        self.seq += 1
        body = struct.pack("=BBH", cmd, 1, 0) + payload
        self.sock.send(struct.pack("=LHHLL", 16 + len(body), family, flags, self.seq, 0) + body)
        replies = []
        while True:
            data = self.sock.recv(1 << 20)
            off = 0
            while off + 16 <= len(data):
                ln, ty, _, seq, _ = struct.unpack_from("=LHHLL", data, off)
                msg = data[off + 16 : off + ln]
                off += (ln + 3) & ~3
                if seq != self.seq:
                    continue
                if ty in (NLMSG_ERROR, NLMSG_DONE):
                    err = struct.unpack_from("=i", msg)[0] if len(msg) >= 4 else 0
                    return -err, replies
                replies.append(msg[4:])

    def family(self, name):
        err, replies = self.request(
            GENL_ID_CTRL, CTRL_CMD_GETFAMILY, NLM_F_REQUEST | NLM_F_ACK, attr(CTRL_ATTR_FAMILY_NAME, name.encode() + b"\0")
        )
        if err:
            sys.exit(f"nl_perm: family {name}: {os.strerror(err)} (is ripsec.ko loaded?)")
        a = attrs(replies[0])
        fid = struct.unpack("=H", a[CTRL_ATTR_FAMILY_ID])[0]
        ops = {}
        for op in nest_list(a.get(CTRL_ATTR_OPS, b"")):
            ops[struct.unpack("=I", op[1])[0]] = struct.unpack("=I", op[2])[0] if 2 in op else 0
        groups = {}
        for g in nest_list(a.get(CTRL_ATTR_MCAST_GROUPS, b"")):
            groups[g[1].rstrip(b"\0").decode()] = struct.unpack("=I", g[2])[0]
        return fid, ops, groups


def spec_ops(spec):
    """[(name, value, has_do, has_dump, is_event)] from the YNL spec."""
    return [
        (o["name"], o["value"], "do" in o, "dump" in o, "event" in o) for o in spec["operations"]["list"]
    ]


def join(group_id):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    try:
        s.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group_id)
        return 0
    except OSError as e:
        return e.errno
    finally:
        s.close()


def name_of(err):
    return errno.errorcode.get(err, str(err)) if err else "ok"


def permissions(spec, want_denied):
    nl = Genl()
    fid, kernel_ops, kernel_groups = nl.family(spec["name"])
    ops = spec_ops(spec)
    requests = {v: (n, do, dump) for n, v, do, dump, ev in ops if not ev}
    check(sorted(kernel_ops) == sorted(requests), f"kernel ops {sorted(kernel_ops)} = the spec's requests {sorted(requests)}")
    for v, flags in sorted(kernel_ops.items()):
        name, do, dump = requests.get(v, (f"op {v}", False, False))
        check(flags & GENL_UNS_ADMIN_PERM, f"{name}: registered with GENL_UNS_ADMIN_PERM (flags {flags:#x})")
        check(bool(flags & GENL_CMD_CAP_DO) == do and bool(flags & GENL_CMD_CAP_DUMP) == dump, f"{name}: do/dump as the spec says")
    for name, v, do, dump, ev in ops:
        kinds = ([("do", NLM_F_REQUEST | NLM_F_ACK)] if do or ev else []) + ([("dump", NLM_F_REQUEST | NLM_F_DUMP)] if dump else [])
        for kind, flags in kinds:
            err, _ = nl.request(fid, v, flags)
            if ev:
                # Events only go out; the genl core knows no request with their ids.
                check(err == errno.EOPNOTSUPP, f"{name} (event) sent as a request: {name_of(err)}, want EOPNOTSUPP")
            elif want_denied:
                check(err == errno.EPERM, f"{name} {kind}: {name_of(err)}, want EPERM")
            else:
                check(err != errno.EPERM, f"{name} {kind}: {name_of(err)}, want anything but EPERM")
    spec_groups = [g["name"] for g in spec["mcast-groups"]["list"]]
    check(sorted(kernel_groups) == sorted(spec_groups), f"kernel groups {sorted(kernel_groups)} = the spec's {spec_groups}")
    for g, gid in sorted(kernel_groups.items()):
        err = join(gid)
        want = errno.EPERM if want_denied else 0
        check(err == want, f"join group {g} ({gid}): {name_of(err)}, want {name_of(want)}")


def sa_attr_ids(spec):
    top = spec["attribute-sets"][0]["attributes"]
    return {a["name"]: i for i, a in enumerate(top, 1)}


def key_exposure(spec, key):
    """Dumps and gets of every SA, with and without show-keys."""
    ids = sa_attr_ids(spec)
    nl = Genl()
    fid, _, _ = nl.family(spec["name"])
    sa_get = next(v for n, v, *_ in spec_ops(spec) if n == "sa-get")
    show = attr(ids["show-keys"], b"")
    for keys in (False, True):
        err, sas = nl.request(fid, sa_get, NLM_F_REQUEST | NLM_F_DUMP, show if keys else b"")
        check(err == 0 and sas, f"dump{' show-keys' if keys else ''}: {len(sas)} SAs ({name_of(err)})")
        replies = list(sas)
        for sa in sas:
            a = attrs(sa)
            ident = b"".join(attr(ids[n], a[ids[n]]) for n in ("sa-spi", "sa-proto", "sa-family", "sa-dst"))
            err, got = nl.request(fid, sa_get, NLM_F_REQUEST | NLM_F_ACK, ident + (show if keys else b""))
            check(err == 0 and len(got) == 1, f"get{' show-keys' if keys else ''}: {name_of(err)}")
            replies += got
        has_attr = sum(ids["sa-key"] in attrs(r) for r in replies)
        has_bytes = sum(key in r for r in replies)
        if keys:
            check(has_bytes > 0 and has_attr == len(replies), f"show-keys: sa-key in {has_attr}/{len(replies)} replies, the key in {has_bytes}")
        else:
            check(has_attr == 0 and has_bytes == 0, f"no show-keys: sa-key in {has_attr}/{len(replies)} replies, the key in {has_bytes}")


def unshare(flags):
    if ctypes.CDLL(None, use_errno=True).unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), f"unshare({flags:#x})")


def become_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)  # from uid 0 to another: every capability goes
    # Changing uid made us undumpable, which leaves /proc/self/uid_map root's to write.
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)


def map_root():
    """Root of a new user namespace (owned by nobody), as `unshare --user --map-root-user`."""
    unshare(CLONE_NEWUSER)
    for f, text in (("setgroups", "deny"), ("uid_map", f"0 {NOBODY} 1"), ("gid_map", f"0 {NOBODY} 1")):
        with open(f"/proc/self/{f}", "w") as fh:
            fh.write(text)


def as_role(spec, label, setup, want_denied):
    """Runs the permission checks in a child process with other credentials."""
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        print(f"-- {label}")
        setup()
        permissions(spec, want_denied)
        sys.stdout.flush()
        os._exit(1 if failures else 0)
    _, status = os.waitpid(pid, 0)
    check(status == 0, f"{label}: every check held")


def roles(spec):
    print("-- root, admin of this netns")
    permissions(spec, False)
    as_role(spec, "uid 65534", become_nobody, True)
    as_role(spec, "root of a user namespace without this netns", lambda: (become_nobody(), map_root()), True)
    as_role(spec, "owner of a user namespace and its netns",
            lambda: (become_nobody(), map_root(), unshare(CLONE_NEWNET)), False)


def main():
    # libyaml's loader when there is one: a few seconds less in a TCG guest.
    spec = yaml.load(open(sys.argv[1]), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    mode = sys.argv[2]
    if mode == "roles":
        roles(spec)
    elif mode == "keys":
        key_exposure(spec, bytes.fromhex(sys.argv[3].removeprefix("0x")))
    else:
        sys.exit(__doc__)
    if failures:
        print(f"nl_perm: {len(failures)} checks failed")
        sys.exit(1)


main()
