#!/usr/bin/env python3
"""A plain Python UDP client, as the socket tutorials write one (socket, sendto, recvfrom), against
any UDP echo server: sends COUNT different messages one at a time and checks that each comes back
unchanged from the server's address.

Usage: echo_client.py HOST PORT [COUNT]     (COUNT defaults to 100)
Prints "echoed N of COUNT"; exits 0 when every message came back, 1 otherwise.
Standard library only.
"""
import socket
import sys


def message(i):
    # Text the seeds would send, then bytes of every value, 1 to ~1400 bytes in all.
    head = f"Hello, UDP server! #{i} ".encode()
    return head + bytes((i * 7 + k) % 256 for k in range((i * 131) % 1400))


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    server = (sys.argv[1], int(sys.argv[2]))
    count = int(sys.argv[3]) if len(sys.argv) == 4 else 100
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    client = socket.socket(family, socket.SOCK_DGRAM)
    client.settimeout(5.0)
    echoed = 0
    try:
        for i in range(count):
            sent = message(i)
            client.sendto(sent, server)
            try:
                data, address = client.recvfrom(65535)
            except socket.timeout:
                print(f"echo_client: no echo of message {i} within 5 s", file=sys.stderr)
                break
            if data != sent or address[:2] != server:
                print(f"echo_client: message {i}: got {len(data)} bytes from {address}, "
                      f"wanted {len(sent)} bytes from {server}", file=sys.stderr)
                break
            echoed += 1
    finally:
        client.close()
    print(f"echoed {echoed} of {count}")
    return 0 if echoed == count else 1


if __name__ == "__main__":
    sys.exit(main())
