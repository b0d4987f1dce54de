#!/usr/bin/env python3
"""Text plots of what a socket costs against how many are open, from salvo_socket_scale's JSON.

For each measure (resident memory per idle socket, idle worker CPU, the busy socket's ping-pong
p50 and p99 as a ratio to the same backend's one-socket run) it draws one row of bars per socket
count and backend, so that a cost growing with N shows as a growing bar. No plotting library is
needed: the chart goes into bench/README.md as it is.

Usage: bench/scale_plot.py RESULTS.json [--width 40]
"""
import argparse
import json
import sys


def bar(value, top, width):
    if top <= 0:
        return ""
    n = round(width * value / top)
    return "#" * max(n, 1 if value > 0 else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", help="salvo_socket_scale --json output")
    ap.add_argument("--width", type=int, default=40, help="characters for the largest bar")
    args = ap.parse_args()
    try:
        with open(args.results) as f:
            runs = [r for r in json.load(f)["runs"] if r.get("status") == "ok"]
    except (OSError, ValueError, KeyError) as e:
        print(f"scale_plot.py: cannot read {args.results}: {e}", file=sys.stderr)
        return 2
    one = {r["backend"]: r for r in runs if r["sockets"] == 1}

    def ratio(r, key):
        base = one.get(r["backend"])
        return r["ping"][key] / base["ping"][key] if base and base["ping"][key] > 0 else 0.0

    measures = [
        ("user-space memory per idle socket (bytes)", lambda r: r["rss_per_idle_socket_bytes"], "{:.0f}"),
        ("idle worker CPU (% of one CPU)", lambda r: r["idle_worker_cpu_percent"], "{:.2f}"),
        ("busy socket's ping-pong p50, x one socket", lambda r: ratio(r, "p50_us"), "{:.2f}x"),
        ("busy socket's ping-pong p99, x one socket", lambda r: ratio(r, "p99_us"), "{:.2f}x"),
    ]
    order = sorted(runs, key=lambda r: (r["sockets"], r["backend"]))
    for title, value, fmt in measures:
        values = [value(r) for r in order]
        top = max(values) if values else 0
        print(title)
        for r, v in zip(order, values):
            label = f"{r['sockets']:>7,} {r['backend']:<8}"
            print(f"  {label} {fmt.format(v):>9} |{bar(v, top, args.width)}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
