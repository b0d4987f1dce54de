// SendQueue: a socket's bounded queue of datagrams, stored in segments drawn from the worker's
// SendPool. Checked against a model over many operations: what comes out is exactly what went in,
// in order, where the packing rule puts it; the queue holds a segment only while it has an entry
// there; the pool reuses the segment freed last; a full queue or pool refuses instead of growing;
// room_for() predicts push() exactly.
#include "datapath/send_queue.hpp"

#include <algorithm>
#include <cstring>
#include <deque>
#include <iterator>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace salvo::detail {
namespace {

using test::addr;
using test::make_payload;

constexpr std::uint32_t kPerSegment = SendPool::entries_per_segment;  // entries a segment holds
constexpr std::uint32_t kSegmentPayload = SendPool::payload_bytes;    // payload bytes a segment holds

testing::AssertionResult init_pool(SendPool& pool, std::size_t segments, std::uint32_t scratch = 0) {
  auto r = pool.init(segments * SendPool::segment_bytes_for(scratch), scratch, "the test");
  if (!r.ok()) return testing::AssertionFailure() << r.error().message;
  if (pool.segments() != segments || pool.free_segments() != segments) {
    return testing::AssertionFailure() << pool.segments() << " segments, " << pool.free_segments() << " free, not "
                                       << segments;
  }
  return testing::AssertionSuccess();
}

std::vector<std::byte> bytes_of(const SendQueue& q, const SendEntry& e) {
  const std::byte* p = q.payload(e);
  return std::vector<std::byte>(p, p + e.length);
}

// The queued entries, oldest first, found as a backend finds them: front(), then after().
// At most `limit` of them (so that a broken chain cannot loop forever).
std::vector<SendEntry*> entries_of(const SendQueue& q, std::size_t limit = 1u << 20) {
  std::vector<SendEntry*> v;
  if (q.empty()) return v;
  for (SendEntry* e = &q.front(); e != nullptr && v.size() < limit; e = q.after(*e, 1)) v.push_back(e);
  return v;
}

// The segments a queue's entries lie in.
std::set<std::uint32_t> segments_of(const SendPool& pool, const SendQueue& q) {
  std::set<std::uint32_t> s;
  for (const SendEntry* e : entries_of(q)) s.insert(pool.segment_of(*e));
  return s;
}

std::size_t in_use(const SendPool& pool) { return pool.segments() - pool.free_segments(); }

Address to_for(std::uint64_t i) {
  return i % 2 == 0 ? Address::ipv4_loopback(static_cast<std::uint16_t>(i % 60000 + 1))
                    : Address::ipv6_loopback(static_cast<std::uint16_t>(i % 60000 + 1));
}

SendMeta meta_for(std::uint64_t i) {
  SendMeta m;
  switch (i % 4) {
    case 0:
      break;  // none: the socket's defaults
    case 1:
      m.source_family = SendMeta::Source::v4;
      m.source.s6_addr[0] = 10;
      m.source.s6_addr[3] = static_cast<std::uint8_t>(i);
      break;
    case 2:
      m.source_family = SendMeta::Source::v6;
      m.source.s6_addr[0] = 0xfd;
      m.source.s6_addr[15] = static_cast<std::uint8_t>(i);
      m.traffic_class = static_cast<std::int16_t>(i % 256);
      break;
    default:
      m.interface_index = static_cast<std::uint32_t>(i % 1000 + 1);
      m.traffic_class = 46;
      break;
  }
  return m;
}

// --- init ---

TEST(SendQueue, InitRejectsZeroEntriesOrBytes) {
  SendPool pool;
  ASSERT_TRUE(init_pool(pool, 2));
  {
    SendQueue q;
    auto r = q.init(pool, 0, 1024);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, make_error_code(Errc::bad_option));
    EXPECT_FALSE(r.error().message.empty());
  }
  {
    SendQueue q;
    auto r = q.init(pool, 4, 0);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, make_error_code(Errc::bad_option));
    EXPECT_FALSE(r.error().message.empty());
  }
  // Any number of entries, not only powers of two; nothing is drawn from the pool.
  for (std::uint32_t entries : {1u, 3u, 1000u}) {
    SendQueue q;
    ASSERT_TRUE(q.init(pool, entries, 1).ok()) << entries;
    EXPECT_EQ(q.capacity(), entries);
    EXPECT_EQ(q.room(), entries);
    EXPECT_EQ(q.size(), 0u);
    EXPECT_EQ(q.bytes(), 0u);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(pool.free_segments(), 2u);
  }
}

// --- order and contents ---

TEST(SendQueue, PushPopKeepsOrderBytesDestinationsAndMeta) {
  SendPool pool;
  ASSERT_TRUE(init_pool(pool, 4));
  SendQueue q;
  ASSERT_TRUE(q.init(pool, 8, 1000).ok());
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.room(), 8u);
  const Address a = addr("127.0.0.1:1");
  const Address b = addr("[::1]:2");
  SendMeta m;
  m.source_family = SendMeta::Source::v6;
  m.traffic_class = 46;
  m.interface_index = 3;
  m.source.s6_addr[15] = 1;
  ASSERT_TRUE(q.push(make_payload(1, 10), a));
  ASSERT_TRUE(q.push(make_payload(2, 20), b, m));
  ASSERT_TRUE(q.push(make_payload(3, 30), a));
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.room(), 5u);
  EXPECT_EQ(q.bytes(), 60u);
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(in_use(pool), 1u);
  auto es = entries_of(q);
  ASSERT_EQ(es.size(), 3u);
  EXPECT_EQ(bytes_of(q, *es[0]), make_payload(1, 10));
  EXPECT_EQ(bytes_of(q, *es[1]), make_payload(2, 20));
  EXPECT_EQ(bytes_of(q, *es[2]), make_payload(3, 30));
  EXPECT_EQ(es[0]->to, a);
  EXPECT_EQ(es[1]->to, b);
  EXPECT_EQ(es[2]->to, a);
  EXPECT_EQ(es[2]->length, 30u);
  EXPECT_TRUE(es[0]->meta.empty());
  EXPECT_EQ(es[1]->meta, m);
  EXPECT_TRUE(es[2]->meta.empty());
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(es[i]->sequence, i);
    EXPECT_EQ(q.iov(*es[i])->iov_base, q.payload(*es[i]));
    EXPECT_EQ(q.iov(*es[i])->iov_len, es[i]->length);
  }
  EXPECT_EQ(&q.front(), es[0]);
  q.pop(1);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.bytes(), 50u);
  EXPECT_EQ(&q.front(), es[1]) << "entries do not move when others are popped";
  EXPECT_EQ(q.front().sequence, 1u);
  EXPECT_EQ(q.front().to, b);
  EXPECT_EQ(q.front().meta, m);
  EXPECT_EQ(bytes_of(q, q.front()), make_payload(2, 20));
  q.pop(0);
  EXPECT_EQ(q.size(), 2u);
  q.pop(5);  // more than queued: everything goes
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.room(), 8u);
  EXPECT_EQ(pool.free_segments(), 4u);
  // A sequence counts the entries pushed before, popped or not.
  ASSERT_TRUE(q.push(make_payload(4, 5), b));
  EXPECT_EQ(q.front().sequence, 3u);
}

