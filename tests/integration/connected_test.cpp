// Connected UDP and the socket options of Twisted's transport, for every backend: connect once
// (a second connect is an error), send without an address, only the peer's datagrams delivered,
// ICMP port unreachable from the peer as on_refused(peer) (IPv4 and IPv6); broadcast, multicast TTL and loopback
// read back as set; multicast joins fail clearly for bad groups and unknown interfaces.
#include <algorithm>
#include <atomic>
#include <mutex>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

class Connected : public SmallPoolPerBackend {};

// A protocol that records refusals with their peer.
class RefusalRecorder final : public Protocol {
 public:
  explicit RefusalRecorder(std::function<void(Transport&)> start) : start_(std::move(start)) {}
  void on_start(Transport& t) override { start_(t); }
  void on_datagrams(std::span<const Datagram> batch, Transport&) override {
    std::lock_guard lock(mutex_);
    for (const Datagram& d : batch) from_.push_back(d.peer);
  }
  void on_refused(const Address& peer, Transport&) override {
    std::lock_guard lock(mutex_);
    refused_.push_back(peer);
  }
  std::vector<Address> refused() const {
    std::lock_guard lock(mutex_);
    return refused_;
  }
  std::vector<Address> from() const {
    std::lock_guard lock(mutex_);
    return from_;
  }

 private:
  std::function<void(Transport&)> start_;
  mutable std::mutex mutex_;
  std::vector<Address> refused_;
  std::vector<Address> from_;
};

