#!/usr/bin/env python3
"""DNS: salvo's authoritative server and forwarder beside NSD, Knot DNS and dnsdist, under dnsperf.

Authoritative: the same zone file (bench/dns/zonegen.py: bench.example., about 10,000 names) is
served by NSD (server-count 1, rrl-ratelimit 0), Knot DNS (one UDP, one TCP, one background
worker, no RRL) and salvo's dns_server (--workers 1, each --backend, optionally each
--latency-budget), every one pinned to CPU 0; dnsperf, pinned to CPU 1, sends the same query file
(bench/dns/querygen.py: 60 % existing A/AAAA, 15 % CNAME chains of length 1-2 queried for A, 15 %
NXDOMAIN, 10 % NODATA; so 85 % NOERROR, 15 % NXDOMAIN).
Forwarder: dnsdist and salvo's dns_server --forward, pinned to CPU 0, in front of one NSD serving
that zone; NSD and dnsperf share CPU 1, and only the forwarder's CPU is measured. dnsdist runs
without a packet cache (none is configured): this compares forwarding, not caching; otherwise it
runs with its defaults (its ring buffers and backend health checks, every second, included).

Each cell is one server at one offered rate: a fresh server (its own config and files in a temp
directory, on a port from free_port, 127.0.0.1 only), readiness by a hand-built SOA query from
Python (at most 10 s), then `dnsperf -l SECONDS` at `-Q RATE` or unlimited ("max"). Rounds are
alternated: for each round, for each rate, every server in turn (the order rotates by one each
round); the figures are medians over rounds. Per cell:
  answered/s         dnsperf's queries completed / its run time
  lost               dnsperf's queries lost (no answer within its -t timeout)
  latency            dnsperf's average latency and its standard deviation, in microseconds
  CPU us/answer      the server's user + system time (every thread of every process of its
                     session, from /proc/PID/task/*/schedstat) over the dnsperf run, divided by
                     the queries completed
  CPU0 us/answer     the same from CPU 0's busy time in /proc/stat (a cross-check: it also counts
                     interrupts and anything else that ran there, in ticks of 1/CLK_TCK s)
  server busy        the server's CPU time over the run time: 100 % is one CPU saturated
  client busy        the client CPUs' busy share (/proc/stat): dnsperf, and for the forwarders the
                     upstream NSD too. An unlimited cell whose server is below 100 % while the
                     client is at 100 % measured the client, not the server. On the two-CPU VM
                     this was written on, one dnsperf thread tops out at about 128,000 queries/s:
                     NSD was then 97 % busy, Knot only 71 %, so a server cheaper than NSD cannot
                     show there that it answers more; give dnsperf more CPUs (--client-cpus 1-3)
                     where there are some. For the forwarders CPU 1 carries dnsperf and the
                     upstream NSD: on that VM it was already 100 % busy at 50,000 queries/s, so
                     the forwarders' latency there includes the client side's queueing (their
                     CPU per answer is still their own). At a fixed rate the latency is the servers'; unlimited,
                     it is mostly queueing: about -q / answered/s (Little's law).
Ratios: authoritative rows to the better (the lower CPU, the higher answered/s) of NSD and Knot at
the same rate; forwarder rows to dnsdist. dnsperf's response codes are checked against the mix
(each within 2 percentage points, nothing but NOERROR and NXDOMAIN).

Before measuring, every server answers a few fixed questions (the SOA, an A, a CNAME chain, an
NXDOMAIN, a NODATA, a referral) and must give the expected response code, AA flag and answer
types, the same for all; the run stops with a table of the answers if one does not.

dnsperf runs with one thread per CPU of --client-cpus (-T 1 by default), -c CLIENTS sockets
(default 4: queries from several source ports, as from several resolvers) and -q OUTSTANDING
(default 100, dnsperf's own) in flight, -t 2 (a query unanswered after 2 s on loopback is lost),
EDNS0 on (-e) unless --no-edns. -c 1 -q 100, -c 4 -q 200 and -c 16 -q 500 all gave the same
unlimited rate there (the client's limit); more in flight only added queueing latency, and with
-c 16 -q 500 Knot lost some queries.

Usage: bench/dns_compare.py [--salvo build/release/examples/dns/dns_server] [--rates 50000,max]
                            [--servers nsd,knot,salvo] [--forwarders dnsdist,salvo]
                            [--salvo-backends epoll,io_uring] [--salvo-budgets 0,50]
                            [--salvo-baseline OTHER/dns_server] [--seconds 10] [--rounds 3] [--clients 4] [--outstanding 100]
                            [--client-cpus 1] [--forward-timeout MS] [--forward-retries N]
                            [--json FILE] [--smoke]
When --salvo is missing the salvo rows are skipped (with a message) and the rest still run.
Every process is bounded in time and killed at the end, also on error or Ctrl-C.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(BENCH, "dns"))
from flow_scale import free_port  # noqa: E402
from load_curve import cpu_ns  # noqa: E402  (one thread-summing CPU clock for every bench script)
from run_suite import machine  # noqa: E402  (one description of the machine for every result)
import querygen  # noqa: E402
import zonegen  # noqa: E402

SERVER_CPU = "0"
CLIENT_CPUS = "1"  # the default of --client-cpus
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0  # salvo drains for up to 2 s after SIGTERM
RCODE_TOLERANCE = 0.02
ZONE = zonegen.ORIGIN
TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33, "OPT": 41}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --- processes ---------------------------------------------------------------------------------

class Processes:
    """Every server this script starts, each in its own session (so its children can be found and
    signalled by its process group), with its output in a log file; stop_all() ends them all."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.running = []

    def start(self, name, argv, cpu):
        path = os.path.join(self.tmp, f"{name}.{len(self.running)}.log")
        out = open(path, "w")
        proc = subprocess.Popen(["taskset", "-c", cpu] + argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        proc.log_path = path
        proc.name = name
        self.running.append(proc)
        return proc

    def stop(self, proc):
        """SIGTERM to the process group, SIGKILL after STOP_TIMEOUT; returns the exit status."""
        if proc.poll() is None:
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log(f"dns_compare.py: {proc.name} (pid {proc.pid}) ignored SIGTERM for {STOP_TIMEOUT:g} s: killing it")
        # Children (NSD's server and xfrd processes) may outlive their parent: the group goes too.
        self._signal(proc, signal.SIGKILL)
        proc.wait()
        if proc in self.running:
            self.running.remove(proc)
        return proc.returncode

    def stop_all(self):
        for proc in list(self.running):
            try:
                self.stop(proc)
            except Exception as e:  # keep going: every other process must still be stopped
                log(f"dns_compare.py: stopping {proc.name}: {e}")

    @staticmethod
    def _signal(proc, sig):
        try:
            os.killpg(proc.pid, sig)  # the group of the session this script created for it
        except (ProcessLookupError, PermissionError):
            pass


def log_tail(proc, lines=5):
    try:
        with open(proc.log_path) as f:
            return " | ".join(line.strip() for line in f.read().strip().splitlines()[-lines:])
    except OSError:
        return ""


def session_cpu_ns(sid):
    """CPU time of every process in session `sid` (a server and its children), in nanoseconds."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # a process that ended meanwhile
        if len(fields) > 3 and int(fields[3]) == sid:
            total += cpu_ns(int(entry))
    return total


def cpu_list(text):
    """The CPUs of a taskset list such as "1" or "1-3,5"."""
    cpus = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus += range(int(lo), int(hi or lo) + 1)
    return cpus


def cpu_busy_ns(cpus):
    """Busy time of some CPUs since boot from /proc/stat (everything but idle and iowait; the
    kernel's tick accounting, so in steps of 1/CLK_TCK s)."""
    want, busy = {f"cpu{c}" for c in cpus}, 0
    with open("/proc/stat") as f:
        for line in f:
            name, *v = line.split()
            if name in want:
                v = [int(x) for x in v]
                busy += sum(v[:8]) - v[3] - v[4]  # user nice system idle iowait irq softirq steal
                want.discard(name)
    if want:
        raise RuntimeError(f"no {', '.join(sorted(want))} in /proc/stat")
    return busy * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


# --- DNS on the wire, just enough for readiness and the sanity questions -------------------------

def dns_query(name, qtype, qid):
    wire = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".") if label)
    return struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0) + wire + b"\0" + struct.pack("!HH", TYPES[qtype], 1)


