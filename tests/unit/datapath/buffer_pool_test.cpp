// BufferPool: one page-aligned block of equal slots, addressed by index, with a free list that
// lends slots out in batches (take_batch / give_batch; a single slot is a batch of one).
#include "datapath/buffer_pool.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <set>
#include <vector>

#include "support/test_support.hpp"

namespace salvo::detail {
namespace {

TEST(BufferPool, RejectsEmptyPools) {
  BufferPool a;
  auto r = a.init(0, 100);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(Errc::bad_option));
  BufferPool b;
  auto r2 = b.init(4, 0);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code, make_error_code(Errc::bad_option));
}

TEST(BufferPool, SlotsAreEvenlySpacedInOnePageAlignedBlock) {
  BufferPool pool;
  ASSERT_TRUE(pool.init(5, 1000).ok());
  EXPECT_EQ(pool.count(), 5u);
  EXPECT_EQ(pool.buffer_size(), 1000u);
  ASSERT_NE(pool.slot(0), nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(pool.slot(0)) % 4096, 0u);
  for (std::uint32_t i = 0; i < 5; ++i) EXPECT_EQ(pool.slot(i), pool.slot(0) + i * 1000) << i;
  // Page-multiple slots stay page aligned.
  BufferPool pages;
  ASSERT_TRUE(pages.init(3, 4096).ok());
  for (std::uint32_t i = 0; i < 3; ++i) EXPECT_EQ(reinterpret_cast<std::uintptr_t>(pages.slot(i)) % 4096, 0u);
}

TEST(BufferPool, LargePoolsAre2MiBAlignedForHugePages) {
  // The default pool (1024 slots of 2048 bytes plus io_uring headroom) crosses the threshold.
  BufferPool pool;
  ASSERT_TRUE(pool.init(1024, 2112).ok());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(pool.slot(0)) % (2u << 20), 0u);
  // Every byte of every slot is usable (the trimmed mapping covers the whole pool).
  std::memset(pool.slot(0), 0xab, std::size_t{1024} * 2112);
  EXPECT_EQ(static_cast<unsigned char>(pool.slot(1023)[2111]), 0xab);
  // Whether THP backs it depends on the machine; when the system offers THP to madvise()d
  // memory ("always" or "madvise"), say what happened rather than fail on fragmentation.
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode((std::istreambuf_iterator<char>(thp)), std::istreambuf_iterator<char>());
  RecordProperty("huge_pages", pool.huge_pages() ? "yes" : "no");
  if (mode.find("[never]") != std::string::npos) {
    EXPECT_FALSE(pool.huge_pages());
  }
  // Small pools stay on small pages and are only page aligned.
  BufferPool small;
  ASSERT_TRUE(small.init(16, 2112).ok());
  EXPECT_FALSE(small.huge_pages());
}

TEST(BufferPool, SlotsAreZeroedAndIndependent) {
  BufferPool pool;
  ASSERT_TRUE(pool.init(8, 333).ok());
  for (std::uint32_t i = 0; i < 8; ++i) {
    for (std::uint32_t j = 0; j < 333; ++j) ASSERT_EQ(pool.slot(i)[j], std::byte{0}) << i << "," << j;
  }
  // Fill every slot to its last byte with its own value; no slot spills into another.
  for (std::uint32_t i = 0; i < 8; ++i) std::memset(pool.slot(i), 0x10 + static_cast<int>(i), 333);
  for (std::uint32_t i = 0; i < 8; ++i) {
    for (std::uint32_t j = 0; j < 333; ++j) ASSERT_EQ(pool.slot(i)[j], std::byte(0x10 + i)) << i << "," << j;
  }
}

// Single slots are batches of one.
std::uint32_t take_one(BufferPool& pool) {
  std::uint32_t index = 99;
  pool.take_batch(&index, 1);
  return index;
}
void give_one(BufferPool& pool, std::uint32_t index) { pool.give_batch(&index, 1); }