TEST_P(Connected, OnlyThePeersDatagramsArriveAndSendNeedsNoAddress) {
  UdpSocket peer(addr("127.0.0.1:0"));
  UdpSocket stranger(addr("127.0.0.1:0"));
  std::atomic<int> connect_result{-1};
  std::atomic<int> second_connect{-1};
  std::atomic<int> sent_without_address{-1};
  RefusalRecorder* protocol = nullptr;
  auto engine = make_engine(options());
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), [&](unsigned) {
    auto p = std::make_unique<RefusalRecorder>([&](Transport& t) {
      auto r = t.connect(peer.local());
      connect_result = r ? 0 : 1;
      auto again = t.connect(stranger.local());
      second_connect = !again && again.error().code == make_error_code(Errc::invalid_state) ? 0 : 1;
      sent_without_address = t.send(make_payload(7, 24)) == SendResult::queued ? 0 : 1;
      EXPECT_EQ(t.connected_peer(), peer.local());
    });
    protocol = p.get();
    return p;
  });
  must_start(*engine);
  auto hello = peer.receive(2s);
  ASSERT_TRUE(hello.has_value()) << "send(payload) on a connected socket did not reach the peer";
  EXPECT_EQ(payload_seq(hello->payload), 7u);
  EXPECT_EQ(hello->from, server);
  EXPECT_EQ(connect_result.load(), 0);
  EXPECT_EQ(second_connect.load(), 0) << "a second connect must fail with invalid_state";
  EXPECT_EQ(sent_without_address.load(), 0);

  for (std::uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(stranger.send_to(make_payload(i, 16), server));
  for (std::uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(peer.send_to(make_payload(100 + i, 16), server));
  ASSERT_TRUE(wait_until([&] { return engine->counters().received >= 5; }, 5s));
  // The stranger's datagrams were sent first: had the kernel delivered them they would be here.
  stop_and_wait(*engine);
  const auto from = protocol->from();
  ASSERT_EQ(from.size(), 5u);
  for (const Address& a : from) EXPECT_EQ(a, peer.local());
  EXPECT_EQ(engine->counters().received, 5u);
}

// A connected socket on `loopback` sends to a closed port of the same loopback and must hear
// on_refused with that peer.
void connected_refused(const EngineOptions& options, const Address& loopback) {
  const Address closed = closed_port_address(loopback);
  RefusalRecorder* protocol = nullptr;
  auto engine = make_engine(options);
  must_listen(*engine, loopback, [&](unsigned) {
    auto p = std::make_unique<RefusalRecorder>([&](Transport& t) {
      ASSERT_TRUE(t.connect(closed).ok());
      t.send(make_payload(1, 8));
    });
    protocol = p.get();
    return p;
  });
  must_start(*engine);
  ASSERT_TRUE(wait_until([&] { return !protocol->refused().empty(); }, 5s)) << describe(engine->counters());
  stop_and_wait(*engine);
  const auto refused = protocol->refused();
  ASSERT_GE(refused.size(), 1u);
  EXPECT_EQ(refused[0], closed);
  EXPECT_EQ(engine->counters().refused, refused.size());
}

// An unconnected socket on `loopback` sends to three closed ports and must be told, per peer.
void unconnected_refused(const EngineOptions& options, const Address& loopback) {
  std::vector<Address> closed;
  while (closed.size() < 3) {
    const Address port = closed_port_address(loopback);
    if (std::find(closed.begin(), closed.end(), port) == closed.end()) closed.push_back(port);
  }
  RefusalRecorder* protocol = nullptr;
  auto engine = make_engine(options);
  must_listen(*engine, loopback, [&](unsigned) {
    auto p = std::make_unique<RefusalRecorder>([&](Transport& t) {
      for (const Address& to : closed) t.send(make_payload(1, 8), to);
    });
    protocol = p.get();
    return p;
  });
  must_start(*engine);
  ASSERT_TRUE(wait_until([&] { return protocol->refused().size() >= 3; }, 5s)) << describe(engine->counters());
  stop_and_wait(*engine);
  auto refused = protocol->refused();
  std::sort(refused.begin(), refused.end(), [](const Address& a, const Address& b) { return a.port() < b.port(); });
  std::sort(closed.begin(), closed.end(), [](const Address& a, const Address& b) { return a.port() < b.port(); });
  EXPECT_EQ(refused, closed);
  const Counters c = engine->counters();
  EXPECT_EQ(c.refused, 3u);
  EXPECT_EQ(c.sent, 3u) << describe(c);
  EXPECT_EQ(c.dropped_send_error, 0u) << describe(c);
}

TEST_P(Connected, RefusedByThePeerCallsOnRefusedWithThePeer) { connected_refused(options(), addr("127.0.0.1:0")); }

TEST_P(Connected, UnconnectedSocketsHearWhichPeerRefused) { unconnected_refused(options(), addr("127.0.0.1:0")); }

// The same over IPv6: ICMPv6 port unreachable, read from the IPv6 error queue.
TEST_P(Connected, Ipv6RefusedByThePeerCallsOnRefusedWithThePeer) {
  SALVO_REQUIRE_IPV6();
  connected_refused(options(), addr("[::1]:0"));
}

TEST_P(Connected, Ipv6UnconnectedSocketsHearWhichPeerRefused) {
  SALVO_REQUIRE_IPV6();
  unconnected_refused(options(), addr("[::1]:0"));
}

TEST_P(Connected, AnIcmpStormDoesNotStopValidTraffic) {
  // The server answers every datagram; half of its peers are gone (each reply draws an ICMP port
  // unreachable), while a live client's 2000 requests must all be answered.
  const Address gone = closed_port_address(addr("127.0.0.1:0"));
  Recorder recorder;
  Hooks hooks;
  hooks.on_datagrams = [&](std::span<const Datagram> batch, Transport& t) {
    for (const Datagram& d : batch) {
      t.send(d.payload, d.peer);
      t.send(d.payload, gone);  // the storm: one refused reply per datagram
    }
  };
  EngineOptions o = options();
  o.socket_receive_buffer = 1 << 20;
  auto engine = make_engine(o);
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks, Record::nothing));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"), 1 << 20);
  std::uint64_t answered = 0;
  for (std::uint64_t burst = 0; burst < 2000; burst += 50) {
    for (std::uint64_t i = burst; i < burst + 50; ++i) ASSERT_TRUE(client.send_to(make_payload(i, 32), server));
    for (std::uint64_t i = burst; i < burst + 50; ++i) {
      auto m = client.receive(5s);
      ASSERT_TRUE(m.has_value()) << "no answer to " << i << ": " << describe(engine->counters());
      ++answered;
    }
  }
  ASSERT_TRUE(wait_until([&] { return engine->counters().refused == 2000; }, 5s)) << describe(engine->counters());
  stop_and_wait(*engine);
  const Counters c = engine->counters();
  EXPECT_EQ(answered, 2000u);
  EXPECT_EQ(c.received, 2000u);
  EXPECT_EQ(c.sent, 4000u) << describe(c);
  EXPECT_EQ(c.dropped_send_error, 0u) << describe(c);
  EXPECT_EQ(c.refused, 2000u) << describe(c);
  EXPECT_EQ(c.recv_terminations, c.recv_rearms) << describe(c);
}

