#!/usr/bin/env python3
"""The DNS benchmark's query file: dnsperf's format ("name TYPE" per line), a fixed, seeded mix.

The mix, of --count lines in a shuffled order (every server gets the same file, and dnsperf reads
it in order, from the top again when it reaches the end):
  60 %  existing names: a host's A (70 % of these) or, for a host that has one, its AAAA (30 %)
  15 %  CNAMEs: an alias queried for A, so the server follows the chain inside the zone (70 % of
        the aliases are chains of length 1, 30 % of length 2, as in the zone)
  15 %  NXDOMAIN: a name below bench.example. that does not exist (nx-<random>.bench.example.)
  10 %  NODATA: an existing host asked for a type it does not have (MX, TXT or AAAA)
So 85 % of the answers are NOERROR and 15 % NXDOMAIN: expected_rcodes() gives these shares, for
the benchmark's check of dnsperf's response codes.

Usage: bench/dns/querygen.py [--seed 1] [--hosts 8000] [--count 100000] [--out FILE]
(--seed and --hosts are the zone's, see zonegen.py; the same values give the zone these queries
are about.)
"""
import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zonegen  # noqa: E402

MIX = (("existing", 0.60), ("cname", 0.15), ("nxdomain", 0.15), ("nodata", 0.10))


def expected_rcodes():
    """The share of each response code the mix should get: {"NOERROR": 0.85, "NXDOMAIN": 0.15}."""
    nx = dict(MIX)["nxdomain"]
    return {"NOERROR": 1.0 - nx, "NXDOMAIN": nx}


def build(zone, count=100000, seed=1):
    """Returns the query lines (strings "name TYPE") for `zone` (a zonegen.Zone)."""
    rng = random.Random(seed * 1_000_003 + 7)
    hosts = sorted(zone.hosts)
    with_aaaa = [h for h in hosts if zone.hosts[h]["AAAA"]]
    aliases = sorted(zone.aliases)
    nodata = []  # (name, type) pairs the zone has no data for
    for h in hosts:
        rec = zone.hosts[h]
        for rtype, has in (("MX", rec["MX"]), ("TXT", rec["TXT"]), ("AAAA", bool(rec["AAAA"]))):
            if not has:
                nodata.append((h, rtype))
    lines = []
    for kind, share in MIX:
        n = round(count * share)
        for _ in range(n):
            if kind == "existing":
                if rng.random() < 0.7:
                    lines.append(f"{rng.choice(hosts)} A")
                else:
                    lines.append(f"{rng.choice(with_aaaa)} AAAA")
            elif kind == "cname":
                lines.append(f"{rng.choice(aliases)} A")
            elif kind == "nxdomain":
                lines.append(f"nx-{rng.randrange(1 << 40):010x}.{zonegen.ORIGIN} A")
            else:
                name, rtype = rng.choice(nodata)
                lines.append(f"{name} {rtype}")
    rng.shuffle(lines)
    return lines[:count]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hosts", type=int, default=8000)
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--out", help="write the query file here (default: standard output)")
    args = ap.parse_args()
    if not 100 <= args.count <= 10_000_000:
        ap.error("--count: 100 to 10000000")
    text = "\n".join(build(zonegen.build(args.seed, args.hosts), args.count, args.seed)) + "\n"
    zonegen.write_text(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
