// Per-datagram metadata on real sockets, for every backend: the destination address and interface
// (pktinfo) and a reply sent from the address a request arrived on, on sockets bound to the
// wildcard (IPv4, IPv6, dual-stack); the traffic class (ECN) set per send and received per
// datagram; receive timestamps; GRO coalescing of GSO messages, with its stride and counters.
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <time.h>

#include <cstring>
#include <mutex>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

std::int64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// A full copy of one received Datagram, made inside the hook.
struct Seen {
  std::vector<std::byte> payload;
  Address peer;
  Address destination;
  std::uint32_t interface_index = 0;
  std::int16_t traffic_class = -1;
  std::int64_t timestamp_ns = 0;
  std::int64_t hardware_timestamp_ns = 0;
  std::int64_t hook_ns = 0;  // wall clock inside on_datagrams
  std::uint16_t segment_size = 0;
  std::vector<std::size_t> segments;
};

// Records every datagram in full; optionally replies to each (from its arrival address) or runs a
// start hook.
class MetadataProtocol final : public Protocol {
 public:
  struct Shared {
    std::mutex mutex;
    std::vector<Seen> seen;
    std::size_t count() {
      std::lock_guard lock(mutex);
      return seen.size();
    }
  };
  MetadataProtocol(Shared& shared, bool reply, std::function<void(Transport&)> start)
      : shared_(shared), reply_(reply), start_(std::move(start)) {}
  void on_start(Transport& t) override {
    if (start_) start_(t);
  }
  void on_datagrams(std::span<const Datagram> batch, Transport& t) override {
    const std::int64_t now = realtime_ns();
    std::lock_guard lock(shared_.mutex);
    for (const Datagram& d : batch) {
      Seen s{{d.payload.begin(), d.payload.end()}, d.peer, d.destination, d.interface_index, d.traffic_class,
             d.timestamp_ns, d.hardware_timestamp_ns, now, d.segment_size, {}};
      for (auto seg : segments(d)) s.segments.push_back(seg.size());
      shared_.seen.push_back(std::move(s));
      if (reply_) {
        EXPECT_EQ(t.reply(d, d.payload), SendResult::queued);
      }
    }
  }

 private:
  Shared& shared_;
  bool reply_;
  std::function<void(Transport&)> start_;
};

ProtocolFactory metadata_factory(MetadataProtocol::Shared& shared, bool reply = false,
                                 std::function<void(Transport&)> start = {}) {
  return [&shared, reply, start](unsigned) { return std::make_unique<MetadataProtocol>(shared, reply, start); };
}

class Metadata : public testing::TestWithParam<BackendKind> {
 protected:
  EngineOptions options() const {
    EngineOptions o;
    o.backend = GetParam();
    return o;
  }
  static unsigned loopback_index() { return if_nametoindex("lo"); }
};

// A client at 127.0.0.1 talks to a server bound to 0.0.0.0 through two of its addresses. The server
// sees which one each request went to, and its replies come from it: without pktinfo the kernel
// would answer both from 127.0.0.1 (the source it picks for that destination).
TEST_P(Metadata, Ipv4WildcardSeesTheDestinationAndRepliesFromIt) {
  EngineOptions o = options();
  o.receive_destination = true;
  MetadataProtocol::Shared shared;
  auto engine = make_engine(o);
  const Address bound = must_listen(*engine, addr("0.0.0.0:0"), metadata_factory(shared, true));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  const Address targets[] = {addr("127.0.0.5:0").with_port(bound.port()), addr("127.0.0.1:0").with_port(bound.port()),
                             addr("127.0.0.77:0").with_port(bound.port())};
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.send_to(make_payload(i, 32), targets[i]));
    auto reply = client.receive(5s);
    ASSERT_TRUE(reply.has_value()) << "no reply to " << targets[i].to_string();
    EXPECT_EQ(reply->from, targets[i]) << "the reply must come from the address the request went to";
    EXPECT_EQ(reply->payload, make_payload(i, 32));
  }
  stop_and_wait(*engine);
  ASSERT_EQ(shared.seen.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(shared.seen[i].destination, targets[i]);
    EXPECT_EQ(shared.seen[i].interface_index, loopback_index());
    EXPECT_EQ(shared.seen[i].peer, client.local());
  }
  const Counters c = engine->counters();
  EXPECT_EQ(c.received, 3u);
  EXPECT_EQ(c.sent, 3u);
}

