// UDP GSO on send (EngineOptions::gso), for every backend, in the manner of the kernel's udpgso
// selftest: a table of runs (count x size, to plain receiving sockets) at and around the kernel's
// limits (64 segments, 65507 / 65527 bytes per message), runs whose last datagram is shorter,
// mixed sizes and destinations that must break runs, empty datagrams. Each case checks that every
// receiver gets exactly its datagrams, with their sizes and bytes, in order, and that the counters
// say exactly how many GSO messages carried how many datagrams (the queue is filled in one hook, so
// how it is cut into messages is deterministic). Then: a refused GSO send (the test seam
// SALVO_TEST_GSO_ERROR) turns GSO off for the socket and loses or repeats nothing, while a run to a
// destination no send reaches leaves it on; gso = false sends no GSO message; a load fed through
// on_writable arrives exactly once; a run to a closed port is retried and counted.
#include <algorithm>
#include <map>
#include <set>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

// One datagram to queue: its size and which receiver it goes to.
struct Item {
  std::size_t size;
  unsigned to = 0;
};

std::vector<Item> equal_run(std::size_t count, std::size_t size, unsigned to = 0) {
  return std::vector<Item>(count, Item{size, to});
}

struct Outcome {
  Counters counters;
  std::vector<std::vector<UdpSocket::Message>> got;  // per receiver
};

class Gso : public testing::TestWithParam<BackendKind> {
 protected:
  EngineOptions options() const {
    EngineOptions o;
    o.backend = GetParam();
    o.buffer_count = 64;  // the engine only sends
    o.socket_send_buffer = 4 << 20;
    return o;
  }

  // Queues `items` `rounds` times from the protocol's hooks (the first round in on_start, the
  // others in on_writable), lets the engine flush and stop, then reads every receiver. Payloads
  // are make_payload(sequence number over all rounds, size).
  Outcome send_items(EngineOptions o, const Address& bind, std::vector<UdpSocket*> receivers,
                     const std::vector<Item>& items, int rounds = 1) {
    Recorder recorder;
    int round = 0;
    auto queue_round = [&](Transport& t) {
      for (std::size_t i = 0; i < items.size(); ++i) {
        const std::uint64_t seq = static_cast<std::uint64_t>(round) * items.size() + i;
        const SendResult r = t.send(make_payload(seq, items[i].size), receivers[items[i].to]->local());
        EXPECT_EQ(r, SendResult::queued) << "item " << i << " of round " << round;
      }
      ++round;
    };
    Hooks hooks;
    hooks.on_start = [&](Transport& t) {
      queue_round(t);
      if (round < rounds) {
        t.request_writable(true);
      } else {
        t.stop_listening();  // flushes what is queued, then closes
      }
    };
    hooks.on_writable = [&](Transport& t) {
      if (round < rounds) queue_round(t);
      if (round >= rounds) {
        t.request_writable(false);
        t.stop_listening();
      }
    };
    auto engine = make_engine(o);
    must_listen(*engine, bind, recording_factory(recorder, hooks, Record::nothing));
    must_start(*engine);
    EXPECT_TRUE(all_sockets_ended(*engine, 20s)) << "engine did not finish by itself";
    stop_and_wait(*engine);
    Outcome out;
    out.counters = engine->counters();
    std::vector<std::size_t> expected(receivers.size(), 0);
    for (const Item& item : items) expected[item.to] += static_cast<std::size_t>(rounds);
    for (std::size_t r = 0; r < receivers.size(); ++r) {
      std::vector<UdpSocket::Message> got;
      while (got.size() < expected[r]) {
        auto m = receivers[r]->receive(5s);
        if (!m) break;
        got.push_back(std::move(*m));
      }
      // Anything more would be a datagram sent twice.
      if (auto extra = receivers[r]->receive(50ms)) got.push_back(std::move(*extra));
      out.got.push_back(std::move(got));
    }
    return out;
  }
};

