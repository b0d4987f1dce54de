// Engine lifecycle, for every backend: hooks run once each, in order, on the right worker; calls
// made at the wrong point fail with Errc::invalid_state; bind failures name the address; several
// workers share one port through SO_REUSEPORT; a protocol can end its own socket; destroying an
// engine releases its ports.
#include <sys/socket.h>

#include <cstring>
#include <map>
#include <set>
#include <thread>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

class Lifecycle : public testing::TestWithParam<BackendKind> {
 protected:
  EngineOptions options() const {
    EngineOptions o;
    o.backend = GetParam();
    o.buffer_count = 16;
    return o;
  }
};

TEST_P(Lifecycle, BackendIsTheOneAskedFor) {
  auto engine = make_engine(options());
  EXPECT_EQ(engine->backend().kind, GetParam());
  EXPECT_FALSE(engine->backend().reason.empty());
  EXPECT_EQ(engine->backend().reason.rfind(std::string(to_string(GetParam())) + ":", 0), 0u)
      << engine->backend().reason;
  EXPECT_EQ(engine->options().buffer_count, 16u);
}

TEST_P(Lifecycle, HooksRunOncePerProtocolInOrder) {
  SALVO_REQUIRE_IPV6();
  EngineOptions o = options();
  o.workers = 2;
  Recorder recorder;
  auto engine = make_engine(o);
  const Address v4 = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
  const Address v6 = must_listen(*engine, addr("[::1]:0"), recording_factory(recorder));
  ASSERT_EQ(recorder.lifecycles().size(), 4u) << "one protocol per worker per listen()";
  EXPECT_FALSE(engine->finished());
  must_start(*engine);
  ASSERT_TRUE(wait_until(
      [&] {
        for (const auto& l : recorder.lifecycles()) {
          if (l.starts == 0) return false;
        }
        return true;
      },
      10s));
  EXPECT_FALSE(engine->finished());
  for (const auto& l : recorder.lifecycles()) EXPECT_EQ(l.stops, 0u) << "stopped before stop()";
  stop_and_wait(*engine);
  EXPECT_TRUE(engine->finished());
  const auto lifecycles = recorder.lifecycles();
  std::multiset<unsigned> workers;
  for (std::size_t i = 0; i < lifecycles.size(); ++i) {
    SCOPED_TRACE("protocol " + std::to_string(i));
    EXPECT_EQ(lifecycles[i].starts, 1u);
    EXPECT_EQ(lifecycles[i].stops, 1u);
    EXPECT_FALSE(lifecycles[i].stopped_before_started);
    workers.insert(lifecycles[i].worker);
  }
  EXPECT_EQ(workers, (std::multiset<unsigned>{0, 0, 1, 1}));
  // Protocols 0,1 belong to the IPv4 listen, 2,3 to the IPv6 one; each knows its real address.
  EXPECT_EQ(lifecycles[0].local, v4);
  EXPECT_EQ(lifecycles[1].local, v4);
  EXPECT_EQ(lifecycles[2].local, v6);
  EXPECT_EQ(lifecycles[3].local, v6);
  EXPECT_NE(lifecycles[0].worker, lifecycles[1].worker);
  // stop() and wait() again are harmless.
  engine->stop();
  engine->wait();
  EXPECT_EQ(recorder.lifecycles()[0].stops, 1u);
}

TEST_P(Lifecycle, ListenAfterStartServesAtOnce) {
  Recorder recorder;
  auto engine = make_engine(options());
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
  must_start(*engine);
  // listen() while running returns once the worker has attached the socket and run on_start.
  const Address late = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
  ASSERT_EQ(recorder.lifecycles().size(), 2u);
  EXPECT_EQ(recorder.lifecycles()[1].starts, 1u);
  EXPECT_EQ(recorder.lifecycles()[1].local, late);
  UdpSocket client(addr("127.0.0.1:0"));
  ASSERT_TRUE(client.send_to(make_payload(3, 10), late));
  ASSERT_TRUE(recorder.wait_for_datagrams(1, 10s));
  EXPECT_EQ(payload_seq(recorder.datagrams()[0].payload), 3u);
  auto again = engine->start();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, make_error_code(Errc::invalid_state));
  stop_and_wait(*engine);
  // After the engine finished, a listen() has no worker to go to.
  auto after = engine->listen(addr("127.0.0.1:0"), recording_factory(recorder));
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code, make_error_code(Errc::invalid_state)) << after.error().message;
  EXPECT_EQ(recorder.lifecycles()[2].starts, 0u) << "a refused listen() must not start its protocol";
}

