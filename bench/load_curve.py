#!/usr/bin/env python3
"""Echo below saturation: server CPU per datagram and round-trip latency against the offered rate.

For each offered rate (datagrams/s, or "sat": as fast as the client sends) and each server, in one
run with the servers alternated within each rate and round: the server is started on CPU 0,
`salvo ping --rate R` on CPU 1 sends to it on a fixed schedule for --seconds and takes the latency
of every reply, and the server's CPU time (every thread, from /proc/PID/task/*/schedstat) over the
client's run is divided by the replies the client received. Servers:
  blocking          bench's blocking recvfrom/sendto loop (salvo_baseline_echo blocking)
  libuv             libuv's echo (salvo_baseline_echo libuv; skipped when built without libuv)
  periodic:US       a recvmmsg/sendmmsg loop woken by a timer every US microseconds
                    (salvo_baseline_echo periodic): the floor of what a hold of US can save here
  epoll-loop[:MS]   epoll_wait, recvmmsg, sendmmsg and nothing else (salvo_baseline_echo epoll), each
                    wait bounded by MS as a loop with timers would be: the floor of a readiness loop
  uring-loop        an io_uring receive, its reply linked ahead of the next (salvo_baseline_echo
                    uring): one io_uring_enter per datagram, the floor of an io_uring loop
  BACKEND:BUDGET    salvo echo --backend BACKEND --latency-budget BUDGET (0, 20, adaptive, ...)
  previous:BACKEND  --previous's salvo echo (an A/B against an earlier build), as it runs by default
The figure per cell is the median over --rounds; "x blocking" is the median, over the rounds, of
the ratio to the blocking echo measured in the same round (the machine drifts between rounds more
than servers differ within one), with the lowest and highest ratio beside it. The servers' order
rotates from round to round. With --json the runs are written out; --plot
draws CPU per datagram as text bars, one block per rate.

Usage: bench/load_curve.py [--salvo build/release/tools/salvo] [--baseline build/release/bench/salvo_baseline_echo]
                           [--rates 10000,20000,50000,100000,200000,sat] [--servers blocking,libuv,io_uring:0,...]
                           [--previous OTHER_BUILD/tools/salvo] [--seconds 3] [--rounds 2] [--json FILE] [--plot]
Every process is bounded in time; all traffic stays on 127.0.0.1.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flow_scale import free_port  # noqa: E402
from run_suite import machine  # noqa: E402  (one description of the machine for every result)

SERVER_CPU = "0"
CLIENT_CPU = "1"
SATURATED_RATE = 2_000_000  # more than one client CPU sends: the server is as busy as it gets
DEFAULT_SERVERS = ["blocking", "libuv"] + [f"{b}:{budget}" for b in ("io_uring", "epoll")
                                           for budget in ("0", "20", "50", "100", "adaptive")]


def cpu_ns(pid):
    """CPU time of every thread of the process, in nanoseconds."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total


def server_argv(args, server, port):
    if server in ("blocking", "libuv", "epoll-loop", "uring-loop"):
        return [args.baseline, server.removesuffix("-loop"), str(port)]
    backend, budget = server.split(":", 1)
    if backend == "periodic":
        return [args.baseline, "periodic", str(port), budget]
    if backend == "epoll-loop":
        return [args.baseline, "epoll", str(port), budget]
    if backend == "previous":
        return [args.previous, "echo", "--bind", f"127.0.0.1:{port}", "--backend", budget, "--cpus", SERVER_CPU,
                "--duration", str(args.seconds + 60)]
    return [args.salvo, "echo", "--bind", f"127.0.0.1:{port}", "--backend", backend, "--cpus", SERVER_CPU,
            "--latency-budget", budget, "--duration", str(args.seconds + 60)]


def start_server(args, server, port):
    """Starts a server pinned to SERVER_CPU; returns it once it serves, or None if it cannot run."""
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + server_argv(args, server, port),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    baseline = server in ("blocking", "libuv") or server.startswith(("periodic:", "epoll-loop", "uring-loop"))
    stream = proc.stdout if baseline else proc.stderr
    marker = "ready" if baseline else "listening"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        if marker in line:
            return proc
    proc.kill()
    out, err = proc.communicate(timeout=10)
    print(f"load_curve.py: {server} did not start: {(err or out).strip().splitlines()[-1:]}", file=sys.stderr)
    return None


