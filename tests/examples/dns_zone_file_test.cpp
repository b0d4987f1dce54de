// The master-file reader: syntax, names, TTLs, rdata in wire form, and every error it reports.
#include "dns_zone_file.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dns_rdata.hpp"

namespace dns {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes wire(std::string_view text) {
  Name name;
  EXPECT_EQ(name_from_text(text, nullptr, name), "");
  return {name.wire().begin(), name.wire().end()};
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

ZoneFileContents parse(std::string_view text, std::string_view origin = "example.com") {
  return parse_zone_file(text, "t.zone", origin);
}

std::string error_of(std::string_view text, std::string_view origin = "example.com") {
  return parse(text, origin).error;
}

TEST(DnsZoneFile, ReadsEveryTypeToWireForm) {
  const auto z = parse(
      "$TTL 300\n"
      "@ IN SOA ns1 hostmaster.example.com. 7 1h 30m 2w 1d\n"
      "  IN NS ns1\n"
      "  IN MX 10 mail\n"
      "ns1 IN A 192.0.2.1\n"
      "ns1 IN AAAA 2001:db8::1\n"
      "www IN CNAME ns1\n"
      "1 IN PTR www.example.org.\n"
      "_sip._udp IN SRV 1 2 5060 sip\n"
      "txt IN TXT \"a b\" plain\n");
  ASSERT_EQ(z.error, "");
  ASSERT_EQ(z.records.size(), 9u);
  EXPECT_EQ(z.apex.to_text(), "example.com.");
  const Record& soa = z.records[0].record;
  EXPECT_EQ(soa.owner.to_text(), "example.com.");
  EXPECT_EQ(soa.type, type::SOA);
  EXPECT_EQ(soa.ttl, 300u);
  EXPECT_EQ(soa.rdata, cat({wire("ns1.example.com."), wire("hostmaster.example.com."),
                            {0, 0, 0, 7, 0, 0, 0x0e, 0x10, 0, 0, 0x07, 0x08, 0, 0x12, 0x75, 0, 0, 1, 0x51, 0x80}}));
  EXPECT_EQ(z.records[1].record.owner.to_text(), "example.com.");
  EXPECT_EQ(z.records[1].record.rdata, wire("ns1.example.com."));
  EXPECT_EQ(z.records[2].record.rdata, cat({{0, 10}, wire("mail.example.com.")}));
  EXPECT_EQ(z.records[3].record.rdata, (Bytes{192, 0, 2, 1}));
  EXPECT_EQ(z.records[4].record.rdata, (Bytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(z.records[5].record.type, type::CNAME);
  EXPECT_EQ(z.records[6].record.owner.to_text(), "1.example.com.");
  EXPECT_EQ(z.records[6].record.rdata, wire("www.example.org."));
  EXPECT_EQ(z.records[7].record.rdata, cat({{0, 1, 0, 2, 0x13, 0xc4}, wire("sip.example.com.")}));
  EXPECT_EQ(z.records[8].record.rdata, (Bytes{3, 'a', ' ', 'b', 5, 'p', 'l', 'a', 'i', 'n'}));
  EXPECT_EQ(z.records[8].line, 10u);
}

TEST(DnsZoneFile, ParenthesesCommentsAndLines) {
  const auto z = parse(
      "; a comment line\n"
      "\n"
      "@ IN SOA ns1 hostmaster ( ; open\n"
      "    1   ; serial\n"
      "    2 3 4\n"
      "    5 )\n"
      "www A 192.0.2.1 ; trailing\n");
  ASSERT_EQ(z.error, "");
  ASSERT_EQ(z.records.size(), 2u);
  EXPECT_EQ(z.records[0].line, 3u);
  EXPECT_EQ(z.records[1].line, 7u);
  EXPECT_EQ(z.records[0].record.rdata.size(), 17u + 24u + 20u);
}

TEST(DnsZoneFile, TxtEscapesAndSeveralStrings) {
  const auto z = parse("@ SOA a b 1 2 3 4 5\nt TXT \"a \\\"q\\\" w\" \"back\\\\slash\" \"\\065\\066C\" semi\\;colon\n");
  ASSERT_EQ(z.error, "");
  EXPECT_EQ(z.records[1].record.rdata,
            (Bytes{7, 'a', ' ', '"', 'q', '"', ' ', 'w', 10, 'b', 'a', 'c', 'k', '\\', 's', 'l', 'a', 's', 'h', 3, 'A',
                   'B', 'C', 10, 's', 'e', 'm', 'i', ';', 'c', 'o', 'l', 'o', 'n'}));
}

TEST(DnsZoneFile, TxtStringOf255BytesFitsAnd256DoesNot) {
  const std::string fits(255, 'x');
  EXPECT_EQ(error_of("@ SOA a b 1 2 3 4 5\nt TXT \"" + fits + "\"\n"), "");
  EXPECT_EQ(error_of("@ SOA a b 1 2 3 4 5\nt TXT \"" + fits + "y\"\n"), "t.zone:2: TXT string longer than 255 bytes");
}

TEST(DnsZoneFile, OriginTtlBlankOwnerAndClassTtlOrder) {
  const auto z = parse(
      "$ORIGIN example.com.\n"
      "@ 100 IN SOA a b 1 2 3 4 5\n"
      "$TTL 2d\n"
      "x IN 60 A 192.0.2.1\n"
      "  A 192.0.2.2\n"
      "$ORIGIN sub\n"
      "y 1w A 192.0.2.3\n"
      "Z.Example.COM. A 192.0.2.4\n"
      "$TTL 1h30m\n"
      "@ A 192.0.2.5\n",
      "");
  ASSERT_EQ(z.error, "");
  ASSERT_EQ(z.records.size(), 6u);
  EXPECT_EQ(z.apex.to_text(), "example.com.");
  EXPECT_EQ(z.records[0].record.ttl, 100u);
  EXPECT_EQ(z.records[1].record.ttl, 60u);
  EXPECT_EQ(z.records[2].record.owner.to_text(), "x.example.com.");
  EXPECT_EQ(z.records[2].record.ttl, 172800u);
  EXPECT_EQ(z.records[3].record.owner.to_text(), "y.sub.example.com.");
  EXPECT_EQ(z.records[3].record.ttl, 604800u);
  EXPECT_EQ(z.records[4].record.owner.to_text(), "Z.Example.COM.");  // the reader keeps the case
  EXPECT_EQ(z.records[5].record.owner.to_text(), "sub.example.com.");
  EXPECT_EQ(z.records[5].record.ttl, 5400u);
}

TEST(DnsZoneFile, WithoutTtlDirectiveRecordsGetNsdsDefault) {
  const auto z = parse("@ SOA a b 1 2 3 4 5\n");
  ASSERT_EQ(z.error, "");
  EXPECT_EQ(z.records[0].record.ttl, 3600u);
}

TEST(DnsZoneFile, WithoutOriginTheFirstOwnerIsTheApex) {
  const auto z = parse("example.net. SOA a.example.net. b.example.net. 1 2 3 4 5\n", "");
  ASSERT_EQ(z.error, "");
  EXPECT_EQ(z.apex.to_text(), "example.net.");
  // ...and the origin for what follows.
  const auto rest = parse("example.net. SOA a b 1 2 3 4 5\nwww A 192.0.2.1\n", "");
  ASSERT_EQ(rest.error, "");
  EXPECT_EQ(rest.records[1].record.owner.to_text(), "www.example.net.");
  EXPECT_EQ(error_of("www SOA a b 1 2 3 4 5\n", ""),
            "t.zone:1: relative domain name www needs an origin ($ORIGIN or the zone's name)");
  EXPECT_EQ(error_of("@ SOA a b 1 2 3 4 5\n", ""), "t.zone:1: @ needs an origin ($ORIGIN or the zone's name)");
}

TEST(DnsZoneFile, EscapedNames) {
  const auto z = parse("@ SOA a b 1 2 3 4 5\na\\.b A 192.0.2.1\n\\065x A 192.0.2.1\n");
  ASSERT_EQ(z.error, "");
  EXPECT_EQ(z.records[1].record.owner.wire()[0], 3);
  EXPECT_EQ(z.records[1].record.owner.to_text(), "a\\.b.example.com.");
  EXPECT_EQ(z.records[2].record.owner.to_text(), "Ax.example.com.");
}

TEST(DnsZoneFile, SyntaxErrorsNameFileAndLine) {
  const std::string soa = "@ SOA a b 1 2 3 4 5\n";
  EXPECT_EQ(error_of(soa + "x WKS 1 2\n"), "t.zone:2: unknown record type WKS");
  EXPECT_EQ(error_of(soa + "x CH A 192.0.2.1\n"), "t.zone:2: class CH is not supported (only IN)");
  EXPECT_EQ(error_of(soa + "x IN IN A 192.0.2.1\n"), "t.zone:2: a second class IN");
  EXPECT_EQ(error_of(soa + "x 1 2 A 192.0.2.1\n"), "t.zone:2: a second TTL 2");
  EXPECT_EQ(error_of(soa + "x IN 60\n"), "t.zone:2: missing record type");
  EXPECT_EQ(error_of(soa + "$INCLUDE other.zone\n"), "t.zone:2: $INCLUDE is not supported (a zone is one file)");
  EXPECT_EQ(error_of(soa + "$GENERATE 1-2 x A 1.2.3.4\n"), "t.zone:2: unknown directive $GENERATE");
  EXPECT_EQ(error_of(soa + "$TTL\n"), "t.zone:2: $TTL takes one argument, got 0");
  EXPECT_EQ(error_of(soa + "$TTL 2147483648\n"), "t.zone:2: TTL 2147483648 is out of range (0-2147483647)");
  EXPECT_EQ(error_of(soa + "x 2147483648 A 192.0.2.1\n"), "t.zone:2: TTL 2147483648 is out of range (0-2147483647)");
  EXPECT_EQ(error_of(soa + "x 1x A 192.0.2.1\n"),
            "t.zone:2: TTL: expected seconds or a duration like 1h30m, got \"1x\"");
  EXPECT_EQ(error_of(soa + " A 192.0.2.1\n" + "x A 192.0.2.1 (\n\n"), "t.zone:3: ( without ) before the end of the file");
  EXPECT_EQ(error_of(soa + "x A 192.0.2.1 )\n"), "t.zone:2: ) without (");
  EXPECT_EQ(error_of(soa + "x TXT \"open\n"), "t.zone:2: unterminated quoted string");
  EXPECT_EQ(error_of(" A 192.0.2.1\n"), "t.zone:1: no previous owner name for a line starting with a blank");
  EXPECT_EQ(error_of(""), "t.zone: no records");
}

TEST(DnsZoneFile, RdataErrors) {
  const std::string soa = "@ SOA a b 1 2 3 4 5\n";
  EXPECT_EQ(error_of(soa + "x A 192.0.2\n"), "t.zone:2: bad IPv4 address 192.0.2");
  EXPECT_EQ(error_of(soa + "x A 192.0.2.256\n"), "t.zone:2: bad IPv4 address 192.0.2.256");
  EXPECT_EQ(error_of(soa + "x AAAA 2001:db8::g\n"), "t.zone:2: bad IPv6 address 2001:db8::g");
  EXPECT_EQ(error_of(soa + "x A\n"), "t.zone:2: missing rdata for A (expected an IPv4 address)");
  EXPECT_EQ(error_of(soa + "x A 192.0.2.1 192.0.2.2\n"), "t.zone:2: unexpected \"192.0.2.2\" after the A rdata");
  EXPECT_EQ(error_of(soa + "x MX 65536 mail\n"), "t.zone:2: MX preference 65536 is out of range (0-65535)");
  EXPECT_EQ(error_of(soa + "x MX ten mail\n"), "t.zone:2: MX preference: expected a number, got \"ten\"");
  EXPECT_EQ(error_of(soa + "x MX 10\n"), "t.zone:2: missing rdata for MX (expected preference and exchange)");
  EXPECT_EQ(error_of(soa + "x SRV 1 2 70000 t\n"), "t.zone:2: SRV port 70000 is out of range (0-65535)");
  EXPECT_EQ(error_of(soa + "x SRV 1 65536 1 t\n"), "t.zone:2: SRV weight 65536 is out of range (0-65535)");
  EXPECT_EQ(error_of(soa + "x SRV -1 1 1 t\n"), "t.zone:2: SRV priority: expected a number, got \"-1\"");
  EXPECT_EQ(error_of("@ SOA a b 4294967296 2 3 4 5\n"), "t.zone:1: SOA serial 4294967296 is out of range (0-4294967295)");
  EXPECT_EQ(error_of("@ SOA a b 1 2 3 4 4294967296\n"), "t.zone:1: SOA minimum 4294967296 is out of range (0-4294967295)");
  EXPECT_EQ(error_of("@ SOA a b 1 2 3 4\n"),
            "t.zone:1: missing rdata for SOA (expected mname rname serial refresh retry expire minimum)");
  EXPECT_EQ(error_of(soa + "x TXT\n"), "t.zone:2: missing rdata for TXT (expected at least one string)");
  EXPECT_EQ(error_of(soa + "x TXT \"\\256\"\n"), "t.zone:2: \\DDD escape above 255 in \\256");
  EXPECT_EQ(error_of(soa + "x TXT \"\\25\"\n"), "t.zone:2: bad \\DDD escape in \\25");
}

TEST(DnsZoneFile, NameErrors) {
  const std::string soa = "@ SOA a b 1 2 3 4 5\n";
  const std::string label63(63, 'a');
  EXPECT_EQ(error_of(soa + label63 + " A 192.0.2.1\n"), "");
  EXPECT_EQ(error_of(soa + label63 + "a A 192.0.2.1\n"),
            "t.zone:2: label longer than 63 bytes in domain name " + label63 + "a");
  EXPECT_EQ(error_of(soa + "a..b A 192.0.2.1\n"), "t.zone:2: empty label in domain name a..b");
  // 4 labels of 63 bytes make 256 bytes of wire form.
  const std::string long_name = label63 + "." + label63 + "." + label63 + "." + label63 + ".";
  EXPECT_EQ(error_of(soa + long_name + " A 192.0.2.1\n"),
            "t.zone:2: domain name " + long_name + " is longer than 255 bytes");
  const std::string relative = label63 + "." + label63 + "." + label63 + "." + std::string(60, 'b');
  EXPECT_EQ(error_of(soa + relative + " A 192.0.2.1\n"),
            "t.zone:2: domain name " + relative + " is longer than 255 bytes with the origin appended");
  EXPECT_EQ(error_of(soa + "x CNAME a..b\n"), "t.zone:2: empty label in domain name a..b");
}

TEST(DnsZoneFile, Seconds) {
  std::uint32_t out = 0;
  EXPECT_EQ(seconds_from_text("0", max_ttl, "TTL", out), "");
  EXPECT_EQ(out, 0u);
  EXPECT_EQ(seconds_from_text("2147483647", max_ttl, "TTL", out), "");
  EXPECT_EQ(out, 2147483647u);
  EXPECT_EQ(seconds_from_text("1W2D3H4M5S", max_ttl, "TTL", out), "");
  EXPECT_EQ(out, 604800u + 2 * 86400u + 3 * 3600u + 4 * 60u + 5u);
  EXPECT_EQ(seconds_from_text("99999999999", max_ttl, "TTL", out), "TTL 99999999999 is out of range (0-2147483647)");
  EXPECT_NE(seconds_from_text("h", max_ttl, "TTL", out), "");
  EXPECT_NE(seconds_from_text("1hh", max_ttl, "TTL", out), "");
}

}  // namespace
}  // namespace dns
