#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets into corpus/<target>/seed-*.

Valid inputs of each format and the edge cases next to them, so that a replay exercises every
branch from the start and a long run starts from known shapes. Run from anywhere; rewrites only
seed-* files (minimized inputs from long runs sit beside them under libFuzzer's hash names).
Layouts follow x86-64 Linux: struct cmsghdr is 16 bytes (size_t cmsg_len, int level, int type).
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SOL_SOCKET, SO_RXQ_OVFL, SO_TIMESTAMPNS = 1, 40, 35
IPPROTO_IP, IP_TTL, IP_PKTINFO, IP_RECVERR = 0, 2, 8, 11
IPPROTO_IPV6, IPV6_RECVERR = 41, 25
SO_EE_ORIGIN_LOCAL, SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6 = 1, 2, 3
AF_INET, AF_INET6 = 2, 10


def cmsg(level, type_, data, length=None, pad=True):
    """One control message; `length` overrides cmsg_len (to lie), `pad` adds CMSG_ALIGN padding."""
    n = 16 + len(data) if length is None else length
    body = struct.pack("<QiI", n, level, type_) + data
    if pad:
        body += b"\0" * (-len(body) % 8)
    return body


def ext_err(errno, origin, info=0, type_=0, code=0):
    return struct.pack("<IBBBBII", errno, origin, type_, code, 0, info, 0)


def sockaddr_in(port, ip):
    return struct.pack("<H", AF_INET) + struct.pack(">H", port) + bytes(ip) + b"\0" * 8


def sockaddr_in6(port, ip, scope=0, flowinfo=0):
    return struct.pack("<H", AF_INET6) + struct.pack(">HI", port, flowinfo) + bytes(ip) + struct.pack("<I", scope)


def write(target, seeds):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.startswith("seed-"):
            os.remove(os.path.join(directory, name))
    for name, data in seeds.items():
        with open(os.path.join(directory, "seed-" + name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())


write("address", {
    "v4": "127.0.0.1:9000", "v4-any": "0.0.0.0:0", "v4-max-port": "255.255.255.255:65535",
    "v6": "[::1]:53", "v6-full": "[2001:db8:0:0:1:0:0:1]:443", "v6-mapped": "[::ffff:10.0.0.1]:80",
    "v6-scope-name": "[fe80::1%lo]:5353", "v6-scope-index": "[fe80::1%1]:5353",
    "v6-scope-unknown": "[fe80::1%4294967295]:1", "v6-scope-too-long": "[fe80::1%0123456789abcdef]:1",
    "no-port": "127.0.0.1", "empty-port": "127.0.0.1:", "port-too-big": "1.2.3.4:65536",
    "port-sign": "1.2.3.4:+1", "name": "localhost:80", "v6-no-brackets": "::1:53",
    "brackets-v4": "[1.2.3.4]:5", "unclosed": "[::1:5", "nul-inside": "1.2.3.4\0junk:5",
    "nul-scope": "[fe80::1%lo\0x]:5", "empty": "",
})

def timespec(sec, nsec):
    return struct.pack("<qq", sec, nsec)


drops = struct.pack("<I", 123456)
SOL_UDP, UDP_GRO, SO_TIMESTAMPING, IP_TOS, IPV6_PKTINFO, IPV6_TCLASS = 17, 104, 37, 1, 50, 67


write("cmsg", {
    # raw mode (first byte even)
    "raw-rxq": b"\0" + cmsg(SOL_SOCKET, SO_RXQ_OVFL, drops),
    "raw-rxq-unpadded": b"\0" + cmsg(SOL_SOCKET, SO_RXQ_OVFL, drops, pad=False),
    "raw-after-others": b"\0" + cmsg(SOL_SOCKET, SO_TIMESTAMPNS, timespec(1700000000, 999999999)) +
                        cmsg(IPPROTO_IP, IP_PKTINFO, b"\2" * 12) + cmsg(SOL_SOCKET, SO_RXQ_OVFL, drops),
    "raw-short-data": b"\0" + cmsg(SOL_SOCKET, SO_RXQ_OVFL, b"\1\2", length=18),
    "raw-len-too-big": b"\0" + cmsg(SOL_SOCKET, SO_RXQ_OVFL, drops, length=4096),
    "raw-len-zero": b"\0" + cmsg(SOL_SOCKET, SO_RXQ_OVFL, drops, length=0),
    "raw-truncated-header": b"\0" + cmsg(SOL_SOCKET, SO_RXQ_OVFL, drops)[:12],
    "raw-metadata": b"\0" + cmsg(SOL_UDP, UDP_GRO, struct.pack("<i", 1400)) +
                    cmsg(IPPROTO_IP, IP_PKTINFO, struct.pack("<i4s4s", 2, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 2]))) +
                    cmsg(IPPROTO_IP, IP_TOS, b"\xb8") + cmsg(SOL_SOCKET, SO_TIMESTAMPNS, timespec(1700000000, 5)),
    "raw-v6-metadata": b"\0" + cmsg(IPPROTO_IPV6, IPV6_PKTINFO, bytes([0xfe, 0x80] + [0] * 13 + [1]) + struct.pack("<I", 3)) +
                       cmsg(IPPROTO_IPV6, IPV6_TCLASS, struct.pack("<i", 0x2e)) +
                       cmsg(SOL_SOCKET, SO_TIMESTAMPING, timespec(1, 2) + timespec(0, 0) + timespec(3, 4)),
    "raw-gro-bad-sizes": b"\0" + cmsg(SOL_UDP, UDP_GRO, struct.pack("<i", 0)) + cmsg(SOL_UDP, UDP_GRO, struct.pack("<i", 70000)) +
                         cmsg(SOL_UDP, UDP_GRO, b"\1\2"),
    "raw-short-pktinfo": b"\0" + cmsg(IPPROTO_IP, IP_PKTINFO, b"\1" * 11) + cmsg(IPPROTO_IPV6, IPV6_PKTINFO, b"\1" * 19) +
                         cmsg(IPPROTO_IP, IP_TOS, b""),
    # built mode (first byte odd): records of (kind, length % 64, data); kinds as in cmsg_fuzz.cpp
    "built-rxq": b"\1" + b"\0\4" + drops,
    "built-mixed": b"\1" + b"\1\20" + timespec(5, 6) + b"\4\14" + b"\2" * 12 + b"\0\4" + drops + b"\3\4\xdc\5\0\0",
    "built-two-rxq": b"\1" + b"\0\4" + drops + b"\x09\1\100" + b"\0\4" + struct.pack("<I", 7),
    "built-all": b"\1" + b"\2\60" + b"\0" * 48 + b"\5\24" + b"\3" * 20 + b"\6\1\x10" + b"\7\4\x20\0\0\0" +
                 b"\x08\4\0\0\0\0" + b"\x0a\4\x40\0\0\0" + b"\x0b\0",
})

