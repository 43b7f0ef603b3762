"""Sends raw requests through the kernel's YNL library and our spec, printing each result.

stdin: one request per line, `OPERATION JSON`. stdout: `N: ok` or `N: EXTACK-MESSAGE | FULL-ERROR`.
Used by VM tests for requests that ikeuser itself would never send.
"""
import json
import sys

ynl_dir, spec = sys.argv[1], sys.argv[2]
sys.path.insert(0, ynl_dir)
from lib import YnlFamily  # noqa: E402  (the kernel's tools/net/ynl/pyynl/lib)

ynl = YnlFamily(spec, schema="")
for n, line in enumerate(sys.stdin, 1):
    line = line.strip()
    if not line:
        continue
    op, arg = line.split(" ", 1)
    try:
        ynl.do(op, json.loads(arg))
        print(f"{n}: ok")
    except Exception as e:  # NlError carries the extack message and the bad attribute
        ext = getattr(getattr(e, "nl_msg", None), "extack", None) or {}
        print(f"{n}: {ext.get('msg') or 'error'} | {e}")
