// salvo blast as a child process, counted by a receiving socket in the test: --rate holds within
// 2% of rate x duration and spreads the datagrams over the run; --size-range stays in range, hits
// both ends and is reproducible for a seed; --flows sends from that many distinct source ports
// with exact per-flow counts; --count splits exactly; the progress line comes once a second on
// stderr unless --quiet; GSO is on by default, off with --no-gso, and a refused GSO send falls back
// without loss; bad flags are one-line usage errors with exit code 2.
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "cli/udp_receiver.hpp"
#include "cli/cli_test_support.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

const std::string salvo_bin = SALVO_CLI_PATH;

ProcessResult salvo(std::vector<std::string> args, std::chrono::milliseconds timeout = 60s) {
  args.insert(args.begin(), salvo_bin);
  return run_process(args, timeout);
}

std::size_t progress_lines(const std::string& err) {
  static const std::regex line(R"(^salvo blast: \d+\.\d\d-\d+\.\d\d s  sent \d+ datagrams  \d+ pps  [0-9.]+ Mbit/s  errors \d+$)");
  std::size_t n = 0;
  for (const auto& l : lines_of(err)) n += std::regex_match(l, line) ? 1 : 0;
  return n;
}

class Blast : public testing::TestWithParam<BackendKind> {
 protected:
  std::string backend() const { return std::string(to_string(GetParam())); }
};

// One paced 2-second run, counted by a receiving socket.
struct PacedRun {
  std::uint64_t arrived = 0;  // read, plus dropped by the receiving socket's full queue
  double first_second_share = 0;
  nlohmann::json report;
};
PacedRun paced_run(const std::string& backend, std::uint64_t rate) {
  UdpReceiver rx(addr("127.0.0.1:0"), 2 * rate + 10000);
  const auto r = salvo({"blast", "--to", rx.local().to_string(), "--rate", std::to_string(rate), "--duration", "2",
                        "--quiet", "--json", "--backend", backend});
  if (!r.exited || r.exit_code != 0) throw std::runtime_error(show(r));
  rx.wait_quiet(300ms, 10s);
  rx.stop();
  PacedRun run;
  run.report = json_of(r);
  run.arrived = rx.records().size() + rx.kernel_drops();
  if (!rx.records().empty()) {
    const auto first = rx.records().front().at;
    std::uint64_t early = 0;
    for (const auto& rec : rx.records()) early += rec.at < first + 1s ? 1 : 0;
    run.first_second_share = static_cast<double>(early) / static_cast<double>(rx.records().size());
  }
  return run;
}

TEST_P(Blast, RateIsWithinTwoPercentOfRateTimesDuration) {
  for (const std::uint64_t rate : {10000u, 100000u}) {
    SCOPED_TRACE("--rate " + std::to_string(rate));
    const std::uint64_t expected = 2 * rate;
    // A sender that did not get the CPU to keep its rate (this machine is shared) says so in
    // behind_schedule; such a run is repeated, at most 3 times. A pacing error that the sender
    // does not see (too many, too few, or in a lump) fails every run.
    PacedRun run;
    for (int attempt = 1; attempt <= 3; ++attempt) {
      run = paced_run(backend(), rate);
      const std::uint64_t behind = run.report["behind_schedule"].get<std::uint64_t>();
      // Accounting, exact: what was sent plus what fell behind is what the rate made due.
      EXPECT_EQ(run.report["sent"].get<std::uint64_t>() + behind, expected) << run.report.dump();
      if (behind <= expected / 100) break;
      std::fprintf(stderr, "attempt %d: the sender fell behind by %llu datagrams (CPU starved); again\n", attempt,
                   static_cast<unsigned long long>(behind));
    }
    const nlohmann::json& j = run.report;
    EXPECT_NEAR(static_cast<double>(run.arrived), static_cast<double>(expected), expected * 0.02) << j.dump();
    // On loopback, what the kernel accepted from blast is what reached the receiving socket.
    EXPECT_EQ(j["sent"].get<std::uint64_t>(), run.arrived) << j.dump();
    EXPECT_EQ(j["rate"].get<std::uint64_t>(), rate);
    EXPECT_GE(j["elapsed_s"].get<double>(), 2.0);
    EXPECT_LT(j["elapsed_s"].get<double>(), 3.0);
    // Paced, not sent in a lump: about half of it came in the first second.
    EXPECT_GT(run.first_second_share, 0.4);
    EXPECT_LT(run.first_second_share, 0.6);
  }
}

