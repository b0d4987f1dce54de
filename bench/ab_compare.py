#!/usr/bin/env python3
"""A/B comparison of two salvo builds (old and new) on this machine, in interleaved rounds.

Each round runs every measurement once with each build, the order of the builds alternating
(old, new in odd rounds, new, old in even ones), and the report gives per metric and backend the
old and new medians, new/old of the medians, and the median (and range) of the per-round ratios
new/old of the runs paired in a round. Lower is better for every metric.

  receive   the receiver's CPU time (user + system) per 64-byte datagram under a GSO flood that
            saturates it: salvo_packet_rate --suite receive (run_suite.py's receive part), with
            the build's own salvo_packet_rate, receiver on CPU 0, flood from CPU 1
  send      the sender's CPU time per datagram the kernel accepted, a recvmmsg drain on CPU 0:
            salvo_packet_rate --suite send (run_suite.py's send part), sender on CPU 1
  pingpong  sockperf's ping-pong client (CPU 1) against `salvo echo --sockperf --backend B`
            (CPU 0): p50 and p99 as sockperf reports them, half the round trip
            (tool_comparison.py's sockperf part); skipped where sockperf is not installed
  latency   the build's salvo_latency (run_suite.py's latency part, one round of --trips round
            trips per case): p50 and p99 round trips of salvo's servers (blocking and busy-poll,
            CPU 0) against its spinning client (CPU 1); not in the default parts

Both backends, io_uring and epoll (io_uring skipped, with a message, where it is not usable).
salvo_packet_rate runs every salvo case of its suite that matches the backends (--only is a part
of the name), so the GRO, GSO and busy-poll variants are measured too and reported below the plain
cases. Every run is bounded in time, all traffic stays on 127.0.0.1.

Usage: bench/ab_compare.py --old OLD_BUILD --new NEW_BUILD [--rounds 5] [--seconds 2]
                           [--only receive,send,pingpong,latency] [--backends io_uring,epoll]
                           [--trips 20000] [--json OUT]
A build directory is a Release build: BUILD/tools/salvo and BUILD/bench/salvo_packet_rate (and
BUILD/bench/salvo_latency for the latency part).
"""
import argparse
import datetime
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_suite  # noqa: E402  (part_packet_rate, machine, Failed)
import tool_comparison  # noqa: E402  (sockperf_round)

PARTS = ["receive", "send", "pingpong", "latency"]
DEFAULT_PARTS = ["receive", "send", "pingpong"]
BACKENDS = ["io_uring", "epoll"]
BUILDS = ["old", "new"]


