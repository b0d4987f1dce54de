// FakeTransport: protocols tested without sockets. The protocol under test gets the real
// Transport; the fake injects datagrams and ICMP-style errors, records what was sent, and counts
// as the worker counts. These tests are also the examples of how to use it.
#include "salvo/fake_transport.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <cstring>
#include <string>
#include <vector>

#include "salvo/datagram_protocol.hpp"
#include "support/test_support.hpp"

namespace salvo {
namespace {

using test::addr;

std::span<const std::byte> bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
std::string text(std::span<const std::byte> b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

// send_requests == sent + dropped_send_queue_full + dropped_send_error + send_rejected + queued.
void expect_send_accounting(const FakeTransport& fake) {
  const Counters c = fake.counters();
  EXPECT_EQ(c.send_requests, c.sent + c.dropped_send_queue_full + c.dropped_send_error + c.send_rejected + fake.queued())
      << test::describe(c);
}

// Twisted's Echo, batch-native.
class Echo : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram> batch, Transport& transport) override {
    ++batches;
    batch_sizes.push_back(batch.size());
    for (const Datagram& d : batch) results.push_back(transport.send(d.payload, d.peer));
  }
  unsigned batches = 0;
  std::vector<std::size_t> batch_sizes;
  std::vector<SendResult> results;
};

// Records every hook, and runs a few commands it receives ("stop", "connect <addr>", "burst <n>").
class Recorder : public Protocol {
 public:
  void on_start(Transport& t) override {
    events.push_back("start");
    worker = t.worker_index();
    local = t.local_address();
  }
  void on_datagrams(std::span<const Datagram> batch, Transport& t) override {
    for (const Datagram& d : batch) {
      const std::string command = text(d.payload);
      events.push_back("datagram " + command + " from " + d.peer.to_string() + (d.truncated ? " truncated" : ""));
      if (command == "stop") {
        t.send(bytes("bye"), d.peer);
        t.stop_listening();
      } else if (command.rfind("burst ", 0) == 0) {
        const int n = std::stoi(command.substr(6));
        for (int i = 0; i < n; ++i) results.push_back(t.send(bytes("x" + std::to_string(i)), d.peer));
      }
    }
  }
  void on_writable(Transport& t) override {
    events.push_back("writable");
    while (writes_left > 0 && t.send_queue_room(4) > 0) {
      t.send(bytes("fill"), target);
      --writes_left;
    }
  }
  void on_refused(const Address& peer, Transport&) override { events.push_back("refused " + peer.to_string()); }
  void on_unreachable(const Address& peer, std::error_code why, Transport&) override {
    events.push_back("unreachable " + peer.to_string() + " " + std::to_string(why.value()));
  }
  void on_path_mtu(const Address& peer, unsigned mtu, Transport&) override {
    events.push_back("path_mtu " + peer.to_string() + " " + std::to_string(mtu));
  }
  void on_error(std::error_code e, Transport&) override { events.push_back("error " + std::to_string(e.value())); }
  void on_stop() override { events.push_back("stop"); }

