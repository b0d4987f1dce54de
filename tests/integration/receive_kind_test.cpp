// The io_uring backend's two kinds of receive request (EngineOptions::io_uring_receive): multishot,
// single-shot, and the adaptive policy that switches between them (io_uring/receive_mode.hpp).
// Each case runs with every kind forced and with the adaptive default, and once on epoll (which
// ignores the option), and checks the same exact results: payloads, sources, truncation, and the
// counters, recv_single_shots included, which says which kind received each datagram.
//
// The other receive-path suites (Metadata, Sizes, RoundTrip...) run once more with single-shot
// receives forced through SALVO_TEST_IO_URING_RECEIVE (tests/CMakeLists.txt).
#include <algorithm>
#include <cstring>
#include <mutex>

#include "receive_mode.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

using Receive = EngineOptions::IoUringReceive;

struct ReceiveCase {
  BackendKind backend;
  Receive receive;
};

std::vector<ReceiveCase> receive_cases() {
  std::vector<ReceiveCase> cases;
  for (BackendKind kind : available_backends()) {
    if (kind == BackendKind::io_uring) {
      for (Receive r : {Receive::adaptive, Receive::multishot, Receive::single_shot}) cases.push_back({kind, r});
    } else {
      cases.push_back({kind, Receive::adaptive});
    }
  }
  return cases;
}

std::string case_name(const testing::TestParamInfo<ReceiveCase>& info) {
  if (info.param.backend != BackendKind::io_uring) return std::string(to_string(info.param.backend));
  std::string name = "io_uring_" + std::string(to_string(info.param.receive));
  std::replace(name.begin(), name.end(), '-', '_');  // gtest names allow no '-'
  return name;
}

using detail::ReceiveMode;

class ReceiveKind : public testing::TestWithParam<ReceiveCase> {
 protected:
  EngineOptions options() const {
    EngineOptions o;
    o.backend = GetParam().backend;
    o.io_uring_receive = GetParam().receive;
    o.socket_receive_buffer = 4 << 20;
    o.socket_send_buffer = 1 << 20;
    return o;
  }

  // How many of `count` datagrams, received one round at a time (a strict ping-pong), come through
  // single-shot requests: adaptive starts multishot, switches after light_rounds_to_switch rounds,
  // and probes with multishot again (for as many rounds) after every single_shots_per_probe.
  std::uint64_t single_shots_in_ping_pong(std::uint64_t count) const {
    if (GetParam().backend != BackendKind::io_uring) return 0;
    switch (GetParam().receive) {
      case Receive::multishot: return 0;
      case Receive::single_shot: return count;
      case Receive::adaptive: break;
    }
    const std::uint64_t cycle = ReceiveMode::light_rounds_to_switch + ReceiveMode::single_shots_per_probe;
    const std::uint64_t whole = count / cycle;
    const std::uint64_t rest = count % cycle;
    return whole * ReceiveMode::single_shots_per_probe +
           (rest > ReceiveMode::light_rounds_to_switch ? rest - ReceiveMode::light_rounds_to_switch : 0);
  }
};

// Strict ping-pong against an echo server: each datagram goes only after the previous reply came
// back, checked byte for byte and by source.
void ping_pong(UdpSocket& client, const Address& server, std::uint64_t first, std::uint64_t count) {
  std::vector<std::byte> buffer(4096);
  for (std::uint64_t seq = first; seq < first + count; ++seq) {
    const auto payload = make_payload(seq, 8 + seq % 200);
    ASSERT_TRUE(client.send_to(payload, server)) << "#" << seq;
    auto reply = client.receive(3s);
    ASSERT_TRUE(reply.has_value()) << "no reply to #" << seq << " within 3 s";
    ASSERT_EQ(reply->from, server) << "#" << seq;
    ASSERT_EQ(reply->payload, payload) << "reply to #" << seq << " differs";
  }
}

TEST_P(ReceiveKind, PingPongCountsEachDatagramByTheKindThatReceivedIt) {
  // Over two probe cycles of the adaptive policy, so that its return to multishot shows too.
  const std::uint64_t count = 2 * (ReceiveMode::light_rounds_to_switch + ReceiveMode::single_shots_per_probe) + 100;
  Recorder recorder;
  auto engine = make_engine(options());
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), echo_factory(recorder));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  ping_pong(client, bound, 0, count);
  stop_and_wait(*engine);
  if (HasFatalFailure()) return;

  const Counters c = engine->counters();
  EXPECT_EQ(c.received, count) << describe(c);
  EXPECT_EQ(c.delivered, count) << describe(c);
  EXPECT_EQ(c.sent, count) << describe(c);
  EXPECT_EQ(c.recv_single_shots, single_shots_in_ping_pong(count)) << describe(c);
  // Neither a single-shot receive that did its job nor a cancel to switch is an ending.
  EXPECT_EQ(c.recv_terminations, 0u) << describe(c);
  EXPECT_EQ(c.recv_rearms, 0u) << describe(c);
  EXPECT_EQ(c.dropped_send_error, 0u) << describe(c);
  ASSERT_EQ(recorder.peers().size(), 1u);
  EXPECT_EQ(recorder.peers()[0], client.local());
}

