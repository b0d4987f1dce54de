// FloodGuard with FakeTransport and an injected clock, so that every count is exact: the burst and
// the rate of the per-source limit (GCRA), sources limited independently (by address and port, or
// by address only), the reply budget (never more bytes out to an unverified peer than came in, or
// reply_factor times that; a refused send uses no budget), verification lifting both the budget
// and the unverified rate, the table's bound under 10,000 sources, its eviction order (least
// recently seen unverified first, verified last), unguarded sends counted, long batches handed
// over in parts, the monitor summing guards, and option checks with messages. These tests count one
// source per address and port (ipv4_prefix 32, ipv6_prefix 128, key_by_port), so that each peer
// below is a source of its own; the defaults (a source is a /24 or a /56, whatever its port) and
// verification apart from the prefix are flood_guard_prefix_test.cpp's.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "salvo/salvo.hpp"

namespace salvo {
namespace {

using namespace std::chrono_literals;

// The injected clock: tests move it by hand.
std::chrono::steady_clock::time_point g_now{};
std::chrono::steady_clock::time_point fake_now() { return g_now; }

Address peer(int last_octet, std::uint16_t port = 5000) {
  return *Address::from_ip("10.0.0." + std::to_string(last_octet), port);
}

std::vector<std::byte> bytes(std::size_t n, std::uint8_t fill = 0x5a) { return std::vector<std::byte>(n, std::byte{fill}); }

FloodGuardOptions base_options() {
  FloodGuardOptions o;
  o.rate = 1000;  // one every 1 ms exactly
  o.burst = 5;
  o.ipv4_prefix = 32;  // one source per address and port
  o.ipv6_prefix = 128;
  o.key_by_port = true;
  o.clock = &fake_now;
  return o;
}

// What the wrapped protocol saw, and what it does: replies of `reply_sizes` bytes to each datagram
// through the guard (the budgeted way), or `direct_replies` sends on the Transport itself.
struct Inner final : Protocol {
  explicit Inner(FloodGuard& g) : guard(g) {}
  void on_datagrams(std::span<const Datagram> batch, Transport& t) override {
    batch_sizes.push_back(batch.size());
    for (const Datagram& d : batch) {
      seen.push_back(d.peer);
      for (std::size_t size : reply_sizes) results.push_back(guard.send(bytes(size), d.peer, t));
      for (int i = 0; i < direct_replies; ++i) t.send(d.payload, d.peer);
      if (verify_on_sight) guard.mark_verified(d.peer);
    }
  }
  FloodGuard& guard;
  std::vector<Address> seen;
  std::vector<std::size_t> batch_sizes;
  std::vector<std::size_t> reply_sizes;
  std::vector<GuardedSend> results;
  int direct_replies = 0;
  bool verify_on_sight = false;
};

// A guard with an Inner behind it, as flood_guarded() builds one.
struct Rig {
  explicit Rig(FloodGuardOptions o = base_options(), std::shared_ptr<FloodGuardMonitor> m = nullptr)
      : guard(o, std::move(m)) {
    auto p = std::make_unique<Inner>(guard);
    inner = p.get();
    guard.set_inner(std::move(p));
    fake.start(guard);
  }
  std::size_t deliver_from(const Address& from, int count, std::size_t size = 100) {
    std::vector<FakeDatagram> ds;
    for (int i = 0; i < count; ++i) ds.emplace_back(bytes(size), from);
    fake.deliver(guard, ds);
    return inner->seen.size();
  }
  FakeTransport fake;
  FloodGuard guard;
  Inner* inner = nullptr;
};

class FloodGuardTest : public testing::Test {
 protected:
  void SetUp() override { g_now = std::chrono::steady_clock::time_point{} + 1000s; }
};

TEST_F(FloodGuardTest, BurstThenRate) {
  Rig rig;
  const Address a = peer(1);
  EXPECT_EQ(rig.deliver_from(a, 10), 5u) << "a burst of 5 at one instant";
  auto s = rig.guard.stats();
  EXPECT_EQ(s.datagrams, 10u);
  EXPECT_EQ(s.admitted, 5u);
  EXPECT_EQ(s.rate_limited, 5u);
  EXPECT_EQ(s.rate_limited_bytes, 500u);
  EXPECT_EQ(s.admitted_bytes, 500u);

  g_now += 1ms;  // one interval: exactly one more
  EXPECT_EQ(rig.deliver_from(a, 3), 6u);
  g_now += 999us;  // not quite the next interval
  EXPECT_EQ(rig.deliver_from(a, 1), 6u);
  g_now += 1us;
  EXPECT_EQ(rig.deliver_from(a, 1), 7u);
  g_now += 1s;  // idle for long: the burst is back, no more
  EXPECT_EQ(rig.deliver_from(a, 20), 12u);
  s = rig.guard.stats();
  EXPECT_EQ(s.datagrams, 35u);
  EXPECT_EQ(s.admitted, 12u);
  EXPECT_EQ(s.rate_limited, 23u);
  EXPECT_EQ(s.admitted + s.rate_limited, s.datagrams);
  EXPECT_EQ(s.new_sources, 1u);
  EXPECT_EQ(s.tracked, 1u);
  // The engine-level accounting is untouched: the guard's drops are the protocol's business.
  EXPECT_EQ(rig.fake.counters().delivered, 35u);
}

TEST_F(FloodGuardTest, SourcesAreLimitedIndependently) {
  Rig rig;
  rig.deliver_from(peer(1), 50);
  rig.deliver_from(peer(2), 3);
  rig.deliver_from(peer(1, 5001), 3);  // another port: another source
  int from_a = 0, from_b = 0, from_a2 = 0;
  for (const Address& p : rig.inner->seen) {
    from_a += p == peer(1);
    from_b += p == peer(2);
    from_a2 += p == peer(1, 5001);
  }
  EXPECT_EQ(from_a, 5);
  EXPECT_EQ(from_b, 3);
  EXPECT_EQ(from_a2, 3);
  EXPECT_EQ(rig.guard.stats().tracked, 3u);
}

TEST_F(FloodGuardTest, KeyedByAddressOnlyPortsShareOneLimit) {
  FloodGuardOptions o = base_options();
  o.key_by_port = false;
  Rig rig(o);
  for (std::uint16_t port = 1; port <= 20; ++port) rig.deliver_from(peer(1, port), 1);
  EXPECT_EQ(rig.inner->seen.size(), 5u) << "twenty ports of one address are one source";
  EXPECT_EQ(rig.guard.stats().new_sources, 1u);
  EXPECT_EQ(rig.guard.stats().rate_limited, 15u);
}

TEST_F(FloodGuardTest, V4MappedPeerIsTheSameSource) {
  Rig rig;
  rig.deliver_from(peer(7), 3);
  rig.deliver_from(peer(7).v4_mapped(), 3);
  EXPECT_EQ(rig.inner->seen.size(), 5u);
  EXPECT_EQ(rig.guard.stats().tracked, 1u);
  EXPECT_EQ(rig.guard.reply_budget(peer(7).v4_mapped()), rig.guard.reply_budget(peer(7)));
}

TEST_F(FloodGuardTest, ReplyBudgetNeverLetsMoreOutThanCameIn) {
  Rig rig;
  const Address a = peer(1);
  rig.inner->reply_sizes = {40, 40, 40};  // 120 bytes of replies to each 100-byte request
  rig.deliver_from(a, 1, 100);
  ASSERT_EQ(rig.inner->results.size(), 3u);
  EXPECT_EQ(rig.inner->results[0], GuardedSend::queued);
  EXPECT_EQ(rig.inner->results[1], GuardedSend::queued);
  EXPECT_EQ(rig.inner->results[2], GuardedSend::over_budget);
  EXPECT_EQ(rig.guard.reply_budget(a), 20u);
  auto sent = rig.fake.take_sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].to, a);