def _skip_name(msg, pos):
    for _ in range(128):
        length = msg[pos]
        if length & 0xC0 == 0xC0:
            return pos + 2
        pos += 1 + length
        if length == 0:
            return pos
    raise ValueError("name too long")


def parse_response(msg, qid):
    """(rcode, aa, answer types sorted, authority count) of a response, or None if it is not one to qid."""
    if len(msg) < 12:
        return None
    rid, flags, qd, an, ns, _ = struct.unpack("!HHHHHH", msg[:12])
    if rid != qid or not flags & 0x8000:
        return None
    pos = 12
    for _ in range(qd):
        pos = _skip_name(msg, pos) + 4
    types = []
    for _ in range(an):
        pos = _skip_name(msg, pos)
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[pos:pos + 10])
        types.append(TYPE_NAMES.get(rtype, str(rtype)))
        pos += 10 + rdlen
    return {"rcode": RCODES.get(flags & 0xF, str(flags & 0xF)), "aa": bool(flags & 0x0400),
            "answer": sorted(types), "authority": ns}


def ask(port, name, qtype, timeout=0.3):
    qid = random.randrange(1 << 16)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(dns_query(name, qtype, qid), ("127.0.0.1", port))
        deadline = time.monotonic() + timeout
        for _ in range(16):  # skip stray datagrams, boundedly
            try:
                s.settimeout(max(0.001, deadline - time.monotonic()))
                msg = s.recv(65535)
            except (socket.timeout, ConnectionRefusedError):
                return None
            try:
                r = parse_response(msg, qid)
            except (ValueError, IndexError, struct.error):
                r = None
            if r is not None:
                return r
    return None


