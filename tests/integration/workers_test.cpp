// Engines with several workers, for every backend: SO_REUSEPORT spreads source ports over the
// workers (each port sticking to one), CPU steering sends what the kernel handles on CPU k to the
// worker pinned to k, Engine::post runs functions in order on the right thread, and stopping
// during a flood keeps the accounting exact on every worker.
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

class Workers : public testing::TestWithParam<BackendKind> {
 protected:
  EngineOptions options(unsigned workers) const {
    EngineOptions o;
    o.backend = GetParam();
    o.workers = workers;
    o.buffer_count = 256;
    o.socket_receive_buffer = 1 << 20;
    return o;
  }
};

bool pin_this_thread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

TEST_P(Workers, SourcePortsSpreadOverWorkersAndEachSticksToOne) {
  Recorder recorder;
  auto engine = make_engine(options(2));
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
  must_start(*engine);
  constexpr int ports = 64;
  constexpr int per_port = 10;
  std::vector<std::unique_ptr<UdpSocket>> clients;
  for (int i = 0; i < ports; ++i) clients.push_back(std::make_unique<UdpSocket>(addr("127.0.0.1:0")));
  std::uint64_t seq = 0;
  for (int round = 0; round < per_port; ++round) {
    for (auto& c : clients) ASSERT_TRUE(c->send_to(make_payload(seq++, 48), server));
  }
  ASSERT_TRUE(recorder.wait_for_datagrams(ports * per_port, 10s)) << describe(engine->counters());
  stop_and_wait(*engine);

  std::map<std::uint16_t, std::set<unsigned>> workers_of_port;
  std::map<unsigned, std::uint64_t> per_worker;
  for (const Received& r : recorder.datagrams()) {
    workers_of_port[r.peer.port()].insert(r.worker);
    ++per_worker[r.worker];
  }
  EXPECT_EQ(workers_of_port.size(), static_cast<std::size_t>(ports));
  for (const auto& [port, workers] : workers_of_port) EXPECT_EQ(workers.size(), 1u) << "port " << port << " moved between workers";
  // 64 ports on 2 workers: the chance that the hash puts them all on one is 2^-63.
  ASSERT_EQ(per_worker.size(), 2u);
  const auto counters = engine->worker_counters();
  ASSERT_EQ(counters.size(), 2u);
  for (unsigned w = 0; w < 2; ++w) {
    EXPECT_EQ(counters[w].delivered, per_worker[w]) << "worker " << w;
    EXPECT_EQ(counters[w].received, per_worker[w]) << "worker " << w;
  }
  EXPECT_EQ(engine->counters().received, static_cast<std::uint64_t>(ports * per_port));
}

TEST_P(Workers, CpuSteeringSendsEachDatagramToTheWorkerOfItsCpu) {
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "CPU steering needs two CPUs";
  EngineOptions o = options(2);
  o.cpus = {0, 1};
  o.steer_by_cpu = true;
  Recorder recorder;
  auto engine = make_engine(o);
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
  must_start(*engine);

  // On loopback the kernel handles a datagram on the CPU that sent it; many source ports make sure
  // the hash alone would have spread them.
  constexpr int ports = 16;
  constexpr int per_port = 5;
  std::map<std::uint16_t, int> cpu_of_port;
  // Every client stays open to the end: a closed one's ephemeral port could be handed to a later
  // client on the other CPU, and the datagrams of both would then seem to come from one port.
  std::vector<std::unique_ptr<UdpSocket>> clients;
  for (int cpu = 0; cpu < 2; ++cpu) {
    std::thread sender([&, cpu] {
      ASSERT_TRUE(pin_this_thread(cpu));
      for (int p = 0; p < ports; ++p) {
        auto& client = *clients.emplace_back(std::make_unique<UdpSocket>(addr("127.0.0.1:0")));
        cpu_of_port[client.local().port()] = cpu;
        for (int i = 0; i < per_port; ++i) ASSERT_TRUE(client.send_to(make_payload(i, 32), server));
      }
    });
    sender.join();
  }
  ASSERT_EQ(cpu_of_port.size(), 2u * ports) << "every client has a port of its own";
  ASSERT_TRUE(recorder.wait_for_datagrams(2 * ports * per_port, 10s)) << describe(engine->counters());
  stop_and_wait(*engine);
  std::map<unsigned, int> per_worker;
  for (const Received& r : recorder.datagrams()) {
    ASSERT_TRUE(cpu_of_port.count(r.peer.port())) << r.peer.to_string();
    EXPECT_EQ(r.worker, static_cast<unsigned>(cpu_of_port[r.peer.port()])) << "from port " << r.peer.port();
    ++per_worker[r.worker];
  }
  EXPECT_EQ(per_worker[0], ports * per_port);
  EXPECT_EQ(per_worker[1], ports * per_port);
}

TEST_P(Workers, SteeringWithoutPinnedWorkersIsAnError) {
  EngineOptions o = options(2);
  o.steer_by_cpu = true;
  auto engine = Engine::create(o);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.error().code, make_error_code(Errc::bad_option));
}

