// ReceiveBatch: the one owner of a received batch and its counts. What it counts into a socket's
// counters, what it hands over, and when it is full, for plain, truncated and held receives.
#include "datapath/receive_batch.hpp"

#include "support/test_support.hpp"

namespace salvo::detail {
namespace {

using test::addr;
using test::make_payload;

EngineOptions batch_options(std::uint32_t batch, bool deliver_truncated) {
  EngineOptions o;
  o.batch_size = batch;
  o.deliver_truncated = deliver_truncated;
  return o;
}

TEST(ReceiveBatch, CountsAndHandsOverWhatItAccepted) {
  ReceiveBatch b;
  b.init(batch_options(4, false), 0);
  SocketState s;
  const auto one = make_payload(1, 10);
  const auto two = make_payload(2, 20);
  b.accept(s, one, addr("127.0.0.1:1000"), false, nullptr, 0);
  b.accept(s, two, addr("127.0.0.1:2000"), false, nullptr, 0);
  ASSERT_EQ(b.datagrams().size(), 2u);
  EXPECT_EQ(b.datagrams()[1].payload.size(), 20u);
  EXPECT_EQ(b.datagrams()[1].peer, addr("127.0.0.1:2000"));
  EXPECT_TRUE(b.count_into(s.counters));
  EXPECT_EQ(s.counters.received.get(), 2u);
  EXPECT_EQ(s.counters.received_bytes.get(), 30u);
  EXPECT_EQ(s.counters.delivered.get(), 2u);
  EXPECT_EQ(s.counters.rx_batches.get(), 1u);
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_FALSE(b.count_into(s.counters)) << "an empty batch counts nothing";
  EXPECT_EQ(s.counters.received.get(), 2u);
}

TEST(ReceiveBatch, TruncatedIsCountedAndDroppedUnlessAskedFor) {
  for (const bool deliver : {false, true}) {
    ReceiveBatch b;
    b.init(batch_options(4, deliver), 0);
    SocketState s;
    const auto p = make_payload(3, 8);
    b.accept(s, p, addr("127.0.0.1:1000"), true, nullptr, 0);
    EXPECT_EQ(b.size(), deliver ? 1u : 0u);
    EXPECT_EQ(b.count_into(s.counters), deliver);
    EXPECT_EQ(s.counters.received.get(), 1u);
    EXPECT_EQ(s.counters.truncated.get(), 1u);
    EXPECT_EQ(s.counters.dropped_truncated.get(), deliver ? 0u : 1u);
    EXPECT_EQ(s.counters.delivered.get(), deliver ? 1u : 0u);
  }
}

TEST(ReceiveBatch, FullWhenEntriesOrHeldSlotsRunOut) {
  ReceiveBatch b;
  b.init(batch_options(2, false), 0);
  SocketState s;
  const auto p = make_payload(3, 8);
  b.hold(7);
  b.accept(s, p, addr("127.0.0.1:1000"), true, nullptr, 0);  // dropped, but its slot is held
  EXPECT_FALSE(b.full());
  b.hold(9);
  EXPECT_TRUE(b.full()) << "two slots held in a batch of two";
  ASSERT_EQ(b.held().size(), 2u);
  EXPECT_EQ(b.held()[0], 7u);
  EXPECT_EQ(b.held()[1], 9u);
  b.clear();
  EXPECT_TRUE(b.held().empty());
  b.accept(s, p, addr("127.0.0.1:1000"), false, nullptr, 0);
  b.accept(s, p, addr("127.0.0.1:1000"), false, nullptr, 0);
  EXPECT_TRUE(b.full()) << "two datagrams in a batch of two";
}

}  // namespace
}  // namespace salvo::detail
