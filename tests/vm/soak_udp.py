#!/usr/bin/env python3
"""A sequenced UDP stream for tests/vm/soak.sh: sends numbered datagrams to a peer and counts
the peer's datagrams it receives, so loss, duplicates and reordering are counted exactly.

Run one in each netns of a pair (each sends and receives). Sending starts once the peer's
socket is bound (--ready/--peer-ready files), so no datagram finds a closed port. SIGTERM stops
sending (--done file); receiving goes on until the peer is done too and --drain seconds more
have passed, then a JSON line with the counts is written to --out: sent, send_errors (refused
by the stack), received (distinct sequence numbers), dup, reordered (arrived after a higher
number), max_seq (highest received, -1 for none), and gaps: the first missing ranges below
max_seq, each with the send times (Unix seconds) of the datagrams around it, to be set against
the rekeys in the daemons' logs.
"""
import argparse
import json
import os
import selectors
import signal
import socket
import struct
import time

MAGIC = b"RSQK"
HEADER = struct.Struct("!4sQd")
# Missing ranges reported, at most.
MAX_GAPS = 20


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--bind", required=True, help="local address (sent from, received on)")
    p.add_argument("--port", type=int, required=True, help="local UDP port")
    p.add_argument("--peer", required=True)
    p.add_argument("--peer-port", type=int, required=True)
    p.add_argument("--rate", type=float, default=100.0, help="datagrams per second")
    p.add_argument("--size", type=int, default=200, help="datagram size in bytes")
    p.add_argument("--drain", type=float, default=3.0)
    p.add_argument("--out", required=True)
    p.add_argument("--ready", required=True, help="created once bound")
    p.add_argument("--peer-ready", required=True)
    p.add_argument("--done", required=True, help="created once sending stopped")
    p.add_argument("--peer-done", required=True)
    return p.parse_args()


class Counts:
    def __init__(self):
        self.sent = 0
        self.seen = {}  # sequence number -> its send time
        self.dup = 0
        self.reordered = 0
        self.max_seq = -1
        self.bad = 0
        self.send_errors = 0
        self.peer_not_done = False

    def got(self, data):
        if len(data) < HEADER.size:
            self.bad += 1
            return
        magic, seq, sent_at = HEADER.unpack_from(data)
        if magic != MAGIC:
            self.bad += 1
            return
        if seq in self.seen:
            self.dup += 1
            return
        self.seen[seq] = sent_at
        if seq < self.max_seq:
            self.reordered += 1
        self.max_seq = max(self.max_seq, seq)

    def report(self):
        return {
            "sent": self.sent,
            "received": len(self.seen),
            "dup": self.dup,
            "reordered": self.reordered,
            "max_seq": self.max_seq,
            "bad": self.bad,
            "send_errors": self.send_errors,
            "peer_not_done": self.peer_not_done,
            "gaps": self.gaps(),
        }

    def gaps(self):
        """Up to MAX_GAPS missing ranges below max_seq: first, last, and the send times of the
        datagrams received just before and just after."""
        out, seq = [], 0
        while seq < self.max_seq and len(out) < MAX_GAPS:
            if seq in self.seen:
                seq += 1
                continue
            first = seq
            while seq not in self.seen:
                seq += 1
            out.append({"first": first, "last": seq - 1, "after": self.seen.get(first - 1),
                        "before": self.seen[seq]})
        return out


def receive(sel, s, c, timeout):
    """Waits up to `timeout` seconds for datagrams and counts all there are."""
    for _ in sel.select(timeout):
        while True:
            try:
                data = s.recv(65536)
            except BlockingIOError:
                break
            c.got(data)


def main():
    args = parse()
    family = socket.AF_INET6 if ":" in args.bind else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    s.bind((args.bind, args.port))
    s.setblocking(False)
    stop = {"at": None}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(at=stop["at"] or time.monotonic()))
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ)
    open(args.ready, "w").close()
    c = Counts()
    pad = b"\0" * max(0, args.size - HEADER.size)
    interval = 1.0 / args.rate
    while not os.path.exists(args.peer_ready) and stop["at"] is None:
        receive(sel, s, c, 0.05)
    next_send = time.monotonic()
    peer_done = None
    while True:
        now = time.monotonic()
        if stop["at"] is not None:
            if not os.path.exists(args.done):
                open(args.done, "w").close()
            if peer_done is None and os.path.exists(args.peer_done):
                peer_done = now
            if peer_done is not None and now - peer_done >= args.drain:
                break
            if now - stop["at"] > 60:
                c.peer_not_done = True
                break
            receive(sel, s, c, 0.1)
            continue
        if now >= next_send:
            try:
                s.sendto(HEADER.pack(MAGIC, c.sent, time.time()) + pad, (args.peer, args.peer_port))
                c.sent += 1
            except OSError:
                # Refused by the stack (e.g. an SA missing for a moment): a loss of its own.
                c.send_errors += 1
            # A late wakeup sends at most one catch-up datagram, not a burst.
            next_send = max(next_send + interval, now)
        receive(sel, s, c, max(0.0, next_send - time.monotonic()))
    with open(args.out, "w") as f:
        f.write(json.dumps(c.report()) + "\n")


if __name__ == "__main__":
    main()
