// FakeTransport's clock: a protocol's timers run when the test advances time, each at its own due
// time, their sends flushed after each; timers the socket owns go when it stops; pause_reading
// holds deliveries back. No sleeping anywhere.
#include <string>
#include <vector>

#include "salvo/fake_transport.hpp"
#include "salvo/reactor.hpp"
#include "support/test_support.hpp"

namespace salvo {
namespace {

using namespace std::chrono_literals;
using test::addr;
using Clock = std::chrono::steady_clock;

// Sends "tick N" to its peer every 10 ms once a peer has said hello, and "bye" 35 ms after the
// hello; forgets the peer (cancelling the ticks) when the peer says "quit".
class Ticker : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram> batch, Transport& t) override {
    for (const Datagram& d : batch) {
      const std::string text(reinterpret_cast<const char*>(d.payload.data()), d.payload.size());
      if (text == "quit") {
        EXPECT_TRUE(t.reactor().cancel(ticks));
        continue;
      }
      peer = d.peer;
      hello_at = t.reactor().now();
      auto id = t.call_every(10ms, [this, &t] {
        fired_at.push_back(t.reactor().now());
        const std::string msg = "tick " + std::to_string(fired_at.size());
        t.send(std::as_bytes(std::span(msg.data(), msg.size())), peer);
      });
      ASSERT_TRUE(id);
      ticks = *id;
      ASSERT_TRUE(t.call_later(35ms, [this, &t] {
        const std::string msg = "bye";
        t.send(std::as_bytes(std::span(msg.data(), msg.size())), peer);
      }));
    }
  }
  Address peer;
  TimerId ticks;
  Clock::time_point hello_at;
  std::vector<Clock::time_point> fired_at;
};

std::vector<std::string> texts(FakeTransport& fake) {
  std::vector<std::string> out;
  for (const auto& s : fake.take_sent()) out.push_back(s.text());
  return out;
}

TEST(FakeTransportTimers, RunOnlyWhenTheTestAdvancesTheClock) {
  FakeTransport fake;
  Ticker p;
  const Clock::time_point start = fake.now();
  fake.deliver(p, "hello", addr("10.0.0.1:5000"));
  EXPECT_EQ(p.hello_at, start);
  EXPECT_TRUE(texts(fake).empty());
  EXPECT_EQ(fake.advance(p, 9ms), 0u);
  EXPECT_TRUE(texts(fake).empty());
  EXPECT_EQ(fake.advance(p, 1ms), 1u);  // exactly due
  EXPECT_EQ(texts(fake), (std::vector<std::string>{"tick 1"}));
  // 30 ms more: ticks at 20 and 30, "bye" at 35, tick at 40; each at its own due time.
  EXPECT_EQ(fake.advance(p, 30ms), 4u);
  EXPECT_EQ(texts(fake), (std::vector<std::string>{"tick 2", "tick 3", "bye", "tick 4"}));
  ASSERT_EQ(p.fired_at.size(), 4u);
  for (std::size_t i = 0; i < p.fired_at.size(); ++i) EXPECT_EQ(p.fired_at[i], start + (i + 1) * 10ms);
  EXPECT_EQ(fake.now(), start + 40ms);
  EXPECT_EQ(fake.reactor().pending_timers(), 1u);

  fake.deliver(p, "quit", addr("10.0.0.1:5000"));
  EXPECT_EQ(fake.advance(p, 1s), 0u);
  EXPECT_TRUE(texts(fake).empty());
  EXPECT_EQ(fake.reactor().pending_timers(), 0u);
}

TEST(FakeTransportTimers, SocketTimersGoWhenItStops) {
  FakeTransport fake;
  Ticker p;
  fake.deliver(p, "hello", addr("10.0.0.1:5000"));
  EXPECT_EQ(fake.reactor().pending_timers(), 2u);
  fake.stop(p);
  EXPECT_EQ(fake.reactor().pending_timers(), 0u);
  EXPECT_EQ(fake.advance(p, 1s), 0u);
  EXPECT_TRUE(fake.sent().empty());
}

TEST(FakeTransportTimers, WorkerWideTimersAndAFullTable) {
  FakeTransportOptions o;
  o.timers = 2;
  FakeTransport fake(addr("127.0.0.1:9999"), o);
  Ticker p;
  int fired = 0;
  ASSERT_TRUE(fake.reactor().call_later(5ms, [&] { ++fired; }));
  ASSERT_TRUE(fake.reactor().call_every(5ms, [&] { ++fired; }));
  auto full = fake.reactor().call_later(5ms, [&] { ++fired; });
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, make_error_code(Errc::full));
  EXPECT_EQ(fake.advance(p, 10ms), 3u);  // the one-shot once, the periodic at 5 and 10
  EXPECT_EQ(fired, 3);
  EXPECT_FALSE(fake.reactor().call_every(0ms, [] {}));
}

TEST(FakeTransportTimers, PausedReadingDeliversNothing) {
  FakeTransport fake;
  Ticker p;
  fake.transport().pause_reading();
  EXPECT_EQ(fake.deliver(p, "hello", addr("10.0.0.1:5000")), 0u);
  fake.transport().resume_reading();
  EXPECT_EQ(fake.deliver(p, "hello", addr("10.0.0.1:5000")), 1u);
}

// On draining, says "bye" to its peer 5 ms later and then finishes.
class Finisher : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram> batch, Transport&) override { peer = batch.back().peer; }
  void on_draining(std::chrono::nanoseconds left, Transport& t) override {
    told = left;
    ASSERT_TRUE(t.call_later(5ms, [this, &t] {
      const std::string msg = "bye";
      t.send(std::as_bytes(std::span(msg.data(), msg.size())), peer);
      t.stop_listening();
    }));
  }
  Address peer;
  std::chrono::nanoseconds told{};
};

TEST(FakeTransportTimers, DrainReadsNoMoreAndLetsTheProtocolFinishOnItsTimer) {
  FakeTransport fake;
  Finisher p;
  fake.deliver(p, "hi", addr("10.0.0.1:5000"));
  fake.drain(p, 2s);
  EXPECT_EQ(p.told, 2s);
  EXPECT_TRUE(fake.transport().reading_paused());
  EXPECT_EQ(fake.deliver(p, "late", addr("10.0.0.2:5000")), 0u);
  fake.transport().resume_reading();  // no effect while draining
  EXPECT_TRUE(fake.transport().reading_paused());
  EXPECT_FALSE(fake.closed());
  EXPECT_EQ(fake.advance(p, 5ms), 1u);
  EXPECT_TRUE(fake.closed());
  const auto sent = fake.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].text(), "bye");
  EXPECT_EQ(sent[0].to, addr("10.0.0.1:5000"));
}

TEST(FakeTransportTimers, ResolveAnswersAtTheNextAdvance) {
  FakeTransport fake;
  Ticker p;
  std::vector<Address> got;
  fake.reactor().resolve("127.0.0.1", 53, [&](Result<std::vector<Address>> r) {
    ASSERT_TRUE(r);
    got = *r;
  });
  EXPECT_TRUE(got.empty()) << "answered inside the call";
  fake.advance(p, 0ms);
  EXPECT_EQ(got, (std::vector<Address>{addr("127.0.0.1:53")}));
  auto opened = fake.reactor().open(addr("127.0.0.1:0"), nullptr);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, make_error_code(Errc::invalid_state));
}

}  // namespace
}  // namespace salvo