# The reproducers of bugs 2 and 3 (docs/fuzzing.md), fixed, so replayed with the corpus: a second
# header, at the very end, whose cmsg_len wraps `offset + cmsg_len` around size_t; and a tv_sec
# whose nanoseconds overflow int64_t (undefined behaviour, which UBSan stops on).
with open(os.path.join(HERE, "corpus", "cmsg", "cmsg-len-wraps"), "wb") as f:
    f.write(b"\0" + cmsg(IPPROTO_IP, IP_TTL, b"") + struct.pack("<QiI", 2**64 - 8, SOL_SOCKET, SO_RXQ_OVFL))
with open(os.path.join(HERE, "corpus", "cmsg", "cmsg-timestamp-overflow"), "wb") as f:
    f.write(b"\0" + cmsg(SOL_SOCKET, SO_TIMESTAMPNS, timespec(2**62, 0)))

peer4 = sockaddr_in(4000, [127, 0, 0, 1])
peer6 = sockaddr_in6(4000, [0] * 15 + [1])
peer6_scoped = sockaddr_in6(53, [0xfe, 0x80] + [0] * 13 + [1], scope=1, flowinfo=0x12345)


def errq(name, control):
    return bytes([len(name)]) + name + control


write("error_queue", {
    "refused-v4": errq(peer4, cmsg(IPPROTO_IP, IP_RECVERR, ext_err(111, SO_EE_ORIGIN_ICMP))),
    "unreachable-v6": errq(peer6, cmsg(IPPROTO_IPV6, IPV6_RECVERR, ext_err(113, SO_EE_ORIGIN_ICMP6))),
    "path-mtu-local": errq(peer6_scoped, cmsg(IPPROTO_IPV6, IPV6_RECVERR, ext_err(90, SO_EE_ORIGIN_LOCAL, 1280))),
    "after-other": errq(peer4, cmsg(IPPROTO_IP, IP_TTL, b"\100\0\0\0") +
                        cmsg(IPPROTO_IP, IP_RECVERR, ext_err(101, SO_EE_ORIGIN_ICMP))),
    "short-ee": errq(peer4, cmsg(IPPROTO_IP, IP_RECVERR, ext_err(111, SO_EE_ORIGIN_ICMP)[:8])),
    "len-too-big": errq(peer4, cmsg(IPPROTO_IP, IP_RECVERR, ext_err(111, 2), length=1000)),
    "name-short": errq(peer4[:8], cmsg(IPPROTO_IP, IP_RECVERR, ext_err(111, 2))),
    "name-foreign": errq(b"\1\0/tmp/x", cmsg(IPPROTO_IP, IP_RECVERR, ext_err(111, 2))),
    "no-name": errq(b"", cmsg(IPPROTO_IP, IP_RECVERR, ext_err(13, 0))),
})


