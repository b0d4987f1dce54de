// SendQueue: a bounded ring of entries plus a ring of payload bytes. Checked against a model over
// many operations: what comes out is exactly what went in, in order, and never overlaps; a full
// queue refuses instead of growing; room_for() predicts push() exactly.
#include "datapath/send_queue.hpp"

#include <algorithm>
#include <deque>
#include <random>

#include "support/test_support.hpp"

namespace salvo::detail {
namespace {

using test::addr;
using test::make_payload;

std::vector<std::byte> bytes_of(const SendQueue& q, std::size_t i) {
  const auto& e = q.at(i);
  const std::byte* p = q.payload(e);
  return std::vector<std::byte>(p, p + e.length);
}

TEST(SendQueue, InitRejectsBadSizes) {
  for (std::uint32_t entries : {0u, 3u, 6u, 1000u, 1025u}) {
    SendQueue q;
    auto r = q.init(entries, 1024);
    ASSERT_FALSE(r.ok()) << entries;
    EXPECT_EQ(r.error().code, make_error_code(Errc::bad_option));
    EXPECT_NE(r.error().message.find(std::to_string(entries)), std::string::npos) << r.error().message;
  }
  SendQueue q;
  auto r = q.init(4, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(Errc::bad_option));
  for (std::uint32_t entries : {1u, 2u, 1024u}) {
    SendQueue ok;
    EXPECT_TRUE(ok.init(entries, 1).ok()) << entries;
    EXPECT_EQ(ok.capacity(), entries);
  }
}

TEST(SendQueue, PushPopKeepsOrderBytesAndDestinations) {
  SendQueue q;
  ASSERT_TRUE(q.init(8, 1000).ok());
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.room(), 8u);
  const Address a = addr("127.0.0.1:1");
  const Address b = addr("[::1]:2");
  ASSERT_TRUE(q.push(make_payload(1, 10), a));
  ASSERT_TRUE(q.push(make_payload(2, 20), b));
  ASSERT_TRUE(q.push(make_payload(3, 30), a));
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.room(), 5u);
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(bytes_of(q, 0), make_payload(1, 10));
  EXPECT_EQ(bytes_of(q, 1), make_payload(2, 20));
  EXPECT_EQ(bytes_of(q, 2), make_payload(3, 30));
  EXPECT_EQ(q.at(0).to, a);
  EXPECT_EQ(q.at(1).to, b);
  EXPECT_EQ(q.at(2).length, 30u);
  q.pop(1);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(bytes_of(q, 0), make_payload(2, 20));
  EXPECT_EQ(q.at(0).to, b);
  q.pop(0);
  EXPECT_EQ(q.size(), 2u);
  q.pop(5);  // more than queued: everything goes
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.room(), 8u);
}

TEST(SendQueue, FullOfEntriesRefuses) {
  SendQueue q;
  ASSERT_TRUE(q.init(4, 1 << 16).ok());
  const Address to = addr("127.0.0.1:9");
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(q.push(make_payload(i, 16), to)) << i;
  EXPECT_EQ(q.room(), 0u);
  EXPECT_EQ(q.room_for(1), 0u);
  EXPECT_EQ(q.room_for(0), 0u);
  EXPECT_FALSE(q.push(make_payload(4, 16), to));
  EXPECT_FALSE(q.push({}, to));
  EXPECT_EQ(q.size(), 4u);
  q.pop(1);
  EXPECT_TRUE(q.push(make_payload(5, 16), to));
  EXPECT_EQ(bytes_of(q, 0), make_payload(1, 16));
  EXPECT_EQ(bytes_of(q, 3), make_payload(5, 16));
}

TEST(SendQueue, FullOfBytesRefuses) {
  SendQueue q;
  ASSERT_TRUE(q.init(16, 100).ok());
  const Address to = addr("127.0.0.1:9");
  EXPECT_EQ(q.room_for(100), 1u);
  EXPECT_EQ(q.room_for(101), 0u);
  EXPECT_EQ(q.room_for(10), 10u);
  ASSERT_TRUE(q.push(make_payload(1, 60), to));
  EXPECT_EQ(q.room_for(40), 1u);
  EXPECT_EQ(q.room_for(41), 0u);
  EXPECT_FALSE(q.push(make_payload(2, 41), to));
  ASSERT_TRUE(q.push(make_payload(3, 40), to));
  EXPECT_EQ(q.room_for(1), 0u);
  EXPECT_FALSE(q.push(make_payload(4, 1), to));
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.room(), 14u);  // entries are free; bytes are not
  EXPECT_EQ(bytes_of(q, 0), make_payload(1, 60));
  EXPECT_EQ(bytes_of(q, 1), make_payload(3, 40));
}

TEST(SendQueue, OversizedPayloadIsRefusedAndChangesNothing) {
  SendQueue q;
  ASSERT_TRUE(q.init(4, 100).ok());
  const Address to = addr("127.0.0.1:9");
  EXPECT_FALSE(q.push(make_payload(1, 101), to));
  EXPECT_TRUE(q.empty());
  ASSERT_TRUE(q.push(make_payload(2, 100), to));  // exactly the capacity fits an empty queue
  EXPECT_EQ(bytes_of(q, 0), make_payload(2, 100));
  EXPECT_FALSE(q.push(make_payload(3, 1000), to));
  EXPECT_EQ(q.size(), 1u);
}

