// examples/ticker_protocol.hpp driven by a FakeTransport, on a clock only the test moves: exactly
// one snapshot per joined client per tick, with the tick number and the client count; a client is
// dropped exactly its timeout after the last datagram it sent, and its slot then takes a newcomer
// the full table had turned away. Also the snapshot codec and the lateness histogram.
#include <cmath>
#include <map>

#include "support/test_support.hpp"
#include "ticker_protocol.hpp"

namespace salvo::test {
namespace {

using namespace std::chrono_literals;

// What one tick sent: each destination and its snapshot.
std::map<std::string, ticker::Snapshot> snapshots_of(const std::vector<SentDatagram>& sent) {
  std::map<std::string, ticker::Snapshot> out;
  for (const SentDatagram& d : sent) {
    const auto s = ticker::decode(d.bytes);
    EXPECT_TRUE(s.has_value()) << d.bytes.size() << " bytes to " << d.to.to_string();
    EXPECT_EQ(out.count(d.to.to_string()), 0u) << "two snapshots to " << d.to.to_string() << " in one tick";
    if (s) out[d.to.to_string()] = *s;
  }
  return out;
}

class TickerProtocol : public testing::Test {
 protected:
  TickerProtocol() { fake_.start(ticker_); }

  static ticker::Settings settings() {
    ticker::Settings s;
    s.period = 100ms;
    s.timeout = 1050ms;  // not a whole number of ticks: an expiry never ties with a tick
    s.max_clients = 2;
    s.quiet = true;
    return s;
  }

  // Moves the clock to `at` (from the start) and returns what the ticks on the way sent.
  std::vector<SentDatagram> advance_to(Clock::duration at) {
    fake_.advance_to(ticker_, start_ + at);
    return fake_.take_sent();
  }