// Every receiver got exactly its items, in order, with their sizes and bytes.
void expect_delivered(const Outcome& out, const std::vector<Item>& items, int rounds = 1) {
  std::vector<std::size_t> next(out.got.size(), 0);
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::uint64_t seq = static_cast<std::uint64_t>(round) * items.size() + i;
      const auto& got = out.got[items[i].to];
      const std::size_t k = next[items[i].to]++;
      ASSERT_LT(k, got.size()) << "receiver " << items[i].to << " is missing item " << i << " of round " << round;
      ASSERT_EQ(got[k].payload.size(), items[i].size) << "item " << i << " of round " << round;
      ASSERT_TRUE(got[k].payload == make_payload(seq, items[i].size)) << "item " << i << " of round " << round;
    }
  }
  for (std::size_t r = 0; r < out.got.size(); ++r) {
    EXPECT_EQ(out.got[r].size(), next[r]) << "receiver " << r << " got more than was sent";
  }
}

// Every receiver got exactly its items, each once, in any order (payloads of 8 bytes or more).
void expect_delivered_once(const Outcome& out, const std::vector<Item>& items, int rounds) {
  std::vector<std::map<std::uint64_t, std::size_t>> expected(out.got.size());  // seq -> size
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t i = 0; i < items.size(); ++i) {
      expected[items[i].to][static_cast<std::uint64_t>(round) * items.size() + i] = items[i].size;
    }
  }
  for (std::size_t r = 0; r < out.got.size(); ++r) {
    std::map<std::uint64_t, std::size_t> seen;
    for (const auto& m : out.got[r]) {
      const std::uint64_t seq = payload_seq(m.payload);
      ASSERT_TRUE(m.payload == make_payload(seq, m.payload.size())) << "receiver " << r << " seq " << seq;
      ASSERT_TRUE(seen.emplace(seq, m.payload.size()).second) << "receiver " << r << " got seq " << seq << " twice";
    }
    EXPECT_EQ(seen, expected[r]) << "receiver " << r;
  }
}

std::uint64_t bytes_of(const std::vector<Item>& items) {
  std::uint64_t sum = 0;
  for (const Item& i : items) sum += i.size;
  return sum;
}

void expect_gso_counters(const Counters& c, const std::vector<Item>& items, std::uint64_t gso_sends,
                         std::uint64_t gso_segments, int rounds = 1) {
  EXPECT_EQ(c.sent, items.size() * static_cast<std::uint64_t>(rounds)) << describe(c);
  EXPECT_EQ(c.sent_bytes, bytes_of(items) * static_cast<std::uint64_t>(rounds)) << describe(c);
  EXPECT_EQ(c.dropped_send_error, 0u) << describe(c);
  EXPECT_EQ(c.gso_sends, gso_sends) << describe(c);
  EXPECT_EQ(c.gso_segments, gso_segments) << describe(c);
}

// count x size to one receiver, and how the sender must cut it: per-message datagrams are
// min(64, floor(limit / size)); a last piece of one datagram is a plain send.
struct RunCase {
  const char* name;
  std::size_t count;
  std::size_t size;
  std::uint64_t gso_sends;
  std::uint64_t gso_segments;
};

const RunCase ipv4_cases[] = {
    {"2x64", 2, 64, 1, 2},
    {"63x64", 63, 64, 1, 63},
    {"64x64", 64, 64, 1, 64},           // the segment limit exactly
    {"65x64", 65, 64, 1, 64},           // one over: the 65th goes alone, plain
    {"66x64", 66, 64, 2, 66},
    {"200x64", 200, 64, 4, 200},        // 64 + 64 + 64 + 8
    {"1x1200", 1, 1200, 0, 0},          // a run of one stays plain
    {"2x1200", 2, 1200, 1, 2},
    {"55x1200", 55, 1200, 1, 54},       // 54 x 1200 = 64800 <= 65507 < 55 x 1200
    {"200x1200", 200, 1200, 4, 200},    // 54 + 54 + 54 + 38
    {"44x1472", 44, 1472, 1, 44},       // 44 x 1472 = 64768
    {"45x1472", 45, 1472, 1, 44},
    {"200x1472", 200, 1472, 5, 200},    // 44 x 4 + 24
    {"2x32753", 2, 32753, 1, 2},        // 65506: fits one IPv4 message
    {"2x32754", 2, 32754, 0, 0},        // 65508: one byte too many, two plain sends
    {"3x21835", 3, 21835, 1, 3},        // 65505
};