def build_info(build):
    """The build's type and the commit of its source tree (from CMakeCache.txt), for the record."""
    info = {"dir": os.path.abspath(build), "build_type": "unknown", "source": None, "commit": None}
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    info["build_type"] = line.split("=", 1)[1].strip()
                elif line.startswith("CMAKE_HOME_DIRECTORY:"):
                    info["source"] = line.split("=", 1)[1].strip()
    except OSError:
        pass
    if info["source"]:
        git = subprocess.run(["git", "-C", info["source"], "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True)
        if git.returncode == 0:
            info["commit"] = git.stdout.strip()
    return info


def io_uring_usable(salvo):
    """What `salvo caps --json` says; None when this build cannot tell (no caps command)."""
    try:
        res = subprocess.run([salvo, "caps", "--json"], capture_output=True, text=True, timeout=30)
        caps = json.loads(res.stdout)
        usable = caps["io_uring"]["usable"]
        return bool(usable["available"]), usable.get("reason", "")
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
        return None, ""


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median(values):
    values = [v for v in values if v]  # None (a failed run) and 0 (no datagrams) are no figures
    return statistics.median(values) if values else None


# --- the measurements: one run of one build ------------------------------------------------------

def packet_rate(build, suite, backends, seconds, tmp):
    """One run of the build's salvo_packet_rate (run_suite.py's receive or send part, one round),
    its salvo cases only: {case name: figures}."""
    only = "salvo" if len(backends) > 1 else f"salvo {backends[0]}"
    args = types.SimpleNamespace(build=build, rounds=1, seconds=seconds, smoke=False)
    os.makedirs(tmp, exist_ok=True)
    doc = run_suite.part_packet_rate(args, tmp, suite, only=only)
    cases = {}
    for c in doc["cases"]:
        name = c["name"]
        if not name.startswith("salvo ") or name.split()[1] not in backends:
            continue
        cases[name] = {"cpu_ns_per_datagram": c["cpu_ns_per_datagram"],
                       "user_ns_per_datagram": c["user_ns_per_datagram"],
                       "datagrams_per_s": c["datagrams_per_s"], "cpu_busy": c["cpu_busy"],
                       "datagrams": c["min_datagrams_per_round"]}
    return cases


def pingpong(build, backend, seconds):
    """One sockperf ping-pong run against the build's salvo echo --sockperf (tool_comparison.py's
    sockperf part): {"p50_us", "p99_us"}, or None when it failed."""
    args = types.SimpleNamespace(salvo=os.path.join(build, "tools", "salvo"), seconds=seconds, floor=None)
    try:
        return tool_comparison.sockperf_round("salvo echo --sockperf", args, free_udp_port(),
                                              salvo_flags=["--backend", backend])
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"ab_compare.py: ping-pong {backend} failed: {str(e).strip()[:300]}", file=sys.stderr)
        return None


def latency(build, backends, trips, tmp):
    """One round of the build's salvo_latency, its salvo cases on these backends: {case name:
    {"p50_us", "p99_us"}}."""
    args = types.SimpleNamespace(build=build, rounds=1, trips=trips, smoke=False)
    os.makedirs(tmp, exist_ok=True)
    doc = run_suite.part_latency(args, tmp)
    return {c["name"]: {"p50_us": c["p50_us"], "p99_us": c["p99_us"]} for c in doc["cases"]
            if c["name"].startswith("salvo ") and c["name"].split()[1] in backends}


# --- the report ----------------------------------------------------------------------------------

def summarise(old, new):
    """Medians of each side, new/old of the medians, and the per-round ratios of paired runs."""
    om, nm = median(old), median(new)
    paired = [n / o for o, n in zip(old, new) if o and n]
    return {"old": old, "new": new, "old_median": om, "new_median": nm,
            "ratio": nm / om if om and nm else None, "paired_ratios": paired,
            "paired_ratio_median": median(paired)}


def case_order(name):
    """The plain cases first (salvo epoll, salvo io_uring), then their variants."""
    words = name.split()
    return (len(words) > 2, BACKENDS.index(words[1]) if words[1] in BACKENDS else 9, name)


def fmt(v, digits):
    return "-" if v is None else f"{v:.{digits}f}"


def table(title, rows, digits):
    lines = [title, "", "| case | old median | new median | new/old | paired new/old, median (min-max) |",
             "|---|---:|---:|---:|---:|"]
    for name, s in rows:
        p = s["paired_ratios"]
        spread = f"{s['paired_ratio_median']:.3f} ({min(p):.3f}-{max(p):.3f})" if p else "-"
        lines.append(f"| {name} | {fmt(s['old_median'], digits)} | {fmt(s['new_median'], digits)} | "
                     f"{fmt(s['ratio'], 3)}x | {spread} |")
    return lines + [""]


def markdown(result):
    m = result["meta"]
    lines = [f"A/B run of {m['date']} on {m['machine']}; load average {m['loadavg_start'][0]:.2f} at the start, "
             f"{m['loadavg_end'][0]:.2f} at the end; {m['elapsed_s'] / 60:.1f} min.",
             f"old: {m['old']['dir']} ({m['old']['commit'] or 'commit unknown'}, {m['old']['build_type']}); "
             f"new: {m['new']['dir']} ({m['new']['commit'] or 'commit unknown'}, {m['new']['build_type']}).",
             f"{m['rounds']} interleaved rounds (old first in odd rounds, new first in even ones); medians; "
             "lower is better everywhere.", ""]
    for part, what in (("receive", f"receiver CPU ns per 64-byte datagram under a GSO flood (CPU 0), "
                                   f"runs of {m['seconds']} s"),
                       ("send", f"sender CPU ns per datagram sent (CPU 1, which on loopback also runs the "
                                f"kernel's receive path), runs of {m['seconds']} s")):
        if part not in result:
            continue
        rows = [(name.removeprefix("salvo "), s["cpu_ns_per_datagram"]) for name, s in result[part].items()]
        if rows:
            lines += table(f"**{part.capitalize()}**: {what}", rows, 1)
        # The receive figure is meant at saturation: say so where a plain receiver was not busy.
        idle = []
        for name, s in result[part].items() if part == "receive" else ():
            busy = [r["cpu_busy"] for side in BUILDS for r in s["runs"][side] if r]
            low = [b for b in busy if b < 0.9]
            if len(name.split()) == 2 and low:
                idle.append(f"{name.removeprefix('salvo ')} in {len(low)} of {len(busy)} runs "
                            f"({100 * min(low):.0f}-{100 * max(low):.0f}% busy)")
        if idle:
            lines += ["Not saturated (receiver CPU below 90% busy: a busy machine?), so CPU per datagram at a lower "
                      "rate there: " + "; ".join(idle) + ".", ""]
    if "latency" in result:
        for pct in ("p50", "p99"):
            rows = [(name.removeprefix("salvo "), s[pct]) for name, s in result["latency"].items()]
            if rows:
                lines += table(f"**Round trip {pct}**, us: salvo_latency, salvo's server on CPU 0 against a spinning "
                               f"client on CPU 1, {m['trips']} round trips per run", rows, 2)
    if "pingpong" in result:
        pp = result["pingpong"]
        for pct in ("p50", "p99"):
            rows = [(backend, s[pct]) for backend, s in pp.items()]
            if rows:
                lines += table(f"**Ping-pong {pct}**, us: sockperf ping-pong (CPU 1, half the round trip) against "
                               f"`salvo echo --sockperf --backend B` (CPU 0), runs of {m['sockperf_seconds']} s",
                               rows, 3)
    for note in m["skipped"]:
        lines += [f"Skipped: {note}.", ""]
    return "\n".join(lines)


# --- the run -------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="the old build directory (Release)")
    ap.add_argument("--new", required=True, help="the new build directory (Release)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0,
                    help="per run: each packet-rate case, and each ping-pong (rounded to whole seconds, at least 1)")
    ap.add_argument("--only", default=",".join(DEFAULT_PARTS), help="comma-separated parts: " + ",".join(PARTS))
    ap.add_argument("--trips", type=int, default=20000, help="latency: round trips per case and run")
    ap.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: " + ",".join(BACKENDS))
    ap.add_argument("--json", help="write every run, the medians and the ratios here")
    args = ap.parse_args()
    parts = [p for p in args.only.split(",") if p]
    backends = [b for b in args.backends.split(",") if b]
    if not parts or set(parts) - set(PARTS):
        ap.error("--only: parts among " + ",".join(PARTS))
    if not backends or set(backends) - set(BACKENDS):
        ap.error("--backends: among " + ",".join(BACKENDS))
    if not (1 <= args.rounds <= 50 and 0 < args.seconds <= 30 and 100 <= args.trips <= 1000000):
        ap.error("--rounds 1..50, --seconds (0, 30] and --trips 100..1000000 please")
    builds = {"old": args.old, "new": args.new}
    for side, build in builds.items():
        for exe in [["tools", "salvo"], ["bench", "salvo_packet_rate"]] + [["bench", "salvo_latency"]] * ("latency" in parts):
            if not os.access(os.path.join(build, *exe), os.X_OK):
                ap.error(f"--{side} {build}: no {os.path.join(*exe)} there (a Release build directory, please)")
    if (os.cpu_count() or 1) < 2:
        sys.exit("ab_compare.py: needs two CPUs (receiver and server on CPU 0, sender and client on CPU 1)")
    if os.environ.pop("SALVO_BACKEND", None) is not None:
        print("ab_compare.py: SALVO_BACKEND unset for the runs (it would override the backend of every case)",
              file=sys.stderr)

    skipped = []
    if "io_uring" in backends:
        for side in ("new", "old"):
            usable, reason = io_uring_usable(os.path.join(builds[side], "tools", "salvo"))
            if usable is not None:
                break
        if usable is False:
            backends.remove("io_uring")
            skipped.append(f"io_uring, not usable here ({reason or 'salvo caps says so'})")
            print(f"ab_compare.py: io_uring skipped, not usable here: {reason}", file=sys.stderr)
    if not backends:
        sys.exit("ab_compare.py: no backend left to measure")
    if "pingpong" in parts and not tool_comparison.shutil.which("sockperf"):
        parts.remove("pingpong")
        skipped.append("ping-pong, sockperf is not installed")
        print("ab_compare.py: ping-pong skipped, sockperf is not installed", file=sys.stderr)
    if not parts:
        sys.exit("ab_compare.py: nothing left to measure")
    sockperf_seconds = max(1, round(args.seconds))

    info = {side: build_info(b) for side, b in builds.items()}
    for side in BUILDS:
        if info[side]["build_type"] != "Release":
            print(f"ab_compare.py: warning: --{side} is a {info[side]['build_type']} build, not Release",
                  file=sys.stderr)
    # A rough estimate, printed first so that nobody waits blind: salvo_packet_rate runs each of its
    # cases for --seconds plus its 0.1 s drain, a ping-pong run costs its seconds plus about 1 s.
    n_rx = {("epoll",): 2, ("io_uring",): 3}.get(tuple(backends), 5)
    n_tx = 2 * len(backends)
    per_round = 2 * (("receive" in parts) * (n_rx * (args.seconds + 0.25) + 0.5) +
                     ("send" in parts) * (n_tx * (args.seconds + 0.1) + 0.5) +
                     ("pingpong" in parts) * len(backends) * (sockperf_seconds + 1.6) +
                     ("latency" in parts) * (6 * args.trips * 25e-6 + 1))
    print(f"ab_compare.py: {args.rounds} round(s) of {', '.join(parts)} on {', '.join(backends)}: "
          f"about {args.rounds * per_round / 60:.1f} min", file=sys.stderr)

    start = time.monotonic()
    loadavg_start = os.getloadavg()
    runs = {p: {} for p in parts}  # part -> case or backend -> side -> [per round]
    orders = []
    try:
        with tempfile.TemporaryDirectory(prefix="ab_compare.") as tmp:
            for r in range(args.rounds):
                order = BUILDS if r % 2 == 0 else BUILDS[::-1]
                orders.append(order)
                for part in parts:
                    groups = [backends] if part != "pingpong" else [[b] for b in backends]
                    for group in groups:
                        for side in order:
                            if part == "pingpong":
                                res = {group[0]: pingpong(builds[side], group[0], sockperf_seconds)}
                            elif part == "latency":
                                res = latency(builds[side], group, args.trips, os.path.join(tmp, side))
                            else:
                                res = packet_rate(builds[side], part, group, args.seconds, os.path.join(tmp, side))
                            for key, value in res.items():
                                per = runs[part].setdefault(key, {"old": [None] * args.rounds,
                                                                  "new": [None] * args.rounds})
                                per[side][r] = value
                                if part in ("pingpong", "latency"):
                                    shown = ("failed" if value is None else
                                             f"p50 {value['p50_us']:7.3f} us  p99 {value['p99_us']:7.3f} us")
                                else:
                                    shown = (f"{value['cpu_ns_per_datagram']:8.1f} ns/datagram  "
                                             f"{value['datagrams_per_s']:10.0f}/s  cpu {value['cpu_busy']:.2f}")
                                print(f"round {r + 1}/{args.rounds} {side} {part:8} {key:26} {shown}",
                                      file=sys.stderr, flush=True)
    except (run_suite.Failed, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as e:
        sys.exit(f"ab_compare.py: {e}")

    result = {"meta": {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                       "machine": run_suite.machine(), "loadavg_start": loadavg_start, "loadavg_end": os.getloadavg(),
                       "elapsed_s": round(time.monotonic() - start, 1),
                       "command": " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]),
                       "rounds": args.rounds, "seconds": args.seconds, "sockperf_seconds": sockperf_seconds,
                       "trips": args.trips,
                       "parts": parts, "backends": backends, "order": orders, "skipped": skipped,
                       "old": info["old"], "new": info["new"]}}
    for part in ("receive", "send"):
        if part not in runs:
            continue
        result[part] = {}
        for name in sorted(runs[part], key=case_order):
            per = runs[part][name]
            metric = {k: summarise(*[[x[k] if x else None for x in per[side]] for side in BUILDS])
                      for k in ("cpu_ns_per_datagram", "user_ns_per_datagram", "datagrams_per_s")}
            result[part][name] = dict(metric, runs=per)
    if "pingpong" in runs:
        result["pingpong"] = {}
        for backend in backends:
            per = runs["pingpong"].get(backend, {"old": [], "new": []})
            result["pingpong"][backend] = {
                pct: summarise(*[[x[f"{pct}_us"] if x else None for x in per[side]] for side in BUILDS])
                for pct in ("p50", "p99")}
            result["pingpong"][backend]["runs"] = per
    if "latency" in runs:
        result["latency"] = {}
        for name in sorted(runs["latency"], key=case_order):
            per = runs["latency"][name]
            result["latency"][name] = {pct: summarise(*[[x[f"{pct}_us"] if x else None for x in per[side]]
                                                        for side in BUILDS]) for pct in ("p50", "p99")}
            result["latency"][name]["runs"] = per
    md = markdown(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    print(md)
    missing = [f"{part} {key}" for part in ("receive", "send") for key, s in result.get(part, {}).items()
               if len(s["cpu_ns_per_datagram"]["paired_ratios"]) < args.rounds]
    missing += [f"latency {n}" for n, s in result.get("latency", {}).items() if len(s["p50"]["paired_ratios"]) < args.rounds]
    missing += [f"ping-pong {b}" for b, s in result.get("pingpong", {}).items() if len(s["p50"]["paired_ratios"]) < args.rounds]
    if missing:
        sys.exit("ab_compare.py: some runs reported nothing: " + ", ".join(missing))


if __name__ == "__main__":
    main()