  std::vector<std::string> events;
  std::vector<SendResult> results;
  unsigned worker = 99;
  Address local;
  int writes_left = 0;
  Address target;
};

TEST(FakeTransport, EchoSendsAreRecordedWithExactBytesAndDestinations) {
  FakeTransport fake;
  Echo echo;
  fake.start(echo);
  const Address a = addr("10.0.0.1:1111");
  const Address b = addr("[2001:db8::7]:2222");
  const std::vector<std::byte> binary = test::make_payload(42, 300);
  EXPECT_EQ(fake.deliver(echo, {{"hello", a}, {binary, a}, {"", a}}), 3u);
  EXPECT_EQ(echo.batches, 1u);
  std::vector<SentDatagram> sent = fake.take_sent();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].text(), "hello");
  EXPECT_EQ(sent[0].to, a);
  EXPECT_EQ(sent[1].bytes, binary);
  EXPECT_EQ(sent[1].to, a);
  EXPECT_TRUE(sent[2].bytes.empty());
  EXPECT_TRUE(fake.take_sent().empty()) << "take_sent clears the record";

  // An IPv6 peer on an IPv4 socket: the real Transport refuses it.
  EXPECT_EQ(fake.deliver(echo, "six", b), 1u);
  EXPECT_EQ(echo.results.back(), SendResult::family_mismatch);
  EXPECT_TRUE(fake.take_sent().empty());

  const Counters c = fake.counters();
  EXPECT_EQ(c.received, 4u);
  EXPECT_EQ(c.received_bytes, 5u + 300u + 0u + 3u);
  EXPECT_EQ(c.delivered, 4u);
  EXPECT_EQ(c.delivered_bytes, c.received_bytes);
  EXPECT_EQ(c.rx_batches, 2u);
  EXPECT_EQ(c.send_requests, 4u);
  EXPECT_EQ(c.sent, 3u);
  EXPECT_EQ(c.sent_bytes, 305u);
  EXPECT_EQ(c.send_rejected, 1u);
  EXPECT_EQ(c.rx_syscalls + c.tx_syscalls, 0u) << "the fake makes no system calls";
  EXPECT_EQ(fake.transport().counters().sent, 3u) << "Transport::counters is the same socket's";
  expect_send_accounting(fake);
}

TEST(FakeTransport, IPv6FakeRecordsIPv4DestinationsMapped) {
  FakeTransport fake(addr("[::]:53"));
  Echo echo;
  fake.deliver(echo, "q", addr("192.0.2.1:4000"));
  fake.deliver(echo, "r", addr("[2001:db8::1]:4001"));
  auto sent = fake.take_sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].to, addr("[::ffff:192.0.2.1]:4000")) << "as the real Transport queues it for an IPv6 socket";
  EXPECT_EQ(sent[0].to.unmapped(), addr("192.0.2.1:4000"));
  EXPECT_EQ(sent[1].to, addr("[2001:db8::1]:4001"));
}

