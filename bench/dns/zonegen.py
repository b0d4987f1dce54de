#!/usr/bin/env python3
"""The DNS benchmark's zone: bench.example., about 10,000 names, generated from a seed.

Deterministic: the same --seed and --hosts give the same file, byte for byte, so NSD, Knot DNS and
salvo's dns_server all load the very same text. It uses only what every one of them reads: one
record per line, absolute names everywhere, an explicit TTL and class IN on every record, no
parentheses, no wildcards, no $INCLUDE; and only the types salvo's server supports (SOA, NS, A,
AAAA, MX, TXT, CNAME, PTR, SRV). What it holds, for the default 8,000 hosts:

  apex            SOA, NS ns1/ns2, MX 10 mail, TXT (SPF)
  ns1, ns2, mail  A (+ AAAA)
  8,000 hosts     names like api-4711 (a word from a short list, a dash, a number): 1 or 2 A
                  records; 40 % also have AAAA (1 record), 10 % MX (pointing at mail or a host),
                  10 % TXT. The rest have no other type, which the query mix uses for NODATA.
  1,500 aliases   CNAME chains inside the zone: 70 % of length 1 (alias -> host), 30 % of length 2
                  (alias -> alias -> host); queried with type A the server follows the chain
  200 services    _sip._udp.svc-N SRV 10 5 5060 host
  100 pointers    ptr-N PTR host
  3 delegations   sub-N NS ns.sub-N, with glue A (referrals: no AA)

Usage: bench/dns/zonegen.py [--seed 1] [--hosts 8000] [--out FILE]   (default: standard output)
Imported, build(seed, hosts) returns a Zone whose lists say which names are which, for the query
generator (querygen.py) and for the benchmark's sanity questions.
"""
import argparse
import random
import sys

ORIGIN = "bench.example."
TTL = 3600
WORDS = ["www", "api", "mail", "cdn", "db", "app", "web", "srv", "node", "edge", "img", "auth", "git", "vpn",
         "shop", "blog", "static", "media", "login", "status"]


class Zone:
    """The generated zone: its lines, and its names by kind (all absolute, lowercase)."""

    def __init__(self):
        self.lines = []
        self.hosts = {}        # name -> {"A": [addr, ...], "AAAA": [...], "MX": bool, "TXT": bool}
        self.aliases = {}      # name -> chain length (1 or 2); the chain ends at a host
        self.alias_target = {}  # alias -> the host at the end of its chain
        self.delegations = []  # child zone names
        self.services = []
        self.pointers = []

    def text(self):
        return "\n".join(self.lines) + "\n"

    def add(self, owner, rtype, rdata):
        self.lines.append(f"{owner} {TTL} IN {rtype} {rdata}")


def _ipv4(i):
    # 10.0.0.0/8, 254 addresses per /24 (no .0, no .255), each i its own address
    net, host = divmod(i, 254)
    return f"10.{(net >> 8) & 0xff}.{net & 0xff}.{host + 1}"


def _ipv6(i):
    return f"2001:db8::{(i >> 16) & 0xffff:x}:{i & 0xffff:x}"


def build(seed=1, hosts=8000):
    rng = random.Random(seed)
    z = Zone()
    z.lines += [f"$ORIGIN {ORIGIN}", f"$TTL {TTL}"]
    z.add(ORIGIN, "SOA", f"ns1.{ORIGIN} hostmaster.{ORIGIN} 2024010101 7200 3600 1209600 300")
    z.add(ORIGIN, "NS", f"ns1.{ORIGIN}")
    z.add(ORIGIN, "NS", f"ns2.{ORIGIN}")
    z.add(ORIGIN, "MX", f"10 mail.{ORIGIN}")
    z.add(ORIGIN, "TXT", '"v=spf1 -all"')
    for k, name in enumerate(("ns1", "ns2", "mail")):
        z.add(f"{name}.{ORIGIN}", "A", f"192.0.2.{k + 1}")
        z.add(f"{name}.{ORIGIN}", "AAAA", f"2001:db8:53::{k + 1}")

    # Host names: a word and a number, unique; drawn from a space larger than the count so that the
    # numbers are not simply consecutive.
    names = set()
    host_list = []
    while len(host_list) < hosts:
        name = f"{rng.choice(WORDS)}-{rng.randrange(100000)}.{ORIGIN}"
        if name not in names:
            names.add(name)
            host_list.append(name)
    next_addr = 1
    for name in host_list:
        h = {"A": [], "AAAA": [], "MX": False, "TXT": False}
        for _ in range(1 if rng.random() < 0.7 else 2):
            h["A"].append(_ipv4(next_addr))
            next_addr += 1
        if rng.random() < 0.4:
            h["AAAA"].append(_ipv6(next_addr))
        h["MX"] = rng.random() < 0.1
        h["TXT"] = rng.random() < 0.1
        z.hosts[name] = h
        for a in h["A"]:
            z.add(name, "A", a)
        for a in h["AAAA"]:
            z.add(name, "AAAA", a)
        if h["MX"]:
            z.add(name, "MX", f"10 {rng.choice([f'mail.{ORIGIN}', name])}")
        if h["TXT"]:
            z.add(name, "TXT", f'"host {name[:-len(ORIGIN) - 1]} id={rng.randrange(1 << 32):08x}"')

    # CNAME chains: aliases of length 1 first, then length-2 aliases pointing at one of them.
    aliases1 = []
    for i in range(1050):
        name = f"alias-{i}.{ORIGIN}"
        target = rng.choice(host_list)
        z.add(name, "CNAME", target)
        z.aliases[name] = 1
        z.alias_target[name] = target
        aliases1.append(name)
    for i in range(450):
        name = f"chain-{i}.{ORIGIN}"
        via = rng.choice(aliases1)
        z.add(name, "CNAME", via)
        z.aliases[name] = 2
        z.alias_target[name] = z.alias_target[via]

    for i in range(200):
        name = f"_sip._udp.svc-{i}.{ORIGIN}"
        z.add(name, "SRV", f"10 5 5060 {rng.choice(host_list)}")
        z.services.append(name)
    for i in range(100):
        name = f"ptr-{i}.{ORIGIN}"
        z.add(name, "PTR", rng.choice(host_list))
        z.pointers.append(name)
    for i in range(3):
        child = f"sub-{i}.{ORIGIN}"
        z.add(child, "NS", f"ns.{child}")
        z.add(f"ns.{child}", "A", f"198.51.100.{i + 1}")
        z.delegations.append(child)
    return z


def write_text(text, path):
    """Writes `text` to the file `path`, or to standard output when path is empty."""
    if path:
        with open(path, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hosts", type=int, default=8000)
    ap.add_argument("--out", help="write the zone file here (default: standard output)")
    args = ap.parse_args()
    if not 10 <= args.hosts <= 1_000_000:
        ap.error("--hosts: 10 to 1000000")
    write_text(build(args.seed, args.hosts).text(), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
