"""ENCAP_ATTACH requests ikeuser would never send, through the kernel's YNL library and our spec.

  encap_probe.py YNL-DIR SPEC refusals OTHER-NETNS
prints one `CASE: ok port N` or `CASE: EXTACK-MESSAGE` line per case.
"""
import ctypes
import os
import socket
import sys

ynl_dir, spec, action = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, ynl_dir)
from lib import YnlFamily  # noqa: E402  (the kernel's tools/net/ynl/pyynl/lib)

ynl = YnlFamily(spec, schema="")


def attach(case, fd):
    try:
        r = ynl.do("encap-attach", {} if fd is None else {"encap-fd": fd})
        print(f"{case}: ok port {r['encap-port']}")
    except Exception as e:  # NlError carries the extack message
        ext = getattr(getattr(e, "nl_msg", None), "extack", None) or {}
        print(f"{case}: {ext.get('msg') or 'error'} | {e}")


def in_netns(name, make):
    """A socket made in netns NAME, then back to ours."""
    libc = ctypes.CDLL(None, use_errno=True)
    clone_newnet = 0x40000000
    with open("/proc/self/ns/net") as ours, open(f"/run/netns/{name}") as theirs:
        if libc.setns(theirs.fileno(), clone_newnet) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name}")
        try:
            return make()
        finally:
            libc.setns(ours.fileno(), clone_newnet)


def udp(port=None, encap=False):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if encap:
        s.setsockopt(socket.IPPROTO_UDP, 100, 2)  # XFRM's UDP_ENCAP, ESP in UDP
    if port is not None:
        s.bind(("0.0.0.0", port))
    return s


if action == "refusals":
    keep = []
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    attach("tcp", tcp.fileno())
    unbound = udp()
    attach("unbound", unbound.fileno())
    foreign = in_netns(sys.argv[4], lambda: udp(4500))
    attach("foreign", foreign.fileno())
    first = udp(4500)
    attach("first", first.fileno())
    attach("twice", first.fileno())
    xfrm = udp(4501, encap=True)
    attach("xfrm", xfrm.fileno())
    closed = udp(4502)
    fd = closed.fileno()
    closed.close()
    attach("closed-fd", fd)
    r, w = os.pipe()
    attach("pipe", r)
    attach("missing", None)
    keep += [tcp, unbound, foreign, first, xfrm]
else:
    sys.exit(f"unknown action {action}")
