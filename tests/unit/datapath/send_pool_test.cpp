// SendPool: a worker's segments for queued sends, in one reserved mapping. Checked directly: the
// limit it takes, the segments it makes of it, where each area of a segment lies, the order in
// which it hands segments out and takes them back, and which of its pages are resident (mincore):
// the warm segments' from the start, a burst's only until trim finds it idle. (How queues use it: send_queue_test.cpp.)
#include "datapath/send_pool.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
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


// Resident memory, read with mincore: which pages of a segment the kernel backs.
std::size_t resident_pages(const SendPool& pool, std::uint32_t segment) {
  const std::size_t pages = pool.segment_size() / 4096;
  std::vector<unsigned char> in_core(pages);
  if (::mincore(pool.segment_base(segment), pool.segment_size(), in_core.data()) != 0) {
    ADD_FAILURE() << "mincore: " << std::strerror(errno);
    return 0;
  }
  std::size_t n = 0;
  for (unsigned char c : in_core) n += c & 1;
  return n;
}
std::size_t resident_pages(const SendPool& pool) {
  std::size_t n = 0;
  for (std::uint32_t s = 0; s < pool.segments(); ++s) n += resident_pages(pool, s);
  return n;
}
std::size_t resident_segments(const SendPool& pool) {
  std::size_t n = 0;
  for (std::uint32_t s = 0; s < pool.segments(); ++s) n += resident_pages(pool, s) != 0;
  return n;
}
// What a queue holding one small datagram writes: its entry, iovec, payload and scratch.
void write_one_datagram(SendPool& pool, std::uint32_t segment) {
  std::memset(static_cast<void*>(pool.entries(segment)), 1, sizeof(SendEntry));
  std::memset(pool.iovecs(segment), 2, sizeof(iovec));
  std::memset(pool.payload(segment), 3, 64);
  if (pool.scratch_bytes() != 0) std::memset(pool.scratch(segment), 4, pool.scratch_bytes());
}
// The distinct pages of a segment that write_one_datagram writes.
std::size_t one_datagram_pages(const SendPool& pool) {
  std::vector<std::uintptr_t> pages = {reinterpret_cast<std::uintptr_t>(pool.entries(0)) / 4096,
                                       reinterpret_cast<std::uintptr_t>(pool.iovecs(0)) / 4096,
                                       reinterpret_cast<std::uintptr_t>(pool.payload(0)) / 4096};
  if (pool.scratch_bytes() != 0) pages.push_back(reinterpret_cast<std::uintptr_t>(pool.scratch(0)) / 4096);
  std::sort(pages.begin(), pages.end());
  return static_cast<std::size_t>(std::unique(pages.begin(), pages.end()) - pages.begin());
}

constexpr std::uint32_t kWarm = SendPool::warm_segments;

TEST(SendPool, InitMakesTheWarmSegmentsFirstPagesResidentAndNothingElse) {
  for (std::uint32_t scratch : {0u, 40u, 200u}) {
    SendPool pool;
    ASSERT_TRUE(pool.init((kWarm + 8) * SendPool::segment_bytes_for(scratch), scratch, "the test").ok());
    EXPECT_EQ(pool.touched_segments(), kWarm);
    for (std::uint32_t s = 0; s < pool.segments(); ++s) {
      EXPECT_EQ(resident_pages(pool, s), s < kWarm ? one_datagram_pages(pool) : 0u) << "segment " << s << ", scratch " << scratch;
    }
  }
  SendPool small;
  ASSERT_TRUE(small.init(3 * SendPool::segment_bytes_for(0), 0, "the test").ok());
  EXPECT_EQ(small.touched_segments(), 3u) << "a pool smaller than the warm segments warms all it has";
  EXPECT_EQ(resident_segments(small), 3u);
}

// Sockets each queueing a datagram, up to warm_segments of them at once, in every order: no new
// page, so that resident memory does not rise with each new record of sends queued at once.
TEST(SendPool, UpToTheWarmSegmentsAtOnceTouchNoNewPage) {
  SendPool pool;
  ASSERT_TRUE(pool.init(4 * kWarm * SendPool::segment_bytes_for(40), 40, "the test").ok());
  const std::size_t at_start = resident_pages(pool);
  ASSERT_EQ(at_start, kWarm * one_datagram_pages(pool));
  std::vector<std::uint32_t> held;
  for (std::uint32_t at_once : {1u, 3u, kWarm / 2, kWarm - 1, kWarm, 2u, kWarm}) {
    for (std::uint32_t i = 0; i < at_once; ++i) {
      held.push_back(pool.acquire());
      write_one_datagram(pool, held.back());
    }
    // Given back oldest first, then newest first: either way the next round finds warm ones.
    if (at_once % 2 == 0) std::reverse(held.begin(), held.end());
    for (std::uint32_t s : held) pool.release(s);
    held.clear();
    EXPECT_EQ(pool.trim(), 0u);
    EXPECT_EQ(resident_pages(pool), at_start) << at_once << " at once";
  }
  EXPECT_EQ(pool.touched_segments(), kWarm);
}

