#!/usr/bin/env python3
"""System calls per query of dns_server --forward, by kind, counted with strace.

The forwarder runs under `strace -f -c` in front of dns_server's authoritative mode (the test
zone), and dnsperf sends it N queries one at a time (-c 1 -q 1), so that every query is a round of
its own and nothing is batched; then the same with 3N. The difference of the two counts over 2N
queries is what one query costs, without the start and the exit. strace slows every call down, so
this counts calls and says nothing of their time (bench/dns_compare.py measures CPU).

Usage: bench/dns_syscalls.py [--salvo build/release/examples/dns/dns_server] [--backends epoll,io_uring]
                             [--queries 500]
Needs strace and dnsperf (Debian packages of those names); exits 2 with a message without them.
"""
import argparse
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZONE = os.path.join(ROOT, "tests/examples/dns/served.zone")
QUESTIONS = ["www.example.com A", "example.com SOA", "nope.example.com AAAA", "web.example.com A", "example.com NS"]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port, timeout_s=30.0):
    """True once 127.0.0.1:port answers a DNS query for example.com SOA (within timeout_s)."""
    query = struct.pack(">HHHHHH", 0x4242, 0, 1, 0, 0, 0) + b"\x07example\x03com\x00" + struct.pack(">HH", 6, 1)
    deadline = time.monotonic() + timeout_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        while time.monotonic() < deadline:
            s.sendto(query, ("127.0.0.1", port))
            try:
                reply, _ = s.recvfrom(4096)
                if reply[:2] == query[:2]:
                    return True
            except socket.timeout:
                pass
    return False


def parse_strace_summary(path):
    """{syscall: calls} from strace -c's table."""
    calls = {}
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
                calls[fields[-1]] = int(fields[3])
    return calls


def count(args, backend, n, tmp):
    """strace -c of one forwarder answering n queries, one at a time."""
    up_port, fw_port = free_port(), free_port()
    out = os.path.join(tmp, f"strace-{backend}-{n}.txt")
    queries = os.path.join(tmp, f"queries-{n}.txt")
    with open(queries, "w") as f:
        f.writelines(QUESTIONS[i % len(QUESTIONS)] + "\n" for i in range(n))
    upstream = subprocess.Popen([args.salvo, "--zone", ZONE, "--bind", f"127.0.0.1:{up_port}", "--backend", "epoll"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    forwarder = None
    try:
        if not answers(up_port):
            raise SystemExit("dns_syscalls.py: the upstream dns_server does not answer")
        forwarder = subprocess.Popen(["strace", "-f", "-c", "-o", out, args.salvo, "--forward", f"127.0.0.1:{up_port}",
                                      "--bind", f"127.0.0.1:{fw_port}", "--backend", backend, "--workers", "1",
                                      "--idle-exit", "5"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not answers(fw_port):
            raise SystemExit(f"dns_syscalls.py: the {backend} forwarder does not answer")
        perf = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(fw_port), "-d", queries, "-n", "1", "-c", "1",
                               "-q", "1", "-t", "2"], capture_output=True, text=True, timeout=30 + n)
        if f"Queries completed:    {n} " not in perf.stdout:
            raise SystemExit(f"dns_syscalls.py: not every query was answered:\n{perf.stdout[-600:]}")
    finally:
        # The forwarder ends by itself 5 s after the last query (--idle-exit), and strace with it,
        # writing its table; the upstream is told to stop.
        if forwarder is not None:
            try:
                forwarder.wait(timeout=60)
            except subprocess.TimeoutExpired:
                forwarder.kill()
                forwarder.wait()
        upstream.send_signal(2)
        try:
            upstream.wait(timeout=20)
        except subprocess.TimeoutExpired:
            upstream.kill()
            upstream.wait()
    return parse_strace_summary(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--salvo", default=os.path.join(ROOT, "build/release/examples/dns/dns_server"))
    ap.add_argument("--backends", default="epoll,io_uring")
    ap.add_argument("--queries", type=int, default=500, help="N: the runs send N and 3N queries")
    args = ap.parse_args()
    for tool in ("strace", "dnsperf"):
        if shutil.which(tool) is None:
            print(f"dns_syscalls.py: {tool} is not installed (apt-get install {tool})", file=sys.stderr)
            return 2
    if not os.access(args.salvo, os.X_OK):
        print(f"dns_syscalls.py: {args.salvo} is missing (build examples/dns first)", file=sys.stderr)
        return 2
    if not 10 <= args.queries <= 100_000:
        ap.error("--queries must be 10 to 100000")
    with tempfile.TemporaryDirectory(prefix="dns_syscalls-") as tmp:
        for backend in args.backends.split(","):
            small, large = count(args, backend, args.queries, tmp), count(args, backend, 3 * args.queries, tmp)
            per_query = {k: (large.get(k, 0) - small.get(k, 0)) / (2 * args.queries) for k in set(small) | set(large)}
            shown = sorted(((v, k) for k, v in per_query.items() if abs(v) >= 0.005), reverse=True)
            print(f"{backend}: {sum(v for v, _ in shown):.2f} system calls per query "
                  f"(strace -f -c, {args.queries} and {3 * args.queries} queries one at a time)")
            for v, k in shown:
                print(f"  {k:20s} {v:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
