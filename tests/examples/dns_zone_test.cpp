// The zone loader's checks and the authoritative lookup, against NSD 4.6's answers: inline zones
// for each rule, and tests/examples/dns/nsd_answers.txt (NSD's answers for the zone files there).
//
// Needs SALVO_DNS_TEST_ZONES defined to the tests/examples/dns directory.
#include "dns_zone.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dns_rdata.hpp"

#ifndef SALVO_DNS_TEST_ZONES
#error "define SALVO_DNS_TEST_ZONES as the path of tests/examples/dns"
#endif

namespace dns {
namespace {

using Bytes = std::vector<std::uint8_t>;

Name name(std::string_view text) {
  Name out;
  EXPECT_EQ(name_from_text(text, nullptr, out), "") << text;
  return out.lowercased();
}

Bytes wire(std::string_view text) {
  const Name n = name(text);
  return {n.wire().begin(), n.wire().end()};
}

std::string rcode_text(Rcode rcode) {
  switch (rcode) {
    case Rcode::noerror: return "NOERROR";
    case Rcode::nxdomain: return "NXDOMAIN";
    case Rcode::refused: return "REFUSED";
    default: return "RCODE" + std::to_string(static_cast<int>(rcode));
  }
}

std::uint32_t read32(const Bytes& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}
std::uint32_t read16(const Bytes& b, std::size_t at) { return (std::uint32_t{b[at]} << 8) | b[at + 1]; }

std::string name_at(const Bytes& rdata, std::size_t at) { return name_from_wire(rdata, at).to_text(); }

std::size_t after_name(const Bytes& rdata, std::size_t at) {
  while (rdata[at] != 0) at += 1 + rdata[at];
  return at + 1;
}

// Rdata as kdig prints it, so answers compare with NSD's as text.
std::string rdata_text(const Record& rr) {
  const Bytes& d = rr.rdata;
  char address[INET6_ADDRSTRLEN] = {};
  switch (rr.type) {
    case type::A: return inet_ntop(AF_INET, d.data(), address, sizeof address);
    case type::AAAA: return inet_ntop(AF_INET6, d.data(), address, sizeof address);
    case type::NS:
    case type::CNAME:
    case type::PTR: return name_at(d, 0);
    case type::MX: return std::to_string(read16(d, 0)) + " " + name_at(d, 2);
    case type::SRV:
      return std::to_string(read16(d, 0)) + " " + std::to_string(read16(d, 2)) + " " + std::to_string(read16(d, 4)) +
             " " + name_at(d, 6);
    case type::SOA: {
      const std::size_t rname = after_name(d, 0);
      std::size_t at = after_name(d, rname);
      std::string text = name_at(d, 0) + " " + name_at(d, rname);
      for (int i = 0; i < 5; ++i, at += 4) text += " " + std::to_string(read32(d, at));
      return text;
    }
    case type::TXT: {
      std::string text;
      for (std::size_t at = 0; at < d.size(); at += 1 + d[at]) {
        text += text.empty() ? "\"" : " \"";
        for (std::size_t i = at + 1; i <= at + d[at]; ++i) {
          const std::uint8_t c = d[i];
          if (c == '"' || c == '\\') {
            text += '\\';
            text += static_cast<char>(c);
          } else if (c < 0x20 || c >= 0x7f) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\%03u", c);
            text += escaped;
          } else {
            text += static_cast<char>(c);
          }
        }
        text += '"';
      }
      return text;
    }
    default: return "?";
  }
}

std::string record_text(const char* section, const Record& rr) {
  return std::string(section) + " " + rr.owner.to_text() + " " + std::to_string(rr.ttl) + " " + type_to_text(rr.type) +
         " " + rdata_text(rr) + "\n";
}

// The answer in nsd_answers.txt's form.
std::string answer_text(const Answer& answer) {
  std::string text = rcode_text(answer.rcode) + (answer.authoritative ? " aa\n" : " -\n");
  for (const Record* rr : answer.answer) text += record_text("an", *rr);
  for (const Record* rr : answer.authority) text += record_text("au", *rr);
  for (const Record* rr : answer.additional) text += record_text("ad", *rr);
  return text;
}

std::uint16_t qtype(std::string_view text) {
  if (text == "ANY") return type::ANY;
  if (text == "DS") return 43;
  const auto t = type_from_text(text);
  EXPECT_TRUE(t.has_value()) << text;
  return t.value_or(0);
}

std::string ask(const ZoneSet& zones, std::string_view qname, std::string_view type_text) {
  Answer answer;
  zones.lookup(name(std::string(qname) + "."), qtype(type_text), answer);
  return answer_text(answer);
}

std::string zone_path(const char* file) { return std::string(SALVO_DNS_TEST_ZONES) + "/" + file; }

ZoneSet test_zones() {
  ZoneSet zones;
  EXPECT_EQ(zones.add_file(zone_path("example.zone")), "");
  EXPECT_EQ(zones.add_file(zone_path("reverse.zone"), "2.0.192.in-addr.arpa"), "");
  return zones;
}

// ---- NSD's answers for the zone files ----

TEST(DnsZoneNsd, AnswersEveryQuestionAsNsdDid) {
  const ZoneSet zones = test_zones();
  EXPECT_EQ(zones.zone_count(), 2u);
  std::ifstream in(zone_path("nsd_answers.txt"));
  ASSERT_TRUE(in) << zone_path("nsd_answers.txt");
  std::string line;
  std::string qname;
  std::string qtype_text;
  std::string expected;
  int questions = 0;
  const auto check = [&] {
    if (qname.empty()) return;
    ++questions;
    EXPECT_EQ(ask(zones, qname, qtype_text), expected) << "question: " << qname << " " << qtype_text;
  };
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.starts_with("Q ")) {
      check();
      std::istringstream fields(line.substr(2));
      fields >> qname >> qtype_text;
      expected.clear();
      continue;
    }
    expected += line + "\n";
  }
  check();
  EXPECT_GE(questions, 60);
}

