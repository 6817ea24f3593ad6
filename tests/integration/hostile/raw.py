#!/usr/bin/env python3
"""A raw HTTP/1.x client for test_hostile.sh: sends exactly the bytes of a
file (over TLS or plain TCP), optionally stalling or trickling, and reports
what came back, including nothing at all.

raw.py --connect HOST:PORT [--tls --cafile F [--cert C --key K]]
       [--stall-after N --stall S] [--trickle-after N --trickle-every S]
       [--shut-wr] [--timeout S] [--linger S] --out PREFIX REQUEST

--stall-after sends the first N bytes and then listens for --stall
seconds before sending the rest; --trickle-after sends the first N bytes
and then one byte every --trickle-every seconds; --shut-wr half-closes
after sending (plain TCP only).

Writes PREFIX.hdr (status line and headers of the first response),
PREFIX.out (its body) and PREFIX.codes (one status code per response
received, in order). Prints one line:

    CODE OUTCOME SECONDS

CODE is the first response's status (000 if none), OUTCOME one of
  closed   the server closed the connection after its last response
  open     the connection was still open after the last response
  reset    the connection was reset (with or without a response)
  timeout  nothing more arrived within --timeout seconds
SECONDS is the time from connecting to that outcome.
"""
import argparse
import socket
import ssl
import sys
import time


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--connect", required=True)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--cafile")
    p.add_argument("--servername", default="localhost")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--stall-after", type=int, default=-1)
    p.add_argument("--stall", type=float, default=0)
    p.add_argument("--trickle-after", type=int, default=-1)
    p.add_argument("--trickle-every", type=float, default=1)
    p.add_argument("--shut-wr", action="store_true")
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--linger", type=float, default=0.3)
    p.add_argument("--out", required=True)
    p.add_argument("request")
    return p.parse_args()


def connect(a):
    host, port = a.connect.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=a.timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if a.tls:
        ctx = ssl.create_default_context(cafile=a.cafile)
        if a.cert:
            ctx.load_cert_chain(a.cert, a.key)
        s = ctx.wrap_socket(s, server_hostname=a.servername)
    return s


class Reader:
    """Splits what the server sends into responses (Content-Length or
    close-delimited bodies; tessera never sends chunked)."""

    def __init__(self):
        self.buf = b""
        self.responses = []  # (head bytes, body bytes)
        self.head = None
        self.need = None

    def feed(self, data):
        self.buf += data
        while True:
            if self.head is None:
                i = self.buf.find(b"\r\n\r\n")
                if i < 0:
                    return
                self.head = self.buf[:i]
                self.buf = self.buf[i + 4:]
                self.need = None
                for line in self.head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        try:
                            self.need = int(v.strip())
                        except ValueError:
                            self.need = None
                code = self.code(self.head)
                if code in (204, 304) or 100 <= code < 200:
                    self.need = 0
            if self.need is None:
                return  # body runs to the close
            if len(self.buf) < self.need:
                return
            self.responses.append((self.head, self.buf[: self.need]))
            self.buf = self.buf[self.need:]
            self.head = None

    def finish(self):
        if self.head is not None and self.need is None:
            self.responses.append((self.head, self.buf))
            self.head = None

    @staticmethod
    def code(head):
        try:
            return int(head.split(b" ", 2)[1])
        except (IndexError, ValueError):
            return 0

    def final(self):
        return [r for r in self.responses if not 100 <= self.code(r[0]) < 200]


def main():
    a = parse_args()
    with open(a.request, "rb") as f:
        req = f.read()
    start = time.monotonic()
    r = Reader()
    outcome = "timeout"
    try:
        s = connect(a)
    except (OSError, ssl.SSLError) as e:
        print("000 reset %.1f" % (time.monotonic() - start))
        print("connect: %s" % e, file=sys.stderr)
        return 0
    s.settimeout(a.timeout)
    try:
        if a.stall_after >= 0:
            # Send the start, then wait, listening: the server may answer
            # or close while the client stalls (which is what is timed).
            s.sendall(req[: a.stall_after])
            req = req[a.stall_after:]
            t = time.monotonic() + a.stall
            while time.monotonic() < t:
                s.settimeout(max(0.05, t - time.monotonic()))
                try:
                    d = s.recv(65536)
                except socket.timeout:
                    break
                if not d:
                    raise EOFError
                r.feed(d)
                if r.final():
                    break
            s.settimeout(a.timeout)
        if a.trickle_after >= 0:
            s.sendall(req[: a.trickle_after])
            req = req[a.trickle_after:]
            s.setblocking(False)
            # One byte at a time, listening in between: the server may
            # answer (or close) at any point.
            while req:
                try:
                    s.send(req[:1])
                    req = req[1:]
                except (BlockingIOError, ssl.SSLWantWriteError):
                    pass
                t = time.monotonic() + a.trickle_every
                while time.monotonic() < t:
                    try:
                        d = s.recv(65536)
                    except (BlockingIOError, ssl.SSLWantReadError):
                        time.sleep(0.05)
                        continue
                    if not d:
                        raise EOFError
                    r.feed(d)
                if time.monotonic() - start > a.timeout:
                    raise socket.timeout
            s.setblocking(True)
            s.settimeout(a.timeout)
        else:
            s.sendall(req)
        if a.shut_wr:
            # The client is done sending, whatever Content-Length said.
            s.shutdown(socket.SHUT_WR)
        deadline = start + a.timeout
        while True:
            left = deadline - time.monotonic()
            if r.final() and r.head is None and not r.buf:
                # A complete answer: wait a little for more (or a close).
                left = min(left, a.linger)
                if left <= 0:
                    outcome = "open"
                    break
            if left <= 0:
                outcome = "open" if r.final() else "timeout"
                break
            s.settimeout(left)
            try:
                d = s.recv(65536)
            except socket.timeout:
                outcome = "open" if r.final() else "timeout"
                break
            if not d:
                outcome = "closed"
                break
            r.feed(d)
    except EOFError:
        outcome = "closed"
    except socket.timeout:
        outcome = "timeout"
    except ssl.SSLError as e:
        # A TLS close_notify is a close; other TLS errors are resets.
        outcome = "closed" if "EOF" in str(e) or "ZERO_RETURN" in str(
            e) else "reset"
        print("tls: %s" % e, file=sys.stderr)
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        outcome = "reset"
    except OSError as e:
        outcome = "reset"
        print("socket: %s" % e, file=sys.stderr)
    r.finish()
    took = time.monotonic() - start
    try:
        s.close()
    except OSError:
        pass
    final = r.final()
    head, body = final[0] if final else (b"", b"")
    with open(a.out + ".hdr", "wb") as f:
        f.write(head.replace(b"\r\n", b"\n") + (b"\n" if head else b""))
    with open(a.out + ".out", "wb") as f:
        f.write(body)
    with open(a.out + ".codes", "w") as f:
        for h, _ in r.responses:
            f.write("%03d\n" % Reader.code(h))
    print("%03d %s %.1f" % (Reader.code(head) if head else 0, outcome, took))
    return 0


if __name__ == "__main__":
    sys.exit(main())
