// Ping results as JSON, and their merge: two runs' reports merged equal the report of one run
// that saw both runs' samples and counts; a merge of merges equals one merge; broken reports are
// refused with the report's name and the field.
#include <gtest/gtest.h>

#include <random>

#include "ping/ping_report.hpp"

namespace salvo::cli {
namespace {

struct PingRun {
  PingCounts counts;
  std::vector<std::uint64_t> samples;
};

PingRun make_run(std::uint64_t seed, std::uint64_t sent) {
  std::mt19937_64 random(seed);
  PingRun r;
  r.counts.sent = sent;
  r.counts.duplicates = random() % 10;
  r.counts.reordered = random() % 10;
  r.counts.invalid = random() % 10;
  r.counts.late = random() % 3;
  r.counts.send_failed = random() % 3;
  r.counts.refused = random() % 3;
  r.counts.received = sent - 1 - random() % 50;  // some lost, so the summary explains loss
  std::lognormal_distribution<double> latency(11.0, 1.5);  // around 60 us, with a long tail
  for (std::uint64_t i = 0; i < r.counts.received; ++i) r.samples.push_back(static_cast<std::uint64_t>(latency(random)));
  return r;
}

LatencyHistogram histogram_of(std::initializer_list<const PingRun*> runs) {
  LatencyHistogram h;
  for (const PingRun* r : runs) {
    for (auto v : r->samples) h.record(v);
  }
  return h;
}

nlohmann::json report_of(const PingRun& r, const std::string& to = "127.0.0.1:9000") {
  nlohmann::json j;
  j["command"] = "ping";
  j["to"] = to;
  j["size"] = 64;
  j["rate"] = 1000.0;
  j["ping"] = ping_results_json(r.counts, histogram_of({&r}));
  // As a file carries it.
  return nlohmann::json::parse(j.dump());
}

TEST(PingReport, ResultsJsonHasCountsFiguresAndHistogram) {
  const PingRun a = make_run(1, 5000);
  const LatencyHistogram h = histogram_of({&a});
  const nlohmann::json j = ping_results_json(a.counts, h);
  EXPECT_EQ(j["sent"], 5000u);
  EXPECT_EQ(j["received"], a.counts.received);
  EXPECT_EQ(j["lost"], 5000u - a.counts.received);
  EXPECT_EQ(j["duplicates"], a.counts.duplicates);
  EXPECT_EQ(j["latency_ns"]["min"], h.min());
  EXPECT_EQ(j["latency_ns"]["max"], h.max());
  EXPECT_EQ(j["latency_ns"]["p50"], h.value_at_percentile(50));
  EXPECT_EQ(j["latency_ns"]["p99_99"], h.value_at_percentile(99.99));
  EXPECT_EQ(j["histogram"]["total"], a.counts.received);
  auto back = ping_results_from_json(j);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->counts, a.counts);
  EXPECT_TRUE(back->latency == h);
}

TEST(PingReport, TwoRunsMergedEqualOneRunOverTheSameSamples) {
  const PingRun a = make_run(1, 5000);
  const PingRun b = make_run(2, 7000);
  PingCounts both = a.counts;
  both += b.counts;
  const nlohmann::json single = ping_results_json(both, histogram_of({&a, &b}));

  auto merged = merge_ping_reports({report_of(a), report_of(b)}, {"a.json", "b.json"});
  ASSERT_TRUE(merged.ok()) << merged.error().message;
  EXPECT_EQ((*merged)["ping"], single) << "merged:\n" << (*merged)["ping"].dump() << "\nsingle:\n" << single.dump();
  EXPECT_EQ((*merged)["command"], "ping");
  EXPECT_EQ((*merged)["merged_from"], nlohmann::json::parse(R"(["a.json", "b.json"])"));
  EXPECT_EQ((*merged)["to"], "127.0.0.1:9000");
  EXPECT_EQ((*merged)["size"], 64);
  EXPECT_EQ((*merged)["ping"]["sent"], 12000u);
  EXPECT_EQ((*merged)["ping"]["received"], a.counts.received + b.counts.received);
}

TEST(PingReport, MergeOfMergesEqualsOneMerge) {
  const PingRun a = make_run(1, 3000);
  const PingRun b = make_run(2, 4000);
  const PingRun c = make_run(3, 5000);
  auto ab = merge_ping_reports({report_of(a), report_of(b)}, {"a", "b"});
  ASSERT_TRUE(ab.ok()) << ab.error().message;
  auto ab_c = merge_ping_reports({nlohmann::json::parse(ab->dump()), report_of(c)}, {"ab", "c"});
  ASSERT_TRUE(ab_c.ok()) << ab_c.error().message;
  auto abc = merge_ping_reports({report_of(a), report_of(b), report_of(c)}, {"a", "b", "c"});
  ASSERT_TRUE(abc.ok()) << abc.error().message;
  EXPECT_EQ((*ab_c)["ping"], (*abc)["ping"]);
}

TEST(PingReport, DifferingParametersAreLeftOut) {
  const PingRun a = make_run(1, 100);
  const PingRun b = make_run(2, 100);
  auto merged = merge_ping_reports({report_of(a, "127.0.0.1:1"), report_of(b, "127.0.0.1:2")}, {"a", "b"});
  ASSERT_TRUE(merged.ok()) << merged.error().message;
  EXPECT_FALSE(merged->contains("to"));
  EXPECT_EQ((*merged)["rate"], 1000.0);
}

TEST(PingReport, BrokenReportsAreRefusedByName) {
  const PingRun a = make_run(1, 100);
  const nlohmann::json good = report_of(a);
  struct Case {
    const char* what;
    nlohmann::json report;
    const char* mentions;
  };
  nlohmann::json no_ping = good;
  no_ping.erase("ping");
  nlohmann::json lost_wrong = good;
  lost_wrong["ping"]["lost"] = 12345;
  nlohmann::json received_mismatch = good;
  received_mismatch["ping"]["received"] = a.counts.received - 1;
  received_mismatch["ping"]["lost"] = a.counts.lost() + 1;
  nlohmann::json negative = good;
  negative["ping"]["duplicates"] = -3;
  nlohmann::json bad_histogram = good;
  bad_histogram["ping"]["histogram"]["total"] = 1;
  const std::vector<Case> cases = {
      {"no ping object", no_ping, "no \"ping\" object"},
      {"not an object", nlohmann::json::array({1, 2}), "no \"ping\" object"},
      {"lost inconsistent", lost_wrong, "ping.lost"},
      {"histogram total != received", received_mismatch, "samples"},
      {"negative count", negative, "ping.duplicates"},
      {"broken histogram", bad_histogram, "histogram"},
  };
  for (const Case& c : cases) {
    auto merged = merge_ping_reports({good, c.report}, {"good.json", "bad.json"});
    ASSERT_FALSE(merged.ok()) << c.what;
    EXPECT_EQ(merged.error().message.rfind("bad.json: ", 0), 0u) << c.what << ": " << merged.error().message;
    EXPECT_NE(merged.error().message.find(c.mentions), std::string::npos) << c.what << ": " << merged.error().message;
    // The "ping" object's two readers refuse it with the same message, the one merge gave.
    if (!c.report.is_object() || !c.report.contains("ping")) continue;
    auto results = ping_results_from_json(c.report["ping"]);
    auto counts = ping_counts_from_json(c.report["ping"]);
    ASSERT_FALSE(results.ok()) << c.what;
    ASSERT_FALSE(counts.ok()) << c.what;
    EXPECT_EQ(counts.error().message, results.error().message) << c.what;
    EXPECT_EQ("bad.json: " + results.error().message, merged.error().message) << c.what;
  }
  auto counts = ping_counts_from_json(good["ping"]);
  ASSERT_TRUE(counts.ok()) << counts.error().message;
  EXPECT_EQ(*counts, a.counts);
}

TEST(PingReport, SummaryNamesTheFigures) {
  const PingRun a = make_run(1, 1000);
  const std::string text = ping_summary_text("127.0.0.1:9", a.counts, histogram_of({&a}), 1.5);
  EXPECT_NE(text.find("sent 1000, received " + std::to_string(a.counts.received)), std::string::npos) << text;
  EXPECT_NE(text.find("p99.99"), std::string::npos) << text;
  EXPECT_NE(text.find("within 1.500 s"), std::string::npos) << text;
}

}  // namespace
}  // namespace salvo::cli