TEST(BufferPool, TakeGivesDistinctSlotsUntilEmpty) {
  BufferPool pool;
  ASSERT_TRUE(pool.init(4, 64).ok());
  EXPECT_EQ(pool.available(), 4u);
  std::set<std::uint32_t> taken;
  for (int i = 0; i < 4; ++i) {
    const std::uint32_t index = take_one(pool);
    EXPECT_LT(index, 4u);
    EXPECT_TRUE(taken.insert(index).second) << "slot " << index << " handed out twice";
    EXPECT_EQ(pool.available(), 3u - static_cast<unsigned>(i));
  }
  EXPECT_EQ(pool.available(), 0u);
  give_one(pool, 2);
  EXPECT_EQ(pool.available(), 1u);
  EXPECT_EQ(take_one(pool), 2u);
  for (std::uint32_t i : taken) give_one(pool, i);
  EXPECT_EQ(pool.available(), 4u);
}

TEST(BufferPool, LowestIndexesComeFirst) {
  BufferPool pool;
  ASSERT_TRUE(pool.init(16, 64).ok());
  for (std::uint32_t expected = 0; expected < 16; ++expected) EXPECT_EQ(take_one(pool), expected);
  // Last given, first taken: a lightly loaded worker reuses the same warm slot.
  give_one(pool, 9);
  give_one(pool, 3);
  EXPECT_EQ(take_one(pool), 3u);
  EXPECT_EQ(take_one(pool), 9u);
}

TEST(BufferPool, TakeBatchThenGiveBatchHandsOutTheSameSlotsAgain) {
  BufferPool pool;
  ASSERT_TRUE(pool.init(8, 64).ok());
  EXPECT_EQ(take_one(pool), 0u);  // slot 0 is out: the batch comes from what is left
  std::vector<std::uint32_t> first(5, 99);
  pool.take_batch(first.data(), 5);
  EXPECT_EQ(pool.available(), 2u);
  // The five at the free list's top (lowest indexes are on top at first), the deepest first.
  EXPECT_EQ(first, (std::vector<std::uint32_t>{5, 4, 3, 2, 1}));
  pool.give_batch(first.data(), 5);
  EXPECT_EQ(pool.available(), 7u);
  EXPECT_EQ(std::vector<std::uint32_t>(pool.next_batch(5), pool.next_batch(5) + 5), first) << "next_batch only looks";
  EXPECT_EQ(pool.available(), 7u);
  std::vector<std::uint32_t> second(5, 99);
  pool.take_batch(second.data(), 5);
  EXPECT_EQ(second, first) << "the same slots, in the same order";
  // Mixed with single takes: a single take after the batch's return gets the batch's last slot.
  pool.give_batch(second.data(), 5);
  const std::uint32_t single = take_one(pool);
  EXPECT_EQ(single, first.back());
  give_one(pool, single);
  std::vector<std::uint32_t> all(7, 99);
  pool.take_batch(all.data(), 7);
  EXPECT_EQ(pool.available(), 0u);
  std::vector<std::uint32_t> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<std::uint32_t>{1, 2, 3, 4, 5, 6, 7}));
}

TEST(BufferPool, ManyCyclesKeepEverySlotAccountedFor) {
  BufferPool pool;
  ASSERT_TRUE(pool.init(32, 16).ok());
  std::vector<std::uint32_t> held;
  std::uint32_t state = 12345;
  for (int step = 0; step < 20000; ++step) {
    state = state * 1103515245u + 12345u;
    if ((state >> 16) % 2 == 0) {
      if (pool.available() > 0) {
        const std::uint32_t index = take_one(pool);
        ASSERT_LT(index, 32u);
        ASSERT_EQ(std::count(held.begin(), held.end(), index), 0) << "slot " << index << " handed out twice";
        held.push_back(index);
      } else {
        ASSERT_EQ(held.size(), 32u);
      }
    } else if (!held.empty()) {
      const std::size_t k = (state >> 8) % held.size();
      give_one(pool, held[k]);
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(k));
    }
    ASSERT_EQ(pool.available() + held.size(), 32u);
  }
}

}  // namespace
}  // namespace salvo::detail
