// Backpressure and graceful drain, for every backend: a paused socket delivers nothing while a
// flood arrives and the books still balance after it resumes (received + kernel_drops == sent);
// drain() stops reading, tells each protocol how long it has, lets it finish sending on a timer,
// and every datagram it queued before the deadline arrives.
#include <sys/socket.h>

#include <future>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

using PauseDrain = SmallPoolPerBackend;


TEST_P(PauseDrain, PausedSocketHoldsAFloodAndTheBooksBalance) {
  EngineOptions o = options();
  o.socket_receive_buffer = 64 * 1024;  // small, so that the flood overflows it
  auto engine = make_engine(o);
  Recorder recorder;
  Transport* server_transport = nullptr;
  Hooks hooks;
  hooks.on_start = [&](Transport& t) {
    server_transport = &t;
    t.pause_reading();
    EXPECT_TRUE(t.reading_paused());
  };
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks, Record::peers_only));
  must_start(*engine);
  ASSERT_TRUE(wait_until([&] { return recorder.lifecycles()[0].starts == 1; }, 10s));

  UdpSocket client(addr("127.0.0.1:0"));
  constexpr std::uint64_t flood = 5000;
  std::uint64_t sent = 0;
  for (std::uint64_t i = 0; i < flood; ++i) {
    if (client.send_to(make_payload(i, 200), server)) ++sent;
  }
  // A round trip through the worker, twice: it has had every chance to read, and must not have.
  run_on_worker(*engine, [](Reactor&) {});
  run_on_worker(*engine, [](Reactor&) {});
  EXPECT_EQ(recorder.peer_datagrams(), 0u) << "a paused socket delivered";
  ASSERT_TRUE(wait_until([&] { return engine->counters().kernel_drops > 0; }, 10s)) << "the flood overflowed nothing";

  run_on_worker(*engine, [&](Reactor&) {
    server_transport->resume_reading();
    EXPECT_FALSE(server_transport->reading_paused());
  });
  ASSERT_TRUE(wait_until([&] {
    const Counters c = engine->counters();
    return c.received + c.kernel_drops == sent;
  }, 20s)) << describe(engine->counters());
  const Counters c = engine->counters();
  EXPECT_EQ(c.delivered, recorder.peer_datagrams());
  EXPECT_GT(c.received, 0u);
  stop_and_wait(*engine);
}

// On draining, sends `total` numbered datagrams to `to`, five every 2 ms, then finishes.
class FinishesOnATimer final : public Protocol {
 public:
  FinishesOnATimer(Address to, int total, std::atomic<std::int64_t>& left_ns) : to_(to), total_(total), left_ns_(left_ns) {}
  void on_datagrams(std::span<const Datagram>, Transport&) override { ++batches_; }
  void on_draining(std::chrono::nanoseconds left, Transport& t) override {
    left_ns_ = left.count();
    auto id = t.call_every(2ms, [this, &t] {
      for (int k = 0; k < 5 && next_ < total_; ++k, ++next_) {
        EXPECT_EQ(t.send(make_payload(static_cast<std::uint64_t>(next_), 48), to_), SendResult::queued);
      }
      if (next_ == total_) t.stop_listening();
    });
    ASSERT_TRUE(id);
  }

 private:
  Address to_;
  int total_;
  int next_ = 0;
  int batches_ = 0;
  std::atomic<std::int64_t>& left_ns_;
};

TEST_P(PauseDrain, DrainLetsAProtocolFinishAndDeliversWhatItQueued) {
  auto engine = make_engine(options());
  UdpSocket receiver(addr("127.0.0.1:0"));
  std::atomic<std::int64_t> left_ns{-1};
  constexpr int total = 200;
  Recorder plain;
  // Beside it, a protocol with the default on_draining: it closes at once.
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(plain));
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), [&](unsigned) {
    return std::make_unique<FinishesOnATimer>(receiver.local(), total, left_ns);
  });
  must_start(*engine);
  engine->drain(10s);
  for (int i = 0; i < total; ++i) {
    auto m = receiver.receive(10s);
    ASSERT_TRUE(m) << "datagram " << i;
    EXPECT_EQ(payload_seq(m->payload), static_cast<std::uint64_t>(i));
  }
  ASSERT_TRUE(engine->wait_for(10s)) << "the engine did not finish once every protocol had";
  EXPECT_GT(left_ns.load(), 0);
  EXPECT_LE(left_ns.load(), std::chrono::nanoseconds(10s).count());
  EXPECT_EQ(plain.lifecycles()[0].stops, 1u);
  // Reading had stopped: a datagram sent now is never delivered (the socket is gone).
  const Counters c = engine->counters();
  EXPECT_EQ(c.sent, static_cast<std::uint64_t>(total));
  EXPECT_EQ(c.dropped_send_error, 0u);
  (void)server;
}

TEST_P(PauseDrain, DrainDeadlineStopsAProtocolThatNeverFinishes) {
  auto engine = make_engine(options());
  Recorder recorder;
  class Stubborn final : public Protocol {
   public:
    void on_datagrams(std::span<const Datagram>, Transport&) override {}
    void on_draining(std::chrono::nanoseconds, Transport&) override {}  // never finishes
  };
  must_listen(*engine, addr("127.0.0.1:0"), [](unsigned) { return std::make_unique<Stubborn>(); });
  must_start(*engine);
  engine->drain(100ms);
  ASSERT_TRUE(engine->wait_for(10s)) << "the drain's deadline did not stop the engine";
}

INSTANTIATE_TEST_SUITE_P(Backends, PauseDrain, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