  // The next request: 100 more bytes of credit (20 + 100 = 120): all three fit, exactly.
  rig.inner->results.clear();
  rig.deliver_from(a, 1, 100);
  EXPECT_EQ(rig.inner->results, (std::vector<GuardedSend>{GuardedSend::queued, GuardedSend::queued, GuardedSend::queued}));
  EXPECT_EQ(rig.guard.reply_budget(a), 0u);
  EXPECT_EQ(rig.fake.take_sent().size(), 3u);

  const auto s = rig.guard.stats();
  EXPECT_EQ(s.replies, 5u);
  EXPECT_EQ(s.reply_bytes, 200u);
  EXPECT_EQ(s.over_budget, 1u);
  EXPECT_EQ(s.over_budget_bytes, 40u);
  EXPECT_LE(s.reply_bytes, s.admitted_bytes);
  EXPECT_EQ(s.unguarded_sends, 0u);
}

TEST_F(FloodGuardTest, RateLimitedDatagramsEarnNoCredit) {
  Rig rig;
  const Address a = peer(1);
  rig.deliver_from(a, 50, 100);  // 5 admitted
  EXPECT_EQ(rig.guard.reply_budget(a), 500u);
}

TEST_F(FloodGuardTest, UnknownPeerHasNoBudget) {
  Rig rig;
  rig.deliver_from(peer(1), 1, 100);
  // The protocol answers someone who never sent anything: a reflection target.
  const GuardedSend r = rig.guard.send(bytes(1), peer(99), rig.fake.transport());
  EXPECT_EQ(r, GuardedSend::over_budget);
  EXPECT_EQ(rig.guard.stats().over_budget, 1u);
}

