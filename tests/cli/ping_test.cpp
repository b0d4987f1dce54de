// `salvo ping` and `salvo merge` as child processes, for every backend: exact counts against
// `salvo echo`; exact loss, duplicate, reordering and invalid counts against a scripted echo
// server in a test thread; a server stall showing in the upper percentiles (the coordinated-
// omission check); the .hgrm file; merge of two runs; usage errors.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

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

std::string temp_path(const std::string& name) {
  return testing::TempDir() + "salvo_ping_test_" + std::to_string(::getpid()) + "_" + name;
}

std::uint64_t u64(const nlohmann::json& j) { return j.get<std::uint64_t>(); }

// The ping object's figures must be ordered and its histogram must hold `received` samples.
void expect_consistent_latency(const nlohmann::json& ping) {
  const nlohmann::json& l = ping["latency_ns"];
  std::uint64_t previous = 0;
  for (const char* key : {"min", "p50", "p90", "p99", "p99_9", "p99_99", "max"}) {
    ASSERT_TRUE(l.contains(key) && l[key].is_number_unsigned()) << key << " in " << l.dump();
    EXPECT_GE(u64(l[key]), previous) << key << " in " << l.dump();
    previous = u64(l[key]);
  }
  EXPECT_EQ(u64(ping["histogram"]["total"]), u64(ping["received"]));
  std::uint64_t sum = 0;
  for (const auto& b : ping["histogram"]["buckets"]) sum += u64(b[1]);
  EXPECT_EQ(sum, u64(ping["received"]));
}

// Checks a .hgrm file: header, four columns per row (three on the last), monotone values,
// percentiles and counts, a last line at percentile 1 with the total, and the footer's total.
void expect_valid_hgrm(const std::string& path, std::uint64_t total) {
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "no file " << path;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::size_t i = 0;
  while (i < lines.size() && lines[i].rfind("# ", 0) == 0) ++i;
  ASSERT_GE(i, 1u) << "a comment line says what and which unit";
  std::string comments;
  for (std::size_t c = 0; c < i; ++c) comments += lines[c] + "\n";
  EXPECT_NE(comments.find("values in microseconds"), std::string::npos) << comments;
  ASSERT_LT(i + 1, lines.size());
  EXPECT_EQ(lines[i], "       Value     Percentile TotalCount 1/(1-Percentile)");
  EXPECT_EQ(lines[i + 1], "");
  double last_value = -1;
  double last_percentile = -1;
  unsigned long long last_count = 0;
  bool saw_last_row = false;
  std::size_t rows = 0;
  for (i += 2; i < lines.size() && lines[i].rfind("#[", 0) != 0; ++i) {
    ASSERT_FALSE(saw_last_row) << "rows after the 100 % row: " << lines[i];
    double value = 0;
    double percentile = 0;
    unsigned long long count = 0;
    double inverse = 0;
    const int n = std::sscanf(lines[i].c_str(), "%lf %lf %llu %lf", &value, &percentile, &count, &inverse);
    ASSERT_TRUE(n == 4 || n == 3) << lines[i];
    EXPECT_GE(value, last_value) << lines[i];
    EXPECT_GE(percentile, last_percentile) << lines[i];
    EXPECT_GE(count, last_count) << lines[i];
    saw_last_row = n == 3;
    last_value = value;
    last_percentile = percentile;
    last_count = count;
    ++rows;
  }
  EXPECT_GT(rows, 5u);
  EXPECT_TRUE(saw_last_row);
  EXPECT_EQ(last_percentile, 1.0);
  EXPECT_EQ(last_count, total);
  ASSERT_EQ(lines.size(), i + 3) << "three footer lines";
  unsigned long long footer_total = 0;
  double max = 0;
  ASSERT_EQ(std::sscanf(lines[i + 1].c_str(), "#[Max     = %lf, Total count    = %llu]", &max, &footer_total), 2)
      << lines[i + 1];
  EXPECT_EQ(footer_total, total);
  EXPECT_EQ(max, last_value);
}

// An echo server in a test thread that misbehaves on purpose, by the arrival index of each
// datagram (which, on loopback from one sender, is the ping sequence number):
//   drop(i): no reply; dup(i): two replies; swap(i): the reply goes out after the next one's;
//   garbage(i): an extra datagram that is not a reply to this run; pause_at: sleep `pause` once
//   before replying to that datagram (a stalled server).
struct Script {
  std::function<bool(std::uint64_t)> drop = [](std::uint64_t) { return false; };
  std::function<bool(std::uint64_t)> dup = [](std::uint64_t) { return false; };
  std::function<bool(std::uint64_t)> swap = [](std::uint64_t) { return false; };
  std::function<bool(std::uint64_t)> garbage = [](std::uint64_t) { return false; };
  std::optional<std::uint64_t> pause_at;
  std::chrono::milliseconds pause{0};
};