TEST(FakeTransport, DatagramsAreSplitIntoBatchesOfBatchSize) {
  FakeTransportOptions options;
  options.batch_size = 2;
  FakeTransport fake(Address::ipv4_loopback(9999), options);
  Echo echo;
  std::vector<FakeDatagram> five;
  for (int i = 0; i < 5; ++i) five.emplace_back(std::to_string(i), addr("127.0.0.1:7"));
  EXPECT_EQ(fake.deliver(echo, five), 5u);
  EXPECT_EQ(echo.batch_sizes, (std::vector<std::size_t>{2, 2, 1}));
  const Counters c = fake.counters();
  EXPECT_EQ(c.rx_batches, 3u);
  EXPECT_EQ(c.rx_batch_sizes[batch_size_bucket(1)], 1u);
  EXPECT_EQ(c.rx_batch_sizes[batch_size_bucket(2)], 2u);
  auto sent = fake.take_sent();
  ASSERT_EQ(sent.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(sent[i].text(), std::to_string(i));
}

TEST(FakeTransport, SmallQueueGivesQueueFullAndIsFlushedAfterEachHook) {
  FakeTransportOptions options;
  options.send_queue_entries = 4;
  FakeTransport fake(Address::ipv4_loopback(9999), options);
  Recorder p;
  fake.deliver(p, "burst 10", addr("127.0.0.1:5000"));
  ASSERT_EQ(p.results.size(), 10u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(p.results[i], SendResult::queued) << i;
  for (int i = 4; i < 10; ++i) EXPECT_EQ(p.results[i], SendResult::queue_full) << i;
  auto sent = fake.take_sent();
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[3].text(), "x3");
  EXPECT_EQ(fake.counters().dropped_send_queue_full, 6u);
  expect_send_accounting(fake);

  // The hook's sends were flushed when it returned: the next hook has the whole queue again.
  p.results.clear();
  fake.deliver(p, "burst 4", addr("127.0.0.1:5000"));
  for (SendResult r : p.results) EXPECT_EQ(r, SendResult::queued);
  EXPECT_EQ(fake.take_sent().size(), 4u);
}

TEST(FakeTransport, SmallByteBudgetGivesQueueFull) {
  FakeTransportOptions options;
  options.send_queue_bytes = 100;
  FakeTransport fake(Address::ipv4_loopback(9999), options);
  EXPECT_EQ(fake.transport().send_queue_room(30), 3u);
  const std::vector<std::byte> payload(30, std::byte{7});
  EXPECT_EQ(fake.transport().send(payload, addr("127.0.0.1:1")), SendResult::queued);
  EXPECT_EQ(fake.transport().send(payload, addr("127.0.0.1:1")), SendResult::queued);
  EXPECT_EQ(fake.transport().send(payload, addr("127.0.0.1:1")), SendResult::queued);
  EXPECT_EQ(fake.transport().send(payload, addr("127.0.0.1:1")), SendResult::queue_full);
  EXPECT_EQ(fake.queued(), 3u) << "sends made outside a hook wait for a flush";
  Echo echo;
  EXPECT_EQ(fake.flush(echo), 3u);
  EXPECT_EQ(fake.take_sent().size(), 3u);
  expect_send_accounting(fake);
}

TEST(FakeTransport, HoldSendsKeepsThemQueuedUntilFlush) {
  FakeTransportOptions options;
  options.hold_sends = true;
  options.send_queue_entries = 2;
  FakeTransport fake(Address::ipv4_loopback(9999), options);
  Echo echo;
  fake.deliver(echo, {{"a", addr("127.0.0.1:1")}, {"b", addr("127.0.0.1:1")}});
  fake.deliver(echo, "c", addr("127.0.0.1:1"));
  EXPECT_EQ(echo.results, (std::vector<SendResult>{SendResult::queued, SendResult::queued, SendResult::queue_full}));
  EXPECT_TRUE(fake.sent().empty());
  EXPECT_EQ(fake.queued(), 2u);
  EXPECT_EQ(fake.flush(echo), 2u);
  EXPECT_EQ(fake.queued(), 0u);
  ASSERT_EQ(fake.sent().size(), 2u);
  EXPECT_EQ(fake.sent()[1].text(), "b");
  expect_send_accounting(fake);
}

TEST(FakeTransport, ConnectOnceThenSendWithoutAddressGoesToThePeer) {
  FakeTransport fake;
  Transport& t = fake.transport();
  EXPECT_EQ(t.send(bytes("nowhere")), SendResult::bad_address) << "not connected yet";
  EXPECT_EQ(t.connected_peer().family(), Address::Family::none);

  const Address peer = addr("127.0.0.1:5353");
  auto first = t.connect(peer);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(t.connected_peer(), peer);
  EXPECT_EQ(t.send(bytes("to the peer")), SendResult::queued);

  auto second = t.connect(addr("127.0.0.1:6000"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, make_error_code(Errc::invalid_state));
  EXPECT_EQ(second.error().message, "already connected to 127.0.0.1:5353");
  EXPECT_EQ(t.connected_peer(), peer) << "a failed connect changes nothing";

  Echo echo;
  fake.flush(echo);
  auto sent = fake.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].text(), "to the peer");
  EXPECT_EQ(sent[0].to, peer);
}

