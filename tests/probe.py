#!/usr/bin/env python3
"""Bounded TCP/UDP probe.

Usage: probe.py tcp|udp HOST PORT [--count N] [--timeout SEC] [--source IP]
                [--sport PORT] [--peer]

--sport binds every try to one source port (SO_REUSEADDR): for UDP, all
tries are then one conntrack flow, as a long-lived client (DNS resolver)
would be.

Does N sequential tries and prints one line per try: the first line of the
reply (e.g. "pod-a"), or REFUSED, TIMEOUT, UNREACH, "ERROR <errno name>".
An empty reply prints "EMPTY". Exit status 0 unless the usage is wrong.
"""

import argparse
import errno
import socket
import sys
import time


def classify(e):
    if isinstance(e, socket.timeout):
        return "TIMEOUT"
    n = getattr(e, "errno", None)
    if n == errno.ECONNREFUSED:
        return "REFUSED"
    if n in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "UNREACH"
    if n == errno.ETIMEDOUT:
        return "TIMEOUT"
    if n is None:
        return "ERROR %s" % type(e).__name__
    return "ERROR %s" % errno.errorcode.get(n, str(n))


PEER = False   # --peer: also print the "from ADDRESS" line pods send


def first_line(data):
    if not data:
        return "EMPTY"
    lines = data.decode("utf-8", "replace").split("\n")
    out = lines[0].strip() or "EMPTY"
    if PEER and len(lines) > 1 and lines[1].startswith("from "):
        out += " " + lines[1].strip()
    return out


def family_of(host):
    try:
        return socket.getaddrinfo(host, None)[0][0]
    except socket.gaierror:
        return socket.AF_INET


def bind(s, source, sport):
    if source or sport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((source or "", sport or 0))


def try_tcp(fam, host, port, timeout, source, sport):
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        deadline = time.monotonic() + timeout
        s.settimeout(timeout)
        bind(s, source, sport)
        s.connect((host, port))
        data = b""
        while len(data) < 65536:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            s.settimeout(left)
            d = s.recv(4096)
            if not d:
                break
            data += d
        return first_line(data)
    except OSError as e:
        return classify(e)
    finally:
        s.close()


def try_udp(fam, host, port, timeout, source, sport):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        bind(s, source, sport)
        s.connect((host, port))
        s.send(b"x")
        return first_line(s.recv(65535))
    except OSError as e:
        return classify(e)
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("proto", choices=["tcp", "udp"])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--source")
    ap.add_argument("--sport", type=int, default=0)
    ap.add_argument("--peer", action="store_true",
                    help='print "NAME from ADDRESS": the source the pod saw')
    a = ap.parse_args()
    if a.count < 1 or a.count > 100000 or a.timeout <= 0:
        ap.error("bad --count or --timeout")
    global PEER
    PEER = a.peer
    fam = family_of(a.host)
    fn = try_tcp if a.proto == "tcp" else try_udp
    for _ in range(a.count):
        print(fn(fam, a.host, a.port, a.timeout, a.source, a.sport), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