def sockperf(seq, flags, size, length=None):
    header = struct.pack(">QHI", seq, flags, size if length is None else length)
    return header + b"\xab" * (size - 14)


write("sockperf_header", {
    "ping": sockperf(1, 3, 64), "warmup": sockperf(2, 7, 14), "not-client": sockperf(3, 2, 100),
    "all-flags": sockperf(2**64 - 1, 0xffff, 20), "length-lies": sockperf(4, 3, 64, length=65),
    "too-short": sockperf(5, 3, 14)[:13], "empty": b"",
})


def ping(token, seq, ns, size=32, magic=b"SLVP", version=1, reserved=b"\0\0\0"):
    header = magic + bytes([version]) + reserved + struct.pack("<QQQ", token, seq, ns)
    return header + b"\x5a" * (size - 32)


write("ping_payload", {
    "reply": ping(0x1122334455667788, 7, 123456789, 64), "minimal": ping(1, 0, 0),
    "max-fields": ping(2**64 - 1, 2**64 - 1, 2**64 - 1), "reserved-set": ping(1, 2, 3, reserved=b"\1\2\3"),
    "other-version": ping(1, 2, 3, version=2), "other-magic": ping(1, 2, 3, magic=b"SLVQ"),
    "too-short": ping(1, 2, 3)[:31],
})

write("options", {
    "cpus-one": "\0" "0", "cpus-list": "\0" "0,1", "cpus-range": "\0" "0-1", "cpus-mixed": "\0" "1,0-1,0",
    "cpus-backwards": "\0" "1-0", "cpus-trailing-comma": "\0" "0,", "cpus-too-many-digits": "\0" "00000",
    "cpus-too-big": "\0" "9999", "cpus-negative": "\0" "-1", "cpus-empty": "\0",
    "backend-auto": "\1auto", "backend-uring": "\1uring", "backend-io_uring": "\1io_uring",
    "backend-epoll": "\1epoll", "backend-bad": "\1EPOLL",
    "rate-max": "\2max", "rate-one": "\2" "1", "rate-limit": "\2" "1000000000", "rate-over": "\2" "1000000001",
    "rate-zero": "\2" "0", "rate-negative": "\2-5", "rate-huge": "\2" "99999999999999999999999",
    "rate-leading-zeros": "\2" "0007",
    "size-range": "\3" "64-1400", "size-range-equal": "\3" "0-0", "size-range-max": "\3" "65527-65527",
    "size-range-over": "\3" "1-65528", "size-range-backwards": "\3" "10-5", "size-range-no-dash": "\3" "64",
    "size-range-negative": "\3" "-1-5",
})


