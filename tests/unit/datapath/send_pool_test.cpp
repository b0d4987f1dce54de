// SendPool: a worker's segments for queued sends, in one reserved mapping. Checked directly: the
// limit it takes, the segments it makes of it, where each area of a segment lies, and the order in
// which it hands segments out and takes them back. (How queues use it: send_queue_test.cpp.)
#include "datapath/send_pool.hpp"

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace salvo::detail {
namespace {

constexpr std::uint32_t kPerSegment = SendPool::entries_per_segment;
constexpr std::uint32_t kSegmentPayload = SendPool::payload_bytes;

TEST(SendPool, InitRefusesLessThanOneSegment) {
  for (std::uint32_t scratch : {0u, 16u, 4096u}) {
    const std::size_t segment = SendPool::segment_bytes_for(scratch);
    for (std::uint64_t limit : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{segment / 2}, std::uint64_t{segment - 1}}) {
      SendPool pool;
      auto r = pool.init(limit, scratch, "worker 7");
      ASSERT_FALSE(r.ok()) << limit;
      EXPECT_EQ(r.error().code, make_error_code(Errc::bad_option));
      const std::string& m = r.error().message;
      EXPECT_NE(m.find("worker 7"), std::string::npos) << m;
      EXPECT_NE(m.find(std::to_string(segment)), std::string::npos) << "names what one segment takes: " << m;
      EXPECT_NE(m.find(std::to_string(limit)), std::string::npos) << "names the limit given: " << m;
      EXPECT_EQ(pool.segments(), 0u);
      EXPECT_EQ(pool.free_segments(), 0u);
      EXPECT_EQ(pool.acquire(), SendPool::none);
    }
  }
}

TEST(SendPool, InitRefusesMoreSegmentsThanItCanName) {
  SendPool pool;
  auto r = pool.init(std::numeric_limits<std::uint64_t>::max(), 0, "worker 2");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(Errc::bad_option));
  EXPECT_NE(r.error().message.find("worker 2"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("too large"), std::string::npos) << r.error().message;
  EXPECT_EQ(pool.segments(), 0u);
}

TEST(SendPool, SegmentBytesGrowWithScratch) {
  std::size_t previous = 0;
  for (std::uint32_t scratch : {0u, 1u, 8u, 16u, 64u, 100u, 1024u, 4096u, 65536u}) {
    const std::size_t b = SendPool::segment_bytes_for(scratch);
    EXPECT_GE(b, previous) << scratch;
    EXPECT_EQ(b % 4096, 0u) << "a segment starts on a page";
    EXPECT_GE(b, kSegmentPayload + kPerSegment * (sizeof(SendEntry) + sizeof(iovec) + std::size_t{scratch})) << scratch;
    // No more than the areas, each rounded to a cache line, rounded to a page.
    EXPECT_LE(b, kSegmentPayload + kPerSegment * (sizeof(SendEntry) + sizeof(iovec) + std::size_t{scratch}) + 3 * 64 + 4096)
        << scratch;
    previous = b;
  }
  EXPECT_GE(SendPool::segment_bytes_for(4096) - SendPool::segment_bytes_for(0), std::size_t{kPerSegment} * 4096 - 4096);
  EXPECT_GT(SendPool::segment_bytes_for(65536), SendPool::segment_bytes_for(4096));
}

TEST(SendPool, SegmentsAreTheLimitOverTheSegmentSize) {
  for (std::uint32_t scratch : {0u, 24u}) {
    const std::size_t seg = SendPool::segment_bytes_for(scratch);
    for (std::uint64_t limit : {std::uint64_t{seg}, std::uint64_t{seg + 1}, std::uint64_t{2 * seg - 1}, std::uint64_t{2 * seg},
                                std::uint64_t{3 * seg + seg / 2}, std::uint64_t{10 * seg}, std::uint64_t{64} << 20}) {
      SendPool pool;
      auto r = pool.init(limit, scratch, "the test");
      ASSERT_TRUE(r.ok()) << r.error().message;
      EXPECT_EQ(pool.segment_size(), seg);
      EXPECT_EQ(pool.segments(), limit / pool.segment_size()) << limit;
      EXPECT_EQ(pool.free_segments(), pool.segments());
      EXPECT_EQ(pool.scratch_bytes(), scratch);
    }
  }
}

TEST(SendPool, HandsOutFromTheStartThenTheMostRecentlyFreed) {
  SendPool pool;
  ASSERT_TRUE(pool.init(4 * SendPool::segment_bytes_for(0), 0, "the test").ok());
  ASSERT_EQ(pool.segments(), 4u);
  EXPECT_EQ(pool.acquire(), 0u);
  EXPECT_EQ(pool.acquire(), 1u);
  EXPECT_EQ(pool.free_segments(), 2u);
  pool.release(0);
  EXPECT_EQ(pool.free_segments(), 3u);
  EXPECT_EQ(pool.acquire(), 0u) << "the one just freed, not the untouched 2";
  EXPECT_EQ(pool.acquire(), 2u);
  EXPECT_EQ(pool.acquire(), 3u);
  EXPECT_EQ(pool.free_segments(), 0u);
  EXPECT_EQ(pool.acquire(), SendPool::none) << "an exhausted pool refuses";
  EXPECT_EQ(pool.acquire(), SendPool::none);
  pool.release(3);
  pool.release(1);
  pool.release(2);
  EXPECT_EQ(pool.acquire(), 2u);
  EXPECT_EQ(pool.acquire(), 1u);
  EXPECT_EQ(pool.acquire(), 3u);
  EXPECT_EQ(pool.acquire(), SendPool::none);
  // A segment comes back emptied, whatever its last user left in its state.
  SendPool::SegmentState& st = pool.state(1);
  st.next = 3;
  st.begin = 5;
  st.end = 9;
  st.used_bytes = 1234;
  pool.release(1);
  ASSERT_EQ(pool.acquire(), 1u);
  EXPECT_EQ(pool.state(1).next, SendPool::none);
  EXPECT_EQ(pool.state(1).begin, 0u);
  EXPECT_EQ(pool.state(1).end, 0u);
  EXPECT_EQ(pool.state(1).used_bytes, 0u);
}

TEST(SendPool, SegmentAreasAreDisjointAndWritable) {
  constexpr std::uint32_t scratch = 40;
  SendPool pool;
  ASSERT_TRUE(pool.init(3 * SendPool::segment_bytes_for(scratch), scratch, "the test").ok());
  ASSERT_EQ(pool.segments(), 3u);
  auto at = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p); };
  for (std::uint32_t s = 0; s < 3; ++s) {
    const std::uintptr_t base = at(pool.entries(s));
    EXPECT_EQ(base % 4096, 0u);
    EXPECT_EQ(base, at(pool.entries(0)) + s * pool.segment_size());
    EXPECT_LE(base + kPerSegment * sizeof(SendEntry), at(pool.iovecs(s)));
    EXPECT_LE(at(pool.iovecs(s)) + kPerSegment * sizeof(iovec), at(pool.payload(s)));
    EXPECT_LE(at(pool.payload(s)) + kSegmentPayload, at(pool.scratch(s)));
    EXPECT_LE(at(pool.scratch(s)) + kPerSegment * scratch, base + pool.segment_size());
    EXPECT_EQ(at(pool.iovecs(s)) % 64, 0u);
    EXPECT_EQ(at(pool.scratch(s)) % 64, 0u);
    EXPECT_EQ(at(pool.payload(s)) % 64, 0u);
    // Every byte of every area is writable, and writing one segment leaves the others alone.
    std::memset(static_cast<void*>(pool.entries(s)), 0x10 + static_cast<int>(s), kPerSegment * sizeof(SendEntry));
    std::memset(pool.iovecs(s), 0x20 + static_cast<int>(s), kPerSegment * sizeof(iovec));
    std::memset(pool.scratch(s), 0x30 + static_cast<int>(s), kPerSegment * scratch);
    std::memset(pool.payload(s), 0x40 + static_cast<int>(s), kSegmentPayload);
  }
  for (std::uint32_t s = 0; s < 3; ++s) {
    const auto* e = reinterpret_cast<const unsigned char*>(pool.entries(s));
    const auto* p = reinterpret_cast<const unsigned char*>(pool.payload(s));
    EXPECT_EQ(e[0], 0x10 + s);
    EXPECT_EQ(e[kPerSegment * sizeof(SendEntry) - 1], 0x10 + s);
    EXPECT_EQ(reinterpret_cast<const unsigned char*>(pool.scratch(s))[kPerSegment * scratch - 1], 0x30 + s);
    EXPECT_EQ(p[0], 0x40 + s);
    EXPECT_EQ(p[kSegmentPayload - 1], 0x40 + s);
  }
}

}  // namespace
}  // namespace salvo::detail
