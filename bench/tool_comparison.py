#!/usr/bin/env python3
"""salvo's command-line tools side by side with the tools people use today, in one run.

Three comparisons, each in interleaved rounds (the order alternates every round) with medians, on
loopback, server pinned to one CPU and client to the other:

  blast     salvo blast -> salvo sink (with GSO, its default, and with --no-gso) against iperf3 -u -b 0 -l SIZE between iperf3's own client
            and server: datagrams per second delivered to the receiver (received, not sent).
  sockperf  sockperf ping-pong against `salvo echo --sockperf` and against sockperf's own server
            (`sockperf sr`): p50 and p99 as sockperf reports them (half the round trip). With
            --floor, also against the minimal servers of bench/sockperf_floor.cpp (blocking,
            io_uring, hybrid): where the kernel's receive path puts the floor for each way of
            waiting. With more than two servers the order rotates by one place every round, so
            that each takes every position equally often (a fixed order was seen to bias).
  busypoll  salvo ping (busy-polling client) against salvo echo blocking and salvo echo --busy-poll:
            round-trip p50 and p99, and the busy-poll/blocking ratio of the p50s.

Usage: bench/tool_comparison.py --salvo build/release/tools/salvo [--rounds 3] [--seconds 3]
                                [--only blast,sockperf,busypoll] [--json FILE]
                                [--floor build/release/bench/salvo_sockperf_floor]
Needs iperf3 and sockperf on PATH for their comparisons (each is skipped, with a line saying so,
where its tool is missing). Every run is bounded by --seconds and ends by itself; all traffic stays
on 127.0.0.1.
"""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

SERVER_CPU = "0"
CLIENT_CPU = "1"


def pinned(cpu, argv):
    return ["taskset", "-c", cpu] + argv


def start(argv):
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout):
    out, err = proc.communicate(timeout=timeout)
    return out, err


def stop(proc, timeout=10):
    """SIGTERM (salvo prints its report on it), then collect the output."""
    if proc.poll() is None:
        proc.terminate()
    return finish(proc, timeout)


def median(values):
    return statistics.median(values) if values else float("nan")


# --- blast vs iperf3 -------------------------------------------------------------------------

def salvo_blast_round(salvo, port, seconds, size, gso):
    sink = start(pinned(SERVER_CPU, [salvo, "sink", "--bind", f"127.0.0.1:{port}", "--cpus", SERVER_CPU,
                                     "--idle-exit", "1", "--json"]))
    time.sleep(0.5)  # let the sink bind first
    blast = subprocess.run(pinned(CLIENT_CPU, [salvo, "blast", "--to", f"127.0.0.1:{port}", "--duration",
                                              str(seconds), "--size", str(size), "--cpus", CLIENT_CPU,
                                              "--quiet", "--json", "--gso" if gso else "--no-gso"]),
                           capture_output=True, text=True, timeout=seconds + 30, check=True)
    out, _ = finish(sink, seconds + 30)
    b, s = json.loads(blast.stdout), json.loads(out)
    return {"sent": b["sent"], "delivered": s["delivered"], "kernel_drops": s["kernel_drops"],
            "seconds": b["elapsed_s"], "per_s": s["delivered"] / b["elapsed_s"]}


def iperf3_round(port, seconds, size):
    server = start(pinned(SERVER_CPU, ["iperf3", "-s", "-1", "-p", str(port)]))
    time.sleep(0.5)
    client = subprocess.run(pinned(CLIENT_CPU, ["iperf3", "-u", "-b", "0", "-l", str(size), "-c", "127.0.0.1",
                                              "-p", str(port), "-t", str(seconds), "--json"]),
                            capture_output=True, text=True, timeout=seconds + 30)
    finish(server, 30)
    s = json.loads(client.stdout)["end"]["sum"]
    delivered = s["packets"] - s["lost_packets"]
    return {"sent": s["packets"], "delivered": delivered, "lost": s["lost_packets"], "seconds": s["seconds"],
            "per_s": delivered / s["seconds"]}


