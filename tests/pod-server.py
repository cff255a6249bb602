#!/usr/bin/env python3
"""Tiny "pods" for traffic tests.

Usage: pod-server.py [--port 8080] [--port-udp PORT] NAME=IP [NAME=IP ...]

For every NAME=IP it binds TCP and UDP on IP:port (UDP on --port-udp if
given). TCP: on accept, send "NAME\\nfrom PEER-IP\\n" and close. UDP: answer every datagram
with "NAME\\n". Runs until killed; logs to stderr only.
"""

import argparse
import selectors
import signal
import socket
import sys


def log(msg):
    sys.stderr.write("pod-server: %s\n" % msg)
    sys.stderr.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--port-udp", type=int)
    ap.add_argument("pods", nargs="+", metavar="NAME=IP")
    a = ap.parse_args()
    udp_port = a.port_udp if a.port_udp is not None else a.port

    sel = selectors.DefaultSelector()
    for spec in a.pods:
        name, sep, ip = spec.partition("=")
        if not sep or not name or not ip:
            ap.error("bad pod spec %r (want NAME=IP)" % spec)
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        reply = (name + "\n").encode()
        t = socket.socket(fam, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((ip, a.port))
        t.listen(128)
        t.setblocking(False)
        sel.register(t, selectors.EVENT_READ, ("tcp", name, reply))
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((ip, udp_port))
        u.setblocking(False)
        sel.register(u, selectors.EVENT_READ, ("udp", name, reply))
        log("%s listening on %s tcp/%d udp/%d" % (name, ip, a.port, udp_port))

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            for key, _ in sel.select():
                proto, name, reply = key.data
                s = key.fileobj
                try:
                    if proto == "tcp":
                        c, peer = s.accept()
                        try:
                            c.settimeout(1)
                            c.sendall(reply + ("from %s\n" % peer[0]).encode())
                            c.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                        finally:
                            c.close()
                        log("%s tcp from %s:%d" % (name, peer[0], peer[1]))
                    else:
                        _, peer = s.recvfrom(65535)
                        s.sendto(reply + ("from %s\n" % peer[0]).encode(), peer)
                        log("%s udp from %s:%d" % (name, peer[0], peer[1]))
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as e:
                    log("%s %s error: %s" % (name, proto, e))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