TEST_P(Metadata, WithoutPktinfoTheDestinationIsUnknownAndTheKernelPicksTheSource) {
  MetadataProtocol::Shared shared;
  auto engine = make_engine(options());
  const Address bound = must_listen(*engine, addr("0.0.0.0:0"), metadata_factory(shared, true));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  ASSERT_TRUE(client.send_to(make_payload(0, 16), addr("127.0.0.5:0").with_port(bound.port())));
  auto reply = client.receive(5s);
  ASSERT_TRUE(reply.has_value());
  // The control case of the test above: this is what pktinfo changes.
  EXPECT_EQ(reply->from, addr("127.0.0.1:0").with_port(bound.port()));
  stop_and_wait(*engine);
  ASSERT_EQ(shared.seen.size(), 1u);
  EXPECT_EQ(shared.seen[0].destination.family(), Address::Family::none);
  EXPECT_EQ(shared.seen[0].interface_index, 0u);
  EXPECT_EQ(shared.seen[0].traffic_class, -1);
  EXPECT_EQ(shared.seen[0].timestamp_ns, 0);
}

// A dual-stack socket on [::]: IPv4 requests name a v4-mapped destination and are answered from
// it (the client sees a plain IPv4 source); IPv6 ones name [::1].
TEST_P(Metadata, DualStackWildcardRepliesFromTheArrivalAddressOfEitherFamily) {
  SALVO_REQUIRE_IPV6();
  EngineOptions o = options();
  o.receive_destination = true;
  MetadataProtocol::Shared shared;
  auto engine = make_engine(o);
  const Address bound = must_listen(*engine, addr("[::]:0"), metadata_factory(shared, true));
  must_start(*engine);
  UdpSocket client4(addr("127.0.0.1:0"));
  UdpSocket client6(addr("[::1]:0"));
  const Address to4 = addr("127.0.0.9:0").with_port(bound.port());
  const Address to6 = addr("[::1]:0").with_port(bound.port());
  ASSERT_TRUE(client4.send_to(make_payload(1, 20), to4));
  auto r4 = client4.receive(5s);
  ASSERT_TRUE(r4.has_value());
  EXPECT_EQ(r4->from, to4);
  ASSERT_TRUE(client6.send_to(make_payload(2, 20), to6));
  auto r6 = client6.receive(5s);
  ASSERT_TRUE(r6.has_value());
  EXPECT_EQ(r6->from, to6);
  stop_and_wait(*engine);
  ASSERT_EQ(shared.seen.size(), 2u);
  EXPECT_EQ(shared.seen[0].destination, to4.v4_mapped());
  EXPECT_EQ(shared.seen[1].destination, to6);
  EXPECT_EQ(shared.seen[0].interface_index, loopback_index());
  EXPECT_EQ(shared.seen[1].interface_index, loopback_index());
}

// The engine sends to itself with a traffic class per datagram and reads each one back: ECN's four
// code points and a DSCP, over IPv4, IPv6 and from a dual-stack socket to a v4-mapped peer.
void traffic_class_round_trip(EngineOptions o, const char* bind, bool to_mapped) {
  o.receive_traffic_class = true;
  const std::int16_t classes[] = {-1, 0, 1, 2, 3, 0xb8 | 2};
  MetadataProtocol::Shared shared;
  auto engine = make_engine(o);
  auto start = [&classes, to_mapped](Transport& t) {
    Address self = t.local_address();
    if (to_mapped) self = addr("[::ffff:127.0.0.1]:0").with_port(self.port());
    for (std::size_t i = 0; i < std::size(classes); ++i) {
      SendOptions how;
      how.traffic_class = classes[i];
      EXPECT_EQ(t.send(make_payload(i, 24), self, how), SendResult::queued);
    }
  };
  must_listen(*engine, addr(bind), metadata_factory(shared, false, start));
  must_start(*engine);
  ASSERT_TRUE(wait_until([&] { return shared.count() == std::size(classes); }, 5s)) << shared.count();
  stop_and_wait(*engine);
  for (const Seen& s : shared.seen) {
    const std::uint64_t i = payload_seq(s.payload);
    ASSERT_LT(i, std::size(classes));
    // A send without a class goes out with the socket's default, 0.
    EXPECT_EQ(s.traffic_class, classes[i] < 0 ? 0 : classes[i]) << "datagram " << i;
  }
  EXPECT_EQ(engine->counters().dropped_send_error, 0u);
}