class ScriptedEcho {
 public:
  explicit ScriptedEcho(Script script)
      : script_(std::move(script)), socket_(addr("127.0.0.1:0"), 4 << 20, 4 << 20), thread_([this] { run(); }) {}
  ~ScriptedEcho() {
    stop_ = true;
    thread_.join();
  }
  const Address& address() const { return socket_.local(); }
  std::uint64_t received() const { return received_.load(); }
  std::uint64_t garbage_sent() const { return garbage_sent_.load(); }

 private:
  void send(const std::vector<std::byte>& payload, const Address& to) {
    if (!socket_.send_to(payload, to)) throw std::runtime_error("scripted echo: send refused");
  }

  // Six kinds of datagrams that are not replies to this run, in turn.
  std::vector<std::byte> garbage_for(const std::vector<std::byte>& reply, std::uint64_t n) {
    std::vector<std::byte> g = reply;
    switch (n % 6) {
      case 0: g.resize(5); break;                               // shorter than the header
      case 1: g[0] = std::byte{'X'}; break;                      // another magic
      case 2: g[16] = std::byte{0xFF}; g[23] = std::byte{0x7F}; break;  // a sequence number never sent
      case 3: g[8] ^= std::byte{0x01}; break;                    // another run's token
      case 4: g.push_back(std::byte{0}); break;                  // another size
      default: g[24] ^= std::byte{0x01}; break;                  // a time off the schedule
    }
    return g;
  }

  void run() {
    std::optional<UdpSocket::Message> held;
    std::uint64_t index = 0;
    bool paused = false;
    while (!stop_) {
      auto m = socket_.receive(20ms);
      if (!m) {
        if (held) send(held->payload, held->from);  // nothing followed: let it go
        held.reset();
        continue;
      }
      const std::uint64_t i = index++;
      received_ = index;
      if (script_.pause_at && i == *script_.pause_at && !paused) {
        paused = true;
        std::this_thread::sleep_for(script_.pause);  // the stall under test, not a wait for a result
      }
      if (script_.drop(i)) continue;
      if (script_.swap(i)) {
        held = std::move(m);
        continue;
      }
      send(m->payload, m->from);
      if (script_.dup(i)) send(m->payload, m->from);
      if (held) send(held->payload, held->from);
      held.reset();
      if (script_.garbage(i)) send(garbage_for(m->payload, garbage_sent_++), m->from);
    }
  }

  Script script_;
  UdpSocket socket_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> received_{0};
  std::atomic<std::uint64_t> garbage_sent_{0};
  std::thread thread_;
};

class PingCli : public testing::TestWithParam<BackendKind> {
 protected:
  std::string backend() const { return std::string(to_string(GetParam())); }
};

TEST_P(PingCli, AgainstSalvoEchoEveryReplyIsCounted) {
  Child echo({salvo_bin, "echo", "--bind", "127.0.0.1:0", "--json", "--backend", backend()});
  ASSERT_TRUE(echo.wait_for_stderr(")\n", 20s)) << echo.err_so_far();
  const Address where = listening_address(echo.err_so_far());
  const std::string hgrm = temp_path("echo.hgrm");

  const auto r = salvo({"ping", "--to", where.to_string(), "--rate", "1000", "--count", "1000", "--json", "--hgrm",
                        hgrm, "--backend", backend()});
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const nlohmann::json j = parse_json_line(r.out);
  const nlohmann::json& p = j["ping"];
  EXPECT_EQ(j["command"], "ping");
  EXPECT_EQ(j["backend"], backend());
  EXPECT_EQ(j["to"], where.to_string());
  EXPECT_EQ(u64(j["requested_count"]), 1000u);
  EXPECT_EQ(j["all_sent"], true);
  EXPECT_EQ(u64(p["sent"]), 1000u) << p.dump();
  EXPECT_EQ(u64(p["received"]), 1000u) << p.dump();
  EXPECT_EQ(u64(p["lost"]), 0u);
  EXPECT_EQ(u64(p["duplicates"]), 0u);
  EXPECT_EQ(u64(p["reordered"]), 0u);
  EXPECT_EQ(u64(p["invalid"]), 0u);
  EXPECT_EQ(u64(p["late"]), 0u);
  EXPECT_EQ(u64(j["sent"]), 1000u) << "the engine's own count";
  EXPECT_EQ(u64(j["sent_bytes"]), 64000u);
  EXPECT_EQ(u64(j["received"]), 1000u);
  expect_consistent_latency(p);
  // The schedule spans 999 ms; the run ends as soon as the last reply is in.
  EXPECT_GE(j["elapsed_s"].get<double>(), 0.999);
  // The human summary goes to stderr with --json.
  EXPECT_NE(r.err.find("sent 1000, received 1000, lost 0"), std::string::npos) << r.err;
  expect_valid_hgrm(hgrm, 1000);
  std::remove(hgrm.c_str());

  echo.send_signal(SIGTERM);
  const auto e = echo.finish(20s);
  ASSERT_TRUE(e.exited) << show(e);
  const nlohmann::json ej = parse_json_line(e.out);
  EXPECT_EQ(u64(ej["received"]), 1000u);
  EXPECT_EQ(u64(ej["sent"]), 1000u);
}