TEST_P(Gso, Ipv4RunTable) {
  UdpSocket receiver(addr("127.0.0.1:0"), 4 << 20);
  for (const RunCase& rc : ipv4_cases) {
    SCOPED_TRACE(rc.name);
    const auto items = equal_run(rc.count, rc.size);
    const Outcome out = send_items(options(), addr("127.0.0.1:0"), {&receiver}, items);
    expect_delivered(out, items);
    expect_gso_counters(out.counters, items, rc.gso_sends, rc.gso_segments);
    EXPECT_EQ(out.counters.gso_fallbacks, 0u);
  }
}

TEST_P(Gso, Ipv6RunTable) {
  SALVO_REQUIRE_IPV6();
  const RunCase cases[] = {
      {"64x64", 64, 64, 1, 64},
      {"65x64", 65, 64, 1, 64},
      {"200x1200", 200, 1200, 4, 200},
      {"2x32763", 2, 32763, 1, 2},  // 65526 <= 65527: one IPv6 message (not IPv4)
      {"2x32764", 2, 32764, 0, 0},  // 65528
  };
  UdpSocket receiver(addr("[::1]:0"), 4 << 20);
  for (const RunCase& rc : cases) {
    SCOPED_TRACE(rc.name);
    const auto items = equal_run(rc.count, rc.size);
    const Outcome out = send_items(options(), addr("[::1]:0"), {&receiver}, items);
    expect_delivered(out, items);
    expect_gso_counters(out.counters, items, rc.gso_sends, rc.gso_segments);
  }
}

TEST_P(Gso, V4MappedDestinationsUseTheIpv4Limit) {
  SALVO_REQUIRE_IPV6();
  UdpSocket receiver(addr("127.0.0.1:0"), 4 << 20);
  // A dual-stack socket sends to IPv4 over IPv4: 2 x 32763 is too much for one message there.
  const RunCase cases[] = {{"2x32753", 2, 32753, 1, 2}, {"2x32763", 2, 32763, 0, 0}};
  for (const RunCase& rc : cases) {
    SCOPED_TRACE(rc.name);
    Recorder recorder;
    Hooks hooks;
    hooks.on_start = [&](Transport& t) {
      for (std::size_t i = 0; i < rc.count; ++i) {
        EXPECT_EQ(t.send(make_payload(i, rc.size), receiver.local().v4_mapped()), SendResult::queued);
      }
      t.stop_listening();
    };
    auto engine = make_engine(options());
    must_listen(*engine, addr("[::ffff:127.0.0.1]:0"), recording_factory(recorder, hooks, Record::nothing));
    must_start(*engine);
    EXPECT_TRUE(all_sockets_ended(*engine, 20s));
    stop_and_wait(*engine);
    const Counters c = engine->counters();
    EXPECT_EQ(c.sent, rc.count) << describe(c);
    EXPECT_EQ(c.gso_sends, rc.gso_sends) << describe(c);
    EXPECT_EQ(c.gso_segments, rc.gso_segments) << describe(c);
    for (std::size_t i = 0; i < rc.count; ++i) {
      auto m = receiver.receive(5s);
      ASSERT_TRUE(m.has_value()) << i;
      EXPECT_TRUE(m->payload == make_payload(i, rc.size)) << i;
    }
    EXPECT_FALSE(receiver.receive(50ms).has_value());
  }
}

// Runs cut by sizes: the last of a run may be shorter, nothing may be longer, an empty datagram
// is never part of a run.
struct MixedCase {
  const char* name;
  std::vector<std::size_t> sizes;
  std::uint64_t gso_sends;
  std::uint64_t gso_segments;
};

