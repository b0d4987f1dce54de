#include "common/pacer.hpp"

#include <algorithm>
#include <limits>

#include "common/seeded_random.hpp"  // uint128

namespace salvo::cli {
namespace {

constexpr std::uint64_t ns_per_s = 1'000'000'000;
constexpr auto never = SteadyTime::max();

// floor(a * b / c) without overflow for the magnitudes used here (a: nanoseconds, b and c: rates).
std::uint64_t mul_div(std::uint64_t a, std::uint64_t b, uint128 c) noexcept {
  const uint128 q = static_cast<uint128>(a) * b / c;
  return q > std::numeric_limits<std::uint64_t>::max() ? std::numeric_limits<std::uint64_t>::max()
                                                       : static_cast<std::uint64_t>(q);
}

// The time `ns` nanoseconds after `from`, or never when that does not fit.
SteadyTime after(SteadyTime from, uint128 ns) noexcept {
  const auto room = never - from;
  if (ns > static_cast<uint128>(room.count())) return never;
  return from + std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
}

// Nanoseconds for `tokens` at `rate`, rounded up, at least 1.
std::int64_t duration_of(std::uint64_t tokens, Rate rate, std::uint64_t extra_divisor = 1) noexcept {
  const uint128 num = static_cast<uint128>(tokens) * ns_per_s * rate.divisor;
  const uint128 den = static_cast<uint128>(rate.per_second) * extra_divisor;
  uint128 ns = (num + den - 1) / den;
  if (ns < 1) ns = 1;
  const auto cap = static_cast<uint128>(std::numeric_limits<std::int64_t>::max() / 4);
  return static_cast<std::int64_t>(ns > cap ? cap : ns);
}

}  // namespace

TokenBucket::TokenBucket(Rate rate, std::uint64_t depth, SteadyTime epoch, SteadyTime end) noexcept
    : rate_(rate), depth_(std::max<std::uint64_t>(depth, 1)), epoch_(epoch), end_(std::max(end, epoch)) {
  if (rate_.per_second == 0) rate_.per_second = 1;
  if (rate_.divisor == 0) rate_.divisor = 1;
}

std::uint64_t TokenBucket::earned(SteadyTime t) const noexcept {
  if (t <= epoch_) return 0;
  const SteadyTime until = std::min(t, end_);
  const auto ns = static_cast<std::uint64_t>((until - epoch_).count());
  return mul_div(ns, rate_.per_second, static_cast<uint128>(ns_per_s) * rate_.divisor);
}

std::uint64_t TokenBucket::available(SteadyTime now) noexcept {
  const std::uint64_t total = earned(now);
  const std::uint64_t backlog = total > consumed_ ? total - consumed_ : 0;
  if (backlog > depth_) {
    consumed_ = total - depth_;  // forfeit what the bucket cannot hold
    return depth_;
  }
  return backlog;
}

bool TokenBucket::try_take_one(SteadyTime now) noexcept {
  if (available(now) == 0) return false;
  take(1);
  return true;
}

SteadyTime TokenBucket::next_token_at() const noexcept {
  // The smallest d with floor(d * per_second / (1e9 * divisor)) >= consumed + 1.
  const uint128 num = static_cast<uint128>(consumed_ + 1) * ns_per_s * rate_.divisor;
  const uint128 d = (num + rate_.per_second - 1) / rate_.per_second;
  const SteadyTime at = after(epoch_, d);
  return at > end_ ? never : at;
}

Pacer::Pacer(Rate rate, std::uint64_t burst, SteadyTime epoch, SteadyTime end) noexcept
    : bucket_(rate,
              std::max({burst, std::uint64_t{1},
                        mul_div(static_cast<std::uint64_t>(std::chrono::nanoseconds(catch_up_window).count()),
                                std::max<std::uint64_t>(rate.per_second, 1),
                                static_cast<uint128>(ns_per_s) * std::max<std::uint64_t>(rate.divisor, 1))}),
              epoch, end),
      burst_(std::max<std::uint64_t>(burst, 1)),
      tick_(std::min<std::int64_t>(max_tick.count(), duration_of(burst_, bucket_.rate()))),
      catch_up_spacing_(duration_of(burst_, bucket_.rate(), 2)) {}

std::uint64_t Pacer::default_burst(Rate rate) noexcept {
  if (rate.divisor == 0) rate.divisor = 1;
  return std::max<std::uint64_t>(1, rate.per_second / (100 * rate.divisor));
}

std::uint64_t Pacer::grant(SteadyTime now, std::uint64_t want) noexcept {
  const std::uint64_t available = bucket_.available(now);
  const std::uint64_t n = std::min({want, burst_, available});
  bucket_.take(n);
  left_after_grant_ = available - n;
  return n;
}

SteadyTime Pacer::next_wake(SteadyTime now) const noexcept {
  if (left_after_grant_ > 0) return after(now, static_cast<uint128>(catch_up_spacing_.count()));
  const SteadyTime next = bucket_.next_token_at();
  return next == never ? never : on_grid(next);
}

SteadyTime Pacer::on_grid(SteadyTime t) const noexcept {
  const SteadyTime epoch = bucket_.epoch();
  if (t <= epoch) return epoch;
  const auto since = static_cast<uint128>((t - epoch).count());
  const auto tick = static_cast<uint128>(tick_.count());
  return after(epoch, (since + tick - 1) / tick * tick);
}

}  // namespace salvo::cli