TEST(SendQueue, OrderAndContentsSurviveManySegments) {
  SendPool pool;
  ASSERT_TRUE(init_pool(pool, 64));
  SendQueue q;
  ASSERT_TRUE(q.init(pool, 1000, 1u << 24).ok());
  const std::size_t sizes[] = {0, 1, 7, 100, 1500, 9000, 65536, 30000, 40000, 65535, 64, 20000, 0, 0, 8, 1};
  constexpr std::uint64_t count = 150;
  std::size_t total = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::size_t size = sizes[i % std::size(sizes)];
    ASSERT_TRUE(q.push(make_payload(i, size), to_for(i), meta_for(i))) << i;
    total += size;
  }
  EXPECT_EQ(q.size(), count);
  EXPECT_EQ(q.bytes(), total);
  EXPECT_GT(in_use(pool), 20u);
  EXPECT_EQ(segments_of(pool, q).size(), in_use(pool)) << "every segment held has an entry in it";

  auto es = entries_of(q);
  ASSERT_EQ(es.size(), count);
  for (std::uint64_t i = 0; i < count; ++i) {
    const SendEntry& e = *es[i];
    const std::size_t size = sizes[i % std::size(sizes)];
    ASSERT_EQ(e.sequence, i);
    ASSERT_EQ(e.length, size) << i;
    ASSERT_EQ(bytes_of(q, e), make_payload(i, size)) << i;
    ASSERT_EQ(e.to, to_for(i)) << i;
    ASSERT_EQ(e.meta, meta_for(i)) << i;
    ASSERT_EQ(q.iov(e)->iov_base, q.payload(e)) << i;
    ASSERT_EQ(q.iov(e)->iov_len, size) << i;
    // The payload lies inside its segment's payload area.
    const std::byte* area = pool.payload(pool.segment_of(e));
    ASSERT_GE(q.payload(e), area);
    ASSERT_LE(q.payload(e) + size, area + kSegmentPayload);
  }
  EXPECT_EQ(q.after(*es.back(), 1), nullptr) << "nothing past the newest";

  // Runs: within one, entries, iovecs and scratch are consecutive; a run ends with its segment,
  // and after() continues in the next one.
  std::size_t seen = 0;
  std::size_t runs = 0;
  for (SendEntry* e = &q.front(); e != nullptr;) {
    const std::size_t n = q.run_from(*e);
    ASSERT_GE(n, 1u);
    ASSERT_LE(seen + n, count);
    for (std::size_t k = 0; k < n; ++k) {
      ASSERT_EQ(q.after(*e, k), e + k);
      ASSERT_EQ(e + k, es[seen + k]);
      ASSERT_EQ(q.iov(e[k]), q.iov(*e) + k);
      ASSERT_EQ(pool.segment_of(e[k]), pool.segment_of(*e));
      ASSERT_EQ(q.run_from(e[k]), n - k);
    }
    SendEntry* next = q.after(*e, n);
    if (next != nullptr) {
      EXPECT_NE(pool.segment_of(*next), pool.segment_of(*e));
      EXPECT_EQ(next, es[seen + n]);
    }
    seen += n;
    ++runs;
    e = next;
  }
  EXPECT_EQ(seen, count);
  EXPECT_EQ(runs, in_use(pool));

  // Pops of varied counts: the front is always the oldest left, bytes go down exactly.
  std::uint64_t popped = 0;
  for (std::size_t n = 1; popped < count; ++n) {
    const std::size_t here = std::min<std::size_t>(n, count - popped);
    for (std::size_t k = 0; k < here; ++k) total -= sizes[(popped + k) % std::size(sizes)];
    q.pop(here);
    popped += here;
    ASSERT_EQ(q.size(), count - popped);
    ASSERT_EQ(q.bytes(), total);
    EXPECT_EQ(segments_of(pool, q).size(), in_use(pool));
    if (popped < count) {
      ASSERT_EQ(&q.front(), es[popped]) << "entries do not move";
      ASSERT_EQ(q.front().sequence, popped);
      ASSERT_EQ(bytes_of(q, q.front()), make_payload(popped, sizes[popped % std::size(sizes)]));
    }
  }
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(pool.free_segments(), pool.segments());
}

TEST(SendQueue, ARunsPayloadsAreOneSpan) {
  SendPool pool;
  ASSERT_TRUE(init_pool(pool, 2));
  SendQueue q;
  ASSERT_TRUE(q.init(pool, 1000, 1u << 20).ok());
  const Address to = addr("127.0.0.1:9");
  // 54 datagrams of 1200 bytes fill a segment's 64 KiB to 64800; the last of a run may be shorter.
  for (std::uint64_t i = 0; i < 53; ++i) ASSERT_TRUE(q.push(make_payload(i, 1200), to));
  ASSERT_TRUE(q.push(make_payload(53, 700), to));
  const SendEntry* f = &q.front();
  ASSERT_EQ(q.run_from(*f), 54u);
  const iovec whole = q.run_span(*f, 54);
  EXPECT_EQ(whole.iov_base, q.payload(*f));
  ASSERT_EQ(whole.iov_len, 53u * 1200 + 700);
  // The span is the payloads, byte for byte, in order.
  std::vector<std::byte> expected;
  for (std::uint64_t i = 0; i < 54; ++i) {
    const auto p = make_payload(i, i == 53 ? 700 : 1200);
    expected.insert(expected.end(), p.begin(), p.end());
  }
  const auto* base = static_cast<const std::byte*>(whole.iov_base);
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), base));
  const iovec middle = q.run_span(f[10], 5);
  EXPECT_EQ(middle.iov_base, q.payload(f[10]));
  EXPECT_EQ(middle.iov_len, 5u * 1200);
  EXPECT_EQ(q.run_span(*f, 1).iov_len, 1200u);
}

