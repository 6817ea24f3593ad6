#!/usr/bin/env python3
"""Connection floods and slow starts for test_flood.sh.

flood.py hold --connect HOST:PORT --from ADDR[,ADDR...] --per N --seconds S
    From each source address keep N connections open that send nothing
    (as many as the server lets stay), reopening what the server closes,
    for S seconds. Prints one line: "opened O closed C" (totals).

flood.py slow --connect HOST:PORT --what nothing|half-tls|half-line
        --count N --timeout S
    Open N connections that send nothing, half a TLS ClientHello or half
    a request line, and wait until the server closes each. Prints one
    line: "closed K of N, longest T s" (T: seconds from connecting to the
    close of the last one closed; connections still open after S seconds
    are not counted as closed).
"""
import argparse
import errno
import selectors
import socket
import sys
import time

# The first bytes of a TLS 1.2 ClientHello record: header and the start
# of the handshake message; the rest never comes.
HALF_TLS = bytes.fromhex("160301012c010001280303") + b"\x00" * 20
HALF_LINE = b"GET /.well-known/est/cac"


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["hold", "slow"])
    p.add_argument("--connect", required=True)
    p.add_argument("--from", dest="sources", default="127.0.0.1")
    p.add_argument("--per", type=int, default=50)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--what", default="nothing")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--timeout", type=float, default=20)
    return p.parse_args()


def open_from(src, host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.bind((src, 0))
    rc = s.connect_ex((host, port))
    if rc not in (0, errno.EINPROGRESS):
        s.close()
        return None
    return s


def hold(a, host, port):
    sel = selectors.DefaultSelector()
    sources = a.sources.split(",")
    live = {src: 0 for src in sources}
    opened = closed = 0
    end = time.monotonic() + a.seconds
    while time.monotonic() < end:
        for src in sources:
            while live[src] < a.per:
                s = open_from(src, host, port)
                if s is None:
                    break
                sel.register(s, selectors.EVENT_READ, src)
                live[src] += 1
                opened += 1
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                live[key.data] -= 1
                closed += 1
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    print("opened %d closed %d" % (opened, closed))


def slow(a, host, port):
    sel = selectors.DefaultSelector()
    payload = {"nothing": b"", "half-tls": HALF_TLS,
               "half-line": HALF_LINE}[a.what]
    start = {}
    for _ in range(a.count):
        s = socket.create_connection((host, port), timeout=10)
        if payload:
            s.sendall(payload)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        start[s] = time.monotonic()
    done, longest = 0, 0.0
    end = time.monotonic() + a.timeout
    while start and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data:
                continue  # an answer (an alert, a 4xx): wait for the close
            longest = max(longest, time.monotonic() - start.pop(s))
            sel.unregister(s)
            s.close()
            done += 1
    for s in start:
        s.close()
    print("closed %d of %d, longest %.1f s" % (done, a.count, longest))


def main():
    a = parse_args()
    host, port = a.connect.rsplit(":", 1)
    (hold if a.mode == "hold" else slow)(a, host, int(port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
