// `--start-at` and `--label` on the command line (issue 22), on every backend: a bad time or label
// is one usage line; a run set up for a later start and stopped by SIGTERM while it waits ends at
// once with nothing sent; a paced blast with --duration owes exactly rate x duration datagrams
// counted from the start, and its report's start is not before the time asked for.
#include <signal.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_test_support.hpp"
#include "cli/udp_receiver.hpp"
#include "common/start_at.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

const std::string salvo_bin = SALVO_CLI_PATH;

std::string seconds_from_now(double s) {
  return cli::format_rfc3339_us(cli::wall_clock_ns() + static_cast<std::int64_t>(s * 1e9));
}

std::uint64_t u64(const nlohmann::json& v) { return v.get<std::uint64_t>(); }

class StartAtUsage : public testing::TestWithParam<UsageCase> {};

TEST_P(StartAtUsage, ExitsWithCode2AndOneLine) { expect_usage_error(run_salvo(GetParam().args), GetParam().mentions); }

std::vector<std::string> blast(std::vector<std::string> extra) {
  std::vector<std::string> a = {"blast", "--to", "127.0.0.1:9", "--count", "10"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}
std::vector<std::string> ping(std::vector<std::string> extra) {
  std::vector<std::string> a = {"ping", "--to", "127.0.0.1:9", "--count", "10"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, StartAtUsage,
    testing::Values(
        UsageCase{"BlastPast", blast({"--start-at", "2000-01-01T00:00:00Z"}), {"--start-at 2000-01-01T00:00:00Z", "has passed"}},
        UsageCase{"PingPast", ping({"--start-at", "946684800"}), {"--start-at 946684800", "has passed", "or now"}},
        UsageCase{"BlastMalformed", blast({"--start-at", "soon"}), {"--start-at 'soon'", "RFC 3339", "Unix seconds", "now"}},
        UsageCase{"PingNoOffset", ping({"--start-at", "2030-01-01T00:00:00"}), {"not a time", "RFC 3339"}},
        UsageCase{"BlastTooFarAhead", blast({"--start-at", "9999-12-31T23:59:59Z"}), {"more than 24 hours ahead"}},
        UsageCase{"LabelWithASpace", blast({"--label", "a b"}), {"--label 'a b'", "no space"}},
        UsageCase{"SinkLabelTooLong", {"sink", "--bind", "127.0.0.1:0", "--label", std::string(65, 'x')}, {"1 to 64"}}),
    [](const testing::TestParamInfo<UsageCase>& p) { return std::string(p.param.name); });

class StartAtCli : public testing::TestWithParam<BackendKind> {
 protected:
  std::string backend() const { return std::string(to_string(GetParam())); }
};

// Set up for a start a minute away, then stopped while waiting: a prompt end, nothing sent, the
// report says interrupted.
TEST_P(StartAtCli, ASignalWhileWaitingEndsTheRunWithNothingSent) {
  UdpReceiver receiver(addr("127.0.0.1:0"));
  for (const char* command : {"blast", "ping"}) {
    SCOPED_TRACE(command);
    Child run({salvo_bin, command, "--to", receiver.local().to_string(), "--count", "100", "--start-at",
               seconds_from_now(60), "--json", "--backend", backend()});
    ASSERT_TRUE(run.wait_for_stderr("set up, starting at ", 20s)) << run.err_so_far();
    run.send_signal(SIGTERM);
    const ProcessResult r = run.finish(20s);
    ASSERT_TRUE(r.exited && r.exit_code == 0) << show(r);
    const nlohmann::json j = parse_json_line(r.out);
    EXPECT_EQ(u64(j["sent"]), 0u);
    EXPECT_EQ(j["interrupted"], true);
  }
  EXPECT_EQ(receiver.count(), 0u);
}

// --duration counts from the start: a blast at 1000/s for 0.5 s owes 500 datagrams, each sent or
// counted behind schedule, and all of them arrive.
TEST_P(StartAtCli, APacedBlastOwesRateTimesDurationFromTheStart) {
  UdpReceiver receiver(addr("127.0.0.1:0"));
  const std::string start_at = seconds_from_now(1);
  const ProcessResult r = run_salvo({"blast", "--to", receiver.local().to_string(), "--rate", "1000", "--duration", "0.5",
                                 "--start-at", start_at, "--label", "one", "--json", "--quiet", "--backend", backend()});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << show(r);
  const nlohmann::json j = parse_json_line(r.out);
  EXPECT_EQ(u64(j["sent"]) + u64(j["behind_schedule"]), 500u);
  EXPECT_EQ(j["label"], "one");
  EXPECT_GE(j["start"].get<std::string>(), start_at);
  EXPECT_EQ(j["load"]["duration_s"], 0.5);
  EXPECT_EQ(j["load"]["rate"], 1000);
  ASSERT_TRUE(receiver.wait_for_count(u64(j["sent"]), 20s)) << receiver.count();
}

INSTANTIATE_TEST_SUITE_P(Backends, StartAtCli, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
