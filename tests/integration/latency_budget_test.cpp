// The latency budget (EngineOptions::latency_budget) on each backend: with it, an echo still
// answers every datagram exactly; the worker's waits are counted (wakeups, batch_waits and the
// holds they chose, batch_wait_us, never more than the budget each); a worker that has just served
// traffic holds its next wait; and with budget 0 no wait is ever held. The policy's bound on how
// long a datagram waits is checked on a fake clock in tests/unit/engine/batch_wait_test.cpp.
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

using namespace std::chrono_literals;

class LatencyBudget : public testing::TestWithParam<BackendKind> {
 protected:
  EngineOptions options(EngineOptions::LatencyBudget budget) const {
    EngineOptions o;
    o.backend = GetParam();
    o.latency_budget = budget;
    o.socket_receive_buffer = 4 << 20;
    return o;
  }
};

// Bursts of `burst` datagrams, each burst answered in full before the next: every reply checked by
// content, none missing or extra.
void echo_bursts(UdpSocket& client, const Address& server, std::uint64_t bursts, std::uint64_t burst) {
  std::uint64_t seq = 0;
  for (std::uint64_t b = 0; b < bursts; ++b) {
    std::vector<bool> answered(burst, false);
    const std::uint64_t first = seq;
    for (std::uint64_t i = 0; i < burst; ++i, ++seq) {
      ASSERT_TRUE(client.send_to(make_payload(seq, 16 + seq % 100), server)) << "#" << seq;
    }
    for (std::uint64_t i = 0; i < burst; ++i) {
      auto reply = client.receive(5s);
      ASSERT_TRUE(reply.has_value()) << "burst " << b << ": " << i << " of " << burst << " replies within 5 s";
      ASSERT_EQ(reply->from, server);
      const std::uint64_t got = payload_seq(reply->payload);
      ASSERT_TRUE(got >= first && got < first + burst) << "reply #" << got << " in burst " << b;
      ASSERT_EQ(reply->payload, make_payload(got, 16 + got % 100));
      ASSERT_FALSE(answered[got - first]) << "reply #" << got << " twice";
      answered[got - first] = true;
    }
  }
}

// One datagram, its reply awaited and checked.
void ping(UdpSocket& client, const Address& server, std::uint64_t seq) {
  const auto payload = make_payload(seq, 32);
  ASSERT_TRUE(client.send_to(payload, server));
  auto reply = client.receive(5s);
  ASSERT_TRUE(reply.has_value()) << "no reply to ping #" << seq;
  ASSERT_EQ(reply->payload, payload);
}

TEST_P(LatencyBudget, EchoesEveryDatagramAndCountsItsWaits) {
  for (const EngineOptions::LatencyBudget budget : {EngineOptions::LatencyBudget{100us, false},
                                                     EngineOptions::LatencyBudget{100us, true}}) {
    SCOPED_TRACE(to_string(budget));
    Recorder recorder;
    auto engine = make_engine(options(budget));
    const Address bound = must_listen(*engine, addr("127.0.0.1:0"), echo_factory(recorder));
    must_start(*engine);
    UdpSocket client(addr("127.0.0.1:0"));
    echo_bursts(client, bound, 100, 20);
    stop_and_wait(*engine);
    if (HasFatalFailure()) return;
    const Counters c = engine->counters();
    EXPECT_EQ(c.received, 2000u) << describe(c);
    EXPECT_EQ(c.delivered, 2000u) << describe(c);
    EXPECT_EQ(c.sent, 2000u) << describe(c);
    EXPECT_GE(c.wakeups, 1u) << describe(c);
    EXPECT_LE(c.batch_waits, c.wakeups) << describe(c);
    // Each hold is the budget less the round before it: never more than the budget.
    EXPECT_LE(c.batch_wait_us, c.batch_waits * 100) << describe(c);
    ASSERT_EQ(engine->worker_counters().size(), 1u);
    EXPECT_EQ(engine->worker_counters()[0].wakeups, c.wakeups);
  }
}

TEST_P(LatencyBudget, AWorkerThatServedTrafficHoldsItsNextWait) {
  // A long budget, so that pings sent back to back arrive well within it even on a loaded
  // machine: the worker sees a rate that makes the next datagram likely, and holds. Pings until
  // a hold is counted (each round is a chance), each answered.
  auto engine = make_engine(options({10ms, false}));
  Recorder recorder;
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), echo_factory(recorder));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  std::uint64_t pings = 0;
  for (; pings < 5000 && engine->counters().batch_waits == 0; ++pings) {
    ASSERT_NO_FATAL_FAILURE(ping(client, bound, pings));
  }
  stop_and_wait(*engine);
  const Counters c = engine->counters();
  EXPECT_GE(c.batch_waits, 1u) << "no held wait after " << pings << " pings; " << describe(c);
  EXPECT_LE(c.batch_wait_us, c.batch_waits * 10'000) << describe(c);
  EXPECT_EQ(c.received, pings) << describe(c);
  EXPECT_EQ(c.sent, pings) << describe(c);
}

TEST_P(LatencyBudget, BudgetZeroNeverHolds) {
  Recorder recorder;
  auto engine = make_engine(options({}));
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), echo_factory(recorder));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  echo_bursts(client, bound, 50, 10);
  // A lone ping-pong, the case budget 0 keeps as it was.
  for (std::uint64_t i = 0; i < 200; ++i) ASSERT_NO_FATAL_FAILURE(ping(client, bound, 10'000 + i));
  stop_and_wait(*engine);
  const Counters c = engine->counters();
  EXPECT_EQ(c.received, 700u) << describe(c);
  EXPECT_EQ(c.sent, 700u) << describe(c);
  EXPECT_GE(c.wakeups, 1u) << describe(c);
  EXPECT_EQ(c.batch_waits, 0u) << describe(c);
  EXPECT_EQ(c.batch_wait_us, 0u) << describe(c);
}

TEST_P(LatencyBudget, OutOfRangeIsRefused) {
  EngineOptions o = options({std::chrono::microseconds(10'001), false});
  auto engine = Engine::create(o);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.error().code, make_error_code(Errc::bad_option));
  EXPECT_NE(engine.error().message.find("latency budget"), std::string::npos) << engine.error().message;
}

INSTANTIATE_TEST_SUITE_P(Backends, LatencyBudget, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
