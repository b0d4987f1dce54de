// examples/dns AuthorityProtocol with and without its AnswerCache, driven by a FakeTransport: every
// question of the zone tests (nsd_answers.txt, example.zone and reverse.zone), in mixed case, with
// and without EDNS, asked of a server without a cache, then twice of one with a cache (a miss that
// fills it, then a hit), must get the same bytes. Plus the cache's own rules: a full slot is
// replaced, an answer too large is not kept, a response the client cannot take whole is written
// the ordinary way (truncated), and 0 slots keeps nothing.
#include <fstream>

#include "dns_answer_cache.hpp"
#include "dns_authority.hpp"
#include "examples/dns_server_process.hpp"
#include "examples/dns_test_client.hpp"
#include "salvo/fake_transport.hpp"

namespace salvo::test {
namespace {

class AnswerCacheTest : public testing::Test {
 protected:
  AnswerCacheTest() {
    EXPECT_EQ(zones_.add_file(dns_test_dir + "/example.zone"), "");
    EXPECT_EQ(zones_.add_file(dns_test_dir + "/reverse.zone", "2.0.192.in-addr.arpa"), "");
  }

  // The response `protocol` sends to `query`.
  std::vector<std::byte> ask_protocol(dns::AuthorityProtocol& protocol, FakeTransport& fake,
                                      const std::vector<std::byte>& query) {
    fake.deliver(protocol, FakeDatagram(query, addr("127.0.0.2:5300")));
    auto sent = fake.take_sent();
    EXPECT_EQ(sent.size(), 1u);
    return sent.empty() ? std::vector<std::byte>{} : sent.front().bytes;
  }

  dns::ZoneSet zones_;
  dns::ResponseLimits limits_;
  dns::DnsCounters counters_;
};

std::string mixed_case(std::string name) {
  for (std::size_t i = 0; i < name.size(); i += 2) name[i] = static_cast<char>(std::toupper(name[i]));
  return name;
}

TEST_F(AnswerCacheTest, AnswersFromTheCacheAreTheBytesOfAnswersWithout) {
  FakeTransport plain_fake, cached_fake;
  dns::AuthorityProtocol plain(zones_, limits_, counters_, nullptr, 0);
  dns::AuthorityProtocol cached(zones_, limits_, counters_, nullptr, 4096);
  std::ifstream answers(dns_test_dir + "/nsd_answers.txt");
  std::uint16_t id = 1;
  int compared = 0;
  for (std::string line; std::getline(answers, line);) {
    if (line.rfind("Q ", 0) != 0) continue;
    const std::size_t space = line.find(' ', 2);
    const std::string name = line.substr(2, space - 2) + ".";
    const std::string type = line.substr(space + 1);
    for (const std::string& asked : {name, mixed_case(name)}) {
      for (const std::optional<std::uint16_t> edns : {std::optional<std::uint16_t>{}, std::optional<std::uint16_t>{1232},
                                                      std::optional<std::uint16_t>{512}}) {
        DnsQuestion q = dns_question(asked, type_code(type), ++id);
        q.edns_udp_size = edns;
        q.dnssec_ok = id % 2 == 0;
        const auto query = build_query(q);
        const auto expected = ask_protocol(plain, plain_fake, query);
        EXPECT_EQ(ask_protocol(cached, cached_fake, query), expected) << asked << " " << type << " (miss)";
        EXPECT_EQ(ask_protocol(cached, cached_fake, query), expected) << asked << " " << type << " (hit)";
        ++compared;
      }
    }
  }
  EXPECT_GE(compared, 6 * 60);
}

TEST_F(AnswerCacheTest, WritesTheOrdinaryWayWhatTheClientCannotTakeWhole) {
  dns::ZoneSet served;
  ASSERT_EQ(served.add_file(dns_test_dir + "/served.zone"), "");
  FakeTransport plain_fake, cached_fake;
  dns::AuthorityProtocol plain(served, limits_, counters_, nullptr, 0);
  dns::AuthorityProtocol cached(served, limits_, counters_, nullptr, 4096);
  // 40 TXT records: about 2,300 bytes, kept whole by neither the cache (512 bytes a slot) nor a
  // client; and an MX answer (about 200 bytes) asked by a client that takes everything, then by
  // one limited to 512 bytes, which is still enough for it.
  for (const auto& [name, type] : std::vector<std::pair<std::string, std::uint16_t>>{{"big.example.com.", 16},
                                                                                    {"example.com.", 15}}) {
    for (const std::optional<std::uint16_t> edns : {std::optional<std::uint16_t>{4096}, std::optional<std::uint16_t>{}}) {
      DnsQuestion q = dns_question(name, type, 77);
      q.edns_udp_size = edns;
      const auto query = build_query(q);
      const auto expected = ask_protocol(plain, plain_fake, query);
      EXPECT_EQ(ask_protocol(cached, cached_fake, query), expected) << name;
      EXPECT_EQ(ask_protocol(cached, cached_fake, query), expected) << name;
    }
  }
  const auto big = decode_response(ask_protocol(cached, cached_fake, build_query(dns_question("big.example.com.", 16, 78))));
  EXPECT_TRUE(big.tc);
}

TEST(AnswerCache, KeepsOneQuestionPerSlotAndNothingTooLarge) {
  dns::AnswerCache cache(3);  // rounded down to 2 slots: one pair
  EXPECT_EQ(cache.slots(), 2u);
  dns::Name a, b;
  a.append_label(std::string_view("a"));
  b.append_label(std::string_view("b"));
  const std::vector<std::uint8_t> bytes = {1, 2, 3};
  dns::ResponseBody body;
  body.rcode = dns::Rcode::nxdomain;
  body.authoritative = true;
  body.nscount = 1;
  body.bytes = bytes;
  EXPECT_TRUE(cache.store(a, 1, body));
  dns::ResponseBody found;
  ASSERT_TRUE(cache.find(a, 1, found));
  EXPECT_EQ(found.rcode, dns::Rcode::nxdomain);
  EXPECT_TRUE(found.authoritative);
  EXPECT_EQ(found.nscount, 1);
  EXPECT_EQ(std::vector<std::uint8_t>(found.bytes.begin(), found.bytes.end()), bytes);
  EXPECT_FALSE(cache.find(a, 28, found));  // another type
  EXPECT_FALSE(cache.find(b, 1, found));   // another name
  // A second question takes the other slot of the pair; a third replaces the less recently used.
  EXPECT_TRUE(cache.store(b, 1, body));
  EXPECT_TRUE(cache.find(a, 1, found));  // a is now the more recent
  EXPECT_TRUE(cache.store(a, 28, body));
  EXPECT_TRUE(cache.find(a, 1, found));
  EXPECT_FALSE(cache.find(b, 1, found));
  EXPECT_TRUE(cache.find(a, 28, found));
  // Name and body together may take max_stored_size bytes, not one more.
  const std::vector<std::uint8_t> fits(dns::AnswerCache::max_stored_size - a.wire_size(), 7);
  body.bytes = fits;
  EXPECT_TRUE(cache.store(a, 1, body));
  ASSERT_TRUE(cache.find(a, 1, found));
  EXPECT_EQ(found.bytes.size(), fits.size());
  const std::vector<std::uint8_t> large(fits.size() + 1, 0);
  body.bytes = large;
  EXPECT_FALSE(cache.store(a, 1, body));

  dns::AnswerCache none(0);
  EXPECT_EQ(none.slots(), 0u);
  body.bytes = bytes;
  EXPECT_FALSE(none.store(a, 1, body));
  EXPECT_FALSE(none.find(a, 1, found));
}

}  // namespace
}  // namespace salvo::test