TEST_P(Connected, ConnectErrorsAreClear) {
  std::vector<std::string> errors;
  Recorder recorder;
  Hooks hooks;
  hooks.on_start = [&](Transport& t) {
    auto zero = t.connect(addr("127.0.0.1:0"));
    errors.push_back(zero ? "" : zero.error().message);
    auto family = t.connect(addr("[::1]:53"));
    errors.push_back(family ? "" : family.error().message);
    errors.push_back(t.send(make_payload(1, 8)) == SendResult::bad_address ? "unconnected send refused" : "");
    t.stop_listening();
  };
  auto engine = make_engine(options());
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks));
  must_start(*engine);
  ASSERT_TRUE(all_sockets_ended(*engine, 5s));
  stop_and_wait(*engine);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].find("port 0"), std::string::npos) << errors[0];
  EXPECT_NE(errors[1].find("IPv4 socket"), std::string::npos) << errors[1];
  EXPECT_EQ(errors[2], "unconnected send refused");
  EXPECT_EQ(engine->counters().send_rejected, 1u);
}

TEST_P(Connected, SocketOptionsReadBackAsSet) {
  struct Seen {
    bool broadcast_before = true, broadcast_after = false, loop_after = true;
    int ttl_after = 0;
    std::string bad_group, bad_interface, bad_ttl, ipv6_group_on_v4;
    bool joined_any = false, left_any = false;
  } seen;
  Recorder recorder;
  Hooks hooks;
  hooks.on_start = [&](Transport& t) {
    seen.broadcast_before = t.broadcast_allowed().value();
    EXPECT_TRUE(t.set_broadcast_allowed(true).ok());
    seen.broadcast_after = t.broadcast_allowed().value();
    EXPECT_TRUE(t.set_multicast_ttl(7).ok());
    seen.ttl_after = t.multicast_ttl().value();
    EXPECT_TRUE(t.set_multicast_loopback(false).ok());
    seen.loop_after = t.multicast_loopback().value();
    auto bad = t.join_group(addr("10.0.0.1:0"));
    seen.bad_group = bad ? "" : bad.error().message;
    auto nodev = t.join_group(addr("239.1.2.3:0"), NetworkInterface::named("no-such-if0"));
    seen.bad_interface = nodev ? "" : nodev.error().message;
    auto ttl = t.set_multicast_ttl(0);
    seen.bad_ttl = ttl ? "" : ttl.error().message;
    auto v6 = t.join_group(addr("[ff02::1:3]:0"));
    seen.ipv6_group_on_v4 = v6 ? "" : v6.error().message;
    // On the loopback interface by index: lo has no multicast flag on most hosts, so the kernel
    // may refuse; either way the answer must be a result, and a successful join must be leavable.
    auto join = t.join_group(addr("239.1.2.3:0"), NetworkInterface::named("lo"));
    seen.joined_any = join.ok();
    if (join.ok()) seen.left_any = t.leave_group(addr("239.1.2.3:0"), NetworkInterface::named("lo")).ok();
    t.stop_listening();
  };
  EngineOptions o;
  o.backend = GetParam();
  auto engine = make_engine(o);
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks));
  must_start(*engine);
  ASSERT_TRUE(all_sockets_ended(*engine, 5s));
  stop_and_wait(*engine);
  EXPECT_FALSE(seen.broadcast_before);
  EXPECT_TRUE(seen.broadcast_after);
  EXPECT_EQ(seen.ttl_after, 7);
  EXPECT_FALSE(seen.loop_after);
  EXPECT_NE(seen.bad_group.find("not a multicast group"), std::string::npos) << seen.bad_group;
  EXPECT_NE(seen.bad_interface.find("no-such-if0"), std::string::npos) << seen.bad_interface;
  EXPECT_NE(seen.bad_ttl.find("between 1 and 255"), std::string::npos) << seen.bad_ttl;
  EXPECT_NE(seen.ipv6_group_on_v4.find("IPv4 socket"), std::string::npos) << seen.ipv6_group_on_v4;
  if (seen.joined_any) {
    EXPECT_TRUE(seen.left_any);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Connected, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