TEST_P(PingCli, WithoutJsonTheSummaryIsOnStdout) {
  Child echo({salvo_bin, "echo", "--bind", "127.0.0.1:0", "--backend", backend()});
  ASSERT_TRUE(echo.wait_for_stderr(")\n", 20s)) << echo.err_so_far();
  const Address where = listening_address(echo.err_so_far());
  const auto r = salvo({"ping", "--to", where.to_string(), "--rate", "2000", "--count", "100", "--backend", backend()});
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  EXPECT_EQ(r.out.rfind("salvo ping " + where.to_string() + ": sent 100, received 100, lost 0", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("p99.99"), std::string::npos) << r.out;
}

TEST_P(PingCli, LossDuplicatesReorderingAndStrangersAreCountedExactly) {
  Script s;
  s.drop = [](std::uint64_t i) { return i % 10 == 9; };
  s.dup = [](std::uint64_t i) { return i % 17 == 16; };
  s.swap = [s](std::uint64_t i) { return i % 50 == 20 && !s.drop(i) && !s.dup(i); };
  s.garbage = [](std::uint64_t i) { return i % 100 == 55; };
  std::uint64_t lost = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t swapped = 0;
  std::uint64_t garbage = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    lost += s.drop(i);
    duplicated += !s.drop(i) && s.dup(i);
    swapped += s.swap(i);
    garbage += !s.drop(i) && s.garbage(i);
  }
  // The script's arithmetic, spelled out: 100 dropped, 58 - 5 dropped = 53 doubled, 20 - 1 doubled
  // = 19 swapped, 10 strangers.
  ASSERT_EQ(lost, 100u);
  ASSERT_EQ(duplicated, 53u);
  ASSERT_EQ(swapped, 19u);
  ASSERT_EQ(garbage, 10u);

  ScriptedEcho server(s);
  const auto r = salvo({"ping", "--to", server.address().to_string(), "--rate", "1000", "--count", "1000", "--linger",
                        "0.5", "--json", "--backend", backend()});
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  ASSERT_EQ(server.received(), 1000u) << "the scripted server must see every datagram for the counts to hold";
  const nlohmann::json p = parse_json_line(r.out)["ping"];
  EXPECT_EQ(u64(p["sent"]), 1000u) << p.dump();
  EXPECT_EQ(u64(p["received"]), 1000u - lost) << p.dump();
  EXPECT_EQ(u64(p["lost"]), lost);
  EXPECT_EQ(u64(p["duplicates"]), duplicated);
  EXPECT_EQ(u64(p["reordered"]), swapped);
  EXPECT_EQ(u64(p["invalid"]), garbage);
  EXPECT_EQ(u64(p["late"]), 0u);
  expect_consistent_latency(p);
  EXPECT_NE(r.err.find("replies later than that count as lost"), std::string::npos) << r.err;
}

TEST_P(PingCli, AStalledServerShowsInTheUpperPercentiles) {
  // 500 datagrams, 2 ms apart; the server sleeps 200 ms before answering datagram 100. Measured
  // from the schedule, datagram 100 + j waits at least 200 - 2j ms, so the 6 slowest replies
  // (p99 of 500) took at least 190 ms and the 51 slowest (p90) at least 100 ms. A prober that
  // measured from its actual sends, or waited for each reply, would see one slow sample.
  Script s;
  s.pause_at = 100;
  s.pause = 200ms;
  ScriptedEcho server(s);
  const auto r = salvo({"ping", "--to", server.address().to_string(), "--rate", "500", "--count", "500", "--json",
                        "--backend", backend()});
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const nlohmann::json p = parse_json_line(r.out)["ping"];
  EXPECT_EQ(u64(p["sent"]), 500u);
  EXPECT_EQ(u64(p["received"]), 500u) << p.dump();
  const nlohmann::json& l = p["latency_ns"];
  EXPECT_GE(u64(l["max"]), 200'000'000u) << l.dump();
  EXPECT_GE(u64(l["p99_9"]), 200'000'000u) << l.dump();
  EXPECT_GE(u64(l["p99"]), 190'000'000u) << l.dump();
  EXPECT_GE(u64(l["p90"]), 100'000'000u) << l.dump();
  expect_consistent_latency(p);
}