TEST_F(FloodGuardTest, ReplyFactorScalesTheBudget) {
  FloodGuardOptions o = base_options();
  o.reply_factor = 3;
  Rig rig(o);
  rig.inner->reply_sizes = {100, 100, 100, 1};
  rig.deliver_from(peer(1), 1, 100);
  EXPECT_EQ(rig.inner->results, (std::vector<GuardedSend>{GuardedSend::queued, GuardedSend::queued,
                                                          GuardedSend::queued, GuardedSend::over_budget}));
}

TEST_F(FloodGuardTest, ReplyFactorZeroSendsNothingUntilVerified) {
  FloodGuardOptions o = base_options();
  o.reply_factor = 0;
  Rig rig(o);
  rig.inner->reply_sizes = {1};
  rig.deliver_from(peer(1), 1, 100);
  EXPECT_EQ(rig.inner->results.back(), GuardedSend::over_budget);
  rig.guard.mark_verified(peer(1));
  rig.deliver_from(peer(1), 1, 100);
  EXPECT_EQ(rig.inner->results.back(), GuardedSend::queued);
}

TEST_F(FloodGuardTest, ASendTheTransportRefusesUsesNoBudget) {
  Rig rig;
  const Address a = peer(1);
  rig.deliver_from(a, 1, 100);
  ASSERT_EQ(rig.guard.reply_budget(a), 100u);
  rig.fake.transport().stop_listening();  // the transport now refuses every send (closed)
  EXPECT_EQ(rig.guard.send(bytes(10), a, rig.fake.transport()), GuardedSend::not_queued);
  EXPECT_EQ(rig.guard.transport_result(), SendResult::closed);
  EXPECT_EQ(rig.guard.reply_budget(a), 100u);
  EXPECT_EQ(rig.guard.stats().replies, 0u);
  EXPECT_EQ(rig.guard.stats().over_budget, 0u);
}