  ticker::Settings settings_ = settings();
  ticker::Stats stats_;
  ticker::Ticker ticker_{settings_, stats_};
  FakeTransport fake_{addr("127.0.0.1:7000")};
  const Clock::time_point start_ = fake_.now();
  const Address a_ = addr("10.0.0.1:1001");
  const Address b_ = addr("10.0.0.2:1002");
  const Address c_ = addr("10.0.0.3:1003");
};

TEST_F(TickerProtocol, SendsOneSnapshotPerClientPerTickAndDropsAClientExactlyItsTimeoutAfterItLastSent) {
  EXPECT_TRUE(advance_to(100ms).empty());  // tick 1: nobody has joined
  EXPECT_EQ(stats_.ticks, 1u);

  fake_.deliver(ticker_, "join", a_);  // at 100 ms: a expires at 1150 ms unless it sends again
  EXPECT_TRUE(fake_.take_sent().empty()) << "joining is answered by the next tick, not at once";
  EXPECT_EQ(snapshots_of(advance_to(200ms)),
            (std::map<std::string, ticker::Snapshot>{{a_.to_string(), {2, 1}}}));

  fake_.deliver(ticker_, "join", b_);  // at 200 ms
  fake_.deliver(ticker_, "join", c_);  // the table (2) is full: turned away
  EXPECT_EQ(stats_.clients_turned_away, 1u);
  EXPECT_EQ(snapshots_of(advance_to(300ms)),
            (std::map<std::string, ticker::Snapshot>{{a_.to_string(), {3, 2}}, {b_.to_string(), {3, 2}}}));
  fake_.deliver(ticker_, "input", b_);  // at 300 ms: b now expires at 1350 ms

  // Ticks 4..11 (400..1100 ms): one snapshot each to a and b, in tick order.
  const auto sent = advance_to(1150ms - 1ns);
  ASSERT_EQ(sent.size(), 16u);
  for (std::size_t i = 0; i < sent.size(); i += 2) {
    const auto first = sent.begin() + static_cast<std::ptrdiff_t>(i);
    const auto tick = snapshots_of(std::vector<SentDatagram>(first, first + 2));
    const ticker::Snapshot expected{4 + i / 2, 2};
    EXPECT_EQ(tick, (std::map<std::string, ticker::Snapshot>{{a_.to_string(), expected}, {b_.to_string(), expected}}));
  }
  EXPECT_EQ(ticker_.clients(), 2u);
  EXPECT_EQ(stats_.clients_expired, 0u);

  advance_to(1150ms);  // a's timeout, to the nanosecond
  EXPECT_EQ(ticker_.clients(), 1u);
  EXPECT_EQ(stats_.clients_expired, 1u);
  EXPECT_EQ(snapshots_of(advance_to(1200ms)),
            (std::map<std::string, ticker::Snapshot>{{b_.to_string(), {12, 1}}}));

  // a's slot is free again: the client turned away before now joins.
  fake_.deliver(ticker_, "join", c_);  // at 1200 ms
  EXPECT_EQ(snapshots_of(advance_to(1300ms)),
            (std::map<std::string, ticker::Snapshot>{{b_.to_string(), {13, 2}}, {c_.to_string(), {13, 2}}}));
  advance_to(1350ms - 1ns);
  EXPECT_EQ(ticker_.clients(), 2u);
  advance_to(1350ms);  // b's timeout, counted from its "input" at 300 ms
  EXPECT_EQ(ticker_.clients(), 1u);
  EXPECT_EQ(snapshots_of(advance_to(1400ms)),
            (std::map<std::string, ticker::Snapshot>{{c_.to_string(), {14, 1}}}));

  EXPECT_EQ(advance_to(2250ms).size(), 8u);  // ticks 15..22 to c, then c's timeout
  EXPECT_EQ(ticker_.clients(), 0u);  // nobody is left, and the ticks go on sending nothing
  EXPECT_TRUE(advance_to(2500ms).empty());
  EXPECT_EQ(stats_.ticks, 25u);

  fake_.stop(ticker_);
  EXPECT_EQ(stats_.clients_joined, 3u);
  EXPECT_EQ(stats_.clients_expired, 3u);
  EXPECT_EQ(stats_.clients_turned_away, 1u);
  EXPECT_EQ(stats_.clients_at_exit, 0u);
  EXPECT_EQ(stats_.snapshots_queued, 1u + 2u + 16u + 1u + 2u + 1u + 8u);
  EXPECT_EQ(stats_.snapshots_not_queued, 0u);
  EXPECT_EQ(stats_.lateness.count(), 25u);
  EXPECT_EQ(fake_.reactor().pending_timers(), 0u) << "the socket's timers go when it closes";
}

TEST(TickerSnapshot, IsTwelveLittleEndianBytesTickThenClients) {
  const auto bytes = ticker::encode({0x0102030405060708ull, 0x0a0b0c0du});
  const std::array<std::byte, 12> expected = {std::byte{0x08}, std::byte{0x07}, std::byte{0x06}, std::byte{0x05},
                                              std::byte{0x04}, std::byte{0x03}, std::byte{0x02}, std::byte{0x01},
                                              std::byte{0x0d}, std::byte{0x0c}, std::byte{0x0b}, std::byte{0x0a}};
  EXPECT_EQ(bytes, expected);
  EXPECT_EQ(ticker::decode(bytes), (ticker::Snapshot{0x0102030405060708ull, 0x0a0b0c0du}));
  EXPECT_FALSE(ticker::decode(std::span<const std::byte>(bytes).first(11)).has_value());
}

TEST(LatenessHistogram, PercentilesAreNeverBelowTheTrueValueAndWithinOneSixtyFourth) {
  examples::LatenessHistogram h;
  EXPECT_EQ(h.percentile_us(0.5), 0u);
  for (std::uint64_t us = 1; us <= 100000; ++us) h.record(std::chrono::microseconds(us));
  h.record(-5us);  // counts as 0
  EXPECT_EQ(h.count(), 100001u);
  EXPECT_EQ(h.max_us(), 100000u);
  for (const double q : {0.001, 0.5, 0.9, 0.99}) {
    const auto truth = static_cast<std::uint64_t>(std::ceil(q * 100001.0)) - 1;  // samples are 0..100000
    const std::uint64_t answer = h.percentile_us(q);
    EXPECT_GE(answer, truth) << q;
    EXPECT_LE(answer, truth + truth / 64 + 1) << q;
  }
  EXPECT_EQ(h.percentile_us(1.0), 100000u);
  h.record(std::chrono::hours(1000000));  // far out of any tick's range: still a bucket
  EXPECT_EQ(h.max_us(), 3600000000000000ull);
}

}  // namespace
}  // namespace salvo::test
