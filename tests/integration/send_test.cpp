// The send path, for every backend: what Transport::send answers (queued, queue_full by entries and
// by bytes, too_large, family_mismatch, bad_address, closed), what reaches a plain receiving socket,
// kernel refusals counted as dropped_send_error, on_writable feeding, and the invariant
//   send_requests == sent + dropped_send_queue_full + dropped_send_error + send_rejected
// once the engine has stopped (nothing is left queued).
#include <atomic>
#include <cerrno>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

class SendPath : public testing::TestWithParam<BackendKind> {
 protected:
  EngineOptions options() const {
    EngineOptions o;
    o.backend = GetParam();
    // Not smaller: see Lifecycle.SmallBuffersAndQueuesStart for what smaller options trigger.
    o.buffer_count = 512;
    return o;
  }
};

void expect_send_invariant(const Counters& c) {
  EXPECT_EQ(c.send_requests, c.sent + c.dropped_send_queue_full + c.dropped_send_error + c.send_rejected)
      << describe(c);
}

// Runs `on_start` as the protocol's start hook on a socket bound to `bind`, and waits for the
// engine to end by itself (the hook is expected to call stop_listening).
struct StartRun {
  Counters counters;
  Address bound;
  std::vector<std::string> events;
};

StartRun run_on_start(EngineOptions o, const Address& bind, std::function<void(Transport&)> on_start) {
  Recorder recorder;
  Hooks hooks;
  hooks.on_start = std::move(on_start);
  auto engine = make_engine(o);
  StartRun run;
  run.bound = must_listen(*engine, bind, recording_factory(recorder, hooks));
  must_start(*engine);
  // The only socket stops listening from its start hook, so the engine finishes without stop().
  EXPECT_TRUE(all_sockets_ended(*engine, 10s)) << "engine did not finish by itself";
  stop_and_wait(*engine);
  run.counters = engine->counters();
  run.events = recorder.events();
  const auto lifecycles = recorder.lifecycles();
  EXPECT_EQ(lifecycles.size(), 1u);
  if (!lifecycles.empty()) {
    EXPECT_EQ(lifecycles[0].starts, 1u);
    EXPECT_EQ(lifecycles[0].stops, 1u);
  }
  return run;
}

std::vector<UdpSocket::Message> receive_all(UdpSocket& s, std::size_t expected) {
  std::vector<UdpSocket::Message> out;
  while (out.size() < expected) {
    auto m = s.receive(5s);
    if (!m) break;
    out.push_back(std::move(*m));
  }
  // Anything more would be a duplicate or a datagram that should have been refused.
  if (auto extra = s.receive(50ms)) out.push_back(std::move(*extra));
  return out;
}

TEST_P(SendPath, ResultsOfEveryKind) {
  EngineOptions o = options();
  o.send_queue_entries = 4;
  UdpSocket receiver(addr("127.0.0.1:0"), 1 << 20);
  std::vector<SendResult> results;
  Counters in_hook;  // the socket's own counters, as the protocol sees them
  const Address to = receiver.local();
  const auto run = run_on_start(o, addr("127.0.0.1:0"), [&](Transport& t) {
    for (std::uint64_t i = 0; i < 5; ++i) results.push_back(t.send(make_payload(i, 100), to));
    results.push_back(t.send(std::vector<std::byte>(65508), to));
    results.push_back(t.send(make_payload(9, 10), addr("[::1]:9")));
    results.push_back(t.send(make_payload(9, 10), Address{}));
    t.stop_listening();
    results.push_back(t.send(make_payload(9, 10), to));
    in_hook = t.counters();
  });
  const std::vector<SendResult> expected = {SendResult::queued,     SendResult::queued,          SendResult::queued,
                                            SendResult::queued,     SendResult::queue_full,      SendResult::too_large,
                                            SendResult::family_mismatch, SendResult::bad_address, SendResult::closed};
  EXPECT_EQ(results, expected);
  // Inside the hook nothing has been flushed yet: four are still queued.
  EXPECT_EQ(in_hook.send_requests, 9u) << describe(in_hook);
  EXPECT_EQ(in_hook.sent, 0u);
  EXPECT_EQ(in_hook.dropped_send_queue_full, 1u);
  EXPECT_EQ(in_hook.send_rejected, 4u);
  const Counters& c = run.counters;
  EXPECT_EQ(c.send_requests, 9u) << describe(c);
  EXPECT_EQ(c.sent, 4u);
  EXPECT_EQ(c.sent_bytes, 400u);
  EXPECT_EQ(c.dropped_send_queue_full, 1u);
  EXPECT_EQ(c.send_rejected, 4u);
  EXPECT_EQ(c.dropped_send_error, 0u);
  expect_send_invariant(c);

  const auto got = receive_all(receiver, 4);
  ASSERT_EQ(got.size(), 4u);
  for (std::uint64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(got[i].payload, make_payload(i, 100)) << i;
    EXPECT_EQ(got[i].from, run.bound) << i;
  }
}