TEST(FakeTransport, ConnectAppliesTheRealChecks) {
  {
    FakeTransport v4;
    auto r = v4.transport().connect(addr("[2001:db8::1]:53"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, make_error_code(Errc::bad_address));
    auto zero = v4.transport().connect(addr("127.0.0.1:0"));
    ASSERT_FALSE(zero.ok());
    EXPECT_EQ(zero.error().code, make_error_code(Errc::bad_address));
    auto none = v4.transport().connect(Address{});
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(v4.transport().connected_peer().family(), Address::Family::none);
  }
  {
    FakeTransport v6(addr("[::]:0"));
    ASSERT_TRUE(v6.transport().connect(addr("192.0.2.9:53")).ok());
    EXPECT_EQ(v6.transport().connected_peer(), addr("[::ffff:192.0.2.9]:53")) << "mapped on an IPv6 socket";
  }
}

TEST(FakeTransport, ErrorHooksReachTheProtocolWithThePeerAndAreCounted) {
  FakeTransport fake;
  Recorder p;
  const Address peer = addr("198.51.100.4:9");
  fake.refuse(p, peer);
  fake.unreachable(p, peer);
  fake.unreachable(p, peer, std::error_code(ENETUNREACH, std::system_category()));
  fake.path_mtu(p, peer, 1280);
  fake.error(p, std::error_code(EIO, std::system_category()));
  fake.refuse(p);  // the kernel named no peer, and the socket is not connected
  EXPECT_EQ(p.events, (std::vector<std::string>{
                          "refused 198.51.100.4:9",
                          "unreachable 198.51.100.4:9 " + std::to_string(EHOSTUNREACH),
                          "unreachable 198.51.100.4:9 " + std::to_string(ENETUNREACH),
                          "path_mtu 198.51.100.4:9 1280",
                          "error " + std::to_string(EIO),
                          "refused ",
                      }));
  const Counters c = fake.counters();
  EXPECT_EQ(c.refused, 2u);
  EXPECT_EQ(c.unreachable, 2u);
  EXPECT_EQ(c.path_mtu_reports, 1u);
  EXPECT_EQ(c.socket_errors, 1u);
}

TEST(FakeTransport, ReportWithoutPeerOnAConnectedSocketNamesThePeer) {
  FakeTransport fake;
  Recorder p;
  ASSERT_TRUE(fake.transport().connect(addr("127.0.0.1:4242")).ok());
  fake.refuse(p);
  fake.path_mtu(p, Address{}, 1400);
  EXPECT_EQ(p.events, (std::vector<std::string>{"refused 127.0.0.1:4242", "path_mtu 127.0.0.1:4242 1400"}));
}

TEST(FakeTransport, SendErrorsAreReportedAsTheWorkerReportsThem) {
  FakeTransport fake;
  Recorder p;
  fake.fail_sends(1, ECONNREFUSED);
  fake.deliver(p, "burst 2", addr("127.0.0.1:5000"));
  fake.fail_sends(1, EPERM);
  fake.deliver(p, "burst 1", addr("127.0.0.1:5001"));
  ASSERT_EQ(p.events.size(), 4u);
  EXPECT_EQ(p.events[1], "refused 127.0.0.1:5000");
  EXPECT_EQ(p.events[3], "error " + std::to_string(EPERM));
  auto sent = fake.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].text(), "x1") << "the first datagram was the one refused";
  const Counters c = fake.counters();
  EXPECT_EQ(c.dropped_send_error, 2u);
  EXPECT_EQ(c.refused, 1u);
  EXPECT_EQ(c.socket_errors, 0u) << "a failed send is not an asynchronous socket error";
  expect_send_accounting(fake);
}

TEST(FakeTransport, StopListeningFromAHookFlushesThenStops) {
  FakeTransport fake;
  Recorder p;
  fake.start(p);
  EXPECT_FALSE(fake.stopped());
  const Address peer = addr("127.0.0.1:5000");
  // The batch after "stop" is still handed over (it was read in the same receive call); the next
  // deliver finds the socket no longer reading.
  EXPECT_EQ(fake.deliver(p, {{"stop", peer}, {"late", peer}}), 2u);
  EXPECT_TRUE(fake.stopped());
  EXPECT_TRUE(fake.closed());
  auto sent = fake.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].text(), "bye") << "queued sends are flushed before the socket closes";
  EXPECT_EQ(p.events.back(), "stop");
  EXPECT_EQ(std::count(p.events.begin(), p.events.end(), "stop"), 1);

  EXPECT_EQ(fake.deliver(p, "after", peer), 0u);
  EXPECT_EQ(fake.transport().send(bytes("x"), peer), SendResult::closed);
  fake.refuse(p, peer);
  fake.stop(p);
  EXPECT_EQ(std::count(p.events.begin(), p.events.end(), "stop"), 1) << "on_stop runs once";
  EXPECT_EQ(fake.counters().received, 2u);
}