TEST(DnsZoneNsd, RecordCountDropsTheDuplicate) {
  const ZoneSet zones = test_zones();
  // example.zone has 67 records, one a duplicate; reverse.zone 8.
  EXPECT_EQ(zones.record_count(), 66u + 8u);
}

// ---- Rules, on small zones ----

constexpr std::string_view base_zone =
    "$ORIGIN example.com.\n"
    "$TTL 3600\n"
    "@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
    "  NS ns1\n"
    "  NS ns2.example.net.\n"
    "  MX 10 mail\n"
    "ns1 A 192.0.2.53\n"
    "mail A 192.0.2.25\n"
    "     AAAA 2001:db8::25\n"
    "www CNAME Web\n"
    "web A 192.0.2.80\n"
    "    A 192.0.2.81\n"
    "outside CNAME www.example.org.\n"
    "_sip._udp SRV 10 60 5060 sip\n"
    "sip 300 A 192.0.2.60\n"
    "sub NS ns.sub\n"
    "ns.sub A 192.0.2.99\n";

ZoneSet base() {
  ZoneSet zones;
  EXPECT_EQ(zones.add_text(base_zone, "base.zone"), "");
  return zones;
}

void expect_record(const Record* rr, std::string_view owner, std::uint16_t type, std::uint32_t ttl, const Bytes& rdata) {
  ASSERT_NE(rr, nullptr);
  EXPECT_EQ(rr->owner.to_text(), owner);
  EXPECT_EQ(rr->type, type);
  EXPECT_EQ(rr->rclass, class_in);
  EXPECT_EQ(rr->ttl, ttl);
  EXPECT_EQ(rr->rdata, rdata);
}

Bytes soa_rdata(std::uint32_t minimum) {
  Bytes b = wire("ns1.example.com.");
  const Bytes rname = wire("hostmaster.example.com.");
  b.insert(b.end(), rname.begin(), rname.end());
  for (const std::uint32_t v : {1u, 7200u, 3600u, 1209600u, minimum}) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<std::uint8_t>(v >> shift));
  }
  return b;
}

