// TokenBucket and Pacer on a fake clock: exact token counts from an anchored epoch, depth and burst
// caps honoured, no drift however many intervals, catch-up after a stall bounded, and wake-ups on
// the tick grid.
#include <gtest/gtest.h>

#include <vector>

#include "common/pacer.hpp"

namespace salvo::cli {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

const SteadyTime t0 = SteadyTime{} + 1000s;  // any fixed point: the bucket never reads the clock

TEST(TokenBucket, EarnsExactlyRateTimesElapsedRoundedDown) {
  const TokenBucket b(Rate{1000, 1}, 1'000'000, t0);
  EXPECT_EQ(b.earned(t0 - 1s), 0u);
  EXPECT_EQ(b.earned(t0), 0u);
  EXPECT_EQ(b.earned(t0 + 999us), 0u);
  EXPECT_EQ(b.earned(t0 + 1ms), 1u);
  EXPECT_EQ(b.earned(t0 + 1s), 1000u);
  EXPECT_EQ(b.earned(t0 + 10s + 500us), 10000u);
  EXPECT_EQ(b.earned(t0 + 3600s + 1ms), 3'600'001u);
}

TEST(TokenBucket, AFractionalRateSplitsExactly) {
  // 10 tokens per 3 seconds: what one of 3 senders gets of a total rate of 10/s.
  const TokenBucket b(Rate{10, 3}, 1'000'000, t0);
  EXPECT_EQ(b.earned(t0 + 299'999'999ns), 0u);
  EXPECT_EQ(b.earned(t0 + 300ms), 1u);
  EXPECT_EQ(b.earned(t0 + 3s), 10u);
  EXPECT_EQ(b.earned(t0 + 300s), 1000u);
  // Three such senders together earn the total rate (10/s) to the token.
  EXPECT_EQ(3 * b.earned(t0 + 30s), 300u);
}

TEST(TokenBucket, TokensBeyondTheDepthAreForfeited) {
  TokenBucket b(Rate{1000, 1}, 5, t0);
  EXPECT_EQ(b.available(t0 + 1s), 5u);
  EXPECT_EQ(b.forfeited(), 995u);
  b.take(5);
  EXPECT_EQ(b.available(t0 + 1s), 0u);
  EXPECT_EQ(b.available(t0 + 1s + 3ms), 3u);
  b.take(2);
  EXPECT_EQ(b.taken(), 7u);
  EXPECT_EQ(b.available(t0 + 1s + 3ms), 1u);
  EXPECT_EQ(b.forfeited(), 995u);
}

TEST(TokenBucket, APolicerLetsTheDepthThroughThenTheRate) {
  TokenBucket b(Rate{100, 1}, 2, t0);
  const SteadyTime t = t0 + 1s;
  EXPECT_TRUE(b.try_take_one(t));
  EXPECT_TRUE(b.try_take_one(t));
  EXPECT_FALSE(b.try_take_one(t));
  EXPECT_FALSE(b.try_take_one(t + 9ms));
  EXPECT_TRUE(b.try_take_one(t + 10ms));
  EXPECT_FALSE(b.try_take_one(t + 10ms));
  // Over a long run at twice the rate, exactly the rate passes (plus the initial depth).
  std::uint64_t passed = 0;
  for (int i = 1; i <= 20000; ++i) passed += b.try_take_one(t + 10ms + i * 5ms) ? 1 : 0;
  EXPECT_EQ(passed, 10000u);
}

TEST(TokenBucket, NextTokenTimeAndEnd) {
  TokenBucket b(Rate{1000, 1}, 10, t0, t0 + 2s);
  EXPECT_EQ(b.next_token_at(), t0 + 1ms);
  b.take(b.available(t0 + 5ms));
  EXPECT_EQ(b.taken(), 5u);
  EXPECT_EQ(b.next_token_at(), t0 + 6ms);
  EXPECT_EQ(b.earned(t0 + 5s), 2000u) << "nothing is earned after the end";
  b.take(b.available(t0 + 2s));  // takes the depth; the rest is forfeited
  EXPECT_EQ(b.taken() + b.forfeited(), 2000u);
  EXPECT_EQ(b.next_token_at(), SteadyTime::max());
}

TEST(Pacer, DefaultBurstIsTenMillisecondsWorth) {
  EXPECT_EQ(Pacer::default_burst(Rate{100000, 1}), 1000u);
  EXPECT_EQ(Pacer::default_burst(Rate{10000, 1}), 100u);
  EXPECT_EQ(Pacer::default_burst(Rate{50, 1}), 1u);
  EXPECT_EQ(Pacer::default_burst(Rate{100000, 8}), 125u);
}

TEST(Pacer, OnScheduleAWakeSendsOneTicksWorthNotTheBurst) {
  Pacer p(Rate{100000, 1}, Pacer::default_burst(Rate{100000, 1}), t0);
  SteadyTime now = t0;
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t n = p.grant(now, 100000);
    if (i > 0) {
      ASSERT_EQ(n, 10u) << "wake " << i;
    }
    now = p.next_wake(now);
    ASSERT_EQ(now, t0 + (i + 1) * 100us);
  }
}

