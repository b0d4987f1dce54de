#!/usr/bin/env python3
"""GSO and GRO together against plain sends and receives, and zero-copy sends against copying
ones, in one run (issue 7's measures).

`salvo blast --gso` into `salvo sink --gro` against `salvo blast --no-gso` into a plain
`salvo sink`, 1200-byte datagrams by default, on loopback: sink pinned to CPU 0, blast to CPU 1,
interleaved rounds (the order alternates every round), medians. The figure is datagrams per second
delivered to the sink's protocol (counted as datagrams, GRO segments included), and the ratio of
the two medians.

Zero-copy (--zerocopy): `salvo blast --zerocopy` against `salvo blast`, both into a plain sink,
for 1200-byte datagrams in GSO runs (64800-byte messages) and for single 32000-byte datagrams: the
sender's CPU time per datagram and the datagrams per second delivered.

Usage: bench/offload_comparison.py --salvo build/release/tools/salvo [--rounds 5] [--seconds 3]
                                   [--size 1200] [--zerocopy] [--json FILE]
Every run is bounded by --seconds and ends by itself; all traffic stays on 127.0.0.1.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tool_comparison import CLIENT_CPU, SERVER_CPU, finish, median, pinned, start  # noqa: E402


def offload_round(salvo, port, seconds, size, offload, blast_flags=None):
    sink_flags = ["--gro"] if offload else []
    if size > 2048:
        sink_flags += ["--buffer-size", "65536", "--buffers", "256"]  # whole datagrams, not truncated ones
    sink = start(pinned(SERVER_CPU, [salvo, "sink", "--bind", f"127.0.0.1:{port}", "--cpus", SERVER_CPU,
                                     "--idle-exit", "1", "--json"] + sink_flags))
    time.sleep(0.5)  # let the sink bind first
    blast = subprocess.run(pinned(CLIENT_CPU, [salvo, "blast", "--to", f"127.0.0.1:{port}", "--duration",
                                              str(seconds), "--size", str(size), "--cpus", CLIENT_CPU,
                                              "--quiet", "--json"] +
                                             (blast_flags if blast_flags is not None else ["--gso" if offload else "--no-gso"])),
                           capture_output=True, text=True, timeout=seconds + 30, check=True)
    out, _ = finish(sink, seconds + 30)
    b, s = json.loads(blast.stdout), json.loads(out)
    return {"sent": b["sent"], "delivered": s["delivered"], "kernel_drops": s["kernel_drops"],
            "gro_receives": s["counters"]["gro_receives"], "gro_segments": s["counters"]["gro_segments"],
            "gso_sends": b["counters"]["gso_sends"], "zerocopy_sends": b["counters"]["zerocopy_sends"],
            "zerocopy_copied": b["counters"]["zerocopy_copied"],
            "sender_cpu_ns": 1e9 * (b["cpu_user_s"] + b["cpu_system_s"]) / max(b["sent"], 1),
            "seconds": b["elapsed_s"], "per_s": s["delivered"] / b["elapsed_s"]}


def compare_zerocopy(args):
    cases = [("1200 B in GSO runs", 1200, ["--gso"]), ("32000 B single", 32000, ["--no-gso"])]
    result = {}
    port = 16300
    for label, size, flags in cases:
        runs = {True: [], False: []}
        for r in range(args.rounds):
            for zc in (True, False) if r % 2 == 0 else (False, True):
                port += 1
                res = offload_round(args.salvo, port, args.seconds, size, False, flags + (["--zerocopy"] if zc else []))
                runs[zc].append(res)
                print(f"round {r + 1} {label:20} zerocopy={zc!s:5} sender {res['sender_cpu_ns']:8.0f} ns/dgram  "
                      f"delivered {res['per_s']:10.0f}/s  zc sends {res['zerocopy_sends']} copied {res['zerocopy_copied']}",
                      file=sys.stderr)
        result[label] = {"zerocopy": runs[True], "copy": runs[False]}
    print("\n| datagrams | sender ns/datagram, copy | zero-copy | ratio | delivered/s, copy | zero-copy |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, r in result.items():
        c = median([x["sender_cpu_ns"] for x in r["copy"]])
        z = median([x["sender_cpu_ns"] for x in r["zerocopy"]])
        print(f"| {label} | {c:.0f} | {z:.0f} | {z / c:.2f} | {median([x['per_s'] for x in r['copy']]):.0f} | "
              f"{median([x['per_s'] for x in r['zerocopy']]):.0f} |")
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--salvo", required=True, help="path to the salvo command")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--size", type=int, default=1200)
    ap.add_argument("--zerocopy", action="store_true", help="compare zero-copy sends instead of GSO+GRO")
    ap.add_argument("--json", help="write every round and the medians here")
    args = ap.parse_args()
    if args.zerocopy:
        result = compare_zerocopy(args)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
        return
    names = {True: "blast --gso -> sink --gro", False: "blast --no-gso -> sink"}
    runs = {True: [], False: []}
    for r in range(args.rounds):
        for i, offload in enumerate((True, False) if r % 2 == 0 else (False, True)):
            res = offload_round(args.salvo, 16100 + 2 * r + i, args.seconds, args.size, offload)
            runs[offload].append(res)
            print(f"round {r + 1} {names[offload]:26} delivered {res['per_s']:12.0f}/s  drops {res['kernel_drops']}"
                  f"  gro receives {res['gro_receives']}", file=sys.stderr)
    med = {o: median([x["per_s"] for x in runs[o]]) for o in runs}
    print(f"\n{args.size}-byte datagrams, {args.rounds} rounds of {args.seconds} s, medians, {platform.node()}")
    print("| sender -> receiver | delivered datagrams/s |\n|---|---:|")
    for o in (True, False):
        print(f"| {names[o]} | {med[o]:.0f} |")
    print(f"\nratio (gso+gro / plain) = {med[True] / med[False]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"size": args.size, "rounds": {names[o]: runs[o] for o in runs},
                       "median_per_s": {names[o]: med[o] for o in runs}, "ratio": med[True] / med[False]}, f, indent=1)


if __name__ == "__main__":
    main()
