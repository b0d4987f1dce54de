// FloodGuard in front of real engines, for every backend, over loopback. The guard's clock is
// frozen (and moved by the test), so that what the rate limit admits is exact, not a function of
// how fast this machine happens to send:
//   - rate limiting: a source sending 300 datagrams gets exactly its burst through, another source
//     (another /24) is not affected, and one second of (frozen-clock) time later exactly `rate`
//     more pass; the engine's own counters still account for every datagram read;
//   - a source is a prefix: four sockets of one /24 (three ports of 127.0.0.1, one of 127.0.0.2)
//     get one burst between them, a socket of 127.0.1.1 its own; with ipv4_prefix 32, each address;
//   - no amplification: a protocol that answers every 100-byte request with 400 bytes, through
//     FloodGuard::send, sends an unverified client exactly as many bytes as it received from it
//     (25 replies for 100 requests), and every reply once the protocol marks the client verified.
// The 65,536-source flood (memory stays flat, the table stays at its size) is in fault_test.cpp.
#include <atomic>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

std::atomic<std::int64_t> g_frozen_ns{1'000'000'000'000};
std::chrono::steady_clock::time_point frozen_clock() {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(g_frozen_ns.load(std::memory_order_relaxed)));
}

class FloodGuardEngine : public testing::TestWithParam<BackendKind> {
 protected:
  EngineOptions options() const {
    EngineOptions o;
    o.backend = GetParam();
    o.socket_receive_buffer = 1 << 20;
    return o;
  }
};

// Echoes each datagram through the guard; `amplify` times its size. A datagram "VERIFY" marks its
// sender verified instead (a stand-in for a cookie or a handshake).
class GuardedEcho final : public Protocol {
 public:
  GuardedEcho(FloodGuard& guard, std::size_t amplify) : guard_(guard), reply_(65536), amplify_(amplify) {}
  void on_datagrams(std::span<const Datagram> batch, Transport& t) override {
    for (const Datagram& d : batch) {
      if (d.payload.size() == 6 && std::memcmp(d.payload.data(), "VERIFY", 6) == 0) {
        guard_.mark_verified(d.peer);
        continue;
      }
      const std::size_t n = std::min(reply_.size(), d.payload.size() * amplify_);
      std::memcpy(reply_.data(), d.payload.data(), std::min(n, d.payload.size()));
      guard_.send(std::span<const std::byte>(reply_.data(), n), d.peer, t);
    }
  }

 private:
  FloodGuard& guard_;
  std::vector<std::byte> reply_;
  std::size_t amplify_;
};

// Sends `count` datagrams of `size` from `client`, 50 at a time, waiting after each chunk until
// the engine has read them all, so that the socket never has reason to drop.
void send_chunked(UdpSocket& client, const Address& to, Engine& engine, std::uint64_t count, std::size_t size) {
  const std::uint64_t base = engine.counters().received;
  for (std::uint64_t seq = 0; seq < count;) {
    const std::uint64_t end = std::min(count, seq + 50);
    for (; seq < end; ++seq) ASSERT_TRUE(client.send_to(make_payload(seq, size), to));
    ASSERT_TRUE(wait_until([&] { return engine.counters().received - base == seq; }, 10s)) << describe(engine.counters());
  }
}

// Reads what arrives at `client` until nothing has for `quiet`: (datagrams, bytes).
std::pair<std::uint64_t, std::uint64_t> drain(UdpSocket& client, milliseconds quiet) {
  std::uint64_t n = 0, bytes = 0;
  std::vector<std::byte> buffer(65536);
  while (client.wait_readable(quiet)) {
    Address from;
    long got;
    while ((got = client.try_receive(buffer, from)) >= 0) {
      ++n;
      bytes += static_cast<std::uint64_t>(got);
    }
  }
  return {n, bytes};
}