// The (sequence number -> size) pairs a seeded --size-range blast produces, as received.
std::map<std::uint64_t, std::uint32_t> sizes_for_seed(const std::string& backend, const std::string& seed,
                                                      nlohmann::json* report = nullptr) {
  UdpReceiver rx(addr("127.0.0.1:0"));
  const auto r = salvo({"blast", "--to", rx.local().to_string(), "--count", "3000", "--size-range", "10-20", "--seed",
                        seed, "--quiet", "--json", "--backend", backend});
  if (!r.exited || r.exit_code != 0) throw std::runtime_error(show(r));
  if (!rx.wait_for_count(3000, 20s)) throw std::runtime_error("only " + std::to_string(rx.count()) + " of 3000 arrived");
  rx.stop();
  std::map<std::uint64_t, std::uint32_t> sizes;
  for (const auto& rec : rx.records()) sizes[rec.seq] = rec.size;
  if (report != nullptr) *report = json_of(r);
  return sizes;
}

TEST_P(Blast, SizeRangeStaysInRangeHitsBothEndsAndIsReproducible) {
  nlohmann::json j;
  const auto a = sizes_for_seed(backend(), "7", &j);
  ASSERT_EQ(a.size(), 3000u) << "every sequence number once";
  std::set<std::uint32_t> seen;
  std::uint64_t bytes = 0;
  for (const auto& [seq, size] : a) {
    ASSERT_GE(size, 10u) << "seq " << seq;
    ASSERT_LE(size, 20u) << "seq " << seq;
    seen.insert(size);
    bytes += size;
  }
  EXPECT_EQ(seen.size(), 11u) << "every size from 10 to 20, both ends included";
  EXPECT_EQ(j["sent"].get<std::uint64_t>(), 3000u);
  EXPECT_EQ(j["sent_bytes"].get<std::uint64_t>(), bytes);
  EXPECT_EQ(j["size_min"].get<std::uint64_t>(), 10u);
  EXPECT_EQ(j["size_max"].get<std::uint64_t>(), 20u);
  EXPECT_FALSE(j.contains("size"));

  EXPECT_EQ(sizes_for_seed(backend(), "7"), a) << "the same seed, the same sizes";
  const auto c = sizes_for_seed(backend(), "8");
  int differing = 0;
  for (const auto& [seq, size] : a) differing += c.at(seq) == size ? 0 : 1;
  EXPECT_GT(differing, 2000) << "another seed, other sizes (11 values: about 10/11 differ)";
}

TEST_P(Blast, FlowsSendFromDistinctPortsWithEqualCounts) {
  UdpReceiver rx(addr("127.0.0.1:0"));
  const auto r = salvo({"blast", "--to", rx.local().to_string(), "--count", "8000", "--flows", "8", "--workers", "2",
                        "--rate", "40000", "--size", "32", "--quiet", "--json", "--backend", backend()});
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  ASSERT_TRUE(rx.wait_for_count(8000, 20s)) << rx.count() << " of 8000";
  rx.wait_quiet(100ms, 5s);
  rx.stop();
  const nlohmann::json j = json_of(r);
  EXPECT_EQ(j["sent"].get<std::uint64_t>(), 8000u);
  EXPECT_EQ(j["flows"].get<unsigned>(), 8u);
  ASSERT_EQ(j["per_worker"].size(), 2u);
  EXPECT_EQ(j["per_worker"][0]["sent"].get<std::uint64_t>(), 4000u);
  EXPECT_EQ(j["per_worker"][1]["sent"].get<std::uint64_t>(), 4000u);
  std::set<std::uint16_t> reported;
  for (const auto& s : j["sources"]) reported.insert(addr(s.get<std::string>()).port());
  EXPECT_EQ(reported.size(), 8u);

  std::map<std::uint16_t, std::map<std::uint64_t, int>> per_port;  // port -> seq -> times seen
  for (const auto& rec : rx.records()) ++per_port[rec.from_port][rec.seq];
  EXPECT_EQ(rx.records().size(), 8000u);
  ASSERT_EQ(per_port.size(), 8u) << "exactly 8 distinct source ports";
  for (const auto& [port, seqs] : per_port) {
    EXPECT_EQ(reported.count(port), 1u) << port;
    // 1000 per flow; each of the 2 workers numbers its 500 of the flow from 0.
    ASSERT_EQ(seqs.size(), 500u) << "port " << port;
    EXPECT_EQ(seqs.begin()->first, 0u);
    EXPECT_EQ(seqs.rbegin()->first, 499u);
    for (const auto& [seq, times] : seqs) ASSERT_EQ(times, 2) << "port " << port << " seq " << seq;
  }
}

