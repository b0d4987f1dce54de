// BatchWait: the latency budget's policy (EngineOptions::latency_budget). It decides, before each
// wait that would sleep, how long the wait is held open for more datagrams; the backend carries
// the hold out (io_uring's minimum wait, or a timed sleep on epoll).
//
// The promise it keeps: a datagram waits at most the budget for others to join it. Every wait
// collects all that came before it returned, so a datagram still pending came after the last
// return (`woke`); holding the next wait for budget - (now - woke) releases it by woke + budget.
// A datagram that comes after a quiet spell of a budget or more finds the worker in an ordinary
// wait, which returns at once.
//
// Pure and clock-free (the worker passes the times), so that tests drive it with a fake clock.
// One per worker, used only on its thread.
#pragma once

#include <chrono>
#include <cstdint>

#include "salvo/engine_options.hpp"

namespace salvo::detail {

class BatchWait {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using nanoseconds = std::chrono::nanoseconds;

  // `full_batch`: a round that delivered this many datagrams was saturated; the next wait finds
  // work at once, so holding it gains nothing.
  void configure(const EngineOptions::LatencyBudget& budget, std::uint32_t full_batch) noexcept;
  bool enabled() const noexcept { return limit_.count() > 0; }

  // After each wait and its reap: when the wait returned, the datagrams the reap delivered, and
  // whether the wait was held (hold() > 0 was carried out).
  void reaped(time_point woke, std::uint32_t datagrams, bool held) noexcept;

  // Before a wait that would sleep: how long to hold it open; zero for an ordinary wait.
  nanoseconds hold(time_point now) const noexcept;

  // The policy's view, for tests and diagnostics.
  nanoseconds arrival_gap() const noexcept { return gap_; }
  std::uint32_t backoff() const noexcept { return backoff_; }

 private:
  nanoseconds limit_{0};
  bool adaptive_ = false;
  std::uint32_t full_batch_ = 32;

  time_point woke_{};          // the last wait's return
  time_point last_traffic_{};  // the last return that brought datagrams
  bool traffic_seen_ = false;
  bool saturated_ = false;     // that return brought a whole batch

  // The mean gap between datagrams (moving average of the time between returns that brought
  // datagrams, divided by how many): no hold while it is the limit or more.
  nanoseconds gap_ = nanoseconds::max();
  // Adaptive: a hold of this many gaps at most, and the mean datagrams a held wait produced.
  static constexpr int adaptive_batch = 4;
  std::uint32_t held_yield_x16_ = 32;  // 2.0, fixed point: holding starts out trusted
  // After holding stopped paying (a closed loop such as a ping-pong), the next `skip_` rounds
  // that bring datagrams do not hold; then one hold tries again. `backoff_` doubles each time the
  // try fails, up to max_backoff.
  static constexpr std::uint32_t max_backoff = 1024;
  std::uint32_t backoff_ = 0;
  std::uint32_t skip_ = 0;
};

}  // namespace salvo::detail