def wait_ready(proc, port):
    """Polls the SOA of the zone until the server answers; raises after READY_TIMEOUT."""
    deadline = time.monotonic() + READY_TIMEOUT
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with status {proc.returncode}: {log_tail(proc)}")
        r = ask(port, ZONE, "SOA", timeout=0.1)
        if r is not None and r["rcode"] == "NOERROR":
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    raise RuntimeError(f"{proc.name} did not answer the SOA of {ZONE} on port {port} within "
                       f"{READY_TIMEOUT:g} s: {log_tail(proc)}")


def sanity_questions(zone):
    """Fixed questions about the generated zone with the answer each server must give."""
    hosts = sorted(zone.hosts)
    host = hosts[0]
    chain = sorted(a for a, n in zone.aliases.items() if n == 2)[0]
    nodata = next(h for h in hosts if not zone.hosts[h]["MX"])
    target_a = ["A"] * len(zone.hosts[zone.alias_target[chain]]["A"])
    return [
        (ZONE, "SOA", {"rcode": "NOERROR", "aa": True, "answer": ["SOA"]}),
        (host, "A", {"rcode": "NOERROR", "aa": True, "answer": ["A"] * len(zone.hosts[host]["A"])}),
        (chain, "A", {"rcode": "NOERROR", "aa": True, "answer": sorted(["CNAME", "CNAME"] + target_a)}),
        (f"nx-sanity.{ZONE}", "A", {"rcode": "NXDOMAIN", "aa": True, "answer": []}),
        (nodata, "MX", {"rcode": "NOERROR", "aa": True, "answer": []}),
        (f"www.{zone.delegations[0]}", "A", {"rcode": "NOERROR", "aa": False, "answer": []}),
    ]


def check_answers(port, questions):
    """Asks each question (three tries); returns [(name, type, expected, got)]."""
    got = []
    for name, qtype, want in questions:
        r = None
        for _ in range(3):
            r = ask(port, name, qtype, timeout=0.5)
            if r is not None:
                break
        got.append((name, qtype, want, r))
    return got


def answer_text(r):
    if r is None:
        return "no answer"
    return f"{r['rcode']}{' aa' if r['aa'] else ''} [{' '.join(r['answer'])}]"


# --- servers -----------------------------------------------------------------------------------

NSD_CONF = """server:
  ip-address: 127.0.0.1@{port}
  username: ""
  chroot: ""
  zonesdir: "{dir}"
  database: ""
  pidfile: "{dir}/nsd.pid"
  xfrdfile: "{dir}/xfrd.state"
  zonelistfile: "{dir}/zone.list"
  logfile: "{dir}/nsd.log"
  rrl-ratelimit: 0
  server-count: 1
  verbosity: 1
remote-control:
  control-enable: no
zone:
  name: {zone}
  zonefile: "{zonefile}"
"""

KNOT_CONF = """server:
  rundir: "{dir}"
  listen: 127.0.0.1@{port}
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
control:
  listen: "{dir}/knot.sock"
database:
  storage: "{dir}"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "{dir}"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
  - domain: {zone}
    file: "{zonefile}"
"""

# No packet cache is created: dnsdist forwards every query (we compare forwarding, not caching).
# No console (no controlSocket), no security polling (it would send DNS queries to the internet).
DNSDIST_CONF = """setLocal('127.0.0.1:{port}')
newServer({{address='127.0.0.1:{upstream}', checkName='{zone}', checkType='SOA'}})
setSecurityPollSuffix('')
"""


