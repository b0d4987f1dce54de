// LatencyHistogram: a high-dynamic-range histogram of nanosecond values, laid out as HdrHistogram
// lays out a histogram with 3 significant digits, a lowest discernible value of 1 and a highest
// trackable value of one hour.
//
// Layout: values 0..2047 have a bucket each. Above that, every power-of-two range
// [2^k, 2^(k+1)) is split into 1024 equal sub-buckets, so a bucket is at most 1/1024 of its lowest
// value wide. A percentile is reported as the highest value of its bucket: at most 0.098% above
// the recorded sample it stands for, never below it ("3 significant digits").
//
// Memory is fixed: 33,792 counters (264 KiB), allocated once by the constructor. record() is O(1)
// (a count-leading-zeros, a shift and an add) and never allocates. Everything else (copies,
// comparison, merge, percentiles, the JSON form) touches only the buckets from min's to max's, so a
// histogram of one run's latencies, which uses a few pages of its counters, costs that much.
//
// Range: 0 ns to highest_trackable (one hour). A larger value is recorded as highest_trackable and
// also counted in clamped(), so that a report can say how many samples were cut. min() and max()
// are the exact recorded values (after that clamping), not bucket bounds; percentiles are clamped
// to [min, max], so p0 == min and p100 == max exactly.
//
// Threading: none. One thread records (a ping worker); another may read or merge it only after
// that thread has finished with it (the engine's join orders the two).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "salvo/error.hpp"

namespace salvo::cli {

class LatencyHistogram {
 public:
  static constexpr int significant_digits = 3;
  static constexpr std::uint64_t highest_trackable = 3'600'000'000'000;  // one hour, in ns
  static constexpr unsigned sub_bucket_half_magnitude = 10;                // 1024 sub-buckets per half
  static constexpr std::uint64_t sub_bucket_half_count = std::uint64_t{1} << sub_bucket_half_magnitude;
  static constexpr std::uint64_t sub_bucket_count = 2 * sub_bucket_half_count;  // 2048
  // Buckets 0..31: bucket b holds [1024 << b, 2048 << b) (bucket 0 also 0..1023), which covers
  // 2^42 - 1 ns > one hour. HdrHistogram calls these "Buckets" and the 2048 "SubBuckets".
  static constexpr unsigned bucket_count = 32;
  static constexpr std::size_t counts_length = (bucket_count + 1) * sub_bucket_half_count;

  LatencyHistogram();
  LatencyHistogram(const LatencyHistogram& other);
  LatencyHistogram& operator=(const LatencyHistogram& other);
  LatencyHistogram(LatencyHistogram&&) noexcept = default;
  LatencyHistogram& operator=(LatencyHistogram&&) noexcept = default;

  // Records one sample (or `count` samples of the same value). No allocation, O(1).
  void record(std::uint64_t ns) noexcept { record(ns, 1); }
  void record(std::uint64_t ns, std::uint64_t count) noexcept;

  // Adds every sample of `other` (the histograms have the same layout by construction).
  void merge(const LatencyHistogram& other) noexcept;
  void reset() noexcept;

  std::uint64_t total() const noexcept { return total_; }
  std::uint64_t clamped() const noexcept { return clamped_; }
  std::uint64_t min() const noexcept { return total_ == 0 ? 0 : min_; }  // 0 when empty
  std::uint64_t max() const noexcept { return max_; }                    // 0 when empty

  // The value below or at which `percent` (0..100) of the samples fall: the sample of rank
  // ceil(percent/100 * total) (at least 1), reported as the highest value of its bucket and
  // clamped to [min, max]. Rank arithmetic is exact for percentiles given to 7 decimals.
  // 0 when the histogram is empty.
  std::uint64_t value_at_percentile(double percent) const noexcept;
  // The same for an explicit rank (1..total).
  std::uint64_t value_at_rank(std::uint64_t rank) const noexcept;

  // Mean and standard deviation, computed from the buckets with each sample taken at its
  // bucket's middle (as HdrHistogram does), so that they depend only on the bucket counts:
  // equal histograms (a merged one and one fed all samples) give bit-identical figures.
  double mean() const noexcept;
  double stddev() const noexcept;