TEST(SendPool, TrimGivesBackABurstOnceItSatFreeForAWholeInterval) {
  SendPool pool;
  ASSERT_TRUE(pool.init(4 * kWarm * SendPool::segment_bytes_for(40), 40, "the test").ok());
  const std::size_t at_start = resident_pages(pool);
  // A burst: 10 more segments than the warm ones at once, the first (freed first, so among those
  // given back) with a full payload.
  std::vector<std::uint32_t> burst;
  for (std::uint32_t i = 0; i < kWarm + 10; ++i) {
    burst.push_back(pool.acquire());
    write_one_datagram(pool, burst.back());
  }
  std::memset(pool.payload(burst.front()), 5, SendPool::payload_bytes);
  for (std::uint32_t s : burst) pool.release(s);
  EXPECT_EQ(pool.touched_segments(), kWarm + 10);
  EXPECT_GT(resident_pages(pool), at_start);
  EXPECT_EQ(pool.trim(), 0u) << "used since the last trim: kept";
  EXPECT_EQ(resident_segments(pool), kWarm + 10);
  EXPECT_EQ(pool.trim(), 10u) << "free all through the interval: the 10 beyond the warm ones go back";
  EXPECT_EQ(pool.touched_segments(), kWarm);
  EXPECT_EQ(resident_segments(pool), kWarm);
  EXPECT_EQ(resident_pages(pool), at_start) << "the burst's pages, the full payload's among them, are the kernel's again";
  EXPECT_EQ(pool.trim(), 0u);
  // The kept ones are the most recently freed (the last of the burst), and they come out first.
  for (std::uint32_t i = 0; i < kWarm; ++i) {
    const std::uint32_t s = pool.acquire();
    EXPECT_EQ(s, burst[burst.size() - 1 - i]);
    EXPECT_GT(resident_pages(pool, s), 0u) << "a warm segment first";
  }
  // Then the ones given back, zeroed, and only then the untouched rest.
  for (std::uint32_t i = 0; i < 10; ++i) {
    const std::uint32_t s = pool.acquire();
    EXPECT_EQ(s, burst[9 - i]);
    EXPECT_EQ(resident_pages(pool, s), 0u);
    EXPECT_EQ(reinterpret_cast<const unsigned char*>(pool.payload(s))[0], 0) << "given back: reads as zeros";
  }
  const std::uint32_t next = pool.acquire();
  EXPECT_EQ(next, kWarm + 10);
  EXPECT_EQ(resident_pages(pool, next), 0u);
}

TEST(SendPool, TrimKeepsSegmentsInUseAndThoseTakenDuringTheInterval) {
  SendPool pool;
  ASSERT_TRUE(pool.init(4 * kWarm * SendPool::segment_bytes_for(0), 0, "the test").ok());
  // More in use than the warm segments, and held: never given back, their contents intact.
  std::vector<std::uint32_t> in_use;
  for (std::uint32_t i = 0; i < kWarm + 20; ++i) {
    in_use.push_back(pool.acquire());
    write_one_datagram(pool, in_use.back());
  }
  for (int i = 0; i < 3; ++i) EXPECT_EQ(pool.trim(), 0u);
  for (std::uint32_t s : in_use) {
    EXPECT_GT(resident_pages(pool, s), 0u);
    EXPECT_EQ(reinterpret_cast<const unsigned char*>(pool.payload(s))[0], 3);
  }
  // 20 of them freed: once idle for an interval they go back (beyond the warm ones, all of them
  // are), the 32 in use stay.
  for (std::uint32_t i = 0; i < 20; ++i) pool.release(in_use[i]);
  EXPECT_EQ(pool.trim(), 0u);
  EXPECT_EQ(pool.trim(), 20u);
  EXPECT_EQ(pool.touched_segments(), kWarm);
  for (std::uint32_t i = 20; i < in_use.size(); ++i) EXPECT_GT(resident_pages(pool, in_use[i]), 0u);
  for (std::uint32_t i = 20; i < in_use.size(); ++i) pool.release(in_use[i]);
  // A segment beyond the warm ones that a queue takes in every interval stays.
  std::vector<std::uint32_t> extra;
  for (std::uint32_t i = 0; i < kWarm + 4; ++i) {
    extra.push_back(pool.acquire());
    write_one_datagram(pool, extra.back());
  }
  for (std::uint32_t s : extra) pool.release(s);
  EXPECT_EQ(pool.touched_segments(), kWarm + 4);
  EXPECT_EQ(pool.trim(), 0u);
  for (int interval = 0; interval < 3; ++interval) {
    std::vector<std::uint32_t> busy;
    for (std::uint32_t i = 0; i < kWarm + 2; ++i) busy.push_back(pool.acquire());
    for (std::uint32_t s : busy) pool.release(s);
    EXPECT_EQ(pool.trim(), interval == 0 ? 2u : 0u) << "only the 2 no queue took in the interval go";
    EXPECT_EQ(pool.touched_segments(), kWarm + 2);
  }
}

}  // namespace
}  // namespace salvo::detail
