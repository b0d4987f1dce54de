// write_response and write_error_response: exact bytes (compared with what NSD 4.6 sends for the
// same zone and question), compression offsets, truncation, the OPT record, and a round trip
// through a small decoder of our own.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dns_query.hpp"
#include "examples/dns_test_names.hpp"
#include "dns_response.hpp"

namespace dns {
namespace {

using test::name_of;

using Bytes = std::vector<std::uint8_t>;

Bytes from_hex(std::string_view hex) {
  Bytes b;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) b.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return b;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (std::uint8_t c : bytes) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

std::uint16_t get16(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}

std::uint32_t get32(std::span<const std::uint8_t> b, std::size_t at) {
  return (std::uint32_t{get16(b, at)} << 16) | get16(b, at + 2);
}

Bytes wire_of(std::string_view dotted) {
  const Name n = name_of(dotted);
  return Bytes(n.wire().begin(), n.wire().end());
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes all;
  for (const Bytes& p : parts) all.insert(all.end(), p.begin(), p.end());
  return all;
}

Record rr(std::string_view owner, std::uint16_t rtype, Bytes rdata, std::uint32_t ttl = 3600) {
  Record r;
  r.owner = name_of(owner);
  r.type = rtype;
  r.ttl = ttl;
  r.rdata = std::move(rdata);
  return r;
}

Bytes soa_rdata(std::string_view mname, std::string_view rname) {
  Bytes numbers;
  for (std::uint32_t v : {2026120601u, 7200u, 3600u, 1209600u, 300u}) {
    put16(numbers, static_cast<std::uint16_t>(v >> 16));
    put16(numbers, static_cast<std::uint16_t>(v));
  }
  return cat({wire_of(mname), wire_of(rname), numbers});
}

Bytes mx_rdata(std::uint16_t preference, std::string_view exchange) {
  Bytes b;
  put16(b, preference);
  return cat({b, wire_of(exchange)});
}

Bytes srv_rdata(std::string_view target) { return cat({{0, 10, 0, 60, 0x13, 0xc4}, wire_of(target)}); }

// A query datagram kept alive beside its parse (question_wire points into it).
struct QueryFixture {
  Bytes datagram;
  ParsedQuery parsed;

