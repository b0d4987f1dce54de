#!/usr/bin/env python3
"""The seeds' UDP echo server in plain Python sockets (Twisted's Echo, written as the socket
tutorials write a server): bind, then recvfrom in a loop, print each datagram and send it back.

Usage: echo_server.py [HOST] [PORT] [--count N]   (defaults 127.0.0.1, 9999; port 0 picks one)
Prints "listening on HOST:PORT", then "received %r from %s:%d" per datagram, as Twisted's Echo.
With --count N it exits 0 after echoing N datagrams; SIGTERM or Ctrl-C also end it with exit 0.
Standard library only.
"""
import signal
import socket
import sys


def main():
    args = sys.argv[1:]
    count = 0
    if "--count" in args:
        at = args.index("--count")
        count = int(args[at + 1])
        del args[at:at + 2]
    host = args[0] if len(args) > 0 else "127.0.0.1"
    port = int(args[1]) if len(args) > 1 else 9999
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((host, port))
    print(f"listening on {host}:{server.getsockname()[1]}", flush=True)
    served = 0
    try:
        while count == 0 or served < count:
            data, (peer_host, peer_port) = server.recvfrom(65535)
            print("received %r from %s:%d" % (data, peer_host, peer_port), flush=True)
            server.sendto(data, (peer_host, peer_port))
            served += 1
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