TEST_F(FloodGuardTest, VerifiedPeersHaveNoBudgetAndTheVerifiedRate) {
  FloodGuardOptions o = base_options();
  o.verified_rate = 0;  // unlimited
  Rig rig(o);
  const Address a = peer(1);
  rig.inner->verify_on_sight = true;
  rig.deliver_from(a, 1, 10);
  EXPECT_TRUE(rig.guard.is_verified(a));
  EXPECT_EQ(rig.guard.reply_budget(a), std::numeric_limits<std::uint64_t>::max());
  rig.inner->verify_on_sight = false;
  rig.inner->reply_sizes = {1000};
  EXPECT_EQ(rig.deliver_from(a, 500, 10), 501u) << "a verified source is not rate limited (verified_rate 0)";
  EXPECT_EQ(rig.inner->results.size(), 500u);
  for (GuardedSend r : rig.inner->results) ASSERT_EQ(r, GuardedSend::queued);
  const auto s = rig.guard.stats();
  EXPECT_EQ(s.verified, 1u);
  EXPECT_EQ(s.reply_bytes, 500'000u) << "50x amplification is allowed once the source is verified";
  EXPECT_EQ(s.rate_limited, 0u);

  // A verified rate applies from a full burst.
  FloodGuardOptions limited = base_options();
  limited.verified_rate = 2000;
  limited.verified_burst = 20;
  Rig rig2(limited);
  rig2.guard.mark_verified(a);
  EXPECT_EQ(rig2.deliver_from(a, 100), 20u);
  g_now += 1ms;
  EXPECT_EQ(rig2.deliver_from(a, 100), 22u);
}

TEST_F(FloodGuardTest, TableStaysBoundedUnderTenThousandSources) {
  FloodGuardOptions o = base_options();
  o.table_entries = 16;
  o.ways = 4;
  Rig rig(o);
  for (int i = 0; i < 10'000; ++i) {
    rig.deliver_from(*Address::from_ip("10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250), 7), 1);
  }
  const auto s = rig.guard.stats();
  EXPECT_EQ(s.capacity, 16u);
  EXPECT_EQ(s.tracked, 16u);
  EXPECT_EQ(s.new_sources, 10'000u);
  EXPECT_EQ(s.evictions, 10'000u - 16u);
  EXPECT_EQ(s.admitted, 10'000u) << "each new source starts with a full burst";
}

TEST_F(FloodGuardTest, EvictsTheLeastRecentlySeenUnverifiedFirst) {
  FloodGuardOptions o = base_options();
  o.table_entries = 2;  // one set of two: where a source lands does not depend on the hash
  o.ways = 2;
  Rig rig(o);
  const Address a = peer(1), b = peer(2), c = peer(3);
  rig.deliver_from(a, 1, 100);
  g_now += 1ms;
  rig.deliver_from(b, 1, 100);
  g_now += 1ms;
  rig.deliver_from(a, 1, 100);  // a seen again: b is now the least recently seen
  g_now += 1ms;
  rig.deliver_from(c, 1, 100);
  EXPECT_EQ(rig.guard.reply_budget(a), 200u);
  EXPECT_EQ(rig.guard.reply_budget(b), 0u) << "b was evicted, with its credit";
  EXPECT_EQ(rig.guard.reply_budget(c), 100u);
  EXPECT_EQ(rig.guard.stats().evictions, 1u);

  // A verified source outlives any number of unverified newcomers...
  rig.guard.mark_verified(a);
  for (int i = 10; i < 60; ++i) {
    g_now += 1ms;
    rig.deliver_from(peer(i), 1);
  }
  EXPECT_TRUE(rig.guard.is_verified(a));
  // ...until every slot of its set is verified: then the least recently seen verified one goes.
  rig.guard.mark_verified(peer(59));
  g_now += 1ms;
  rig.deliver_from(peer(200), 1);
  EXPECT_FALSE(rig.guard.is_verified(a));
  EXPECT_TRUE(rig.guard.is_verified(peer(59)));
  EXPECT_EQ(rig.guard.stats().tracked, 2u);
}

TEST_F(FloodGuardTest, ForgetFreesTheSlot) {
  Rig rig;
  rig.deliver_from(peer(1), 1);
  rig.guard.mark_verified(peer(1));
  rig.guard.forget(peer(1));
  EXPECT_FALSE(rig.guard.is_verified(peer(1)));
  EXPECT_EQ(rig.guard.stats().tracked, 0u);
  EXPECT_EQ(rig.deliver_from(peer(1), 10), 6u) << "back as a new source, with a fresh burst of 5";
}

TEST_F(FloodGuardTest, SendsOnTheTransportDirectlyAreCountedAsUnguarded) {
  Rig rig;
  rig.inner->direct_replies = 2;
  rig.inner->reply_sizes = {10};
  rig.deliver_from(peer(1), 3, 100);
  const auto s = rig.guard.stats();
  EXPECT_EQ(s.unguarded_sends, 6u);
  EXPECT_EQ(s.replies, 3u);
  EXPECT_EQ(rig.fake.take_sent().size(), 9u);
}

TEST_F(FloodGuardTest, LongBatchesAreHandedOverInParts) {
  FloodGuardOptions o = base_options();
  o.max_batch = 4;
  o.burst = 100;
  Rig rig(o);
  rig.deliver_from(peer(1), 10);
  EXPECT_EQ(rig.inner->batch_sizes, (std::vector<std::size_t>{4, 4, 2}));
  rig.inner->batch_sizes.clear();
  // Rate-limited datagrams are left out of the parts, not passed as holes.
  FloodGuardOptions small = base_options();
  small.max_batch = 4;
  Rig rig2(small);
  rig2.deliver_from(peer(1), 10);
  EXPECT_EQ(rig2.inner->batch_sizes, (std::vector<std::size_t>{4, 1}));
}

TEST_F(FloodGuardTest, NothingAdmittedMeansNoCall) {
  Rig rig;
  rig.deliver_from(peer(1), 5);
  rig.inner->batch_sizes.clear();
  rig.deliver_from(peer(1), 5);
  EXPECT_TRUE(rig.inner->batch_sizes.empty());
}

TEST_F(FloodGuardTest, MonitorSumsItsGuardsFromTheFactory) {
  auto monitor = std::make_shared<FloodGuardMonitor>();
  std::vector<Inner*> inners;
  auto factory = flood_guarded(base_options(),
                               [&](unsigned, FloodGuard& g) {
                                 auto p = std::make_unique<Inner>(g);
                                 inners.push_back(p.get());
                                 return p;
                               },
                               monitor);
  ASSERT_TRUE(factory.ok()) << factory.error().message;
  auto p0 = (*factory)(0);
  auto p1 = (*factory)(1);
  ASSERT_EQ(inners.size(), 2u);
  ASSERT_NE(dynamic_cast<FloodGuard*>(p0.get()), nullptr);
  FakeTransport f0, f1;
  for (int i = 0; i < 8; ++i) f0.deliver(*p0, FakeDatagram(bytes(10), peer(1)));
  for (int i = 0; i < 3; ++i) f1.deliver(*p1, FakeDatagram(bytes(10), peer(2)));
  const auto s = monitor->stats();
  EXPECT_EQ(s.datagrams, 11u);
  EXPECT_EQ(s.admitted, 8u);
  EXPECT_EQ(s.rate_limited, 3u);
  EXPECT_EQ(s.capacity, 2u * 4096u);
  const auto each = monitor->per_guard();
  ASSERT_EQ(each.size(), 2u);
  EXPECT_EQ(each[0].rate_limited, 3u);
  EXPECT_EQ(each[1].rate_limited, 0u);
  // The monitor keeps the counters of guards already destroyed.
  p0.reset();
  EXPECT_EQ(monitor->stats().datagrams, 11u);
}

TEST_F(FloodGuardTest, FactoryReturningNothingIsPassedOn) {
  auto factory = flood_guarded(base_options(), [](unsigned, FloodGuard&) { return std::unique_ptr<Protocol>(); });
  ASSERT_TRUE(factory.ok());
  EXPECT_EQ((*factory)(0), nullptr);
}

TEST_F(FloodGuardTest, BadOptionsNameTheField) {
  struct Case {
    void (*change)(FloodGuardOptions&);
    const char* needle;
  };
  const Case cases[] = {
      {[](FloodGuardOptions& o) { o.table_entries = 1000; }, "table_entries"},
      {[](FloodGuardOptions& o) { o.table_entries = 4; o.ways = 8; }, "table_entries"},
      {[](FloodGuardOptions& o) { o.ways = 3; }, "ways"},
      {[](FloodGuardOptions& o) { o.ways = 32; }, "ways"},
      {[](FloodGuardOptions& o) { o.rate = 0; }, "rate"},
      {[](FloodGuardOptions& o) { o.burst = 0; }, "burst"},
      {[](FloodGuardOptions& o) { o.verified_rate = 10; o.verified_burst = 0; }, "verified_burst"},
      {[](FloodGuardOptions& o) { o.max_batch = 0; }, "max_batch"},
  };
  for (const Case& c : cases) {
    FloodGuardOptions o;
    c.change(o);
    const auto r = check_flood_guard_options(o);
    ASSERT_FALSE(r.ok()) << c.needle;
    EXPECT_EQ(r.error().code, make_error_code(Errc::bad_option));
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().message;
    auto f = flood_guarded(o, [](unsigned, FloodGuard& g) { return std::make_unique<Inner>(g); });
    EXPECT_FALSE(f.ok());
  }
  EXPECT_TRUE(check_flood_guard_options(FloodGuardOptions{}).ok());
  EXPECT_FALSE(flood_guarded(FloodGuardOptions{}, nullptr).ok());
}

}  // namespace
}  // namespace salvo
