// Accounting under overload, for every backend. A plain socket floods an engine that has four
// receive buffers, batches of four, a tiny socket receive buffer and a slow protocol, so that the
// kernel must drop. Every datagram the sender's kernel accepted is then either read by salvo or
// counted as a kernel drop, and every datagram read is either delivered or counted as a drop:
//   received == delivered + receive_drops()     received + kernel_drops == accepted
// Also: stop() from another thread in the middle of a flood ends the engine, and what it read is
// still fully accounted for.
#include <atomic>
#include <thread>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

class Overload : public testing::TestWithParam<BackendKind> {
 protected:
  EngineOptions tiny() const {
    EngineOptions o;
    o.backend = GetParam();
    o.buffer_count = 4;
    o.batch_size = 4;
    o.buffer_size = 256;
    o.socket_receive_buffer = 4096;  // the kernel doubles it and enforces its own minimum
    return o;
  }
};

// A protocol that spends about `per_batch` on every batch (busy, not sleeping: a hook must not
// block, and a slow one is just one that computes a lot).
Hooks slow_hooks(std::chrono::microseconds per_batch) {
  Hooks h;
  h.on_datagrams = [per_batch](std::span<const Datagram>, Transport&) {
    const auto until = Clock::now() + per_batch;
    while (Clock::now() < until) {
    }
  };
  return h;
}

TEST_P(Overload, EveryDatagramIsReadOrCountedAsAKernelDrop) {
  Recorder recorder;
  auto engine = make_engine(tiny());
  // Batches are never larger than batch_size, and every one is counted in rx_batches.
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::size_t> largest{0};
  std::atomic<std::size_t> empty{0};
  Hooks hooks = slow_hooks(20us);
  hooks.on_datagrams = [slow = hooks.on_datagrams, &batches, &largest, &empty](std::span<const Datagram> batch,
                                                                             Transport& t) {
    batches.fetch_add(1);
    if (batch.empty()) empty.fetch_add(1);
    if (batch.size() > largest.load()) largest.store(batch.size());
    slow(batch, t);
  };
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks, Record::nothing));
  must_start(*engine);

  UdpSocket sender(addr("127.0.0.1:0"));
  const auto payload = make_payload(7, 64);
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;
  const Deadline flood_time(60s);
  for (int i = 0; i < 200000 && !flood_time.expired(); ++i) {
    if (sender.send_to(payload, bound)) {
      ++accepted;
    } else {
      ++refused;
    }
  }
  ASSERT_GT(accepted, 100000u) << "the sender's own kernel refused " << refused;

  // Let the engine drain its socket; the kernel's drop count reaches salvo's counters with the next
  // datagram read, on an idle tick, or at close.
  const bool settled = wait_until(
      [&] {
        const Counters c = engine->counters();
        return c.received + c.kernel_drops == accepted;
      },
      30s);
  stop_and_wait(*engine);
  const Counters c = engine->counters();
  EXPECT_TRUE(settled) << "before stop: " << describe(c);
  EXPECT_EQ(c.received, c.delivered + c.receive_drops()) << describe(c);
  EXPECT_EQ(c.received + c.kernel_drops, accepted) << describe(c) << " accepted=" << accepted;
  EXPECT_GT(c.kernel_drops, 0u) << "the flood never overflowed the socket; the test proves nothing";
  EXPECT_GT(c.received, 0u);
  EXPECT_EQ(c.received_bytes, c.received * 64);
  EXPECT_EQ(c.delivered_bytes, c.delivered * 64);
  EXPECT_EQ(c.dropped_truncated, 0u);
  EXPECT_EQ(c.rx_batches, batches.load());
  EXPECT_LE(largest.load(), 4u) << "a batch larger than batch_size";
  EXPECT_GE(largest.load(), 1u);
  EXPECT_EQ(empty.load(), 0u) << "on_datagrams was called with an empty batch";
  EXPECT_GE(c.rx_batches * 4, c.delivered);
  const auto lifecycles = recorder.lifecycles();
  ASSERT_EQ(lifecycles.size(), 1u);
  EXPECT_EQ(lifecycles[0].starts, 1u);
  EXPECT_EQ(lifecycles[0].stops, 1u);
}