TEST(Pacer, ALateWakeSendsItsBacklogUpToTheBurst) {
  Pacer p(Rate{100000, 1}, 1000, t0);
  EXPECT_EQ(p.grant(t0 + 3ms, 100000), 300u) << "3 ms late: 300 due, within the burst";
  EXPECT_EQ(p.grant(t0 + 20ms, 100000), 1000u) << "17 ms late: 1700 due, the burst caps it";
  EXPECT_EQ(p.next_wake(t0 + 20ms), t0 + 25ms) << "behind: the next burst after half a burst's time";
}

TEST(Pacer, TickIsAtMost100MicrosecondsAndNoLongerThanABurst) {
  EXPECT_EQ(Pacer(Rate{10000, 1}, 10, t0).tick(), 100us);
  EXPECT_EQ(Pacer(Rate{100, 1}, 1, t0).tick(), 100us);
  EXPECT_EQ(Pacer(Rate{1'000'000, 1}, 1, t0).tick(), 1us);
  EXPECT_EQ(Pacer(Rate{100'000, 1}, 5, t0).tick(), 50us);
}

TEST(Pacer, NeverGrantsMoreThanTheBurst) {
  Pacer p(Rate{100000, 1}, 10, t0);
  EXPECT_EQ(p.grant(t0 + 1ms, 1000), 10u);  // 100 earned, burst 10
  EXPECT_EQ(p.grant(t0 + 1ms, 1000), 10u);  // behind: the backlog drains a burst at a time
  EXPECT_EQ(p.grant(t0 + 1ms, 3), 3u);      // and never more than asked for
  EXPECT_EQ(p.bucket().taken(), 23u);
}

// Drives a pacer the way BlastSender does, waking exactly when asked, until `until`. With a
// stall, the wake at or after `stall_at` comes `stall` late (the worker was descheduled).
struct PacedRun {
  std::uint64_t sent = 0;
  std::uint64_t wakes = 0;
  std::uint64_t largest_grant = 0;
  bool went_back_in_time = false;
  bool off_grid = false;  // only checked without a stall: on schedule, every wake is on the grid
};
PacedRun drive(Pacer& p, SteadyTime until, nanoseconds stall_at = nanoseconds::max(), nanoseconds stall = 0ns) {
  PacedRun r;
  const SteadyTime epoch = p.bucket().epoch();
  SteadyTime now = epoch;
  bool stalled = false;
  while (now <= until) {
    const std::uint64_t n = p.grant(now, ~std::uint64_t{0});
    r.sent += n;
    r.largest_grant = std::max(r.largest_grant, n);
    ++r.wakes;
    SteadyTime next = p.next_wake(now);
    if (next == SteadyTime::max()) break;
    if (next < now) r.went_back_in_time = true;
    if (stall == 0ns && (next - epoch).count() % p.tick().count() != 0) r.off_grid = true;
    if (!stalled && next - epoch >= stall_at) {
      stalled = true;
      next += stall;
    }
    now = next;
  }
  return r;
}

TEST(Pacer, NoDriftOverManyIntervals) {
  for (const std::uint64_t rate : {1u, 999u, 12345u, 100000u, 2'000'000u}) {
    SCOPED_TRACE("rate " + std::to_string(rate));
    Pacer p(Rate{rate, 1}, Pacer::default_burst(Rate{rate, 1}), t0);
    const PacedRun r = drive(p, t0 + 60s);
    EXPECT_EQ(r.sent, 60 * rate) << "every token of 60 s sent, none more";
    EXPECT_EQ(p.bucket().forfeited(), 0u);
    EXPECT_LE(r.largest_grant, p.burst());
    EXPECT_FALSE(r.went_back_in_time);
    EXPECT_FALSE(r.off_grid);
    // At most one wake per tick (plus the first): no timer storm.
    EXPECT_LE(r.wakes, static_cast<std::uint64_t>(60s / p.tick()) + 1);
  }
}

TEST(Pacer, ASplitRateAddsUpOverSenders) {
  // 100,000/s over 8 senders: 12,500 each, 1,000,000 in all over 10 s.
  std::uint64_t total = 0;
  for (int i = 0; i < 8; ++i) {
    Pacer p(Rate{100000, 8}, Pacer::default_burst(Rate{100000, 8}), t0);
    total += drive(p, t0 + 10s).sent;
  }
  EXPECT_EQ(total, 1'000'000u);
}

TEST(Pacer, AShortStallIsMadeUpInBurstsAtTwiceTheRate) {
  Pacer p(Rate{10000, 1}, 10, t0);
  const PacedRun r = drive(p, t0 + 1s, 300ms, 40ms);
  EXPECT_EQ(r.sent, 10000u) << "a 40 ms stall lies within the 100 ms catch-up window";
  EXPECT_EQ(p.bucket().forfeited(), 0u);
  EXPECT_LE(r.largest_grant, 10u);
}

TEST(Pacer, ALongStallForfeitsAllButTheCatchUpWindow) {
  Pacer p(Rate{10000, 1}, 10, t0);
  const PacedRun r = drive(p, t0 + 2s, 300ms, 500ms);
  // Token 3000 was due at 300 ms; the wake came at 800 ms with 5001 tokens due. The bucket keeps
  // 100 ms worth (1000), sent in bursts afterwards; the other 4001 are forfeited.
  EXPECT_EQ(p.bucket().forfeited(), 4001u);
  EXPECT_EQ(r.sent, 20000u - 4001u);
  EXPECT_LE(r.largest_grant, 10u);
}

TEST(Pacer, WakesOnTheGridWhenOnSchedule) {
  Pacer p(Rate{3000, 1}, 3, t0);  // a token every 333.3 us, tick 100 us
  EXPECT_EQ(p.grant(t0, 100), 0u);
  EXPECT_EQ(p.next_wake(t0), t0 + 400us) << "the first token (333.4 us) rounded up to the grid";
  EXPECT_EQ(p.grant(t0 + 400us, 100), 1u);
  EXPECT_EQ(p.next_wake(t0 + 400us), t0 + 700us);  // token 2 at 666.7 us
  const PacedRun r = drive(p, t0 + 5s);
  EXPECT_FALSE(r.off_grid);
}

TEST(Pacer, StopsAtTheEnd) {
  Pacer p(Rate{1000, 1}, 1, t0, t0 + 2s);
  const PacedRun r = drive(p, t0 + 10s);
  EXPECT_EQ(r.sent, 2000u) << "the token earned exactly at the end counts";
  EXPECT_EQ(p.next_wake(t0 + 2s), SteadyTime::max());
}

}  // namespace
}  // namespace salvo::cli
