// `salvo echo --flood-guard` with --guard-ipv4-prefix / --guard-ipv6-prefix: the flags reach the
// guard. Exact whatever the machine's speed: five sockets (three ports of 127.0.0.1, one of
// 127.0.0.2, one of 127.0.1.1) send 10 datagrams each, one at a time, fewer than the burst, so
// every one is admitted and answered; what the prefixes change is how many sources the guard
// makes of them (`tracked` and `new_sources` in the report). On a dual-stack server the same
// clients arrive as ::ffff:127.x.y.z and must still be counted by the IPv4 prefix. Bad prefix
// values are a one-line usage error.
#include <signal.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "cli/cli_test_support.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

const std::string salvo_bin = SALVO_CLI_PATH;

std::uint64_t u(const nlohmann::json& j) { return j.get<std::uint64_t>(); }

struct Grouping {
  const char* name;
  const char* bind;                 // the server's --bind
  std::vector<std::string> flags;   // prefix flags
  std::uint64_t sources;            // what the guard must make of the five sockets
};

void PrintTo(const Grouping& g, std::ostream* os) { *os << g.name; }

class FloodGuardPrefixCli : public testing::TestWithParam<Grouping> {};

TEST_P(FloodGuardPrefixCli, TheFlagsDecideWhichClientsAreOneSource) {
  const Grouping& g = GetParam();
  if (std::string(g.bind).front() == '[') SALVO_REQUIRE_IPV6();
  std::vector<std::string> argv = {salvo_bin, "echo", "--bind", g.bind, "--duration", "30", "--json",
                                   "--flood-guard", "--guard-rate", "1", "--guard-burst", "1000", "--guard-table", "64"};
  argv.insert(argv.end(), g.flags.begin(), g.flags.end());
  Child echo(argv);
  ASSERT_TRUE(echo.wait_for_stderr(")\n", 20s)) << echo.err_so_far();
  const Address server = addr("127.0.0.1:0").with_port(listening_address(echo.err_so_far()).port());

  std::vector<std::unique_ptr<UdpSocket>> clients;
  for (const char* bind : {"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.2:0", "127.0.1.1:0"}) {
    clients.push_back(std::make_unique<UdpSocket>(addr(bind)));
  }
  std::uint64_t seq = 0;
  for (auto& c : clients) {
    std::uint64_t answered = 0;
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(c->send_to(make_payload(seq++, 64), server));
      answered += c->receive(5s).has_value();
    }
    EXPECT_EQ(answered, 10u) << c->local().to_string();
  }
  echo.send_signal(SIGINT);
  const ProcessResult r = echo.finish(20s);
  ASSERT_TRUE(r.exited && r.exit_code == 0) << show(r);
  const nlohmann::json j = json_of(r);
  const auto& guard = j.at("flood_guard");
  std::cout << "[ figure ] salvo echo --flood-guard (" << g.name << "): 5 sockets of 3 addresses, 2 /24s; guard "
            << guard.dump() << "\n";
  EXPECT_EQ(u(guard.at("datagrams")), 50u);
  EXPECT_EQ(u(guard.at("admitted")), 50u);
  EXPECT_EQ(u(guard.at("rate_limited")), 0u);
  EXPECT_EQ(u(guard.at("replies")), 50u);
  EXPECT_EQ(u(guard.at("tracked")), g.sources);
  EXPECT_EQ(u(guard.at("new_sources")), g.sources);
}

INSTANTIATE_TEST_SUITE_P(
    Prefixes, FloodGuardPrefixCli,
    testing::Values(Grouping{"Defaults", "127.0.0.1:0", {}, 2},  // 127.0.0.0/24 and 127.0.1.0/24
                    Grouping{"Slash32", "127.0.0.1:0", {"--guard-ipv4-prefix", "32"}, 3},
                    Grouping{"Slash16", "127.0.0.1:0", {"--guard-ipv4-prefix", "16"}, 1},
                    // As IPv6 /56 (or /0) the mapped clients would be one source; as IPv4 /24, two.
                    Grouping{"DualStackDefaults", "[::]:0", {}, 2},
                    Grouping{"DualStackIpv6Slash0", "[::]:0", {"--guard-ipv6-prefix", "0"}, 2},
                    Grouping{"DualStackSlash32", "[::]:0", {"--guard-ipv4-prefix", "32", "--guard-ipv6-prefix", "0"}, 3}),
    [](const testing::TestParamInfo<Grouping>& p) { return std::string(p.param.name); });

class FloodGuardPrefixUsage : public testing::TestWithParam<UsageCase> {};

TEST_P(FloodGuardPrefixUsage, ExitsWithCode2AndOneLine) {
  std::vector<std::string> argv = {salvo_bin, "echo", "--bind", "127.0.0.1:0", "--flood-guard"};
  argv.insert(argv.end(), GetParam().args.begin(), GetParam().args.end());
  expect_usage_error(run_process(argv, 20s), GetParam().mentions);
}

INSTANTIATE_TEST_SUITE_P(
    Flags, FloodGuardPrefixUsage,
    testing::Values(UsageCase{"Ipv4TooLong", {"--guard-ipv4-prefix", "33"}, {"--guard-ipv4-prefix", "33"}},
                    UsageCase{"Ipv6TooLong", {"--guard-ipv6-prefix", "129"}, {"--guard-ipv6-prefix", "129"}},
                    UsageCase{"Ipv4Negative", {"--guard-ipv4-prefix=-1"}, {"--guard-ipv4-prefix"}},
                    UsageCase{"Ipv6NotANumber", {"--guard-ipv6-prefix", "fifty"}, {"--guard-ipv6-prefix"}}),
    [](const testing::TestParamInfo<UsageCase>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace salvo::test