TEST(SendQueue, RunsEndWhereTheirSegmentEnds) {
  SendPool pool;
  ASSERT_TRUE(init_pool(pool, 4));
  SendQueue q;
  ASSERT_TRUE(q.init(pool, 1000, 1u << 20).ok());
  const Address to = addr("127.0.0.1:9");
  // 64 entries fill a segment; the other 36 go to a second.
  for (std::uint64_t i = 0; i < 100; ++i) ASSERT_TRUE(q.push(make_payload(i, 8), to));
  EXPECT_EQ(in_use(pool), 2u);
  SendEntry* f = &q.front();
  EXPECT_EQ(q.run_from(*f), kPerSegment);
  EXPECT_EQ(q.after(*f, 63), f + 63);
  EXPECT_EQ(q.after(*f, 63)->sequence, 63u);
  EXPECT_EQ(q.run_from(*q.after(*f, 63)), 1u);
  EXPECT_EQ(q.run_from(f[10]), 54u);
  SendEntry* s = q.after(*f, 64);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->sequence, 64u);
  EXPECT_EQ(q.after(f[63], 1), s);
  EXPECT_NE(pool.segment_of(*s), pool.segment_of(*f));
  EXPECT_EQ(pool.index_in_segment(*s), 0u);
  EXPECT_EQ(q.run_from(*s), 36u);
  ASSERT_NE(q.after(*s, 35), nullptr);
  EXPECT_EQ(q.after(*s, 35)->sequence, 99u);
  EXPECT_EQ(q.after(*s, 36), nullptr) << "past the newest";
  EXPECT_EQ(q.after(s[35], 1), nullptr);
  // A run shrinks as its front is popped; the entries stay where they are.
  q.pop(10);
  EXPECT_EQ(&q.front(), f + 10);
  EXPECT_EQ(q.front().sequence, 10u);
  EXPECT_EQ(q.run_from(q.front()), 54u);
  EXPECT_EQ(q.after(q.front(), 54), s);
  q.pop(54);
  EXPECT_EQ(&q.front(), s);
  EXPECT_EQ(q.run_from(q.front()), 36u);
  EXPECT_EQ(in_use(pool), 1u);
  // Pushes extend the tail segment's run.
  for (std::uint64_t i = 100; i < 110; ++i) ASSERT_TRUE(q.push(make_payload(i, 8), to));
  EXPECT_EQ(q.run_from(q.front()), 46u);
  EXPECT_EQ(q.after(q.front(), 45)->sequence, 109u);
  q.clear();
  EXPECT_EQ(pool.free_segments(), 4u);

  // The payload area bounds a run too: three 20000-byte payloads fit in a segment, a fourth does not.
  for (std::uint64_t i = 0; i < 7; ++i) ASSERT_TRUE(q.push(make_payload(i, 20000), to));
  EXPECT_EQ(in_use(pool), 3u);
  SendEntry* e = &q.front();
  const std::uint64_t base = e->sequence;  // 110: sequences go on across clear()
  EXPECT_EQ(base, 110u);
  EXPECT_EQ(q.run_from(*e), 3u);
  e = q.after(*e, 3);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->sequence, base + 3);
  EXPECT_EQ(q.run_from(*e), 3u);
  e = q.after(*e, 3);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->sequence, base + 6);
  EXPECT_EQ(q.run_from(*e), 1u);
  EXPECT_EQ(q.after(*e, 1), nullptr);
  q.clear();

  // Exactly 65536 bytes: 65535 and 1 share a segment, 65535 and 2 do not.
  ASSERT_TRUE(q.push(make_payload(1, 65535), to));
  ASSERT_TRUE(q.push(make_payload(2, 1), to));
  EXPECT_EQ(in_use(pool), 1u);
  EXPECT_EQ(q.run_from(q.front()), 2u);
  EXPECT_EQ(q.payload(*q.after(q.front(), 1)), q.payload(q.front()) + 65535) << "payloads are packed";
  ASSERT_TRUE(q.push(make_payload(3, 65535), to));
  ASSERT_TRUE(q.push(make_payload(4, 2), to));
  EXPECT_EQ(in_use(pool), 3u);
  auto es = entries_of(q);
  ASSERT_EQ(es.size(), 4u);
  EXPECT_EQ(q.run_from(*es[2]), 1u);
  EXPECT_EQ(q.run_from(*es[3]), 1u);
  EXPECT_EQ(bytes_of(q, *es[0]), make_payload(1, 65535));
  EXPECT_EQ(bytes_of(q, *es[1]), make_payload(2, 1));
  EXPECT_EQ(bytes_of(q, *es[2]), make_payload(3, 65535));
  EXPECT_EQ(bytes_of(q, *es[3]), make_payload(4, 2));
}

// --- the queue's own limits ---

TEST(SendQueue, EntryLimitRefusesExactly) {
  SendPool pool;
  ASSERT_TRUE(init_pool(pool, 20));
  const Address to = addr("127.0.0.1:9");
  for (std::uint32_t limit : {1u, 3u, 65u, 1000u}) {
    SendQueue q;
    ASSERT_TRUE(q.init(pool, limit, 1u << 24).ok());
    EXPECT_EQ(q.room_for(0), limit);
    EXPECT_EQ(q.room_for(16), limit);
    for (std::uint64_t i = 0; i < limit; ++i) ASSERT_TRUE(q.push(make_payload(i, i % 3 == 0 ? 0 : 16), to)) << i;
    EXPECT_EQ(q.size(), limit);
    EXPECT_EQ(q.room(), 0u);
    EXPECT_EQ(q.room_for(0), 0u);
    EXPECT_EQ(q.room_for(1), 0u);
    EXPECT_FALSE(q.push(make_payload(limit, 16), to)) << limit;
    EXPECT_FALSE(q.push({}, to)) << limit;
    EXPECT_EQ(q.size(), limit);
    q.pop(1);
    EXPECT_EQ(q.room(), 1u);
    EXPECT_EQ(q.room_for(16), 1u);
    ASSERT_TRUE(q.push(make_payload(limit + 1, 16), to));
    EXPECT_FALSE(q.push({}, to));
    // The newest is the one just pushed, the oldest the second pushed.
    auto es = entries_of(q);
    ASSERT_EQ(es.size(), limit);
    EXPECT_EQ(bytes_of(q, *es.back()), make_payload(limit + 1, 16));
    EXPECT_EQ(es.back()->sequence, limit);
    EXPECT_EQ(es.front()->sequence, 1u);
  }
  EXPECT_EQ(pool.free_segments(), 20u) << "each queue gave its segments back when destroyed";
}

TEST(SendQueue, ByteLimitCountsExactly) {
  SendPool pool;
  ASSERT_TRUE(init_pool(pool, 8));
  const Address to = addr("127.0.0.1:9");
  {
    SendQueue q;
    ASSERT_TRUE(q.init(pool, 16, 100).ok());
    EXPECT_EQ(q.room_for(100), 1u);
    EXPECT_EQ(q.room_for(101), 0u);
    EXPECT_EQ(q.room_for(10), 10u);
    EXPECT_EQ(q.room_for(33), 3u);
    ASSERT_TRUE(q.push(make_payload(1, 60), to));
    EXPECT_EQ(q.bytes(), 60u);
    EXPECT_EQ(q.room_for(40), 1u);
    EXPECT_EQ(q.room_for(41), 0u);
    EXPECT_EQ(q.room_for(13), 3u);
    EXPECT_FALSE(q.push(make_payload(2, 41), to));
    ASSERT_TRUE(q.push(make_payload(3, 40), to));
    EXPECT_EQ(q.bytes(), 100u);
    EXPECT_EQ(q.room_for(1), 0u);
    EXPECT_FALSE(q.push(make_payload(4, 1), to));
    EXPECT_EQ(q.room_for(0), 14u) << "entries are free; bytes are not";
    ASSERT_TRUE(q.push({}, to));
    EXPECT_EQ(q.size(), 3u);
    EXPECT_EQ(q.room(), 13u);
    auto es = entries_of(q);
    ASSERT_EQ(es.size(), 3u);
    EXPECT_EQ(bytes_of(q, *es[0]), make_payload(1, 60));
    EXPECT_EQ(bytes_of(q, *es[1]), make_payload(3, 40));
    EXPECT_EQ(es[2]->length, 0u);
    q.pop(1);
    EXPECT_EQ(q.bytes(), 40u);
    EXPECT_EQ(q.room_for(60), 1u);
    EXPECT_EQ(q.room_for(61), 0u);
    ASSERT_TRUE(q.push(make_payload(5, 60), to));
    EXPECT_FALSE(q.push(make_payload(6, 1), to));
  }
  {
    // A limit that is no multiple of anything, and larger than a segment: exact to the byte.
    SendQueue q;
    ASSERT_TRUE(q.init(pool, 100, 100001).ok());
    EXPECT_EQ(q.room_for(65536), 1u);
    EXPECT_EQ(q.room_for(50000), 2u);
    EXPECT_EQ(q.room_for(50001), 1u);
    ASSERT_TRUE(q.push(make_payload(1, 65536), to));
    EXPECT_EQ(q.room_for(34465), 1u);
    EXPECT_EQ(q.room_for(34466), 0u);
    EXPECT_FALSE(q.push(make_payload(2, 34466), to));
    ASSERT_TRUE(q.push(make_payload(3, 34465), to));
    EXPECT_EQ(q.bytes(), 100001u);
    EXPECT_EQ(q.room_for(1), 0u);
    EXPECT_FALSE(q.push(make_payload(4, 1), to));
    ASSERT_TRUE(q.push({}, to)) << "a zero-length payload takes no bytes";
    EXPECT_EQ(q.bytes(), 100001u);
    q.pop(1);
    EXPECT_EQ(q.bytes(), 34465u);
    EXPECT_EQ(q.room_for(65536), 1u);
    ASSERT_TRUE(q.push(make_payload(5, 65536), to));
    EXPECT_EQ(q.bytes(), 100001u);
  }
  EXPECT_EQ(pool.free_segments(), 8u);
}