TEST_P(Metadata, TrafficClassRoundTripIpv4) { traffic_class_round_trip(options(), "127.0.0.1:0", false); }
TEST_P(Metadata, TrafficClassRoundTripIpv6) {
  SALVO_REQUIRE_IPV6();
  traffic_class_round_trip(options(), "[::1]:0", false);
}
TEST_P(Metadata, TrafficClassRoundTripDualStackToV4Mapped) {
  SALVO_REQUIRE_IPV6();
  traffic_class_round_trip(options(), "[::]:0", true);
}

void check_timestamps(EngineOptions o) {
  MetadataProtocol::Shared shared;
  auto engine = make_engine(o);
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), metadata_factory(shared));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  const std::int64_t before = realtime_ns();
  for (std::uint64_t i = 0; i < 50; ++i) ASSERT_TRUE(client.send_to(make_payload(i, 16), bound));
  ASSERT_TRUE(wait_until([&] { return shared.count() == 50; }, 5s));
  stop_and_wait(*engine);
  std::int64_t previous = before;
  for (const Seen& s : shared.seen) {
    // Taken by the kernel after the first send began and before the hook saw the datagram, in
    // arrival order, and close to the wall clock.
    EXPECT_GE(s.timestamp_ns, previous);
    EXPECT_LE(s.timestamp_ns, s.hook_ns);
    EXPECT_LT(s.hook_ns - s.timestamp_ns, 1'000'000'000) << "more than a second between the stamp and the hook";
    EXPECT_EQ(s.hardware_timestamp_ns, 0) << "loopback has no hardware clock";
    previous = s.timestamp_ns;
  }
}

TEST_P(Metadata, SoftwareTimestampsAreMonotonicAndNearTheWallClock) {
  EngineOptions o = options();
  o.timestamps = EngineOptions::Timestamps::software;
  check_timestamps(o);
}

TEST_P(Metadata, TimestampingGivesTheSoftwareStampWhereTheDeviceHasNoClock) {
  EngineOptions o = options();
  o.timestamps = EngineOptions::Timestamps::hardware;
  check_timestamps(o);
}

// One GSO message from a plain socket: 10 segments of 1000 bytes and a last one of 500.
void send_gso_message(UdpSocket& from, const Address& to, std::uint64_t first_seq) {
  std::vector<std::byte> bytes;
  for (std::uint64_t i = 0; i < 11; ++i) {
    const auto p = make_payload(first_seq + i, i == 10 ? 500 : 1000);
    bytes.insert(bytes.end(), p.begin(), p.end());
  }
  ASSERT_EQ(from.send_gso(bytes, 1000, to), static_cast<long>(bytes.size())) << std::strerror(errno);
}

TEST_P(Metadata, GroDeliversAGsoMessageWholeWithItsStride) {
  EngineOptions o = options();
  o.gro = true;
  o.buffer_count = 64;
  MetadataProtocol::Shared shared;
  auto engine = make_engine(o);
  EXPECT_EQ(engine->options().buffer_size, EngineOptions::gro_buffer_size);
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), metadata_factory(shared));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  send_gso_message(client, bound, 0);
  ASSERT_TRUE(client.send_to(make_payload(11, 300), bound));  // a plain one after it
  ASSERT_TRUE(wait_until([&] { return shared.count() == 2; }, 5s)) << shared.count();
  stop_and_wait(*engine);
  ASSERT_EQ(shared.seen.size(), 2u);
  const Seen& g = shared.seen[0];
  EXPECT_EQ(g.segment_size, 1000);
  ASSERT_EQ(g.payload.size(), 10500u);
  EXPECT_EQ(g.segments, (std::vector<std::size_t>{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 500}));
  for (std::uint64_t i = 0; i < 11; ++i) {
    const std::span<const std::byte> seg(g.payload.data() + i * 1000, i == 10 ? 500 : 1000);
    EXPECT_TRUE(std::equal(seg.begin(), seg.end(), make_payload(i, seg.size()).begin())) << "segment " << i;
  }
  EXPECT_EQ(shared.seen[1].segment_size, 0);
  EXPECT_EQ(shared.seen[1].payload, make_payload(11, 300));
  const Counters c = engine->counters();
  EXPECT_EQ(c.received, 12u) << describe(c);
  EXPECT_EQ(c.delivered, 12u);
  EXPECT_EQ(c.received_bytes, 10800u);
  EXPECT_EQ(c.gro_receives, 1u);
  EXPECT_EQ(c.gro_segments, 11u);
}

