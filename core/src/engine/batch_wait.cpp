#include "engine/batch_wait.hpp"

#include <algorithm>

namespace salvo::detail {

void BatchWait::configure(const EngineOptions::LatencyBudget& budget, std::uint32_t full_batch) noexcept {
  limit_ = budget.limit;
  adaptive_ = budget.adaptive;
  full_batch_ = std::max<std::uint32_t>(full_batch, 2);
}

void BatchWait::reaped(time_point woke, std::uint32_t datagrams, bool held) noexcept {
  woke_ = woke;
  if (datagrams == 0) return;  // a timer, a wake-up or send results: says nothing of arrivals
  if (traffic_seen_) {
    // Gaps longer than a second are a new start, not a rate.
    const nanoseconds span = std::min<nanoseconds>(woke - last_traffic_, std::chrono::seconds(1));
    const nanoseconds sample = span / datagrams;
    gap_ = gap_ == nanoseconds::max() ? sample : gap_ + (sample - gap_) / 8;
  }
  if (adaptive_) {
    if (held) {
      // A held wait that keeps bringing one datagram is a closed loop: holding only delays it.
      const std::uint32_t yield_x16 = std::min<std::uint32_t>(datagrams, 64) * 16;
      held_yield_x16_ = static_cast<std::uint32_t>((3 * std::uint64_t{held_yield_x16_} + yield_x16) / 4);
      if (held_yield_x16_ >= 24) {  // 1.5 datagrams per held wait
        backoff_ = 0;
      } else {
        backoff_ = backoff_ == 0 ? 1 : std::min(2 * backoff_, max_backoff);
        skip_ = backoff_;
      }
    } else if (skip_ > 0) {
      --skip_;
    }
  }
  last_traffic_ = woke;
  traffic_seen_ = true;
  saturated_ = datagrams >= full_batch_;
}

BatchWait::nanoseconds BatchWait::hold(time_point now) const noexcept {
  if (limit_.count() == 0 || !traffic_seen_ || saturated_) return nanoseconds(0);
  // Traffic is recent: a lone datagram after a quiet spell is never held.
  if (now - last_traffic_ >= limit_) return nanoseconds(0);
  // At the observed rate another datagram is unlikely within the limit: a hold would only cost
  // its timer.
  if (gap_ >= limit_) return nanoseconds(0);
  // What came since the last return has waited since then.
  nanoseconds left = limit_ - (now - woke_);
  if (adaptive_) {
    if (skip_ != 0) return nanoseconds(0);  // backing off from a closed loop
    // Long enough for about four more datagrams: most of what batching saves, for less delay.
    left = std::min(left, gap_ * adaptive_batch);
  }
  return left >= std::chrono::microseconds(1) ? left : nanoseconds(0);
}

}  // namespace salvo::detail
