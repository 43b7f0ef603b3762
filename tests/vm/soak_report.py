#!/usr/bin/env python3
"""The report of tests/vm/soak.sh, and its checks: soak_report.py DIR DURATION CHILDREN
CHILD-REKEY IKE-REKEY. Prints per-flow counts, rekeys and the workers' operations; exits 1 if
a datagram was lost, duplicated or refused, if there were too few rekeys (counted as distinct
SPIs and IKE SA ids), or if a worker failed an operation or did not finish."""
import json
import os
import re
import sys
import time


def load_json(path):
    with open(path) as f:
        return json.loads(f.read())


def polled_status(path):
    """The `ikeuser status --json` outputs the poller appended, one after another."""
    dec = json.JSONDecoder()
    text = open(path).read() if os.path.exists(path) else ""
    i, out = 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)


def log_times(d, ns):
    """(Unix time, line) of the daemon log lines of NS that concern rekeys and SAs."""
    start = f"{d}/{ns}.start"
    if not os.path.exists(start) or not os.path.exists(f"{d}/{ns}.log"):
        return []
    t0 = float(open(start).read())
    out = []
    for line in open(f"{d}/{ns}.log"):
        m = re.match(r"\[\s*([0-9.]+)\]\s*(.*)", line)
        if m and re.search(r"rekey|install|delet|replac|switch|collision", m.group(2), re.I):
            out.append((t0 + float(m.group(1)), f"{ns}: {m.group(2)}"))
    return out


def clock(t):
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}"


def show_gaps(name, tx, rx, logs):
    """Prints where the datagrams of flow NAME went missing, with the daemon log lines of the
    two seconds around each gap."""
    gaps = list(rx.get("gaps", []))
    if rx["max_seq"] + 1 < tx["sent"]:
        gaps.append({"first": rx["max_seq"] + 1, "last": tx["sent"] - 1, "after": None, "before": None})
    for g in gaps:
        around = g["after"] or g["before"]
        when = clock(around) if around else "at the end"
        print(f"  {name}: lost {g['first']}..{g['last']} ({g['last'] - g['first'] + 1}), sent around {when}")
        if around:
            for t, line in logs:
                if abs(t - around) <= 2:
                    print(f"      {clock(t)} {line}")


def drop_counters(d):
    """Prints the ripsec drop counters of A and B that are not zero."""
    for ns in "AB":
        path = f"{d}/stats-{ns}.json"
        if not os.path.exists(path):
            continue
        counters = load_json(path).get("counters", {})
        drops = {k: v for k, v in counters.items() if k.startswith("drop") and v}
        print(f"ripsec drops in {ns}: " + (", ".join(f"{k} {v}" for k, v in sorted(drops.items())) or "none"))


def flows(d, problems):
    n = 0
    logs = sorted(log_times(d, "A") + log_times(d, "B"))
    total = {"sent": 0, "lost": 0, "reordered": 0}
    print("flow        sent  received  lost  reordered  dup  refused")
    while os.path.exists(f"{d}/flow{n}-A.json"):
        ends = {s: load_json(f"{d}/flow{n}-{s}.json") for s in "AB"}
        for src, dst in (("A", "B"), ("B", "A")):
            tx, rx = ends[src], ends[dst]
            lost = tx["sent"] - rx["received"]
            name = f"{n} {src}->{dst}"
            print(f"{name:9} {tx['sent']:6} {rx['received']:9} {lost:5} {rx['reordered']:10} "
                  f"{rx['dup']:4} {tx['send_errors']:8}")
            total["sent"] += tx["sent"]
            total["lost"] += lost + tx["send_errors"]
            total["reordered"] += rx["reordered"]
            if lost:
                show_gaps(name, tx, rx, logs)
            if lost or tx["send_errors"] or rx["dup"] or rx["bad"]:
                problems.append(f"flow {name}: {lost} lost, {tx['send_errors']} refused, "
                                f"{rx['dup']} duplicated, {rx['bad']} malformed")
            if rx["peer_not_done"]:
                problems.append(f"flow {name}: the sender did not stop")
            if tx["sent"] == 0:
                problems.append(f"flow {name} sent nothing")
        n += 1
    if n == 0:
        problems.append("no flow results")
    print(f"total: {total['sent']} datagrams, {total['lost']} lost, {total['reordered']} reordered")
    drop_counters(d)


def rekeys(d, duration, children, child_rekey, ike_rekey, problems):
    log = open(f"{d}/A.log").read() + open(f"{d}/B.log").read()
    want_child = max(2, duration // (3 * child_rekey))
    want_ike = max(1, duration // (3 * ike_rekey))
    status = polled_status(f"{d}/status-A.jsonl")
    for child in children:
        # A logs every Child SA it installs (initial and rekeyed, whoever started the rekey).
        spis = set(re.findall(r"Child SA `%s` installed: .*?spi in (0x[0-9a-f]+)" % child,
                              open(f"{d}/A.log").read()))
        seen = {c["spi_in"] for s in status for i in s["status"]["ike_sas"]
                for c in i["children"] if c["name"] == child}
        print(f"child {child}: {len(spis) - 1} rekeys (inbound SPIs installed by A), "
              f"{len(seen)} distinct SPIs seen by the poller in {len(status)} polls")
        if len(spis) - 1 < want_child:
            problems.append(f"child {child}: {len(spis) - 1} rekeys, want at least {want_child}")
        if len(seen) < 2:
            problems.append(f"child {child}: the poller saw {len(seen)} SPI(s)")
    ike_ids = {i["id"] for s in status for i in s["status"]["ike_sas"]}
    n_ike = len(re.findall(r"IKE SA #\d+ rekeyed, now #\d+", log))
    print(f"IKE SA: {n_ike} rekeys (A and B logs), {len(ike_ids)} IKE SA ids seen by the poller")
    if n_ike < want_ike:
        problems.append(f"IKE SA: {n_ike} rekeys, want at least {want_ike}")
    if len(ike_ids) < 2:
        problems.append(f"the poller saw {len(ike_ids)} IKE SA id(s)")
    collisions = len(re.findall(r"collision", log, re.I))
    if collisions:
        print(f"rekey collisions mentioned in the logs: {collisions}")


def workers(d, problems):
    for w in ("churn", "netns", "listen", "poll"):
        path = f"{d}/{w}.counts"
        if not os.path.exists(path):
            problems.append(f"worker {w} did not finish")
            continue
        c = load_json(path)
        print(f"worker {w}: " + ", ".join(f"{k} {v}" for k, v in c.items()))
        if c["errors"]:
            problems.append(f"worker {w}: {c['errors']} failed operations (see {w}.errors)")
        if c["ops"] == 0 and w != "listen":
            problems.append(f"worker {w} did nothing")


def main():
    d, duration, children = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
    child_rekey, ike_rekey = int(sys.argv[4]), int(sys.argv[5])
    problems = []
    flows(d, problems)
    rekeys(d, duration, children, child_rekey, ike_rekey, problems)
    workers(d, problems)
    if os.path.exists(f"{d}/flows.errors"):
        problems.append("a flow did not end by itself (flows.errors)")
    for p in problems:
        print("PROBLEM: " + p)
    for w in ("churn", "netns", "listen", "flows"):
        if os.path.exists(f"{d}/{w}.errors"):
            print(f"--- {w}.errors (start)")
            print("".join(open(f"{d}/{w}.errors").readlines()[:10]), end="")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