TEST(SendQueue, OversizedPayloadIsRefusedAndChangesNothing) {
  SendPool pool;
  ASSERT_TRUE(init_pool(pool, 4));
  SendQueue q;
  ASSERT_TRUE(q.init(pool, 4, 1u << 20).ok());
  const Address to = addr("127.0.0.1:9");
  EXPECT_EQ(q.room_for(kSegmentPayload + 1), 0u);
  EXPECT_FALSE(q.push(make_payload(1, kSegmentPayload + 1), to));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(pool.free_segments(), 4u) << "a refusal draws no segment";
  EXPECT_EQ(q.room_for(kSegmentPayload), 4u);
  ASSERT_TRUE(q.push(make_payload(2, kSegmentPayload), to));
  EXPECT_EQ(bytes_of(q, q.front()), make_payload(2, kSegmentPayload));
  EXPECT_EQ(q.front().sequence, 0u);
  EXPECT_FALSE(q.push(make_payload(3, 200000), to));
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.bytes(), kSegmentPayload);
  EXPECT_EQ(in_use(pool), 1u);
  // A payload larger than the queue's byte limit is refused as well.
  SendQueue small;
  ASSERT_TRUE(small.init(pool, 4, 100).ok());
  EXPECT_FALSE(small.push(make_payload(4, 101), to));
  ASSERT_TRUE(small.push(make_payload(5, 100), to));  // exactly the limit fits an empty queue
  EXPECT_EQ(bytes_of(small, small.front()), make_payload(5, 100));
}

TEST(SendQueue, ZeroLengthPayloadsTakeAnEntryButNoBytes) {
  SendPool pool;
  ASSERT_TRUE(init_pool(pool, 4));
  SendQueue q;
  ASSERT_TRUE(q.init(pool, 200, 10).ok());
  const Address to = addr("127.0.0.1:9");
  ASSERT_TRUE(q.push(make_payload(1, 10), to));  // bytes full
  EXPECT_EQ(q.room_for(1), 0u);
  EXPECT_EQ(q.room_for(0), 199u);
  for (int i = 0; i < 63; ++i) ASSERT_TRUE(q.push({}, to)) << i;
  EXPECT_EQ(in_use(pool), 1u) << "64 entries share a segment";
  EXPECT_EQ(q.bytes(), 10u);
  ASSERT_TRUE(q.push({}, to));
  EXPECT_EQ(in_use(pool), 2u) << "the 65th entry needs another";
  auto es = entries_of(q);
  ASSERT_EQ(es.size(), 65u);
  for (std::size_t i = 1; i < es.size(); ++i) {
    EXPECT_EQ(es[i]->length, 0u);
    EXPECT_EQ(q.iov(*es[i])->iov_len, 0u);
    EXPECT_EQ(q.iov(*es[i])->iov_base, q.payload(*es[i]));
    EXPECT_NE(q.payload(*es[i]), nullptr);
  }
  EXPECT_EQ(bytes_of(q, *es[0]), make_payload(1, 10));
  q.pop(1);
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.room_for(10), 1u);
  ASSERT_TRUE(q.push(make_payload(2, 10), to));
  EXPECT_EQ(bytes_of(q, *entries_of(q).back()), make_payload(2, 10));
  EXPECT_EQ(entries_of(q).back()->sequence, 65u);
}

// --- segments ---

TEST(SendQueue, SegmentsGoBackTheMomentTheirLastEntryIsPopped) {
  SendPool pool;
  ASSERT_TRUE(init_pool(pool, 8));
  const Address to = addr("127.0.0.1:9");
  {
    SendQueue q;
    ASSERT_TRUE(q.init(pool, 1000, 1u << 24).ok());
    EXPECT_EQ(pool.free_segments(), 8u) << "an empty queue holds no segment";
    for (std::uint64_t i = 0; i < 65; ++i) ASSERT_TRUE(q.push(make_payload(i, 8), to));
    EXPECT_EQ(pool.free_segments(), 6u);
    q.pop(63);
    EXPECT_EQ(pool.free_segments(), 6u) << "one entry left in the first segment";
    q.pop(1);
    EXPECT_EQ(pool.free_segments(), 7u) << "its last entry popped, the first segment is back";
    q.pop(1);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(pool.free_segments(), 8u) << "an emptied queue holds no segment, not even its tail";
    // clear() gives everything back.
    for (std::uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(q.push(make_payload(i, 30000), to));
    EXPECT_EQ(pool.free_segments(), 5u);
    q.clear();
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.bytes(), 0u);
    EXPECT_EQ(pool.free_segments(), 8u);
    // A partly popped tail segment stays with the queue, and pushes continue in it.
    for (std::uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(q.push(make_payload(i, 100), to));
    const std::uint32_t seg = pool.segment_of(q.front());
    q.pop(9);
    EXPECT_EQ(pool.free_segments(), 7u);
    ASSERT_TRUE(q.push(make_payload(10, 100), to));
    EXPECT_EQ(pool.segment_of(*q.after(q.front(), 1)), seg);
    EXPECT_EQ(q.payload(*q.after(q.front(), 1)), q.payload(q.front()) + 100) << "after the popped ones' payloads";
    // Destroyed with entries queued: its segments go back.
    for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(q.push(make_payload(i, 65536), to));
    EXPECT_EQ(pool.free_segments(), 3u);
  }
  EXPECT_EQ(pool.free_segments(), 8u);
  // Re-init of a queue with entries queued gives its segments back too.
  SendQueue q;
  ASSERT_TRUE(q.init(pool, 10, 1000).ok());
  ASSERT_TRUE(q.push(make_payload(1, 10), to));
  EXPECT_EQ(pool.free_segments(), 7u);
  ASSERT_TRUE(q.init(pool, 20, 2000).ok());
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.capacity(), 20u);
  EXPECT_EQ(pool.free_segments(), 8u);
}