TEST_P(SendPath, ByteLimitOfTheQueue) {
  EngineOptions o = options();
  o.send_queue_entries = 16;
  o.send_queue_bytes = 1000;
  UdpSocket receiver(addr("127.0.0.1:0"), 1 << 20);
  const Address to = receiver.local();
  std::vector<SendResult> results;
  std::vector<std::size_t> rooms;
  const auto run = run_on_start(o, addr("127.0.0.1:0"), [&](Transport& t) {
    rooms.push_back(t.send_queue_room(0));
    rooms.push_back(t.send_queue_room(100));
    rooms.push_back(t.send_queue_room(1000));
    rooms.push_back(t.send_queue_room(1001));
    results.push_back(t.send(make_payload(1, 600), to));
    rooms.push_back(t.send_queue_room(400));
    results.push_back(t.send(make_payload(2, 600), to));
    results.push_back(t.send(make_payload(3, 400), to));
    rooms.push_back(t.send_queue_room(1));
    results.push_back(t.send(make_payload(4, 1), to));
    results.push_back(t.send({}, to));  // an empty datagram needs no bytes
    rooms.push_back(t.send_queue_room(0));
    t.stop_listening();
  });
  EXPECT_EQ(rooms, (std::vector<std::size_t>{16, 10, 1, 0, 1, 0, 13}));
  EXPECT_EQ(results, (std::vector<SendResult>{SendResult::queued, SendResult::queue_full, SendResult::queued,
                                              SendResult::queue_full, SendResult::queued}));
  const Counters& c = run.counters;
  EXPECT_EQ(c.sent, 3u) << describe(c);
  EXPECT_EQ(c.sent_bytes, 1000u);
  EXPECT_EQ(c.dropped_send_queue_full, 2u);
  expect_send_invariant(c);
  const auto got = receive_all(receiver, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].payload, make_payload(1, 600));
  EXPECT_EQ(got[1].payload, make_payload(3, 400));
  EXPECT_TRUE(got[2].payload.empty());
}

TEST_P(SendPath, LargestDatagramsPerFamily) {
  SALVO_REQUIRE_IPV6();
  EngineOptions o = options();
  UdpSocket receiver6(addr("[::1]:0"), 1 << 20);
  std::vector<SendResult> results;
  const auto run6 = run_on_start(o, addr("[::1]:0"), [&](Transport& t) {
    results.push_back(t.send(make_payload(1, 65527), receiver6.local()));
    results.push_back(t.send(make_payload(2, 65528), receiver6.local()));
    t.stop_listening();
  });
  EXPECT_EQ(results, (std::vector<SendResult>{SendResult::queued, SendResult::too_large}));
  EXPECT_EQ(run6.counters.sent, 1u) << describe(run6.counters);
  auto got = receiver6.receive(5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->payload.size(), 65527u);
  EXPECT_TRUE(got->payload == make_payload(1, 65527));

  UdpSocket receiver4(addr("127.0.0.1:0"), 1 << 20);
  results.clear();
  const auto run4 = run_on_start(o, addr("127.0.0.1:0"), [&](Transport& t) {
    results.push_back(t.send(make_payload(3, 65507), receiver4.local()));
    results.push_back(t.send(make_payload(4, 65508), receiver4.local()));
    t.stop_listening();
  });
  EXPECT_EQ(results, (std::vector<SendResult>{SendResult::queued, SendResult::too_large}));
  EXPECT_EQ(run4.counters.sent, 1u);
  EXPECT_EQ(run4.counters.send_rejected, 1u);
  got = receiver4.receive(5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->payload == make_payload(3, 65507));
}

TEST_P(SendPath, DualStackSocketSendsToIpv4AndMappedDestinations) {
  SALVO_REQUIRE_IPV6();
  UdpSocket receiver(addr("127.0.0.1:0"), 1 << 20);
  std::vector<SendResult> results;
  const auto run = run_on_start(options(), addr("[::ffff:127.0.0.1]:0"), [&](Transport& t) {
    results.push_back(t.send(make_payload(1, 20), receiver.local()));               // IPv4 destination
    results.push_back(t.send(make_payload(2, 20), receiver.local().v4_mapped()));   // the same, mapped
    results.push_back(t.send(make_payload(3, 65508), receiver.local()));            // IPv4 size limit
    results.push_back(t.send(make_payload(4, 65508), receiver.local().v4_mapped()));
    t.stop_listening();
  });
  EXPECT_EQ(results, (std::vector<SendResult>{SendResult::queued, SendResult::queued, SendResult::too_large,
                                              SendResult::too_large}));
  const auto got = receive_all(receiver, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].payload, make_payload(1, 20));
  EXPECT_EQ(got[1].payload, make_payload(2, 20));
  EXPECT_EQ(got[0].from, run.bound.unmapped());
  expect_send_invariant(run.counters);
}

