// LatenessHistogram: how late a periodic timer ran, kept in a fixed array of counters so that a
// sample costs a few instructions and never allocates (ticker records one per tick). Values are
// microseconds: exact below 128, and above that in 64 buckets per power of two, so a percentile is
// within 1/64 of the true value. Percentiles answer a bucket's upper end (capped at the largest
// sample), so the true percentile is never above the answer.
//
// Threading: none; written by one worker, read after it has stopped.
#pragma once

#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>

namespace examples {

class LatenessHistogram {
 public:
  // A negative lateness (a timer that ran early, or a clock the caller does not share) counts as 0.
  void record(std::chrono::nanoseconds lateness) noexcept {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(lateness).count();
    const std::uint64_t value = us > 0 ? static_cast<std::uint64_t>(us) : 0;
    ++buckets_[bucket_of(value)];
    ++count_;
    if (value > max_) max_ = value;
  }

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t max_us() const noexcept { return max_; }

  // The q-quantile (0 < q <= 1) in microseconds: at least q of the samples are at most this; 0
  // with no samples.
  std::uint64_t percentile_us(double q) const noexcept {
    if (count_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    if (rank == 0) rank = 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i];
      if (seen >= rank) return upper_end(i) < max_ ? upper_end(i) : max_;
    }
    return max_;
  }

 private:
  static constexpr std::uint64_t exact = 128;  // 0..127 each have a bucket
  static constexpr unsigned sub_bits = 6;      // then 64 buckets per power of two
  static constexpr std::size_t bucket_count = exact + (64 - 7) * (1u << sub_bits);

  static std::size_t bucket_of(std::uint64_t value) noexcept {
    if (value < exact) return static_cast<std::size_t>(value);
    const unsigned shift = static_cast<unsigned>(std::bit_width(value)) - (sub_bits + 1);  // 1 for 128..255
    const std::uint64_t top = value >> shift;  // 64..127
    return static_cast<std::size_t>(exact + (shift - 1) * (1u << sub_bits) + (top - (1u << sub_bits)));
  }

  static std::uint64_t upper_end(std::size_t bucket) noexcept {
    if (bucket < exact) return bucket;
    const std::size_t above = bucket - exact;
    const unsigned shift = static_cast<unsigned>(above >> sub_bits) + 1;
    const std::uint64_t top = (above & ((1u << sub_bits) - 1)) + (1u << sub_bits);
    return ((top + 1) << shift) - 1;
  }

  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace examples