  // Bucket geometry.
  static std::size_t index_of(std::uint64_t value) noexcept;  // value <= highest_trackable
  static std::uint64_t lowest_equivalent(std::size_t index) noexcept;
  static std::uint64_t highest_equivalent(std::size_t index) noexcept;
  static std::uint64_t median_equivalent(std::size_t index) noexcept;
  std::uint64_t count_at(std::size_t index) const noexcept { return counts_[index]; }
  // Index of the last non-empty bucket + 1 (0 when empty): iteration bound. Every bucket outside
  // [used_begin(), used_length()) is empty.
  std::size_t used_length() const noexcept { return total_ == 0 ? 0 : index_of(max_) + 1; }
  // Index of the first non-empty bucket (0 when empty): min's.
  std::size_t used_begin() const noexcept { return total_ == 0 ? 0 : index_of(min_); }
  // Calls fn(index, count) for every non-empty bucket, in ascending order; an fn that returns bool
  // stops the walk by returning false. Empty buckets are passed over eight at a time: a histogram
  // of a few far-apart samples (an edited or merged file) is thousands of empty buckets wide.
  template <typename Fn>
  void for_each_bucket(Fn&& fn) const;

  // Bucket-by-bucket equality, plus total, clamped, min and max.
  friend bool operator==(const LatencyHistogram& a, const LatencyHistogram& b) noexcept;

 private:
  friend Result<void> merge_histogram_json(LatencyHistogram& h, const nlohmann::json& j);

  struct FreeCounts {
    void operator()(std::uint64_t* counts) const noexcept;
  };
  // From calloc (see the constructor), hence freed with free.
  std::unique_ptr<std::uint64_t[], FreeCounts> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t clamped_ = 0;
  std::uint64_t min_ = ~std::uint64_t{0};
  std::uint64_t max_ = 0;
};

template <typename Fn>
void LatencyHistogram::for_each_bucket(Fn&& fn) const {
  const std::uint64_t* c = counts_.get();
  const std::size_t end = used_length();
  // Returns false to stop.
  auto visit = [&](std::size_t i) {
    if (c[i] == 0) return true;
    if constexpr (std::is_same_v<decltype(fn(i, c[i])), bool>) {
      return fn(i, c[i]);
    } else {
      fn(i, c[i]);
      return true;
    }
  };
  std::size_t i = used_begin();
  for (; i + 8 <= end; i += 8) {
    if ((c[i] | c[i + 1] | c[i + 2] | c[i + 3] | c[i + 4] | c[i + 5] | c[i + 6] | c[i + 7]) == 0) continue;
    for (std::size_t k = i; k < i + 8; ++k) {
      if (!visit(k)) return;
    }
  }
  for (; i < end; ++i) {
    if (!visit(i)) return;
  }
}

// The lossless JSON form, for results that merge across runs:
//   {"unit": "ns", "significant_digits": 3, "highest_trackable": 3600000000000,
//    "total": N, "clamped": C, "min": ..., "max": ...,
//    "buckets": [[lowest value of the bucket, count], ...]}   (non-empty buckets, ascending)
nlohmann::json histogram_to_json(const LatencyHistogram& h);

// Reads that form back; any inconsistency (another layout, counts that do not add up to total,
// min/max outside their buckets, unsorted or out-of-range buckets, wrong types) is an Error whose
// message names the field.
Result<LatencyHistogram> histogram_from_json(const nlohmann::json& j);

// What a reader of a JSON form that needs no histogram gets: its figures, checked exactly as
// histogram_from_json checks the form (same errors), without allocating the counters.
struct HistogramFigures {
  std::uint64_t total = 0;
  std::uint64_t clamped = 0;
  std::uint64_t min = 0;
  std::uint64_t max = 0;
};
Result<HistogramFigures> check_histogram_json(const nlohmann::json& j);

// h.merge(histogram_from_json(j)) without the histogram in between; `h` is unchanged when `j` is
// refused (same errors).
Result<void> merge_histogram_json(LatencyHistogram& h, const nlohmann::json& j);

}  // namespace salvo::cli
