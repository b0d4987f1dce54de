// TimerWheel: exact firing (never before the due time, never after the first run_due that reaches
// it), order by due time then by scheduling, periodic timers without drift and with missed periods
// counted, cancellation in every state (before firing, from another callback of the same run, from
// its own callback, by owner, with a stale handle), a full table, callbacks that schedule, and
// earliest() after each kind of change; then ~100k random operations against a std::map model.
// Time is synthetic: the test passes `now`, the wheel never reads the clock.
#include "timers/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

namespace salvo::detail {
namespace {

using namespace std::chrono_literals;
using Clock = TimerWheel::Clock;
using TimePoint = Clock::time_point;

const TimePoint kStart = TimePoint{} + 1000h;  // any origin works; this one leaves room before it

struct Fired {
  int tag;
  TimePoint due;  // firing_due() inside the callback
  friend bool operator==(const Fired&, const Fired&) = default;
};

class TimerWheelTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(wheel.init(64, kStart)); }

  // A timer that records its tag and the due time it fired for.
  TimerId add(TimePoint due, int tag, Clock::duration period = {}, std::uint32_t owner = TimerWheel::kNoOwner) {
    auto id = wheel.schedule(due, period, [this, tag] { fired.push_back({tag, wheel.firing_due()}); }, owner);
    EXPECT_TRUE(id.ok());
    return id.ok() ? *id : TimerId{};
  }

  std::vector<int> tags() const {
    std::vector<int> out;
    for (const auto& f : fired) out.push_back(f.tag);
    return out;
  }

  TimerWheel wheel;
  std::vector<Fired> fired;
};

TEST(TimerWheelInit, RejectsCapacityOutOfRangeAndASecondInit) {
  TimerWheel wheel;
  for (std::uint32_t bad : {0u, TimerWheel::kMaxCapacity + 1}) {
    auto r = wheel.init(bad, kStart);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, make_error_code(Errc::bad_option));
    EXPECT_NE(r.error().message.find("timer capacity"), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(wheel.schedule(kStart, {}, [] {}).ok());  // not set up
  EXPECT_EQ(wheel.earliest(), TimePoint::max());
  EXPECT_EQ(wheel.run_due(kStart), 0u);
  ASSERT_TRUE(wheel.init(1, kStart));
  EXPECT_EQ(wheel.capacity(), 1u);
  auto again = wheel.init(8, kStart);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, make_error_code(Errc::invalid_state));
}

TEST_F(TimerWheelTest, RejectsNegativePeriodAndEmptyCallback) {
  auto negative = wheel.schedule(kStart, -1ns, [] {});
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error().code, make_error_code(Errc::bad_option));
  auto empty = wheel.schedule(kStart, {}, TimerCallback{});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(wheel.size(), 0u);
}

TEST_F(TimerWheelTest, FiresInOrderOfDueTimeTiesInOrderOfScheduling) {
  // Dues on every level, scheduled out of order, with ties on the same level and across the tick.
  add(kStart + 3h, 9);
  add(kStart + 2ms, 4);
  add(kStart + 10us, 1);
  add(kStart + 2ms, 5);
  add(kStart + 9s, 7);
  add(kStart + 10us, 2);
  add(kStart + 150ms, 6);
  add(kStart + 11us, 3);
  add(kStart + 3h, 10);
  add(kStart + 9s, 8);
  add(kStart + 2ms, 50);
  EXPECT_EQ(wheel.size(), 11u);
  EXPECT_EQ(wheel.run_due(kStart + 4h), 11u);
  EXPECT_EQ(tags(), (std::vector<int>{1, 2, 3, 4, 5, 50, 6, 7, 8, 9, 10}));
  EXPECT_EQ(wheel.size(), 0u);
}

TEST_F(TimerWheelTest, SameOrderWhenRunStepByStep) {
  add(kStart + 3h, 9);
  add(kStart + 2ms, 4);
  add(kStart + 10us, 1);
  add(kStart + 2ms, 5);
  add(kStart + 9s, 7);
  add(kStart + 10us, 2);
  add(kStart + 150ms, 6);
  for (TimePoint now = kStart; now <= kStart + 4h; now += 7919us) wheel.run_due(now);
  EXPECT_EQ(tags(), (std::vector<int>{1, 2, 4, 5, 6, 7, 9}));
}