TEST_P(Gso, SizesEndAndBreakRuns) {
  const MixedCase cases[] = {
      {"last shorter", {1000, 1000, 1000, 500}, 1, 4},
      {"last of one byte", {1000, 1000, 1}, 1, 3},
      {"shorter in the middle", {1000, 1000, 500, 1000, 1000}, 2, 5},  // [1000 1000 500] [1000 1000]
      {"longer breaks", {1000, 1001}, 0, 0},
      {"shorter then equal", {500, 1000, 1000}, 1, 2},                 // 500 plain, [1000 1000]
      {"two shorter in a row", {1000, 500, 500}, 1, 2},                // [1000 500], then 500 alone
      {"empties", {0, 0, 0}, 0, 0},
      {"empty ends nothing", {100, 100, 0, 100, 100}, 2, 4},
      {"alternating", {100, 200, 100, 200}, 1, 2},                     // 100 plain, [200 100], 200 plain
      {"64 then shorter", {}, 1, 64},                                  // filled below
  };
  UdpSocket receiver(addr("127.0.0.1:0"), 4 << 20);
  for (const MixedCase& mc : cases) {
    SCOPED_TRACE(mc.name);
    std::vector<Item> items;
    for (std::size_t s : mc.sizes) items.push_back({s, 0});
    if (mc.sizes.empty()) {
      items = equal_run(64, 300);
      items.push_back({100, 0});  // a 65th, shorter: past the segment limit, so plain
    }
    const Outcome out = send_items(options(), addr("127.0.0.1:0"), {&receiver}, items);
    expect_delivered(out, items);
    expect_gso_counters(out.counters, items, mc.gso_sends, mc.gso_segments);
  }
}

TEST_P(Gso, DestinationsBreakRuns) {
  UdpSocket a(addr("127.0.0.1:0"), 4 << 20);
  UdpSocket b(addr("127.0.0.1:0"), 4 << 20);
  // A A B B A | B A B | A x 70 B x 3
  std::vector<Item> items = {{200, 0}, {200, 0}, {200, 1}, {200, 1}, {200, 0}, {200, 1}, {200, 0}, {200, 1}};
  for (int i = 0; i < 70; ++i) items.push_back({200, 0});
  for (int i = 0; i < 3; ++i) items.push_back({200, 1});
  // [A A] [B B] A B A B [A x 64] [A x 6] [B x 3]
  const Outcome out = send_items(options(), addr("127.0.0.1:0"), {&a, &b}, items);
  expect_delivered(out, items);
  expect_gso_counters(out.counters, items, 5, 2 + 2 + 64 + 6 + 3);
}

TEST_P(Gso, OffSendsNoGsoMessage) {
  EngineOptions o = options();
  o.gso = false;
  UdpSocket receiver(addr("127.0.0.1:0"), 4 << 20);
  const auto items = equal_run(200, 1200);
  const Outcome out = send_items(o, addr("127.0.0.1:0"), {&receiver}, items);
  expect_delivered(out, items);
  expect_gso_counters(out.counters, items, 0, 0);
  EXPECT_EQ(out.counters.gso_fallbacks, 0u);
}

// The test seam makes the kernel refuse every GSO message (nothing of it is sent) and the backend
// see the refusal as the errno named.
struct RefusalCase {
  const char* error;
  std::uint64_t fallbacks;  // a refusal of GSO itself turns it off; other errors do not
};

TEST_P(Gso, RefusedGsoSendFallsBackWithoutLossOrDuplicates) {
  const RefusalCase cases[] = {{"EIO", 1}, {"EINVAL", 1}, {"EOPNOTSUPP", 1}, {"ENOPROTOOPT", 1}, {"EMSGSIZE", 0}};
  UdpSocket a(addr("127.0.0.1:0"), 4 << 20);
  UdpSocket b(addr("127.0.0.1:0"), 4 << 20);
  // Several GSO messages in one flush (io_uring has them all in flight at once), plain ones between;
  // the first message is plain, so that a sendmmsg takes it and stops at the refused one.
  std::vector<Item> items = {{900, 1}};
  for (const Item& i : equal_run(100, 500, 0)) items.push_back(i);
  items.push_back({700, 1});
  items.push_back({900, 0});
  for (int i = 0; i < 5; ++i) items.push_back({300, 1});
  for (const RefusalCase& rc : cases) {
    SCOPED_TRACE(rc.error);
    EnvGuard seam("SALVO_TEST_GSO_ERROR", rc.error);
    // Two rounds: the second is queued after the first went, on a socket that has fallen back.
    const Outcome out = send_items(options(), addr("127.0.0.1:0"), {&a, &b}, items, 2);
    // epoll sends the refused message again before anything after it; io_uring has already
    // submitted what follows (as when it re-sends after an ICMP error), so only "once" holds there.
    if (GetParam() == BackendKind::epoll) {
      expect_delivered(out, items, 2);
    } else {
      expect_delivered_once(out, items, 2);
    }
    expect_gso_counters(out.counters, items, 0, 0, 2);
    EXPECT_EQ(out.counters.gso_fallbacks, rc.fallbacks) << describe(out.counters);
  }
}