TEST_P(PingCli, ASilentServerMeansEverythingLostAndAPromptEnd) {
  UdpSocket silent(addr("127.0.0.1:0"));  // receives and never answers
  const auto r = salvo({"ping", "--to", silent.local().to_string(), "--rate", "200", "--count", "20", "--linger", "0.2",
                        "--json", "--backend", backend()},
                       30s);
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const nlohmann::json p = parse_json_line(r.out)["ping"];
  EXPECT_EQ(u64(p["sent"]), 20u);
  EXPECT_EQ(u64(p["received"]), 0u);
  EXPECT_EQ(u64(p["lost"]), 20u);
  EXPECT_EQ(u64(p["invalid"]), 0u);
  EXPECT_EQ(u64(p["histogram"]["total"]), 0u);
}

TEST_P(PingCli, MergeOfTwoRunsSumsCountsAndHistograms) {
  Child echo({salvo_bin, "echo", "--bind", "127.0.0.1:0", "--backend", backend()});
  ASSERT_TRUE(echo.wait_for_stderr(")\n", 20s)) << echo.err_so_far();
  const Address where = listening_address(echo.err_so_far());
  std::vector<std::string> files;
  std::vector<nlohmann::json> runs;
  for (const char* count : {"200", "300"}) {
    const auto r = salvo({"ping", "--to", where.to_string(), "--rate", "2000", "--count", count, "--json", "--backend",
                          backend()});
    ASSERT_TRUE(r.exited) << show(r);
    ASSERT_EQ(r.exit_code, 0) << show(r);
    files.push_back(temp_path(std::string("run") + count + ".json"));
    std::ofstream(files.back()) << r.out;
    runs.push_back(parse_json_line(r.out));
  }
  const std::string hgrm = temp_path("merged.hgrm");
  // --mix: the runs' counts differ; --json: the merged report on stdout.
  const auto m = salvo({"merge", files[0], files[1], "--hgrm", hgrm, "--mix", "--json"}, 20s);
  ASSERT_TRUE(m.exited) << show(m);
  ASSERT_EQ(m.exit_code, 0) << show(m);
  const nlohmann::json merged = parse_json_line(m.out);
  const nlohmann::json& p = merged["ping"];
  EXPECT_EQ(merged["command"], "ping");
  EXPECT_EQ(merged["merged_from"], nlohmann::json(files));
  EXPECT_EQ(merged["to"], where.to_string());
  for (const char* key : {"sent", "received", "lost", "duplicates", "reordered", "invalid", "late"}) {
    EXPECT_EQ(u64(p[key]), u64(runs[0]["ping"][key]) + u64(runs[1]["ping"][key])) << key;
  }
  EXPECT_EQ(u64(p["sent"]), 500u);
  // The merged histogram is the bucket-wise sum of the two.
  std::map<std::uint64_t, std::uint64_t> expected;
  for (const auto& run : runs) {
    for (const auto& b : run["ping"]["histogram"]["buckets"]) expected[u64(b[0])] += u64(b[1]);
  }
  std::map<std::uint64_t, std::uint64_t> got;
  for (const auto& b : p["histogram"]["buckets"]) got[u64(b[0])] += u64(b[1]);
  EXPECT_EQ(got, expected);
  EXPECT_EQ(u64(p["latency_ns"]["min"]),
            std::min(u64(runs[0]["ping"]["latency_ns"]["min"]), u64(runs[1]["ping"]["latency_ns"]["min"])));
  EXPECT_EQ(u64(p["latency_ns"]["max"]),
            std::max(u64(runs[0]["ping"]["latency_ns"]["max"]), u64(runs[1]["ping"]["latency_ns"]["max"])));
  expect_consistent_latency(p);
  expect_valid_hgrm(hgrm, u64(p["received"]));
  for (const auto& f : files) std::remove(f.c_str());
  std::remove(hgrm.c_str());
  echo.send_signal(SIGTERM);
  EXPECT_TRUE(echo.finish(20s).exited);
}

INSTANTIATE_TEST_SUITE_P(Backends, PingCli, testing::ValuesIn(available_backends()), backend_test_name);

class PingUsage : public testing::TestWithParam<UsageCase> {};

