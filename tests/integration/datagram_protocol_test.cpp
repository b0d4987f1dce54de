// DatagramProtocol, for every backend: one on_datagram call per datagram, in arrival order, with
// the right payload and peer, and replies sent from it reach the sender.
#include <mutex>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

class PerDatagram : public testing::TestWithParam<BackendKind> {};

class EchoEach final : public DatagramProtocol {
 public:
  void on_datagram(std::span<const std::byte> payload, const Address& peer, Transport& t) override {
    {
      std::lock_guard lock(mutex);
      seqs.push_back(payload_seq(payload));
      peers.push_back(peer);
    }
    t.send(payload, peer);
  }
  std::mutex mutex;
  std::vector<std::uint64_t> seqs;
  std::vector<Address> peers;
};

TEST_P(PerDatagram, OneCallPerDatagramInOrderAndRepliesArrive) {
  EchoEach* protocol = nullptr;
  EngineOptions o;
  o.backend = GetParam();
  o.buffer_count = 64;
  auto engine = make_engine(o);
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), [&](unsigned) {
    auto p = std::make_unique<EchoEach>();
    protocol = p.get();
    return p;
  });
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"), 1 << 20);
  // In bursts of 50, so that the replies fit the client's receive buffer.
  for (std::uint64_t burst = 0; burst < 300; burst += 50) {
    for (std::uint64_t i = burst; i < burst + 50; ++i) ASSERT_TRUE(client.send_to(make_payload(i, 40), server));
    for (std::uint64_t i = burst; i < burst + 50; ++i) {
      auto m = client.receive(2s);
      ASSERT_TRUE(m.has_value()) << "reply " << i;
      EXPECT_EQ(m->payload, make_payload(i, 40));
    }
  }
  stop_and_wait(*engine);
  std::lock_guard lock(protocol->mutex);
  ASSERT_EQ(protocol->seqs.size(), 300u);
  for (std::uint64_t i = 0; i < 300; ++i) EXPECT_EQ(protocol->seqs[i], i);
  for (const Address& p : protocol->peers) EXPECT_EQ(p, client.local());
  // Batches underneath: fewer receive batches than datagrams is allowed, never more.
  EXPECT_LE(engine->counters().rx_batches, 300u);
}

INSTANTIATE_TEST_SUITE_P(Backends, PerDatagram, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
