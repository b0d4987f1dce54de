#!/usr/bin/env python3
"""PEERS plain Python UDP sockets chatting through a chat relay (examples/chat_relay): each says
hello in turn, so that peer i's hello reaches the peers that joined before it; then each sends one
message, which must reach exactly the other PEERS - 1. Checks every received datagram's text and
sender (the relay), and that nobody got more than that.

Usage: chat_clients.py HOST PORT [PEERS]     (PEERS defaults to 10)
Prints "relayed R messages to PEERS peers"; exits 0 when everything arrived exactly, 1 otherwise.
Standard library only.
"""
import socket
import sys


def receive_exactly(sock, count, relay):
    """count datagram texts from relay (sorted), or raise with what went wrong."""
    texts = []
    while len(texts) < count:
        data, address = sock.recvfrom(2048)  # the socket's timeout bounds each wait
        if address[:2] != relay:
            raise AssertionError(f"datagram from {address}, not the relay {relay}")
        texts.append(data.decode())
    return sorted(texts)


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    relay = (sys.argv[1], int(sys.argv[2]))
    count = int(sys.argv[3]) if len(sys.argv) == 4 else 10
    peers = []
    for _ in range(count):
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(5.0)
        peers.append(peer)
    relayed = 0
    try:
        for i, peer in enumerate(peers):
            peer.sendto(f"hello from {i}".encode(), relay)
        for i, peer in enumerate(peers):
            expected = sorted(f"hello from {j}" for j in range(i + 1, count))
            got = receive_exactly(peer, len(expected), relay)
            if got != expected:
                raise AssertionError(f"peer {i} got {got}, wanted {expected}")
            relayed += len(got)
        for i, peer in enumerate(peers):
            peer.sendto(f"message from {i}".encode(), relay)
        for i, peer in enumerate(peers):
            expected = sorted(f"message from {j}" for j in range(count) if j != i)
            got = receive_exactly(peer, len(expected), relay)
            if got != expected:
                raise AssertionError(f"peer {i} got {got}, wanted {expected}")
            relayed += len(got)
        for i, peer in enumerate(peers):
            peer.setblocking(False)
            try:
                data = peer.recv(2048)
                raise AssertionError(f"peer {i} got one more datagram: {data!r}")
            except BlockingIOError:
                pass
    except (AssertionError, socket.timeout) as problem:
        print(f"chat_clients: {problem or 'no datagram within 5 s'}", file=sys.stderr)
        return 1
    finally:
        for peer in peers:
            peer.close()
    print(f"relayed {relayed} messages to {count} peers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