TEST_F(TimerWheelTest, NeverEarlyNeverLate) {
  // Offsets at tick and level boundaries (a tick is 2^15 ns; levels are 6 bits of ticks).
  const std::vector<Clock::duration> offsets = {
      0ns,        1ns,   32767ns, 32768ns, 32769ns, 64 * 32768ns - 1ns, 64 * 32768ns, 4096 * 32768ns + 5ns,
      1ms,        10ms,  134ms,   1s,      9s,      10s,               9min,         1h,
      10h,        100h,  720h,    8760h,   87600h};
  int tag = 0;
  for (auto offset : offsets) {
    TimerWheel w;
    ASSERT_TRUE(w.init(4, kStart));
    // Walk towards the due time first, so the timer moves down through the levels on the way.
    const TimePoint due = kStart + offset;
    int runs = 0;
    ASSERT_TRUE(w.schedule(due, {}, [&runs] { ++runs; }).ok());
    EXPECT_EQ(w.earliest(), due);
    for (auto before : {offset / 2, offset - offset / 64, offset - 1ns}) {
      if (before < 0ns || kStart + before >= due) continue;
      EXPECT_EQ(w.run_due(kStart + before), 0u) << "offset " << offset.count() << " at " << before.count();
      EXPECT_EQ(w.earliest(), due);
    }
    EXPECT_EQ(w.run_due(due), 1u) << "offset " << offset.count();
    EXPECT_EQ(runs, 1);
    EXPECT_EQ(w.size(), 0u);
    EXPECT_EQ(w.earliest(), TimePoint::max());
    ++tag;
  }
}

TEST_F(TimerWheelTest, OneShotFiresOnce) {
  const TimerId id = add(kStart + 5ms, 1);
  EXPECT_TRUE(id);
  EXPECT_EQ(wheel.run_due(kStart + 5ms), 1u);
  EXPECT_EQ(wheel.run_due(kStart + 6ms), 0u);
  EXPECT_EQ(wheel.run_due(kStart + 10h), 0u);
  EXPECT_EQ(fired, (std::vector<Fired>{{1, kStart + 5ms}}));
  EXPECT_FALSE(wheel.cancel(id));  // already fired
}

TEST_F(TimerWheelTest, DueInThePastFiresAtTheNextRun) {
  wheel.run_due(kStart + 1s);
  add(kStart + 10ms, 2);       // overdue
  add(kStart - 5h, 1);         // before the wheel's origin
  add(TimePoint::min(), 0);    // as early as it gets
  EXPECT_EQ(wheel.earliest(), TimePoint::min());
  EXPECT_EQ(wheel.run_due(kStart + 1s), 3u);
  EXPECT_EQ(tags(), (std::vector<int>{0, 1, 2}));
}

TEST_F(TimerWheelTest, FarFutureWaitsForItsTime) {
  add(TimePoint::max(), 1);
  add(kStart + 87600h, 2);  // ten years
  EXPECT_EQ(wheel.earliest(), kStart + 87600h);
  EXPECT_EQ(wheel.run_due(kStart + 87600h - 1ns), 0u);
  EXPECT_EQ(wheel.run_due(kStart + 87600h), 1u);
  EXPECT_EQ(wheel.earliest(), TimePoint::max());
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.run_due(TimePoint::max() - 1ns), 0u);
  EXPECT_EQ(wheel.run_due(TimePoint::max()), 1u);
  EXPECT_EQ(tags(), (std::vector<int>{2, 1}));
}