TEST(DnsZoneLookup, PositiveAnswerHasApexNsAndAddressesAFirst) {
  const ZoneSet zones = base();
  Answer a;
  zones.lookup(name("example.com."), type::MX, a);
  EXPECT_EQ(a.rcode, Rcode::noerror);
  EXPECT_TRUE(a.authoritative);
  ASSERT_EQ(a.answer.size(), 1u);
  Bytes mx{0, 10};
  const Bytes mail = wire("mail.example.com.");
  mx.insert(mx.end(), mail.begin(), mail.end());
  expect_record(a.answer[0], "example.com.", type::MX, 3600, mx);
  ASSERT_EQ(a.authority.size(), 2u);
  expect_record(a.authority[0], "example.com.", type::NS, 3600, wire("ns1.example.com."));
  expect_record(a.authority[1], "example.com.", type::NS, 3600, wire("ns2.example.net."));
  ASSERT_EQ(a.additional.size(), 3u);
  expect_record(a.additional[0], "mail.example.com.", type::A, 3600, {192, 0, 2, 25});
  expect_record(a.additional[1], "ns1.example.com.", type::A, 3600, {192, 0, 2, 53});
  expect_record(a.additional[2], "mail.example.com.", type::AAAA, 3600,
                {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25});
}

TEST(DnsZoneLookup, ApexNsQueryHasNoAuthority) {
  EXPECT_EQ(ask(base(), "example.com", "NS"),
            "NOERROR aa\n"
            "an example.com. 3600 NS ns1.example.com.\n"
            "an example.com. 3600 NS ns2.example.net.\n"
            "ad ns1.example.com. 3600 A 192.0.2.53\n");
}

TEST(DnsZoneLookup, CnameChainIsFollowedAndNamesAreLowercased) {
  const ZoneSet zones = base();
  Answer a;
  zones.lookup(name("www.example.com."), type::A, a);
  ASSERT_EQ(a.answer.size(), 3u);
  expect_record(a.answer[0], "www.example.com.", type::CNAME, 3600, wire("web.example.com."));
  expect_record(a.answer[1], "web.example.com.", type::A, 3600, {192, 0, 2, 80});
  expect_record(a.answer[2], "web.example.com.", type::A, 3600, {192, 0, 2, 81});
  EXPECT_EQ(a.authority.size(), 2u);
  EXPECT_EQ(a.additional.size(), 1u);
}

TEST(DnsZoneLookup, CnameToNodataAndOutOfZone) {
  const ZoneSet zones = base();
  EXPECT_EQ(ask(zones, "www.example.com", "MX"),
            "NOERROR aa\n"
            "an www.example.com. 3600 CNAME web.example.com.\n"
            "au example.com. 300 SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300\n");
  EXPECT_EQ(ask(zones, "outside.example.com", "A"), "NOERROR aa\nan outside.example.com. 3600 CNAME www.example.org.\n");
  EXPECT_EQ(ask(zones, "www.example.com", "CNAME"),
            "NOERROR aa\n"
            "an www.example.com. 3600 CNAME web.example.com.\n"
            "au example.com. 3600 NS ns1.example.com.\n"
            "au example.com. 3600 NS ns2.example.net.\n"
            "ad ns1.example.com. 3600 A 192.0.2.53\n");
}

TEST(DnsZoneLookup, CnameLoopStopsWhenACnameRepeats) {
  ZoneSet zones;
  ASSERT_EQ(zones.add_text("@ SOA a b 1 2 3 4 5\na CNAME b\nb CNAME c\nc CNAME a\n", "loop.zone", "l.test"), "");
  EXPECT_EQ(ask(zones, "b.l.test", "A"),
            "NOERROR aa\n"
            "an b.l.test. 3600 CNAME c.l.test.\n"
            "an c.l.test. 3600 CNAME a.l.test.\n"
            "an a.l.test. 3600 CNAME b.l.test.\n");
}

TEST(DnsZoneLookup, NxdomainAndNodataCarryTheNegativeSoa) {
  const ZoneSet zones = base();
  Answer a;
  zones.lookup(name("nope.example.com."), type::A, a);
  EXPECT_EQ(a.rcode, Rcode::nxdomain);
  EXPECT_TRUE(a.authoritative);
  EXPECT_TRUE(a.answer.empty());
  ASSERT_EQ(a.authority.size(), 1u);
  expect_record(a.authority[0], "example.com.", type::SOA, 300, soa_rdata(300));
  EXPECT_TRUE(a.additional.empty());

  // _udp is an empty non-terminal: NODATA, not NXDOMAIN.
  zones.lookup(name("_udp.example.com."), type::A, a);
  EXPECT_EQ(a.rcode, Rcode::noerror);
  EXPECT_TRUE(a.authoritative);
  ASSERT_EQ(a.authority.size(), 1u);
  EXPECT_EQ(a.authority[0]->ttl, 300u);

  // The SOA record itself keeps its own TTL.
  zones.lookup(name("example.com."), type::SOA, a);
  ASSERT_EQ(a.answer.size(), 1u);
  EXPECT_EQ(a.answer[0]->ttl, 3600u);
}

