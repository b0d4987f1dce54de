#!/usr/bin/env python3
"""How salvo blast's delivered rate scales with its number of flows (source sockets).

For each backend and each N of --flows: `salvo sink` pinned to CPU 0 counts what arrives on
127.0.0.1, `salvo blast --flows N` pinned to CPU 1 floods it for --seconds, and the figure is
datagrams delivered to the sink's protocol per second (the sink's `delivered` over blast's
elapsed time), the median over --rounds. Each round also keeps what blast sent, the sink's kernel
drops and blast's peak resident memory (VmHWM, sampled while it runs): every flow has its own send
queue.

blast runs under `prlimit --nofile=N+1000` (raising the hard limit needs root), so that N flows
have their descriptors. A blast that fails (refuses the flag, runs out of memory, is killed) is a
result too: the round records its exit status and the last line it printed, and the run goes on.

Usage: bench/flow_scale.py [--salvo build/release/tools/salvo] [--flows 1,64,1024,16384]
                           [--backend io_uring|epoll|both] [--seconds 3] [--rounds 3] [--size 64]
                           [--json FILE]
Every process is bounded in time; all traffic stays on 127.0.0.1.
"""
import argparse
import json
import os
import platform
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_suite import machine  # noqa: E402  (one description of the machine for every result)
import time