TEST_P(SendPath, Ipv4SocketAcceptsMappedDestinations) {
  UdpSocket receiver(addr("127.0.0.1:0"), 1 << 20);
  std::vector<SendResult> results;
  const auto run = run_on_start(options(), addr("127.0.0.1:0"), [&](Transport& t) {
    results.push_back(t.send(make_payload(1, 20), receiver.local().v4_mapped()));
    t.stop_listening();
  });
  EXPECT_EQ(results, std::vector<SendResult>{SendResult::queued});
  auto got = receiver.receive(5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->payload, make_payload(1, 20));
  EXPECT_EQ(run.counters.sent, 1u);
}

TEST_P(SendPath, KernelRefusalIsCountedReportedAndSkipped) {
  // Port 0 is not a destination: the kernel refuses it (EINVAL). The datagrams around it still go.
  UdpSocket receiver(addr("127.0.0.1:0"), 1 << 20);
  std::vector<SendResult> results;
  const auto run = run_on_start(options(), addr("127.0.0.1:0"), [&](Transport& t) {
    results.push_back(t.send(make_payload(1, 30), receiver.local()));
    results.push_back(t.send(make_payload(2, 30), addr("127.0.0.1:0")));
    results.push_back(t.send(make_payload(3, 30), receiver.local()));
    t.stop_listening();
  });
  EXPECT_EQ(results, std::vector<SendResult>(3, SendResult::queued));
  const Counters& c = run.counters;
  EXPECT_EQ(c.send_requests, 3u) << describe(c);
  EXPECT_EQ(c.sent, 2u) << describe(c);
  EXPECT_EQ(c.dropped_send_error, 1u) << describe(c);
  expect_send_invariant(c);
  ASSERT_EQ(run.events.size(), 1u);
  EXPECT_EQ(run.events[0], "error:" + std::error_code(EINVAL, std::system_category()).message());
  const auto got = receive_all(receiver, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].payload, make_payload(1, 30));
  EXPECT_EQ(got[1].payload, make_payload(3, 30));
}

TEST_P(SendPath, OnWritableFeedsALoadUntilDone) {
  // The blast pattern: ask for on_writable, fill what fits, stop after a fixed count.
  EngineOptions o = options();
  o.send_queue_entries = 64;
  UdpSocket receiver(addr("127.0.0.1:0"), 4 << 20);
  constexpr std::uint64_t total = 3000;
  std::uint64_t next = 0;
  std::uint64_t writable_calls = 0;
  std::uint64_t not_queued = 0;
  Recorder recorder;
  Hooks hooks;
  hooks.on_start = [](Transport& t) { t.request_writable(true); };
  hooks.on_writable = [&](Transport& t) {
    ++writable_calls;
    for (std::size_t room = t.send_queue_room(32); room != 0 && next < total; --room) {
      if (t.send(make_payload(next, 32), receiver.local()) != SendResult::queued) {
        ++not_queued;
        break;
      }
      ++next;
    }
    if (next == total) {
      t.request_writable(false);
      t.stop_listening();
    }
  };
  auto engine = make_engine(o);
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks));
  must_start(*engine);
  std::vector<bool> seen(total, false);
  std::uint64_t received = 0;
  const Deadline deadline(30s);
  while (received < total && !deadline.expired()) {
    auto m = receiver.receive(3s);
    if (!m) break;
    ASSERT_EQ(m->payload.size(), 32u);
    const std::uint64_t seq = payload_seq(m->payload);
    ASSERT_LT(seq, total);
    ASSERT_FALSE(seen[seq]) << "duplicate " << seq;
    ASSERT_EQ(m->payload, make_payload(seq, 32));
    seen[seq] = true;
    ++received;
  }
  EXPECT_TRUE(all_sockets_ended(*engine, 10s));
  stop_and_wait(*engine);
  const Counters c = engine->counters();
  EXPECT_EQ(received, total) << describe(c);
  EXPECT_EQ(c.sent, total) << describe(c);
  EXPECT_EQ(c.send_requests, total);
  EXPECT_EQ(not_queued, 0u) << "send_queue_room promised room that send() refused";
  EXPECT_GT(writable_calls, total / 64 - 1);
  expect_send_invariant(c);
}

