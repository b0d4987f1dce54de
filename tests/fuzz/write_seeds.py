#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets into corpus/<target>/seed-*.

Valid inputs of each format and the edge cases next to them, so that a replay exercises every
branch from the start and a long run starts from known shapes. Run from anywhere; rewrites only
seed-* files (minimized inputs from long runs sit beside them under libFuzzer's hash names).
Layouts follow x86-64 Linux: struct cmsghdr is 16 bytes (size_t cmsg_len, int level, int type).
"""
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

# Not in the replayed corpus while parse_control reads past the area on it (docs/fuzzing.md):
# a second header, at the very end, whose cmsg_len wraps `offset + cmsg_len` around size_t.
with open(os.path.join(HERE, "findings", "cmsg-len-wraps"), "wb") as f:
    f.write(b"\0" + cmsg(IPPROTO_IP, IP_TTL, b"") + struct.pack("<QiI", 2**64 - 8, SOL_SOCKET, SO_RXQ_OVFL))

# Not in the replayed corpus while parse_control computes tv_sec * 10^9 in int64_t without a bound
# (signed overflow, undefined behaviour, which UBSan stops on).
with open(os.path.join(HERE, "findings", "cmsg-timestamp-overflow"), "wb") as f:
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