def compare_blast(args):
    if not shutil.which("iperf3"):
        print("blast: skipped, iperf3 is not installed", file=sys.stderr)
        return None
    # salvo with GSO (its default) and without, so that the table shows what GSO buys and what
    # salvo's batching alone does against iperf3's one sendto per datagram.
    runs = {"salvo blast -> salvo sink": [], "salvo blast --no-gso -> salvo sink": [], "iperf3 -u -b 0": []}
    for r in range(args.rounds):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for name in order:
            if name.startswith("salvo"):
                res = salvo_blast_round(args.salvo, 9461, args.seconds, args.size, "--no-gso" not in name)
            else:
                res = iperf3_round(9462, args.seconds, args.size)
            runs[name].append(res)
            print(f"round {r + 1} {name:36} {res['per_s']:12.0f} delivered/s", file=sys.stderr)
    table = {name: median([x["per_s"] for x in rs]) for name, rs in runs.items()}
    return {"size": args.size, "median_delivered_per_s": table,
            "ratio_salvo_to_iperf3": table["salvo blast -> salvo sink"] / table["iperf3 -u -b 0"], "rounds": runs}


# --- sockperf ping-pong ----------------------------------------------------------------------

PERCENTILE = re.compile(r"percentile\s+([0-9.]+)\s*=\s*([0-9.]+)")


def sockperf_client(port, seconds):
    res = subprocess.run(pinned(CLIENT_CPU, ["sockperf", "ping-pong", "-i", "127.0.0.1", "-p", str(port),
                                            "-t", str(seconds)]),
                         capture_output=True, text=True, timeout=seconds + 30)
    found = {float(p): float(v) for p, v in PERCENTILE.findall(res.stdout + res.stderr)}
    if 50.0 not in found or 99.0 not in found:
        raise RuntimeError("sockperf printed no percentiles:\n" + res.stdout + res.stderr)
    return {"p50_us": found[50.0], "p99_us": found[99.0]}


FLOOR_MODES = ("blocking", "io_uring", "hybrid")


def sockperf_round(name, args, port, salvo_flags=()):
    """One sockperf ping-pong run against the server `name`; `salvo_flags` go to salvo echo (say
    --backend epoll: bench/ab_compare.py uses this)."""
    if name == "sockperf sr":
        server = start(pinned(SERVER_CPU, ["sockperf", "server", "-i", "127.0.0.1", "-p", str(port)]))
    elif name.startswith("floor "):
        server = start(pinned(SERVER_CPU, [args.floor, name.split()[1], f"127.0.0.1:{port}", str(args.seconds + 5)]))
    else:
        server = start(pinned(SERVER_CPU, [args.salvo, "echo", "--sockperf", "--bind", f"127.0.0.1:{port}",
                                           "--cpus", SERVER_CPU, "--duration", str(args.seconds + 5)] + list(salvo_flags)))
    time.sleep(0.5)
    if name.startswith("floor ") and server.poll() is not None:
        # A floor server that could not start (no io_uring here, say) leaves the comparison.
        _, err = finish(server, 10)
        return {"skipped": err.strip() or f"exit status {server.returncode}"}
    try:
        return sockperf_client(port, args.seconds)
    finally:
        stop(server)


def compare_sockperf(args):
    if not shutil.which("sockperf"):
        print("sockperf: skipped, sockperf is not installed", file=sys.stderr)
        return None
    runs = {"sockperf sr": [], "salvo echo --sockperf": []}
    if args.floor:
        runs.update({f"floor {mode}": [] for mode in FLOOR_MODES})
    names = list(runs)
    for r in range(args.rounds):
        # Rotated by one place per round; with two servers that is plain alternation.
        shift = r % len(names)
        order = names[shift:] + names[:shift]
        for i, name in enumerate(order):
            if name not in runs:
                continue
            res = sockperf_round(name, args, 11470 + len(names) * r + i)
            if "skipped" in res:
                print(f"{name}: skipped, {res['skipped']}", file=sys.stderr)
                del runs[name]
                continue
            runs[name].append(res)
            print(f"round {r + 1} {name:24} p50 {res['p50_us']:7.3f} us  p99 {res['p99_us']:7.3f} us", file=sys.stderr)
    table = {name: {"p50_us": median([x["p50_us"] for x in rs]), "p99_us": median([x["p99_us"] for x in rs])}
             for name, rs in runs.items()}
    return {"median": table, "rounds": runs}


# --- busy poll -------------------------------------------------------------------------------

