// parse_query and read_name on hand-built datagrams: every QueryError, the EDNS fields, and the
// compression pointers a query may and may not use.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dns_query.hpp"
#include "examples/dns_test_names.hpp"

namespace dns {
namespace {

using test::name_of;

using Bytes = std::vector<std::uint8_t>;

void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

void put32(Bytes& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}

Bytes header(std::uint16_t id, std::uint16_t flags, std::uint16_t qd, std::uint16_t an, std::uint16_t ns,
             std::uint16_t ar) {
  Bytes b;
  for (std::uint16_t v : {id, flags, qd, an, ns, ar}) put16(b, v);
  return b;
}

// "www.example.com" as labels and the root byte.
void put_name(Bytes& b, std::string_view dotted) {
  std::size_t start = 0;
  while (start < dotted.size()) {
    std::size_t dot = dotted.find('.', start);
    if (dot == std::string_view::npos) dot = dotted.size();
    b.push_back(static_cast<std::uint8_t>(dot - start));
    b.insert(b.end(), dotted.begin() + static_cast<std::ptrdiff_t>(start), dotted.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  b.push_back(0);
}

void put_question(Bytes& b, std::string_view dotted, std::uint16_t qtype = type::A) {
  put_name(b, dotted);
  put16(b, qtype);
  put16(b, class_in);
}

// An OPT record with the root owner: size, extended rcode, version, DO, rdata.
void put_opt(Bytes& b, std::uint16_t size = 1232, std::uint8_t version = 0, bool dnssec_ok = false,
             std::uint8_t extended_rcode = 0, const Bytes& rdata = {}) {
  b.push_back(0);
  put16(b, type::OPT);
  put16(b, size);
  put32(b, (std::uint32_t{extended_rcode} << 24) | (std::uint32_t{version} << 16) | (dnssec_ok ? 0x8000u : 0u));
  put16(b, static_cast<std::uint16_t>(rdata.size()));
  b.insert(b.end(), rdata.begin(), rdata.end());
}

// The fixed part and rdata of a record after its owner.
void put_rr_tail(Bytes& b, std::uint16_t rtype, const Bytes& rdata) {
  put16(b, rtype);
  put16(b, class_in);
  put32(b, 3600);
  put16(b, static_cast<std::uint16_t>(rdata.size()));
  b.insert(b.end(), rdata.begin(), rdata.end());
}

Bytes simple_query(std::string_view qname = "www.example.com", std::uint16_t qtype = type::A) {
  Bytes b = header(0xbeef, 0x0100, 1, 0, 0, 0);
  put_question(b, qname, qtype);
  return b;
}

ParsedQuery parse(const Bytes& b) { return parse_query(std::span<const std::uint8_t>(b.data(), b.size())); }

std::string label(std::size_t size, char c = 'a') { return std::string(size, c); }

TEST(DnsParseQuery, PlainQuestion) {
  Bytes b = header(0x1234, 0x0110, 1, 0, 0, 0);  // RD and CD
  put_question(b, "WwW.Example.COM", type::AAAA);
  const ParsedQuery p = parse(b);
  ASSERT_EQ(p.error, QueryError::none);
  EXPECT_EQ(p.query.id, 0x1234);
  EXPECT_EQ(p.query.opcode, 0);
  EXPECT_TRUE(p.query.recursion_desired);
  EXPECT_TRUE(p.query.checking_disabled);
  EXPECT_EQ(p.query.qname, name_of("WwW.Example.COM"));
  EXPECT_EQ(p.query.qname_lower, name_of("www.example.com"));
  EXPECT_EQ(p.query.qtype, type::AAAA);
  EXPECT_EQ(p.query.qclass, class_in);
  // The question's bytes, in the datagram itself: 17 bytes of name and 4 of type and class.
  EXPECT_EQ(p.query.question_wire.data(), b.data() + 12);
  EXPECT_EQ(p.query.question_wire.size(), 21u);
  EXPECT_FALSE(p.query.edns.present);
}

TEST(DnsParseQuery, FlagsClear) {
  Bytes b = header(7, 0x0000, 1, 0, 0, 0);
  put_question(b, "example.com", type::MX);
  const ParsedQuery p = parse(b);
  ASSERT_EQ(p.error, QueryError::none);
  EXPECT_FALSE(p.query.recursion_desired);
  EXPECT_FALSE(p.query.checking_disabled);
  EXPECT_EQ(p.query.qtype, type::MX);
}

TEST(DnsParseQuery, RootQuestion) {
  Bytes b = header(1, 0, 1, 0, 0, 0);
  put_question(b, "", type::NS);
  const ParsedQuery p = parse(b);
  ASSERT_EQ(p.error, QueryError::none);
  EXPECT_TRUE(p.query.qname.is_root());
  EXPECT_EQ(p.query.question_wire.size(), 5u);
}

TEST(DnsParseQuery, EdnsFields) {
  Bytes b = header(1, 0x0100, 1, 0, 0, 1);
  put_question(b, "example.com");
  put_opt(b, 4096, 0, true, 0);
  const ParsedQuery p = parse(b);
  ASSERT_EQ(p.error, QueryError::none);
  EXPECT_TRUE(p.query.edns.present);
  EXPECT_EQ(p.query.edns.udp_payload_size, 4096);
  EXPECT_EQ(p.query.edns.version, 0);
  EXPECT_TRUE(p.query.edns.dnssec_ok);
}

TEST(DnsParseQuery, EdnsSmallSizeKeptAsSentAndOptionsSkipped) {
  Bytes b = header(1, 0, 1, 0, 0, 1);
  put_question(b, "example.com");
  // A cookie option (code 10, 8 bytes) and a nonzero extended rcode, which a query may not set
  // and a server ignores.
  put_opt(b, 100, 0, false, 5, {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8});
  const ParsedQuery p = parse(b);
  ASSERT_EQ(p.error, QueryError::none);
  EXPECT_EQ(p.query.edns.udp_payload_size, 100);
  EXPECT_FALSE(p.query.edns.dnssec_ok);
}

TEST(DnsParseQuery, OtherAdditionalRecordsAreSkipped) {
  // A TSIG-like record (type 250) before the OPT, its owner compressed onto the question's
  // "example.com" at offset 16.
  Bytes b = header(1, 0, 1, 0, 0, 2);
  put_question(b, "www.example.com");
  b.push_back(3);
  b.insert(b.end(), {'k', 'e', 'y'});
  b.push_back(0xc0);
  b.push_back(16);
  put_rr_tail(b, 250, {1, 2, 3});
  put_opt(b);
  const ParsedQuery p = parse(b);
  ASSERT_EQ(p.error, QueryError::none);
  EXPECT_TRUE(p.query.edns.present);
}

TEST(DnsParseQuery, OptOwnerMayBeAPointerToARootByte) {
  // The question's name ends with its root byte at offset 12 + 17 - 1 = 28.
  Bytes b = header(1, 0, 1, 0, 0, 1);
  put_question(b, "www.example.com");
  ASSERT_EQ(b[28], 0);
  b.push_back(0xc0);
  b.push_back(28);
  put16(b, type::OPT);
  put16(b, 1400);
  put32(b, 0);
  put16(b, 0);
  const ParsedQuery p = parse(b);
  ASSERT_EQ(p.error, QueryError::none);
  EXPECT_TRUE(p.query.edns.present);
  EXPECT_EQ(p.query.edns.udp_payload_size, 1400);
}

TEST(DnsParseQueryErrors, ShorterThanHeader) {
  for (std::size_t size : {0u, 1u, 11u}) {
    Bytes b = simple_query();
    b.resize(size);
    const ParsedQuery p = parse(b);
    EXPECT_EQ(p.error, QueryError::shorter_than_header) << size;
    EXPECT_TRUE(query_error_is_dropped(p.error));
  }
}

TEST(DnsParseQueryErrors, HeaderOnlyIsNotOneQuestionButHasTheId) {
  const Bytes b = header(0x4242, 0x0100, 0, 0, 0, 0);
  const ParsedQuery p = parse(b);
  EXPECT_EQ(p.error, QueryError::not_one_question);
  EXPECT_EQ(p.query.id, 0x4242);
  EXPECT_TRUE(p.query.question_wire.empty());
}

TEST(DnsParseQueryErrors, IsResponse) {
  Bytes b = simple_query();
  b[2] |= 0x80;
  const ParsedQuery p = parse(b);
  EXPECT_EQ(p.error, QueryError::is_response);
  EXPECT_EQ(p.query.id, 0xbeef);
  EXPECT_TRUE(query_error_is_dropped(p.error));
  // A response with an opcode other than QUERY is still a response: never answered.
  b[2] |= 0x10;
  EXPECT_EQ(parse(b).error, QueryError::is_response);
}

TEST(DnsParseQueryErrors, NotAQueryIsJudgedOnTheHeaderAlone) {
  // Opcode 2 (STATUS) with nothing after the header, and with a broken question and counts.
  Bytes b = header(9, 0x1100, 0, 3, 0, 0);
  ParsedQuery p = parse(b);
  EXPECT_EQ(p.error, QueryError::not_a_query);
  EXPECT_EQ(p.query.opcode, 2);
  EXPECT_EQ(p.query.id, 9);
  EXPECT_TRUE(p.query.recursion_desired);
  EXPECT_TRUE(p.query.question_wire.empty());
  EXPECT_EQ(query_error_rcode(p.error), Rcode::notimp);
  b = simple_query();
  b[2] = 0x28;  // opcode 5 (UPDATE)
  p = parse(b);
  EXPECT_EQ(p.error, QueryError::not_a_query);
  EXPECT_EQ(p.query.opcode, 5);
  EXPECT_FALSE(p.query.recursion_desired);
  EXPECT_FALSE(query_error_is_dropped(p.error));
}

TEST(DnsParseQueryErrors, NotOneQuestion) {
  Bytes b = header(1, 0, 2, 0, 0, 0);
  put_question(b, "a.example");
  put_question(b, "b.example");
  EXPECT_EQ(parse(b).error, QueryError::not_one_question);
  EXPECT_EQ(query_error_rcode(QueryError::not_one_question), Rcode::formerr);
}

TEST(DnsParseQueryErrors, AnswerOrAuthority) {
  for (int section = 0; section < 2; ++section) {
    Bytes b = header(1, 0, 1, section == 0 ? 1 : 0, section == 1 ? 1 : 0, 0);
    put_question(b, "example.com");
    b.push_back(0xc0);
    b.push_back(12);
    put_rr_tail(b, type::A, {192, 0, 2, 1});
    const ParsedQuery p = parse(b);
    EXPECT_EQ(p.error, QueryError::answer_or_authority);
    EXPECT_TRUE(p.query.question_wire.empty());  // the header's counts are checked before the question
  }
}

TEST(DnsParseQueryErrors, TruncatedQuestion) {
  const Bytes full = simple_query();  // 12 + 17 + 4 bytes
  for (std::size_t size = 12; size < full.size(); ++size) {
    const Bytes b(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(size));
    const ParsedQuery p = parse(b);
    EXPECT_EQ(p.error, QueryError::truncated_question) << size;
    EXPECT_TRUE(p.query.question_wire.empty());
  }
  // A pointer's first byte as the datagram's last.
  Bytes b = header(1, 0, 1, 0, 0, 0);
  b.push_back(1);
  b.push_back('a');
  b.push_back(0xc0);
  EXPECT_EQ(parse(b).error, QueryError::truncated_question);
}

TEST(DnsParseQueryErrors, BadLabelTypes) {
  for (std::uint8_t kind : {std::uint8_t{0x40}, std::uint8_t{0x80}}) {
    Bytes b = header(1, 0, 1, 0, 0, 0);
    b.push_back(3);
    b.insert(b.end(), {'w', 'w', 'w'});
    b.push_back(static_cast<std::uint8_t>(kind | 1));
    b.push_back('x');
    b.push_back(0);
    put16(b, type::A);
    put16(b, class_in);
    EXPECT_EQ(parse(b).error, QueryError::bad_label) << int{kind};
  }
}

TEST(DnsParseQueryErrors, LabelOf63IsFineAnd64IsABadLabel) {
  const std::string name63 = label(63) + ".example";
  const ParsedQuery ok = parse(simple_query(name63));
  ASSERT_EQ(ok.error, QueryError::none);
  EXPECT_EQ(ok.query.qname.wire_size(), 1u + 63 + 1 + 7 + 1);
  // A length byte of 64 has the 0b01 label type.
  EXPECT_EQ(parse(simple_query(label(64) + ".example")).error, QueryError::bad_label);
}

TEST(DnsParseQueryErrors, NameOf255IsFineAnd256IsTooLong) {
  // Three 63-byte labels take 192 bytes; a fourth of 61 and the root make 255.
  const std::string base = label(63, 'a') + "." + label(63, 'b') + "." + label(63, 'c') + ".";
  const ParsedQuery ok = parse(simple_query(base + label(61, 'd')));
  ASSERT_EQ(ok.error, QueryError::none);
  EXPECT_EQ(ok.query.qname.wire_size(), 255u);
  EXPECT_EQ(ok.query.question_wire.size(), 259u);
  EXPECT_EQ(parse(simple_query(base + label(62, 'd'))).error, QueryError::name_too_long);
}

TEST(DnsParseQueryErrors, NameTooLongThroughPointers) {
  // The question is 200 bytes of name; an additional record's owner adds 63 + 1 bytes of labels
  // and points at it: 264 bytes in all.
  const std::string qname = label(63, 'a') + "." + label(63, 'b') + "." + label(61, 'c') + "." + label(8, 'd');
  Bytes b = header(1, 0, 1, 0, 0, 1);
  put_question(b, qname);
  b.push_back(63);
  const std::string extra = label(63, 'e');
  b.insert(b.end(), extra.begin(), extra.end());
  b.push_back(0xc0);
  b.push_back(12);
  put_rr_tail(b, type::A, {1, 2, 3, 4});
  EXPECT_EQ(parse(b).error, QueryError::name_too_long);
}

TEST(DnsParseQueryErrors, QuestionPointerIntoTheHeader) {
  Bytes b = header(1, 0, 1, 0, 0, 0);
  b.push_back(0xc0);
  b.push_back(0x04);  // would read QDCOUNT's bytes (0, 1) as labels
  put16(b, type::A);
  put16(b, class_in);
  EXPECT_EQ(parse(b).error, QueryError::bad_pointer);
}

TEST(DnsParseQueryErrors, ForwardPointer) {
  // The additional record's owner points at its own type field, ahead of it.
  Bytes b = header(1, 0, 1, 0, 0, 1);
  put_question(b, "example.com");
  const std::size_t owner = b.size();
  b.push_back(0xc0);
  b.push_back(static_cast<std::uint8_t>(owner + 2));
  put_rr_tail(b, type::A, {1, 2, 3, 4});
  const ParsedQuery p = parse(b);
  EXPECT_EQ(p.error, QueryError::bad_pointer);
  EXPECT_FALSE(p.query.question_wire.empty());  // the question was read first
  EXPECT_EQ(query_error_rcode(p.error), Rcode::formerr);
}

TEST(DnsParseQueryErrors, PointerLoops) {
  // A pointer to itself.
  Bytes b = header(1, 0, 1, 0, 0, 1);
  put_question(b, "example.com");
  std::size_t owner = b.size();
  b.push_back(0xc0);
  b.push_back(static_cast<std::uint8_t>(owner));
  put_rr_tail(b, type::A, {1, 2, 3, 4});
  EXPECT_EQ(parse(b).error, QueryError::bad_pointer);

  // Two names pointing at each other: the first record's owner "x" + pointer to the second's
  // owner is forwards; the second's owner points back at the first, whose pointer then leads
  // above where the jump landed.
  b = header(1, 0, 1, 0, 0, 2);
  put_question(b, "example.com");
  owner = b.size();
  b.push_back(1);
  b.push_back('x');
  b.push_back(0xc0);
  const std::size_t patch = b.size();
  b.push_back(0);
  put_rr_tail(b, type::A, {1, 2, 3, 4});
  const std::size_t second = b.size();
  b[patch] = static_cast<std::uint8_t>(second);
  b.push_back(0xc0);
  b.push_back(static_cast<std::uint8_t>(owner));
  put_rr_tail(b, type::A, {1, 2, 3, 4});
  EXPECT_EQ(parse(b).error, QueryError::bad_pointer);

  // read_name on the second owner alone: the jump back to "x" is fine, the pointer after it
  // leads to `second`, above the jump's landing place.
  Name n;
  std::size_t end = 0;
  EXPECT_EQ(read_name(b, second, n, end), QueryError::bad_pointer);
}

TEST(DnsParseQueryErrors, PointerOutsideTheDatagram) {
  Bytes b = header(1, 0, 1, 0, 0, 1);
  put_question(b, "example.com");
  b.push_back(0xff);
  b.push_back(0xff);  // offset 0x3fff
  put_rr_tail(b, type::A, {1, 2, 3, 4});
  EXPECT_EQ(parse(b).error, QueryError::bad_pointer);
}

TEST(DnsParseQueryErrors, BadLabelInTheAdditionalSection) {
  Bytes b = header(1, 0, 1, 0, 0, 1);
  put_question(b, "example.com");
  b.push_back(0x81);
  b.push_back('x');
  b.push_back(0);
  put_rr_tail(b, type::A, {1, 2, 3, 4});
  EXPECT_EQ(parse(b).error, QueryError::bad_label);
}

TEST(DnsParseQueryErrors, BadAdditional) {
  Bytes full = header(1, 0, 1, 0, 0, 1);
  put_question(full, "example.com");
  const std::size_t record = full.size();
  put_opt(full, 1232, 0, false, 0, {0, 10, 0, 2, 7, 7});
  // Cut anywhere inside the record: in its fixed part, or its rdata.
  for (std::size_t size = record; size < full.size(); ++size) {
    const Bytes b(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(size));
    const ParsedQuery p = parse(b);
    EXPECT_EQ(p.error, QueryError::bad_additional) << size;
    EXPECT_FALSE(p.query.edns.present) << size;
  }
  // An ARCOUNT of 2 with one record.
  Bytes b = full;
  b[11] = 2;
  EXPECT_EQ(parse(b).error, QueryError::bad_additional);
  // An owner name cut short.
  b = header(1, 0, 1, 0, 0, 1);
  put_question(b, "example.com");
  b.push_back(5);
  b.push_back('a');
  EXPECT_EQ(parse(b).error, QueryError::bad_additional);
}

TEST(DnsParseQueryErrors, TwoOpts) {
  Bytes b = header(1, 0, 1, 0, 0, 2);
  put_question(b, "example.com");
  put_opt(b);
  put_opt(b);
  const ParsedQuery p = parse(b);
  EXPECT_EQ(p.error, QueryError::bad_opt);
  EXPECT_FALSE(p.query.edns.present);  // the FORMERR goes out without an OPT
  EXPECT_FALSE(p.query.question_wire.empty());
}

TEST(DnsParseQueryErrors, OptWithAnOwner) {
  Bytes b = header(1, 0, 1, 0, 0, 1);
  put_question(b, "example.com");
  b.push_back(0xc0);
  b.push_back(12);  // owner example.com
  put16(b, type::OPT);
  put16(b, 1232);
  put32(b, 0);
  put16(b, 0);
  const ParsedQuery p = parse(b);
  EXPECT_EQ(p.error, QueryError::bad_opt);
  EXPECT_FALSE(p.query.edns.present);
}

TEST(DnsParseQueryErrors, TrailingBytes) {
  Bytes b = simple_query();
  b.push_back(0);
  ParsedQuery p = parse(b);
  EXPECT_EQ(p.error, QueryError::trailing_bytes);
  EXPECT_FALSE(p.query.question_wire.empty());

  b = header(1, 0, 1, 0, 0, 1);
  put_question(b, "example.com");
  put_opt(b, 1232, 0, true);
  b.insert(b.end(), {'x', 'y'});
  p = parse(b);
  EXPECT_EQ(p.error, QueryError::trailing_bytes);
  EXPECT_TRUE(p.query.edns.present);  // the FORMERR carries an OPT
  EXPECT_EQ(query_error_rcode(p.error), Rcode::formerr);
}

TEST(DnsParseQueryErrors, BadEdnsVersion) {
  Bytes b = header(0x5151, 0x0100, 1, 0, 0, 1);
  put_question(b, "Example.com");
  put_opt(b, 4096, 1, true);
  const ParsedQuery p = parse(b);
  EXPECT_EQ(p.error, QueryError::bad_edns_version);
  EXPECT_EQ(query_error_rcode(p.error), Rcode::badvers);
  // Everything else is there for the BADVERS answer.
  EXPECT_TRUE(p.query.edns.present);
  EXPECT_EQ(p.query.edns.version, 1);
  EXPECT_EQ(p.query.edns.udp_payload_size, 4096);
  EXPECT_EQ(p.query.qname, name_of("Example.com"));
  EXPECT_EQ(p.query.question_wire.size(), 17u);
}

TEST(DnsParseQueryErrors, MalformedBeatsBadEdnsVersion) {
  Bytes b = header(1, 0, 1, 0, 0, 1);
  put_question(b, "example.com");
  put_opt(b, 4096, 1);
  b.push_back(0);
  EXPECT_EQ(parse(b).error, QueryError::trailing_bytes);
}

TEST(DnsQueryError, NamesAndCodes) {
  std::set<std::string_view> names;
  for (int e = 0; e <= static_cast<int>(QueryError::bad_edns_version); ++e) {
    const auto error = static_cast<QueryError>(e);
    const std::string_view name = query_error_name(error);
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, "unknown");
    names.insert(name);
    const bool dropped = error == QueryError::shorter_than_header || error == QueryError::is_response;
    EXPECT_EQ(query_error_is_dropped(error), dropped) << name;
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(QueryError::bad_edns_version) + 1);
  EXPECT_EQ(query_error_name(QueryError::none), "none");
  EXPECT_EQ(query_error_name(QueryError::bad_pointer), "bad_pointer");
  EXPECT_EQ(query_error_rcode(QueryError::none), Rcode::noerror);
  EXPECT_EQ(query_error_rcode(QueryError::trailing_bytes), Rcode::formerr);
  EXPECT_EQ(query_error_rcode(QueryError::bad_opt), Rcode::formerr);
  EXPECT_EQ(query_error_rcode(QueryError::bad_label), Rcode::formerr);
}

TEST(DnsReadName, FollowsBackwardPointersAndEndsAtTheFirst) {
  Bytes b = header(0, 0, 0, 0, 0, 0);
  put_name(b, "www.Example.com");  // offset 12; "Example.com" at 16, "com" at 24
  const std::size_t mail = b.size();
  b.push_back(4);
  b.insert(b.end(), {'m', 'a', 'i', 'l'});
  b.push_back(0xc0);
  b.push_back(16);
  const std::size_t chained = b.size();
  b.push_back(1);
  b.push_back('x');
  b.push_back(0xc0);
  b.push_back(static_cast<std::uint8_t>(mail));
  b.push_back(0xee);  // not part of the name

  Name n;
  std::size_t end = 0;
  ASSERT_EQ(read_name(b, mail, n, end), QueryError::none);
  EXPECT_EQ(n, name_of("mail.Example.com"));
  EXPECT_EQ(end, mail + 7);
  ASSERT_EQ(read_name(b, chained, n, end), QueryError::none);
  EXPECT_EQ(n, name_of("x.mail.Example.com"));
  EXPECT_EQ(end, chained + 4);
  ASSERT_EQ(read_name(b, 12, n, end), QueryError::none);
  EXPECT_EQ(end, 29u);
  // Reading from past the end, or from a lone pointer byte (0xee is 0b11...).
  EXPECT_EQ(read_name(b, b.size(), n, end), QueryError::truncated_question);
  EXPECT_EQ(read_name(b, b.size() - 1, n, end), QueryError::truncated_question);
}

TEST(DnsReadName, LeavesTheNameAloneOnError) {
  Bytes b = header(0, 0, 0, 0, 0, 0);
  put_name(b, "abc");
  b.back() = 0x40;  // the root byte made a bad label
  Name n = name_of("keep.me");
  std::size_t end = 99;
  EXPECT_EQ(read_name(b, 12, n, end), QueryError::bad_label);
  EXPECT_EQ(n, name_of("keep.me"));
  EXPECT_EQ(end, 99u);
}

}  // namespace
}  // namespace dns
