// Datagram sizes, for every backend: empty, one byte, around the Ethernet MTU, and the largest UDP
// payload of each IP version arrive with their exact bytes; a datagram larger than buffer_size is
// truncated, then dropped and counted by default, or delivered flagged with deliver_truncated.
#include <cstring>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

class Sizes : public testing::TestWithParam<BackendKind> {
 protected:
  EngineOptions options(std::uint32_t buffer_size) const {
    EngineOptions o;
    o.backend = GetParam();
    o.buffer_size = buffer_size;
    o.buffer_count = 16;
    o.socket_receive_buffer = 1 << 20;
    return o;
  }

  // Sends each size in turn from a plain socket, one at a time (each waits until the engine has
  // read it), and returns what the protocol received.
  std::vector<Received> send_sizes(EngineOptions o, const Address& bind, const std::vector<std::size_t>& sizes,
                                   Counters& counters, Address& client_address) {
    Recorder recorder;
    auto engine = make_engine(o);
    const Address bound = must_listen(*engine, bind, recording_factory(recorder));
    must_start(*engine);
    UdpSocket client(bind.with_port(0), 0, 1 << 20);
    client_address = client.local();
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      EXPECT_TRUE(client.send_to(make_payload(i, sizes[i]), bound)) << sizes[i];
      EXPECT_TRUE(wait_until([&] { return engine->counters().received == i + 1; }, 10s))
          << "datagram of " << sizes[i] << " bytes never read; " << describe(engine->counters());
    }
    stop_and_wait(*engine);
    counters = engine->counters();
    return recorder.datagrams();
  }
};

void expect_exact(const std::vector<Received>& got, const std::vector<std::size_t>& sizes, const Address& peer) {
  ASSERT_EQ(got.size(), sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE("size " + std::to_string(sizes[i]));
    EXPECT_EQ(got[i].payload.size(), sizes[i]);
    EXPECT_TRUE(got[i].payload == make_payload(i, sizes[i])) << "payload bytes differ";
    EXPECT_FALSE(got[i].truncated);
    EXPECT_EQ(got[i].peer, peer);
  }
}

std::uint64_t total(const std::vector<std::size_t>& sizes) {
  std::uint64_t sum = 0;
  for (std::size_t s : sizes) sum += s;
  return sum;
}

TEST_P(Sizes, Ipv4TableArrivesExactly) {
  const std::vector<std::size_t> sizes = {0, 1, 7, 8, 1472, 1473, 9000, 65507};
  Counters c;
  Address client;
  const auto got = send_sizes(options(65536), addr("127.0.0.1:0"), sizes, c, client);
  expect_exact(got, sizes, client);
  EXPECT_EQ(c.received, sizes.size());
  EXPECT_EQ(c.delivered, sizes.size());
  EXPECT_EQ(c.received_bytes, total(sizes));
  EXPECT_EQ(c.delivered_bytes, total(sizes));
  EXPECT_EQ(c.truncated, 0u);
  EXPECT_EQ(c.dropped_truncated, 0u);
}

TEST_P(Sizes, Ipv6TableArrivesExactly) {
  SALVO_REQUIRE_IPV6();
  const std::vector<std::size_t> sizes = {0, 1, 1232, 1452, 1453, 65507, 65527};
  Counters c;
  Address client;
  const auto got = send_sizes(options(65536), addr("[::1]:0"), sizes, c, client);
  expect_exact(got, sizes, client);
  EXPECT_EQ(c.received, sizes.size());
  EXPECT_EQ(c.delivered, sizes.size());
  EXPECT_EQ(c.delivered_bytes, total(sizes));
  EXPECT_EQ(c.truncated, 0u);
}

TEST_P(Sizes, ExactlyBufferSizeIsNotTruncated) {
  const std::vector<std::size_t> sizes = {99, 100};
  Counters c;
  Address client;
  const auto got = send_sizes(options(100), addr("127.0.0.1:0"), sizes, c, client);
  expect_exact(got, sizes, client);
  EXPECT_EQ(c.truncated, 0u);
}

TEST_P(Sizes, OversizedIsDroppedAndCountedByDefault) {
  const std::vector<std::size_t> sizes = {100, 101, 1000, 50, 65507};
  Counters c;
  Address client;
  const auto got = send_sizes(options(100), addr("127.0.0.1:0"), sizes, c, client);
  ASSERT_EQ(got.size(), 2u) << describe(c);
  EXPECT_EQ(got[0].payload, make_payload(0, 100));
  EXPECT_EQ(got[1].payload, make_payload(3, 50));
  EXPECT_FALSE(got[0].truncated);
  EXPECT_FALSE(got[1].truncated);
  EXPECT_EQ(c.received, 5u);
  EXPECT_EQ(c.delivered, 2u);
  EXPECT_EQ(c.truncated, 3u);
  EXPECT_EQ(c.dropped_truncated, 3u);
  EXPECT_EQ(c.delivered_bytes, 150u);
  EXPECT_EQ(c.received, c.delivered + c.receive_drops()) << describe(c);
}

TEST_P(Sizes, OversizedIsDeliveredFlaggedWhenAsked) {
  EngineOptions o = options(100);
  o.deliver_truncated = true;
  const std::vector<std::size_t> sizes = {100, 101, 1000, 50, 65507};
  Counters c;
  Address client;
  const auto got = send_sizes(o, addr("127.0.0.1:0"), sizes, c, client);
  ASSERT_EQ(got.size(), sizes.size()) << describe(c);
  const bool expect_truncated[] = {false, true, true, false, true};
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE("size " + std::to_string(sizes[i]));
    EXPECT_EQ(got[i].truncated, expect_truncated[i]);
    const std::size_t kept = std::min<std::size_t>(sizes[i], 100);
    ASSERT_EQ(got[i].payload.size(), kept);
    const auto full = make_payload(i, sizes[i]);
    EXPECT_EQ(std::memcmp(got[i].payload.data(), full.data(), kept), 0) << "the kept prefix differs";
    EXPECT_EQ(got[i].peer, client);
  }
  EXPECT_EQ(c.received, 5u);
  EXPECT_EQ(c.delivered, 5u);
  EXPECT_EQ(c.truncated, 3u);
  EXPECT_EQ(c.dropped_truncated, 0u);
  EXPECT_EQ(c.delivered_bytes, 100u + 100 + 100 + 50 + 100);
  EXPECT_EQ(c.received, c.delivered + c.receive_drops()) << describe(c);
}

TEST_P(Sizes, OneByteBuffers) {
  EngineOptions o = options(1);
  o.deliver_truncated = true;
  const std::vector<std::size_t> sizes = {0, 1, 2};
  Counters c;
  Address client;
  const auto got = send_sizes(o, addr("127.0.0.1:0"), sizes, c, client);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].payload.size(), 0u);
  EXPECT_FALSE(got[0].truncated);
  EXPECT_EQ(got[1].payload, make_payload(1, 1));
  EXPECT_FALSE(got[1].truncated);
  ASSERT_EQ(got[2].payload.size(), 1u);
  EXPECT_EQ(got[2].payload[0], make_payload(2, 2)[0]);
  EXPECT_TRUE(got[2].truncated);
  EXPECT_EQ(c.truncated, 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, Sizes, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