def argv(*words):
    return "\0".join(words)


write("cli", {
    "sink": argv("sink", "--bind", "127.0.0.1:9000"),
    "sink-all": argv("sink", "--bind", "[::1]:9000", "--backend", "epoll", "--workers", "2", "--cpus", "0-1",
                     "--duration", "1.5", "--idle-exit", "2", "--json", "--batch", "32", "--buffers", "256",
                     "--buffer-size", "4096", "--rcvbuf", "1048576", "--sndbuf", "0", "--busy-poll",
                     "--busy-poll-idle", "0.5", "--metrics", "/tmp/m.prom"),
    "echo-sockperf": argv("echo", "--bind", "0.0.0.0:11111", "--sockperf"),
    "blast": argv("blast", "--to", "127.0.0.1:9000", "--size", "64", "--count", "1000", "--rate", "max",
                  "--flows", "4", "--no-gso", "--quiet", "--seed", "3", "--burst", "16"),
    "blast-range": argv("blast", "--to=[::1]:9", "--size-range", "64-1400", "--bind", "[::1]:0"),
    "impair": argv("impair", "--listen", "127.0.0.1:9001", "--to", "127.0.0.1:9000", "--loss", "0.1",
                   "--dup", "0.01", "--reorder", "0.2", "--delay", "5", "--jitter", "1", "--rate", "1000",
                   "--burst", "10", "--seed", "7", "--max-clients", "16", "--idle-timeout", "3", "--queue", "64"),
    "ping": argv("ping", "--to", "127.0.0.1:9000", "--rate", "2500.5", "--count", "10", "--size", "32",
                 "--linger", "1", "--hgrm", "/tmp/x.hgrm", "--bind", "127.0.0.1:0"),
    "merge": argv("merge", "a.json", "b.json", "--hgrm", "m.hgrm"),
    "merge-mix": argv("merge", "a.json", "b.json", "--mix", "--json"),
    "blast-start-at": argv("blast", "--to", "127.0.0.1:9000", "--count", "10", "--start-at", "2026-12-06T14:00:00.25+01:00",
                           "--label", "host-1"),
    "ping-start-at": argv("ping", "--to", "127.0.0.1:9000", "--count", "10", "--start-at", "1796565600.25"),
    "sink-label": argv("sink", "--bind", "127.0.0.1:0", "--label", "sink 1"),
    "caps": argv("caps", "--json"),
    "help": argv("--help"), "sub-help": argv("blast", "-h"),
    "no-subcommand": "", "unknown": argv("frobnicate"), "two-subcommands": argv("caps", "caps"),
    "missing-required": argv("blast"), "bad-address": argv("sink", "--bind", "local host:9"),
    "name-address": argv("ping", "--to", "localhost:9", "--bind", "[::1]:0", "--count", "1"),
    "bad-range": argv("sink", "--bind", "127.0.0.1:1", "--workers", "0"),
    "bad-rate": argv("ping", "--to", "127.0.0.1:1", "--rate", "nan"),
    "bad-backend": argv("echo", "--bind", "127.0.0.1:1", "--backend", "kqueue"),
    "missing-value": argv("sink", "--bind"), "empty-word": argv("sink", "", "--bind", "127.0.0.1:1"),
})


def recvmsg_out(namelen, controllen, payloadlen, flags=0):
    return struct.pack("<IIII", namelen, controllen, payloadlen, flags)