TEST(SendQueue, TheSegmentFreedLastIsReusedFirst) {
  SendPool pool;
  ASSERT_TRUE(init_pool(pool, 6));
  SendQueue a;
  SendQueue b;
  ASSERT_TRUE(a.init(pool, 100, 1u << 24).ok());
  ASSERT_TRUE(b.init(pool, 100, 1u << 24).ok());
  const Address to = addr("127.0.0.1:9");
  // A fresh pool hands out its segments from the start of the mapping.
  ASSERT_TRUE(a.push(make_payload(1, 65536), to));
  ASSERT_TRUE(b.push(make_payload(2, 65536), to));
  ASSERT_TRUE(a.push(make_payload(3, 65536), to));
  EXPECT_EQ(pool.segment_of(a.front()), 0u);
  EXPECT_EQ(a.slot_of(a.front()), 0u);
  EXPECT_EQ(pool.segment_of(b.front()), 1u);
  EXPECT_EQ(b.slot_of(b.front()), SendPool::entries_per_segment);
  EXPECT_EQ(pool.segment_of(*a.after(a.front(), 1)), 2u);
  const SendEntry* first = &a.front();
  const std::byte* first_payload = a.payload(a.front());
  // a's first segment goes back; b's next push takes it, not the untouched segment 3.
  a.pop(1);
  ASSERT_TRUE(b.push(make_payload(4, 65536), to));
  SendEntry* newest = b.after(b.front(), 1);
  ASSERT_NE(newest, nullptr);
  EXPECT_EQ(newest, first);
  EXPECT_EQ(b.payload(*newest), first_payload);
  EXPECT_EQ(&b.at_slot(0), newest);
  EXPECT_EQ(b.slot_of(*newest), 0u);
  EXPECT_EQ(bytes_of(b, *newest), make_payload(4, 65536));
  EXPECT_EQ(newest->sequence, 1u);
  // Freed 2, then 1: 1 comes back first, then 2, then the untouched 3.
  a.pop(1);  // a empty: segment 2
  b.pop(1);  // segment 1, b keeps 0
  ASSERT_TRUE(a.push(make_payload(5, 65536), to));
  EXPECT_EQ(pool.segment_of(a.front()), 1u);
  ASSERT_TRUE(a.push(make_payload(6, 65536), to));
  EXPECT_EQ(pool.segment_of(*a.after(a.front(), 1)), 2u);
  ASSERT_TRUE(a.push(make_payload(7, 65536), to));
  EXPECT_EQ(pool.segment_of(*a.after(*a.after(a.front(), 1), 1)), 3u) << "then the untouched ones, in order";
  // A queue emptied in one pop gives its segments back oldest first: the newest is reused first.
  a.clear();  // releases 1, 2, 3
  ASSERT_TRUE(b.push(make_payload(8, 65536), to));
  EXPECT_EQ(pool.segment_of(*b.after(b.front(), 1)), 3u);
}

TEST(SendQueue, SlotsFindEntriesAgainAndAreUniqueInTheWorker) {
  SendPool pool;
  ASSERT_TRUE(init_pool(pool, 8));
  SendQueue a;
  SendQueue b;
  ASSERT_TRUE(a.init(pool, 1000, 1u << 24).ok());
  ASSERT_TRUE(b.init(pool, 1000, 1u << 24).ok());
  // Interleaved pushes: the two queues' segments alternate in the pool.
  for (std::uint64_t i = 0; i < 150; ++i) {
    ASSERT_TRUE(a.push(make_payload(i, i % 5 == 0 ? 3000 : 16), to_for(i)));
    ASSERT_TRUE(b.push(make_payload(i + 1000, 16), to_for(i)));
  }
  std::set<std::uint32_t> slots;
  struct Recorded {
    const SendQueue* q;
    std::uint64_t sequence;
    const SendEntry* e;
    std::uint32_t slot;
  };
  std::vector<Recorded> recorded;
  for (const SendQueue* q : {&a, &b}) {
    for (const SendEntry* e : entries_of(*q)) {
      const std::uint32_t slot = q->slot_of(*e);
      EXPECT_TRUE(slots.insert(slot).second) << "slot " << slot << " twice";
      EXPECT_LT(slot, pool.segments() * SendPool::entries_per_segment);
      EXPECT_EQ(&q->at_slot(slot), e);
      EXPECT_EQ(&a.at_slot(slot), e) << "any queue of the pool finds it";
      EXPECT_EQ(slot, pool.segment_of(*e) * SendPool::entries_per_segment + pool.index_in_segment(*e));
      recorded.push_back({q, e->sequence, e, slot});
    }
  }
  EXPECT_EQ(slots.size(), 300u);
  EXPECT_GT(segments_of(pool, a).size(), 1u);
  EXPECT_GT(segments_of(pool, b).size(), 1u);
  // Slots do not change while an entry stays queued, whatever else comes and goes.
  a.pop(70);
  for (std::uint64_t i = 0; i < 40; ++i) ASSERT_TRUE(b.push(make_payload(i + 2000, 16), to_for(i)));
  b.pop(10);
  std::size_t still = 0;
  for (const auto& [q, sequence, e, slot] : recorded) {
    for (const SendEntry* now : entries_of(*q)) {
      if (now->sequence != sequence) continue;
      EXPECT_EQ(now, e) << "sequence " << sequence << " moved";
      EXPECT_EQ(q->slot_of(*now), slot);
      EXPECT_EQ(&q->at_slot(slot), now);
      ++still;
    }
  }
  EXPECT_EQ(still, 300u - 70u - 10u);
}

TEST(SendQueue, ScratchIsPerEntryAndStaysWhileQueued) {
  struct Scratch {
    std::uint64_t tag;
    std::uint64_t check;
  };
  SendPool pool;
  ASSERT_TRUE(init_pool(pool, 8, sizeof(Scratch)));
  SendQueue a;
  SendQueue b;
  ASSERT_TRUE(a.init(pool, 1000, 1u << 24).ok());
  ASSERT_TRUE(b.init(pool, 1000, 1u << 24).ok());
  auto tag = [](int q, std::uint64_t seq) { return (std::uint64_t(q) << 48) | seq; };
  auto push = [&](SendQueue& q, int which, std::size_t size) {
    if (!q.push(make_payload(0, size), addr("127.0.0.1:9"))) return false;
    SendEntry& e = *entries_of(q).back();
    Scratch& s = q.scratch<Scratch>(e);
    s.tag = tag(which, e.sequence);
    s.check = ~s.tag;
    return true;
  };
  auto verify = [&](const SendQueue& q, int which) {
    std::set<const void*> seen;
    const SendEntry* prev = nullptr;
    for (const SendEntry* e : entries_of(q)) {
      Scratch& s = q.scratch<Scratch>(*e);
      EXPECT_EQ(s.tag, tag(which, e->sequence)) << "queue " << which << " entry " << e->sequence;
      EXPECT_EQ(s.check, ~tag(which, e->sequence));
      EXPECT_TRUE(seen.insert(&s).second);
      if (prev != nullptr && pool.segment_of(*prev) == pool.segment_of(*e)) {
        EXPECT_EQ(reinterpret_cast<const std::byte*>(&s) - reinterpret_cast<const std::byte*>(&q.scratch<Scratch>(*prev)),
                  static_cast<std::ptrdiff_t>(sizeof(Scratch)))
            << "a run's scratch is consecutive";
      }
      prev = e;
    }
  };
  for (std::uint64_t i = 0; i < 100; ++i) {
    ASSERT_TRUE(push(a, 1, i % 7 == 0 ? 3000 : 10));
    ASSERT_TRUE(push(b, 2, 10));
  }
  verify(a, 1);
  verify(b, 2);
  a.pop(33);
  b.pop(64);
  for (std::uint64_t i = 0; i < 60; ++i) {
    ASSERT_TRUE(push(b, 2, 10));
    ASSERT_TRUE(push(a, 1, 100));
  }
  a.pop(5);
  verify(a, 1);
  verify(b, 2);
  // A segment reused by another queue: the entry's scratch is its own again.
  a.clear();
  for (std::uint64_t i = 0; i < 70; ++i) ASSERT_TRUE(push(b, 2, 1000));
  verify(b, 2);
}