TEST_P(Gso, ARunToAnUnsendableDestinationLeavesGsoOn) {
  // Port 0 is refused with EINVAL, as a kernel without GSO would refuse UDP_SEGMENT: sent again
  // plain, the datagrams fail on their own, so GSO was not at fault and stays on.
  UdpSocket receiver(addr("127.0.0.1:0"), 4 << 20);
  Recorder recorder;
  Hooks hooks;
  hooks.on_start = [&](Transport& t) {
    for (std::uint64_t i = 0; i < 3; ++i) EXPECT_EQ(t.send(make_payload(i, 30), addr("127.0.0.1:0")), SendResult::queued);
    for (std::uint64_t i = 3; i < 6; ++i) EXPECT_EQ(t.send(make_payload(i, 30), receiver.local()), SendResult::queued);
    t.stop_listening();
  };
  auto engine = make_engine(options());
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks, Record::nothing));
  must_start(*engine);
  EXPECT_TRUE(all_sockets_ended(*engine, 20s));
  stop_and_wait(*engine);
  const Counters c = engine->counters();
  EXPECT_EQ(c.sent, 3u) << describe(c);
  EXPECT_EQ(c.dropped_send_error, 3u) << describe(c);
  EXPECT_EQ(c.gso_fallbacks, 0u) << describe(c);
  EXPECT_EQ(c.gso_sends, 1u) << describe(c);
  EXPECT_EQ(c.gso_segments, 3u) << describe(c);
  const auto seen = recorder.events();
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "error:" + std::error_code(EINVAL, std::system_category()).message()), 3)
      << "one on_error per datagram";
  for (std::uint64_t i = 3; i < 6; ++i) {
    auto m = receiver.receive(5s);
    ASSERT_TRUE(m.has_value()) << i;
    EXPECT_TRUE(m->payload == make_payload(i, 30)) << i;
  }
  EXPECT_FALSE(receiver.receive(50ms).has_value());
}

TEST_P(Gso, FallbackIsPerSocket) {
  // One engine, two sockets, both refused: each falls back once.
  EnvGuard seam("SALVO_TEST_GSO_ERROR", "EIO");
  UdpSocket receiver(addr("127.0.0.1:0"), 4 << 20);
  Recorder recorder;
  Hooks hooks;
  hooks.on_start = [&](Transport& t) {
    for (std::uint64_t i = 0; i < 10; ++i) EXPECT_EQ(t.send(make_payload(i, 100), receiver.local()), SendResult::queued);
    t.stop_listening();
  };
  auto engine = make_engine(options());
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks, Record::nothing));
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks, Record::nothing));
  must_start(*engine);
  EXPECT_TRUE(all_sockets_ended(*engine, 20s));
  stop_and_wait(*engine);
  const Counters c = engine->counters();
  EXPECT_EQ(c.sent, 20u) << describe(c);
  EXPECT_EQ(c.gso_sends, 0u) << describe(c);
  EXPECT_EQ(c.gso_fallbacks, 2u) << describe(c);
  std::size_t got = 0;
  while (receiver.receive(200ms)) ++got;
  EXPECT_EQ(got, 20u);
}