TEST_F(TimerWheelTest, PeriodicFiresAtExactDueTimes) {
  const auto period = 1ms + 7ns;
  add(kStart + 3ms, 1, period);
  // Runs at irregular times, always before the next period is due.
  std::mt19937 rng(7);
  TimePoint now = kStart;
  std::vector<TimePoint> runs;
  while (fired.size() < 200) {
    now += std::chrono::nanoseconds(std::uniform_int_distribution<long>(1, 900'000)(rng));
    const std::size_t before = fired.size();
    wheel.run_due(now);
    if (fired.size() > before) runs.push_back(now);
  }
  for (std::size_t k = 0; k < fired.size(); ++k) {
    const TimePoint due = kStart + 3ms + static_cast<long>(k) * period;
    ASSERT_EQ(fired[k].due, due) << "period " << k;
    ASSERT_GE(runs[k], due);  // never early
  }
  EXPECT_EQ(wheel.missed_periods(), 0u);
  EXPECT_EQ(wheel.size(), 1u);
}

TEST_F(TimerWheelTest, PeriodicFiresAtTheFirstRunAfterEachDueTime) {
  add(kStart + 1ms, 1, 1ms);
  // Run every 100 us: each period fires in the first run at or after its due time.
  for (TimePoint now = kStart; now <= kStart + 50ms; now += 100us) {
    const std::size_t before = fired.size();
    wheel.run_due(now);
    const auto elapsed = now - kStart;
    const bool due_now = elapsed >= 1ms && elapsed % 1ms < 100us;
    EXPECT_EQ(fired.size() - before, due_now ? 1u : 0u) << (now - kStart).count();
    EXPECT_EQ(wheel.earliest(), kStart + (elapsed / 1ms + 1) * 1ms);
  }
  EXPECT_EQ(fired.size(), 50u);
}

TEST_F(TimerWheelTest, NoDriftOverTenThousandPeriods) {
  const auto period = 9999us + 13ns;  // not a multiple of the tick
  const TimePoint first = kStart + 5us;
  add(first, 1, period);
  std::mt19937 rng(11);
  for (int k = 0; k < 10000; ++k) {
    const TimePoint due = first + k * period;
    // Always a little late, by up to half a period: lateness must not accumulate.
    const TimePoint now = due + std::chrono::nanoseconds(std::uniform_int_distribution<long>(0, 4'999'000)(rng));
    ASSERT_EQ(wheel.earliest(), due) << k;
    ASSERT_EQ(wheel.run_due(now), 1u) << k;
    ASSERT_EQ(fired.back().due, due) << k;
  }
  EXPECT_EQ(wheel.earliest(), first + 10000 * period);
  EXPECT_EQ(wheel.missed_periods(), 0u);
}

TEST_F(TimerWheelTest, MissedPeriodsFireOnceAndSkipAhead) {
  add(kStart + 10ms, 1, 10ms);
  EXPECT_EQ(wheel.run_due(kStart + 55ms), 1u);  // due 10, 20, 30, 40, 50: fires once
  EXPECT_EQ(fired, (std::vector<Fired>{{1, kStart + 10ms}}));
  EXPECT_EQ(wheel.missed_periods(), 4u);
  EXPECT_EQ(wheel.earliest(), kStart + 60ms);  // the first due + k * period after now
  EXPECT_EQ(wheel.run_due(kStart + 60ms), 1u);
  EXPECT_EQ(fired.back().due, kStart + 60ms);
  EXPECT_EQ(wheel.missed_periods(), 4u);
  // Exactly on a later due time: that period is not missed, it is the next one that is due.
  EXPECT_EQ(wheel.run_due(kStart + 90ms), 1u);
  EXPECT_EQ(wheel.missed_periods(), 6u);  // 80 and 90 were skipped, 70 fired
  EXPECT_EQ(wheel.earliest(), kStart + 100ms);
}

TEST_F(TimerWheelTest, TinyPeriodFarBehindFiresOnce) {
  add(kStart, 1, 1ns);
  EXPECT_EQ(wheel.run_due(kStart + 1h), 1u);
  EXPECT_EQ(wheel.missed_periods(), static_cast<std::uint64_t>(std::chrono::nanoseconds(1h).count()));
  EXPECT_EQ(wheel.earliest(), kStart + 1h + 1ns);
}

TEST_F(TimerWheelTest, CancelBeforeFire) {
  const TimerId a = add(kStart + 1ms, 1);
  const TimerId b = add(kStart + 2ms, 2);
  const TimerId c = add(kStart + 2h, 3);
  EXPECT_TRUE(wheel.cancel(a));
  EXPECT_FALSE(wheel.cancel(a));
  EXPECT_TRUE(wheel.cancel(c));
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.run_due(kStart + 3h), 1u);
  EXPECT_EQ(tags(), (std::vector<int>{2}));
  EXPECT_FALSE(wheel.cancel(b));
  EXPECT_FALSE(wheel.cancel(TimerId{}));
  EXPECT_FALSE(wheel.cancel(TimerId{1000, 1}));  // no such slot
}

TEST_F(TimerWheelTest, CancelFromAnotherCallbackOfTheSameRun) {
  TimerId victim;
  TimerId later_victim;
  bool cancelled = false;
  bool cancelled_later = false;
  ASSERT_TRUE(wheel.schedule(kStart + 1ms, {}, [&] {
    fired.push_back({1, wheel.firing_due()});
    cancelled = wheel.cancel(victim);
    cancelled_later = wheel.cancel(later_victim);
  }).ok());
  victim = add(kStart + 1ms, 2);              // same due, scheduled later: would fire next
  later_victim = add(kStart + 5ms, 3);        // due in the same run, in a later bucket
  add(kStart + 5ms, 4);
  EXPECT_EQ(wheel.run_due(kStart + 10ms), 2u);
  EXPECT_TRUE(cancelled);
  EXPECT_TRUE(cancelled_later);
  EXPECT_EQ(tags(), (std::vector<int>{1, 4}));
  EXPECT_EQ(wheel.size(), 0u);
}

TEST_F(TimerWheelTest, CancelledSlotReusedInTheSameRunDoesNotFireTheNewcomer) {
  TimerId victim;
  ASSERT_TRUE(wheel.schedule(kStart + 1ms, {}, [&] {
    fired.push_back({1, wheel.firing_due()});
    EXPECT_TRUE(wheel.cancel(victim));
    // Takes the slot the victim freed; due now, so it belongs to the next run.
    auto id = wheel.schedule(kStart + 1ms, {}, [this] { fired.push_back({3, wheel.firing_due()}); });
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(id->slot, victim.slot);
  }).ok());
  victim = add(kStart + 1ms, 2);
  EXPECT_EQ(wheel.run_due(kStart + 1ms), 1u);
  EXPECT_EQ(tags(), (std::vector<int>{1}));
  EXPECT_EQ(wheel.run_due(kStart + 1ms), 1u);
  EXPECT_EQ(tags(), (std::vector<int>{1, 3}));
}

TEST_F(TimerWheelTest, PeriodicCancelsItself) {
  TimerId self;
  int runs = 0;
  bool cancelled = false;
  auto id = wheel.schedule(kStart + 1ms, 1ms, [&] {
    if (++runs == 3) {
      cancelled = wheel.cancel(self);
      EXPECT_FALSE(wheel.cancel(self));  // once is enough
      EXPECT_EQ(wheel.size(), 0u);
    }
  });
  ASSERT_TRUE(id.ok());
  self = *id;
  for (TimePoint now = kStart; now <= kStart + 20ms; now += 500us) wheel.run_due(now);
  EXPECT_EQ(runs, 3);
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.earliest(), TimePoint::max());
  EXPECT_FALSE(wheel.cancel(self));
}

