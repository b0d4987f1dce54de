// EchoRules in-process, on a clock the test moves: what echo answers and what it counts instead.
//   - source ports below 1024 are ignored, 1024 and up answered; --answer-low-ports answers all;
//   - two echo servers introduced by one forged datagram answer exactly twice each and stop,
//     whether the other one has the rules or not, and however many datagrams are put in flight;
//   - the remembered reply coming back once is answered, twice is a loop: that datagram and
//     everything else from the peer for one window are ignored, then the peer is new again;
//   - only the remembered reply is watched, per peer (address and port), for one window;
//   - a reply that was not sent is not remembered; a window of 0 answers every repeat;
//   - the table is bounded: a full set forgets its oldest peer (counted).
#include <gtest/gtest.h>

#include <deque>
#include <vector>

#include "servers/echo_rules.hpp"

namespace salvo::cli {
namespace {

using namespace std::chrono_literals;
using time_point = EchoRules::time_point;
const time_point t0 = time_point{} + 100s;

Address peer(std::uint16_t port) { return Address::ipv4_loopback(port); }

std::vector<std::byte> payload(std::uint64_t seq, std::size_t size = 48) {
  std::vector<std::byte> p(size);
  for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<std::byte>((seq >> (8 * (i % 8))) + i / 8);
  return p;
}

// Offers one datagram; true when a reply was queued (`queue_takes`: what the send returns).
bool offer(EchoRules& rules, const Address& from, const std::vector<std::byte>& bytes, time_point now,
           bool queue_takes = true) {
  Datagram d;
  d.peer = from;
  d.payload = bytes;
  bool sent = false;
  rules.echo(d, now, [&] {
    sent = queue_takes;
    return queue_takes;
  });
  return sent;
}

TEST(EchoRules, SourcePortsBelow1024AreIgnoredUnlessAsked) {
  EchoStats stats;
  EchoRules rules({}, stats);
  EXPECT_FALSE(offer(rules, peer(7), payload(1), t0));
  EXPECT_FALSE(offer(rules, peer(0), payload(2), t0));
  EXPECT_FALSE(offer(rules, peer(1023), payload(3), t0));
  EXPECT_TRUE(offer(rules, peer(1024), payload(4), t0));
  EXPECT_TRUE(offer(rules, peer(65535), payload(5), t0));
  EXPECT_EQ(stats.low_port, 3u);
  EXPECT_EQ(stats.answered, 2u);

  EchoStats open_stats;
  EchoRules open({.answer_low_ports = true}, open_stats);
  EXPECT_TRUE(offer(open, peer(7), payload(1), t0));
  EXPECT_TRUE(offer(open, peer(1023), payload(3), t0));
  EXPECT_EQ(open_stats.low_port, 0u);
  EXPECT_EQ(open_stats.answered, 2u);
}

// Two echo servers, A at port 31002 and B at 31001 (the ports), and a wire between them
// that delivers in order, 100 us per hop. `forged` datagrams from B's address reach A first.
// Runs until nothing is in flight, or 10,000 hops (a loop that did not stop).
struct TwoEchoes {
  EchoStats a_stats, b_stats;
  EchoRules a, b;
  std::uint64_t hops = 0;

  explicit TwoEchoes(const EchoRulesOptions& b_options) : a({}, a_stats), b(b_options, b_stats) {}

