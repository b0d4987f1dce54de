#!/usr/bin/env python3
"""Instructions per datagram on the user-space path, counted with valgrind's callgrind.

Time on a shared machine is noisy; an instruction count is not. For each mode of
salvo_instructions (see bench/instructions.cpp) this runs the program under callgrind twice, for N
and for 2N datagrams queued before receiving starts, collecting only inside the receiving function
(--toggle-collect: salvo's Worker::thread_main, the plain loop's drain_recvmmsg), and reports
(instructions(2N) - instructions(N)) / N: set-up and tear-down cancel, the steady state is left.
The ping-pong modes take N and 2N round trips instead (a client in the same process sends each
datagram once the previous echo is back), so theirs is the cost of a round of one datagram, what a
latency-bound peer such as sockperf's ping-pong meets.
System calls count as the one instruction that enters the kernel: this is user space only.

salvo runs with SALVO_BACKEND=epoll, since valgrind 3.19 implements neither io_uring nor
epoll_pwait2 (salvo's epoll backend falls back to epoll_wait on ENOSYS).

Usage: bench/instructions.py --build build/release [--datagrams N] [--json FILE]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

MODES = [
    # (mode, what it is, the function collection is toggled on, the plain mode it is compared with)
    ("recvmmsg", "plain recvmmsg loop, receive only", "*drain_recvmmsg*", None),
    ("salvo", "salvo epoll, receive and dispatch to a counting protocol", "salvo::detail::Worker::thread_main*", "recvmmsg"),
    ("mmsg-echo", "plain recvmmsg + sendmmsg echo loop", "*drain_recvmmsg*", None),
    ("salvo-echo", "salvo epoll echo: receive, dispatch, Transport::send, sendmmsg flush", "salvo::detail::Worker::thread_main*",
     "mmsg-echo"),
    # One datagram per round (N round trips, not N queued datagrams): the whole round's cost.
    ("pingpong", "plain ping-pong server: blocking recvfrom + sendto", "*serve_pingpong*", None),
    ("salvo-pingpong", "salvo epoll ping-pong echo: one datagram per round (wait, receive, dispatch, send)",
     "salvo::detail::Worker::thread_main*", "pingpong"),
]


def count(program, mode, n, toggle, workdir):
    out = os.path.join(workdir, f"callgrind.{mode}.{n}")
    env = dict(os.environ, SALVO_BACKEND="epoll")
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", f"--toggle-collect={toggle}",
            program, mode, str(n)]
    run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({run.returncode}):\n{run.stdout}{run.stderr[-2000:]}")
    with open(out) as f:
        for line in f:
            m = re.match(r"(?:summary|totals):\s+(\d+)", line)
            if m:
                return int(m.group(1)), run.stdout.strip()
    raise RuntimeError(f"no totals in {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build/release", help="the CMake build directory")
    ap.add_argument("--datagrams", type=int, default=2048, help="N (the second run takes 2N; 2N <= 4096)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if not 1 <= args.datagrams <= 2048:
        sys.exit("instructions.py: --datagrams 1..2048 please")
    if shutil.which("valgrind") is None:
        sys.exit("instructions.py: valgrind is not installed (apt-get install valgrind)")
    program = os.path.join(args.build, "bench", "salvo_instructions")
    n = args.datagrams
    results = []
    with tempfile.TemporaryDirectory(prefix="salvo-callgrind.") as workdir:
        for mode, what, toggle, compare in MODES:
            small, _ = count(program, mode, n, toggle, workdir)
            large, said = count(program, mode, 2 * n, toggle, workdir)
            per = (large - small) / n
            results.append({"mode": mode, "what": what, "collected_in": toggle, "compare_to": compare,
                            "instructions_n": small, "instructions_2n": large, "datagrams": n,
                            "instructions_per_datagram": per, "program_said": said})
            print(f"{mode:11s} {per:8.1f} instructions/datagram  ({what})", file=sys.stderr)
    by_mode = {r["mode"]: r for r in results}
    for r in results:
        base = by_mode.get(r["compare_to"]) if r["compare_to"] else None
        r["ratio_to_plain"] = r["instructions_per_datagram"] / base["instructions_per_datagram"] if base else 1.0
    version = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()
    doc = {"valgrind": version, "datagrams": n, "payload_bytes": 64, "batch": 64, "results": results}
    print("| path | instructions/datagram | vs plain loop |\n|---|---:|---:|")
    for r in results:
        print(f"| {r['what']} | {r['instructions_per_datagram']:.1f} | {r['ratio_to_plain']:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
