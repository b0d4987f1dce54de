#!/usr/bin/env python3
"""Large datagrams with GSO: `salvo blast` beside a hand-written UDP_SEGMENT loop, sender CPU per datagram.

Both senders run on CPU 1 for --seconds each, in alternated rounds, into the same receiver on CPU 0:
a UDP socket with UDP_GRO set that is never read, so that after its buffer fills every GSO message
is dropped whole on arrival. On loopback the receiving half of the kernel runs in the sender's send
call and is billed to the sender, so a sender's figure depends on the receiver it meets; a receiver
that only drops keeps that part small and the same for every sender, which leaves the difference
between the senders' own messages. The loop (salvo_baseline_gso_loop) sends one 64 KiB buffer from a
connected socket with a 4 MiB send buffer, cut into as many datagrams of the size as fit (54 of
1200 B). The figure is user + system CPU per datagram sent, median over --rounds.

--candidates measures instead what each way a library's sends may differ from the loop costs: the
loop beside itself with one thing changed (CANDIDATES below), at --sizes' first size.

Usage: bench/gso_sizes.py [--salvo build/release/tools/salvo] [--loop build/release/bench/salvo_baseline_gso_loop]
                          [--previous OTHER_BUILD/tools/salvo] [--sizes 1200,1472,64] [--seconds 2] [--rounds 3]
                          [--candidates] [--json FILE]
Every process is bounded in time; all traffic stays on 127.0.0.1.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_suite import machine  # noqa: E402

RECEIVER_CPU = "0"
SENDER_CPU = "1"
UDP_GRO = 104

# The loop with one thing changed (salvo_baseline_gso_loop's options), for --candidates.
CANDIDATES = [
    ("one iovec per datagram", ["--iovecs"]),
    ("payloads streamed through a 4 MiB buffer", ["--ring", str(4 << 20)]),
    ("the same on huge pages", ["--ring", str(4 << 20), "--hugepages"]),
    ("unconnected socket", ["--unconnected"]),
    ("kernel default SO_SNDBUF", ["--sndbuf", "0"]),
    ("sendmmsg, 8 messages per call", ["--sendmmsg", "8"]),
    ("io_uring SENDMSG, 8 per submission", ["--uring", "8"]),
]


def black_hole():
    """A receiver on CPU 0 that never reads: returns (process, port)."""
    code = ("import socket,sys,time\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            f"s.setsockopt(socket.SOL_UDP,{UDP_GRO},1)\n"
            "s.bind(('127.0.0.1',0))\n"
            "print(s.getsockname()[1],flush=True)\n"
            "sys.stdin.read()\n")
    proc = subprocess.Popen(["taskset", "-c", RECEIVER_CPU, sys.executable, "-c", code],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


def run_loop(args, port, size, extra=()):
    out = subprocess.run(["taskset", "-c", SENDER_CPU, args.loop, str(port), str(size), str(args.seconds), *extra],
                         capture_output=True, text=True, timeout=args.seconds + 30, check=True).stdout.split()
    return float(out[3]) * 1e9 / int(out[1])


def run_blast(binary, backend, port, size, seconds):
    done = subprocess.run(["taskset", "-c", SENDER_CPU, binary, "blast", "--to", f"127.0.0.1:{port}", "--size", str(size),
                           "--duration", str(seconds), "--quiet", "--json", "--backend", backend, "--cpus", SENDER_CPU],
                          capture_output=True, text=True, timeout=seconds + 30, check=True)
    d = json.loads(done.stdout)
    sent = d["counters"]["sent"]
    return (d["cpu_user_s"] + d["cpu_system_s"]) * 1e9 / sent


def candidates(args):
    size = int(args.sizes.split(",")[0])
    senders = [("loop", [])] + CANDIDATES
    runs = []
    receiver, port = black_hole()
    try:
        for round_index in range(args.rounds):
            for name, extra in senders:
                runs.append(dict(round=round_index, sender=name, ns=run_loop(args, port, size, extra)))
            print(f"round {round_index}: " + ", ".join(f"{r['sender']} {r['ns']:.0f}" for r in runs if r["round"] == round_index),
                  file=sys.stderr)
    finally:
        receiver.communicate(input="", timeout=10)
    print(f"Machine: {machine()}; {size} B datagrams; receiver (UDP_GRO, never read) on CPU {RECEIVER_CPU}, "
          f"senders on CPU {SENDER_CPU}, {args.seconds:g} s each, median of {args.rounds} rounds\n")
    print("| the loop, with | CPU per datagram | x loop |")
    print("|---|---:|---:|")
    loop = statistics.median(r["ns"] for r in runs if r["sender"] == "loop")
    medians = []
    for name, _ in senders:
        m = statistics.median(r["ns"] for r in runs if r["sender"] == name)
        medians.append(dict(size=size, sender=name, ns=m, x_loop=m / loop))
        print(f"| {name if name != 'loop' else 'nothing changed'} | {m:.0f} ns | {m / loop:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "size": size, "runs": runs, "medians": medians}, f, indent=1)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--salvo", default="build/release/tools/salvo")
    ap.add_argument("--loop", default="build/release/bench/salvo_baseline_gso_loop")
    ap.add_argument("--previous", help="another build's salvo, run as 'previous' beside this one")
    ap.add_argument("--sizes", default="1200,1472,64")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--candidates", action="store_true", help="the loop beside itself with one thing changed")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.candidates:
        return candidates(args)
    builds = [("salvo", args.salvo)] + ([("previous", args.previous)] if args.previous else [])
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = []
    receiver, port = black_hole()
    try:
        for round_index in range(args.rounds):
            for size in sizes:
                runs.append(dict(round=round_index, size=size, sender="loop", ns=run_loop(args, port, size)))
                for backend in ("io_uring", "epoll"):
                    for name, binary in builds:
                        ns = run_blast(binary, backend, port, size, args.seconds)
                        runs.append(dict(round=round_index, size=size, sender=f"{name} {backend}", ns=ns))
                print(f"round {round_index} size {size}: " +
                      ", ".join(f"{r['sender']} {r['ns']:.0f}" for r in runs if r["round"] == round_index and r["size"] == size),
                      file=sys.stderr)
    finally:
        receiver.communicate(input="", timeout=10)
    print(f"Machine: {machine()}; receiver (UDP_GRO, never read) on CPU {RECEIVER_CPU}, senders on CPU {SENDER_CPU}, "
          f"{args.seconds:g} s each, median of {args.rounds} rounds\n")
    print("| size | sender | CPU per datagram | x loop |")
    print("|---:|---|---:|---:|")
    medians = []
    for size in sizes:
        senders = list(dict.fromkeys(r["sender"] for r in runs if r["size"] == size))
        loop = statistics.median(r["ns"] for r in runs if r["size"] == size and r["sender"] == "loop")
        for sender in senders:
            m = statistics.median(r["ns"] for r in runs if r["size"] == size and r["sender"] == sender)
            medians.append(dict(size=size, sender=sender, ns=m, x_loop=m / loop))
            print(f"| {size} | {sender} | {m:.0f} ns | {m / loop:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "runs": runs, "medians": medians}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