  void run(const std::vector<std::vector<std::byte>>& forged) {
    struct InFlight {
      bool to_a;
      std::vector<std::byte> bytes;
    };
    std::deque<InFlight> wire;
    for (const auto& f : forged) wire.push_back({true, f});
    time_point now = t0;
    while (!wire.empty() && hops < 10'000) {
      InFlight d = std::move(wire.front());
      wire.pop_front();
      ++hops;
      now += 100us;
      EchoRules& server = d.to_a ? a : b;
      if (offer(server, d.to_a ? peer(31001) : peer(31002), d.bytes, now)) wire.push_back({!d.to_a, d.bytes});
    }
  }
};

TEST(EchoRules, TwoEchoServersIntroducedByAForgedDatagramAnswerTwiceEach) {
  TwoEchoes e({});
  e.run({payload(1)});
  // A answers the forged datagram and its first return; its second return is the loop.
  EXPECT_EQ(e.hops, 5u);
  EXPECT_EQ(e.a_stats.answered, 2u);
  EXPECT_EQ(e.b_stats.answered, 2u);
  EXPECT_EQ(e.a_stats.loop, 1u);
  EXPECT_EQ(e.b_stats.loop, 0u);
}

TEST(EchoRules, AgainstAnEchoWithoutTheRulesTheLoopStopsAsSoon) {
  TwoEchoes e({.answer_low_ports = true, .loop_window = 0s});
  e.run({payload(1)});
  EXPECT_EQ(e.hops, 5u);
  EXPECT_EQ(e.a_stats.answered, 2u);
  EXPECT_EQ(e.b_stats.answered, 2u);
  EXPECT_EQ(e.a_stats.loop, 1u);
}

TEST(EchoRules, ManyDatagramsInFlightStopTogether) {
  // 50 different datagrams forged from B: A remembers the first reply only, which comes back
  // twice; the hold then turns away the 49 others, wherever they are in their round.
  for (const bool b_has_rules : {true, false}) {
    SCOPED_TRACE(b_has_rules ? "B has the rules" : "B answers everything");
    TwoEchoes e(b_has_rules ? EchoRulesOptions{} : EchoRulesOptions{.answer_low_ports = true, .loop_window = 0s});
    std::vector<std::vector<std::byte>> forged;
    for (std::uint64_t i = 0; i < 50; ++i) forged.push_back(payload(i));
    e.run(forged);
    EXPECT_LT(e.hops, 10'000u) << "the loop did not stop";
    // Rounds 1 and 2 answered (50 each at A: the forged ones and their first return), then A holds B.
    EXPECT_EQ(e.a_stats.answered, 100u);
    EXPECT_EQ(e.a_stats.loop, 1u);
    EXPECT_EQ(e.a_stats.held, 49u);
    EXPECT_EQ(e.b_stats.answered, 100u);
    EXPECT_EQ(e.b_stats.loop, 0u) << "A stops first: B never sees its remembered reply a second time";
  }
}

TEST(EchoRules, AReplySentBackTwiceIsALoopAndHoldsThePeerForAWindow) {
  EchoStats stats;
  EchoRules rules({}, stats);  // window 1 s
  const Address p = peer(40000);
  EXPECT_TRUE(offer(rules, p, payload(1), t0));            // remembered
  EXPECT_TRUE(offer(rules, p, payload(1), t0 + 100ms));    // back once: answered
  EXPECT_TRUE(offer(rules, p, payload(2), t0 + 200ms));    // anything else: answered
  EXPECT_FALSE(offer(rules, p, payload(1), t0 + 500ms));   // back twice: a loop
  EXPECT_FALSE(offer(rules, p, payload(3), t0 + 600ms));   // held
  EXPECT_FALSE(offer(rules, p, payload(4), t0 + 1499ms));  // held, to the end of the window
  EXPECT_TRUE(offer(rules, p, payload(4), t0 + 1500ms));   // new again; 4 remembered
  EXPECT_TRUE(offer(rules, p, payload(1), t0 + 1600ms));   // 1 is just another datagram now
  EXPECT_EQ(stats.answered, 5u);
  EXPECT_EQ(stats.loop, 1u);
  EXPECT_EQ(stats.held, 2u);
  EXPECT_TRUE(offer(rules, peer(40001), payload(1), t0 + 600ms)) << "another port is another peer";
}

TEST(EchoRules, OnlyTheRememberedReplyIsWatchedAndOnlyForAWindow) {
  EchoStats stats;
  EchoRules rules({.loop_window = 2s}, stats);
  const Address p = peer(40000);
  ASSERT_TRUE(offer(rules, p, payload(1), t0));  // remembered until t0 + 2 s
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(offer(rules, p, payload(2), t0 + 1s)) << i;
  EXPECT_TRUE(offer(rules, p, payload(1), t0 + 2s));  // the window is over: remembered afresh
  EXPECT_TRUE(offer(rules, p, payload(1), t0 + 3s));  // back once
  EXPECT_FALSE(offer(rules, p, payload(1), t0 + 3s)); // back twice, within the new window
  EXPECT_EQ(stats.answered, 8u);
  EXPECT_EQ(stats.loop, 1u);
}

TEST(EchoRules, ADatagramDifferingOnlyAfterTheHeadIsNotTheRememberedOne) {
  EchoStats stats;
  EchoRules rules({}, stats);
  const Address p = peer(40000);
  auto big = payload(1, 1400);
  ASSERT_TRUE(offer(rules, p, big, t0));
  auto last_byte_differs = big;
  last_byte_differs.back() ^= std::byte{1};
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(offer(rules, p, last_byte_differs, t0 + 1ms));
  EXPECT_TRUE(offer(rules, p, big, t0 + 2ms));
  EXPECT_FALSE(offer(rules, p, big, t0 + 3ms));
  EXPECT_EQ(stats.loop, 1u);
}

TEST(EchoRules, ARefusedReplyIsNotRemembered) {
  EchoStats stats;
  EchoRules rules({}, stats);
  const Address p = peer(40000);
  EXPECT_FALSE(offer(rules, p, payload(1), t0, /*queue_takes=*/false));
  EXPECT_TRUE(offer(rules, p, payload(2), t0 + 1ms));  // remembered: the first reply sent
  EXPECT_FALSE(offer(rules, p, payload(2), t0 + 2ms, /*queue_takes=*/false));  // back once, not sent
  EXPECT_TRUE(offer(rules, p, payload(2), t0 + 3ms));  // so this is still the first return
  EXPECT_FALSE(offer(rules, p, payload(2), t0 + 4ms));
  EXPECT_EQ(stats.not_sent, 2u);
  EXPECT_EQ(stats.answered, 2u);
  EXPECT_EQ(stats.loop, 1u);
}

TEST(EchoRules, AWindowOfZeroAnswersEveryRepeat) {
  EchoStats stats;
  EchoRules rules({.loop_window = 0s}, stats);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(offer(rules, peer(40000), payload(1), t0));
  EXPECT_FALSE(offer(rules, peer(53), payload(1), t0)) << "the port rule stands";
  EXPECT_EQ(stats.answered, 10u);
  EXPECT_EQ(stats.loop, 0u);
  EXPECT_EQ(stats.low_port, 1u);
}

TEST(EchoRules, AFullSetForgetsItsOldestPeer) {
  EchoStats stats;
  EchoRules rules({.table_entries = 4}, stats);  // one set of 4
  for (std::uint16_t i = 0; i < 5; ++i) {
    const auto at = t0 + std::chrono::milliseconds(i);
    ASSERT_TRUE(offer(rules, peer(41000 + i), payload(i), at));
    ASSERT_TRUE(offer(rules, peer(41000 + i), payload(i), at));  // back once
  }
  EXPECT_EQ(stats.evicted, 1u);  // peer 0, the oldest, for peer 4
  EXPECT_FALSE(offer(rules, peer(41001), payload(1), t0 + 10ms)) << "peer 1 is remembered";
  EXPECT_TRUE(offer(rules, peer(41000), payload(0), t0 + 10ms)) << "peer 0 was forgotten";
  EXPECT_EQ(stats.evicted, 2u);  // peer 2 made room for peer 0 again
  EXPECT_TRUE(offer(rules, peer(41002), payload(2), t0 + 11ms));
  EXPECT_EQ(stats.loop, 1u);
  // After a window every entry is free again: no eviction needed.
  EchoStats later_stats;
  EchoRules later({.table_entries = 4}, later_stats);
  for (std::uint16_t i = 0; i < 4; ++i) ASSERT_TRUE(offer(later, peer(42000 + i), payload(i), t0));
  ASSERT_TRUE(offer(later, peer(42004), payload(4), t0 + 1s));
  EXPECT_EQ(later_stats.evicted, 0u);
}

TEST(EchoRules, StatsAddUpAndReport) {
  EchoStats a{.answered = 1, .not_sent = 2, .low_port = 3, .loop = 4, .held = 5, .evicted = 6};
  EchoStats b = a;
  b += a;
  EXPECT_EQ(b.answered, 2u);
  EXPECT_EQ(b.evicted, 12u);
  const nlohmann::json j = echo_stats_json(b);
  EXPECT_EQ(j, (nlohmann::json{{"answered", 2}, {"not_sent", 4}, {"low_port", 6}, {"loop", 8}, {"held", 10}, {"evicted", 12}}));
  EXPECT_NE(echo_stats_line(b).find("6 well-known source port (< 1024)"), std::string::npos) << echo_stats_line(b);
}

}  // namespace
}  // namespace salvo::cli