// --- the pool as the limit ---

TEST(SendQueue, ASharedPoolLimitsEveryQueueAndRoomForKnows) {
  SendPool pool;
  ASSERT_TRUE(init_pool(pool, 3));
  SendQueue a;
  SendQueue b;
  ASSERT_TRUE(a.init(pool, 1000, 1u << 24).ok());
  ASSERT_TRUE(b.init(pool, 1000, 1u << 24).ok());
  const Address to = addr("127.0.0.1:9");
  EXPECT_EQ(a.room_for(65536), 3u);
  EXPECT_EQ(a.room_for(32768), 6u);
  EXPECT_EQ(a.room_for(1), 192u);
  EXPECT_EQ(a.room_for(0), 192u);
  ASSERT_TRUE(a.push(make_payload(1, 65536), to));
  ASSERT_TRUE(a.push(make_payload(2, 65536), to));
  // One segment left, for either queue.
  EXPECT_EQ(a.room_for(65536), 1u);
  EXPECT_EQ(b.room_for(65536), 1u);
  EXPECT_EQ(b.room_for(1), 64u);
  EXPECT_EQ(a.room_for(1), 64u) << "a's tail has entries left but no payload bytes";
  EXPECT_EQ(a.room_for(0), 63u + 64u) << "a's tail takes empty payloads, then the free segment";
  EXPECT_EQ(b.room_for(0), 64u);
  ASSERT_TRUE(b.push(make_payload(3, 100), to));
  EXPECT_EQ(pool.free_segments(), 0u);
  // The pool is exhausted: only what fits in a queue's tail segment is still accepted.
  EXPECT_EQ(a.room_for(65536), 0u);
  EXPECT_EQ(a.room_for(1), 0u);
  EXPECT_FALSE(a.push(make_payload(4, 1), to));
  EXPECT_EQ(b.room_for(65436), 1u);
  EXPECT_EQ(b.room_for(65437), 0u);
  EXPECT_EQ(b.room_for(100), 63u);
  EXPECT_EQ(b.room_for(1000), 63u);
  EXPECT_EQ(b.room_for(2000), 32u);
  EXPECT_FALSE(b.push(make_payload(5, 65437), to));
  EXPECT_EQ(a.room_for(0), 63u);
  ASSERT_TRUE(a.push({}, to));
  EXPECT_EQ(a.room_for(0), 62u);
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(b.size(), 1u);
  // Popping a's first segment frees it for b.
  a.pop(1);
  EXPECT_EQ(pool.free_segments(), 1u);
  EXPECT_EQ(b.room_for(65437), 1u);
  EXPECT_EQ(b.room_for(65536), 1u);
  ASSERT_TRUE(b.push(make_payload(6, 65536), to));
  EXPECT_EQ(pool.free_segments(), 0u);
  EXPECT_EQ(b.room_for(65536), 0u);
  EXPECT_FALSE(b.push(make_payload(7, 65536), to));
  auto es = entries_of(b);
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(bytes_of(b, *es[0]), make_payload(3, 100));
  EXPECT_EQ(bytes_of(b, *es[1]), make_payload(6, 65536));
  a.clear();
  EXPECT_EQ(pool.free_segments(), 1u);
  b.clear();
  EXPECT_EQ(pool.free_segments(), 3u);
}

// --- a random walk against a model ---

// Payloads of the walk are windows of one random buffer: cheap to make and to compare, and a
// misplaced byte shows.
const std::vector<std::byte>& source() {
  static const std::vector<std::byte> bytes = [] {
    std::vector<std::byte> b(2 * kSegmentPayload + 4096);
    std::mt19937 rng(12345);
    for (auto& x : b) x = static_cast<std::byte>(rng() & 0xff);
    return b;
  }();
  return bytes;
}

struct Limits {
  std::uint32_t entries;
  std::uint32_t bytes;
};

struct Walk {
  std::size_t pool_segments;
  std::vector<Limits> queues;
  unsigned seed;
  int steps;
  std::size_t max_small;          // the common sizes: 1..max_small
  bool small_only = false;        // no large payloads at all
  bool expect_pool_refusals = false;
  bool expect_entry_refusals = false;
  bool expect_byte_refusals = false;
};

struct WalkScratch {
  std::uint64_t tag;
};

struct ModelEntry {
  std::uint64_t sequence;
  std::size_t size;
  std::size_t source_offset;
  Address to;
  SendMeta meta;
  std::uint32_t segment;  // where the packing rule puts it
  std::uint32_t index;
  std::uint32_t offset;  // of its payload in the segment's payload area
  std::uint64_t tag;
};

struct ModelSegment {
  std::uint32_t id;
  std::uint32_t end = 0;   // entries written
  std::uint32_t used = 0;  // payload bytes written
  std::uint32_t live = 0;  // entries still queued
};

struct ModelQueue {
  Limits limits;
  std::deque<ModelEntry> entries;
  std::deque<ModelSegment> segments;
  std::size_t bytes = 0;
  std::uint64_t pushed = 0;
};

enum class Refusal { none, entries, bytes, oversize, pool };

// What push(size) would do: accepted (none) or why not. `in_tail`: whether it goes to the tail.
Refusal model_push_outcome(const ModelQueue& m, std::size_t free_segments, std::size_t size, bool* in_tail) {
  *in_tail = !m.segments.empty() && m.segments.back().end < kPerSegment && kSegmentPayload - m.segments.back().used >= size;
  if (m.entries.size() == m.limits.entries) return Refusal::entries;
  if (size > kSegmentPayload) return Refusal::oversize;
  if (size > m.limits.bytes - m.bytes) return Refusal::bytes;
  if (!*in_tail && free_segments == 0) return Refusal::pool;
  return Refusal::none;
}

// How many payloads of `size` push() would take, by simulating the packing rule.
std::size_t model_room_for(const ModelQueue& m, std::size_t free_segments, std::size_t size) {
  if (size > kSegmentPayload) return 0;
  std::size_t n = 0;
  std::size_t count = m.entries.size();
  std::size_t bytes = m.bytes;
  bool have_tail = !m.segments.empty();
  std::uint32_t end = have_tail ? m.segments.back().end : 0;
  std::uint32_t used = have_tail ? m.segments.back().used : 0;
  for (;;) {
    if (count == m.limits.entries || size > m.limits.bytes - bytes) return n;
    if (!have_tail || end == kPerSegment || kSegmentPayload - used < size) {
      if (free_segments == 0) return n;
      --free_segments;
      have_tail = true;
      end = 0;
      used = 0;
    }
    ++end;
    used += static_cast<std::uint32_t>(size);
    ++count;
    bytes += size;
    ++n;
  }
}