TEST_P(Blast, CountSplitsExactlyOverUnevenFlowsAndWorkers) {
  UdpReceiver rx(addr("127.0.0.1:0"));
  const auto r = salvo({"blast", "--to", rx.local().to_string(), "--count", "1001", "--flows", "3", "--workers", "2",
                        "--size", "16", "--quiet", "--json", "--backend", backend()});
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  ASSERT_TRUE(rx.wait_for_count(1001, 20s)) << rx.count() << " of 1001";
  rx.wait_quiet(100ms, 5s);
  rx.stop();
  const nlohmann::json j = json_of(r);
  EXPECT_EQ(j["sent"].get<std::uint64_t>(), 1001u);
  // Flows get 334, 334, 333; each flow's share splits over the 2 workers (167/167, 167/167, 167/166).
  EXPECT_EQ(j["per_worker"][0]["sent"].get<std::uint64_t>(), 501u);
  EXPECT_EQ(j["per_worker"][1]["sent"].get<std::uint64_t>(), 500u);
  std::map<std::uint16_t, int> per_port;
  for (const auto& rec : rx.records()) ++per_port[rec.from_port];
  std::multiset<int> counts;
  for (const auto& [port, n] : per_port) counts.insert(n);
  EXPECT_EQ(counts, (std::multiset<int>{333, 334, 334}));
  ASSERT_EQ(j["sources"].size(), 3u);
  EXPECT_EQ(per_port.at(addr(j["sources"][2].get<std::string>()).port()), 333) << "the last flow gets the smaller share";
}

TEST_P(Blast, ProgressLineEverySecondUnlessQuiet) {
  UdpReceiver rx(addr("127.0.0.1:0"));
  const auto r = salvo({"blast", "--to", rx.local().to_string(), "--rate", "1000", "--duration", "3", "--backend",
                        backend()});
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const std::size_t lines = progress_lines(r.err);
  EXPECT_GE(lines, 2u) << r.err;
  EXPECT_LE(lines, 4u) << r.err;
  EXPECT_NE(r.err.find("salvo blast: 0.00-1."), std::string::npos) << "the first interval starts at 0: " << r.err;
  EXPECT_TRUE(r.out.empty()) << "progress goes to stderr";

  const auto quiet = salvo({"blast", "--to", rx.local().to_string(), "--rate", "1000", "--duration", "2.5", "--quiet",
                            "--backend", backend()});
  ASSERT_TRUE(quiet.exited) << show(quiet);
  ASSERT_EQ(quiet.exit_code, 0) << show(quiet);
  EXPECT_EQ(progress_lines(quiet.err), 0u) << quiet.err;
  EXPECT_NE(quiet.err.find("salvo blast: backend"), std::string::npos) << "the summary still comes: " << quiet.err;
}

// A counted blast of `count` 100-byte datagrams with `extra` flags: every datagram arrives once.
nlohmann::json counted_blast(const std::string& backend, std::uint64_t count, const std::vector<std::string>& extra,
                             std::string* err = nullptr) {
  UdpReceiver rx(addr("127.0.0.1:0"));
  std::vector<std::string> args = {"blast", "--to", rx.local().to_string(), "--count", std::to_string(count),
                                   "--size", "100", "--quiet", "--json", "--backend", backend};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = salvo(args);
  if (!r.exited || r.exit_code != 0) throw std::runtime_error(show(r));
  if (!rx.wait_for_count(count, 20s)) throw std::runtime_error("only " + std::to_string(rx.count()) + " arrived");
  rx.wait_quiet(100ms, 2s);
  rx.stop();
  std::set<std::uint64_t> seqs;
  for (const auto& rec : rx.records()) {
    if (!seqs.insert(rec.seq).second) throw std::runtime_error("sequence " + std::to_string(rec.seq) + " twice");
  }
  if (seqs.size() != count) throw std::runtime_error(std::to_string(seqs.size()) + " distinct datagrams arrived");
  if (err != nullptr) *err = r.err;
  return json_of(r);
}