  QueryFixture(std::uint16_t id, std::string_view qname, std::uint16_t qtype, bool edns = false,
               std::uint16_t udp_size = 1232, bool dnssec_ok = false, std::uint8_t version = 0) {
    put16(datagram, id);
    put16(datagram, 0x0100);
    for (std::uint16_t v : {1, 0, 0, edns ? 1 : 0}) put16(datagram, static_cast<std::uint16_t>(v));
    const Bytes name = wire_of(qname);
    datagram.insert(datagram.end(), name.begin(), name.end());
    put16(datagram, qtype);
    put16(datagram, class_in);
    if (edns) {
      datagram.push_back(0);
      put16(datagram, type::OPT);
      put16(datagram, udp_size);
      put16(datagram, version);
      put16(datagram, dnssec_ok ? 0x8000 : 0);
      put16(datagram, 0);
    }
    parsed = parse_query(datagram);
  }
  const Query& query() const { return parsed.query; }
};

Answer answer_of(const std::vector<Record>& an, const std::vector<Record>& ns = {}, const std::vector<Record>& ar = {}) {
  Answer a;
  a.authoritative = true;
  for (const Record& r : an) a.answer.push_back(&r);
  for (const Record& r : ns) a.authority.push_back(&r);
  for (const Record& r : ar) a.additional.push_back(&r);
  return a;
}

struct Written {
  Bytes bytes;
  bool truncated = false;
};

Written write(const Query& query, const Answer& answer, const ResponseLimits& limits = {}) {
  Bytes out(65536, 0xaa);
  const WrittenResponse w = write_response(query, answer, limits, out);
  out.resize(w.size);
  return {out, w.truncated};
}

// The test's own decoder: a response's header, question and records, names decompressed and the
// names in the rdata of the RFC 1035 types too, so the result compares with the zone's records.
struct Decoded {
  std::uint16_t id = 0, flags = 0, qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
  Name qname;
  std::uint16_t qtype = 0, qclass = 0;
  std::vector<Record> records;  // all sections in order
  std::size_t end = 0;
};

Name decode_name(std::span<const std::uint8_t> m, std::size_t& at) {
  Name n;
  std::size_t end = 0;
  EXPECT_EQ(read_name(m, at, n, end), QueryError::none) << "at " << at;
  at = end;
  return n;
}

void append(Bytes& b, const Name& n) { b.insert(b.end(), n.wire().begin(), n.wire().end()); }

Decoded decode(std::span<const std::uint8_t> m) {
  Decoded d;
  if (m.size() < 12) {
    ADD_FAILURE() << "short response";
    return d;
  }
  d.id = get16(m, 0);
  d.flags = get16(m, 2);
  d.qdcount = get16(m, 4);
  d.ancount = get16(m, 6);
  d.nscount = get16(m, 8);
  d.arcount = get16(m, 10);
  std::size_t at = 12;
  if (d.qdcount == 1) {
    d.qname = decode_name(m, at);
    d.qtype = get16(m, at);
    d.qclass = get16(m, at + 2);
    at += 4;
  }
  for (unsigned i = 0; i < unsigned{d.ancount} + d.nscount + d.arcount; ++i) {
    Record r;
    r.owner = decode_name(m, at);
    r.type = get16(m, at);
    r.rclass = get16(m, at + 2);
    r.ttl = get32(m, at + 4);
    const std::uint16_t rdlength = get16(m, at + 8);
    at += 10;
    const std::size_t rdata_end = at + rdlength;
    EXPECT_LE(rdata_end, m.size());
    switch (r.type) {
      case type::NS:
      case type::CNAME:
      case type::PTR:
        append(r.rdata, decode_name(m, at));
        break;
      case type::MX:
        r.rdata.assign(m.begin() + static_cast<std::ptrdiff_t>(at), m.begin() + static_cast<std::ptrdiff_t>(at + 2));
        at += 2;
        append(r.rdata, decode_name(m, at));
        break;
      case type::SOA:
        append(r.rdata, decode_name(m, at));
        append(r.rdata, decode_name(m, at));
        r.rdata.insert(r.rdata.end(), m.begin() + static_cast<std::ptrdiff_t>(at), m.begin() + static_cast<std::ptrdiff_t>(at + 20));
        at += 20;
        break;
      default:
        r.rdata.assign(m.begin() + static_cast<std::ptrdiff_t>(at), m.begin() + static_cast<std::ptrdiff_t>(rdata_end));
        at = rdata_end;
        break;
    }
    EXPECT_EQ(at, rdata_end) << "record " << i << ": rdlength does not match its rdata";
    at = rdata_end;
    d.records.push_back(r);
  }
  d.end = at;
  return d;
}

// Names compare ignoring case; rdata names were decoded the same, so lowercase both sides.
Bytes lowered(const Bytes& b) {
  Bytes l = b;
  for (std::uint8_t& c : l) c = lower_ascii(c);
  return l;
}

void expect_same_records(const std::vector<Record>& got, const std::vector<const Record*>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(got[i].owner.equals_ignoring_case(want[i]->owner)) << i << ": " << got[i].owner.to_text();
    EXPECT_EQ(got[i].type, want[i]->type) << i;
    EXPECT_EQ(got[i].rclass, want[i]->rclass) << i;
    EXPECT_EQ(got[i].ttl, want[i]->ttl) << i;
    // Only letters in names differ in case here; other rdata is compared exactly.
    if (got[i].type == type::TXT || got[i].type == type::A || got[i].type == type::AAAA) {
      EXPECT_EQ(got[i].rdata, want[i]->rdata) << i;
    } else {
      EXPECT_EQ(lowered(got[i].rdata), lowered(want[i]->rdata)) << i;
    }
  }
}

// The records of NSD's answer to "www.example.com A" from the test zone (CNAME followed in the
// zone, apex NS in the authority, in-zone glue in the additional section).
struct WwwAnswer {
  std::vector<Record> an{rr("www.example.com", type::CNAME, wire_of("web.example.com")),
                         rr("web.example.com", type::A, {192, 0, 2, 80}),
                         rr("web.example.com", type::A, {192, 0, 2, 81})};
  std::vector<Record> ns{rr("example.com", type::NS, wire_of("ns1.example.com")),
                         rr("example.com", type::NS, wire_of("ns2.example.net"))};
  std::vector<Record> ar{rr("ns1.example.com", type::A, {192, 0, 2, 53})};
};

// NSD 4.6.1's reply to id 0x1234, RD, "www.example.com A" (captured with a python3 socket).
constexpr std::string_view nsd_www_reply =
    "12348500000100030002000103777777076578616d706c6503636f6d0000010001c00c0005000100000e10000603776562c010c02d"
    "0001000100000e100004c0000250c02d0001000100000e100004c0000251c0100002000100000e100006036e7331c010c010000200"
    "0100000e100011036e7332076578616d706c65036e657400c05f0001000100000e100004c0000235";

TEST(DnsResponseSizeLimit, ClassicEdnsAndCaps) {
  const ResponseLimits limits;  // 1232 / 1232
  EXPECT_EQ(response_size_limit(QueryFixture(1, "a", type::A).query(), limits), 512u);
  EXPECT_EQ(response_size_limit(QueryFixture(1, "a", type::A, true, 100).query(), limits), 512u);
  EXPECT_EQ(response_size_limit(QueryFixture(1, "a", type::A, true, 1000).query(), limits), 1000u);
  EXPECT_EQ(response_size_limit(QueryFixture(1, "a", type::A, true, 4096).query(), limits), 1232u);
  ResponseLimits big;
  big.max_udp_payload = 4096;
  EXPECT_EQ(response_size_limit(QueryFixture(1, "a", type::A, true, 65535).query(), big), 4096u);
  ResponseLimits tiny;
  tiny.max_udp_payload = 300;  // a cap below 512 leaves the classic size
  EXPECT_EQ(response_size_limit(QueryFixture(1, "a", type::A, true, 4096).query(), tiny), 512u);
}

TEST(DnsWriteResponse, MatchesNsdByteForByte) {
  const QueryFixture q(0x1234, "www.example.com", type::A);
  ASSERT_EQ(q.parsed.error, QueryError::none);
  const WwwAnswer records;
  const Written w = write(q.query(), answer_of(records.an, records.ns, records.ar));
  EXPECT_FALSE(w.truncated);
  EXPECT_EQ(to_hex(w.bytes), nsd_www_reply);
}

TEST(DnsWriteResponse, MatchesNsdWithEdnsAndDo) {
  // NSD echoes DO (RFC 3225 3) and advertises 1232; the OPT is the last additional record.
  const QueryFixture q(0x1234, "www.example.com", type::A, true, 4096, true);
  const WwwAnswer records;
  const Written w = write(q.query(), answer_of(records.an, records.ns, records.ar));
  std::string want(nsd_www_reply);
  want.replace(20, 4, "0002");  // ARCOUNT 2
  want += "00002904d0000080000000";
  EXPECT_EQ(to_hex(w.bytes), want);
  // Without DO, the OPT's flags are clear.
  const QueryFixture plain(0x1234, "www.example.com", type::A, true, 4096, false);
  const Written w2 = write(plain.query(), answer_of(records.an, records.ns, records.ar));
  EXPECT_EQ(to_hex(w2.bytes).substr(w2.bytes.size() * 2 - 22), "00002904d0000000000000");
}

TEST(DnsWriteResponse, OwnerEqualToTheQuestionPointsAtItAndShowsItsCase) {
  const QueryFixture q(7, "WwW.ExAmple.COM", type::A);
  const std::vector<Record> an{rr("www.example.com", type::A, {192, 0, 2, 1}),
                               rr("EXAMPLE.com", type::A, {192, 0, 2, 2}),
                               rr("mail.example.COM", type::A, {192, 0, 2, 3})};
  const Written w = write(q.query(), answer_of(an));
  // Header 12, question 17 + 4: the first record starts at 33.
  ASSERT_EQ(w.bytes.size(), 33u + 16 + 16 + (5 + 2 + 10 + 4));
  EXPECT_EQ(to_hex(std::span(w.bytes).subspan(33, 2)), "c00c");  // www.example.com -> 12
  EXPECT_EQ(to_hex(std::span(w.bytes).subspan(49, 2)), "c010");  // example.com -> 16
  EXPECT_EQ(to_hex(std::span(w.bytes).subspan(65, 7)), "046d61696cc010");  // "mail" + pointer -> 16
  const Decoded d = decode(w.bytes);
  EXPECT_EQ(d.records[0].owner, name_of("WwW.ExAmple.COM"));  // the client sees the question's case
  EXPECT_EQ(d.records[1].owner, name_of("ExAmple.COM"));
  EXPECT_EQ(d.records[2].owner, name_of("mail.ExAmple.COM"));
}

TEST(DnsWriteResponse, RdataNamesCompressedByType) {
  const QueryFixture q(7, "example.com", type::ANY);  // name at 12; header and question take 29
  const std::vector<Record> an{
      rr("example.com", type::SOA, soa_rdata("ns1.example.com", "hostmaster.example.com")),  // at 29
      rr("example.com", type::MX, mx_rdata(10, "mail.example.com")),                         // at 80
      rr("example.com", type::SRV, srv_rdata("sip.example.com")),                            // at 101
      rr("example.com", type::TXT, {3, 'a', 'b', 'c'}),                                      // at 136
      rr("ptr.example.com", type::PTR, wire_of("sip.example.com")),                          // at 152
  };
  const Written w = write(q.query(), answer_of(an));
  const std::span<const std::uint8_t> b(w.bytes);
  // SOA: owner pointer, fixed part, rdlength at 39; MNAME "ns1" + pointer at 41, RNAME
  // "hostmaster" + pointer at 47, then the 20 numbers: 6 + 13 + 20 = 39.
  EXPECT_EQ(to_hex(b.subspan(29, 2)), "c00c");
  EXPECT_EQ(get16(b, 39), 39);
  EXPECT_EQ(to_hex(b.subspan(41, 6)), "036e7331c00c");
  EXPECT_EQ(to_hex(b.subspan(47, 13)), "0a686f73746d6173746572c00c");
  EXPECT_EQ(get32(b, 60), 2026120601u);
  // MX: preference, then "mail" + pointer: rdlength 2 + 7.
  EXPECT_EQ(get16(b, 80 + 10), 9);
  EXPECT_EQ(to_hex(b.subspan(92, 9)), "000a046d61696cc00c");
  // SRV: the target stays uncompressed (RFC 2782), rdlength 6 + 17.
  EXPECT_EQ(get16(b, 101 + 10), 23);
  EXPECT_EQ(to_hex(b.subspan(113 + 6, 17)), "03736970076578616d706c6503636f6d00");
  // TXT verbatim; PTR: its owner "ptr" + pointer, its target "sip" + a pointer to example.com at
  // 12, not into the SRV's rdata (names there are not remembered).
  EXPECT_EQ(get16(b, 136 + 10), 4);
  EXPECT_EQ(to_hex(b.subspan(152, 6)), "03707472c00c");
  EXPECT_EQ(get16(b, 158 + 8), 6);
  EXPECT_EQ(to_hex(b.subspan(168, 6)), "03736970c00c");
  ASSERT_EQ(b.size(), 174u);
  const Decoded d = decode(b);
  EXPECT_EQ(d.end, b.size());
  expect_same_records(d.records, answer_of(an).answer);
}

TEST(DnsWriteResponse, MalformedRdataNamesAreCopied) {
  // A CNAME whose rdata is not one whole name (a zone bug) goes out as it is, uncompressed.
  const QueryFixture q(7, "example.com", type::CNAME);
  const std::vector<Record> an{rr("example.com", type::CNAME, {3, 'c', 'o', 'm', 0, 9}),
                               rr("example.com", type::MX, {0, 1})};
  const Written w = write(q.query(), answer_of(an));
  const std::span<const std::uint8_t> b(w.bytes);
  EXPECT_EQ(get16(b, 29 + 10), 6);
  EXPECT_EQ(to_hex(b.subspan(41, 6)), "03636f6d0009");
  EXPECT_EQ(get16(b, 47 + 10), 2);
  EXPECT_EQ(b.size(), 47u + 12 + 2);
}

TEST(DnsWriteResponse, HeaderFlagsAndRcode) {
  QueryFixture q(0xabcd, "nope.example.com", type::A);
  Answer a = answer_of({});
  a.rcode = Rcode::nxdomain;
  Written w = write(q.query(), a);
  EXPECT_EQ(to_hex(std::span(w.bytes).first(12)), "abcd85030001000000000000");
  // Not authoritative, RD clear, CD set in the query: CD is not echoed (NSD neither).
  q.datagram[2] = 0x00;
  q.datagram[3] = 0x10;
  q.parsed = parse_query(q.datagram);
  ASSERT_TRUE(q.query().checking_disabled);
  a.authoritative = false;
  a.rcode = Rcode::refused;
  w = write(q.query(), a);
  EXPECT_EQ(to_hex(std::span(w.bytes).first(4)), "abcd8005");
}

TEST(DnsWriteResponse, TruncatesTheAnswerToWholeRecords) {
  const QueryFixture q(1, "example.com", type::A);
  std::vector<Record> an;
  for (int i = 0; i < 100; ++i) an.push_back(rr("example.com", type::A, {10, 0, 0, static_cast<std::uint8_t>(i)}));
  const std::vector<Record> ns{rr("example.com", type::NS, wire_of("ns1.example.com"))};
  const std::vector<Record> ar{rr("ns1.example.com", type::A, {192, 0, 2, 53})};
  const Written w = write(q.query(), answer_of(an, ns, ar));
  // 12 + 13 + 4 = 29 before the answers, 16 bytes each: 30 fit in 512 (509), a 31st would not.
  EXPECT_TRUE(w.truncated);
  ASSERT_EQ(w.bytes.size(), 29u + 30 * 16);
  const Decoded d = decode(w.bytes);
  EXPECT_EQ(d.flags, 0x8700);  // QR AA TC RD
  EXPECT_EQ(d.ancount, 30);
  EXPECT_EQ(d.nscount, 0);
  EXPECT_EQ(d.arcount, 0);
  EXPECT_EQ(d.records[29].rdata, (Bytes{10, 0, 0, 29}));
}

TEST(DnsWriteResponse, TruncationLeavesRoomForTheOpt) {
  const QueryFixture q(1, "example.com", type::A, true, 512);
  std::vector<Record> an;
  for (int i = 0; i < 100; ++i) an.push_back(rr("example.com", type::A, {10, 0, 0, static_cast<std::uint8_t>(i)}));
  const Written w = write(q.query(), answer_of(an));
  // 512 - 11 for the OPT leaves 501: 29 + 29 * 16 = 493 fits, a 30th record would not.
  EXPECT_TRUE(w.truncated);
  ASSERT_EQ(w.bytes.size(), 29u + 29 * 16 + 11);
  const Decoded d = decode(w.bytes);
  EXPECT_EQ(d.ancount, 29);
  EXPECT_EQ(d.arcount, 1);
  EXPECT_EQ(d.records.back().type, type::OPT);
  EXPECT_EQ(d.records.back().rclass, 1232);

  // With the client's 1232: 29 + 74 * 16 + 11 = 1224.
  const QueryFixture big(1, "example.com", type::A, true, 1232);
  const Written w2 = write(big.query(), answer_of(an));
  EXPECT_TRUE(w2.truncated);
  EXPECT_EQ(w2.bytes.size(), 1224u);
  EXPECT_EQ(decode(w2.bytes).ancount, 74);
}

TEST(DnsWriteResponse, AnExactFitIsNotTruncated) {
  // 29 + 29 * 16 = 493; a TXT record of 2 + 10 + 7 bytes takes it to 512 exactly, one of 8 not.
  const QueryFixture q(1, "example.com", type::A);
  std::vector<Record> an;
  for (int i = 0; i < 29; ++i) an.push_back(rr("example.com", type::A, {10, 0, 0, static_cast<std::uint8_t>(i)}));
  an.push_back(rr("example.com", type::TXT, Bytes(7, 'x')));
  Written w = write(q.query(), answer_of(an));
  EXPECT_FALSE(w.truncated);
  EXPECT_EQ(w.bytes.size(), 512u);
  EXPECT_EQ(decode(w.bytes).ancount, 30);
  an.back().rdata.push_back('x');
  w = write(q.query(), answer_of(an));
  EXPECT_TRUE(w.truncated);
  EXPECT_EQ(w.bytes.size(), 493u);
  EXPECT_EQ(decode(w.bytes).ancount, 29);
}

TEST(DnsWriteResponse, ExtraAuthorityThatDoesNotFitIsLeftOutQuietly) {
  const QueryFixture q(1, "example.com", type::A);
  const std::vector<Record> an{rr("example.com", type::A, {192, 0, 2, 1})};  // 29 + 16 = 45
  // Two NS records of one RRset, 260 bytes each: the first fits (305), the second would not. The
  // whole RRset is left out; the next RRset, and the additional records, still go in.
  const std::string host1 = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(50, 'd') + ".net";
  const std::string host2 = std::string(63, 'e') + "." + std::string(63, 'f') + "." + std::string(63, 'g') + "." + std::string(50, 'h') + ".net";
  const std::vector<Record> ns{rr("example.com", type::NS, wire_of(host1)), rr("example.com", type::NS, wire_of(host2)),
                               rr("example.com", type::TXT, {2, 'h', 'i'})};
  const std::vector<Record> ar{rr(host1, type::A, {192, 0, 2, 53})};
  const Written w = write(q.query(), answer_of(an, ns, ar));
  EXPECT_FALSE(w.truncated);
  const Decoded d = decode(w.bytes);
  EXPECT_EQ(d.flags & 0x0200, 0);
  EXPECT_EQ(d.ancount, 1);
  EXPECT_EQ(d.nscount, 1);
  EXPECT_EQ(d.arcount, 1);
  ASSERT_EQ(d.records.size(), 3u);
  EXPECT_EQ(d.records[1].type, type::TXT);
  EXPECT_EQ(d.records[2].owner, name_of(host1));
  // The rolled-back NS names are gone: host1 is written in full (248 bytes).
  EXPECT_EQ(w.bytes.size(), 45u + 15 + 248 + 10 + 4);
}

TEST(DnsWriteResponse, RolledBackNamesLeaveTheCompressionTable) {
  // The first NS target's 101 suffixes would fill the table; its RRset does not fit and is rolled
  // back, and with it the table, so the additional records' owner is remembered and reused.
  const QueryFixture q(1, "example.com", type::A);
  const std::vector<Record> an{rr("example.com", type::A, {192, 0, 2, 1})};  // 29 + 16 = 45
  std::string many;
  for (int i = 0; i < 100; ++i) many += "a.";
  const std::string longest = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(61, 'd');
  const std::vector<Record> ns{rr("example.com", type::NS, wire_of(many + "net")),  // 217 bytes: fits
                               rr("example.com", type::NS, wire_of(longest))};      // 267 more: does not
  const std::vector<Record> ar{rr("mail.example.com", type::A, {192, 0, 2, 25}),
                               rr("mail.example.com", type::A, {192, 0, 2, 26})};
  const Written w = write(q.query(), answer_of(an, ns, ar));
  EXPECT_FALSE(w.truncated);
  ASSERT_EQ(w.bytes.size(), 45u + (7 + 14) + (2 + 14));
  EXPECT_EQ(to_hex(std::span(w.bytes).subspan(45, 7)), "046d61696cc00c");
  EXPECT_EQ(to_hex(std::span(w.bytes).subspan(66, 2)), "c02d");  // the first "mail" at 45
}

TEST(DnsWriteResponse, NeededAuthorityThatDoesNotFitTruncates) {
  // NODATA: no answer records, the SOA alone says what happened; it does not fit in 512 here.
  const std::string longest = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(61, 'd');
  const QueryFixture q(1, longest, type::A);  // 12 + 255 + 4 = 271
  ASSERT_EQ(q.parsed.error, QueryError::none);
  const std::string other = std::string(63, 'x') + "." + std::string(63, 'y') + ".example";
  const std::string third = std::string(63, 'p') + "." + std::string(63, 'q') + "." + std::string(50, 'r') + ".example";
  const std::vector<Record> ns{rr("example", type::SOA, soa_rdata(other, third))};  // 350 bytes
  const std::vector<Record> ar{rr("example", type::A, {1, 2, 3, 4})};
  const Written w = write(q.query(), answer_of({}, ns, ar));
  EXPECT_TRUE(w.truncated);
  const Decoded d = decode(w.bytes);
  EXPECT_EQ(d.flags & 0x0200, 0x0200);
  EXPECT_EQ(d.nscount, 0);
  EXPECT_EQ(d.arcount, 0);
  EXPECT_EQ(w.bytes.size(), 271u);
}

TEST(DnsWriteResponse, AdditionalThatDoesNotFitIsLeftOutQuietly) {
  const QueryFixture q(1, "example.com", type::MX);
  const std::vector<Record> an{rr("example.com", type::MX, mx_rdata(10, "mail.example.com"))};
  const std::vector<Record> ar{rr("mail.example.com", type::TXT, Bytes(470, 'x')),
                               rr("mail.example.com", type::A, {192, 0, 2, 25})};
  const Written w = write(q.query(), answer_of(an, {}, ar));
  EXPECT_FALSE(w.truncated);
  const Decoded d = decode(w.bytes);
  EXPECT_EQ(d.arcount, 1);
  EXPECT_EQ(d.records.back().type, type::A);
}

TEST(DnsWriteResponse, NoRoomForTheQuestionWritesNothing) {
  const QueryFixture q(1, "example.com", type::A, true);
  Bytes out(12 + 13 + 4 + 10);  // one byte short of the OPT
  EXPECT_EQ(write_response(q.query(), answer_of({}), {}, out).size, 0u);
  out.resize(12 + 13 + 4 + 11);
  EXPECT_EQ(write_response(q.query(), answer_of({}), {}, out).size, out.size());
  EXPECT_EQ(write_error_response(q.parsed, Rcode::formerr, {}, std::span(out).first(20)), 0u);
}

TEST(DnsWriteResponse, FullCompressionTableStillCompressesAgainstWhatItHolds) {
  // 100 one-letter labels: more suffixes than the table holds, so "example"'s own suffixes at the
  // end are not remembered, but the question's first ones are.
  std::string qname;
  for (int i = 0; i < 100; ++i) qname += "q.";
  qname += "example";
  const QueryFixture q(1, qname, type::A);
  ASSERT_EQ(q.parsed.error, QueryError::none);
  const std::vector<Record> an{rr(qname, type::A, {1, 1, 1, 1}), rr("example", type::A, {2, 2, 2, 2}),
                               rr("example", type::A, {3, 3, 3, 3})};
  const Written w = write(q.query(), answer_of(an));
  const std::size_t first = 12 + 209 + 4;
  EXPECT_EQ(to_hex(std::span(w.bytes).subspan(first, 2)), "c00c");
  // "example" could not be remembered in the question nor after: written in full twice.
  EXPECT_EQ(to_hex(std::span(w.bytes).subspan(first + 16, 9)), "076578616d706c6500");
  EXPECT_EQ(to_hex(std::span(w.bytes).subspan(first + 16 + 23, 9)), "076578616d706c6500");
  const Decoded d = decode(w.bytes);
  expect_same_records(d.records, answer_of(an).answer);
}

TEST(DnsWriteResponse, NoPointersBeyond0x3fff) {
  ResponseLimits limits;
  limits.max_udp_payload = 65535;
  const QueryFixture q(1, "example.com", type::TXT, true, 65535);
  std::vector<Record> an;
  for (int i = 0; i < 17; ++i) an.push_back(rr("example.com", type::TXT, Bytes(1000, 'x')));
  an.push_back(rr("far.example.com", type::A, {1, 2, 3, 4}));  // starts past 0x3fff
  an.push_back(rr("far.example.com", type::A, {5, 6, 7, 8}));
  const Written w = write(q.query(), answer_of(an), limits);
  ASSERT_FALSE(w.truncated);
  const std::size_t far = 29 + 17 * (12 + 1000);
  ASSERT_GT(far, 0x3fffu);
  EXPECT_EQ(to_hex(std::span(w.bytes).subspan(far, 6)), "03666172c00c");
  // The second "far" cannot point at the first: its label is written again.
  EXPECT_EQ(to_hex(std::span(w.bytes).subspan(far + 20, 6)), "03666172c00c");
  const Decoded d = decode(w.bytes);
  expect_same_records(std::vector<Record>(d.records.begin(), d.records.end() - 1), answer_of(an).answer);
}

TEST(DnsWriteResponse, RoundTripOfAMixedAnswer) {
  const QueryFixture q(0x77, "Mail.Example.com", type::MX, true, 4096, true);
  const std::vector<Record> an{rr("mail.example.com", type::CNAME, wire_of("mx.Example.com")),
                               rr("mx.example.com", type::MX, mx_rdata(10, "mx1.example.com")),
                               rr("mx.example.com", type::MX, mx_rdata(20, "MX2.example.org"))};
  const std::vector<Record> ns{rr("example.com", type::NS, wire_of("ns1.example.com")),
                               rr("example.com", type::NS, wire_of("ns.example.org"))};
  const std::vector<Record> ar{rr("mx1.example.com", type::A, {192, 0, 2, 1}),
                               rr("mx1.example.com", type::AAAA, Bytes(16, 0x20)),
                               rr("_sip._udp.example.com", type::SRV, srv_rdata("sip.example.com")),
                               rr("ns1.example.com", type::A, {192, 0, 2, 53}, 300)};
  const Answer a = answer_of(an, ns, ar);
  const Written w = write(q.query(), a);
  ASSERT_FALSE(w.truncated);
  const Decoded d = decode(w.bytes);
  EXPECT_EQ(d.end, w.bytes.size());
  EXPECT_EQ(d.id, 0x77);
  EXPECT_EQ(d.qname, name_of("Mail.Example.com"));
  EXPECT_EQ(d.qtype, type::MX);
  EXPECT_EQ(d.ancount, 3);
  EXPECT_EQ(d.nscount, 2);
  EXPECT_EQ(d.arcount, 5);
  std::vector<const Record*> all = a.answer;
  all.insert(all.end(), a.authority.begin(), a.authority.end());
  all.insert(all.end(), a.additional.begin(), a.additional.end());
  expect_same_records(std::vector<Record>(d.records.begin(), d.records.end() - 1), all);
  const Record& opt = d.records.back();
  EXPECT_TRUE(opt.owner.is_root());
  EXPECT_EQ(opt.type, type::OPT);
  EXPECT_EQ(opt.rclass, 1232);
  EXPECT_EQ(opt.ttl, 0x8000u);  // DO echoed, version 0, extended rcode 0
  EXPECT_TRUE(opt.rdata.empty());
  // Compression did its work: the same records uncompressed would take far more.
  EXPECT_LT(w.bytes.size(), 300u);
}

TEST(DnsWriteErrorResponse, NotImpIsHeaderOnlyAsNsdSendsIt) {
  // Opcode 2 with EDNS: NSD 4.6.1 answers 12 bytes, RD kept, no question, no OPT.
  Bytes b = from_hex("1234110000010000000000010377777707"
                     "6578616d706c6503636f6d0000010001"
                     "00002904d0000000000000");
  const ParsedQuery p = parse_query(b);
  ASSERT_EQ(p.error, QueryError::not_a_query);
  Bytes out(512);
  const std::size_t n = write_error_response(p, query_error_rcode(p.error), {}, out);
  EXPECT_EQ(to_hex(std::span(out).first(n)), "123491040000000000000000");
}

TEST(DnsWriteErrorResponse, FormErrWithoutAQuestion) {
  const Bytes b = from_hex("123401000000000000000000");  // QDCOUNT 0
  const ParsedQuery p = parse_query(b);
  ASSERT_EQ(p.error, QueryError::not_one_question);
  Bytes out(512);
  const std::size_t n = write_error_response(p, query_error_rcode(p.error), {}, out);
  EXPECT_EQ(to_hex(std::span(out).first(n)), "123481010000000000000000");
}

TEST(DnsWriteErrorResponse, FormErrEchoesAQuestionItReadAndTheOpt) {
  // Trailing bytes after an OPT with DO: the question is echoed, an OPT answers the OPT (DO clear).
  QueryFixture q(0x4321, "Example.com", type::A, true, 4096, true);
  q.datagram.push_back(0);
  q.parsed = parse_query(q.datagram);
  ASSERT_EQ(q.parsed.error, QueryError::trailing_bytes);
  Bytes out(512);
  const std::size_t n = write_error_response(q.parsed, Rcode::formerr, {}, out);
  EXPECT_EQ(to_hex(std::span(out).first(n)),
            "432181010001000000000001"
            "074578616d706c6503636f6d0000010001"
            "00002904d0000000000000");
}

TEST(DnsWriteErrorResponse, BadOptEchoesTheQuestionWithoutAnOpt) {
  // Two OPTs: the question was read, EDNS is doubtful, so no OPT goes back.
  Bytes b = from_hex("1234010000010000000000020161000001000100002904000000000000000000290400000000000000");
  const ParsedQuery p = parse_query(b);
  ASSERT_EQ(p.error, QueryError::bad_opt);
  Bytes out(512);
  const std::size_t n = write_error_response(p, query_error_rcode(p.error), {}, out);
  EXPECT_EQ(to_hex(std::span(out).first(n)), "123481010001000000000000" "0161000001" "0001");
  // ANCOUNT 1 is judged in the header, before the question: a bare header.
  b = from_hex("12340100000100010000000001610000010001");
  const ParsedQuery p2 = parse_query(b);
  ASSERT_EQ(p2.error, QueryError::answer_or_authority);
  EXPECT_EQ(write_error_response(p2, Rcode::formerr, {}, out), 12u);
  EXPECT_EQ(to_hex(std::span(out).first(12)), "123481010000000000000000");
}

TEST(DnsWriteErrorResponse, BadVersAsNsdSendsIt) {
  // NSD 4.6.1's reply to kdig +edns=1 (id 0x1234, RD, DO set: NSD clears it).
  const QueryFixture q(0x1234, "www.example.com", type::A, true, 4096, true, 1);
  ASSERT_EQ(q.parsed.error, QueryError::bad_edns_version);
  Bytes out(512);
  const std::size_t n = write_error_response(q.parsed, query_error_rcode(q.parsed.error), {}, out);
  EXPECT_EQ(to_hex(std::span(out).first(n)),
            "12348100000100000000000103777777076578616d706c6503636f6d000001000100002904d0010000000000");
  // The header's rcode is BADVERS's low four bits (0), the OPT's TTL carries 16 >> 4 = 1.
  const Decoded d = decode(std::span(out).first(n));
  EXPECT_EQ(d.flags & 0xf, 0);
  EXPECT_EQ(d.records.at(0).ttl >> 24, 1u);
}

TEST(DnsWriteErrorResponse, AdvertisedSizeComesFromTheLimits) {
  const QueryFixture q(1, "a", type::A, true, 4096, false, 3);
  ResponseLimits limits;
  limits.advertised_udp_payload = 4000;
  Bytes out(512);
  const std::size_t n = write_error_response(q.parsed, Rcode::badvers, limits, out);
  ASSERT_EQ(n, 12u + 7 + 11);
  EXPECT_EQ(get16(out, n - 8), 4000);
}

}  // namespace
}  // namespace dns