TEST_P(SendPath, StopWhileALoadIsSendingEndsTheEngine) {
  // An endless on_writable load (blast --duration): stop() must end it, and what was asked for is
  // accounted for. Everything the worker touches lives on the heap, so that if the engine fails to
  // stop it can be abandoned (its destructor would wait forever) without leaving the worker with
  // dangling references.
  struct Load {
    UdpSocket receiver{addr("127.0.0.1:0")};
    std::atomic<std::uint64_t> next{0};
    Recorder recorder;
    std::unique_ptr<Engine> engine;
  };
  auto load = std::make_unique<Load>();
  Load& l = *load;
  Hooks hooks;
  hooks.on_start = [](Transport& t) { t.request_writable(true); };
  hooks.on_writable = [&l](Transport& t) {
    for (std::size_t room = t.send_queue_room(16); room != 0; --room) {
      if (t.send(make_payload(l.next, 16), l.receiver.local()) != SendResult::queued) break;
      l.next.fetch_add(1, std::memory_order_relaxed);
    }
  };
  l.engine = make_engine(options());
  must_listen(*l.engine, addr("127.0.0.1:0"), recording_factory(l.recorder, hooks, Record::nothing));
  must_start(*l.engine);
  ASSERT_TRUE(wait_until([&] { return l.engine->counters().sent >= 20000; }, 20s)) << describe(l.engine->counters());
  l.engine->stop();
  if (!l.engine->wait_for(10s)) {
    const Counters c = l.engine->counters();
    (void)load.release();  // abandoned: the worker still runs and still uses it
    FAIL() << "stop() did not end an engine whose protocol keeps its send queue full, 10 s later: " << describe(c);
  }
  l.engine->wait();
  const Counters c = l.engine->counters();
  EXPECT_EQ(c.send_requests, l.next.load());
  expect_send_invariant(c);
  EXPECT_EQ(l.recorder.lifecycles()[0].stops, 1u);
}

TEST_P(SendPath, WantingWritableWithNothingToSendDoesNotSpin) {
  // on_writable means "the send queue has room again". A protocol that asked for it but has
  // nothing to send must not be called in a busy loop: the worker would burn a core doing nothing
  // (the design: "never spin"). Measured against events, not time: 200 echo round trips through
  // the same socket; a worker that only wakes for events calls on_writable a few times per round
  // trip, a spinning one thousands of times per millisecond.
  Recorder recorder;
  std::atomic<std::uint64_t> writable_calls{0};
  Hooks hooks;
  hooks.on_start = [](Transport& t) { t.request_writable(true); };
  hooks.on_writable = [&](Transport&) { writable_calls.fetch_add(1, std::memory_order_relaxed); };
  hooks.on_datagrams = [](std::span<const Datagram> batch, Transport& t) {
    for (const Datagram& d : batch) t.send(d.payload, d.peer);
  };
  auto engine = make_engine(options());
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks, Record::nothing));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  constexpr int round_trips = 200;
  for (int i = 0; i < round_trips; ++i) {
    ASSERT_TRUE(client.send_to(make_payload(static_cast<std::uint64_t>(i), 16), bound));
    ASSERT_TRUE(client.receive(5s).has_value()) << "no echo " << i;
  }
  const std::uint64_t calls = writable_calls.load();
  stop_and_wait(*engine);
  EXPECT_LE(calls, 10u * round_trips + 10)
      << "on_writable was called " << calls << " times during " << round_trips
      << " round trips with nothing to send: the worker polls it in a busy loop";
}

TEST_P(SendPath, EchoUnderABurstAccountsForEveryRequest) {
  // An echo with a two-entry send queue, hit by bursts: some replies are refused as queue_full,
  // and every request is accounted for.
  EngineOptions o = options();
  o.send_queue_entries = 2;
  o.socket_receive_buffer = 1 << 20;
  Recorder recorder;
  auto engine = make_engine(o);
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), echo_factory(recorder));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"), 4 << 20);
  std::uint64_t accepted = 0;
  for (int i = 0; i < 2000; ++i) accepted += client.send_to(make_payload(static_cast<std::uint64_t>(i), 16), bound) ? 1 : 0;
  EXPECT_TRUE(wait_until([&] { return engine->counters().received + engine->counters().kernel_drops == accepted; }, 20s));
  stop_and_wait(*engine);
  const Counters c = engine->counters();
  EXPECT_EQ(c.send_requests, c.delivered) << describe(c);
  expect_send_invariant(c);
  std::uint64_t replies = 0;
  while (client.receive(100ms)) ++replies;
  EXPECT_EQ(replies, c.sent) << describe(c);
}

INSTANTIATE_TEST_SUITE_P(Backends, SendPath, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
