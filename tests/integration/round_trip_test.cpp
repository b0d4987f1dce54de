// Round trips through an echo protocol, for every backend: 100,000 datagrams from a plain POSIX
// socket with a bounded window of outstanding datagrams (so loopback never has reason to drop),
// each reply checked byte for byte and by source address, and the server's counters checked
// exactly. Also: a dual-stack socket bound to a v4-mapped address serving an IPv4 client, and one
// bound to [::] serving an IPv4 and an IPv6 client at once.
#include <poll.h>
#include <sys/socket.h>

#include <cstring>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

class RoundTrip : public testing::TestWithParam<BackendKind> {
 protected:
  EngineOptions options() const {
    EngineOptions o;
    o.backend = GetParam();
    o.socket_receive_buffer = 1 << 20;
    o.socket_send_buffer = 1 << 20;
    return o;
  }
};

std::size_t size_for(std::uint64_t seq) { return 8 + seq % 113; }

struct EchoRun {
  std::uint64_t replies = 0;
  std::uint64_t bytes = 0;
};

// Sends `count` datagrams to `server` from `client`, at most `window` unanswered at a time, and
// checks every reply. Fails (returning what it got) when replies stop coming for 3 s.
void exchange(UdpSocket& client, const Address& server, const Address& expected_source, std::uint64_t count,
              std::uint64_t window, EchoRun& run) {
  std::vector<bool> seen(count, false);
  std::uint64_t sent = 0;
  const Deadline overall(90s);
  std::vector<std::byte> buffer(2048);
  while (run.replies < count) {
    while (sent < count && sent - run.replies < window) {
      ASSERT_TRUE(client.send_to(make_payload(sent, size_for(sent)), server)) << "the client's kernel refused #" << sent;
      run.bytes += size_for(sent);
      ++sent;
    }
    ASSERT_FALSE(overall.expired()) << "round trip too slow: " << run.replies << " of " << count << " replies";
    if (!client.wait_readable(3s)) {
      FAIL() << "no reply for 3 s: sent " << sent << ", replies " << run.replies << " (a datagram was lost)";
    }
    Address from;
    long n;
    while ((n = client.try_receive(buffer, from)) >= 0) {
      const std::span<const std::byte> reply(buffer.data(), static_cast<std::size_t>(n));
      ASSERT_EQ(from, expected_source) << "reply from the wrong address";
      ASSERT_GE(reply.size(), 8u);
      const std::uint64_t seq = payload_seq(reply);
      ASSERT_LT(seq, sent) << "reply to a datagram never sent";
      ASSERT_FALSE(seen[seq]) << "duplicate reply " << seq;
      seen[seq] = true;
      const auto expected = make_payload(seq, size_for(seq));
      ASSERT_EQ(reply.size(), expected.size()) << "reply " << seq;
      ASSERT_EQ(std::memcmp(reply.data(), expected.data(), expected.size()), 0) << "reply " << seq << " differs";
      ++run.replies;
    }
  }
}

void echo_many(EngineOptions options, const Address& server_bind, const Address& client_bind, std::uint64_t count) {
  Recorder recorder;
  auto engine = make_engine(options);
  const Address bound = must_listen(*engine, server_bind, echo_factory(recorder));
  ASSERT_NE(bound.port(), 0);
  must_start(*engine);
  UdpSocket client(client_bind, 1 << 20, 1 << 20);
  Address target = bound;
  Address source = bound;
  if (bound.is_v4_mapped() && client.local().is_v4()) {
    target = bound.unmapped();
    source = bound.unmapped();
  }
  EchoRun run;
  exchange(client, target, source, count, 256, run);
  stop_and_wait(*engine);
  if (testing::Test::HasFatalFailure()) return;

  const Counters c = engine->counters();
  EXPECT_EQ(c.received, count) << describe(c);
  EXPECT_EQ(c.delivered, count) << describe(c);
  EXPECT_EQ(c.send_requests, count) << describe(c);
  EXPECT_EQ(c.sent, count) << describe(c);
  EXPECT_EQ(c.received_bytes, run.bytes);
  EXPECT_EQ(c.delivered_bytes, run.bytes);
  EXPECT_EQ(c.sent_bytes, run.bytes);
  EXPECT_EQ(c.dropped_truncated, 0u);
  EXPECT_EQ(c.truncated, 0u);
  EXPECT_EQ(c.dropped_send_queue_full, 0u);
  EXPECT_EQ(c.dropped_send_error, 0u);
  EXPECT_EQ(c.send_rejected, 0u);
  EXPECT_EQ(c.kernel_drops, 0u);
  EXPECT_GE(c.rx_batches, 1u);
  EXPECT_LE(c.rx_batches, count);
  // The server saw exactly one peer: the client, as the kernel names it.
  const std::vector<Address> peers = recorder.peers();
  ASSERT_EQ(peers.size(), 1u);
  if (client.local().is_v4() && server_bind.is_v6()) {
    EXPECT_TRUE(peers[0].is_v4_mapped()) << peers[0].to_string();
    EXPECT_EQ(peers[0].unmapped(), client.local());
  } else {
    EXPECT_EQ(peers[0], client.local());
  }
  EXPECT_EQ(recorder.peer_datagrams(), count);
}

TEST_P(RoundTrip, Ipv4Echo100k) { echo_many(options(), addr("127.0.0.1:0"), addr("127.0.0.1:0"), 100000); }

TEST_P(RoundTrip, Ipv6Echo100k) {
  SALVO_REQUIRE_IPV6();
  echo_many(options(), addr("[::1]:0"), addr("[::1]:0"), 100000);
}

