// examples/dns/dns_server, forwarder mode, on each backend: in front of the authoritative mode, in
// front of a fake upstream the test plays by hand (to forge replies, stay silent, or answer late),
// and behind `salvo impair` losing a fifth of the datagrams each way.
#include <signal.h>

#include <set>

#include "examples/dns_server_process.hpp"
#include "examples/dns_test_client.hpp"
#include "examples/example_test_support.hpp"

namespace salvo::test {
namespace {

using namespace std::chrono_literals;

class DnsForwarder : public testing::TestWithParam<BackendKind> {};

std::uint16_t id_of(const std::vector<std::byte>& m) {
  return static_cast<std::uint16_t>(static_cast<unsigned>(m.at(0)) << 8 | static_cast<unsigned>(m.at(1)));
}

std::vector<std::byte> with_id(std::vector<std::byte> m, std::uint16_t id) {
  m.at(0) = static_cast<std::byte>(id >> 8);
  m.at(1) = static_cast<std::byte>(id);
  return m;
}

// A reply to `query` (as the fake upstream got it): QR and AA set, one A record for the question.
std::vector<std::byte> reply_to(std::vector<std::byte> query, const char* ip = "\xc0\x00\x02\x07") {
  query.at(2) = std::byte{0x84};
  query.at(7) = std::byte{1};  // ANCOUNT
  for (int b : {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4}) query.push_back(static_cast<std::byte>(b));
  for (int k = 0; k < 4; ++k) query.push_back(static_cast<std::byte>(ip[k]));
  return query;
}

TEST_P(DnsForwarder, AnswersAsTheUpstreamDoesWithTheClientsId) {
  DnsServerProcess upstream({"--zone", dns_test_dir + "/served.zone"}, GetParam());
  DnsServerProcess forwarder({"--forward", upstream.address().to_string()}, GetParam());
  UdpSocket client(addr("127.0.0.1:0"));
  for (const char* name : {"www.example.com.", "nope.example.com.", "example.com."}) {
    DnsQuestion q = dns_question(name, 1, 0x5151);
    q.recursion_desired = true;
    const auto direct = ask(client, upstream.address(), q);
    const auto forwarded = ask(client, forwarder.address(), q);
    ASSERT_TRUE(direct.has_value() && forwarded.has_value()) << name;
    EXPECT_EQ(forwarded->id, 0x5151);
    EXPECT_EQ(to_text(*forwarded), to_text(*direct));
  }
  const nlohmann::json report = forwarder.stop();
  EXPECT_EQ(report.at("dns").at("forwarded"), 3);
  EXPECT_EQ(report.at("dns").at("noerror"), 2);
  EXPECT_EQ(report.at("dns").at("nxdomain"), 1);
  EXPECT_EQ(report.at("dns").at("retransmits"), 0);
}

TEST_P(DnsForwarder, AcceptsOnlyTheReplyWithItsIdAndQuestionAndUsesAFreshSocketPerQuery) {
  UdpSocket fake(addr("127.0.0.1:0"));
  DnsServerProcess forwarder({"--forward", fake.local().to_string(), "--timeout", "30000"}, GetParam());
  UdpSocket client(addr("127.0.0.1:0"));
  std::set<std::pair<std::uint16_t, std::uint16_t>> sources_and_ids;
  for (std::uint16_t client_id : {7, 8}) {
    const auto query = build_query(dns_question("www.example.com.", 1, client_id));
    client.send_to(query, forwarder.address());
    const auto got = fake.receive(10s);
    ASSERT_TRUE(got.has_value());
    // The question is the client's, byte for byte, under an ID of the forwarder's.
    EXPECT_TRUE(std::equal(query.begin() + 2, query.end(), got->payload.begin() + 2, got->payload.end()));
    const std::uint16_t upstream_id = id_of(got->payload);
    sources_and_ids.insert({got->from.port(), upstream_id});

    // Forged: a wrong ID, then the right ID with another question. Both are dropped.
    fake.send_to(reply_to(with_id(got->payload, upstream_id ^ 0x8000)), got->from);
    auto other_question = build_query(dns_question("web.example.com.", 1, upstream_id));
    fake.send_to(reply_to(other_question), got->from);
    fake.send_to(reply_to(got->payload), got->from);
    const auto answer = client.receive(10s);
    ASSERT_TRUE(answer.has_value());
    const DnsResponse r = decode_response(answer->payload);
    EXPECT_EQ(r.id, client_id);
    EXPECT_EQ(r.answer, std::vector<std::string>{"www.example.com. 60 IN A 192.0.2.7"}) << to_text(r);
  }
  EXPECT_EQ(sources_and_ids.size(), 2u) << "the second query reused the first one's port and ID";
  const nlohmann::json report = forwarder.stop();
  EXPECT_EQ(report.at("dns").at("forwarded"), 2);
  EXPECT_EQ(report.at("dns").at("upstream_mismatched"), 4);
  EXPECT_EQ(report.at("dns").at("noerror"), 2);
}

TEST_P(DnsForwarder, AsksTheUpstreamForNoMoreThanItsOwnPayloadSize) {
  UdpSocket fake(addr("127.0.0.1:0"));
  DnsServerProcess forwarder({"--forward", fake.local().to_string(), "--timeout", "30000"}, GetParam());
  UdpSocket client(addr("127.0.0.1:0"));
  for (const std::uint16_t asked : {4096, 1000}) {
    DnsQuestion q = dns_question("www.example.com.", 1, asked);
    q.edns_udp_size = asked;
    const auto query = build_query(q);
    client.send_to(query, forwarder.address());
    const auto got = fake.receive(10s);
    ASSERT_TRUE(got.has_value());
    // The OPT's CLASS (the size) is the query's last 8 bytes' first two: 1232 at most.
    const std::size_t size_at = got->payload.size() - 8;
    const unsigned sent = static_cast<unsigned>(got->payload[size_at]) << 8 | static_cast<unsigned>(got->payload[size_at + 1]);
    EXPECT_EQ(sent, std::min<unsigned>(asked, 1232));
    // Everything else is the client's query, byte for byte (after the ID).
    EXPECT_TRUE(std::equal(query.begin() + 2, query.begin() + static_cast<long>(size_at), got->payload.begin() + 2));
    fake.send_to(reply_to(got->payload), got->from);
    ASSERT_TRUE(client.receive(10s).has_value());
  }
  forwarder.stop();
}

TEST_P(DnsForwarder, AnswersServfailToQueriesStillInFlightWhenItsDrainEnds) {
  UdpSocket fake(addr("127.0.0.1:0"));
  DnsServerProcess forwarder({"--forward", fake.local().to_string(), "--timeout", "30000"}, GetParam());
  UdpSocket client(addr("127.0.0.1:0"));
  client.send_to(build_query(dns_question("www.example.com.", 1, 21)), forwarder.address());
  ASSERT_TRUE(fake.receive(10s).has_value());  // in flight, and the upstream stays silent
  const nlohmann::json report = forwarder.stop();  // SIGTERM: a drain of two seconds
  const auto answer = client.receive(0ms);
  ASSERT_TRUE(answer.has_value()) << "the client heard nothing";
  const DnsResponse r = decode_response(answer->payload);
  EXPECT_EQ(r.id, 21);
  EXPECT_EQ(rcode_name(r.rcode), "SERVFAIL");
  EXPECT_EQ(report.at("dns").at("given_up_at_drain"), 1);
  EXPECT_EQ(report.at("dns").at("servfail"), 1);
  EXPECT_EQ(report.at("dns").at("unanswered_at_stop"), 0);
}

TEST_P(DnsForwarder, RetransmitsFromTheSameSocketUntilAnswered) {
  UdpSocket fake(addr("127.0.0.1:0"));
  DnsServerProcess forwarder({"--forward", fake.local().to_string(), "--timeout", "200", "--retries", "10"}, GetParam());
  UdpSocket client(addr("127.0.0.1:0"));
  client.send_to(build_query(dns_question("www.example.com.", 1, 9)), forwarder.address());
  const auto first = fake.receive(10s);
  const auto second = fake.receive(10s);  // the first try is left unanswered
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_EQ(second->payload, first->payload);
  EXPECT_EQ(second->from, first->from);
  fake.send_to(reply_to(second->payload), second->from);
  const auto answer = client.receive(10s);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(decode_response(answer->payload).id, 9);
  // Copies that left before the answer arrived are retransmits too: count them all.
  std::uint64_t copies = 2;
  const nlohmann::json report = forwarder.stop();
  while (fake.receive(0ms)) ++copies;
  EXPECT_EQ(report.at("dns").at("retransmits"), copies - 1);
  EXPECT_EQ(report.at("dns").at("upstream_timeouts"), 0);
}

TEST_P(DnsForwarder, AnswersServfailWhenEveryTryIsSpent) {
  UdpSocket fake(addr("127.0.0.1:0"));
  DnsServerProcess forwarder({"--forward", fake.local().to_string(), "--timeout", "100", "--retries", "2"}, GetParam());
  UdpSocket client(addr("127.0.0.1:0"));
  DnsQuestion aaaa = dns_question("www.example.com.", 28, 10);
  aaaa.edns_udp_size = 1232;
  client.send_to(build_query(aaaa), forwarder.address());
  const auto answer = client.receive(20s);
  ASSERT_TRUE(answer.has_value());
  const DnsResponse r = decode_response(answer->payload);
  EXPECT_EQ(r.id, 10);
  EXPECT_EQ(rcode_name(r.rcode), "SERVFAIL");
  EXPECT_EQ(r.question, std::vector<std::string>{"www.example.com. IN AAAA"});
  EXPECT_TRUE(r.has_opt);
  int copies = 0;
  while (fake.receive(copies < 3 ? 5000ms : 0ms)) ++copies;
  EXPECT_EQ(copies, 3);
  const nlohmann::json report = forwarder.stop();
  EXPECT_EQ(report.at("dns").at("retransmits"), 2);
  EXPECT_EQ(report.at("dns").at("upstream_timeouts"), 1);
  EXPECT_EQ(report.at("dns").at("servfail"), 1);
}

TEST_P(DnsForwarder, AnswersServfailAtOnceWhenTheInFlightTableIsFull) {
  UdpSocket fake(addr("127.0.0.1:0"));
  DnsServerProcess forwarder({"--forward", fake.local().to_string(), "--timeout", "30000", "--max-in-flight", "2"},
                             GetParam());
  UdpSocket client(addr("127.0.0.1:0"));
  std::vector<UdpSocket::Message> pending;
  for (std::uint16_t id : {1, 2}) {
    client.send_to(build_query(dns_question("www.example.com.", 1, id)), forwarder.address());
    auto got = fake.receive(10s);
    ASSERT_TRUE(got.has_value());
    pending.push_back(*got);
  }
  client.send_to(build_query(dns_question("www.example.com.", 1, 3)), forwarder.address());
  const auto full = client.receive(10s);
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(decode_response(full->payload).id, 3);
  EXPECT_EQ(rcode_name(decode_response(full->payload).rcode), "SERVFAIL");
  // The two in flight are still answered, in the order the upstream answers them.
  fake.send_to(reply_to(pending[1].payload), pending[1].from);
  fake.send_to(reply_to(pending[0].payload), pending[0].from);
  for (std::uint16_t id : {2, 1}) {
    const auto answer = client.receive(10s);
    ASSERT_TRUE(answer.has_value());
    const DnsResponse r = decode_response(answer->payload);
    EXPECT_EQ(r.id, id);
    EXPECT_EQ(rcode_name(r.rcode), "NOERROR");
  }
  const nlohmann::json report = forwarder.stop();
  EXPECT_EQ(report.at("dns").at("in_flight_full"), 1);
  EXPECT_EQ(report.at("dns").at("forwarded"), 2);
  EXPECT_EQ(report.at("dns").at("servfail"), 1);
  EXPECT_EQ(report.at("dns").at("noerror"), 2);
}

TEST_P(DnsForwarder, AnswersEveryQueryThroughALossyPath) {
  DnsServerProcess upstream({"--zone", dns_test_dir + "/served.zone"}, GetParam());
  Child impair({salvo_bin, "impair", "--listen", "127.0.0.1:0", "--to", upstream.address().to_string(), "--loss",
                "0.2", "--seed", "7", "--backend", std::string(to_string(GetParam())), "--json"});
  ASSERT_TRUE(impair.wait_for_stderr(", forwarding to ", 20s)) << impair.err_so_far();
  const std::string& line = impair.err_so_far();
  const std::string prefix = "listening on ";
  const std::size_t at = line.find(prefix) + prefix.size();
  const Address lossy = addr(line.substr(at, line.find(' ', at) - at));
  // A try waits half a second: long enough that a late answer, not a lost one, is never the reason for
  // a retransmit, which would change the order of datagrams the seeded impair decides on.
  DnsServerProcess forwarder({"--forward", lossy.to_string(), "--timeout", "500", "--retries", "10"}, GetParam());
  UdpSocket client(addr("127.0.0.1:0"));
  // One query at a time, so that the impair's seeded decisions meet the datagrams in one order.
  for (std::uint16_t id = 1; id <= 30; ++id) {
    const auto r = ask(client, forwarder.address(), dns_question("www.example.com.", 1, id), 20s);
    ASSERT_TRUE(r.has_value()) << "query " << id;
    ASSERT_EQ(r->answer.size(), 3u) << to_text(*r);
  }
  const nlohmann::json report = forwarder.stop();
  EXPECT_EQ(report.at("dns").at("forwarded"), 30);
  EXPECT_EQ(report.at("dns").at("noerror"), 30);
  EXPECT_GT(report.at("dns").at("retransmits").get<std::uint64_t>(), 0u);
  EXPECT_EQ(report.at("dns").at("upstream_timeouts"), 0);
  impair.send_signal(SIGTERM);
  impair.finish(20s);
}

TEST_P(DnsForwarder, AnswersServfailWhenOutOfDescriptorsAndForwardsAgainOnceSomeAreFree) {
  SALVO_SKIP_UNLESS_DESCRIPTOR_EXHAUSTION_TESTABLE();
  UdpSocket fake(addr("127.0.0.1:0"));
  // 32 descriptors, soft and hard: the engine takes some, the upstream sockets the rest.
  DnsServerProcess forwarder({"--forward", fake.local().to_string(), "--timeout", "30000", "--max-in-flight", "200"},
                             GetParam(), {with_descriptor_limit_bin, "32", "32"});
  const Address server = forwarder.address();
  UdpSocket client(addr("127.0.0.1:0"), 1 << 20);
  constexpr int queries = 60;
  for (std::uint16_t id = 1; id <= queries; ++id) {
    ASSERT_TRUE(client.send_to(build_query(dns_question("www.example.com.", 1, id)), server));
  }
  // Every query either reaches the upstream on a socket of its own or is answered SERVFAIL at
  // once; the upstream then answers the ones it got, which frees their sockets.
  int servfails = 0, answered = 0;
  std::vector<UdpSocket::Message> upstream;
  ASSERT_TRUE(wait_until(
      [&] {
        while (auto m = client.receive(0ms)) {
          ++(rcode_name(decode_response(m->payload).rcode) == "SERVFAIL" ? servfails : answered);
        }
        while (auto m = fake.receive(0ms)) upstream.push_back(*m);
        return servfails + static_cast<int>(upstream.size()) == queries;
      },
      20s))
      << servfails << " SERVFAIL, " << upstream.size() << " upstream";
  EXPECT_GT(servfails, 0);
  EXPECT_GT(upstream.size(), 0u);
  for (const auto& m : upstream) fake.send_to(reply_to(m.payload), m.from);
  ASSERT_TRUE(wait_until(
      [&] {
        while (auto m = client.receive(0ms)) ++answered;
        return answered == static_cast<int>(upstream.size());
      },
      20s));
  // With the descriptors back, the next query is forwarded again.
  ASSERT_TRUE(client.send_to(build_query(dns_question("web.example.com.", 1, 999)), server));
  const auto again = fake.receive(10s);
  ASSERT_TRUE(again.has_value());
  fake.send_to(reply_to(again->payload), again->from);
  const auto answer = client.receive(10s);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(decode_response(answer->payload).id, 999);

  const nlohmann::json report = forwarder.stop();
  const auto& dns = report.at("dns");
  EXPECT_EQ(dns.at("upstream_open_failed"), servfails);
  EXPECT_EQ(dns.at("forwarded"), upstream.size() + 1);
  EXPECT_EQ(dns.at("servfail"), servfails);
  EXPECT_EQ(dns.at("noerror"), upstream.size() + 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, DnsForwarder, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
