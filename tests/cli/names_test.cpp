// Host names on the `salvo` command line: `echo --bind localhost:0` and `ping --to localhost:PORT`
// reach each other, a --to name follows the family of --bind, and a name that does not resolve is
// a usage error (exit code 2, one line naming the flag and the host) in every subcommand that takes
// an address. Only "localhost" and ".invalid" names (RFC 6761: never resolve) are used: no test
// needs outside DNS.
#include <signal.h>

#include <nlohmann/json.hpp>

#include "cli/cli_test_support.hpp"
#include "salvo/resolve.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

const std::string salvo_bin = SALVO_CLI_PATH;

ProcessResult salvo(std::vector<std::string> args, std::chrono::milliseconds timeout = 30s) {
  args.insert(args.begin(), salvo_bin);
  return run_process(args, timeout);
}

std::uint64_t u64(const nlohmann::json& j) { return j.get<std::uint64_t>(); }

TEST(NamesCli, PingReachesAnEchoByName) {
  // Both sides take the resolver's first answer for localhost, whichever family that is here.
  auto first = resolve_endpoint("localhost:0");
  ASSERT_TRUE(first.ok()) << first.error().message;
  Child echo({salvo_bin, "echo", "--bind", "localhost:0"});
  ASSERT_TRUE(echo.wait_for_stderr(")\n", 20s)) << echo.err_so_far();
  const Address where = listening_address(echo.err_so_far());
  EXPECT_EQ(where.with_port(0), *first);

  const auto r = salvo({"ping", "--to", "localhost:" + std::to_string(where.port()), "--rate", "1000", "--count",
                        "50", "--json"});
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const nlohmann::json j = json_of(r);
  EXPECT_EQ(j["to"], where.to_string()) << "the report shows the address the name resolved to";
  EXPECT_EQ(u64(j["ping"]["sent"]), 50u);
  EXPECT_EQ(u64(j["ping"]["received"]), 50u) << j["ping"].dump();
  echo.send_signal(SIGTERM);
  const auto e = echo.finish(20s);
  ASSERT_TRUE(e.exited) << show(e);
}

TEST(NamesCli, ToNameTakesTheFamilyOfBind) {
  // An IPv4 echo and an IPv4 source: localhost must become 127.0.0.1 even where ::1 comes first.
  Child echo({salvo_bin, "echo", "--bind", "127.0.0.1:0"});
  ASSERT_TRUE(echo.wait_for_stderr(")\n", 20s)) << echo.err_so_far();
  const Address where = listening_address(echo.err_so_far());
  const auto r = salvo({"ping", "--to", "localhost:" + std::to_string(where.port()), "--bind", "127.0.0.1:0",
                        "--rate", "1000", "--count", "20", "--json"});
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const nlohmann::json j = json_of(r);
  EXPECT_EQ(j["to"], where.to_string());
  EXPECT_EQ(u64(j["ping"]["received"]), 20u) << j["ping"].dump();
  echo.send_signal(SIGTERM);
  const auto e = echo.finish(20s);
  ASSERT_TRUE(e.exited) << show(e);
}

class UnknownName : public testing::TestWithParam<UsageCase> {};

TEST_P(UnknownName, ExitsWithCode2AndOneLineNamingFlagAndHost) {
  const auto r = salvo(GetParam().args);
  expect_usage_error(r, GetParam().mentions);
  EXPECT_NE(r.err.find("cannot resolve 'no-such-host.invalid'"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    Commands, UnknownName,
    testing::Values(
        UsageCase{"PingTo", {"ping", "--to", "no-such-host.invalid:9", "--count", "1"}, {"--to", "no-such-host.invalid"}},
        UsageCase{"PingBind", {"ping", "--to", "127.0.0.1:9", "--bind", "no-such-host.invalid:0", "--count", "1"},
                  {"--bind", "no-such-host.invalid"}},
        UsageCase{"BlastTo", {"blast", "--to", "no-such-host.invalid:9", "--count", "1"}, {"--to", "no-such-host.invalid"}},
        UsageCase{"BlastBind", {"blast", "--to", "127.0.0.1:9", "--bind", "no-such-host.invalid:0", "--count", "1"},
                  {"--bind", "no-such-host.invalid"}},
        UsageCase{"Sink", {"sink", "--bind", "no-such-host.invalid:0"}, {"--bind", "no-such-host.invalid"}},
        UsageCase{"Echo", {"echo", "--bind", "no-such-host.invalid:0"}, {"--bind", "no-such-host.invalid"}},
        UsageCase{"ImpairListen", {"impair", "--listen", "no-such-host.invalid:0", "--to", "127.0.0.1:9"},
                  {"--listen", "no-such-host.invalid"}},
        UsageCase{"ImpairTo", {"impair", "--listen", "127.0.0.1:0", "--to", "no-such-host.invalid:9"},
                  {"--to", "no-such-host.invalid"}}),
    [](const testing::TestParamInfo<UsageCase>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace salvo::test