TEST(SendQueue, ZeroLengthPayloadsTakeAnEntryButNoBytes) {
  SendQueue q;
  ASSERT_TRUE(q.init(4, 10).ok());
  const Address to = addr("127.0.0.1:9");
  ASSERT_TRUE(q.push(make_payload(1, 10), to));  // bytes full
  EXPECT_EQ(q.room_for(0), 3u);
  ASSERT_TRUE(q.push({}, to));
  ASSERT_TRUE(q.push({}, to));
  ASSERT_TRUE(q.push({}, to));
  EXPECT_FALSE(q.push({}, to));  // entries full
  EXPECT_EQ(q.at(1).length, 0u);
  EXPECT_EQ(q.at(3).length, 0u);
  EXPECT_EQ(bytes_of(q, 0), make_payload(1, 10));
  q.pop(1);
  // Only empty datagrams remain; their bytes are free again (less the one byte a wrapped ring
  // keeps between its tail and head).
  EXPECT_EQ(q.room_for(9), 1u);
  ASSERT_TRUE(q.push(make_payload(2, 9), to));
  EXPECT_EQ(bytes_of(q, 3), make_payload(2, 9));
  EXPECT_EQ(bytes_of(q, 0), std::vector<std::byte>{});
}

TEST(SendQueue, ContiguousRunsStopAtTheEndOfTheEntryRing) {
  SendQueue q;
  ASSERT_TRUE(q.init(4, 1000).ok());
  const Address to = addr("127.0.0.1:9");
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(q.push(make_payload(i, 8), to));
  EXPECT_EQ(q.contiguous(), 3u);
  EXPECT_EQ(q.front_ptr(), &q.at(0));
  q.pop(2);
  for (std::uint64_t i = 3; i < 6; ++i) ASSERT_TRUE(q.push(make_payload(i, 8), to));
  // Entries 2,3 sit at ring slots 2,3; entries 4,5 wrapped to slots 0,1.
  EXPECT_EQ(q.size(), 4u);
  EXPECT_EQ(q.contiguous(), 2u);
  const SendQueue::Entry* front = q.front_ptr();
  EXPECT_EQ(&front[0], &q.at(0));
  EXPECT_EQ(&front[1], &q.at(1));
  EXPECT_EQ(test::payload_seq(bytes_of(q, 0)), 2u);
  EXPECT_EQ(test::payload_seq(bytes_of(q, 1)), 3u);
  q.pop(2);
  EXPECT_EQ(q.contiguous(), 2u);
  EXPECT_EQ(test::payload_seq(bytes_of(q, 0)), 4u);
  EXPECT_EQ(q.front_ptr(), &q.at(0));
  q.pop(2);
  EXPECT_EQ(q.contiguous(), 0u);
}

TEST(SendQueue, SlotIndexesAreStableAndInvertible) {
  // Backends keep per-entry state (io_uring's msghdrs) in arrays indexed by slot: an entry's slot
  // must not change while it is queued, and offset_of_slot must find the entry again.
  SendQueue q;
  ASSERT_TRUE(q.init(8, 4096).ok());
  const Address to = addr("127.0.0.1:9");
  std::uint64_t seq = 0;
  std::deque<std::pair<std::uint64_t, std::size_t>> model;  // seq, slot
  std::mt19937 rng(7);
  for (int step = 0; step < 5000; ++step) {
    if (rng() % 2 == 0 && q.room() > 0) {
      ASSERT_TRUE(q.push(make_payload(seq, 8), to));
      model.emplace_back(seq, q.slot_index(q.size() - 1));
      ++seq;
    } else if (!model.empty()) {
      const std::size_t n = 1 + rng() % model.size();
      q.pop(n);
      model.erase(model.begin(), model.begin() + static_cast<std::ptrdiff_t>(n));
    }
    for (std::size_t i = 0; i < model.size(); ++i) {
      ASSERT_EQ(q.slot_index(i), model[i].second) << "entry " << i << " moved";
      ASSERT_LT(q.slot_index(i), q.capacity());
      ASSERT_EQ(q.offset_of_slot(q.slot_index(i)), i);
      ASSERT_EQ(&q.at(i), q.front_ptr() - (q.slot_index(0)) + q.slot_index(i));
      ASSERT_EQ(test::payload_seq(bytes_of(q, i)), model[i].first);
    }
  }
}

