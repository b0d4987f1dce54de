// TimerWheel allocates in init() only: scheduling (one-shot, periodic, with owners, from callbacks),
// a full table's error, cancelling in every way, firing, earliest() and long sleeps allocate nothing.
#include <chrono>
#include <cstdint>

#include "alloc/allocation_counter.hpp"
#include "support/test_support.hpp"
#include "timers/timer_wheel.hpp"

namespace salvo::test {
namespace {

using detail::TimerWheel;
using namespace std::chrono_literals;

TEST(TimerWheelAllocations, NoneAfterInit) {
  constexpr std::uint32_t kCapacity = 4096;
  const auto start = TimerWheel::Clock::now();
  TimerWheel wheel;
  ASSERT_TRUE(wheel.init(kCapacity, start));
  std::uint64_t fired = 0;
  std::uint64_t refused = 0;
  std::uint64_t cancelled = 0;
  TimerId ids[kCapacity];

  start_counting_allocations();
  auto now = start;
  for (int round = 0; round < 6; ++round) {
    for (std::uint32_t i = 0; i < kCapacity + 100; ++i) {
      const auto delay = std::chrono::microseconds((i * 7919u) % 20'000'000u);  // up to 20 s
      const auto period = i % 5 == 0 ? std::chrono::nanoseconds(1ms + i * 1us) : 0ns;
      std::uint64_t* counter = &fired;
      TimerWheel* w = &wheel;
      auto id = wheel.schedule(now + delay, period, [counter, w, i] {
        ++*counter;
        if (i % 97 == 0) (void)w->schedule(w->firing_due(), 0ns, [counter] { ++*counter; });
      }, i % 50);
      if (id.ok()) {
        ids[i % kCapacity] = *id;
      } else {
        ++refused;  // the table is full: the error must not allocate either
      }
    }
    for (std::uint32_t i = 0; i < kCapacity; i += 3) cancelled += wheel.cancel(ids[i]) ? 1 : 0;
    cancelled += wheel.cancel_owned_by(static_cast<std::uint32_t>(round));
    for (int step = 0; step < 50; ++step) {
      now += 100ms;
      (void)wheel.earliest();
      fired += wheel.run_due(now);
    }
    now += 2h;  // a long sleep: every level cascades
    fired += wheel.run_due(now);
    (void)wheel.earliest();
  }
  const std::uint64_t allocations = stop_counting_allocations();

  EXPECT_GT(fired, 10'000u);
  EXPECT_GT(refused, 0u);
  EXPECT_GT(cancelled, 0u);
  EXPECT_EQ(allocations, 0u);
}

}  // namespace
}  // namespace salvo::test