TEST_P(Lifecycle, StartWithoutSocketsRunsUntilStop) {
  auto engine = make_engine(options());
  must_start(*engine);
  EXPECT_FALSE(engine->finished());
  EXPECT_EQ(engine->open_sockets(), 0u);
  Recorder recorder;
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
  EXPECT_EQ(engine->open_sockets(), 1u);
  UdpSocket client(addr("127.0.0.1:0"));
  ASSERT_TRUE(client.send_to(make_payload(1, 10), bound));
  EXPECT_TRUE(recorder.wait_for_datagrams(1, 10s));
  stop_and_wait(*engine);
  EXPECT_EQ(engine->open_sockets(), 0u);
}

TEST_P(Lifecycle, StopAndFinishedFromAnotherThreadWhileStartRuns) {
  // Another thread asks finished() and calls stop() while start() runs: no data race (the TSan
  // run checks), start() succeeds, and a stop after it ends the engine.
  auto engine = make_engine(options());
  Recorder recorder;
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
  std::atomic<bool> started{false};
  std::thread other([&] {
    while (!started.load()) {
      (void)engine->finished();
      engine->stop();
    }
  });
  const auto r = engine->start();
  started.store(true);
  other.join();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(engine->start().ok()) << "a second start() must fail";
  stop_and_wait(*engine);
  EXPECT_TRUE(engine->finished());
}

TEST_P(Lifecycle, ListenOnAPortInUseNamesTheAddress) {
  for (const char* host : {"127.0.0.1:0", "[::1]:0"}) {
    SCOPED_TRACE(host);
    if (host[0] == '[' && !ipv6_loopback_available()) continue;
    UdpSocket holder(addr(host));
    Recorder recorder;
    auto engine = make_engine(options());
    auto r = engine->listen(holder.local(), recording_factory(recorder));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, std::errc::address_in_use) << r.error().message;
    EXPECT_NE(r.error().message.find(holder.local().to_string()), std::string::npos) << r.error().message;
    EXPECT_TRUE(recorder.lifecycles().empty());
    // The failure left nothing behind: the engine starts with no sockets.
    must_start(*engine);
    EXPECT_EQ(engine->open_sockets(), 0u);
    stop_and_wait(*engine);
  }
}

TEST_P(Lifecycle, ListenWithTwoWorkersOnAPortInUseClosesWhatItOpened) {
  EngineOptions o = options();
  o.workers = 2;
  UdpSocket holder(addr("127.0.0.1:0"));
  Recorder recorder;
  auto engine = make_engine(o);
  auto r = engine->listen(holder.local(), recording_factory(recorder));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, std::errc::address_in_use) << r.error().message;
  // A good listen afterwards works, and serves.
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  ASSERT_TRUE(client.send_to(make_payload(5, 5), bound));
  EXPECT_TRUE(recorder.wait_for_datagrams(1, 10s));
  stop_and_wait(*engine);
}

// With workers > 1 the sockets join an SO_REUSEPORT group. A second engine (or a second salvo
// process of the same user) listening on the same port must still be told the port is in use,
// not silently join the group and take a share of the first one's traffic.
TEST_P(Lifecycle, SecondMultiWorkerEngineOnTheSamePortIsRefused) {
  EngineOptions o = options();
  o.workers = 2;
  Recorder first_recorder;
  auto first = make_engine(o);
  const Address bound = must_listen(*first, addr("127.0.0.1:0"), recording_factory(first_recorder));
  Recorder second_recorder;
  auto second = make_engine(o);
  auto r = second->listen(bound, recording_factory(second_recorder));
  ASSERT_FALSE(r.ok()) << "a second engine joined " << bound.to_string() << "'s SO_REUSEPORT group";
  EXPECT_EQ(r.error().code, std::errc::address_in_use) << r.error().message;
  EXPECT_NE(r.error().message.find(bound.to_string()), std::string::npos) << r.error().message;
}

TEST_P(Lifecycle, ListenRejectsNoAddressAndNoProtocol) {
  Recorder recorder;
  auto engine = make_engine(options());
  auto none = engine->listen(Address{}, recording_factory(recorder));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, make_error_code(Errc::bad_address));
  auto no_factory = engine->listen(addr("127.0.0.1:0"), ProtocolFactory{});
  ASSERT_FALSE(no_factory.ok());
  EXPECT_EQ(no_factory.error().code, make_error_code(Errc::invalid_state));
  auto null_protocol = engine->listen(addr("127.0.0.1:0"), [](unsigned) { return std::unique_ptr<Protocol>(); });
  ASSERT_FALSE(null_protocol.ok());
  EXPECT_EQ(null_protocol.error().code, make_error_code(Errc::invalid_state));
}