TEST_P(Gso, LoadFedThroughOnWritableArrivesExactlyOnce) {
  // The blast pattern with GSO: refills as the queue drains, partial batches, EAGAIN; every
  // datagram arrives once and the counters add up.
  EngineOptions o = options();
  o.send_queue_entries = 256;
  UdpSocket receiver(addr("127.0.0.1:0"), 4 << 20);
  constexpr std::uint64_t total = 5000;
  std::uint64_t next = 0;
  Recorder recorder;
  Hooks hooks;
  hooks.on_start = [](Transport& t) { t.request_writable(true); };
  hooks.on_writable = [&](Transport& t) {
    for (std::size_t room = t.send_queue_room(100); room != 0 && next < total; --room) {
      if (t.send(make_payload(next, 100), receiver.local()) != SendResult::queued) break;
      ++next;
    }
    if (next == total) {
      t.request_writable(false);
      t.stop_listening();
    }
  };
  auto engine = make_engine(o);
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks, Record::nothing));
  must_start(*engine);
  std::set<std::uint64_t> seen;
  std::uint64_t received = 0;
  const Deadline deadline(30s);
  while (received < total && !deadline.expired()) {
    auto m = receiver.receive(3s);
    if (!m) break;
    ASSERT_EQ(m->payload.size(), 100u);
    const std::uint64_t seq = payload_seq(m->payload);
    ASSERT_LT(seq, total);
    ASSERT_TRUE(seen.insert(seq).second) << "duplicate " << seq;
    ASSERT_TRUE(m->payload == make_payload(seq, 100));
    ++received;
  }
  EXPECT_TRUE(all_sockets_ended(*engine, 10s));
  stop_and_wait(*engine);
  const Counters c = engine->counters();
  EXPECT_EQ(received, total) << describe(c);
  EXPECT_EQ(c.sent, total) << describe(c);
  EXPECT_EQ(c.sent_bytes, total * 100) << describe(c);
  EXPECT_GT(c.gso_sends, 0u) << describe(c);
  EXPECT_LE(c.gso_segments, c.sent);
  EXPECT_GE(c.gso_segments, 2 * c.gso_sends);
  EXPECT_EQ(c.send_requests, c.sent + c.dropped_send_queue_full + c.dropped_send_error + c.send_rejected);
}

TEST_P(Gso, RunsToARefusingPortAreRetriedAndCounted) {
  // ICMP port unreachable for a GSO run, then a run to a live receiver: the kernel reports the
  // first run's error on the next send, which the backends send again; the live run arrives whole.
  UdpSocket live(addr("127.0.0.1:0"), 4 << 20);
  const Address dead = closed_port_address(addr("127.0.0.1:0"));
  Recorder recorder;
  Hooks hooks;
  hooks.on_start = [&](Transport& t) {
    for (std::uint64_t i = 0; i < 20; ++i) t.send(make_payload(i, 100), dead);
    for (std::uint64_t i = 0; i < 20; ++i) t.send(make_payload(100 + i, 100), live.local());
    t.stop_listening();
  };
  auto engine = make_engine(options());
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks, Record::nothing));
  must_start(*engine);
  EXPECT_TRUE(all_sockets_ended(*engine, 20s));
  stop_and_wait(*engine);
  const Counters c = engine->counters();
  EXPECT_EQ(c.send_requests, 40u) << describe(c);
  EXPECT_EQ(c.sent + c.dropped_send_error, 40u) << describe(c);
  EXPECT_EQ(c.gso_fallbacks, 0u) << describe(c);
  // Loopback delivers a GSO message whole: the closed port answers the run with one ICMP error,
  // not one per datagram as it does for plain sends (and the socket may close before reading it).
  EXPECT_LE(c.refused, 1u) << describe(c);
  for (std::uint64_t i = 0; i < 20; ++i) {
    auto m = live.receive(5s);
    ASSERT_TRUE(m.has_value()) << i << " " << describe(c);
    EXPECT_TRUE(m->payload == make_payload(100 + i, 100)) << i;
  }
  EXPECT_FALSE(live.receive(50ms).has_value());
}

INSTANTIATE_TEST_SUITE_P(Backends, Gso, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