TEST_P(FloodGuardEngine, RateLimitAdmitsExactlyTheBurstThenTheRate) {
  FloodGuardOptions g;
  g.rate = 20;
  g.burst = 50;
  g.clock = &frozen_clock;
  auto monitor = std::make_shared<FloodGuardMonitor>();
  auto factory = flood_guarded(g, [](unsigned, FloodGuard& guard) { return std::make_unique<GuardedEcho>(guard, 1); }, monitor);
  ASSERT_TRUE(factory.ok()) << factory.error().message;
  auto engine = make_engine(options());
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), *factory);
  must_start(*engine);

  UdpSocket flooder(addr("127.0.0.1:0"), 1 << 20);
  UdpSocket other(addr("127.0.1.1:0"), 1 << 20);  // another /24: another source
  send_chunked(flooder, server, *engine, 300, 64);
  send_chunked(other, server, *engine, 10, 64);
  EXPECT_EQ(drain(flooder, 300ms).first, 50u) << "the flooder gets its burst answered, no more";
  EXPECT_EQ(drain(other, 100ms).first, 10u) << "another source is not limited by the flooder";

  g_frozen_ns.fetch_add(1'000'000'000);  // one second: rate (20) more
  send_chunked(flooder, server, *engine, 100, 64);
  EXPECT_EQ(drain(flooder, 300ms).first, 20u);

  stop_and_wait(*engine);
  const FloodGuardStats s = monitor->stats();
  const Counters c = engine->counters();
  std::cout << "[ figure ] flood guard rate limit (" << to_string(GetParam()) << "): 410 datagrams from 2 sources, admitted "
            << s.admitted << ", rate_limited " << s.rate_limited << ", engine received " << c.received << ", delivered "
            << c.delivered << ", kernel_drops " << c.kernel_drops << "\n";
  EXPECT_EQ(s.datagrams, 410u);
  EXPECT_EQ(s.admitted, 80u);
  EXPECT_EQ(s.rate_limited, 330u);
  EXPECT_EQ(s.rate_limited_bytes, 330u * 64);
  EXPECT_EQ(s.replies, 80u);
  EXPECT_EQ(s.over_budget, 0u);
  EXPECT_EQ(s.tracked, 2u);
  EXPECT_EQ(s.unguarded_sends, 0u);
  // The engine read and delivered every datagram: the guard's drops are its own, counted there.
  EXPECT_EQ(c.received, 410u) << describe(c);
  EXPECT_EQ(c.delivered, 410u);
  EXPECT_EQ(c.kernel_drops, 0u);
  EXPECT_EQ(c.sent, 80u);
}