TEST(DnsZoneLookup, NegativeTtlIsTheSoaTtlWhenThatIsLower) {
  ZoneSet zones;
  ASSERT_EQ(zones.add_text("@ 60 SOA a b 1 2 3 4 900\n", "t.zone", "t.test"), "");
  Answer a;
  zones.lookup(name("x.t.test."), type::A, a);
  ASSERT_EQ(a.authority.size(), 1u);
  EXPECT_EQ(a.authority[0]->ttl, 60u);
}

TEST(DnsZoneLookup, DelegationIsAReferralWithGlue) {
  const ZoneSet zones = base();
  const std::string referral =
      "NOERROR -\n"
      "au sub.example.com. 3600 NS ns.sub.example.com.\n"
      "ad ns.sub.example.com. 3600 A 192.0.2.99\n";
  EXPECT_EQ(ask(zones, "sub.example.com", "NS"), referral);
  EXPECT_EQ(ask(zones, "sub.example.com", "A"), referral);
  EXPECT_EQ(ask(zones, "ns.sub.example.com", "A"), referral);
  EXPECT_EQ(ask(zones, "a.b.sub.example.com", "MX"), referral);
  EXPECT_EQ(ask(zones, "sub.example.com", "ANY"), referral);
}

TEST(DnsZoneLookup, OutsideEveryZoneIsRefused) {
  const ZoneSet zones = base();
  Answer a;
  zones.lookup(name("example.org."), type::A, a);
  EXPECT_EQ(a.rcode, Rcode::refused);
  EXPECT_FALSE(a.authoritative);
  EXPECT_TRUE(a.answer.empty() && a.authority.empty() && a.additional.empty());
  zones.lookup(name("."), type::NS, a);
  EXPECT_EQ(a.rcode, Rcode::refused);
}

TEST(DnsZoneLookup, LongestApexWins) {
  ZoneSet zones;
  ASSERT_EQ(zones.add_text(base_zone, "base.zone"), "");
  ASSERT_EQ(zones.add_text("@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.98\nwww A 192.0.2.97\n", "sub.zone",
                           "sub.example.com"),
            "");
  EXPECT_EQ(zones.zone_count(), 2u);
  EXPECT_EQ(ask(zones, "www.sub.example.com", "A"),
            "NOERROR aa\n"
            "an www.sub.example.com. 3600 A 192.0.2.97\n"
            "au sub.example.com. 3600 NS ns.sub.example.com.\n"
            "ad ns.sub.example.com. 3600 A 192.0.2.98\n");
}

TEST(DnsZoneLookup, AnyGivesOneRrset) {
  ZoneSet zones;
  ASSERT_EQ(zones.add_text("@ SOA a b 1 2 3 4 5\n"
                           "x TXT \"t\"\nx MX 1 y\nx A 192.0.2.1\n"
                           "y TXT \"1\"\ny SRV 1 1 1 x\n",
                           "any.zone", "t.test"),
            "");
  // The first of A, AAAA, SOA, MX, PTR in the file's order; else the last of the others.
  EXPECT_EQ(ask(zones, "x.t.test", "ANY"), "NOERROR aa\nan x.t.test. 3600 MX 1 y.t.test.\n");
  EXPECT_EQ(ask(zones, "y.t.test", "ANY"),
            "NOERROR aa\nan y.t.test. 3600 SRV 1 1 1 x.t.test.\nad x.t.test. 3600 A 192.0.2.1\n");
}

TEST(DnsZoneLookup, SrvTargetsInAndOutOfZone) {
  EXPECT_EQ(ask(base(), "_sip._udp.example.com", "SRV"),
            "NOERROR aa\n"
            "an _sip._udp.example.com. 3600 SRV 10 60 5060 sip.example.com.\n"
            "au example.com. 3600 NS ns1.example.com.\n"
            "au example.com. 3600 NS ns2.example.net.\n"
            "ad sip.example.com. 300 A 192.0.2.60\n"
            "ad ns1.example.com. 3600 A 192.0.2.53\n");
}