// Sizes around the buffer: empty, one byte, exactly the buffer, one byte more, far more. A datagram
// larger than buffer_size is truncated (and dropped by default) whichever kind received it.
struct SizesRun {
  std::vector<Received> datagrams;
  Counters counters;
  Address client;
};

SizesRun receive_sizes(EngineOptions o, const std::vector<std::size_t>& sizes) {
  SizesRun run;
  Recorder recorder;
  auto engine = make_engine(o);
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  run.client = client.local();
  std::uint64_t received = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    // One at a time, each seen by the engine before the next goes: a ping-pong's rounds.
    EXPECT_TRUE(client.send_to(make_payload(i, sizes[i]), bound));
    ++received;
    const bool counted = wait_until([&] { return engine->counters().received >= received; }, 3s);
    EXPECT_TRUE(counted) << "datagram #" << i << " (" << sizes[i] << " bytes) not received";
    if (!counted) break;
  }
  stop_and_wait(*engine);
  run.datagrams = recorder.datagrams();
  run.counters = engine->counters();
  return run;
}

TEST_P(ReceiveKind, SizesAroundTheBufferAreDeliveredOrTruncatedAlike) {
  EngineOptions o = options();
  o.buffer_size = 1024;
  // Eight small ones first, so that the adaptive policy has switched to single-shot by the sizes
  // that matter.
  const std::vector<std::size_t> sizes = {8, 8, 8, 8, 8, 8, 8, 8, 0, 1, 1023, 1024, 1025, 4000, 9, 65507, 12};
  const SizesRun run = receive_sizes(o, sizes);
  if (HasFatalFailure()) return;
  std::vector<std::size_t> delivered;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] <= o.buffer_size) delivered.push_back(i);
  }
  ASSERT_EQ(run.datagrams.size(), delivered.size()) << describe(run.counters);
  for (std::size_t k = 0; k < delivered.size(); ++k) {
    const std::size_t i = delivered[k];
    EXPECT_EQ(run.datagrams[k].payload, make_payload(i, sizes[i])) << "datagram #" << i << ", " << sizes[i] << " bytes";
    EXPECT_EQ(run.datagrams[k].peer, run.client) << "datagram #" << i;
    EXPECT_FALSE(run.datagrams[k].truncated);
  }
  const Counters& c = run.counters;
  EXPECT_EQ(c.received, sizes.size()) << describe(c);
  EXPECT_EQ(c.truncated, 3u) << describe(c);
  EXPECT_EQ(c.dropped_truncated, 3u) << describe(c);
  EXPECT_EQ(c.delivered, delivered.size()) << describe(c);
  EXPECT_EQ(c.recv_single_shots, single_shots_in_ping_pong(sizes.size())) << describe(c);
  // The kernel ends a multishot recvmsg after an empty datagram (delivered all the same); the
  // backend arms it again. The adaptive policy is single-shot by then.
  const bool multishot = GetParam().backend == BackendKind::io_uring && GetParam().receive == Receive::multishot;
  EXPECT_EQ(c.recv_terminations, multishot ? 1u : 0u) << describe(c);
  EXPECT_EQ(c.recv_rearms, c.recv_terminations) << describe(c);
}

TEST_P(ReceiveKind, DeliveredTruncatedDatagramsKeepTheirFirstBytes) {
  EngineOptions o = options();
  o.buffer_size = 512;
  o.deliver_truncated = true;
  const std::vector<std::size_t> sizes = {8, 8, 8, 8, 8, 8, 512, 513, 3000, 20};
  const SizesRun run = receive_sizes(o, sizes);
  if (HasFatalFailure()) return;
  ASSERT_EQ(run.datagrams.size(), sizes.size()) << describe(run.counters);
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const bool cut = sizes[i] > o.buffer_size;
    auto expected = make_payload(i, sizes[i]);
    if (cut) expected.resize(o.buffer_size);
    EXPECT_EQ(run.datagrams[i].truncated, cut) << "datagram #" << i;
    EXPECT_EQ(run.datagrams[i].payload, expected) << "datagram #" << i << ", " << sizes[i] << " bytes";
  }
  EXPECT_EQ(run.counters.truncated, 2u) << describe(run.counters);
  EXPECT_EQ(run.counters.dropped_truncated, 0u) << describe(run.counters);
}