class Server:
    """One row of the table: how to start it (argv and config) and on which CPU."""

    def __init__(self, name, mode, kind, backend=None, budget=None, binary=None):
        self.name, self.mode, self.kind, self.backend, self.budget = name, mode, kind, backend, budget
        self.binary = binary  # salvo rows: which dns_server (--salvo, or --salvo-baseline)

    def argv(self, args, port, upstream, d):
        if self.kind == "nsd":
            conf = os.path.join(d, "nsd.conf")
            with open(conf, "w") as f:
                f.write(NSD_CONF.format(port=port, dir=d, zone=ZONE.rstrip("."), zonefile=args.zonefile))
            return [args.nsd, "-d", "-c", conf]
        if self.kind == "knot":
            conf = os.path.join(d, "knot.conf")
            with open(conf, "w") as f:
                f.write(KNOT_CONF.format(port=port, dir=d, zone=ZONE, zonefile=args.zonefile))
            return [args.knotd, "-c", conf]
        if self.kind == "dnsdist":
            conf = os.path.join(d, "dnsdist.conf")
            with open(conf, "w") as f:
                f.write(DNSDIST_CONF.format(port=port, upstream=upstream, zone=ZONE))
            return [args.dnsdist, "--supervised", "--disable-syslog", "-C", conf]
        common = ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--cpus", SERVER_CPU, "--backend", self.backend]
        if self.budget is not None:
            common += ["--latency-budget", self.budget]
        if self.mode == "auth":
            return [self.binary, "--zone", args.zonefile] + common
        argv = [self.binary, "--forward", f"127.0.0.1:{upstream}"] + common
        if args.forward_timeout is not None:
            argv += ["--timeout", str(args.forward_timeout)]
        if args.forward_retries is not None:
            argv += ["--retries", str(args.forward_retries)]
        return argv


def start_server(procs, args, server, cpu, upstream=None):
    """Starts `server` pinned to `cpu`; returns (process, port) once it answers (or raises)."""
    port = free_port()
    d = tempfile.mkdtemp(prefix=f"{server.name}-", dir=procs.tmp)
    proc = procs.start(server.name, server.argv(args, port, upstream, d), cpu)
    try:
        wait_ready(proc, port)
    except BaseException:
        procs.stop(proc)
        raise
    return proc, port


def plan_servers(args):
    """The authoritative and forwarder rows to run, leaving out what is not installed."""
    have = {"nsd": os.access(args.nsd, os.X_OK) or shutil.which(args.nsd),
            "knot": os.access(args.knotd, os.X_OK) or shutil.which(args.knotd),
            "dnsdist": os.access(args.dnsdist, os.X_OK) or shutil.which(args.dnsdist),
            "salvo": os.access(args.salvo, os.X_OK)}
    if not have["salvo"]:
        log(f"dns_compare.py: {args.salvo} is missing (build examples/dns first): the salvo rows are skipped")
    # Each salvo row once per build: this one ("salvo-...") and the baseline ("base-..."), if given.
    builds = [("salvo", args.salvo)]
    if args.salvo_baseline:
        if os.access(args.salvo_baseline, os.X_OK):
            builds.append(("base", args.salvo_baseline))
        else:
            log(f"dns_compare.py: --salvo-baseline {args.salvo_baseline} is missing: its rows are skipped")
    budgets = [None] if not args.salvo_budgets else args.salvo_budgets.split(",")

    def budget_suffix(budget):
        return "" if budget is None else f"-b{budget}"
    auth, fwd = [], []
    for s in filter(None, args.servers.split(",")):
        if s not in ("nsd", "knot", "salvo"):
            raise SystemExit(f"dns_compare.py: --servers: unknown server {s} (nsd, knot, salvo)")
        if not have[s]:
            if s != "salvo":
                log(f"dns_compare.py: {s} is not installed: its rows are skipped")
            continue
        if s == "salvo":
            for label, binary in builds:
                for backend in args.salvo_backends.split(","):
                    for budget in budgets:
                        auth.append(Server(f"{label}-{backend}{budget_suffix(budget)}", "auth", "salvo", backend, budget,
                                           binary))
        else:
            auth.append(Server(s, "auth", s))
    for s in filter(None, args.forwarders.split(",")):
        if s not in ("dnsdist", "salvo"):
            raise SystemExit(f"dns_compare.py: --forwarders: unknown forwarder {s} (dnsdist, salvo)")
        if not have[s]:
            if s != "salvo":
                log(f"dns_compare.py: {s} is not installed: its rows are skipped")
            continue
        if s == "salvo":
            for label, binary in builds:
                for backend in args.salvo_backends.split(","):
                    for budget in budgets:
                        fwd.append(Server(f"{label}-fwd-{backend}{budget_suffix(budget)}", "forward", "salvo", backend,
                                          budget, binary))
        else:
            fwd.append(Server("dnsdist", "forward", "dnsdist"))
    if fwd and not have["nsd"]:
        log("dns_compare.py: the forwarders need NSD as their upstream, which is not installed: skipped")
        fwd = []
    return auth, fwd


# --- dnsperf -----------------------------------------------------------------------------------

