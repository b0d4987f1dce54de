#include "common/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

namespace salvo::cli {

// 128-bit arithmetic for exact rank and sum computations (GCC and Clang have it on 64-bit Linux).
__extension__ using u128 = unsigned __int128;

static_assert(LatencyHistogram::highest_trackable < (LatencyHistogram::sub_bucket_count << (LatencyHistogram::bucket_count - 1)),
              "the last bucket must cover the highest trackable value");

namespace {

// calloc rather than new[] and a memset: a block that the allocator maps afresh (as it does blocks
// this large, at least at first) comes zeroed from the kernel and calloc does not clear it again,
// so the pages of buckets that are never used are never touched.
std::uint64_t* zeroed_counts() {
  void* counts = std::calloc(LatencyHistogram::counts_length, sizeof(std::uint64_t));
  if (counts == nullptr) throw std::bad_alloc();
  return static_cast<std::uint64_t*>(counts);
}

}  // namespace

void LatencyHistogram::FreeCounts::operator()(std::uint64_t* counts) const noexcept { std::free(counts); }

LatencyHistogram::LatencyHistogram() : counts_(zeroed_counts()) {}

LatencyHistogram::LatencyHistogram(const LatencyHistogram& other)
    : counts_(zeroed_counts()), total_(other.total_), clamped_(other.clamped_), min_(other.min_), max_(other.max_) {
  const std::size_t begin = other.used_begin();
  std::memcpy(counts_.get() + begin, other.counts_.get() + begin, (other.used_length() - begin) * sizeof(std::uint64_t));
}

LatencyHistogram& LatencyHistogram::operator=(const LatencyHistogram& other) {
  if (this != &other) {
    if (counts_) {
      reset();
    } else {
      counts_.reset(zeroed_counts());  // a moved-from histogram
    }
    const std::size_t begin = other.used_begin();
    std::memcpy(counts_.get() + begin, other.counts_.get() + begin,
                (other.used_length() - begin) * sizeof(std::uint64_t));
    total_ = other.total_;
    clamped_ = other.clamped_;
    min_ = other.min_;
    max_ = other.max_;
  }
  return *this;
}

std::size_t LatencyHistogram::index_of(std::uint64_t value) noexcept {
  // The bucket is floor(log2(value)) - 10, or 0 below 2048: OR-ing in 2047 makes small values
  // land in bucket 0 without a branch.
  const unsigned bucket = 53u - static_cast<unsigned>(std::countl_zero(value | (sub_bucket_count - 1)));
  const std::uint64_t sub = value >> bucket;  // in [1024, 2048), or [0, 2048) in bucket 0
  return static_cast<std::size_t>((std::uint64_t{bucket} + 1) * sub_bucket_half_count + sub - sub_bucket_half_count);
}

std::uint64_t LatencyHistogram::lowest_equivalent(std::size_t index) noexcept {
  std::uint64_t bucket = index >> sub_bucket_half_magnitude;  // 1 + the bucket, or 0 for 0..1023
  std::uint64_t sub = (index & (sub_bucket_half_count - 1)) + sub_bucket_half_count;
  if (bucket == 0) {
    sub -= sub_bucket_half_count;
  } else {
    --bucket;
  }
  return sub << bucket;
}

std::uint64_t LatencyHistogram::highest_equivalent(std::size_t index) noexcept {
  const std::uint64_t bucket = index < sub_bucket_count ? 0 : (index >> sub_bucket_half_magnitude) - 1;
  return lowest_equivalent(index) + (std::uint64_t{1} << bucket) - 1;
}

std::uint64_t LatencyHistogram::median_equivalent(std::size_t index) noexcept {
  const std::uint64_t bucket = index < sub_bucket_count ? 0 : (index >> sub_bucket_half_magnitude) - 1;
  return lowest_equivalent(index) + ((std::uint64_t{1} << bucket) >> 1);
}

void LatencyHistogram::record(std::uint64_t ns, std::uint64_t count) noexcept {
  if (count == 0) return;
  if (ns > highest_trackable) {
    ns = highest_trackable;
    clamped_ += count;
  }
  counts_[index_of(ns)] += count;
  total_ += count;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  if (other.total_ == 0) return;
  other.for_each_bucket([this](std::size_t i, std::uint64_t count) { counts_[i] += count; });
  total_ += other.total_;
  clamped_ += other.clamped_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void LatencyHistogram::reset() noexcept {
  const std::size_t begin = used_begin();
  std::memset(counts_.get() + begin, 0, (used_length() - begin) * sizeof(std::uint64_t));
  total_ = 0;
  clamped_ = 0;
  min_ = ~std::uint64_t{0};
  max_ = 0;
}

std::uint64_t LatencyHistogram::value_at_rank(std::uint64_t rank) const noexcept {
  if (total_ == 0) return 0;
  if (rank <= 1) return min_;
  if (rank >= total_) return max_;
  std::uint64_t cumulative = 0;
  std::uint64_t value = max_;
  for_each_bucket([&](std::size_t i, std::uint64_t count) {
    cumulative += count;
    if (cumulative < rank) return true;
    value = std::clamp(highest_equivalent(i), min_, max_);
    return false;
  });
  return value;
}

std::uint64_t LatencyHistogram::value_at_percentile(double percent) const noexcept {
  if (total_ == 0) return 0;
  if (!(percent > 0)) return min_;  // also NaN
  if (percent >= 100) return max_;
  // Parts per billion, so that 99.9 % of 1000 is rank 999, not 1000 through a rounding error.
  const auto ppb = static_cast<u128>(std::llround(percent * 1e7));
  const u128 scaled = ppb * total_;
  const auto rank = static_cast<std::uint64_t>((scaled + 999'999'999) / 1'000'000'000);
  return value_at_rank(std::max<std::uint64_t>(rank, 1));
}

double LatencyHistogram::mean() const noexcept {
  if (total_ == 0) return 0;
  u128 sum = 0;  // exact: at most 2^42 per value times 2^64 samples
  for_each_bucket([&](std::size_t i, std::uint64_t count) { sum += static_cast<u128>(count) * median_equivalent(i); });
  return static_cast<double>(sum) / static_cast<double>(total_);
}

double LatencyHistogram::stddev() const noexcept {
  if (total_ == 0) return 0;
  const double m = mean();
  double sum = 0;
  for_each_bucket([&](std::size_t i, std::uint64_t count) {
    const double d = static_cast<double>(median_equivalent(i)) - m;
    sum += d * d * static_cast<double>(count);
  });
  return std::sqrt(sum / static_cast<double>(total_));
}

bool operator==(const LatencyHistogram& a, const LatencyHistogram& b) noexcept {
  // Equal min and max (or both empty) give both the same used range; every bucket outside it is 0.
  if (a.total_ != b.total_ || a.clamped_ != b.clamped_ || a.min() != b.min() || a.max_ != b.max_) return false;
  const std::size_t begin = a.used_begin();
  return std::memcmp(a.counts_.get() + begin, b.counts_.get() + begin, (a.used_length() - begin) * sizeof(std::uint64_t)) == 0;
}

nlohmann::json histogram_to_json(const LatencyHistogram& h) {
  nlohmann::json buckets = nlohmann::json::array();
  h.for_each_bucket([&](std::size_t i, std::uint64_t count) {
    buckets.push_back({LatencyHistogram::lowest_equivalent(i), count});
  });
  return {{"unit", "ns"},
          {"significant_digits", std::uint64_t{LatencyHistogram::significant_digits}},
          {"highest_trackable", LatencyHistogram::highest_trackable},
          {"total", h.total()},
          {"clamped", h.clamped()},
          {"min", h.min()},
          {"max", h.max()},
          {"buckets", std::move(buckets)}};
}

namespace {

Error bad(const std::string& what) { return Error::make(Errc::bad_option, "histogram: " + what); }

// A non-negative integer, whether nlohmann holds it as unsigned (parsed text) or signed (built
// in memory from an int).
bool is_count(const nlohmann::json& v) {
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0);
}

bool get_u64(const nlohmann::json& j, const char* key, std::uint64_t& out) {
  const auto it = j.find(key);
  if (it == j.end() || !is_count(*it)) return false;
  out = it->get<std::uint64_t>();
  return true;
}

}  // namespace

Result<HistogramFigures> check_histogram_json(const nlohmann::json& j) {
  if (!j.is_object()) return bad("not a JSON object");
  if (j.value("unit", std::string()) != "ns") return bad("\"unit\" must be \"ns\"");
  std::uint64_t digits = 0;
  std::uint64_t highest = 0;
  if (!get_u64(j, "significant_digits", digits) || digits != LatencyHistogram::significant_digits ||
      !get_u64(j, "highest_trackable", highest) || highest != LatencyHistogram::highest_trackable) {
    return bad("another layout (significant_digits must be 3 and highest_trackable 3600000000000)");
  }
  HistogramFigures f;
  const std::pair<const char*, std::uint64_t*> fields[] = {
      {"total", &f.total}, {"clamped", &f.clamped}, {"min", &f.min}, {"max", &f.max}};
  for (const auto& [key, out] : fields) {
    if (!get_u64(j, key, *out)) return bad(std::string("\"") + key + "\" must be a non-negative integer");
  }
  const auto buckets = j.find("buckets");
  if (buckets == j.end() || !buckets->is_array()) return bad("\"buckets\" must be an array");
  std::uint64_t sum = 0;
  std::size_t first = 0;
  std::size_t last = 0;
  bool any = false;
  for (const nlohmann::json& b : *buckets) {
    if (!b.is_array() || b.size() != 2 || !is_count(b[0]) || !is_count(b[1])) {
      return bad("every bucket must be [value, count] with non-negative integers");
    }
    const auto value = b[0].get<std::uint64_t>();
    const auto count = b[1].get<std::uint64_t>();
    if (value > LatencyHistogram::highest_trackable) return bad("bucket value " + std::to_string(value) + " out of range");
    const std::size_t index = LatencyHistogram::index_of(value);
    if (LatencyHistogram::lowest_equivalent(index) != value) {
      return bad("bucket value " + std::to_string(value) + " is not the start of a bucket");
    }
    if (count == 0) return bad("bucket " + std::to_string(value) + " has a count of 0");
    if (any && index <= last) return bad("buckets must be in ascending order without repeats");
    if (sum + count < sum) return bad("counts overflow");
    sum += count;
    if (!any) first = index;
    last = index;
    any = true;
  }
  if (sum != f.total) {
    return bad("bucket counts add up to " + std::to_string(sum) + ", not total " + std::to_string(f.total));
  }
  if (f.clamped > f.total) return bad("clamped exceeds total");
  if (f.total == 0) {
    if (f.min != 0 || f.max != 0) return bad("an empty histogram must have min and max 0");
    return f;
  }
  if (f.min > f.max || f.max > LatencyHistogram::highest_trackable || LatencyHistogram::index_of(f.min) != first ||
      LatencyHistogram::index_of(f.max) != last) {
    return bad("min and max must lie in the first and last non-empty buckets");
  }
  if (f.clamped != 0 && f.max != LatencyHistogram::highest_trackable) {
    return bad("clamped samples but max below the limit");
  }
  return f;
}

Result<void> merge_histogram_json(LatencyHistogram& h, const nlohmann::json& j) {
  auto figures = check_histogram_json(j);
  if (!figures) return figures.error();
  if (figures->total == 0) return {};
  // Checked: every bucket is [the start of a bucket, a count], in ascending order.
  for (const nlohmann::json& b : j["buckets"]) {
    h.counts_[LatencyHistogram::index_of(b[0].get<std::uint64_t>())] += b[1].get<std::uint64_t>();
  }
  h.total_ += figures->total;
  h.clamped_ += figures->clamped;
  h.min_ = std::min(h.min_, figures->min);
  h.max_ = std::max(h.max_, figures->max);
  return {};
}

Result<LatencyHistogram> histogram_from_json(const nlohmann::json& j) {
  LatencyHistogram h;
  if (auto merged = merge_histogram_json(h, j); !merged) return merged.error();
  return h;
}

}  // namespace salvo::cli