TEST_P(Lifecycle, TwoWorkersShareOnePort) {
  EngineOptions o = options();
  o.workers = 2;
  Recorder recorder;
  auto engine = make_engine(o);
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
  ASSERT_NE(bound.port(), 0);
  must_start(*engine);
  ASSERT_TRUE(wait_until(
      [&] {
        auto l = recorder.lifecycles();
        return l.size() == 2 && l[0].starts == 1 && l[1].starts == 1;
      },
      10s));
  const auto lifecycles = recorder.lifecycles();
  EXPECT_EQ(lifecycles[0].local, bound);
  EXPECT_EQ(lifecycles[1].local, bound);
  EXPECT_EQ(lifecycles[0].local.port(), lifecycles[1].local.port());
  EXPECT_NE(lifecycles[0].worker, lifecycles[1].worker);

  // 64 source ports: SO_REUSEPORT hashes the 4-tuple, so both sockets get some (the chance that one
  // gets none is 2^-63).
  std::vector<std::unique_ptr<UdpSocket>> clients;
  for (int i = 0; i < 64; ++i) clients.push_back(std::make_unique<UdpSocket>(addr("127.0.0.1:0")));
  for (std::size_t i = 0; i < clients.size(); ++i) ASSERT_TRUE(clients[i]->send_to(make_payload(i, 24), bound));
  ASSERT_TRUE(recorder.wait_for_datagrams(64, 10s)) << recorder.datagram_count();
  stop_and_wait(*engine);
  const auto per_worker = engine->worker_counters();
  ASSERT_EQ(per_worker.size(), 2u);
  EXPECT_GT(per_worker[0].received, 0u);
  EXPECT_GT(per_worker[1].received, 0u);
  EXPECT_EQ(per_worker[0].received + per_worker[1].received, 64u);
  EXPECT_EQ(engine->counters().received, 64u);
  // Each datagram went to exactly one worker, and each worker's datagrams came from its own peers.
  std::set<std::uint64_t> seqs;
  std::map<Address, unsigned, bool (*)(const Address&, const Address&)> owner(
      [](const Address& a, const Address& b) { return a.to_string() < b.to_string(); });
  for (const auto& d : recorder.datagrams()) {
    EXPECT_TRUE(seqs.insert(payload_seq(d.payload)).second);
    auto [it, fresh] = owner.emplace(d.peer, d.worker);
    EXPECT_EQ(it->second, d.worker) << "one peer's datagrams went to two workers";
  }
  EXPECT_EQ(seqs.size(), 64u);
}

TEST_P(Lifecycle, StopListeningFromAHookClosesTheSocket) {
  Recorder recorder;
  Hooks hooks;
  hooks.on_datagrams = [](std::span<const Datagram>, Transport& t) { t.stop_listening(); };
  auto engine = make_engine(options());
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  ASSERT_TRUE(client.send_to(make_payload(1, 10), bound));
  EXPECT_TRUE(all_sockets_ended(*engine, 10s)) << "the socket stayed open";
  // The socket is closed: the port is free again.
  EXPECT_NO_THROW(UdpSocket again(bound));
  engine->wait();
  const auto l = recorder.lifecycles();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].starts, 1u);
  EXPECT_EQ(l[0].stops, 1u);
  EXPECT_EQ(recorder.datagram_count(), 1u);
  EXPECT_EQ(engine->counters().delivered, 1u);
}

TEST_P(Lifecycle, OneSocketStoppingLeavesTheOthersServing) {
  Recorder recorder;
  Hooks quitter;
  quitter.on_datagrams = [](std::span<const Datagram>, Transport& t) { t.stop_listening(); };
  auto engine = make_engine(options());
  const Address first = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, quitter));
  const Address second = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  ASSERT_TRUE(client.send_to(make_payload(1, 10), first));
  ASSERT_TRUE(wait_until([&] { return recorder.lifecycles()[0].stops == 1; }, 10s));
  EXPECT_FALSE(engine->finished());
  ASSERT_TRUE(client.send_to(make_payload(2, 10), second));
  ASSERT_TRUE(recorder.wait_for_datagrams(2, 10s));
  stop_and_wait(*engine);
  const auto d = recorder.datagrams();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(payload_seq(d[1].payload), 2u);
  const auto l = recorder.lifecycles();
  EXPECT_EQ(l[0].stops, 1u);
  EXPECT_EQ(l[1].stops, 1u);
}