TEST(FakeTransport, StopListeningEndsDeliveryBetweenBatches) {
  FakeTransportOptions options;
  options.batch_size = 1;
  FakeTransport fake(Address::ipv4_loopback(9999), options);
  Recorder p;
  const Address peer = addr("127.0.0.1:5000");
  EXPECT_EQ(fake.deliver(p, {{"one", peer}, {"stop", peer}, {"never", peer}}), 2u);
  EXPECT_EQ(fake.counters().received, 2u) << "the third was never read";
}

TEST(FakeTransport, EngineStopRunsOnStopOnce) {
  FakeTransport fake;
  Recorder p;
  fake.start(p);
  fake.transport().send(bytes("last words"), addr("127.0.0.1:1"));
  fake.stop(p);
  fake.stop(p);
  EXPECT_EQ(p.events, (std::vector<std::string>{"start", "stop"}));
  ASSERT_EQ(fake.sent().size(), 1u);
  EXPECT_EQ(fake.sent()[0].text(), "last words");
}

TEST(FakeTransport, StartSeesWorkerIndexAndLocalAddress) {
  FakeTransportOptions options;
  options.worker_index = 3;
  FakeTransport fake(addr("[::1]:4433"), options);
  Recorder p;
  fake.start(p);
  EXPECT_EQ(p.worker, 3u);
  EXPECT_EQ(p.local, addr("[::1]:4433"));
}

TEST(FakeTransport, OversizedDatagramsAreTruncatedAsTheWorkerDoes) {
  FakeTransportOptions options;
  options.buffer_size = 4;
  const Address peer = addr("127.0.0.1:5000");
  {
    FakeTransport dropping(Address::ipv4_loopback(9999), options);
    Recorder p;
    EXPECT_EQ(dropping.deliver(p, {{"toolong", peer}, {"ok", peer}}), 1u);
    EXPECT_EQ(p.events, (std::vector<std::string>{"datagram ok from 127.0.0.1:5000"}));
    const Counters c = dropping.counters();
    EXPECT_EQ(c.received, 2u);
    EXPECT_EQ(c.truncated, 1u);
    EXPECT_EQ(c.dropped_truncated, 1u);
    EXPECT_EQ(c.delivered, 1u);
    EXPECT_EQ(c.received, c.delivered + c.dropped_truncated);
  }
  {
    options.deliver_truncated = true;
    FakeTransport flagging(Address::ipv4_loopback(9999), options);
    Recorder p;
    EXPECT_EQ(flagging.deliver(p, {{"toolong", peer}, FakeDatagram("ab", peer, true)}), 2u);
    EXPECT_EQ(p.events, (std::vector<std::string>{"datagram tool from 127.0.0.1:5000 truncated",
                                                  "datagram ab from 127.0.0.1:5000 truncated"}));
    EXPECT_EQ(flagging.counters().dropped_truncated, 0u);
    EXPECT_EQ(flagging.counters().truncated, 2u);
  }
}

TEST(FakeTransport, PayloadViewsDieWhenTheHookReturns) {
  // A protocol that (wrongly) keeps a view sees the bytes overwritten, in tests as in production.
  struct Keeper : Protocol {
    void on_datagrams(std::span<const Datagram> batch, Transport&) override { kept = batch[0].payload; }
    std::span<const std::byte> kept;
  } keeper;
  FakeTransport fake;
  fake.deliver(keeper, "secret", addr("127.0.0.1:1"));
  ASSERT_EQ(keeper.kept.size(), 6u);
  EXPECT_NE(text(keeper.kept), "secret");
}

