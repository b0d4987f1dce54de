// The salvo command and RLIMIT_NOFILE, for every backend, with the command run under a given limit
// (with_descriptor_limit SOFT HARD): out of descriptors, blast --flows and echo's listen are one
// line on stderr naming the limit and its value, exit code 2, nothing on stdout; and the command
// raises its soft limit to the hard one, so a blast from 1,000 flows runs under a soft limit of 64.
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cli/cli_test_support.hpp"
#include "cli/udp_receiver.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

// The salvo command with `args`, under RLIMIT_NOFILE soft:hard.
ProcessResult salvo_limited(int soft, int hard, std::vector<std::string> args,
                            std::chrono::milliseconds timeout = 60s) {
  std::vector<std::string> argv = {SALVO_WITH_DESCRIPTOR_LIMIT_PATH, std::to_string(soft), std::to_string(hard),
                                   SALVO_CLI_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, timeout);
}

class DescriptorLimitCli : public testing::TestWithParam<BackendKind> {
 protected:
  std::string backend() const { return std::string(to_string(GetParam())); }
};

TEST_P(DescriptorLimitCli, BlastWithMoreFlowsThanTheLimitIsOneLineNamingIt) {
  SALVO_SKIP_UNLESS_DESCRIPTOR_EXHAUSTION_TESTABLE();
  const ProcessResult r = salvo_limited(
      64, 64, {"blast", "--to", "127.0.0.1:9", "--count", "1000", "--flows", "100", "--backend", backend()});
  // The flow that found no descriptor, the limit and how to raise it.
  expect_usage_error(r, {"--flows 100", "cannot open flow", "Too many open files", "RLIMIT_NOFILE is 64",
                         "ulimit -n"});
}

TEST_P(DescriptorLimitCli, EchoWithTooFewDescriptorsIsOneLineNamingTheLimit) {
  SALVO_SKIP_UNLESS_DESCRIPTOR_EXHAUSTION_TESTABLE();
  // Two workers take an eventfd each; with five descriptors the first socket of the listen finds
  // none left.
  const ProcessResult r = salvo_limited(
      5, 5, {"echo", "--bind", "127.0.0.1:0", "--workers", "2", "--duration", "10", "--backend", backend()});
  expect_usage_error(r, {"Too many open files", "RLIMIT_NOFILE is 5", "ulimit -n"});
}

TEST_P(DescriptorLimitCli, TheCommandRaisesItsSoftLimitToTheHardOne) {
  constexpr std::uint64_t flows = 1000, per_flow = 10;
  UdpReceiver sink(addr("127.0.0.1:0"), flows * per_flow);
  const ProcessResult r =
      salvo_limited(64, 4096, {"blast", "--to", sink.local().to_string(), "--flows", std::to_string(flows), "--count",
                               std::to_string(flows * per_flow), "--quiet", "--json", "--backend", backend()});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << show(r);
  const nlohmann::json j = json_of(r);
  EXPECT_EQ(j["sent"].get<std::uint64_t>(), flows * per_flow);
  std::set<std::string> sources;
  for (const auto& s : j["sources"]) sources.insert(s.get<std::string>());
  EXPECT_EQ(sources.size(), flows);
  ASSERT_TRUE(sink.wait_for_count(flows * per_flow, 20s)) << sink.count() << " arrived, kernel drops "
                                                           << sink.kernel_drops();
  sink.stop();
  std::set<std::uint16_t> ports;
  for (const auto& rec : sink.records()) ports.insert(rec.from_port);
  EXPECT_EQ(ports.size(), flows);
}

INSTANTIATE_TEST_SUITE_P(Backends, DescriptorLimitCli, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