TEST_P(PingUsage, ExitsWithCode2AndOneLine) {
  const auto r = salvo(GetParam().args, 20s);
  expect_usage_error(r, GetParam().mentions);
}

const std::vector<UsageCase> usage_cases = {
    {"RateZero", {"ping", "--to", "127.0.0.1:9", "--count", "1", "--rate", "0"}, {"--rate", "'0'"}},
    {"RateNegative", {"ping", "--to", "127.0.0.1:9", "--count", "1", "--rate", "-5"}, {"--rate"}},
    {"RateNegativeInline", {"ping", "--to", "127.0.0.1:9", "--count", "1", "--rate=-5"}, {"--rate", "-5"}},
    {"RateGarbage", {"ping", "--to", "127.0.0.1:9", "--count", "1", "--rate", "fast"}, {"--rate", "fast"}},
    {"RateTooHigh", {"ping", "--to", "127.0.0.1:9", "--count", "1", "--rate", "1e9"}, {"--rate"}},
    {"RateNaN", {"ping", "--to", "127.0.0.1:9", "--count", "1", "--rate", "nan"}, {"--rate"}},
    {"SizeBelowHeader", {"ping", "--to", "127.0.0.1:9", "--count", "1", "--size", "31"}, {"--size", "31", "32"}},
    {"SizeTooLarge", {"ping", "--to", "127.0.0.1:9", "--count", "1", "--size", "65508"}, {"--size", "65507"}},
    {"SizeGarbage", {"ping", "--to", "127.0.0.1:9", "--count", "1", "--size", "big"}, {"--size"}},
    {"MissingTo", {"ping", "--count", "1"}, {"--to"}},
    {"ToWithoutPort", {"ping", "--to", "127.0.0.1", "--count", "1"}, {"127.0.0.1"}},
    {"ToUnknownName", {"ping", "--to", "no-such-host.invalid:9", "--count", "1"}, {"--to", "no-such-host.invalid"}},
    {"ToPortZero", {"ping", "--to", "127.0.0.1:0", "--count", "1"}, {"127.0.0.1:0"}},
    {"NoCountNoDuration", {"ping", "--to", "127.0.0.1:9"}, {"--count", "--duration"}},
    {"CountZero", {"ping", "--to", "127.0.0.1:9", "--count", "0"}, {"--count"}},
    {"DurationTooShortForRate", {"ping", "--to", "127.0.0.1:9", "--rate", "1", "--duration", "0.5"}, {"--duration"}},
    {"TwoWorkers", {"ping", "--to", "127.0.0.1:9", "--count", "1", "--workers", "2"}, {"--workers", "merge"}},
    {"NegativeLinger", {"ping", "--to", "127.0.0.1:9", "--count", "1", "--linger", "-1"}, {"--linger"}},
    {"UnwritableHgrm", {"ping", "--to", "127.0.0.1:9", "--count", "1", "--hgrm", "/nonexistent-dir/x.hgrm"},
     {"/nonexistent-dir/x.hgrm"}},
    {"BindOtherFamily", {"ping", "--to", "127.0.0.1:9", "--count", "1", "--bind", "[::1]:0"}, {"--bind"}},
    {"MergeMissingFile", {"merge", "/nonexistent-dir/a.json"}, {"/nonexistent-dir/a.json", "No such file"}},
    {"MergeNoFiles", {"merge"}, {"files"}},
};

INSTANTIATE_TEST_SUITE_P(Cases, PingUsage, testing::ValuesIn(usage_cases),
                         [](const testing::TestParamInfo<UsageCase>& p) { return std::string(p.param.name); });

TEST(MergeCli, GarbageAndForeignFilesAreClearErrors) {
  const std::string garbage = temp_path("garbage.json");
  std::ofstream(garbage) << "this is not JSON {";
  const std::string foreign = temp_path("foreign.json");
  std::ofstream(foreign) << R"({"command": "impair", "received": 3})";  // merge reads blast, sink, echo, ping
  const std::string broken = temp_path("broken.json");
  std::ofstream(broken) << R"({"command": "ping", "ping": {"sent": 1, "received": 2}})";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {garbage, "not JSON"}, {foreign, "not a salvo report"}, {broken, "ping."}};
  for (const auto& [file, mention] : cases) {
    const auto r = salvo({"merge", file}, 20s);
    ASSERT_TRUE(r.exited) << show(r);
    EXPECT_EQ(r.exit_code, 2) << show(r);
    const auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_NE(lines[0].find(file), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find(mention), std::string::npos) << lines[0];
    EXPECT_TRUE(r.out.empty()) << r.out;
    std::remove(file.c_str());
  }
}

}  // namespace
}  // namespace salvo::test