MSG_CTRUNC, MSG_TRUNC = 0x8, 0x20
name_room, control_room = 28, 64  # control room is twice the second byte
rooms = bytes([name_room, control_room // 2])
name6 = sockaddr_in6(9000, [0] * 15 + [1])
control = (cmsg(SOL_SOCKET, SO_RXQ_OVFL, drops) + cmsg(SOL_UDP, UDP_GRO, struct.pack("<i", 100))).ljust(control_room, b"\0")
write("recvmsg_result", {
    "v6-with-control": rooms + recvmsg_out(28, 40, 5) + name6 + control + b"hello",
    "v4-no-control": bytes([16, 0]) + recvmsg_out(16, 0, 3) + sockaddr_in(53, [10, 0, 0, 1]) + b"abc",
    "truncated": rooms + recvmsg_out(28, 40, 9000, MSG_TRUNC) + name6 + control + b"x" * 100,
    "payload-lies": rooms + recvmsg_out(28, 40, 4000) + name6 + control + b"x" * 10,
    "lengths-lie": rooms + recvmsg_out(0xffffffff, 0xffffffff, 0xffffffff, MSG_CTRUNC) + name6 + control,
    "empty-payload": rooms + recvmsg_out(28, 0, 0) + name6 + b"\0" * control_room,
    "shorter-than-rooms": rooms + recvmsg_out(28, 40, 0) + name6,
    "shorter-than-header": rooms + recvmsg_out(28, 40, 0)[:15],
})


# merge_input: `salvo merge`'s files, several per input separated by NUL bytes (merge_input_fuzz.cpp).
# Reports shaped as `salvo ping --json` writes them (session fields, run parameters, "ping"), earlier
# merges, and each field of what merge reads broken in the ways a hand edit or a foreign tool would.
HIGHEST_TRACKABLE, MAX_COUNT = 3600000000000, 10**15


def bucket_start(value):
    """LatencyHistogram::lowest_equivalent(index_of(value)): 2048 unit buckets, then 1024 per octave."""
    shift = max(0, value.bit_length() - 11)
    return (value >> shift) << shift


def histogram(samples, clamped=0):
    """The lossless histogram of {value_ns: count}."""
    buckets = {}
    for value, count in samples.items():
        buckets[bucket_start(value)] = buckets.get(bucket_start(value), 0) + count
    total = sum(samples.values())
    return {"unit": "ns", "significant_digits": 3, "highest_trackable": HIGHEST_TRACKABLE, "total": total,
            "clamped": clamped, "min": min(samples) if samples else 0, "max": max(samples) if samples else 0,
            "buckets": [[start, buckets[start]] for start in sorted(buckets)]}


def ping_object(sent, samples, clamped=0, duplicates=0, reordered=0, invalid=0, late=0, send_failed=0, refused=0):
    received = sum(samples.values())
    ordered = sorted(samples)
    return {"sent": sent, "received": received, "lost": sent - received, "duplicates": duplicates,
            "reordered": reordered, "invalid": invalid, "late": late, "send_failed": send_failed, "refused": refused,
            # derived from the histogram; merge recomputes it and does not read it
            "latency_ns": {"min": ordered[0] if ordered else 0, "p50": 0, "p90": 0, "p99": 0, "p99_9": 0,
                           "p99_99": 0, "max": ordered[-1] if ordered else 0, "mean": 0.0, "stddev": 0.0,
                           "clamped": clamped},
            "histogram": histogram(samples, clamped)}


def counters(received, sent):
    return {"received": received, "received_bytes": received * 64, "delivered": received, "sent": sent,
            "sent_bytes": sent * 64, "kernel_drops": 0, "tx_syscalls": sent, "eagain": 0,
            "rx_batch_sizes": [{"min": 1, "max": 1, "batches": received}, {"min": 2, "max": 3, "batches": 0},
                               {"min": 1024, "max": None, "batches": 0}]}


def ping_report(ping, to="127.0.0.1:9000", size=64, rate=1000.0):
    """A whole `salvo ping --json` line: the session report, the run parameters and "ping"."""
    c = counters(ping["received"], ping["sent"])
    return {"command": "ping", "backend": "io_uring", "backend_reason": "requested auto; io_uring available",
            "workers": 1, "elapsed_s": 1.0123, "interrupted": False, "received": ping["received"],
            "bytes": ping["received"] * 64, "delivered": ping["received"],
            "dropped": {"truncated": 0, "send_queue_full": 0, "send_error": 0}, "kernel_drops": 0,
            "sent": ping["sent"], "sent_bytes": ping["sent"] * 64, "cpu_user_s": 0.01, "cpu_system_s": 0.02,
            "counters": c, "per_worker": [c], "to": to, "bind": "0.0.0.0:40000", "size": size, "rate": rate,
            "requested_count": ping["sent"], "all_sent": True, "linger_s": 1.0, "ping": ping}


def merge_report(ping, names, **parameters):
    return dict({"command": "ping", "merged_from": names}, **parameters, ping=ping)


def text(report):
    return json.dumps(report, separators=(",", ":"))


def edit(report, path, value=None, delete=False):
    """A copy of `report` with the field at `path` (a list of keys and indices) replaced or deleted."""
    report = json.loads(json.dumps(report))
    parent = report
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return report


def files(*texts):
    return "\0".join(texts)


# A run of 1000 datagrams, 997 replies from 38 us up, with a tail (deterministic, no random module).
run_samples = {}
for i in range(997):
    value = 38000 + (i * 7919) % 20000 + (i % 97 == 0) * 900000
    run_samples[value] = run_samples.get(value, 0) + 1
run = ping_report(ping_object(1000, run_samples, duplicates=1, reordered=2))
run2 = ping_report(ping_object(500, {41000: 250, 45000: 240, 2000000: 10}, late=1), rate=2500.5)
all_lost = ping_report(ping_object(10, {}), size=32)
clamped = ping_report(ping_object(4, {1: 1, 2047: 1, HIGHEST_TRACKABLE: 2}, clamped=2))
octaves = ping_report(ping_object(9, {0: 1, 2047: 1, 2048: 1, 4095: 1, 4096: 1, 10**6: 1, 10**9: 1,
                                      HIGHEST_TRACKABLE - 1: 1, HIGHEST_TRACKABLE: 1}))
merged = merge_report(ping_object(1500, {41000: 500, 45000: 480, 2000000: 20}, late=2), ["a.json", "b.json"],
                      to="127.0.0.1:9000", size=64)
at_limit = {"command": "ping", "ping": ping_object(MAX_COUNT, {100: MAX_COUNT - 1, 200: 1})}
half_limit = {"command": "ping", "ping": ping_object(MAX_COUNT // 2 + 1, {})}
h = ["ping", "histogram"]


def instance(report, label, start, elapsed, load):
    """A report with where and when it ran (issue 22), as every --json report has them."""
    return dict(report, host="loadgen-" + label, label=label, start="", start_unix_s=start,
                end="", end_unix_s=start + elapsed, elapsed_s=elapsed, load=load)


blast_load = {"to": "10.0.0.7:9000", "size_min": 64, "size_max": 64, "rate": 10000, "burst": 100, "count": 0,
              "duration_s": 2.0, "flows": 1, "workers": 1, "gso": True, "zerocopy": False}


def blast_report(sent):
    c = counters(0, sent)
    return {"command": "blast", "backend": "epoll", "workers": 1, "elapsed_s": 2.0, "received": 0, "bytes": 0,
            "delivered": 0, "kernel_drops": 0, "sent": sent, "sent_bytes": sent * 64, "counters": c, "per_worker": [c],
            "to": "10.0.0.7:9000", "rate": 10000, "sources": ["0.0.0.0:40000"]}


blast_a = instance(blast_report(20000), "0", 1796565600.250102, 2.0001, blast_load)
blast_b = instance(blast_report(19998), "1", 1796565600.250871, 2.0002, blast_load)
sink = instance(dict(blast_report(0), command="sink", received=39990, bytes=39990 * 64, kernel_drops=8),
                "sink", 1796565598.0, 6.0, {"bind": "0.0.0.0:9000", "workers": 1, "gro": False})
blast_merged = {"command": "blast", "merged_from": ["a.json", "b.json"], "instances": [], "sent": 39998,
                "sent_bytes": 39998 * 64, "received": 0, "bytes": 0, "kernel_drops": 0, "sent_per_s": 19998.0,
                "received_per_s": 0.0, "start_unix_s": 1796565600.250102, "end_unix_s": 1796565602.251071,
                "load": blast_load}
timed_run = instance(run, "p0", 1796565600.25, 1.0, {"to": "127.0.0.1:9000", "size": 64, "rate": 1000.0})
b0, b1, b2 = run2["ping"]["histogram"]["buckets"]

write("merge_input", {
    # accepted, alone and together
    "ping": text(run), "all-lost": text(all_lost), "clamped": text(clamped), "octaves": text(octaves),
    "merge": text(merged), "merge-bare": text({"command": "ping", "ping": merged["ping"]}),
    "at-limit": text(at_limit), "two-runs": files(text(run), text(run2)),
    "run-and-merge": files(text(merged), text(run2), text(all_lost)),
    "four-files": files(text(run), text(run2), text(clamped), text(octaves)),
    "minus-zero": text(all_lost).replace('"duplicates":0', '"duplicates":-0'),
    "rate-integer": text(edit(run, ["rate"], 1000)), "bom": "\ufeff" + text(run2),
    "nesting-in-string": text(edit(run2, ["to"], "[" * 100 + '\\"{' * 10)),
    "nesting-in-ignored": text(edit(run2, ["counters"], json.loads("[" * 60 + "]" * 60))),
    # refused: the file
    "empty": "", "not-json": "this is not JSON {", "truncated": text(run2)[:200],
    "trailing-garbage": text(run2) + "x", "comment": "// a comment\n" + text(run2),
    "bad-utf8": text(run2).replace("127.0.0.1:9000", "127.0.0.1:9000\udcff").encode("utf-8", "surrogateescape"),
    "top-array": "[" + text(run2) + "]", "top-number": "1000", "top-string": '"ping"', "null": "null",
    "nested-too-deep": "[" * 65 + "]" * 65, "nested-in-ignored": text(edit(run2, ["counters"], json.loads("[" * 70 + "]" * 70))),
    "command-missing": text(edit(run2, ["command"], delete=True)), "command-number": text(edit(run2, ["command"], 1)),
    "command-blast": text(dict(edit(run2, ["command"], "blast"), rate="max", flows=1, gso=False)),
    "ping-missing": text(edit(run2, ["ping"], delete=True)), "ping-array": text(edit(run2, ["ping"], [1, 2])),
    # refused: the run parameters
    "to-number": text(edit(run2, ["to"], 9000)), "to-nested": text(edit(run2, ["to"], json.loads("[" * 60 + "]" * 60))),
    "size-string": text(edit(run2, ["size"], "64")), "size-small": text(edit(run2, ["size"], 31)),
    "size-large": text(edit(run2, ["size"], 65528)), "rate-zero": text(edit(run2, ["rate"], 0)),
    "rate-negative": text(edit(run2, ["rate"], -1.5)), "rate-string": text(edit(run2, ["rate"], "max")),
    # refused: the counts
    "sent-string": text(edit(run2, ["ping", "sent"], "500")), "sent-negative": text(edit(run2, ["ping", "sent"], -1)),
    "sent-fraction": text(edit(run2, ["ping", "sent"], 500.5)),
    "sent-exponent": text(run2).replace('"sent":500', '"sent":5e2'),
    "sent-2-64": text(run2).replace('"sent":500', '"sent":18446744073709551616'),
    "sent-over-limit": text(edit(at_limit, ["ping", "sent"], MAX_COUNT + 1)),
    "received-missing": text(edit(run2, ["ping", "received"], delete=True)),
    "received-over-sent": text(edit(edit(run2, ["ping", "sent"], 10), ["ping", "lost"], 0)),
    "lost-wrong": text(edit(run2, ["ping", "lost"], 1)), "lost-null": text(edit(run2, ["ping", "lost"], None)),
    "refused-bool": text(edit(run2, ["ping", "refused"], True)),
    "sum-over-limit": files(text(half_limit), text(half_limit)),
    "good-then-bad": files(text(run), text(edit(run2, h + ["unit"], 1000))),
    # refused: the histogram
    "histogram-missing": text(edit(run2, h, delete=True)), "histogram-string": text(edit(run2, h, "ns")),
    "unit-number": text(edit(run2, h + ["unit"], 1000)),  # issue 21: was an uncaught type_error
    "unit-us": text(edit(run2, h + ["unit"], "us")), "unit-missing": text(edit(run2, h + ["unit"], delete=True)),
    "unit-null": text(edit(run2, h + ["unit"], None)), "unit-long": text(edit(run2, h + ["unit"], "n" * 100)),
    "digits-2": text(edit(run2, h + ["significant_digits"], 2)),
    "highest-other": text(edit(run2, h + ["highest_trackable"], 3600000000)),
    "total-mismatch": text(edit(run2, h + ["total"], 499)),
    "total-string": text(edit(run2, h + ["total"], "500")),
    "min-outside": text(edit(run2, h + ["min"], 1)), "max-over": text(edit(run2, h + ["max"], HIGHEST_TRACKABLE + 1)),
    "clamped-below-limit": text(edit(edit(run2, h + ["clamped"], 1), h + ["max"], 2000000)),
    "buckets-object": text(edit(run2, h + ["buckets"], {"41000": 250})),
    "bucket-short": text(edit(run2, h + ["buckets", 0], [b0[0]])),
    "bucket-long": text(edit(run2, h + ["buckets", 0], b0 + [0])),
    "bucket-string": text(edit(run2, h + ["buckets", 1], [str(b1[0]), b1[1]])),
    "bucket-not-start": text(edit(run2, h + ["buckets", 0], [b0[0] + 1, b0[1]])),
    "bucket-zero": text(edit(run2, h + ["buckets"], [[0, 0], b0, b1, b2])),
    "bucket-over": text(edit(run2, h + ["buckets", 2], [HIGHEST_TRACKABLE + 1, 10])),
    "bucket-count-over": text(edit(run2, h + ["buckets", 2], [b2[0], MAX_COUNT + 1])),
    "buckets-unsorted": text(edit(run2, h + ["buckets"], [b2, b1, b0])),
    "buckets-repeat": text(edit(run2, h + ["buckets"], [[b0[0], 125], [b0[0], 125], b1, b2])),
    # issue 22: blast and sink reports, where and when they ran, their loads, and merges of them
    "blast": text(blast_a), "sink": text(sink), "blast-sink": files(text(blast_a), text(blast_b), text(sink)),
    "blasts-other-load": files(text(blast_a), text(edit(blast_b, ["load", "rate"], 20000))),
    "blast-merge": text(blast_merged), "ping-blast": files(text(timed_run), text(blast_a)),
    "mixed-merge": text(dict(blast_merged, command="mixed")),
    "label-space": text(edit(blast_a, ["label"], "host 1")), "label-long": text(edit(blast_a, ["label"], "h" * 65)),
    "host-number": text(edit(blast_a, ["host"], 7)), "start-negative": text(edit(blast_a, ["start_unix_s"], -1)),
    "start-string": text(edit(timed_run, ["start_unix_s"], "2026-12-06T14:00:00Z")),
    "elapsed-zero": text(edit(blast_a, ["elapsed_s"], 0)), "elapsed-tiny": text(edit(blast_a, ["elapsed_s"], 1e-300)),
    "rate-huge": files(text(edit(blast_a, ["sent_per_s"], 9e14)), text(edit(blast_b, ["sent_per_s"], 9e14))),
    "load-array": text(edit(blast_a, ["load"], [1])), "load-nested": text(edit(blast_a, ["load", "rate"], {"pps": 1})),
    "load-wide": text(edit(blast_a, ["load"], {"k%d" % i: i for i in range(33)})),
    "sent-missing": text(edit(blast_a, ["sent"], delete=True)),
    "drops-string": text(edit(sink, ["kernel_drops"], "0")),
})