TEST_P(Lifecycle, DestroyingAnEngineReleasesItsPorts) {
  Address bound;
  {
    Recorder recorder;
    auto engine = make_engine(options());
    bound = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
    // Never started: the destructor must still close the socket.
  }
  EXPECT_NO_THROW(UdpSocket again(bound));
  {
    Recorder recorder;
    auto engine = make_engine(options());
    bound = must_listen(*engine, addr(ipv6_loopback_available() ? "[::1]:0" : "127.0.0.1:0"),
                        recording_factory(recorder));
    must_start(*engine);
    // Running: the destructor stops and joins.
  }
  EXPECT_NO_THROW(UdpSocket again(bound));
}

// Protocol::on_stop is "called exactly once", and the worker closes sockets "so that on_stop runs
// exactly once for every protocol that was attached" -- also when the engine never started.
TEST_P(Lifecycle, OnStopRunsForAProtocolAttachedToAnEngineNeverStarted) {
  Recorder recorder;
  {
    auto engine = make_engine(options());
    must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
  }
  const auto l = recorder.lifecycles();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].starts, 0u);
  EXPECT_EQ(l[0].stops, 1u) << "the protocol was attached, its socket closed, and it was never told";
}

TEST_P(Lifecycle, StopBeforeStartIsHarmless) {
  Recorder recorder;
  auto engine = make_engine(options());
  engine->stop();
  engine->wait();
  EXPECT_TRUE(engine->wait_for(0ms));
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  ASSERT_TRUE(client.send_to(make_payload(1, 10), bound));
  EXPECT_TRUE(recorder.wait_for_datagrams(1, 10s)) << "an early stop() must not stop a later start()";
  stop_and_wait(*engine);
}

TEST_P(Lifecycle, PinningToAMissingCpuFailsStart) {
  EngineOptions o = options();
  o.cpus = {1023};
  Recorder recorder;
  auto engine = make_engine(o);
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
  auto r = engine->start();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("CPU 1023"), std::string::npos) << r.error().message;
  EXPECT_TRUE(engine->finished());
  const auto l = recorder.lifecycles();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].stops, 1u) << "on_stop runs once for every protocol attached";
}

TEST_P(Lifecycle, PinnedWorkersServe) {
  EngineOptions o = options();
  o.cpus = {allowed_cpu()};
  Recorder recorder;
  auto engine = make_engine(o);
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  ASSERT_TRUE(client.send_to(make_payload(1, 10), bound));
  EXPECT_TRUE(recorder.wait_for_datagrams(1, 10s));
  stop_and_wait(*engine);
}

// Every combination Engine::create accepts must also start and serve: small buffer pools and send
// queues, and the largest ones.
void start_and_echo_once(EngineOptions o) {
  Recorder recorder;
  auto engine = make_engine(o);
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), echo_factory(recorder));
  auto started = engine->start();
  ASSERT_TRUE(started.ok()) << "buffer_count=" << o.buffer_count << " send_queue_entries=" << o.send_queue_entries
                            << ": " << started.error().message;
  UdpSocket client(addr("127.0.0.1:0"));
  ASSERT_TRUE(client.send_to(make_payload(1, 32), bound));
  auto reply = client.receive(10s);
  ASSERT_TRUE(reply.has_value()) << "no echo";
  EXPECT_EQ(reply->payload, make_payload(1, 32));
  stop_and_wait(*engine);
}

TEST_P(Lifecycle, SmallBuffersAndQueuesStart) {
  for (auto [buffers, entries] : {std::pair{1u, 1u}, {16u, 4u}, {64u, 16u}, {256u, 128u}}) {
    SCOPED_TRACE("buffers " + std::to_string(buffers) + ", send queue " + std::to_string(entries));
    EngineOptions o = options();
    o.buffer_count = buffers;
    o.send_queue_entries = entries;
    start_and_echo_once(o);
  }
}

TEST_P(Lifecycle, LargestBufferPoolAndSendQueueStart) {
  EngineOptions o = options();
  o.buffer_count = 32768;
  o.buffer_size = 64;
  o.send_queue_entries = 65536;
  o.send_queue_bytes = 1 << 20;
  start_and_echo_once(o);
}

INSTANTIATE_TEST_SUITE_P(Backends, Lifecycle, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