TEST_P(FloodGuardEngine, AnUnverifiedClientIsNeverSentMoreThanItSent) {
  FloodGuardOptions g;
  g.rate = 1'000'000;
  g.burst = 1000;  // the frozen clock never refills: enough for every datagram of the test
  g.clock = &frozen_clock;
  auto monitor = std::make_shared<FloodGuardMonitor>();
  auto factory = flood_guarded(g, [](unsigned, FloodGuard& guard) { return std::make_unique<GuardedEcho>(guard, 4); }, monitor);
  ASSERT_TRUE(factory.ok());
  auto engine = make_engine(options());
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), *factory);
  must_start(*engine);

  UdpSocket client(addr("127.0.0.1:0"), 1 << 20);
  send_chunked(client, server, *engine, 100, 100);  // 10,000 bytes in; the protocol wants 40,000 out
  const auto [replies, reply_bytes] = drain(client, 300ms);
  const FloodGuardStats before = monitor->stats();
  std::cout << "[ figure ] no amplification (" << to_string(GetParam()) << "): unverified client sent 100 x 100 = 10000 bytes, "
            << "protocol asked for 100 x 400 bytes, client received " << replies << " datagrams, " << reply_bytes
            << " bytes (factor " << static_cast<double>(reply_bytes) / 10000.0 << "), over_budget " << before.over_budget << "\n";
  // Credit 100 per request, 400 per reply: every fourth request's reply goes out, whatever the
  // batching (a batch's credit is added before its replies are tried, and never exceeds them).
  EXPECT_EQ(replies, 25u);
  EXPECT_EQ(reply_bytes, 10'000u);
  EXPECT_EQ(before.over_budget, 75u);
  EXPECT_EQ(before.over_budget_bytes, 75u * 400);
  EXPECT_EQ(before.reply_bytes, 10'000u);
  EXPECT_EQ(before.admitted_bytes, 10'000u);

  // The client proves its address; from then on it gets every 4x reply.
  const std::string verify = "VERIFY";
  ASSERT_TRUE(client.send_to(std::as_bytes(std::span(verify.data(), verify.size())), server));
  ASSERT_TRUE(wait_until([&] { return monitor->stats().verified == 1; }, 10s));
  send_chunked(client, server, *engine, 100, 100);
  const auto [after_replies, after_bytes] = drain(client, 300ms);
  EXPECT_EQ(after_replies, 100u);
  EXPECT_EQ(after_bytes, 40'000u);
  stop_and_wait(*engine);
  const FloodGuardStats s = monitor->stats();
  EXPECT_EQ(s.replies, 125u);
  EXPECT_EQ(s.over_budget, 75u);
  EXPECT_EQ(s.rate_limited, 0u);
  EXPECT_EQ(s.unguarded_sends, 0u);
  EXPECT_EQ(engine->counters().sent, 125u);
}

// Four sockets of 127.0.0.0/24 and one of 127.0.1.0/24 each send 30 datagrams: what the guard
// admits with `options`, per socket, and the guard's counters.
struct PrefixRun {
  std::vector<std::uint64_t> answered;  // per socket, in the order below
  FloodGuardStats stats;
};
PrefixRun run_prefix_clients(BackendKind backend, FloodGuardOptions g) {
  g.rate = 20;
  g.burst = 50;
  g.clock = &frozen_clock;
  auto monitor = std::make_shared<FloodGuardMonitor>();
  auto factory = flood_guarded(g, [](unsigned, FloodGuard& guard) { return std::make_unique<GuardedEcho>(guard, 1); }, monitor);
  if (!factory) throw std::runtime_error(factory.error().message);
  EngineOptions o;
  o.backend = backend;
  o.socket_receive_buffer = 1 << 20;
  auto engine = make_engine(o);
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), *factory);
  must_start(*engine);
  std::vector<std::unique_ptr<UdpSocket>> clients;
  for (const char* bind : {"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.2:0", "127.0.1.1:0"}) {
    clients.push_back(std::make_unique<UdpSocket>(addr(bind), 1 << 20));
  }
  PrefixRun run;
  for (auto& c : clients) send_chunked(*c, server, *engine, 30, 64);
  for (auto& c : clients) run.answered.push_back(drain(*c, 200ms).first);
  stop_and_wait(*engine);
  run.stats = monitor->stats();
  return run;
}

TEST_P(FloodGuardEngine, PortsAndHostsOfOneSlash24ShareOneBurst) {
  const PrefixRun run = run_prefix_clients(GetParam(), FloodGuardOptions{});
  // 120 datagrams from 127.0.0.0/24, in the order sent: the first socket's 30, the second's 20
  // (the burst of 50 is spent), nothing after; 127.0.1.1 has a burst of its own.
  EXPECT_EQ(run.answered, (std::vector<std::uint64_t>{30, 20, 0, 0, 30}));
  EXPECT_EQ(run.stats.datagrams, 150u);
  EXPECT_EQ(run.stats.admitted, 80u);
  EXPECT_EQ(run.stats.rate_limited, 70u);
  EXPECT_EQ(run.stats.tracked, 2u);
  EXPECT_EQ(run.stats.new_sources, 2u);
}

TEST_P(FloodGuardEngine, Slash32MakesEachAddressASourceButNotEachPort) {
  FloodGuardOptions g;
  g.ipv4_prefix = 32;
  const PrefixRun run = run_prefix_clients(GetParam(), g);
  EXPECT_EQ(run.answered, (std::vector<std::uint64_t>{30, 20, 0, 30, 30}));
  EXPECT_EQ(run.stats.admitted, 110u);
  EXPECT_EQ(run.stats.tracked, 3u);
}

INSTANTIATE_TEST_SUITE_P(Backends, FloodGuardEngine, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
