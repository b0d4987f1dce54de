// sockperf (the real client, installed on the machine) against `salvo echo --sockperf`, in its
// three modes, for every backend: sockperf reports no errors, loss, duplicates or reordering, and
// the counts on both sides agree exactly where the protocol makes them exact.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "cli/cli_test_support.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

const std::string salvo_bin = SALVO_CLI_PATH;

// The sockperf program on PATH, or "" when it is not installed.
std::string find_sockperf() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/sockperf";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::uint64_t u64(const nlohmann::json& j) { return j.get<std::uint64_t>(); }

// One unsigned number captured by `pattern` in sockperf's output; fails the test when absent.
std::uint64_t capture(const std::string& output, const std::string& pattern, std::size_t group = 1) {
  std::smatch m;
  const std::regex re(pattern);
  if (!std::regex_search(output, m, re)) {
    ADD_FAILURE() << "sockperf's output has no match for /" << pattern << "/:\n" << output;
    return 0;
  }
  return std::stoull(m[static_cast<int>(group)].str());
}

class SockperfCli : public testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    sockperf_ = find_sockperf();
    if (sockperf_.empty()) GTEST_SKIP() << "sockperf is not installed";
  }

  // Runs `salvo echo --sockperf` and one sockperf client against it; returns sockperf's output and
  // the echo's JSON report. The echo ends 5 s after the last datagram (or after its start): long
  // enough for sockperf, which waits 2 s before its first message, and for the echo to read every
  // datagram still queued when sockperf exits.
  std::pair<std::string, nlohmann::json> run(const std::vector<std::string>& client_args) {
    const std::string backend(to_string(GetParam()));
    Child echo({salvo_bin, "echo", "--sockperf", "--bind", "127.0.0.1:0", "--idle-exit", "5", "--json", "--backend",
                backend, "--rcvbuf", "4194304"});
    if (!echo.wait_for_stderr(")\n", 20s)) {
      ADD_FAILURE() << "salvo echo did not start: " << echo.err_so_far();
      return {};
    }
    const Address where = listening_address(echo.err_so_far());
    std::vector<std::string> argv = {sockperf_};
    argv.insert(argv.end(), client_args.begin(), client_args.end());
    argv.insert(argv.end(), {"-i", "127.0.0.1", "-p", std::to_string(where.port())});
    const ProcessResult client = run_process(argv, 60s);
    EXPECT_TRUE(client.exited) << show(client);
    EXPECT_EQ(client.exit_code, 0) << show(client);
    const std::string output = client.out + client.err;
    EXPECT_EQ(output.find("ERROR"), std::string::npos) << output;
    const ProcessResult served = echo.finish(30s);
    EXPECT_TRUE(served.exited) << show(served);
    EXPECT_EQ(served.exit_code, 0) << show(served);
    nlohmann::json report;
    try {
      report = parse_json_line(served.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what() << "\n" << show(served);
    }
    EXPECT_NE(served.err.find("sockperf: "), std::string::npos) << "the summary has a sockperf line: " << served.err;
    return {output, report};
  }

  std::string sockperf_;
};

const std::string total_run = R"(\[Total Run\] RunTime=[0-9.]+ sec; Warm up time=[0-9]+ msec; SentMessages=([0-9]+); ReceivedMessages=([0-9]+))";
const std::string anomalies = R"(# dropped messages = ([0-9]+); # duplicated messages = ([0-9]+); # out-of-order messages = ([0-9]+))";

void expect_no_anomalies(const std::string& output) {
  EXPECT_EQ(capture(output, anomalies, 1), 0u) << "dropped";
  EXPECT_EQ(capture(output, anomalies, 2), 0u) << "duplicated";
  EXPECT_EQ(capture(output, anomalies, 3), 0u) << "out of order";
}

TEST_P(SockperfCli, PingPongEveryMessageIsAnswered) {
  const auto [output, echo] = run({"ping-pong", "-t", "2"});
  if (HasFailure()) return;
  const std::uint64_t sent = capture(output, total_run, 1);
  const std::uint64_t received = capture(output, total_run, 2);
  ASSERT_GT(sent, 100u) << output;
  expect_no_anomalies(output);
  const nlohmann::json& s = echo["sockperf"];
  // Every message asks for a pong; the one in flight when sockperf's timer fired may be unread.
  EXPECT_EQ(u64(s["messages"]), sent) << s.dump();
  EXPECT_EQ(u64(s["replies"]), sent) << s.dump();
  EXPECT_TRUE(received == sent || received + 1 == sent) << "sockperf received " << received << " of " << sent;
  EXPECT_EQ(u64(s["no_reply"]), 0u);
  EXPECT_EQ(u64(s["invalid"]), 0u);
  EXPECT_EQ(u64(s["not_client"]), 0u);
  EXPECT_EQ(u64(s["reply_failed"]), 0u);
  EXPECT_EQ(u64(echo["received"]), sent);
  EXPECT_EQ(u64(echo["sent"]), sent);
  EXPECT_EQ(u64(echo["kernel_drops"]), 0u);
}

TEST_P(SockperfCli, UnderLoadOnlyEveryHundredthMessageIsAnswered) {
  const auto [output, echo] = run({"under-load", "-t", "2", "--mps", "1000"});
  if (HasFailure()) return;
  const std::uint64_t sent = capture(output, total_run, 1);
  const std::uint64_t received = capture(output, total_run, 2);
  ASSERT_GT(sent, 1000u) << output;
  expect_no_anomalies(output);
  const nlohmann::json& s = echo["sockperf"];
  // sockperf numbers its messages from 1 and asks for a pong on every 100th (--reply-every 100).
  EXPECT_EQ(u64(s["messages"]), sent) << s.dump();
  EXPECT_EQ(u64(s["replies"]), sent / 100) << s.dump();
  EXPECT_EQ(u64(s["no_reply"]), sent - sent / 100) << s.dump();
  EXPECT_TRUE(received == sent / 100 || received + 1 == sent / 100)
      << "sockperf received " << received << " replies; salvo sent " << u64(s["replies"]);
  EXPECT_EQ(u64(s["invalid"]), 0u);
  EXPECT_EQ(u64(s["not_client"]), 0u);
  EXPECT_EQ(u64(echo["sent"]), sent / 100);
  EXPECT_EQ(u64(echo["kernel_drops"]), 0u);
}

TEST_P(SockperfCli, ThroughputNothingIsAnswered) {
  const auto [output, echo] = run({"throughput", "-t", "1"});
  if (HasFailure()) return;
  const std::uint64_t sent = capture(output, R"(Total of ([0-9]+) messages sent in)");
  ASSERT_GT(sent, 1000u) << output;
  const nlohmann::json& s = echo["sockperf"];
  // A flood: what the echo's socket could not queue is in kernel_drops; the rest was counted.
  EXPECT_EQ(u64(echo["received"]) + u64(echo["kernel_drops"]), sent) << echo.dump();
  EXPECT_EQ(u64(s["messages"]), u64(echo["received"])) << s.dump();
  EXPECT_EQ(u64(s["no_reply"]), u64(s["messages"]));
  EXPECT_EQ(u64(s["replies"]), 0u);
  EXPECT_EQ(u64(s["invalid"]), 0u);
  EXPECT_EQ(u64(echo["sent"]), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, SockperfCli, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