def busypoll_round(args, busy, port):
    flags = ["--busy-poll"] if busy else []
    echo = start(pinned(SERVER_CPU, [args.salvo, "echo", "--bind", f"127.0.0.1:{port}", "--cpus", SERVER_CPU,
                                     "--duration", str(args.seconds + 3)] + flags))
    time.sleep(0.5)
    try:
        ping = subprocess.run(pinned(CLIENT_CPU, [args.salvo, "ping", "--to", f"127.0.0.1:{port}", "--rate", "2000",
                                                 "--duration", str(args.seconds), "--cpus", CLIENT_CPU,
                                                 "--busy-poll", "--json"]),
                              capture_output=True, text=True, timeout=args.seconds + 30, check=True)
    finally:
        stop(echo)
    p = json.loads(ping.stdout)["ping"]
    lat = p["latency_ns"]
    return {"sent": p["sent"], "received": p["received"], "p50_us": lat["p50"] / 1e3, "p99_us": lat["p99"] / 1e3}


def compare_busypoll(args):
    runs = {"salvo echo (blocking)": [], "salvo echo --busy-poll": []}
    for r in range(args.rounds):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for i, name in enumerate(order):
            res = busypoll_round(args, "busy" in name, 11570 + 2 * r + i)
            runs[name].append(res)
            print(f"round {r + 1} {name:24} p50 {res['p50_us']:7.1f} us  p99 {res['p99_us']:7.1f} us", file=sys.stderr)
    table = {name: {"p50_us": median([x["p50_us"] for x in rs]), "p99_us": median([x["p99_us"] for x in rs])}
             for name, rs in runs.items()}
    ratio = table["salvo echo --busy-poll"]["p50_us"] / table["salvo echo (blocking)"]["p50_us"]
    return {"median": table, "p50_ratio_busy_to_blocking": ratio, "rounds": runs}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--salvo", required=True, help="path to the salvo command")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--size", type=int, default=64, help="payload bytes for the blast comparison")
    ap.add_argument("--only", default="blast,sockperf,busypoll")
    ap.add_argument("--json", help="write every round and the medians here")
    ap.add_argument("--floor", help="path to salvo_sockperf_floor: add its minimal servers to the sockperf comparison")
    args = ap.parse_args()
    if args.floor and not os.access(args.floor, os.X_OK):
        ap.error(f"--floor {args.floor}: not an executable")
    if not os.access(args.salvo, os.X_OK):
        ap.error(f"--salvo {args.salvo}: not an executable")
    if args.rounds < 1 or args.seconds < 1:
        ap.error("--rounds and --seconds must be at least 1")
    wanted = set(args.only.split(","))
    unknown = wanted - {"blast", "sockperf", "busypoll"}
    if unknown:
        ap.error("--only: unknown comparison " + ",".join(sorted(unknown)))

    machine = f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs"
    result = {"machine": machine, "date": time.strftime("%Y-%m-%d"), "rounds": args.rounds, "seconds": args.seconds}
    print(f"Machine: {machine}; {args.rounds} interleaved rounds of {args.seconds} s; medians")
    if "blast" in wanted and (b := compare_blast(args)):
        result["blast"] = b
        print(f"\n| sender -> receiver ({args.size}-byte datagrams) | delivered datagrams/s | vs iperf3 |")
        print("|---|---:|---:|")
        base = b["median_delivered_per_s"]["iperf3 -u -b 0"]
        for name, v in b["median_delivered_per_s"].items():
            print(f"| {name} | {v:.0f} | {v / base:.2f}x |")
    if "sockperf" in wanted and (s := compare_sockperf(args)):
        result["sockperf"] = s
        print("\n| server (sockperf ping-pong client) | p50 us | p99 us | vs sockperf sr (p50 / p99) |")
        print("|---|---:|---:|---:|")
        base = s["median"]["sockperf sr"]
        for name, v in s["median"].items():
            print(f"| {name} | {v['p50_us']:.3f} | {v['p99_us']:.3f} | "
                  f"{v['p50_us'] / base['p50_us']:.2f}x / {v['p99_us'] / base['p99_us']:.2f}x |")
    if "busypoll" in wanted:
        bp = compare_busypoll(args)
        result["busypoll"] = bp
        print("\n| server (salvo ping --busy-poll client, 2000/s) | round trip p50 us | p99 us |")
        print("|---|---:|---:|")
        for name, v in bp["median"].items():
            print(f"| {name} | {v['p50_us']:.1f} | {v['p99_us']:.1f} |")
        print(f"\nbusy-poll p50 / blocking p50 = {bp['p50_ratio_busy_to_blocking']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
