#!/usr/bin/env python3
"""salvo's benchmark suite in one command: a markdown table, a JSON file and a PNG chart.

Runs, in this order, each part's program and collects what it wrote:
  micro         Google Benchmark micro-benchmarks of the hot pieces (salvo_micro), no syscalls
  receive,send  the packet-rate suite (salvo_packet_rate): CPU per datagram and capacity,
                salvo's backends against plain loops, interleaved rounds, medians; 64-byte
                datagrams, and 1200 and 1472 B with GRO (receive) and GSO (send)
  latency       ping-pong round trips (salvo_latency): salvo against plain loops, blocking and
                busy-poll
  sockperf      sockperf's client against salvo echo --sockperf and sockperf's own server, and
                against the minimal servers of bench/sockperf_floor.cpp where they were built
                (bench/tool_comparison.py; skipped where sockperf is not installed)
  instructions  user-space instructions per datagram with callgrind (bench/instructions.py;
                skipped where valgrind is not installed)
Every figure is given as a ratio to the baseline measured in the same run, beside the absolute
value, with the machine's description and the date. Receivers are pinned to CPU 0, senders and
clients to CPU 1, all traffic stays on 127.0.0.1, and every run is bounded in time.

What it needs beyond the build (sockperf, valgrind, python3-matplotlib) is what
tools/install-deps.sh installs; without one, its part (or the chart) is skipped with a warning.

--smoke runs each part for a second or two and checks that every case ran and reported numbers
(not how fast it was): what ctest runs under the label bench-smoke, one part per test.

Usage: bench/run_suite.py [--build build/release] [--out bench/results] [--only PART,...]
                          [--rounds 5] [--seconds 2] [--smoke] [--no-chart]
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PARTS = ["micro", "receive", "send", "latency", "sockperf", "instructions"]
# What the suite needs beyond the build is in tools/install-deps.sh's list, which the quick start
# runs: it installs what is missing (as root, or through sudo) or prints the command to run.
INSTALL_HINT = "./tools/install-deps.sh installs it, as the quick start does"
SKIPPED = 77  # ctest's SKIP_RETURN_CODE for the smoke tests: a tool this part needs is missing


class Failed(Exception):
    pass


def run(argv, timeout):
    print("+ " + " ".join(argv), file=sys.stderr, flush=True)
    res = subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=timeout)
    if res.returncode != 0:
        raise Failed(f"{argv[0]} exited with {res.returncode}")
    return res.stdout


def load(path):
    with open(path) as f:
        return json.load(f)


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    virt = ""
    if shutil.which("systemd-detect-virt"):
        v = subprocess.run(["systemd-detect-virt"], capture_output=True, text=True).stdout.strip()
        virt = f" ({v})" if v and v != "none" else ""
    return f"{platform.system()} {platform.release()}{virt}, {os.cpu_count()} CPUs, {cpu}"


# --- parts -------------------------------------------------------------------------------------

def part_micro(args, tmp):
    out = os.path.join(tmp, "micro.json")
    min_time = "0.01" if args.smoke else "0.2"
    reps = "1" if args.smoke else "5"
    run([os.path.join(args.build, "bench", "salvo_micro"), f"--benchmark_out={out}", "--benchmark_out_format=json",
         f"--benchmark_min_time={min_time}", f"--benchmark_repetitions={reps}", "--benchmark_report_aggregates_only=" +
         ("false" if reps == "1" else "true")], timeout=600)
    doc = load(out)
    rows = {}
    for b in doc["benchmarks"]:
        if b.get("error_occurred"):
            raise Failed(f"micro: {b['name']}: {b.get('error_message')}")
        if reps != "1" and b.get("aggregate_name") != "median":
            continue
        name = b.get("run_name", b["name"])
        ips = b.get("items_per_second", 0)
        rows[name] = {"ns_per_item": 1e9 / ips if ips else 0, "ns_per_iteration": b["cpu_time"],
                      "time_unit": b["time_unit"]}
    return {"benchmarks": rows, "context": doc.get("context", {}), "repetitions": int(reps)}


def part_packet_rate(args, tmp, suite, only=None):
    """Runs salvo_packet_rate's `suite` and returns its JSON; `only` is its --only (a part of the case
    names: only the cases whose name contains it run). bench/ab_compare.py calls this too."""
    out = os.path.join(tmp, f"{suite}.json")
    rounds, seconds = (1, 0.5) if args.smoke else (args.rounds, args.seconds)
    run([os.path.join(args.build, "bench", "salvo_packet_rate"), "--suite", suite, "--rounds", str(rounds),
         "--seconds", str(seconds), "--json", out] + (["--only", only] if only else []),
        timeout=60 + rounds * seconds * 20)
    return load(out)


def part_latency(args, tmp):
    out = os.path.join(tmp, "latency.json")
    rounds, trips = (1, 300) if args.smoke else (args.rounds, args.trips)
    run([os.path.join(args.build, "bench", "salvo_latency"), "--rounds", str(rounds), "--trips", str(trips),
         "--json", out], timeout=120 + rounds * trips / 100)
    return load(out)


def part_sockperf(args, tmp):
    if not shutil.which("sockperf"):
        return None
    out = os.path.join(tmp, "sockperf.json")
    rounds, seconds = (1, 1) if args.smoke else (args.rounds, max(1, round(args.seconds)))
    # The minimal servers of bench/sockperf_floor.cpp join in where they were built (io_uring).
    floor = os.path.join(args.build, "bench", "salvo_sockperf_floor")
    extra = ["--floor", floor] if os.access(floor, os.X_OK) else []
    run([sys.executable, os.path.join(HERE, "tool_comparison.py"), "--salvo", os.path.join(args.build, "tools", "salvo"),
         "--only", "sockperf", "--rounds", str(rounds), "--seconds", str(seconds), "--json", out] + extra,
        timeout=60 + rounds * (seconds + 15) * (5 if extra else 2))
    return load(out)["sockperf"]


def part_instructions(args, tmp):
    if not shutil.which("valgrind"):
        return None
    out = os.path.join(tmp, "instructions.json")
    run([sys.executable, os.path.join(HERE, "instructions.py"), "--build", args.build, "--datagrams",
         "128" if args.smoke else "2048", "--json", out], timeout=900)
    return load(out)


# --- checks: every case ran and reported numbers ------------------------------------------------

def check(results):
    problems = []
    for suite in ("receive", "send"):
        for c in results.get(suite, {}).get("cases", []):
            if not (c["cpu_ns_per_datagram"] > 0 and c["datagrams_per_s"] > 0 and c["min_datagrams_per_round"] > 0):
                problems.append(f"{suite}: {c['name']} reported no datagrams in some round")
    for c in results.get("latency", {}).get("cases", []):
        if not (c["p50_us"] > 0 and c["p99_us"] >= c["p50_us"]):
            problems.append(f"latency: {c['name']} reported no round trips")
    for name, v in (results.get("sockperf") or {}).get("median", {}).items():
        if not v["p50_us"] > 0:
            problems.append(f"sockperf: {name} reported nothing")
    for r in (results.get("instructions") or {}).get("results", []):
        if not r["instructions_per_datagram"] > 0:
            problems.append(f"instructions: {r['mode']} counted nothing")
    for name, b in results.get("micro", {}).get("benchmarks", {}).items():
        if not b["ns_per_item"] > 0:
            problems.append(f"micro: {name} reported no items")
    return problems


# --- the report ---------------------------------------------------------------------------------

def x(v):
    return f"{v:.2f}x" if v else "-"


def markdown(results):
    m = results["meta"]
    lines = [f"Run of {m['date']} on {m['machine']}; {m['build']} build.", ""]
    if m["smoke"]:
        lines += ["**Smoke run** (a second or two per case): checks that everything runs, not how fast.", ""]
    for suite, what in (("receive", "receiver's CPU per datagram (CPU 0) under a GSO flood from CPU 1"),
                        ("send", "sender's CPU per datagram (CPU 1, which on loopback also runs the kernel's "
                                 "receive path), a recvmmsg drain on CPU 0")):
        if suite not in results:
            continue
        r = results[suite]
        lines += [f"**{suite.capitalize()}**, 64-byte datagrams (the rows named 1200 B and 1472 B: those sizes, with "
                  f"{'GRO' if suite == 'receive' else 'GSO'}, each beside its own hand-written loop), the {what}; medians "
                  f"of {r['rounds']} interleaved rounds of {r['seconds']} s:", "",
                  "| case | vs its baseline | baseline | CPU ns/datagram | of which user | datagrams/s | CPU busy |",
                  "|---|---:|---|---:|---:|---:|---:|"]
        for c in r["cases"]:
            base = "-" if c["baseline"] == c["name"] else c["baseline"]
            lines.append(f"| {c['name']} | {x(c['ratio_to_baseline'])} | {base} | {c['cpu_ns_per_datagram']:.1f} | "
                         f"{c['user_ns_per_datagram']:.1f} | {c['datagrams_per_s']:.0f} | {100 * c['cpu_busy']:.0f}% |")
        lines.append("")
    if "latency" in results:
        r = results["latency"]
        lines += [f"**Latency**, ping-pong round trip of a 64-byte datagram, spinning client on CPU 1, server on "
                  f"CPU 0; {r['trips']} round trips per round, medians of {r['rounds']} interleaved rounds:", "",
                  "| server | p50 vs plain loop | p99 vs plain loop | p50 us | p99 us | plain loop | busy-poll p50 vs blocking |",
                  "|---|---:|---:|---:|---:|---|---:|"]
        for c in r["cases"]:
            busy = x(c["p50_vs_blocking"]) if "busy" in c["name"] or "spinning" in c["name"] else "-"
            lines.append(f"| {c['name']} | {x(c['p50_vs_plain'])} | {x(c['p99_vs_plain'])} | {c['p50_us']:.1f} | "
                         f"{c['p99_us']:.1f} | {c['plain']} | {busy} |")
        lines.append("")
    s = results.get("sockperf")
    if s:
        base = s["median"]["sockperf sr"]
        lines += ["**sockperf**: sockperf's own client (`sockperf ping-pong`, which reports half the round trip) "
                  "against sockperf's server and `salvo echo --sockperf` (and the floor servers of sockperf_floor.cpp, if built), blocking; medians of "
                  f"{len(s['rounds']['sockperf sr'])} interleaved rounds:", "",
                  "| server | p50 vs sockperf server | p99 vs sockperf server | p50 us | p99 us |", "|---|---:|---:|---:|---:|"]
        for name, v in s["median"].items():
            lines.append(f"| {name} | {x(v['p50_us'] / base['p50_us'])} | {x(v['p99_us'] / base['p99_us'])} | "
                         f"{v['p50_us']:.3f} | {v['p99_us']:.3f} |")
        lines.append("")
    elif "sockperf" in results:
        lines += ["sockperf: skipped, sockperf is not installed.", ""]
    i = results.get("instructions")
    if i:
        lines += [f"**Instructions per datagram** in user space ({i['valgrind']} callgrind; {i['datagrams']} and "
                  f"{2 * i['datagrams']} datagrams queued before receiving, the difference over {i['datagrams']}; "
                  "the ping-pong rows: as many round trips, one datagram per round; "
                  "salvo on its epoll backend; system calls count as one instruction):", "",
                  "| path | vs plain loop | instructions/datagram |", "|---|---:|---:|"]
        for r in i["results"]:
            lines.append(f"| {r['what']} | {x(r['ratio_to_plain'])} | {r['instructions_per_datagram']:.1f} |")
        lines.append("")
    elif "instructions" in results:
        lines += ["Instructions: skipped, valgrind is not installed.", ""]
    if "micro" in results:
        mi = results["micro"]
        lines += [f"**Micro-benchmarks** (Google Benchmark, median of {mi['repetitions']} repetitions; "
                  "ns per item: per slot, datagram, sample or call):", "",
                  "| benchmark | CPU ns/item | CPU time/iteration |", "|---|---:|---:|"]
        for name, b in mi["benchmarks"].items():
            lines.append(f"| {name} | {b['ns_per_item']:.2f} | {b['ns_per_iteration']:.1f} {b['time_unit']} |")
        lines.append("")
    return "\n".join(lines)


def chart(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    for suite in ("receive", "send"):
        if suite in results:
            cs = results[suite]["cases"]
            panels.append((f"{suite}: CPU per datagram vs its baseline", [c["name"] for c in cs],
                           [c["ratio_to_baseline"] for c in cs], [f"{c['cpu_ns_per_datagram']:.0f} ns" for c in cs]))
    if "latency" in results:
        cs = results["latency"]["cases"]
        panels.append(("latency: p50 round trip vs plain loop", [c["name"] for c in cs], [c["p50_vs_plain"] for c in cs],
                       [f"{c['p50_us']:.1f} us" for c in cs]))
    if results.get("sockperf"):
        med = results["sockperf"]["median"]
        base = med["sockperf sr"]["p50_us"]
        panels.append(("sockperf ping-pong: p50 vs sockperf server", list(med), [v["p50_us"] / base for v in med.values()],
                       [f"{v['p50_us']:.1f} us" for v in med.values()]))
    if results.get("instructions"):
        rs = results["instructions"]["results"]
        panels.append(("callgrind: instructions per datagram vs plain loop", [r["mode"] for r in rs],
                       [r["ratio_to_plain"] for r in rs], [f"{r['instructions_per_datagram']:.0f}" for r in rs]))
    if not panels:
        return False
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 1.2 + sum(0.38 * len(p[1]) + 0.7 for p in panels)),
                             gridspec_kw={"height_ratios": [len(p[1]) + 1 for p in panels]}, squeeze=False)
    for ax, (title, names, ratios, labels) in zip(axes[:, 0], panels):
        colours = ["#999999" if abs(r - 1.0) < 1e-9 else "#2a7ab9" if r < 1 else "#d9822b" for r in ratios]
        bars = ax.barh(range(len(names)), ratios, color=colours)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.invert_yaxis()
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_title(title, fontsize=9, loc="left")
        ax.tick_params(axis="x", labelsize=8)
        top = max(ratios + [1.0]) * 1.25
        ax.set_xlim(0, top)
        for bar, r, label in zip(bars, ratios, labels):
            ax.text(bar.get_width() + top * 0.01, bar.get_y() + bar.get_height() / 2, f"{r:.2f}x  ({label})",
                    va="center", fontsize=7)
    m = results["meta"]
    fig.suptitle(f"salvo benchmark suite, {m['date']}: ratio to baseline (lower is better; grey = the baseline)\n"
                 f"{m['machine']}", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.975))  # leave the top to the two-line title
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build/release", help="the CMake build directory (Release)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="where suite.md, suite.json, suite.png go")
    ap.add_argument("--only", default=",".join(PARTS), help="comma-separated parts: " + ",".join(PARTS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0, help="per case and round (packet rate, sockperf)")
    ap.add_argument("--trips", type=int, default=20000, help="round trips per latency case and round")
    ap.add_argument("--smoke", action="store_true", help="a second or two per case; check that every case reports")
    ap.add_argument("--no-chart", action="store_true", help="no PNG (for machines without matplotlib)")
    args = ap.parse_args()
    parts = [p for p in args.only.split(",") if p]
    if set(parts) - set(PARTS):
        ap.error("--only: unknown part " + ",".join(sorted(set(parts) - set(PARTS))))
    if not (1 <= args.rounds <= 50 and 0 < args.seconds <= 30 and 100 <= args.trips <= 1_000_000):
        ap.error("--rounds 1..50, --seconds (0, 30], --trips 100..1000000 please")
    if (os.cpu_count() or 1) < 2:
        sys.exit("run_suite.py: needs two CPUs (receiver on CPU 0, sender on CPU 1)")
    os.makedirs(args.out, exist_ok=True)
    tmp = os.path.join(args.out, "raw")
    os.makedirs(tmp, exist_ok=True)

    build_type = "unknown"
    try:
        with open(os.path.join(args.build, "CMakeCache.txt")) as f:
            build_type = next((l.split("=", 1)[1].strip() for l in f if l.startswith("CMAKE_BUILD_TYPE:")), "unknown")
    except OSError:
        pass
    results = {"meta": {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                        "machine": machine(), "build": build_type, "smoke": args.smoke, "parts": parts,
                        "command": " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])}}
    skipped = []
    try:
        for p in parts:
            if p == "micro":
                results[p] = part_micro(args, tmp)
            elif p in ("receive", "send"):
                results[p] = part_packet_rate(args, tmp, p)
            elif p == "latency":
                results[p] = part_latency(args, tmp)
            elif p == "sockperf":
                results[p] = part_sockperf(args, tmp)
            elif p == "instructions":
                results[p] = part_instructions(args, tmp)
            if p in results and results[p] is None:
                skipped.append(p)
                tool = "sockperf" if p == "sockperf" else "valgrind"
                print(f"run_suite.py: {p} skipped ({tool} is not installed; {INSTALL_HINT})", file=sys.stderr)
    except (Failed, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as e:
        sys.exit(f"run_suite.py: {e}")

    md = markdown(results)
    with open(os.path.join(args.out, "suite.md"), "w") as f:
        f.write(md + "\n")
    with open(os.path.join(args.out, "suite.json"), "w") as f:
        json.dump(results, f, indent=1)
    if not args.no_chart:
        # A missing plotting library costs the chart only: the tables are written, the exit code is 0.
        try:
            drew = chart(results, os.path.join(args.out, "suite.png"))
        except ImportError as e:
            drew = None
            print(f"run_suite.py: warning: no chart, matplotlib cannot be imported ({e}); the tables are in "
                  f"{os.path.join(args.out, 'suite.md')}. {INSTALL_HINT} (python3-matplotlib), or pass --no-chart",
                  file=sys.stderr)
        if drew is False and not skipped:
            print("run_suite.py: nothing to chart for these parts", file=sys.stderr)
    print(md)
    problems = check(results)
    if problems:
        sys.exit("run_suite.py: " + "; ".join(problems))
    if skipped and len(skipped) == len(parts):
        sys.exit(SKIPPED)


if __name__ == "__main__":
    main()