TEST_F(TimerWheelTest, OneShotCancellingItselfIsTooLate) {
  TimerId self;
  bool cancelled = true;
  auto id = wheel.schedule(kStart + 1ms, {}, [&] { cancelled = wheel.cancel(self); });
  ASSERT_TRUE(id.ok());
  self = *id;
  EXPECT_EQ(wheel.run_due(kStart + 1ms), 1u);
  EXPECT_FALSE(cancelled);
  EXPECT_EQ(wheel.size(), 0u);
}

TEST_F(TimerWheelTest, StaleHandleIsHarmless) {
  const TimerId old = add(kStart + 1ms, 1);
  ASSERT_TRUE(wheel.cancel(old));
  const TimerId reused = add(kStart + 2ms, 2);
  EXPECT_EQ(reused.slot, old.slot);  // the slot is reused...
  EXPECT_NE(reused.generation, old.generation);  // ...under a new generation
  EXPECT_NE(reused.generation, 0u);
  EXPECT_FALSE(wheel.cancel(old));
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.run_due(kStart + 2ms), 1u);
  EXPECT_EQ(tags(), (std::vector<int>{2}));

  // A handle of a timer that fired is as stale.
  const TimerId next = add(kStart + 3ms, 3);
  EXPECT_EQ(next.slot, old.slot);
  EXPECT_FALSE(wheel.cancel(reused));
  EXPECT_EQ(wheel.earliest(), kStart + 3ms);
  EXPECT_TRUE(wheel.cancel(next));
}