TEST(FakeTransport, WritableFeedsAWriterUntilItStopsQueueing) {
  FakeTransportOptions options;
  options.send_queue_entries = 4;
  FakeTransport fake(Address::ipv4_loopback(9999), options);
  Recorder p;
  p.target = addr("127.0.0.1:8000");
  p.writes_left = 10;
  EXPECT_FALSE(fake.wants_writable());
  EXPECT_EQ(fake.writable(p), 0u) << "not asked for";
  fake.transport().request_writable(true);
  EXPECT_TRUE(fake.wants_writable());
  EXPECT_EQ(fake.writable(p, std::chrono::steady_clock::now(), 10), 4u) << "4 + 4 + 2, then one that queues nothing";
  EXPECT_EQ(fake.take_sent().size(), 10u);
  EXPECT_FALSE(fake.wants_writable()) << "quiet until the protocol sends or asks again";

  // defer_writable holds the calls back until its time.
  p.writes_left = 1;
  fake.transport().request_writable(true);
  const auto now = std::chrono::steady_clock::now();
  fake.transport().defer_writable(now + std::chrono::seconds(1));
  EXPECT_EQ(fake.writable(p, now), 0u);
  EXPECT_EQ(fake.writable(p, now + std::chrono::seconds(2), 1), 1u);
  EXPECT_EQ(fake.take_sent().size(), 1u);
}

TEST(FakeTransport, SocketOptionsWithoutASocketFailClearly) {
  FakeTransport fake;
  EXPECT_FALSE(fake.has_socket());
  auto r = fake.transport().set_multicast_ttl(4);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(Errc::invalid_state));
  EXPECT_NE(r.error().message.find("real_socket"), std::string::npos) << r.error().message;
  EXPECT_FALSE(fake.transport().broadcast_allowed().ok());
  EXPECT_FALSE(fake.transport().join_group(addr("239.1.2.3:0"), every_interface).ok());
}

TEST(FakeTransport, RealSocketMakesSocketOptionsReal) {
  FakeTransportOptions options;
  options.real_socket = true;
  FakeTransport fake(Address::ipv4_loopback(9999), options);
  ASSERT_TRUE(fake.has_socket());
  Transport& t = fake.transport();
  ASSERT_TRUE(t.set_multicast_ttl(7).ok());
  auto ttl = t.multicast_ttl();
  ASSERT_TRUE(ttl.ok()) << ttl.error().message;
  EXPECT_EQ(*ttl, 7);
  ASSERT_TRUE(t.set_broadcast_allowed(true).ok());
  auto broadcast = t.broadcast_allowed();
  ASSERT_TRUE(broadcast.ok());
  EXPECT_TRUE(*broadcast);
  ASSERT_TRUE(t.set_multicast_loopback(false).ok());
  EXPECT_FALSE(*t.multicast_loopback());
  // connect still only records the peer: the socket is never used for traffic.
  ASSERT_TRUE(t.connect(addr("127.0.0.1:7777")).ok());
  EXPECT_FALSE(t.connect(addr("127.0.0.1:7778")).ok());
  EXPECT_EQ(t.connected_peer(), addr("127.0.0.1:7777"));
  // Once stopped, the socket is closed.
  Echo echo;
  fake.stop(echo);
  EXPECT_FALSE(fake.has_socket());
  auto after = t.set_multicast_ttl(3);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().message, "the socket is closed");
}

// A fake has no descriptor unless it opened a socket, and never a connected one: native_handle()
// is -1 without it (and once closed), path_mtu() invalid_state in every case.
TEST(FakeTransport, NativeHandleAndPathMtu) {
  FakeTransport bare;
  EXPECT_EQ(bare.transport().native_handle(), -1);
  ASSERT_TRUE(bare.transport().connect(addr("127.0.0.1:7777")).ok());
  auto no_socket = bare.transport().path_mtu();
  ASSERT_FALSE(no_socket.ok());
  EXPECT_EQ(no_socket.error().code, make_error_code(Errc::invalid_state));

  FakeTransportOptions options;
  options.real_socket = true;
  FakeTransport fake(Address::ipv4_loopback(9999), options);
  Transport& t = fake.transport();
  const int fd = t.native_handle();
  ASSERT_GE(fd, 0);
  int type = 0;
  socklen_t length = sizeof type;
  ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length), 0);
  EXPECT_EQ(type, SOCK_DGRAM);
  auto unconnected = t.path_mtu();
  ASSERT_FALSE(unconnected.ok());
  EXPECT_EQ(unconnected.error().code, make_error_code(Errc::invalid_state));
  EXPECT_EQ(unconnected.error().message, "path_mtu() needs a connected socket");
  // connect() records the peer only; the socket stays unconnected, so there is still no path.
  ASSERT_TRUE(t.connect(addr("127.0.0.1:7777")).ok());
  auto connected = t.path_mtu();
  ASSERT_FALSE(connected.ok());
  EXPECT_EQ(connected.error().message, "path_mtu() needs a connected socket");
  Echo echo;
  fake.stop(echo);
  EXPECT_EQ(t.native_handle(), -1);
  auto closed = t.path_mtu();
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.error().message, "the socket is closed");
}