def dnsperf_argv(args, port, rate):
    argv = ["taskset", "-c", args.client_cpus, args.dnsperf, "-s", "127.0.0.1", "-p", str(port), "-d", args.queryfile,
            "-l", f"{args.seconds:g}", "-T", str(len(cpu_list(args.client_cpus))), "-c", str(args.clients), "-q", str(args.outstanding), "-t", "2"]
    if rate != "max":
        argv += ["-Q", rate]
    if args.edns:
        argv.append("-e")
    return argv


def parse_dnsperf(text):
    def num(pattern, cast=float):
        m = re.search(pattern, text)
        return cast(m.group(1)) if m else None
    r = {"sent": num(r"Queries sent:\s+(\d+)", int), "completed": num(r"Queries completed:\s+(\d+)", int),
         "lost": num(r"Queries lost:\s+(\d+)", int), "interrupted": num(r"Queries interrupted:\s+(\d+)", int) or 0,
         "run_time_s": num(r"Run time \(s\):\s+([\d.]+)"), "qps": num(r"Queries per second:\s+([\d.]+)")}
    m = re.search(r"Average Latency \(s\):\s+([\d.]+) \(min ([\d.]+), max ([\d.]+)\)", text)
    r["avg_latency_us"], r["min_latency_us"], r["max_latency_us"] = \
        (float(m.group(i)) * 1e6 for i in (1, 2, 3)) if m else (None, None, None)
    sd = num(r"Latency StdDev \(s\):\s+([\d.]+)")
    r["stddev_latency_us"] = sd * 1e6 if sd is not None else None
    m = re.search(r"Response codes:\s+(.*)", text)
    r["rcodes"] = {k: int(v) for k, v in re.findall(r"([A-Z]+) (\d+) \(", m.group(1))} if m else {}
    if r["completed"] is None or r["run_time_s"] is None:
        raise ValueError("no statistics in dnsperf's output")
    return r


def rcode_problem(rcodes, completed):
    """None when dnsperf's response codes fit the query mix, else what is wrong."""
    if not completed:
        return "no query completed"
    want = querygen.expected_rcodes()
    odd = {k: v for k, v in rcodes.items() if k not in want}
    if odd:
        return f"unexpected response codes {odd}"
    for code, share in want.items():
        got = rcodes.get(code, 0) / completed
        if abs(got - share) > RCODE_TOLERANCE:
            return f"{code} {got:.1%} of the answers, the mix expects {share:.0%}"
    return None


def measure(args, proc, port, rate):
    argv = dnsperf_argv(args, port, rate)
    client_cpus = cpu_list(args.client_cpus)
    cpu0, client = cpu_busy_ns([int(SERVER_CPU)]), cpu_busy_ns(client_cpus)
    before = session_cpu_ns(proc.pid)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=args.seconds + 60)
    after = session_cpu_ns(proc.pid)
    cpu0, client = cpu_busy_ns([int(SERVER_CPU)]) - cpu0, cpu_busy_ns(client_cpus) - client
    if done.returncode != 0:
        raise RuntimeError(f"dnsperf failed (status {done.returncode}): {done.stderr.strip()[-300:]}")
    if proc.poll() is not None:
        raise RuntimeError(f"{proc.name} exited during the run: {log_tail(proc)}")
    r = parse_dnsperf(done.stdout)
    c = r["completed"]
    run_ns = r["run_time_s"] * 1e9
    r.update({"server_cpu_ns": after - before, "cpu0_busy_ns": cpu0, "client_cpus_busy_ns": client,
              # how busy the server kept its CPU, and the client CPUs (dnsperf, and for forwarders
              # the upstream NSD) theirs: which side was the bottleneck of an unlimited run
              "server_busy": (after - before) / run_ns if run_ns else None,
              "client_busy": client / run_ns / len(client_cpus) if run_ns else None,
              "answered_per_s": c / r["run_time_s"] if r["run_time_s"] else None,
              "cpu_us_per_answer": (after - before) / c / 1000 if c else None,
              "cpu0_us_per_answer": cpu0 / c / 1000 if c else None,
              "rcode_problem": rcode_problem(r["rcodes"], c),
              "dnsperf_statistics": done.stdout[done.stdout.find("Statistics:"):].strip()})
    return r


# --- the run -----------------------------------------------------------------------------------

class Upstream:
    """The NSD the forwarders forward to, on CPU 1, started when first needed and kept (and
    restarted if it dies)."""

    def __init__(self, procs, args):
        self.procs, self.args, self.proc, self.port = procs, args, None, None

    def get(self):
        if self.proc is None or self.proc.poll() is not None:
            self.proc, self.port = start_server(self.procs, self.args, Server("upstream-nsd", "auth", "nsd"),
                                                 self.args.client_cpus)
        return self.port


