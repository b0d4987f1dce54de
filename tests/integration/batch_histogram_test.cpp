// The batch-size histogram in Counters, for every backend: each on_datagrams call is counted once,
// in the bucket of its size, so the histogram equals one built from the batches the protocol saw.
#include <array>
#include <vector>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

class BatchHistogram : public testing::TestWithParam<BackendKind> {};

TEST(BatchSizeBucket, PowerOfTwoBuckets) {
  EXPECT_EQ(batch_size_bucket(1), 0u);
  EXPECT_EQ(batch_size_bucket(2), 1u);
  EXPECT_EQ(batch_size_bucket(3), 1u);
  EXPECT_EQ(batch_size_bucket(4), 2u);
  EXPECT_EQ(batch_size_bucket(63), 5u);
  EXPECT_EQ(batch_size_bucket(64), 6u);
  EXPECT_EQ(batch_size_bucket(1023), 9u);
  EXPECT_EQ(batch_size_bucket(1024), 10u);
  EXPECT_EQ(batch_size_bucket(1u << 20), batch_size_buckets - 1);
  EXPECT_EQ(batch_size_bucket_floor(0), 1u);
  EXPECT_EQ(batch_size_bucket_floor(6), 64u);
}

TEST_P(BatchHistogram, MatchesTheBatchesTheProtocolSaw) {
  std::vector<std::size_t> sizes;  // written on the worker thread, read after stop
  Recorder recorder;
  Hooks hooks;
  hooks.on_datagrams = [&](std::span<const Datagram> batch, Transport&) { sizes.push_back(batch.size()); };
  EngineOptions o;
  o.backend = GetParam();
  o.buffer_count = 256;
  o.socket_receive_buffer = 1 << 20;
  auto engine = make_engine(o);
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks, Record::nothing));
  must_start(*engine);

  // Bursts of different sizes, so that several buckets fill.
  UdpSocket client(addr("127.0.0.1:0"), 0, 1 << 20);
  std::uint64_t seq = 0;
  // A burst may overflow the socket on a busy machine; what was read is what the histogram shows,
  // so wait for every datagram to be either read or counted as a kernel drop.
  for (int burst : {1, 2, 5, 40, 200, 3, 600}) {
    for (int i = 0; i < burst; ++i) ASSERT_TRUE(client.send_to(make_payload(seq++, 32), server));
    ASSERT_TRUE(wait_until([&] { const Counters c = engine->counters(); return c.received + c.kernel_drops == seq; }, 5s))
        << describe(engine->counters());
  }
  stop_and_wait(*engine);

  const Counters c = engine->counters();
  EXPECT_EQ(c.received + c.kernel_drops, seq);
  EXPECT_EQ(c.rx_batches, sizes.size());
  std::array<std::uint64_t, batch_size_buckets> expected{};
  std::size_t total = 0;
  for (std::size_t n : sizes) {
    ++expected[batch_size_bucket(n)];
    total += n;
  }
  EXPECT_EQ(total, c.received);
  EXPECT_EQ(c.rx_batch_sizes, expected);
  // The per-worker values sum to the engine's.
  Counters sum;
  for (const Counters& w : engine->worker_counters()) sum += w;
  EXPECT_EQ(sum.rx_batch_sizes, c.rx_batch_sizes);
}

INSTANTIATE_TEST_SUITE_P(Backends, BatchHistogram, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