def run_cell(args, server, rate):
    port = free_port()
    proc = start_server(args, server, port)
    if proc is None:
        return None
    try:
        offered = SATURATED_RATE if rate == "sat" else int(rate)
        client = ["taskset", "-c", CLIENT_CPU, args.salvo, "ping", "--to", f"127.0.0.1:{port}", "--rate", str(offered),
                  "--duration", str(args.seconds), "--cpus", CLIENT_CPU, "--linger", "1", "--json"]
        before = cpu_ns(proc.pid)
        done = subprocess.run(client, capture_output=True, text=True, timeout=args.seconds + 60)
        after = cpu_ns(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    if done.returncode != 0:
        print(f"load_curve.py: ping against {server} at {rate}/s failed: {done.stderr.strip()[-200:]}", file=sys.stderr)
        return None
    ping = json.loads(done.stdout)
    received = ping["ping"]["received"]
    latency = ping["ping"]["latency_ns"]
    return {
        "server": server, "rate": rate, "sent": ping["ping"]["sent"], "received": received,
        "cpu_ns_per_datagram": (after - before) / received if received else None,
        "p50_us": latency["p50"] / 1000, "p99_us": latency["p99"] / 1000,
        "achieved_per_s": received / args.seconds,
    }


def summarize(runs, servers, rates):
    cells = {}
    for rate in rates:
        blocking = {r["round"]: r["cpu_ns_per_datagram"] for r in runs
                    if r["rate"] == rate and r["server"] == "blocking" and r["cpu_ns_per_datagram"]}
        for server in servers:
            mine = [r for r in runs if r["rate"] == rate and r["server"] == server and r["cpu_ns_per_datagram"]]
            if not mine:
                continue
            cell = {
                key: statistics.median(r[key] for r in mine)
                for key in ("cpu_ns_per_datagram", "p50_us", "p99_us", "achieved_per_s")
            }
            ratios = [r["cpu_ns_per_datagram"] / blocking[r["round"]] for r in mine if r["round"] in blocking]
            if ratios:
                cell["x_blocking"] = statistics.median(ratios)
                cell["x_blocking_low"], cell["x_blocking_high"] = min(ratios), max(ratios)
            cells[(rate, server)] = cell
    return cells


def print_table(cells, servers, rates):
    print("| offered | server | CPU/datagram | x blocking (paired) | lowest-highest | p50 us | p99 us | answered/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for rate in rates:
        for server in servers:
            c = cells.get((rate, server))
            if c is None:
                continue
            ratio = f"{c['x_blocking']:.2f}x" if "x_blocking" in c else "-"
            spread = f"{c['x_blocking_low']:.2f}-{c['x_blocking_high']:.2f}" if "x_blocking" in c else "-"
            print(f"| {rate} | {server} | {c['cpu_ns_per_datagram'] / 1000:.2f} us | {ratio} | {spread} | "
                  f"{c['p50_us']:.0f} | {c['p99_us']:.0f} | {c['achieved_per_s']:,.0f} |")


def print_plot(cells, servers, rates, width=40):
    """CPU per datagram as bars, one block per offered rate, the longest bar of a block full width."""
    for rate in rates:
        row = [(s, cells[(rate, s)]["cpu_ns_per_datagram"]) for s in servers if (rate, s) in cells]
        if not row:
            continue
        top = max(v for _, v in row)
        print(f"offered {rate}/s: server CPU per datagram")
        for server, v in row:
            print(f"  {server:<18} {'#' * max(1, round(width * v / top)):<{width}} {v / 1000:6.2f} us")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--salvo", default="build/release/tools/salvo")
    ap.add_argument("--baseline", default="build/release/bench/salvo_baseline_echo")
    ap.add_argument("--rates", default="10000,20000,50000,100000,200000,sat")
    ap.add_argument("--servers", default=",".join(DEFAULT_SERVERS))
    ap.add_argument("--previous", help="another build's salvo, for the previous:BACKEND servers")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", help="write the runs and medians here")
    ap.add_argument("--plot", action="store_true", help="print text bars of CPU per datagram")
    ap.add_argument("--smoke", action="store_true",
                    help="a second per cell, one round, three servers; exit 1 unless every cell reported")
    args = ap.parse_args()
    if args.smoke:
        args.rates, args.servers, args.seconds, args.rounds = "20000", "blocking,auto:0,auto:adaptive", 1.0, 1
    rates = args.rates.split(",")
    servers = args.servers.split(",")
    for path in (args.salvo, args.baseline):
        if not os.access(path, os.X_OK):
            print(f"load_curve.py: {path} is missing: build the Release tree first", file=sys.stderr)
            return 2
    runs = []
    for round_index in range(args.rounds):
        shift = round_index % len(servers)
        order = servers[shift:] + servers[:shift]
        for rate in rates:
            for server in order:
                r = run_cell(args, server, rate)
                if r is not None:
                    r["round"] = round_index
                    runs.append(r)
                    print(f"round {round_index} {rate:>7} {server:<18} {r['cpu_ns_per_datagram'] or 0:8.0f} ns/dgram "
                          f"p50 {r['p50_us']:7.0f} us p99 {r['p99_us']:7.0f} us", file=sys.stderr)
    cells = summarize(runs, servers, rates)
    print(f"Machine: {machine()}; server on CPU {SERVER_CPU}, salvo ping on CPU {CLIENT_CPU}, "
          f"{args.seconds:g} s per cell, median of {args.rounds} rounds\n")
    print_table(cells, servers, rates)
    if args.plot:
        print()
        print_plot(cells, servers, rates)
    missing = [(r, s) for r in rates for s in servers if (r, s) not in cells]
    if args.smoke and missing:
        print(f"load_curve.py: no figures for {missing}", file=sys.stderr)
        return 1
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "seconds": args.seconds, "rounds": args.rounds, "runs": runs,
                       "medians": [dict(rate=k[0], server=k[1], **v) for k, v in cells.items()]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
