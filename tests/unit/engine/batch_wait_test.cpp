// The latency budget's policy (engine/batch_wait.hpp), on a fake clock: a simulated worker whose
// waits behave as the backends' do (an ordinary wait returns at the first arrival, a held one at
// the end of its hold or when a whole batch is there) serves seeded arrival patterns, and every
// datagram's time between arriving and being handed over is checked against the budget.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include "engine/batch_wait.hpp"

namespace salvo::detail {
namespace {

using namespace std::chrono_literals;
using time_point = BatchWait::time_point;
using nanoseconds = std::chrono::nanoseconds;

constexpr std::uint32_t full_batch = 32;

EngineOptions::LatencyBudget fixed(std::chrono::microseconds limit) { return {limit, false}; }
EngineOptions::LatencyBudget adaptive(std::chrono::microseconds limit) { return {limit, true}; }

struct Served {
  nanoseconds longest_wait{0};  // the most any datagram waited in the kernel
  std::uint64_t wakes = 0;
  std::uint64_t held = 0;
  std::uint64_t datagrams = 0;
};

// Serves `arrivals` (sorted, relative to t0) with a round that takes `round` after each return.
// With `closed_loop`, arrival i+1 comes `rtt` after datagram i was handed over (a ping-pong), and
// `arrivals` only gives the first.
Served serve(BatchWait& policy, std::vector<nanoseconds> arrivals, nanoseconds round, bool closed_loop = false,
             std::size_t closed_count = 0, nanoseconds rtt = 0ns) {
  const time_point t0{};
  Served out;
  std::size_t next = 0;  // first arrival not yet handed over
  time_point now = t0;
  const std::size_t total = closed_loop ? closed_count : arrivals.size();
  while (out.datagrams < total) {
    const nanoseconds hold = policy.hold(now);
    time_point woke;
    const bool held = hold > 0ns;
    if (held) {
      // The kernel's minimum wait: at the end of the hold, or when a whole batch is in.
      woke = now + hold;
      if (next + full_batch <= arrivals.size()) woke = std::min(woke, t0 + arrivals[next + full_batch - 1]);
      // Nothing came: the wait goes on to the first arrival.
      if (t0 + arrivals[next] > woke) woke = t0 + arrivals[next];
      ++out.held;
    } else {
      woke = std::max(now, t0 + arrivals[next]);
    }
    ++out.wakes;
    std::uint32_t got = 0;
    while (next < arrivals.size() && t0 + arrivals[next] <= woke && got < 1024) {
      out.longest_wait = std::max(out.longest_wait, woke - (t0 + arrivals[next]));
      ++next;
      ++got;
      ++out.datagrams;
      if (closed_loop && arrivals.size() < closed_count) arrivals.push_back(woke - t0 + rtt);
    }
    policy.reaped(woke, got, held);
    now = woke + round;
  }
  return out;
}

std::vector<nanoseconds> periodic(nanoseconds gap, std::size_t count, nanoseconds start = 1ms) {
  std::vector<nanoseconds> v;
  for (std::size_t i = 0; i < count; ++i) v.push_back(start + gap * static_cast<long>(i));
  return v;
}

std::vector<nanoseconds> poisson(double per_second, std::size_t count, std::uint32_t seed) {
  std::mt19937 random(seed);
  std::exponential_distribution<double> gap(per_second);
  std::vector<nanoseconds> v;
  double t = 0.001;
  for (std::size_t i = 0; i < count; ++i) {
    t += gap(random);
    v.push_back(nanoseconds(static_cast<std::int64_t>(t * 1e9)));
  }
  return v;
}

TEST(BatchWait, OffNeverHolds) {
  BatchWait policy;
  policy.configure({}, full_batch);
  EXPECT_FALSE(policy.enabled());
  const Served s = serve(policy, periodic(5us, 2000), 2us);
  EXPECT_EQ(s.held, 0u);
  EXPECT_EQ(s.datagrams, 2000u);
}

// Returns bringing one datagram every `gap` until `until`: the policy learns the rate.
void learn(BatchWait& policy, time_point from, time_point until, nanoseconds gap) {
  for (time_point t = from; t <= until; t += gap) policy.reaped(t, 1, false);
}

TEST(BatchWait, HoldIsTheBudgetLessTheRound) {
  BatchWait policy;
  policy.configure(fixed(50us), full_batch);
  const time_point t0{};
  EXPECT_EQ(policy.hold(t0 + 1ms), 0ns) << "no traffic yet";
  policy.reaped(t0 + 1ms - 10us, 1, false);
  EXPECT_EQ(policy.hold(t0 + 1ms - 5us), 0ns) << "one datagram is no rate yet";
  learn(policy, t0 + 1ms - 100us, t0 + 1ms, 10us);
  EXPECT_EQ(policy.hold(t0 + 1ms + 5us), 45us);
  EXPECT_EQ(policy.hold(t0 + 1ms + 49us + 500ns), 0ns) << "less than a microsecond left is not worth a timer";
  // A return with nothing (a timer) moves the reference: whatever is pending came after it.
  policy.reaped(t0 + 1ms + 20us, 0, true);
  EXPECT_EQ(policy.hold(t0 + 1ms + 25us), 45us);
  // Traffic a whole budget ago is no longer traffic: the worker waits as usual.
  EXPECT_EQ(policy.hold(t0 + 1ms + 50us), 0ns);
}

TEST(BatchWait, NoDatagramWaitsLongerThanTheBudget) {
  for (const auto limit : {20us, 50us, 100us, 1000us}) {
    for (const bool adapt : {false, true}) {
      for (const double rate : {5'000.0, 20'000.0, 50'000.0, 100'000.0, 200'000.0, 2'000'000.0}) {
        for (const nanoseconds round : {1us, 10us, 40us}) {
          BatchWait policy;
          policy.configure(adapt ? adaptive(limit) : fixed(limit), full_batch);
          const Served s = serve(policy, poisson(rate, 5000, 7), round);
          // A round longer than the budget is waited out by what arrives during it; nothing else waits
          // longer than the budget.
          EXPECT_LE(s.longest_wait, std::max<nanoseconds>(limit, round))
              << "limit " << limit.count() << " us, adaptive " << adapt << ", rate " << rate << ", round "
              << round.count() << " ns";
          EXPECT_EQ(s.datagrams, 5000u);
        }
      }
    }
  }
}

TEST(BatchWait, FixedBudgetBatchesASteadyStream) {
  BatchWait policy;
  policy.configure(fixed(50us), full_batch);
  // 50,000 datagrams/s, one every 20 us: each held wait gathers two or three.
  const Served s = serve(policy, periodic(20us, 5000), 3us);
  EXPECT_GT(s.held, 0u);
  EXPECT_LE(s.wakes, 5000u / 2) << "a wake-up serves at least two datagrams";
  EXPECT_LE(s.longest_wait, 50us);
}

TEST(BatchWait, SparseDatagramsAreNotHeld) {
  // One a millisecond: each finds the worker in an ordinary wait after a quiet spell. One every
  // 100 us (10,000/s), twice the budget: a hold would end with nothing but its timer.
  for (const nanoseconds gap : {nanoseconds(1ms), nanoseconds(100us)}) {
    for (const bool adapt : {false, true}) {
      BatchWait policy;
      policy.configure(adapt ? adaptive(50us) : fixed(50us), full_batch);
      const Served s = serve(policy, periodic(gap, 2000), 3us);
      EXPECT_EQ(s.held, 0u) << "gap " << gap.count() << " ns, adaptive " << adapt;
      EXPECT_EQ(s.longest_wait, 0ns);
      EXPECT_EQ(s.wakes, 2000u);
    }
  }
}

TEST(BatchWait, AWholeBatchIsNotHeld) {
  BatchWait policy;
  policy.configure(fixed(100us), full_batch);
  const time_point t0{};
  learn(policy, t0, t0 + 1ms - 10us, 10us);
  policy.reaped(t0 + 1ms, full_batch, true);
  EXPECT_EQ(policy.hold(t0 + 1ms + 1us), 0ns) << "saturated: the next wait finds work at once";
  policy.reaped(t0 + 1ms + 2us, full_batch - 1, false);
  EXPECT_GT(policy.hold(t0 + 1ms + 3us), 0ns);
}

TEST(BatchWait, AdaptiveHoldsOnlyWhenAnotherDatagramIsLikely) {
  BatchWait fast;
  fast.configure(adaptive(50us), full_batch);
  const Served busy = serve(fast, periodic(10us, 5000), 2us);
  EXPECT_GT(busy.held, busy.wakes / 2) << "100,000/s: holding pays";
  EXPECT_LT(fast.arrival_gap(), 15us);

  BatchWait slow;
  slow.configure(adaptive(50us), full_batch);
  const Served sparse = serve(slow, periodic(200us, 2000), 2us);
  EXPECT_EQ(sparse.held, 0u) << "5,000/s: another datagram within 50 us is unlikely";
  EXPECT_EQ(sparse.longest_wait, 0ns);
}

TEST(BatchWait, AdaptiveBacksOffFromAClosedLoop) {
  // A ping-pong whose round trip (20 us) is inside the budget: the next request comes only after
  // the reply, so each held wait brings one datagram, later than an ordinary wait would have.
  BatchWait policy;
  policy.configure(adaptive(50us), full_batch);
  const Served s = serve(policy, {1ms}, 2us, /*closed_loop=*/true, 20'000, 20us);
  EXPECT_EQ(s.datagrams, 20'000u);
  // Backing off 1, 2, 4 ... 1024 rounds: after the first few thousand, one held wait per 1024.
  EXPECT_LT(s.held, 60u) << "held " << s.held << " of " << s.wakes;
  EXPECT_EQ(policy.backoff(), 1024u);

  // The same budget, fixed, keeps holding whenever the rate says another datagram is likely.
  BatchWait always;
  always.configure(fixed(50us), full_batch);
  const Served f = serve(always, {1ms}, 2us, true, 2000, 20us);
  EXPECT_GT(f.held, 500u);
}

TEST(BatchWait, AdaptiveHoldsAboutFourGaps) {
  BatchWait policy;
  policy.configure(adaptive(100us), full_batch);
  const time_point t0{};
  learn(policy, t0, t0 + 2ms, 5us);  // 200,000/s
  EXPECT_NEAR(static_cast<double>(policy.hold(t0 + 2ms + 1us).count()), 20'000.0, 1'000.0);
  BatchWait fixed_policy;
  fixed_policy.configure(fixed(100us), full_batch);
  learn(fixed_policy, t0, t0 + 2ms, 5us);
  EXPECT_EQ(fixed_policy.hold(t0 + 2ms + 1us), 99us);
}

TEST(BatchWait, AdaptiveComesBackWhenBatchesForm) {
  BatchWait policy;
  policy.configure(adaptive(50us), full_batch);
  serve(policy, {1ms}, 2us, true, 5000, 20us);  // a ping-pong first: backed off
  ASSERT_GT(policy.backoff(), 1u);
  // Then an open stream at 100,000/s: the next probe finds batches and holding resumes.
  std::vector<nanoseconds> stream = periodic(10us, 20'000, 1s);
  const Served s = serve(policy, stream, 2us);
  EXPECT_EQ(policy.backoff(), 0u);
  EXPECT_GT(s.held, s.wakes / 2);
}

}  // namespace
}  // namespace salvo::detail