TEST_P(Workers, PostRunsInOrderOnTheWorkersThread) {
  std::vector<std::thread::id> worker_thread(2);
  Recorder recorder;
  Hooks hooks;
  hooks.on_start = [&](Transport& t) { worker_thread[t.worker_index()] = std::this_thread::get_id(); };
  auto engine = make_engine(options(2));
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks));

  auto early = engine->post(0, [] {});
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().code, make_error_code(Errc::invalid_state));
  must_start(*engine);
  auto out_of_range = engine->post(2, [] {});
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_EQ(out_of_range.error().code, make_error_code(Errc::bad_option));

  // Two producers post to each worker; each worker appends to its own log (only its thread
  // touches it, so no lock: TSan checks that claim).
  constexpr int per_producer = 2000;
  std::vector<std::vector<std::pair<int, int>>> log(2);
  std::atomic<int> wrong_thread{0};
  std::vector<std::thread> producers;
  for (int producer = 0; producer < 2; ++producer) {
    producers.emplace_back([&, producer] {
      for (int i = 0; i < per_producer; ++i) {
        for (unsigned w = 0; w < 2; ++w) {
          auto r = engine->post(w, [&, w, producer, i] {
            if (std::this_thread::get_id() != worker_thread[w]) ++wrong_thread;
            log[w].emplace_back(producer, i);
          });
          ASSERT_TRUE(r.ok()) << r.error().message;
        }
      }
    });
  }
  for (auto& p : producers) p.join();
  // A last post per worker tells when everything before it has run (posts run in order).
  std::atomic<int> fences{0};
  for (unsigned w = 0; w < 2; ++w) ASSERT_TRUE(engine->post(w, [&] { ++fences; }).ok());
  ASSERT_TRUE(wait_until([&] { return fences.load() == 2; }, 10s));
  stop_and_wait(*engine);

  EXPECT_EQ(wrong_thread.load(), 0);
  for (unsigned w = 0; w < 2; ++w) {
    ASSERT_EQ(log[w].size(), 2u * per_producer) << "worker " << w;
    int next[2] = {0, 0};
    for (auto [producer, i] : log[w]) {
      EXPECT_EQ(i, next[producer]) << "worker " << w << " ran producer " << producer << "'s posts out of order";
      next[producer] = i + 1;
    }
  }
  auto late = engine->post(0, [] {});
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, make_error_code(Errc::invalid_state));
}

TEST_P(Workers, PostCanUseTheProtocolsTransport) {
  // A posted function sends through the transport its worker's protocol handed out.
  std::vector<Transport*> transports(1, nullptr);
  Recorder recorder;
  Hooks hooks;
  hooks.on_start = [&](Transport& t) { transports[0] = &t; };
  auto engine = make_engine(options(1));
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks));
  must_start(*engine);
  UdpSocket receiver(addr("127.0.0.1:0"));
  const Address to = receiver.local();
  for (std::uint64_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(engine->post(0, [&, i] { transports[0]->send(make_payload(i, 20), to); }).ok());
  }
  for (std::uint64_t i = 0; i < 10; ++i) {
    auto m = receiver.receive(2s);
    ASSERT_TRUE(m.has_value()) << i;
    EXPECT_EQ(payload_seq(m->payload), i);
  }
  stop_and_wait(*engine);
  EXPECT_EQ(engine->counters().sent, 10u);
}

TEST_P(Workers, StopDuringAFloodKeepsEveryWorkersAccountsExact) {
  Recorder recorder;
  auto engine = make_engine(options(2));
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, {}, Record::nothing));
  must_start(*engine);
  std::vector<std::unique_ptr<UdpSocket>> senders;
  for (int i = 0; i < 16; ++i) senders.push_back(std::make_unique<UdpSocket>(addr("127.0.0.1:0")));
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<bool> done{false};
  std::thread flood([&] {
    const auto payload = make_payload(1, 64);
    const Deadline limit(30s);
    for (std::uint64_t i = 0; i < 5'000'000 && !done && !limit.expired(); ++i) {
      if (senders[i % senders.size()]->send_to(payload, server)) ++accepted;
    }
  });
  ASSERT_TRUE(wait_until([&] { return engine->counters().received >= 20000; }, 20s));
  const std::uint64_t accepted_at_stop = accepted.load();
  engine->stop();
  const bool finished = engine->wait_for(10s);
  const std::uint64_t accepted_at_finish = accepted.load();
  done = true;
  flood.join();
  ASSERT_TRUE(finished) << "the engine did not stop within 10 s";
  const Counters c = engine->counters();
  const std::uint64_t reached = c.received + c.kernel_drops + c.discarded_at_close;
  EXPECT_GE(reached, accepted_at_stop) << describe(c);
  EXPECT_LE(reached, accepted_at_finish + 1) << describe(c);
  Counters sum;
  for (const Counters& w : engine->worker_counters()) {
    EXPECT_EQ(w.received, w.delivered + w.receive_drops()) << describe(w);
    sum += w;
  }
  EXPECT_EQ(sum.received, c.received);
  for (const auto& l : recorder.lifecycles()) EXPECT_EQ(l.stops, 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, Workers, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