// Checks the queue against its model, entry by entry, as a backend walks it. Plain comparisons,
// reported on the first difference: this runs at every step.
testing::AssertionResult matches(const SendPool& pool, const SendQueue& q, const ModelQueue& m) {
  if (q.size() != m.entries.size()) return testing::AssertionFailure() << "size " << q.size() << ", model " << m.entries.size();
  if (q.empty() != m.entries.empty()) return testing::AssertionFailure() << "empty() wrong";
  if (q.bytes() != m.bytes) return testing::AssertionFailure() << "bytes " << q.bytes() << ", model " << m.bytes;
  if (q.room() != m.limits.entries - m.entries.size()) return testing::AssertionFailure() << "room " << q.room();
  if (q.capacity() != m.limits.entries) return testing::AssertionFailure() << "capacity " << q.capacity();
  const auto es = entries_of(q, m.entries.size() + 1);
  if (es.size() != m.entries.size()) {
    return testing::AssertionFailure() << "front()/after() reach " << es.size() << " entries, model " << m.entries.size();
  }
  std::size_t seg = 0;  // the model segment of entry k
  for (std::size_t k = 0; k < es.size(); ++k) {
    const SendEntry& e = *es[k];
    const ModelEntry& x = m.entries[k];
    while (m.segments[seg].id != x.segment) ++seg;  // entries are in segment order
    const ModelSegment& ms = m.segments[seg];
    auto fail = [&] { return testing::AssertionFailure() << "entry " << k << " (sequence " << x.sequence << "): "; };
    if (e.sequence != x.sequence) return fail() << "sequence " << e.sequence;
    if (e.length != x.size) return fail() << "length " << e.length << ", model " << x.size;
    if (!(e.to == x.to)) return fail() << "destination " << e.to.to_string() << ", model " << x.to.to_string();
    if (!(e.meta == x.meta)) return fail() << "meta differs";
    if (pool.segment_of(e) != x.segment) return fail() << "in segment " << pool.segment_of(e) << ", model " << x.segment;
    if (pool.index_in_segment(e) != x.index) return fail() << "at index " << pool.index_in_segment(e) << ", model " << x.index;
    if (q.payload(e) != pool.payload(x.segment) + x.offset) {
      return fail() << "payload at " << (q.payload(e) - pool.payload(x.segment)) << ", model " << x.offset;
    }
    const iovec* v = q.iov(e);
    if (v->iov_base != q.payload(e) || v->iov_len != x.size) return fail() << "iovec differs from the payload";
    const std::uint32_t slot = q.slot_of(e);
    if (slot != x.segment * kPerSegment + x.index) return fail() << "slot " << slot;
    if (&q.at_slot(slot) != &e) return fail() << "at_slot(slot_of(e)) is another entry";
    if (q.scratch<WalkScratch>(e).tag != x.tag) return fail() << "scratch " << q.scratch<WalkScratch>(e).tag << ", written " << x.tag;
    const std::size_t run = q.run_from(e);
    if (run != ms.end - x.index) return fail() << "run_from " << run << ", model " << (ms.end - x.index);
    const SendEntry* past = q.after(e, run);
    const SendEntry* want = nullptr;
    if (seg + 1 < m.segments.size()) {
      // The first queued entry of the next segment.
      const std::size_t next = k + (ms.end - x.index);
      if (next >= es.size()) return fail() << "model segments out of step";
      want = es[next];
    }
    if (past != want) return fail() << "after(e, run_from(e)) is not the next segment's first entry";
    if (k + 1 < es.size() && m.entries[k + 1].segment == x.segment && es[k + 1] != &e + 1) {
      return fail() << "the next entry of the same segment is not adjacent";
    }
    if (k + 1 < es.size() && m.entries[k + 1].segment == x.segment && q.iov(*es[k + 1]) != q.iov(e) + 1) {
      return fail() << "iovecs of a run are not consecutive";
    }
  }
  if (!es.empty() && q.after(*es.back(), 1) != nullptr) return testing::AssertionFailure() << "an entry past the newest";
  return testing::AssertionSuccess();
}

