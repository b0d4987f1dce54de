// `salvo merge` of four `salvo ping` instances (issue 22), started together with --start-at against
// one `salvo echo`, on every backend: the merge equals one ping over the union of their samples.
// That one ping's histogram is built here from the four reports' samples (each bucket's samples,
// with each run's exact min and max), independently of merge, and its whole "ping" object (counts,
// percentiles, moments, buckets) must equal merge's, field for field.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_test_support.hpp"
#include "common/latency_histogram.hpp"
#include "common/start_at.hpp"
#include "ping/ping_report.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

const std::string salvo_bin = SALVO_CLI_PATH;
constexpr int instances = 4;

std::uint64_t u64(const nlohmann::json& v) { return v.get<std::uint64_t>(); }

// Records one run's samples into `union_`: every bucket's count at the bucket's lowest value,
// but one sample at the run's exact min and one at its exact max (which the report keeps apart from
// the buckets), as the run itself recorded them.
void add_samples(cli::LatencyHistogram& union_, const nlohmann::json& histogram) {
  const std::uint64_t total = u64(histogram["total"]);
  if (total == 0) return;
  const std::uint64_t min = u64(histogram["min"]);
  const std::uint64_t max = u64(histogram["max"]);
  const std::size_t min_bucket = cli::LatencyHistogram::index_of(min);
  const std::size_t max_bucket = cli::LatencyHistogram::index_of(max);
  for (const nlohmann::json& b : histogram["buckets"]) {
    const std::uint64_t value = u64(b[0]);
    std::uint64_t count = u64(b[1]);
    const std::size_t index = cli::LatencyHistogram::index_of(value);
    if (index == min_bucket) {
      union_.record(min);
      --count;
    }
    if (index == max_bucket && total > 1 && count > 0) {
      union_.record(max);
      --count;
    }
    // The rest of the min's bucket at the min itself: a sample there is no lower than it.
    if (count > 0) union_.record(index == min_bucket ? min : value, count);
  }
}

class PingUnion : public testing::TestWithParam<BackendKind> {
 protected:
  std::string backend() const { return std::string(to_string(GetParam())); }
};

TEST_P(PingUnion, MergeOfFourInstancesEqualsOnePingOverTheUnionOfTheirSamples) {
  Child echo({salvo_bin, "echo", "--bind", "127.0.0.1:0", "--backend", backend()});
  ASSERT_TRUE(echo.wait_for_stderr(")\n", 20s)) << echo.err_so_far();
  const std::string to = listening_address(echo.err_so_far()).to_string();
  const std::string start_at = cli::format_rfc3339_us(cli::wall_clock_ns() + 1'500'000'000);
  std::vector<std::unique_ptr<Child>> pings;
  for (int i = 0; i < instances; ++i) {
    pings.push_back(std::make_unique<Child>(std::vector<std::string>{
        salvo_bin, "ping", "--to", to, "--rate", "2000", "--count", "300", "--start-at", start_at, "--label",
        "ping" + std::to_string(i), "--json", "--backend", backend()}));
  }
  const std::string dir = testing::TempDir() + "salvo_ping_union_" + std::to_string(::getpid()) + "_";
  std::vector<std::string> files;
  std::vector<nlohmann::json> reports;
  cli::PingCounts sums;
  cli::LatencyHistogram union_;
  for (int i = 0; i < instances; ++i) {
    const ProcessResult r = pings[static_cast<std::size_t>(i)]->finish(60s);
    ASSERT_TRUE(r.exited && r.exit_code == 0) << show(r);
    reports.push_back(parse_json_line(r.out));
    const nlohmann::json& p = reports.back()["ping"];
    EXPECT_EQ(u64(p["sent"]), 300u);
    EXPECT_EQ(reports.back()["label"], "ping" + std::to_string(i));
    for (const cli::PingCountField& f : cli::ping_count_fields) sums.*f.member += u64(p[f.name]);
    add_samples(union_, p["histogram"]);
    files.push_back(dir + std::to_string(i) + ".json");
    std::ofstream(files.back()) << r.out;
  }
  ASSERT_EQ(union_.total(), sums.received);

  std::vector<std::string> merge = {salvo_bin, "merge", "--json"};
  merge.insert(merge.end(), files.begin(), files.end());
  const ProcessResult m = run_process(merge, 20s);
  ASSERT_TRUE(m.exited && m.exit_code == 0) << show(m);
  const nlohmann::json merged = parse_json_line(m.out);
  EXPECT_EQ(merged["command"], "ping");
  EXPECT_EQ(u64(merged["sent"]), instances * 300u);
  // The whole "ping" object: counts, latency_ns (percentiles, min, max, mean, stddev), histogram.
  EXPECT_EQ(merged["ping"], cli::ping_results_json(sums, union_));
  ASSERT_EQ(merged["instances"].size(), static_cast<std::size_t>(instances));
  for (int i = 0; i < instances; ++i) {
    EXPECT_EQ(merged["instances"][static_cast<std::size_t>(i)]["label"], "ping" + std::to_string(i));
  }
  std::printf("[ figure ] %s: 4 pings started within %.3f ms of each other\n", backend().c_str(),
              merged["start_spread_s"].get<double>() * 1e3);
  for (const std::string& f : files) std::remove(f.c_str());
  echo.send_signal(SIGTERM);
  EXPECT_TRUE(echo.finish(20s).exited);
}

INSTANTIATE_TEST_SUITE_P(Backends, PingUnion, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