SINK_CPU = "0"
BLAST_CPU = "1"
DESCRIPTOR_HEADROOM = 1000
# The sink exits this long after the last datagram (or after it started, if none came): long
# enough for blast to open its flows before it sends.
SINK_IDLE_EXIT = 5


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink(salvo, backend, port, seconds):
    """Starts the sink and returns once it said it listens (or raises)."""
    argv = ["taskset", "-c", SINK_CPU, salvo, "sink", "--bind", f"127.0.0.1:{port}", "--cpus", SINK_CPU,
            "--backend", backend, "--idle-exit", str(SINK_IDLE_EXIT), "--duration", str(seconds + 120), "--json"]
    sink = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with selectors.DefaultSelector() as sel:
        sel.register(sink.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not sel.select(timeout=deadline - time.monotonic()):
                break
            line = sink.stderr.readline()
            if not line:
                break
            if "listening on" in line:
                return sink
    sink.kill()
    sink.communicate(timeout=30)
    raise RuntimeError(f"salvo sink on port {port} did not start listening")


def peak_rss_kib(pid):
    """VmHWM of a running process: its peak resident memory so far (None once it has gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), None)
    except OSError:
        return None


def run_blast(salvo, backend, port, flows, seconds, size):
    """Runs blast to the end; returns (exit status, stdout, stderr, peak RSS in KiB)."""
    nofile = flows + DESCRIPTOR_HEADROOM
    argv = ["prlimit", f"--nofile={nofile}:{nofile}", "taskset", "-c", BLAST_CPU, salvo, "blast",
            "--to", f"127.0.0.1:{port}", "--duration", str(seconds), "--size", str(size), "--flows", str(flows),
            "--cpus", BLAST_CPU, "--backend", backend, "--quiet", "--json"]
    print("+ " + " ".join(argv), file=sys.stderr, flush=True)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, text=True)
        # prlimit and taskset exec blast in place, so the pid ends up being blast's. Its peak memory
        # is sampled while it runs: the rusage of a forked child would report the parent's (this
        # Python's) memory as the peak of any smaller program.
        peak = 0
        deadline = time.monotonic() + seconds + 300
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
            peak = max(peak, peak_rss_kib(proc.pid) or 0)
            time.sleep(0.05)
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read(), peak


def last_line(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def one_round(args, backend, flows):
    port = free_port()
    sink = start_sink(args.salvo, backend, port, args.seconds)
    try:
        status, out, err, max_rss_kib = run_blast(args.salvo, backend, port, flows, args.seconds, args.size)
    except BaseException:
        sink.kill()
        sink.communicate(timeout=30)
        raise
    sink_out, _ = sink.communicate(timeout=args.seconds + 180)
    round_ = {"blast_exit": status, "blast_max_rss_kib": max_rss_kib}
    if status != 0:
        why = last_line(err) or f"exit status {status}"
        if status < 0:
            why = f"killed by signal {-status}" + (f" ({why})" if last_line(err) else "")
        round_.update({"status": "failed", "message": why})
        return round_
    b, s = json.loads(out), json.loads(sink_out)
    round_.update({"status": "ok", "message": "", "sent": b["sent"], "delivered": s["delivered"],
                   "kernel_drops": s["kernel_drops"], "seconds": b["elapsed_s"],
                   "delivered_per_s": s["delivered"] / b["elapsed_s"]})
    return round_


def summarize(backend, flows, rounds):
    ok = [r for r in rounds if r["status"] == "ok"]
    run = {"backend": backend, "flows": flows, "status": "ok" if len(ok) == len(rounds) else "failed",
           "message": next((r["message"] for r in rounds if r["status"] != "ok"), ""), "rounds": rounds}
    if ok:
        run["delivered_per_s"] = statistics.median(r["delivered_per_s"] for r in ok)
        run["sent_per_s"] = statistics.median(r["sent"] / r["seconds"] for r in ok)
        run["kernel_drops_per_s"] = statistics.median(r["kernel_drops"] / r["seconds"] for r in ok)
    run["blast_max_rss_kib"] = max(r["blast_max_rss_kib"] for r in rounds)
    return run


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--salvo", default="build/release/tools/salvo")
    p.add_argument("--flows", default="1,64,1024,16384")
    p.add_argument("--backend", default="both", choices=["io_uring", "epoll", "both"])
    p.add_argument("--seconds", type=float, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--json", help="write the results here as well")
    args = p.parse_args()
    try:
        args.flows = [int(n) for n in args.flows.split(",")]
    except ValueError:
        p.error(f"--flows {args.flows}: a comma-separated list of numbers")
    if any(n < 1 or n > 1_000_000 for n in args.flows):
        p.error("--flows: each N must be 1 to 1000000")
    if not 0 < args.seconds <= 600 or not 1 <= args.rounds <= 100 or not 0 <= args.size <= 65507:
        p.error("--seconds must be above 0 and at most 600, --rounds 1 to 100, --size 0 to 65507")
    if not os.access(args.salvo, os.X_OK):
        p.error(f"--salvo {args.salvo}: not an executable (build the release preset first)")
    return args


def main():
    args = parse_args()
    backends = ["io_uring", "epoll"] if args.backend == "both" else [args.backend]
    runs = []
    for k, flows in enumerate(args.flows):
        rounds = {backend: [] for backend in backends}
        for r in range(args.rounds):
            # The backends take turns going first, from one round to the next.
            order = backends if (k + r) % 2 == 0 else list(reversed(backends))
            for backend in order:
                res = one_round(args, backend, flows)
                rounds[backend].append(res)
                shown = f"{res['delivered_per_s']:12.0f} delivered/s" if res["status"] == "ok" else res["message"]
                print(f"round {r + 1} {backend:8} flows {flows:6}  {shown}", file=sys.stderr, flush=True)
        runs += [summarize(backend, flows, rounds[backend]) for backend in backends]
    doc = {"program": "flow_scale.py", "machine": machine(), "sink_cpu": int(SINK_CPU), "blast_cpu": int(BLAST_CPU),
           "seconds": args.seconds, "rounds": args.rounds, "size": args.size, "runs": runs}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    print(doc["machine"])
    print(f"{'backend':9} {'flows':>7}  {'status':8} {'delivered/s':>12} {'sent/s':>12} {'drops/s':>12} {'blast RSS MiB':>13}")
    for run in runs:
        rss = run["blast_max_rss_kib"] / 1024
        if "delivered_per_s" in run:
            print(f"{run['backend']:9} {run['flows']:7}  {run['status']:8} {run['delivered_per_s']:12.0f} "
                  f"{run['sent_per_s']:12.0f} {run['kernel_drops_per_s']:12.0f} {rss:13.1f}")
        else:
            print(f"{run['backend']:9} {run['flows']:7}  {run['status']:8} {run['message']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