TEST_P(Metadata, WithoutGroTheKernelCutsTheGsoMessage) {
  MetadataProtocol::Shared shared;
  auto engine = make_engine(options());
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), metadata_factory(shared));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  send_gso_message(client, bound, 0);
  ASSERT_TRUE(wait_until([&] { return shared.count() == 11; }, 5s)) << shared.count();
  stop_and_wait(*engine);
  for (std::size_t i = 0; i < 11; ++i) {
    EXPECT_EQ(shared.seen[i].segment_size, 0);
    EXPECT_EQ(shared.seen[i].payload, make_payload(i, i == 10 ? 500 : 1000));
  }
  const Counters c = engine->counters();
  EXPECT_EQ(c.received, 11u);
  EXPECT_EQ(c.gro_receives, 0u);
  EXPECT_EQ(c.gro_segments, 0u);
}

// salvo to salvo: a GSO sender's runs arrive at a GRO receiver coalesced, every datagram exactly
// once and in order.
TEST_P(Metadata, GsoSenderIntoGroReceiverKeepsEveryDatagram) {
  EngineOptions ro = options();
  ro.gro = true;
  ro.buffer_count = 256;
  ro.socket_receive_buffer = 8 << 20;
  MetadataProtocol::Shared shared;
  auto receiver = make_engine(ro);
  const Address bound = must_listen(*receiver, addr("127.0.0.1:0"), metadata_factory(shared));
  must_start(*receiver);
  constexpr std::uint64_t total = 500;
  Recorder sender_recorder;
  Hooks hooks;
  hooks.on_start = [&](Transport& t) {
    for (std::uint64_t i = 0; i < total; ++i) EXPECT_EQ(t.send(make_payload(i, 1200), bound), SendResult::queued);
  };
  auto sender = make_engine(options());
  must_listen(*sender, addr("127.0.0.1:0"), recording_factory(sender_recorder, hooks));
  must_start(*sender);
  ASSERT_TRUE(wait_until([&] { return receiver->counters().received == total; }, 10s)) << describe(receiver->counters());
  stop_and_wait(*sender);
  stop_and_wait(*receiver);
  std::uint64_t next = 0;
  for (const Seen& s : shared.seen) {
    std::size_t offset = 0;
    for (std::size_t size : s.segments) {
      ASSERT_EQ(size, 1200u);
      const std::span<const std::byte> seg(s.payload.data() + offset, size);
      ASSERT_EQ(payload_seq(seg), next) << "out of order or missing";
      ++next;
      offset += size;
    }
  }
  EXPECT_EQ(next, total);
  const Counters sc = sender->counters();
  const Counters rc = receiver->counters();
  EXPECT_GT(sc.gso_sends, 0u);
  EXPECT_EQ(rc.gro_segments, rc.received - (shared.seen.size() - rc.gro_receives)) << describe(rc);
  EXPECT_GT(rc.gro_receives, 0u) << "GSO messages on loopback reach a GRO socket whole";
  EXPECT_EQ(rc.delivered, total);
}

TEST_P(Metadata, ASourceOfTheWrongFamilyIsRefusedAtTheCall) {
  MetadataProtocol::Shared shared;
  std::vector<SendResult> results;
  auto start = [&](Transport& t) {
    SendOptions how;
    how.source = addr("[::1]:0");
    results.push_back(t.send(make_payload(0, 8), addr("127.0.0.1:9"), how));
  };
  auto engine = make_engine(options());
  must_listen(*engine, addr("127.0.0.1:0"), metadata_factory(shared, false, start));
  must_start(*engine);
  stop_and_wait(*engine);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0], SendResult::family_mismatch);
  EXPECT_EQ(engine->counters().send_rejected, 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, Metadata, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