def run_cell(procs, args, upstream, server, rate, round_index):
    cell = {"server": server.name, "mode": server.mode, "rate": rate, "round": round_index}
    try:
        up = upstream.get() if server.mode == "forward" else None
        proc, port = start_server(procs, args, server, SERVER_CPU, up)
        try:
            cell.update(measure(args, proc, port, rate))
        finally:
            status = procs.stop(proc)
        cell["status"] = "ok"
        cell["exit_status"] = status
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
        cell.update({"status": "failed", "message": str(e)})
    return cell


def sanity_check(procs, args, upstream, servers, questions):
    """Every server answers the fixed questions as expected; returns the answers, or exits."""
    results, bad = {}, False
    for server in servers:
        up = upstream.get() if server.mode == "forward" else None
        proc, port = start_server(procs, args, server, SERVER_CPU, up)
        try:
            got = check_answers(port, questions)
        finally:
            procs.stop(proc)
        results[server.name] = [{"name": n, "type": t, "expected": w, "got": g} for n, t, w, g in got]
        for _, _, want, r in got:
            if r is None or any(r[k] != want[k] for k in ("rcode", "aa", "answer")):
                bad = True
    if bad:
        log("dns_compare.py: the servers do not answer the sanity questions alike; expected, then each server:")
        for i, (name, qtype, want) in enumerate(questions):
            row = [f"{name} {qtype}", "expected " + answer_text(want)]
            row += [f"{s}: {answer_text(results[s][i]['got'])}" for s in results]
            odd = [s for s in results if results[s][i]["got"] is None
                   or any(results[s][i]["got"][k] != want[k] for k in ("rcode", "aa", "answer"))]
            log(("  " if not odd else f"  WRONG ({', '.join(odd)}): ") + "; ".join(row))
        raise SystemExit(1)
    return results


def summarize(cells, servers, rates):
    rows = []
    for rate in rates:
        for server in servers:
            mine = [c for c in cells if c["server"] == server.name and c["rate"] == rate and c["status"] == "ok"
                    and c.get("cpu_us_per_answer") is not None]
            if not mine:
                continue
            row = {"server": server.name, "mode": server.mode, "rate": rate, "rounds": len(mine),
                   "lost_total": sum(c["lost"] or 0 for c in mine),
                   "rcode_problems": [c["rcode_problem"] for c in mine if c["rcode_problem"]]}
            for key in ("answered_per_s", "avg_latency_us", "stddev_latency_us", "cpu_us_per_answer",
                        "cpu0_us_per_answer", "lost", "server_busy", "client_busy"):
                vals = [c[key] for c in mine if c.get(key) is not None]
                row[key] = statistics.median(vals) if vals else None
            rows.append(row)
    # Ratios to the reference at the same rate: the better of NSD and Knot, or dnsdist.
    for row in rows:
        refs = ["dnsdist"] if row["mode"] == "forward" else ["nsd", "knot"]
        ref = [r for r in rows if r["rate"] == row["rate"] and r["server"] in refs]
        cpu = [r["cpu_us_per_answer"] for r in ref if r["cpu_us_per_answer"]]
        qps = [r["answered_per_s"] for r in ref if r["answered_per_s"]]
        row["cpu_ratio"] = row["cpu_us_per_answer"] / min(cpu) if cpu and row["cpu_us_per_answer"] else None
        row["answered_ratio"] = row["answered_per_s"] / max(qps) if qps and row["answered_per_s"] else None
    return rows


def goals(rows, fixed_rate):
    """The issue's goals, checked on the salvo rows: [(text, met)]."""
    out = []
    for row in rows:
        if not row["server"].startswith("salvo"):
            continue
        if row["rate"] == fixed_rate and row["cpu_ratio"] is not None:
            limit, ref = (0.7, "dnsdist's") if row["mode"] == "forward" else (0.6, "the better of NSD and Knot's")
            out.append((f"{row['server']} at {fixed_rate}/s: CPU per answer {row['cpu_ratio']:.2f}x {ref} "
                        f"(goal <= {limit}x)", row["cpu_ratio"] <= limit))
        if row["rate"] == "max" and row["answered_ratio"] is not None:
            ref = "dnsdist" if row["mode"] == "forward" else "the better of NSD and Knot"
            out.append((f"{row['server']} unlimited: answered/s {row['answered_ratio']:.2f}x {ref}, "
                        f"{row['lost_total']} lost (goal >= 1.00x, none lost)",
                        row["answered_ratio"] >= 1.0 and row["lost_total"] == 0))
    return out


def fmt(v, spec, none="-"):
    return none if v is None else format(v, spec)