TEST_P(Overload, TruncationDropsAreAccountedUnderFloodToo) {
  EngineOptions o = tiny();
  o.buffer_size = 32;  // every 64-byte datagram is truncated, and dropped
  Recorder recorder;
  auto engine = make_engine(o);
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, {}, Record::nothing));
  must_start(*engine);
  UdpSocket sender(addr("127.0.0.1:0"));
  const auto big = make_payload(1, 64);
  const auto small = make_payload(2, 16);
  std::uint64_t accepted = 0;
  for (int i = 0; i < 50000; ++i) accepted += sender.send_to(i % 4 == 0 ? small : big, bound) ? 1 : 0;
  const bool settled = wait_until(
      [&] {
        const Counters c = engine->counters();
        return c.received + c.kernel_drops == accepted;
      },
      30s);
  stop_and_wait(*engine);
  const Counters c = engine->counters();
  EXPECT_TRUE(settled) << describe(c);
  EXPECT_EQ(c.received + c.kernel_drops, accepted) << describe(c);
  EXPECT_EQ(c.received, c.delivered + c.receive_drops()) << describe(c);
  EXPECT_EQ(c.dropped_truncated, c.truncated);
  EXPECT_GT(c.dropped_truncated, 0u);
  EXPECT_EQ(c.delivered_bytes, c.delivered * 16) << "only the small datagrams may be delivered";
}

TEST_P(Overload, StopFromAnotherThreadDuringAFlood) {
  Recorder recorder;
  auto engine = make_engine(tiny());
  const Address bound =
      must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, slow_hooks(5us), Record::nothing));
  must_start(*engine);

  std::atomic<bool> stop_called{false};
  std::atomic<bool> finished_in_time{false};
  std::atomic<bool> stopper_done{false};
  std::atomic<std::uint64_t> accepted{0};
  std::uint64_t accepted_at_finish = 0;
  std::uint64_t accepted_at_stop = 0;
  bool flood_outlived_engine = false;
  std::thread stopper([&] {
    // Stop once the flood is clearly under way, watch the engine end, then let the flood go on a
    // little longer so that it demonstrably outlived the engine.
    wait_until([&] { return engine->counters().received >= 2000; }, 30s);
    accepted_at_stop = accepted.load();
    engine->stop();
    stop_called = true;
    finished_in_time = all_sockets_ended(*engine, 10s);
    accepted_at_finish = accepted.load();
    flood_outlived_engine = wait_until([&] { return accepted.load() > accepted_at_finish + 1000; }, 10s);
    stopper_done = true;
  });

  UdpSocket sender(addr("127.0.0.1:0"));
  const auto payload = make_payload(3, 64);
  const Deadline limit(60s);
  for (std::uint64_t i = 0; i < 10'000'000 && !stopper_done && !limit.expired(); ++i) {
    if (sender.send_to(payload, bound)) accepted.fetch_add(1);
  }
  stopper.join();
  ASSERT_TRUE(stop_called) << "the engine never read 2000 datagrams: " << describe(engine->counters());
  EXPECT_TRUE(finished_in_time) << "the engine did not finish within 10 s of stop()";
  EXPECT_TRUE(flood_outlived_engine) << "the flood had ended before the engine did; the test proves nothing";
  engine->wait();
  const Counters c = engine->counters();
  EXPECT_EQ(c.received, c.delivered + c.receive_drops()) << describe(c);
  // Everything sent before stop() reached the socket (loopback delivers within the send call) and
  // is read, dropped by the kernel, or discarded at close; nothing after the close is counted. At
  // most the one send in flight while accepted_at_finish was read is not yet counted in it.
  const std::uint64_t reached = c.received + c.kernel_drops + c.discarded_at_close;
  EXPECT_GE(reached, accepted_at_stop) << describe(c);
  EXPECT_LE(reached, accepted_at_finish + 1) << describe(c);
  EXPECT_GE(c.received, 2000u);
  const auto lifecycles = recorder.lifecycles();
  ASSERT_EQ(lifecycles.size(), 1u);
  EXPECT_EQ(lifecycles[0].stops, 1u);
  // Nothing arrives after stop: counters are final.
  const Counters later = engine->counters();
  EXPECT_EQ(later.received, c.received);
}