TEST_F(TimerWheelTest, FullTableRefusesUntilATimerLeaves) {
  TimerWheel small;
  ASSERT_TRUE(small.init(3, kStart));
  std::vector<TimerId> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(*small.schedule(kStart + 1ms * (i + 1), {}, [] {}));
  auto refused = small.schedule(kStart + 1ms, {}, [] {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, make_error_code(Errc::full));
  EXPECT_EQ(refused.error().code.message(), "table full");
  EXPECT_NE(refused.error().message.find("timer capacity"), std::string::npos);
  EXPECT_EQ(small.size(), 3u);

  ASSERT_TRUE(small.cancel(ids[1]));
  EXPECT_TRUE(small.schedule(kStart + 1ms, {}, [] {}).ok());
  EXPECT_FALSE(small.schedule(kStart + 1ms, {}, [] {}).ok());

  EXPECT_EQ(small.run_due(kStart + 1ms), 2u);  // firing frees slots too
  EXPECT_TRUE(small.schedule(kStart + 1ms, {}, [] {}).ok());
  EXPECT_TRUE(small.schedule(kStart + 1ms, {}, [] {}).ok());
  EXPECT_FALSE(small.schedule(kStart + 1ms, {}, [] {}).ok());
}

TEST_F(TimerWheelTest, ScheduledFromACallbackWithDueNowFiresInTheNextRun) {
  const TimePoint now = kStart + 5ms;
  ASSERT_TRUE(wheel.schedule(kStart + 1ms, {}, [&] {
    fired.push_back({1, wheel.firing_due()});
    add(now, 2);                // due exactly now
    add(kStart + 2ms, 3);       // due before now, but after the running one
    add(kStart, 4);             // overdue already
    add(now + 1ns, 5);          // not due yet
  }).ok());
  add(kStart + 4ms, 6);  // due in this run, after the callback above
  EXPECT_EQ(wheel.run_due(now), 2u);
  EXPECT_EQ(tags(), (std::vector<int>{1, 6}));
  EXPECT_EQ(wheel.size(), 4u);
  EXPECT_EQ(wheel.earliest(), kStart);
  EXPECT_EQ(wheel.run_due(now), 3u);
  EXPECT_EQ(tags(), (std::vector<int>{1, 6, 4, 3, 2}));
  EXPECT_EQ(wheel.earliest(), now + 1ns);
  EXPECT_EQ(wheel.run_due(now + 1ns), 1u);
}

TEST_F(TimerWheelTest, ZeroDelayReschedulingDoesNotLoop) {
  int runs = 0;
  struct Chain {
    TimerWheel* wheel;
    int* runs;
    void operator()() const {
      ++*runs;
      (void)wheel->schedule(wheel->firing_due(), {}, *this);
    }
  };
  ASSERT_TRUE(wheel.schedule(kStart, {}, Chain{&wheel, &runs}).ok());
  for (int i = 1; i <= 5; ++i) {
    EXPECT_EQ(wheel.run_due(kStart + 1s), 1u);
    EXPECT_EQ(runs, i);
  }
  EXPECT_EQ(wheel.size(), 1u);
}

TEST_F(TimerWheelTest, CancelOwnedBy) {
  add(kStart + 1ms, 1, {}, 7);
  add(kStart + 2h, 2, {}, 7);
  add(kStart + 3ms, 3, 1ms, 7);
  add(kStart + 1ms, 4, {}, 8);
  add(kStart + 1ms, 5);
  // Owners that share the index's neighbourhood.
  for (std::uint32_t owner = 100; owner < 140; ++owner) add(kStart + 1h, 100, {}, owner);
  EXPECT_EQ(wheel.size(), 45u);
  EXPECT_EQ(wheel.cancel_owned_by(7), 3u);
  EXPECT_EQ(wheel.cancel_owned_by(7), 0u);
  EXPECT_EQ(wheel.cancel_owned_by(9), 0u);
  EXPECT_EQ(wheel.cancel_owned_by(TimerWheel::kNoOwner), 0u);
  EXPECT_EQ(wheel.size(), 42u);
  for (std::uint32_t owner = 100; owner < 140; owner += 2) EXPECT_EQ(wheel.cancel_owned_by(owner), 1u);
  for (std::uint32_t owner = 101; owner < 140; owner += 2) EXPECT_EQ(wheel.cancel_owned_by(owner), 1u);
  EXPECT_EQ(wheel.size(), 2u);
  EXPECT_EQ(wheel.run_due(kStart + 3h), 2u);
  EXPECT_EQ(tags(), (std::vector<int>{4, 5}));
  EXPECT_EQ(wheel.cancel_owned_by(8), 0u);  // fired: nothing left to cancel
}

TEST_F(TimerWheelTest, CancelOwnedByFromACallback) {
  // A periodic timer cancels its own owner's timers, itself included, and one due in this run.
  std::size_t cancelled = 0;
  ASSERT_TRUE(wheel.schedule(kStart + 1ms, 1ms, [&] {
    fired.push_back({1, wheel.firing_due()});
    cancelled = wheel.cancel_owned_by(3);
  }, 3).ok());
  add(kStart + 2ms, 2, {}, 3);
  add(kStart + 1h, 3, {}, 3);
  add(kStart + 2ms, 4, {}, 4);
  EXPECT_EQ(wheel.run_due(kStart + 2ms), 2u);
  EXPECT_EQ(cancelled, 3u);
  EXPECT_EQ(tags(), (std::vector<int>{1, 4}));
  EXPECT_EQ(wheel.size(), 0u);
  // A one-shot that fired is not counted by its own callback's cancel_owned_by.
  ASSERT_TRUE(wheel.schedule(kStart + 3ms, {}, [&] { cancelled = wheel.cancel_owned_by(5); }, 5).ok());
  add(kStart + 4ms, 5, {}, 5);
  EXPECT_EQ(wheel.run_due(kStart + 3ms), 1u);
  EXPECT_EQ(cancelled, 1u);
  EXPECT_EQ(wheel.size(), 0u);
}

TEST_F(TimerWheelTest, EarliestAfterEveryKindOfChange) {
  EXPECT_EQ(wheel.earliest(), TimePoint::max());
  const TimerId far = add(kStart + 2h, 1);
  EXPECT_EQ(wheel.earliest(), kStart + 2h);
  const TimerId mid = add(kStart + 3s, 2, {}, 9);
  EXPECT_EQ(wheel.earliest(), kStart + 3s);
  add(kStart + 5s, 3);
  EXPECT_EQ(wheel.earliest(), kStart + 3s);  // a later one changes nothing
  const TimerId near = add(kStart + 40us, 4, 1s);
  EXPECT_EQ(wheel.earliest(), kStart + 40us);
  EXPECT_TRUE(wheel.cancel(mid));  // not the earliest
  EXPECT_EQ(wheel.earliest(), kStart + 40us);
  EXPECT_TRUE(wheel.cancel(near));  // the earliest
  EXPECT_EQ(wheel.earliest(), kStart + 5s);
  add(kStart + 1ms, 5, 1s);
  EXPECT_EQ(wheel.earliest(), kStart + 1ms);
  EXPECT_EQ(wheel.run_due(kStart + 500us), 0u);  // nothing due: unchanged
  EXPECT_EQ(wheel.earliest(), kStart + 1ms);
  EXPECT_EQ(wheel.run_due(kStart + 1ms), 1u);  // the periodic one re-arms
  EXPECT_EQ(wheel.earliest(), kStart + 1001ms);
  add(kStart + 1s, 6, {}, 9);
  EXPECT_EQ(wheel.earliest(), kStart + 1s);
  EXPECT_EQ(wheel.cancel_owned_by(9), 1u);
  EXPECT_EQ(wheel.earliest(), kStart + 1001ms);
  EXPECT_EQ(wheel.run_due(kStart + 1001ms), 1u);
  EXPECT_EQ(wheel.earliest(), kStart + 2001ms);
  EXPECT_EQ(wheel.run_due(kStart + 7s), 2u);  // 3 and the periodic one (missing 3..6)
  EXPECT_EQ(wheel.earliest(), kStart + 7001ms);
  EXPECT_EQ(wheel.cancel_owned_by(TimerWheel::kNoOwner), 0u);
  EXPECT_TRUE(wheel.cancel(far));
  EXPECT_EQ(wheel.earliest(), kStart + 7001ms);
  EXPECT_EQ(wheel.size(), 1u);
  // From inside a callback: the timers still queued in the run and the ones deferred count.
  TimePoint seen_inside{};
  ASSERT_TRUE(wheel.schedule(kStart + 7001ms, {}, [&] {
    seen_inside = wheel.earliest();
  }).ok());
  add(kStart + 7001ms, 7);
  EXPECT_EQ(wheel.run_due(kStart + 8s), 3u);
  EXPECT_EQ(seen_inside, kStart + 7001ms);  // tag 7, still to fire
}

// ---- random operations against a model ----

struct ModelTimer {
  TimePoint due;
  Clock::duration period;
  std::uint64_t sequence;
  std::uint32_t owner;
  int victim;  // the key this timer's callback cancels, or -1
};

class Model {
 public:
  std::map<int, ModelTimer> live;                          // by key
  std::map<std::pair<TimePoint, std::uint64_t>, int> order;  // (due, sequence) -> key
  std::uint64_t missed = 0;

  void add(int key, ModelTimer t) {
    order[{t.due, t.sequence}] = key;
    live[key] = t;
  }
  bool cancel(int key) {
    auto it = live.find(key);
    if (it == live.end()) return false;
    order.erase({it->second.due, it->second.sequence});
    live.erase(it);
    return true;
  }
  std::size_t cancel_owned_by(std::uint32_t owner) {
    std::vector<int> keys;
    for (const auto& [key, t] : live) if (t.owner == owner) keys.push_back(key);
    for (int key : keys) cancel(key);
    return keys.size();
  }
  TimePoint earliest() const { return order.empty() ? TimePoint::max() : order.begin()->first.first; }

  // What run_due(now) fires, in order, with the victims' cancel results.
  void run(TimePoint now, std::vector<Fired>& out, std::vector<bool>& cancels) {
    while (!order.empty() && order.begin()->first.first <= now) {
      const int key = order.begin()->second;
      ModelTimer t = live[key];
      order.erase(order.begin());
      const bool periodic = t.period != Clock::duration::zero();
      if (!periodic) live.erase(key);
      out.push_back({key, t.due});
      if (t.victim >= 0) {
        if (periodic && t.victim == key) {
          live.erase(key);
          cancels.push_back(true);
          continue;
        }
        cancels.push_back(cancel(t.victim));
      }
      if (!periodic) continue;
      const auto late = now - t.due;
      missed += static_cast<std::uint64_t>(late / t.period);
      t.due = now + (t.period - late % t.period);
      add(key, t);
    }
  }
};

TEST(TimerWheelRandom, MatchesAModelOverManyOperations) {
  constexpr std::uint32_t kCapacity = 400;
  TimerWheel wheel;
  ASSERT_TRUE(wheel.init(kCapacity, kStart));
  Model model;
  std::mt19937_64 rng(20240611);
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  // Log-uniform durations between `low` and `high` nanoseconds.
  auto span = [&](double low, double high) {
    const double l = std::uniform_real_distribution<double>(std::log(low), std::log(high))(rng);
    return std::chrono::nanoseconds(static_cast<long>(std::exp(l)));
  };

  std::unordered_map<int, TimerId> ids;
  std::vector<Fired> wheel_fired;
  std::vector<bool> wheel_cancels;
  std::uint64_t sequence = 0;
  int next_key = 0;
  TimePoint now = kStart;
  std::size_t fired_total = 0;
  std::size_t full_refusals = 0;

  for (int op = 0; op < 100000; ++op) {
    // Now and then a burst of schedules, which fills the table.
    const int kind = op % 25000 < 450 ? 0 : std::uniform_int_distribution<int>(0, 99)(rng);
    if (kind < 45) {
      // Delays from nothing (or overdue) to hours; periods from 10 us to 10 s.
      Clock::duration delay = chance(0.05) ? -span(1, 1e10) : chance(0.05) ? 0ns : span(1, 4 * 3.6e12);
      if (chance(0.1)) delay = span(1, 1e5);
      const Clock::duration period = chance(0.05) ? Clock::duration(span(1e4, 1e10)) : Clock::duration::zero();
      const std::uint32_t owner = chance(0.5) ? static_cast<std::uint32_t>(rng() % 20) : TimerWheel::kNoOwner;
      int victim = -1;
      if (chance(0.1) && next_key > 0) victim = chance(0.1) ? next_key : static_cast<int>(rng() % next_key);
      const int key = next_key++;
      auto r = wheel.schedule(now + delay, period, [&wheel, &ids, &wheel_fired, &wheel_cancels, key, victim] {
        wheel_fired.push_back({key, wheel.firing_due()});
        if (victim >= 0) {
          auto it = ids.find(victim);
          wheel_cancels.push_back(it != ids.end() && wheel.cancel(it->second));
        }
      }, owner);
      if (model.live.size() == kCapacity) {
        ASSERT_FALSE(r.ok());
        ASSERT_EQ(r.error().code, make_error_code(Errc::full));
        ++full_refusals;
      } else {
        ASSERT_TRUE(r.ok()) << r.error().message;
        ids[key] = *r;
        model.add(key, {now + delay, period, sequence++, owner, victim});
      }
    } else if (kind < 60) {
      if (next_key == 0) continue;
      // Mostly a pending timer (periodic ones leave no other way), sometimes any handle ever given.
      int key = static_cast<int>(rng() % next_key);
      if (!model.live.empty() && chance(0.4)) key = std::next(model.live.begin(), static_cast<long>(rng() % model.live.size()))->first;
      auto it = ids.find(key);
      const bool cancelled = it != ids.end() && wheel.cancel(it->second);
      ASSERT_EQ(cancelled, model.cancel(key)) << "op " << op;
    } else if (kind < 63) {
      const auto owner = static_cast<std::uint32_t>(rng() % 21);
      ASSERT_EQ(wheel.cancel_owned_by(owner), model.cancel_owned_by(owner)) << "op " << op;
    } else {
      // Mostly small steps, some long sleeps, sometimes none.
      Clock::duration step = chance(0.05) ? 0ns : chance(0.02) ? span(1e11, 1e13) : span(1, 1e9);
      now += step;
      std::vector<Fired> expected;
      std::vector<bool> expected_cancels;
      model.run(now, expected, expected_cancels);
      wheel_fired.clear();
      wheel_cancels.clear();
      ASSERT_EQ(wheel.run_due(now), expected.size()) << "op " << op;
      ASSERT_EQ(wheel_fired, expected) << "op " << op;
      ASSERT_EQ(wheel_cancels, expected_cancels) << "op " << op;
      fired_total += expected.size();
    }
    ASSERT_EQ(wheel.size(), model.live.size()) << "op " << op;
    ASSERT_EQ(wheel.earliest(), model.earliest()) << "op " << op;
    ASSERT_EQ(wheel.missed_periods(), model.missed) << "op " << op;
  }
  // The run exercised what it should have.
  EXPECT_GT(fired_total, 10000u);
  EXPECT_GT(full_refusals, 0u);
}

}  // namespace
}  // namespace salvo::detail