TEST_P(RoundTrip, V4MappedServerEchoesIpv4Client) {
  SALVO_REQUIRE_IPV6();
  echo_many(options(), addr("[::ffff:127.0.0.1]:0"), addr("127.0.0.1:0"), 5000);
}

TEST_P(RoundTrip, SmallBatchesAndBuffersStillDeliverEverything) {
  EngineOptions o = options();
  o.batch_size = 1;
  o.buffer_count = 2;
  o.reads_per_wakeup = 1;
  o.send_queue_entries = 256;
  echo_many(o, addr("127.0.0.1:0"), addr("127.0.0.1:0"), 5000);
}

TEST_P(RoundTrip, ManyClientsAreToldApart) {
  Recorder recorder;
  auto engine = make_engine(options());
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), echo_factory(recorder));
  must_start(*engine);
  std::vector<std::unique_ptr<UdpSocket>> clients;
  for (int i = 0; i < 16; ++i) clients.push_back(std::make_unique<UdpSocket>(addr("127.0.0.1:0")));
  // Each client sends its own index; each must get exactly its own datagram back.
  for (std::size_t i = 0; i < clients.size(); ++i) ASSERT_TRUE(clients[i]->send_to(make_payload(i, 40), bound));
  for (std::size_t i = 0; i < clients.size(); ++i) {
    auto reply = clients[i]->receive(5s);
    ASSERT_TRUE(reply.has_value()) << "client " << i << " got no reply";
    EXPECT_EQ(reply->payload, make_payload(i, 40)) << "client " << i;
    EXPECT_EQ(reply->from, bound);
  }
  stop_and_wait(*engine);
  auto peers = recorder.peers();
  ASSERT_EQ(peers.size(), clients.size());
  for (const auto& c : clients) EXPECT_NE(std::find(peers.begin(), peers.end(), c->local()), peers.end());
  EXPECT_EQ(engine->counters().sent, clients.size());
}

// Dual stack: one socket bound to [::]:0 (IPV6_V6ONLY off, Linux's default) serves an IPv4 and an
// IPv6 client. salvo reports the IPv4 client as the kernel does, v4-mapped
// ([::ffff:127.0.0.1]:port), and a reply reaches it whether the protocol answers that mapped
// address or its plain IPv4 form (Transport maps it for an IPv6 socket); the IPv4 client sees
// the replies come from 127.0.0.1.
TEST_P(RoundTrip, DualStackSocketServesIpv4AndIpv6Clients) {
  SALVO_REQUIRE_IPV6();
  Recorder recorder;
  std::atomic<int> not_queued{0};
  Hooks hooks;
  hooks.on_datagrams = [&](std::span<const Datagram> batch, Transport& t) {
    for (const Datagram& d : batch) {
      if (t.send(d.payload, d.peer) != SendResult::queued) ++not_queued;
      if (t.send(d.payload, d.peer.unmapped()) != SendResult::queued) ++not_queued;
    }
  };
  auto engine = make_engine(options());
  const Address bound = must_listen(*engine, addr("[::]:0"), recording_factory(recorder, hooks));
  ASSERT_TRUE(bound.is_v6());
  ASSERT_TRUE(bound.is_unspecified());
  must_start(*engine);

  UdpSocket v4(addr("127.0.0.1:0"));
  UdpSocket v6(addr("[::1]:0"));
  const Address server_v4 = Address::ipv4_loopback(bound.port());
  const Address server_v6 = Address::ipv6_loopback(bound.port());
  for (std::uint64_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(v4.send_to(make_payload(i, 24), server_v4));
    ASSERT_TRUE(v6.send_to(make_payload(100 + i, 24), server_v6));
  }
  for (std::uint64_t i = 0; i < 20; ++i) {
    auto reply = v4.receive(5s);
    ASSERT_TRUE(reply.has_value()) << "IPv4 client: reply " << i << " of 20 missing";
    EXPECT_EQ(payload_seq(reply->payload), i / 2);
    EXPECT_EQ(reply->from, server_v4) << "the reply comes from the IPv4 loopback, not a mapped address";
  }
  for (std::uint64_t i = 0; i < 20; ++i) {
    auto reply = v6.receive(5s);
    ASSERT_TRUE(reply.has_value()) << "IPv6 client: reply " << i << " of 20 missing";
    EXPECT_EQ(payload_seq(reply->payload), 100 + i / 2);
    EXPECT_EQ(reply->from, server_v6);
  }
  stop_and_wait(*engine);
  EXPECT_EQ(not_queued.load(), 0);

  const Address mapped_client = addr("[::ffff:127.0.0.1]:" + std::to_string(v4.local().port()));
  std::size_t from_v4 = 0;
  std::size_t from_v6 = 0;
  for (const Received& r : recorder.datagrams()) {
    if (payload_seq(r.payload) < 100) {
      ++from_v4;
      EXPECT_EQ(r.peer, mapped_client) << "salvo reports an IPv4 peer of a dual-stack socket v4-mapped";
      EXPECT_TRUE(r.peer.is_v6());
      EXPECT_TRUE(r.peer.is_v4_mapped());
      EXPECT_EQ(r.peer.unmapped(), v4.local());
    } else {
      ++from_v6;
      EXPECT_EQ(r.peer, v6.local());
    }
  }
  EXPECT_EQ(from_v4, 10u);
  EXPECT_EQ(from_v6, 10u);
  const Counters c = engine->counters();
  EXPECT_EQ(c.received, 20u) << describe(c);
  EXPECT_EQ(c.sent, 40u) << describe(c);
  EXPECT_EQ(c.send_rejected, 0u) << describe(c);
}

INSTANTIATE_TEST_SUITE_P(Backends, RoundTrip, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