TEST_P(ReceiveKind, BurstsAfterAPingPongArriveWholeAndInOrder) {
  // The adaptive policy is single-shot after the ping-pong; the bursts then come faster than one
  // datagram per round, until the policy's probe goes back to multishot. At most `window`
  // datagrams are unanswered at a time, so that no socket buffer overflows (the kernel default
  // rmem_max holds that many).
  constexpr std::uint64_t warm = 20;
  constexpr std::uint64_t burst = 1500;
  constexpr std::uint64_t window = 128;
  Recorder recorder;
  auto engine = make_engine(options());
  std::vector<std::uint64_t> order;
  std::mutex order_mutex;
  Hooks hooks;
  hooks.on_datagrams = [&](std::span<const Datagram> batch, Transport& t) {
    for (const Datagram& d : batch) {
      EXPECT_EQ(t.send(d.payload, d.peer), SendResult::queued);
      std::lock_guard lock(order_mutex);
      order.push_back(payload_seq(d.payload));
    }
  };
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks, Record::nothing));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"), 1 << 20, 1 << 20);
  ping_pong(client, bound, 0, warm);
  if (HasFatalFailure()) return;
  std::uint64_t sent = 0;
  std::uint64_t replies = 0;
  std::vector<std::byte> buffer(2048);
  const Deadline deadline(30s);
  while (replies < burst && !deadline.expired()) {
    while (sent < burst && sent - replies < window) {
      ASSERT_TRUE(client.send_to(make_payload(warm + sent, 64), bound)) << "#" << warm + sent;
      ++sent;
    }
    if (!client.wait_readable(3s)) break;
    Address from;
    long n;
    while ((n = client.try_receive(buffer, from)) >= 0) {
      const std::span<const std::byte> reply(buffer.data(), static_cast<std::size_t>(n));
      ASSERT_EQ(from, bound);
      ASSERT_EQ(payload_seq(reply), warm + replies) << "reply out of order";
      ++replies;
    }
  }
  stop_and_wait(*engine);
  EXPECT_EQ(replies, burst);
  const Counters c = engine->counters();
  EXPECT_EQ(c.received, warm + burst) << describe(c);
  EXPECT_EQ(c.sent, warm + burst) << describe(c);
  EXPECT_EQ(c.kernel_drops, 0u) << describe(c);
  EXPECT_EQ(c.recv_rearms, c.recv_terminations) << describe(c);
  {
    std::lock_guard lock(order_mutex);
    ASSERT_EQ(order.size(), warm + burst);
    for (std::uint64_t i = 0; i < order.size(); ++i) ASSERT_EQ(order[i], i) << "delivered out of order";
  }
  const ReceiveCase& p = GetParam();
  if (p.backend != BackendKind::io_uring || p.receive == Receive::multishot) {
    EXPECT_EQ(c.recv_single_shots, 0u) << describe(c);
  } else if (p.receive == Receive::single_shot) {
    EXPECT_EQ(c.recv_single_shots, warm + burst) << describe(c);
  } else {
    // Single-shot from the fifth warm-up datagram until the probe at least; then multishot while
    // rounds bring several datagrams, or single-shot again if the worker kept up one by one.
    EXPECT_GE(c.recv_single_shots, ReceiveMode::single_shots_per_probe) << describe(c);
    EXPECT_LE(c.recv_single_shots, warm + burst - ReceiveMode::light_rounds_to_switch) << describe(c);
  }
}

TEST_P(ReceiveKind, StopCancelsWhicheverKindIsArmed) {
  Recorder recorder;
  auto engine = make_engine(options());
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), echo_factory(recorder));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  ping_pong(client, bound, 0, 10);
  if (HasFatalFailure()) return;
  stop_and_wait(*engine, 5s);
  const Counters c = engine->counters();
  EXPECT_EQ(c.received, 10u) << describe(c);
  EXPECT_EQ(c.recv_terminations, 0u) << "the cancel at stop was counted as an ending: " << describe(c);
  // After stop the port is closed: nothing answers.
  ASSERT_TRUE(client.send_to(make_payload(99, 16), bound));
  EXPECT_FALSE(client.receive(200ms).has_value());
}

INSTANTIATE_TEST_SUITE_P(Kinds, ReceiveKind, testing::ValuesIn(receive_cases()), case_name);

}  // namespace
}  // namespace salvo::test
