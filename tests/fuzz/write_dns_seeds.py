#!/usr/bin/env python3
"""Writes the hand-made seeds of the dns_query fuzz target into corpus/dns_query/seed-*.

DNS queries built byte by byte: the valid kinds (A, AAAA, MX, EDNS with DO, options, compressed
names in the additional section) and, beside them, one datagram for each way a query can be
wrong (pointer loops and forward pointers, 255/256-byte names, 63/64-byte labels, a short header,
QR set, opcode 2, EDNS version 1, two OPTs, trailing bytes ...). Rewrites only seed-* files.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
A, NS, MX, TXT, AAAA, SRV, OPT, ANY = 1, 2, 15, 16, 28, 33, 41, 255


def name(dotted):
    out = b""
    for label in dotted.split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def header(id_=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack(">HHHHHH", id_, flags, qd, an, ns, ar)


def question(dotted="www.example.com", qtype=A):
    return name(dotted) + struct.pack(">HH", qtype, 1)


def opt(size=1232, version=0, do=False, rdata=b"", ext=0, owner=b"\0"):
    return owner + struct.pack(">HHBBHH", OPT, size, ext, version, 0x8000 if do else 0, len(rdata)) + rdata


def rr(owner, rtype, rdata):
    return owner + struct.pack(">HHIH", rtype, 1, 3600, len(rdata)) + rdata


def query(dotted="www.example.com", qtype=A, flags=0x0100, extra=b"", ar=0):
    return header(flags=flags, ar=ar) + question(dotted, qtype) + extra


Q = question()  # 21 bytes at offset 12; "example.com" at 16, the root byte at 28
LONGEST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 255 bytes on the wire

seeds = {
    "a": query(),
    "aaaa": query(qtype=AAAA),
    "mx": query("example.com", MX),
    "any": query("example.com", ANY, flags=0),
    "srv": query("_sip._udp.example.com", SRV),
    "txt-mixed-case": query("ExAmPlE.CoM", TXT),
    "root-ns": query("", NS),
    "edns-do": query(extra=opt(do=True), ar=1),
    "edns-4096-cd": query(flags=0x0110, extra=opt(size=4096), ar=1),
    "edns-small-size": query(extra=opt(size=100), ar=1),
    "edns-cookie": query(extra=opt(rdata=bytes.fromhex("000a0008") + bytes(range(8))), ar=1),
    "edns-version-1": query(extra=opt(version=1, do=True), ar=1),
    "two-opts": query(extra=opt() + opt(), ar=2),
    "opt-owner-not-root": query(extra=opt(owner=b"\xc0\x0c"), ar=1),
    "opt-owner-pointer-to-root": query(extra=opt(owner=b"\xc0\x1c"), ar=1),
    "compressed-additional": query(extra=rr(b"\x03key\xc0\x10", 250, b"\x01\x02\x03") + opt(), ar=2),
    "pointer-chain": query(extra=rr(b"\x04mail\xc0\x10", A, b"\x01\x02\x03\x04")
                           + rr(b"\x01x\xc0\x21", A, b"\x05\x06\x07\x08"), ar=2),
    "pointer-loop-self": query(extra=rr(b"\xc0\x21", A, b"\x01\x02\x03\x04"), ar=1),
    "pointer-loop-two": query(extra=rr(b"\x01x\xc0\x33", A, b"\x01\x02\x03\x04")
                              + rr(b"\xc0\x21", A, b"\x01\x02\x03\x04"), ar=2),
    "forward-pointer": query(extra=rr(b"\xc0\x23", A, b"\x01\x02\x03\x04"), ar=1),
    "pointer-outside": query(extra=rr(b"\xff\xff", A, b"\x01\x02\x03\x04"), ar=1),
    "question-pointer-into-header": header() + b"\xc0\x04" + struct.pack(">HH", A, 1),
    "name-255": query(LONGEST),
    "name-256": query(LONGEST + "d"),
    "name-too-long-via-pointer": query(".".join(["a" * 63, "b" * 63, "c" * 61, "d" * 8]),
                                       extra=rr(b"\x3f" + b"e" * 63 + b"\xc0\x0c", A, b"\x01\x02\x03\x04"), ar=1),
    "label-63": query("a" * 63 + ".example"),
    "label-64": query("a" * 64 + ".example"),
    "label-type-01": header() + b"\x03www\x41x\x00" + struct.pack(">HH", A, 1),
    "label-type-10": header() + b"\x03www\x81x\x00" + struct.pack(">HH", A, 1),
    "many-labels": query("a." * 100 + "example"),
    "empty": b"",
    "truncated-header": header()[:11],
    "header-only": header(qd=0),
    "qr-set": query(flags=0x8100),
    "opcode-2": query(flags=0x1100, extra=opt(), ar=1),
    "opcode-5-empty": header(flags=0x2800, qd=0),
    "qdcount-2": header(qd=2) + Q + question("mail.example.com"),
    "ancount-1": header(an=1) + Q + rr(b"\xc0\x0c", A, b"\xc0\x00\x02\x01"),
    "nscount-1": header(ns=1) + Q + rr(b"\xc0\x10", NS, name("ns1.example.com")),
    "truncated-question": query()[:25],
    "truncated-type": query()[:31],
    "truncated-opt-rdata": query(extra=opt(rdata=b"\x00\x0a\x00\x08\x01\x02"), ar=1)[:-2],
    "arcount-2-one-record": query(extra=opt(), ar=2),
    "trailing-bytes": query(extra=b"\x00\x00"),
    "trailing-after-opt": query(extra=opt(do=True) + b"xy", ar=1),
}

directory = os.path.join(HERE, "corpus", "dns_query")
os.makedirs(directory, exist_ok=True)
for old in os.listdir(directory):
    if old.startswith("seed-"):
        os.remove(os.path.join(directory, old))
for seed_name, data in seeds.items():
    with open(os.path.join(directory, "seed-" + seed_name), "wb") as f:
        f.write(data)