// A random walk of pushes of varied sizes and pops of varied counts, checked at every step against
// a model: contents, order, destinations, and that live payloads never share a byte.
void random_walk(std::uint32_t entries, std::uint32_t bytes, std::size_t max_size, unsigned seed, int steps,
                 bool expect_wrap = true) {
  SendQueue q;
  ASSERT_TRUE(q.init(entries, bytes).ok());
  struct Model {
    std::uint64_t seq;
    std::size_t size;
    Address to;
  };
  std::deque<Model> model;
  std::mt19937 rng(seed);
  std::uint64_t seq = 0;
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;
  std::uint64_t wrapped = 0;  // pushes that landed below an older payload (the ring wrapped)
  for (int step = 0; step < steps; ++step) {
    const unsigned op = rng() % 100;
    if (op < 60) {
      // Sizes: mostly small, sometimes zero, sometimes near the byte capacity.
      std::size_t size = rng() % (max_size + 1);
      if (rng() % 10 == 0) size = 0;
      const std::size_t predicted = q.room_for(size);
      const Address to = Address::ipv4_loopback(static_cast<std::uint16_t>(seq % 60000 + 1));
      const auto payload = make_payload(seq, size);
      const bool ok = q.push(payload, to);
      ASSERT_EQ(ok, predicted > 0) << "step " << step << ": room_for(" << size << ")=" << predicted
                                   << " but push returned " << ok << " with " << q.size() << " queued";
      if (ok) {
        if (!model.empty() && size > 0 && q.at(q.size() - 1).offset < q.at(0).offset) ++wrapped;
        model.push_back({seq, size, to});
        ++accepted;
      } else {
        ++refused;
        ASSERT_FALSE(model.empty() && size <= bytes) << "an empty queue refused " << size << " bytes";
      }
      ++seq;
    } else if (op < 90 && !model.empty()) {
      const std::size_t n = 1 + rng() % std::min<std::size_t>(model.size(), 8);
      q.pop(n);
      model.erase(model.begin(), model.begin() + static_cast<std::ptrdiff_t>(n));
    } else {
      // Fill to the brim with one size and check that room_for was exact.
      const std::size_t size = 1 + rng() % max_size;
      const std::size_t room = q.room_for(size);
      for (std::size_t i = 0; i < room; ++i) {
        const Address to = Address::ipv6_loopback(static_cast<std::uint16_t>(seq % 60000 + 1));
        ASSERT_TRUE(q.push(make_payload(seq, size), to)) << "room_for(" << size << ")=" << room << " but push " << i
                                                         << " failed";
        model.push_back({seq, size, to});
        ++seq;
      }
      ASSERT_FALSE(q.push(make_payload(seq, size), Address::ipv4_loopback(1)))
          << "room_for(" << size << ")=" << room << " but one more push succeeded";
      ++seq;
    }
    ASSERT_EQ(q.size(), model.size()) << "step " << step;
    ASSERT_EQ(q.room(), entries - model.size());
    // Contents and no overlap.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges;
    std::size_t used = 0;
    for (std::size_t i = 0; i < model.size(); ++i) {
      const SendQueue::Entry& e = q.at(i);
      ASSERT_EQ(e.length, model[i].size) << "step " << step << " entry " << i;
      ASSERT_EQ(e.to, model[i].to) << "step " << step << " entry " << i;
      ASSERT_LE(std::size_t{e.offset} + e.length, bytes) << "payload past the end of the byte ring";
      ASSERT_EQ(bytes_of(q, i), make_payload(model[i].seq, model[i].size)) << "step " << step << " entry " << i;
      if (e.length != 0) ranges.emplace_back(e.offset, e.offset + e.length);
      used += e.length;
    }
    ASSERT_LE(used, bytes);
    std::sort(ranges.begin(), ranges.end());
    for (std::size_t i = 1; i < ranges.size(); ++i) {
      ASSERT_LE(ranges[i - 1].second, ranges[i].first) << "payloads overlap at step " << step;
    }
    // The entry ring's contiguous front run is really contiguous and really the front.
    const std::size_t run = q.contiguous();
    ASSERT_LE(run, q.size());
    if (!q.empty()) {
      ASSERT_GE(run, 1u);
      for (std::size_t i = 0; i < run; ++i) ASSERT_EQ(&q.front_ptr()[i], &q.at(i));
    }
  }
  // The walk must have exercised what it claims to.
  EXPECT_GT(accepted, static_cast<std::uint64_t>(steps) / 10);
  EXPECT_GT(refused, 0u);
  if (expect_wrap) {
    EXPECT_GT(wrapped, 0u) << "the byte ring never wrapped";
  }
  // Drained, the queue takes a full-capacity payload again.
  q.pop(q.size());
  EXPECT_TRUE(q.push(make_payload(seq, bytes), Address::ipv4_loopback(1)));
}

TEST(SendQueue, RandomWalkSmallRing) { random_walk(16, 1000, 300, 1, 100000); }
TEST(SendQueue, RandomWalkEntryBound) { random_walk(8, 1 << 16, 200, 2, 50000, /*expect_wrap=*/false); }
TEST(SendQueue, RandomWalkByteBound) { random_walk(256, 4096, 1500, 3, 50000); }
TEST(SendQueue, RandomWalkTinyPayloads) { random_walk(64, 97, 7, 4, 50000); }

}  // namespace
}  // namespace salvo::detail
