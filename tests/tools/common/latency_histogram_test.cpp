// LatencyHistogram: percentiles within the stated precision on a known distribution, exact min and
// max, 0 and out-of-range values, merge == one histogram fed everything (bucket by bucket), and
// the lossless JSON form read back equal.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "common/latency_histogram.hpp"

namespace salvo::cli {
namespace {

using H = LatencyHistogram;

// A value reported for a sample must be the sample or above it by less than 1/1024 of it.
void expect_within_precision(std::uint64_t reported, std::uint64_t truth) {
  EXPECT_GE(reported, truth);
  EXPECT_LE(reported, truth + truth / 1024) << "reported " << reported << " for " << truth;
}

TEST(LatencyHistogram, UniformPercentilesWithinPrecision) {
  H h;
  for (std::uint64_t v = 1; v <= 1'000'000; ++v) h.record(v);
  EXPECT_EQ(h.total(), 1'000'000u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 1'000'000u);
  EXPECT_EQ(h.clamped(), 0u);
  // Rank ceil(p% of 10^6) of 1..10^6 is the value itself.
  expect_within_precision(h.value_at_percentile(50), 500'000);
  expect_within_precision(h.value_at_percentile(90), 900'000);
  expect_within_precision(h.value_at_percentile(99), 990'000);
  expect_within_precision(h.value_at_percentile(99.9), 999'000);
  expect_within_precision(h.value_at_percentile(99.99), 999'900);
  expect_within_precision(h.value_at_percentile(12.3456), 123'456);
  // 500,000 lies in a bucket 256 wide that starts at 499,968: its highest value is what is reported.
  EXPECT_EQ(h.value_at_percentile(50), 500'223u);
  EXPECT_EQ(h.value_at_percentile(0), 1u);
  EXPECT_EQ(h.value_at_percentile(100), 1'000'000u);
  EXPECT_EQ(h.value_at_rank(1), 1u);
  EXPECT_EQ(h.value_at_rank(1'000'000), 1'000'000u);
  EXPECT_NEAR(h.mean(), 500'000.5, 500'000.5 / 1024);
  EXPECT_NEAR(h.stddev(), 1e6 / std::sqrt(12.0), 1e6 / std::sqrt(12.0) / 200);
}

TEST(LatencyHistogram, PercentileRanksAreExact) {
  // 1000 samples: p99.9 is rank 999 (not 1000, as a floating-point 999.0000001 would make it).
  H h;
  for (std::uint64_t v = 1; v <= 1000; ++v) h.record(v);
  EXPECT_EQ(h.value_at_percentile(99.9), 999u);
  EXPECT_EQ(h.value_at_percentile(99.0), 990u);
  EXPECT_EQ(h.value_at_percentile(0.1), 1u);
  EXPECT_EQ(h.value_at_percentile(0.1001), 2u);
}

TEST(LatencyHistogram, ValuesBelow2048AreExact) {
  H h;
  for (std::uint64_t v = 0; v < 2048; ++v) h.record(v);
  for (std::uint64_t rank = 1; rank <= 2048; ++rank) ASSERT_EQ(h.value_at_rank(rank), rank - 1);
}

TEST(LatencyHistogram, ZeroIsRecorded) {
  H h;
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.value_at_percentile(50), 0u);  // empty
  h.record(0);
  EXPECT_EQ(h.total(), 1u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.value_at_percentile(50), 0u);
  EXPECT_EQ(h.count_at(0), 1u);
}

TEST(LatencyHistogram, ValuesBeyondOneHourAreClampedAndCounted) {
  H h;
  h.record(5);
  h.record(H::highest_trackable);          // the limit itself is in range
  h.record(H::highest_trackable + 1);
  h.record(~std::uint64_t{0}, 3);
  EXPECT_EQ(h.total(), 6u);
  EXPECT_EQ(h.clamped(), 4u);
  EXPECT_EQ(h.min(), 5u);
  EXPECT_EQ(h.max(), H::highest_trackable);
  EXPECT_EQ(h.value_at_percentile(100), H::highest_trackable);
  EXPECT_EQ(h.count_at(H::index_of(H::highest_trackable)), 5u);
}

TEST(LatencyHistogram, BucketGeometry) {
  EXPECT_LT(H::index_of(H::highest_trackable), H::counts_length);
  EXPECT_EQ(H::counts_length, 33'792u);
  std::mt19937_64 random(7);
  std::vector<std::uint64_t> values;
  for (unsigned bit = 0; bit < 42; ++bit) {
    const std::uint64_t p = std::uint64_t{1} << bit;
    values.insert(values.end(), {p - 1, p, p + 1});
  }
  for (int i = 0; i < 10'000; ++i) values.push_back(random() % (H::highest_trackable + 1));
  for (std::uint64_t v : values) {
    if (v > H::highest_trackable) continue;
    const std::size_t i = H::index_of(v);
    const std::uint64_t lo = H::lowest_equivalent(i);
    const std::uint64_t hi = H::highest_equivalent(i);
    ASSERT_LE(lo, v);
    ASSERT_GE(hi, v);
    ASSERT_LE(hi - lo + 1, std::max<std::uint64_t>(1, lo / 1024)) << v;
    ASSERT_EQ(H::index_of(lo), i);
    ASSERT_EQ(H::index_of(hi), i);
    if (hi < H::highest_trackable) {
      ASSERT_EQ(H::index_of(hi + 1), i + 1);
    }
    ASSERT_GE(H::median_equivalent(i), lo);
    ASSERT_LE(H::median_equivalent(i), hi);
  }
}

// Log-uniform values from 0 ns to past one hour, so that every bucket range is exercised.
std::vector<std::uint64_t> spread_values(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::vector<std::uint64_t> values;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned bits = static_cast<unsigned>(random() % 44);  // up to 2^43 > one hour
    values.push_back(bits == 0 ? 0 : random() >> (64 - bits));
  }
  return values;
}

TEST(LatencyHistogram, MergeEqualsOneHistogramFedEverything) {
  const auto a_values = spread_values(50'000, 1);
  const auto b_values = spread_values(70'000, 2);
  H a;
  H b;
  H all;
  for (auto v : a_values) {
    a.record(v);
    all.record(v);
  }
  for (auto v : b_values) {
    b.record(v);
    all.record(v);
  }
  ASSERT_GT(all.clamped(), 0u) << "the sample should reach past one hour";
  H merged = a;
  merged.merge(b);
  for (std::size_t i = 0; i < H::counts_length; ++i) ASSERT_EQ(merged.count_at(i), all.count_at(i)) << "bucket " << i;
  EXPECT_EQ(merged.total(), all.total());
  EXPECT_EQ(merged.clamped(), all.clamped());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_TRUE(merged == all);
  for (double p : {0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    EXPECT_EQ(merged.value_at_percentile(p), all.value_at_percentile(p)) << p;
  }
  EXPECT_EQ(merged.mean(), all.mean());
  EXPECT_EQ(merged.stddev(), all.stddev());
  // Merging an empty histogram changes nothing, either way round.
  H empty;
  merged.merge(empty);
  EXPECT_TRUE(merged == all);
  empty.merge(all);
  EXPECT_TRUE(empty == all);
}

TEST(LatencyHistogram, JsonRoundTripIsEqual) {
  H h;
  for (auto v : spread_values(20'000, 3)) h.record(v);
  const nlohmann::json j = histogram_to_json(h);
  auto back = histogram_from_json(j);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(*back == h);
  // Through text too, as a file would carry it.
  auto from_text = histogram_from_json(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(from_text.ok()) << from_text.error().message;
  EXPECT_TRUE(*from_text == h);
  EXPECT_EQ(histogram_to_json(*from_text), j);

  H empty;
  auto empty_back = histogram_from_json(histogram_to_json(empty));
  ASSERT_TRUE(empty_back.ok()) << empty_back.error().message;
  EXPECT_TRUE(*empty_back == empty);
}

TEST(LatencyHistogram, JsonFormIsSparseAndReadable) {
  H h;
  h.record(3);
  h.record(3);
  h.record(1'000'000);
  const nlohmann::json j = histogram_to_json(h);
  EXPECT_EQ(j["unit"], "ns");
  EXPECT_EQ(j["total"], 3u);
  EXPECT_EQ(j["min"], 3u);
  EXPECT_EQ(j["max"], 1'000'000u);
  EXPECT_EQ(j["buckets"], nlohmann::json::parse("[[3, 2], [999936, 1]]"));
  // Written by hand (or by another tool), small numbers are signed JSON integers: still counts.
  nlohmann::json by_hand = j;
  by_hand["total"] = 3;
  by_hand["min"] = 3;
  by_hand["buckets"] = {{3, 2}, {999936, 1}};
  auto back = histogram_from_json(by_hand);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(*back == h);
}

TEST(LatencyHistogram, InconsistentJsonIsRejectedWithAReason) {
  H h;
  h.record(3);
  h.record(1'000'000);
  const nlohmann::json good = histogram_to_json(h);
  struct Case {
    const char* what;
    std::function<void(nlohmann::json&)> spoil;
    const char* mentions;
  };
  const std::vector<Case> cases = {
      {"total off", [](nlohmann::json& j) { j["total"] = 3; }, "total"},
      {"not a bucket start", [](nlohmann::json& j) { j["buckets"][1][0] = 1'000'001; }, "start of a bucket"},
      {"unsorted", [](nlohmann::json& j) { std::swap(j["buckets"][0], j["buckets"][1]); }, "ascending"},
      {"negative count", [](nlohmann::json& j) { j["buckets"][0][1] = -1; }, "[value, count]"},
      {"zero count", [](nlohmann::json& j) { j["buckets"][0][1] = 0; j["total"] = 1; }, "count of 0"},
      {"missing min", [](nlohmann::json& j) { j.erase("min"); }, "min"},
      {"min outside", [](nlohmann::json& j) { j["min"] = 2; }, "min and max"},
      {"max outside", [](nlohmann::json& j) { j["max"] = 2'000'000; }, "min and max"},
      {"other layout", [](nlohmann::json& j) { j["significant_digits"] = 2; }, "layout"},
      {"other unit", [](nlohmann::json& j) { j["unit"] = "us"; }, "unit"},
      {"beyond range", [](nlohmann::json& j) { j["buckets"][1][0] = 1ull << 50; }, "out of range"},
      {"string total", [](nlohmann::json& j) { j["total"] = "2"; }, "total"},
      {"clamped over total", [](nlohmann::json& j) { j["clamped"] = 5; }, "clamped"},
      {"not an object", [](nlohmann::json& j) { j = nlohmann::json::array(); }, "object"},
  };
  H target;
  target.record(77);
  const H target_before = target;
  for (const Case& c : cases) {
    nlohmann::json j = good;
    c.spoil(j);
    auto r = histogram_from_json(j);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_NE(r.error().message.find(c.mentions), std::string::npos) << c.what << ": " << r.error().message;
    // The readers that build no histogram of their own refuse it alike, and change nothing.
    auto checked = check_histogram_json(j);
    ASSERT_FALSE(checked.ok()) << c.what;
    EXPECT_EQ(checked.error().message, r.error().message) << c.what;
    auto merged = merge_histogram_json(target, j);
    ASSERT_FALSE(merged.ok()) << c.what;
    EXPECT_EQ(merged.error().message, r.error().message) << c.what;
    EXPECT_TRUE(target == target_before) << c.what;
  }
}

TEST(LatencyHistogram, JsonFiguresAndMergeWithoutAHistogramInBetween) {
  H a;
  H b;
  for (auto v : spread_values(20'000, 4)) a.record(v);
  for (auto v : spread_values(30'000, 5)) b.record(v);
  const nlohmann::json b_json = nlohmann::json::parse(histogram_to_json(b).dump());
  auto figures = check_histogram_json(b_json);
  ASSERT_TRUE(figures.ok()) << figures.error().message;
  EXPECT_EQ(figures->total, b.total());
  EXPECT_EQ(figures->clamped, b.clamped());
  EXPECT_EQ(figures->min, b.min());
  EXPECT_EQ(figures->max, b.max());

  H expected = a;
  expected.merge(b);
  H merged = a;
  ASSERT_TRUE(merge_histogram_json(merged, b_json).ok());
  EXPECT_TRUE(merged == expected);
  H into_empty;
  ASSERT_TRUE(merge_histogram_json(into_empty, b_json).ok());
  EXPECT_TRUE(into_empty == b);
  // An empty form adds nothing.
  ASSERT_TRUE(merge_histogram_json(merged, histogram_to_json(H())).ok());
  EXPECT_TRUE(merged == expected);
}

TEST(LatencyHistogram, ForEachBucketVisitsEveryNonEmptyBucketInOrder) {
  // Buckets next to each other, inside and at the edges of the blocks of eight the walk skips,
  // and far apart.
  H h;
  const std::vector<std::uint64_t> values = {0, 1, 7, 8, 9, 15, 16, 23, 100, 1'000'000, H::highest_trackable};
  for (std::size_t k = 0; k < values.size(); ++k) h.record(values[k], k + 1);
  std::vector<std::pair<std::size_t, std::uint64_t>> seen;
  h.for_each_bucket([&](std::size_t i, std::uint64_t count) { seen.emplace_back(i, count); });
  std::vector<std::pair<std::size_t, std::uint64_t>> expected;
  for (std::size_t i = 0; i < H::counts_length; ++i) {
    if (h.count_at(i) != 0) expected.emplace_back(i, h.count_at(i));
  }
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(seen.size(), values.size());
  // Stopped by returning false.
  std::size_t visits = 0;
  h.for_each_bucket([&](std::size_t, std::uint64_t) { return ++visits < 3; });
  EXPECT_EQ(visits, 3u);
  H().for_each_bucket([](std::size_t, std::uint64_t) { ADD_FAILURE() << "an empty histogram has no bucket"; });
}

TEST(LatencyHistogram, CopiesResetsAndComparisonsCoverEveryUsedBucket) {
  // Copies, resets and comparisons look only at the buckets from min's to max's: each of these
  // must still see every bucket that differs.
  H low;
  H high;
  for (std::uint64_t v : {5u, 900u, 40'000u}) low.record(v);
  for (std::uint64_t v : {std::uint64_t{1'000'000}, std::uint64_t{7'000'000'000}}) high.record(v);
  H copy = high;
  copy = low;  // replaces high's buckets, which lie outside low's range
  EXPECT_TRUE(copy == low);
  for (std::size_t i = 0; i < H::counts_length; ++i) ASSERT_EQ(copy.count_at(i), low.count_at(i)) << "bucket " << i;
  const H copied(high);
  for (std::size_t i = 0; i < H::counts_length; ++i) ASSERT_EQ(copied.count_at(i), high.count_at(i)) << "bucket " << i;
  copy.reset();
  EXPECT_TRUE(copy == H());
  for (std::size_t i = 0; i < H::counts_length; ++i) ASSERT_EQ(copy.count_at(i), 0u) << "bucket " << i;
  // Same total, min and max, one bucket inside the range apart.
  H a;
  H b;
  for (std::uint64_t v : {10u, 5000u, 90'000u}) a.record(v);
  for (std::uint64_t v : {10u, 6000u, 90'000u}) b.record(v);
  EXPECT_FALSE(a == b);
  EXPECT_EQ(a.used_begin(), H::index_of(10));
  EXPECT_EQ(a.used_length(), H::index_of(90'000) + 1);
  EXPECT_EQ(H().used_begin(), 0u);
  EXPECT_EQ(H().used_length(), 0u);
}

}  // namespace
}  // namespace salvo::cli