def print_table(rows):
    print("| mode | server | offered/s | answered/s | x ref | lost | avg latency us | stddev us | "
          "CPU us/answer | x ref | CPU0 us/answer | server busy | client busy |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        flag = " (rcodes!)" if r["rcode_problems"] else ""
        print(f"| {r['mode']} | {r['server']}{flag} | {r['rate']} | {fmt(r['answered_per_s'], ',.0f')} | "
              f"{fmt(r['answered_ratio'], '.2f')} | {fmt(r['lost'], '.0f')} | {fmt(r['avg_latency_us'], '.0f')} | "
              f"{fmt(r['stddev_latency_us'], '.0f')} | {fmt(r['cpu_us_per_answer'], '.2f')} | "
              f"{fmt(r['cpu_ratio'], '.2f')} | {fmt(r['cpu0_us_per_answer'], '.2f')} | "
              f"{fmt(r['server_busy'], '.0%')} | {fmt(r['client_busy'], '.0%')} |")


def tool_versions(args):
    def first(argv, pattern=None):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        lines = (p.stdout + p.stderr).splitlines()
        for line in lines:
            if pattern is None or re.search(pattern, line):
                return line.strip()
        return None
    return {"nsd": first([args.nsd, "-v"], "NSD"), "knotd": first([args.knotd, "--version"]),
            "dnsdist": first([args.dnsdist, "--version"], "dnsdist"),
            "dnsperf": first([args.dnsperf, "-h"], "Version")}


def git_commit():
    def git(*a):
        p = subprocess.run(["git", "-C", ROOT] + list(a), capture_output=True, text=True, timeout=10)
        return p.stdout.strip() if p.returncode == 0 else None
    commit = git("rev-parse", "HEAD")
    return {"commit": commit, "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))} if commit else None


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--salvo", default=os.path.join(ROOT, "build/release/examples/dns/dns_server"))
    ap.add_argument("--nsd", default="/usr/sbin/nsd")
    ap.add_argument("--knotd", default="/usr/sbin/knotd")
    ap.add_argument("--dnsdist", default="dnsdist")
    ap.add_argument("--dnsperf", default="dnsperf")
    ap.add_argument("--rates", default="50000,max", help="offered queries/s for dnsperf -Q; max: unlimited")
    ap.add_argument("--servers", default="nsd,knot,salvo", help="authoritative rows; empty for none")
    ap.add_argument("--forwarders", default="dnsdist,salvo", help="forwarder rows (in front of NSD); empty for none")
    ap.add_argument("--salvo-backends", default="epoll,io_uring")
    ap.add_argument("--salvo-baseline", help="another dns_server build (say, the previous commit's): its rows, named "
                    "base-..., run beside salvo's in every round")
    ap.add_argument("--salvo-budgets", default="",
                    help="salvo --latency-budget values, one row each, authoritative and forwarder (e.g. 0,50)")
    ap.add_argument("--forward-timeout", type=int, help="salvo's forwarder --timeout MS")
    ap.add_argument("--forward-retries", type=int, help="salvo's forwarder --retries N")
    ap.add_argument("--seconds", type=float, default=10.0, help="dnsperf -l per cell")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--client-cpus", default=CLIENT_CPUS,
                    help="taskset list for dnsperf (one -T thread per CPU) and the forwarders' upstream NSD")
    ap.add_argument("--clients", type=int, default=4, help="dnsperf -c")
    ap.add_argument("--outstanding", type=int, default=100, help="dnsperf -q")
    ap.add_argument("--no-edns", dest="edns", action="store_false", help="queries without EDNS0 (no dnsperf -e)")
    ap.add_argument("--seed", type=int, default=1, help="of the zone and the query file")
    ap.add_argument("--hosts", type=int, default=8000, help="host names in the zone (about 1.2 names per host)")
    ap.add_argument("--queries", type=int, default=100000, help="lines in the query file")
    ap.add_argument("--json", help="write every cell, the medians, the machine and the commit here")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory (configs, zone, logs)")
    ap.add_argument("--smoke", action="store_true",
                    help="one round of 1 s cells at 20000/s; exit 1 unless every cell reported sound rcodes")
    args = ap.parse_args()
    if args.smoke:
        args.rates, args.seconds, args.rounds, args.queries = "20000", 1.0, 1, 20000
    args.salvo = os.path.abspath(args.salvo)
    if args.salvo_baseline:
        args.salvo_baseline = os.path.abspath(args.salvo_baseline)
    args.rates = args.rates.split(",")
    for rate in args.rates:
        if rate != "max" and not (rate.isdigit() and 0 < int(rate) <= 10_000_000):
            ap.error(f"--rates: {rate} is neither a rate (1 to 10000000) nor max")
    if not 0 < args.seconds <= 600 or not 1 <= args.rounds <= 100:
        ap.error("--seconds must be above 0 and at most 600, --rounds 1 to 100")
    try:
        client_cpus = cpu_list(args.client_cpus)
    except ValueError:
        ap.error(f"--client-cpus {args.client_cpus}: a taskset list such as 1 or 1-3")
    if int(SERVER_CPU) in client_cpus or max(client_cpus) >= (os.cpu_count() or 1):
        ap.error(f"--client-cpus {args.client_cpus}: CPUs of this machine other than the server's CPU {SERVER_CPU}")
    if not 1 <= args.clients <= 256 or not 1 <= args.outstanding <= 65535:
        ap.error("--clients 1 to 256, --outstanding 1 to 65535")
    return args


def main():
    args = parse_args()
    if not shutil.which(args.dnsperf):
        log(f"dns_compare.py: {args.dnsperf} is not installed")
        return 77 if args.smoke else 2
    if (os.cpu_count() or 1) < 2:
        log("dns_compare.py: needs two CPUs (server on CPU 0, dnsperf on CPU 1)")
        return 77 if args.smoke else 2
    auth, fwd = plan_servers(args)
    servers = auth + fwd
    if not servers:
        log("dns_compare.py: nothing to run")
        return 77 if args.smoke else 2
    # A SIGTERM ends the run like Ctrl-C: through the finally that stops every server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="dns_compare-")
    procs = Processes(tmp)
    try:
        zone = zonegen.build(args.seed, args.hosts)
        args.zonefile = os.path.join(tmp, "bench.example.zone")
        args.queryfile = os.path.join(tmp, "queries.txt")
        with open(args.zonefile, "w") as f:
            f.write(zone.text())
        with open(args.queryfile, "w") as f:
            f.write("\n".join(querygen.build(zone, args.queries, args.seed)) + "\n")
        upstream = Upstream(procs, args)
        sanity = sanity_check(procs, args, upstream, servers, sanity_questions(zone))
        log(f"sanity: {len(servers)} servers answer the {len(sanity_questions(zone))} questions alike")
        cells = []
        for round_index in range(args.rounds):
            for rate in args.rates:
                k = round_index % len(servers)
                for server in servers[k:] + servers[:k]:
                    cell = run_cell(procs, args, upstream, server, rate, round_index)
                    cells.append(cell)
                    if cell["status"] != "ok":
                        log(f"round {round_index} {rate:>7} {server.name:<20} FAILED: {cell['message']}")
                        continue
                    log(f"round {round_index} {rate:>7} {server.name:<20} {cell['answered_per_s'] or 0:9.0f}/s "
                        f"lost {cell['lost']:<5} lat {cell['avg_latency_us'] or 0:6.0f} us "
                        f"sd {cell['stddev_latency_us'] or 0:6.0f} cpu {cell['cpu_us_per_answer'] or 0:6.2f} us/ans "
                        f"cpu0 {cell['cpu0_us_per_answer'] or 0:6.2f} busy server {cell['server_busy'] or 0:4.0%} "
                        f"client {cell['client_busy'] or 0:4.0%}"
                        + (f"  RCODES: {cell['rcode_problem']}" if cell["rcode_problem"] else ""))
    finally:
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"dns_compare.py: kept {tmp}")
    rows = summarize(cells, servers, args.rates)
    fixed = next((r for r in args.rates if r != "max"), None)
    met = goals(rows, fixed)
    print(f"Machine: {machine()}; servers and forwarders on CPU {SERVER_CPU}, dnsperf (and the forwarders' "
          f"upstream NSD) on CPU {args.client_cpus}; {args.seconds:g} s per cell, median of {args.rounds} rounds; "
          f"dnsperf -c {args.clients} -q {args.outstanding}{' -e' if args.edns else ''}\n")
    print_table(rows)
    print("\nx ref: authoritative rows to the better of NSD and Knot at the same rate, forwarders to dnsdist.")
    for text, ok in met:
        print(f"{'met    ' if ok else 'NOT met'}  {text}")
    if args.json:
        doc = {"program": "dns_compare.py", "machine": machine(), "git": git_commit(), "versions": tool_versions(args),
               "config": {k: v for k, v in vars(args).items() if k not in ("zonefile", "queryfile")},
               "query_mix": dict(querygen.MIX), "expected_rcodes": querygen.expected_rcodes(),
               "server_cpu": int(SERVER_CPU), "client_cpus": cpu_list(args.client_cpus), "sanity": sanity,
               "cells": cells, "summary": rows, "goals": [{"goal": t, "met": ok} for t, ok in met]}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    failed = [c for c in cells if c["status"] != "ok" or c.get("rcode_problem")]
    if args.smoke and (failed or len(rows) != len(servers) * len(args.rates)):
        log(f"dns_compare.py: {len(failed)} cells failed or had odd response codes")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