// A random walk over queues sharing one pool: pushes of sizes from 0 to past 65536, pops of varied
// counts, clears, and fills to the brim with one size. The model packs entries as the queue must
// (a new segment when the tail has no entry or payload room left, from the top of a LIFO stack of
// free segments; a segment back on the stack once its last entry is popped), so that every step
// checks each entry's place, slot, run, iovec and scratch, the pool's free count, and room_for()
// against a simulation of pushes; payloads are compared byte for byte as they are popped.
void random_walk(const Walk& w) {
  SendPool pool;
  ASSERT_TRUE(init_pool(pool, w.pool_segments, sizeof(WalkScratch)));
  std::vector<std::unique_ptr<SendQueue>> queues;
  std::vector<ModelQueue> models;
  for (const Limits& l : w.queues) {
    queues.push_back(std::make_unique<SendQueue>());
    ASSERT_TRUE(queues.back()->init(pool, l.entries, l.bytes).ok());
    models.push_back(ModelQueue{l, {}, {}, 0, 0});
  }
  // The pool's free stack: segment 0 on top at first, the most recently freed on top after.
  std::vector<std::uint32_t> free_stack;
  for (std::size_t i = w.pool_segments; i-- > 0;) free_stack.push_back(static_cast<std::uint32_t>(i));

  std::mt19937 rng(w.seed);
  std::uint64_t accepted = 0;
  std::uint64_t refused[5] = {};
  std::uint64_t popped = 0;
  std::uint64_t brim_fills = 0;
  std::uint64_t tail_reuse = 0;  // pushes that went into a segment the queue already held
  std::uint64_t multi = 0;       // steps where some queue held more than one segment

  auto next_size = [&]() -> std::size_t {
    const unsigned r = rng() % 40;
    if (r < 4) return 0;
    if (w.small_only || r >= 20) return 1 + rng() % w.max_small;
    if (r < 7) return kSegmentPayload - rng() % 3;  // 65534..65536
    if (r == 7) return kSegmentPayload + 1 + rng() % 1000;  // too large
    if (r < 12) return 20000 + rng() % 30000;
    return 1 + rng() % 16384;
  };

  // Pushes one payload; checks the outcome and room_for's prediction against the model.
  // With `exact_room`, room_for's count is checked too (else only whether it is zero).
  auto push = [&](std::size_t qi, std::size_t size, int step, bool exact_room) -> testing::AssertionResult {
    SendQueue& q = *queues[qi];
    ModelQueue& m = models[qi];
    const std::size_t predicted = q.room_for(size);
    const std::size_t want_room = exact_room ? model_room_for(m, free_stack.size(), size) : predicted;
    if (predicted != want_room) {
      return testing::AssertionFailure() << "step " << step << " queue " << qi << ": room_for(" << size << ") = " << predicted
                                         << ", model " << want_room << " (" << m.entries.size() << " queued, " << m.bytes
                                         << " bytes, " << free_stack.size() << " free segments)";
    }
    bool in_tail = false;
    const Refusal why = model_push_outcome(m, free_stack.size(), size, &in_tail);
    const std::size_t offset = (m.pushed * 7919 + qi * 104729 + size) % (source().size() - kSegmentPayload - 1000);
    const std::span<const std::byte> payload(source().data() + offset, size);
    const Address to = to_for(m.pushed + qi);
    const SendMeta meta = meta_for(m.pushed + qi * 3);
    const bool ok = q.push(payload, to, meta);
    if (ok != (predicted > 0)) {
      return testing::AssertionFailure() << "step " << step << " queue " << qi << ": room_for(" << size << ") = " << predicted
                                         << " but push returned " << ok;
    }
    if (ok != (why == Refusal::none)) {
      return testing::AssertionFailure() << "step " << step << " queue " << qi << ": push(" << size << ") returned " << ok
                                         << ", model refusal " << static_cast<int>(why);
    }
    if (!ok) {
      ++refused[static_cast<int>(why)];
      return testing::AssertionSuccess();
    }
    ++accepted;
    if (in_tail) {
      ++tail_reuse;
    } else {
      m.segments.push_back(ModelSegment{free_stack.back()});
      free_stack.pop_back();
    }
    ModelSegment& s = m.segments.back();
    ModelEntry x{m.pushed, size, offset, to, meta, s.id, s.end, s.used, (std::uint64_t{qi} << 56) ^ (m.pushed * 0x9E3779B97F4A7C15ull)};
    ++s.end;
    s.used += static_cast<std::uint32_t>(size);
    ++s.live;
    m.bytes += size;
    ++m.pushed;
    // The newest, where the model says it went (matches() checks that the queue agrees).
    SendEntry& e = pool.entries(x.segment)[x.index];
    if (e.sequence != x.sequence || e.length != x.size) {
      return testing::AssertionFailure() << "step " << step << ": the newest is not where the packing rule puts it";
    }
    q.scratch<WalkScratch>(e).tag = x.tag;
    m.entries.push_back(x);
    return testing::AssertionSuccess();
  };

  // Pops n after checking their payloads byte for byte (every payload is read once, when it goes).
  auto pop = [&](std::size_t qi, std::size_t n) -> testing::AssertionResult {
    SendQueue& q = *queues[qi];
    ModelQueue& m = models[qi];
    n = std::min(n, m.entries.size());
    const auto es = entries_of(q, n);
    for (std::size_t k = 0; k < n; ++k) {
      const ModelEntry& x = m.entries[k];
      if (std::memcmp(q.payload(*es[k]), source().data() + x.source_offset, x.size) != 0) {
        return testing::AssertionFailure() << "queue " << qi << " sequence " << x.sequence << ": payload of " << x.size
                                           << " bytes changed while queued";
      }
    }
    q.pop(n);
    for (std::size_t k = 0; k < n; ++k) {
      const ModelEntry x = m.entries.front();
      m.entries.pop_front();
      m.bytes -= x.size;
      ModelSegment& s = m.segments.front();
      if (s.id != x.segment) return testing::AssertionFailure() << "model segments out of step";
      if (--s.live == 0) {
        free_stack.push_back(s.id);
        m.segments.pop_front();
      }
    }
    popped += n;
    return testing::AssertionSuccess();
  };

  for (int step = 0; step < w.steps; ++step) {
    const std::size_t qi = rng() % queues.size();
    const unsigned op = rng() % 100;
    if (op < 55) {
      ASSERT_TRUE(push(qi, next_size(), step, true));
    } else if (op < 85) {
      if (!models[qi].entries.empty()) {
        const std::size_t size = models[qi].entries.size();
        const std::size_t n = rng() % 4 == 0 ? 1 + rng() % size : 1 + rng() % std::min<std::size_t>(size, 8);
        ASSERT_TRUE(pop(qi, n));
      }
    } else if (op < 88) {
      ASSERT_TRUE(pop(qi, models[qi].entries.size()));  // as clear() does, with the payloads checked
      queues[qi]->clear();
      ASSERT_TRUE(queues[qi]->empty());
    } else {
      // Fill to the brim with one size: exactly room_for(size) pushes succeed, one more fails.
      std::size_t size = next_size();
      if (size > kSegmentPayload) size = kSegmentPayload;
      const std::size_t room = queues[qi]->room_for(size);
      ASSERT_EQ(room, model_room_for(models[qi], free_stack.size(), size)) << "step " << step;
      for (std::size_t i = 0; i < room; ++i) {
        ASSERT_TRUE(push(qi, size, step, false));
      }
      const std::size_t before = queues[qi]->size();
      ASSERT_EQ(queues[qi]->room_for(size), 0u) << "step " << step;
      ASSERT_TRUE(push(qi, size, step, true));  // checks that it is refused
      ASSERT_EQ(queues[qi]->size(), before) << "step " << step << ": one more push than room_for(" << size << ") = " << room
                                            << " succeeded";
      ++brim_fills;
    }
    // Every queue as its model says, and the pool's free count.
    std::size_t held = 0;
    for (std::size_t i = 0; i < queues.size(); ++i) {
      ASSERT_TRUE(matches(pool, *queues[i], models[i])) << "step " << step << " queue " << i;
      held += models[i].segments.size();
      if (models[i].segments.size() > 1) ++multi;
    }
    ASSERT_EQ(pool.free_segments(), free_stack.size()) << "step " << step;
    ASSERT_EQ(held + free_stack.size(), w.pool_segments);
  }

  // The walk must have exercised what it claims to.
  EXPECT_GT(accepted, static_cast<std::uint64_t>(w.steps) / 4);
  EXPECT_GT(popped, accepted / 2);
  EXPECT_GT(brim_fills, 0u);
  EXPECT_GT(tail_reuse, 0u);
  EXPECT_GT(multi, 0u);
  if (!w.small_only) {
    EXPECT_GT(refused[static_cast<int>(Refusal::oversize)], 0u);
  }
  if (w.expect_pool_refusals) {
    EXPECT_GT(refused[static_cast<int>(Refusal::pool)], 0u);
  }
  if (w.expect_entry_refusals) {
    EXPECT_GT(refused[static_cast<int>(Refusal::entries)], 0u);
  }
  if (w.expect_byte_refusals) {
    EXPECT_GT(refused[static_cast<int>(Refusal::bytes)], 0u);
  }

  // Drained, every segment is back, and a queue takes a full-size payload again.
  for (std::size_t i = 0; i < queues.size(); ++i) ASSERT_TRUE(pop(i, models[i].entries.size()));
  EXPECT_EQ(pool.free_segments(), w.pool_segments);
  EXPECT_TRUE(queues[0]->push(std::span<const std::byte>(source().data(), std::min<std::size_t>(kSegmentPayload, w.queues[0].bytes)),
                              Address::ipv4_loopback(1)));
  queues.clear();
  EXPECT_EQ(pool.free_segments(), w.pool_segments) << "destroyed queues give their segments back";
}

TEST(SendQueue, RandomWalkEntryBound) {
  random_walk({.pool_segments = 64, .queues = {{100, 1u << 24}}, .seed = 1, .steps = 3000, .max_small = 300,
               .expect_entry_refusals = true});
}

TEST(SendQueue, RandomWalkByteBound) {
  random_walk({.pool_segments = 64, .queues = {{400, 150001}}, .seed = 2, .steps = 2500, .max_small = 1500,
               .expect_byte_refusals = true});
}

TEST(SendQueue, RandomWalkPoolBoundTwoQueues) {
  random_walk({.pool_segments = 3, .queues = {{1000, 1u << 24}, {1000, 1u << 24}}, .seed = 3, .steps = 5000,
               .max_small = 2000, .expect_pool_refusals = true});
}

TEST(SendQueue, RandomWalkMixedQueuesSharingAPool) {
  random_walk({.pool_segments = 12, .queues = {{1, 65536}, {37, 100000}, {300, 1u << 22}}, .seed = 4, .steps = 3000,
               .max_small = 1000, .expect_pool_refusals = true, .expect_entry_refusals = true, .expect_byte_refusals = true});
}

TEST(SendQueue, RandomWalkTinyPayloadsEntriesExhaustThePool) {
  random_walk({.pool_segments = 4, .queues = {{1000, 1000}}, .seed = 5, .steps = 4000, .max_small = 7, .small_only = true,
               .expect_pool_refusals = true});
}

}  // namespace
}  // namespace salvo::detail