TEST_P(Blast, GsoByDefaultNoGsoOffAndARefusalFallsBack) {
  constexpr std::uint64_t count = 5000;
  std::string err;
  const nlohmann::json on = counted_blast(backend(), count, {}, &err);
  EXPECT_TRUE(on["gso"].get<bool>());
  const nlohmann::json& c = on["counters"];
  EXPECT_EQ(c["sent"].get<std::uint64_t>(), count) << on.dump();
  EXPECT_GT(c["gso_sends"].get<std::uint64_t>(), 0u) << on.dump();
  EXPECT_LE(c["gso_segments"].get<std::uint64_t>(), count) << on.dump();
  EXPECT_GE(c["gso_segments"].get<std::uint64_t>(), 2 * c["gso_sends"].get<std::uint64_t>()) << on.dump();
  EXPECT_NE(err.find("  GSO: "), std::string::npos) << "the summary says what GSO did: " << err;

  const nlohmann::json off = counted_blast(backend(), count, {"--no-gso"}, &err);
  EXPECT_FALSE(off["gso"].get<bool>());
  EXPECT_EQ(off["counters"]["gso_sends"].get<std::uint64_t>(), 0u) << off.dump();
  EXPECT_EQ(err.find("  GSO: "), std::string::npos) << err;

  // The test seam makes the kernel refuse GSO sends: the socket falls back once, nothing is lost.
  EnvGuard seam("SALVO_TEST_GSO_ERROR", "EIO");
  const nlohmann::json refused = counted_blast(backend(), count, {"--gso"});
  EXPECT_EQ(refused["counters"]["sent"].get<std::uint64_t>(), count) << refused.dump();
  EXPECT_EQ(refused["counters"]["gso_sends"].get<std::uint64_t>(), 0u) << refused.dump();
  EXPECT_EQ(refused["counters"]["gso_fallbacks"].get<std::uint64_t>(), 1u) << refused.dump();
}

INSTANTIATE_TEST_SUITE_P(Backends, Blast, testing::ValuesIn(available_backends()), backend_test_name);

class BlastUsage : public testing::TestWithParam<UsageCase> {};

TEST_P(BlastUsage, ExitsWithCode2AndOneLine) {
  const auto r = salvo(GetParam().args, 10s);
  expect_usage_error(r, GetParam().mentions);
}

const std::vector<std::string> blast_to = {"blast", "--to", "127.0.0.1:9", "--count", "10"};
std::vector<std::string> blast_with(std::vector<std::string> extra) {
  std::vector<std::string> a = blast_to;
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BlastUsage,
    testing::Values(UsageCase{"RateGarbage", blast_with({"--rate", "fast"}), {"--rate", "fast"}},
                    UsageCase{"RateZero", blast_with({"--rate", "0"}), {"--rate 0", "at least 1"}},
                    UsageCase{"RateNegative", blast_with({"--rate=-5"}), {"--rate", "-5"}},
                    UsageCase{"RateFraction", blast_with({"--rate", "1.5"}), {"--rate", "1.5"}},
                    UsageCase{"SizeRangeBackwards", blast_with({"--size-range", "10-5"}), {"--size-range 10-5", "MIN"}},
                    UsageCase{"SizeRangeGarbage", blast_with({"--size-range", "ten"}), {"--size-range", "ten"}},
                    UsageCase{"SizeRangeTooLarge", blast_with({"--size-range", "10-65508"}), {"--size-range", "65507"}},
                    UsageCase{"SizeAndSizeRange", blast_with({"--size", "10", "--size-range", "1-2"}), {"--size-range"}},
                    UsageCase{"BurstWithoutRate", blast_with({"--burst", "4"}), {"--burst", "--rate"}},
                    UsageCase{"FlowsZero", blast_with({"--flows", "0"}), {"--flows"}},
                    UsageCase{"FlowsWithFixedPort", blast_with({"--flows", "2", "--bind", "127.0.0.1:5555"}),
                              {"--bind", "--flows"}},
                    UsageCase{"MissingTo", {"blast", "--rate", "10", "--count", "1"}, {"--to"}},
                    // Found by fuzzing: CLI11's std::stoll threw out_of_range past main().
                    UsageCase{"FlagValueOutOfRange", blast_with({"--no-gso=-99999999999999999999"}), {"out of range"}}),
    [](const testing::TestParamInfo<UsageCase>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace salvo::test