// --- DatagramProtocol, one call per datagram ---

// A tiny request/response service: "GET key" answers the value, "SET key value" stores and
// answers "OK", anything else answers "ERR"; truncated requests are refused.
class KeyValue : public DatagramProtocol {
 public:
  void on_datagram(std::span<const std::byte> payload, const Address& peer, Transport& transport) override {
    const std::string request = text(payload);
    std::string reply;
    if (is_truncated()) {
      reply = "ERR too long";
    } else if (request.rfind("SET ", 0) == 0 && request.find(' ', 4) != std::string::npos) {
      const std::size_t space = request.find(' ', 4);
      store_[request.substr(4, space - 4)] = request.substr(space + 1);
      reply = "OK";
    } else if (request.rfind("GET ", 0) == 0) {
      auto it = store_.find(request.substr(4));
      reply = it == store_.end() ? "NOTFOUND" : it->second;
    } else {
      reply = "ERR";
    }
    transport.send(bytes(reply), peer);
  }
  void on_refused(const Address& peer, Transport&) override { refused.push_back(peer); }

  std::vector<Address> refused;

 private:
  std::map<std::string, std::string> store_;
};

TEST(FakeTransport, DatagramProtocolAnswersEachDatagramInOrder) {
  FakeTransport fake;
  KeyValue kv;
  fake.start(kv);
  const Address alice = addr("10.0.0.1:1000");
  const Address bob = addr("10.0.0.2:2000");
  fake.deliver(kv, {{"SET colour blue", alice}, {"GET colour", bob}, {"GET size", bob}, {"HELLO", alice}});
  auto sent = fake.take_sent();
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[0].text(), "OK");
  EXPECT_EQ(sent[0].to, alice);
  EXPECT_EQ(sent[1].text(), "blue");
  EXPECT_EQ(sent[1].to, bob);
  EXPECT_EQ(sent[2].text(), "NOTFOUND");
  EXPECT_EQ(sent[3].text(), "ERR");
  EXPECT_EQ(sent[3].to, alice);
  EXPECT_EQ(fake.counters().rx_batches, 1u) << "one batch underneath, one call per datagram on top";
}

TEST(FakeTransport, DatagramProtocolSeesIsTruncated) {
  FakeTransportOptions options;
  options.buffer_size = 16;
  options.deliver_truncated = true;
  FakeTransport fake(Address::ipv4_loopback(53), options);
  KeyValue kv;
  const Address peer = addr("10.0.0.1:1000");
  fake.deliver(kv, {{"SET k " + std::string(40, 'v'), peer}, {"GET k", peer}});
  auto sent = fake.take_sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].text(), "ERR too long");
  EXPECT_EQ(sent[1].text(), "NOTFOUND") << "the truncated SET stored nothing";
}

TEST(FakeTransport, DatagramProtocolHearsOfRefusedReplies) {
  FakeTransport fake;
  KeyValue kv;
  const Address gone = addr("10.0.0.3:3000");
  fake.deliver(kv, "GET x", gone);
  fake.refuse(kv, gone);  // the ICMP port unreachable the reply drew
  EXPECT_EQ(kv.refused, (std::vector<Address>{gone}));
  EXPECT_EQ(fake.counters().refused, 1u);
}

}  // namespace
}  // namespace salvo