TEST_P(Overload, TwoWorkersShareTheFloodAndAccountForIt) {
  EngineOptions o = tiny();
  o.workers = 2;
  Recorder recorder;
  auto engine = make_engine(o);
  const Address bound =
      must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, slow_hooks(10us), Record::nothing));
  must_start(*engine);
  // Many source ports, so that SO_REUSEPORT's hash sends datagrams to both sockets.
  std::vector<std::unique_ptr<UdpSocket>> senders;
  for (int i = 0; i < 32; ++i) senders.push_back(std::make_unique<UdpSocket>(addr("127.0.0.1:0")));
  const auto payload = make_payload(4, 64);
  std::uint64_t accepted = 0;
  for (int i = 0; i < 100000; ++i) accepted += senders[i % senders.size()]->send_to(payload, bound) ? 1 : 0;
  const bool settled = wait_until(
      [&] {
        const Counters c = engine->counters();
        return c.received + c.kernel_drops == accepted;
      },
      30s);
  stop_and_wait(*engine);
  const Counters c = engine->counters();
  EXPECT_TRUE(settled) << describe(c);
  EXPECT_EQ(c.received + c.kernel_drops, accepted) << describe(c);
  EXPECT_EQ(c.received, c.delivered + c.receive_drops());
  const auto per_worker = engine->worker_counters();
  ASSERT_EQ(per_worker.size(), 2u);
  Counters sum;
  for (const Counters& w : per_worker) {
    EXPECT_GT(w.received, 0u) << "a worker got nothing: " << describe(w);
    EXPECT_EQ(w.received, w.delivered + w.receive_drops());
    sum += w;
  }
  EXPECT_EQ(sum.received, c.received);
  EXPECT_EQ(sum.kernel_drops, c.kernel_drops);
}

TEST_P(Overload, AFloodedSocketDoesNotStarveItsNeighbour) {
  // Two sockets on one worker. One is flooded without pause; the other must still answer every
  // request promptly (reads_per_wakeup bounds how long one socket holds the worker).
  EngineOptions o;
  o.backend = GetParam();
  o.batch_size = 16;
  o.reads_per_wakeup = 2;
  Recorder flood_recorder;
  Recorder echo_recorder;
  auto engine = make_engine(o);
  const Address flooded =
      must_listen(*engine, addr("127.0.0.1:0"), recording_factory(flood_recorder, slow_hooks(5us), Record::nothing));
  const Address echo = must_listen(*engine, addr("127.0.0.1:0"), echo_factory(echo_recorder));
  must_start(*engine);

  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> flood_sent{0};
  std::thread flooder([&] {
    UdpSocket sender(addr("127.0.0.1:0"));
    const auto payload = make_payload(0, 64);
    const Deadline limit(60s);
    while (!done && !limit.expired()) {
      if (sender.send_to(payload, flooded)) flood_sent.fetch_add(1);
    }
  });
  ASSERT_TRUE(wait_until([&] { return engine->counters().received > 5000; }, 20s));
  UdpSocket client(addr("127.0.0.1:0"), 1 << 20);
  const std::uint64_t flood_before = flood_sent.load();
  const std::uint64_t received_before = engine->counters().received;
  int answered = 0;
  for (std::uint64_t i = 0; i < 200; ++i) {
    // Each request goes out only once the flood has moved on, so that every one of them really
    // competes with it (on a loaded machine the flooding thread may otherwise not get a CPU).
    const std::uint64_t flood_now = flood_sent.load();
    wait_until([&] { return flood_sent.load() >= flood_now + 2; }, 1s);
    if (!client.send_to(make_payload(i, 20), echo)) continue;
    auto reply = client.receive(3s);
    if (!reply) break;
    EXPECT_EQ(reply->payload, make_payload(i, 20));
    ++answered;
  }
  const std::uint64_t flood_during = flood_sent.load() - flood_before;
  // The flooded socket is still being read (bounded wait: it may lag behind the echoes).
  wait_until([&] { return engine->counters().received - received_before > 400; }, 5s);
  const std::uint64_t received_during = engine->counters().received - received_before;
  done = true;
  flooder.join();
  stop_and_wait(*engine);
  EXPECT_EQ(answered, 200) << "the neighbour of a flooded socket went unanswered for 3 s";
  // The flood really ran, and was really being read, while the neighbour was served.
  EXPECT_GT(flood_during, 200u);
  EXPECT_GT(received_during, 400u) << "the flooded socket was not being read";
  const Counters c = engine->counters();
  EXPECT_EQ(c.received, c.delivered + c.receive_drops());
}

INSTANTIATE_TEST_SUITE_P(Backends, Overload, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