TEST(DnsZoneLookup, DoesNotReallocateOnceTheVectorsHaveGrown) {
  const ZoneSet zones = base();
  Answer a;
  // Grow every vector once: the widest answer and the widest additional section.
  zones.lookup(name("www.example.com."), type::A, a);
  zones.lookup(name("example.com."), type::MX, a);
  const auto* answer_data = a.answer.data();
  const auto* authority_data = a.authority.data();
  const auto* additional_data = a.additional.data();
  for (int i = 0; i < 3; ++i) {
    zones.lookup(name("www.example.com."), type::A, a);
    zones.lookup(name("example.com."), type::MX, a);
  }
  EXPECT_EQ(a.answer.data(), answer_data);
  EXPECT_EQ(a.authority.data(), authority_data);
  EXPECT_EQ(a.additional.data(), additional_data);
}

// ---- The loader's errors ----

std::string load(std::string_view text, std::string_view origin = "example.com") {
  ZoneSet zones;
  return zones.add_text(text, "t.zone", origin);
}

TEST(DnsZoneLoad, Errors) {
  const std::string soa = "@ SOA a b 1 2 3 4 5\n";
  EXPECT_EQ(load(soa + "*.w A 192.0.2.1\n"), "t.zone:2: wildcard owner names are not supported (*.w.example.com.)");
  EXPECT_EQ(load(soa + "www.example.org. A 192.0.2.1\n"), "t.zone:2: www.example.org. is outside the zone example.com.");
  EXPECT_EQ(load(soa + "xexample.com. A 192.0.2.1\n"), "t.zone:2: xexample.com. is outside the zone example.com.");
  EXPECT_EQ(load("www A 192.0.2.1\n"), "t.zone: no SOA record at the zone apex example.com.");
  EXPECT_EQ(load(soa + "@ SOA c d 1 2 3 4 5\n"), "t.zone:2: a second SOA record for example.com.");
  EXPECT_EQ(load(soa + "sub SOA c d 1 2 3 4 5\n"),
            "t.zone:2: SOA record at sub.example.com. is not at the zone apex example.com.");
  EXPECT_EQ(load(soa + "w CNAME x\nw A 192.0.2.1\n"), "t.zone:3: w.example.com. has a CNAME and other data");
  EXPECT_EQ(load(soa + "w A 192.0.2.1\nW CNAME x\n"), "t.zone:3: W.example.com. has a CNAME and other data");
  EXPECT_EQ(load(soa + "@ CNAME x\n"), "t.zone:2: example.com. has a CNAME and other data");
  EXPECT_EQ(load(soa + "w CNAME x\nw CNAME y\n"), "t.zone:3: w.example.com. has more than one CNAME");
  EXPECT_EQ(load(soa + "w CNAME x\nw CNAME X\n"), "");  // the same CNAME twice is one record
  EXPECT_EQ(load(soa + "w WKS 1 2\n"), "t.zone:2: unknown record type WKS");
  EXPECT_EQ(load(soa, "bad..origin"), "t.zone: bad origin: empty label in domain name bad..origin.");
}

TEST(DnsZoneLoad, ASecondZoneWithTheSameApexIsRefused) {
  ZoneSet zones;
  ASSERT_EQ(zones.add_text("@ SOA a b 1 2 3 4 5\n", "one.zone", "example.com"), "");
  EXPECT_EQ(zones.add_text("@ SOA a b 1 2 3 4 5\n", "two.zone", "Example.COM."),
            "two.zone: zone example.com. is already loaded");
  EXPECT_EQ(zones.zone_count(), 1u);
}

TEST(DnsZoneLoad, MissingFile) {
  ZoneSet zones;
  EXPECT_EQ(zones.add_file("/nonexistent/x.zone"), "/nonexistent/x.zone: cannot open the zone file");
}

TEST(DnsZoneLoad, ApexFromOriginDirectiveOrFirstOwner) {
  ZoneSet zones;
  EXPECT_EQ(zones.add_text("$ORIGIN a.test.\n@ SOA a b 1 2 3 4 5\n", "a.zone"), "");
  EXPECT_EQ(zones.add_text("b.test. SOA a b.test. 1 2 3 4 5\n", "b.zone"), "");
  EXPECT_EQ(ask(zones, "b.test", "SOA").substr(0, 11), "NOERROR aa\n");
  EXPECT_EQ(ask(zones, "x.a.test", "A").substr(0, 12), "NXDOMAIN aa\n");
}

}  // namespace
}  // namespace dns
