// examples/helloer (Twisted's connected-UDP Helloer), run as a child process on each backend: it
// prints the echo of its "hello" from examples/echo_server, given the server's address or a name
// for it (localhost), "No one listening" with exit code 3 when the port it connected to is closed,
// and one line naming the host with exit code 2 for a name that does not resolve. Also: every
// example's usage errors are one line and exit 2.
#include <signal.h>

#include "examples/example_test_support.hpp"

namespace salvo::test {
namespace {

class Helloer : public ExampleTest {};

TEST_P(Helloer, PrintsTheEchoOfHelloFromTheEchoServerExample) {
  ExampleProcess server({echo_server_bin, "127.0.0.1:0"}, backend_env());
  const auto echoing = server.wait_for_stdout_line("echoing on ", 10s);
  ASSERT_TRUE(echoing.has_value()) << "echo_server did not start:\n" << server.err_so_far();
  const Address echo = address_after(*echoing, "echoing on ");
  const std::string port = std::to_string(echo.port());

  ExampleProcess helloer({helloer_bin, echo.to_string()}, backend_env());
  ASSERT_TRUE(helloer.wait_for_stdout_line("received ", 10s).has_value())
      << "no echo printed\nstdout:\n" << helloer.out_so_far() << "\nstderr:\n" << helloer.err_so_far();
  helloer.send_signal(SIGINT);
  const ProcessResult r = helloer.finish(10s);
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  const std::vector<std::string> expected = {"now we can only send to host 127.0.0.1 port " + port,
                                             "received b'hello' from 127.0.0.1:" + port};
  EXPECT_EQ(lines_of(r.out), expected) << describe(r);
  EXPECT_NE(r.err.find(backend_line()), std::string::npos) << describe(r);

  server.send_signal(SIGTERM);
  const ProcessResult s = server.finish(10s);
  EXPECT_TRUE(s.exited && s.exit_code == 0) << describe(s);
}

TEST_P(Helloer, ResolvesLocalhostThenPrintsTheEchoOfHello) {
  ExampleProcess server({echo_server_bin, "127.0.0.1:0"}, backend_env());
  const auto echoing = server.wait_for_stdout_line("echoing on ", 10s);
  ASSERT_TRUE(echoing.has_value()) << "echo_server did not start:\n" << server.err_so_far();
  const std::string port = std::to_string(address_after(*echoing, "echoing on ").port());
  // The helloer talks to the resolver's first answer; this test's server is on 127.0.0.1 only.
  const auto localhost = salvo::resolve("localhost", 1);
  ASSERT_TRUE(static_cast<bool>(localhost)) << localhost.error().message;
  if (localhost->front() != addr("127.0.0.1:1")) {
    GTEST_SKIP() << "localhost resolves to " << localhost->front().ip_string() << " first on this machine";
  }

  ExampleProcess helloer({helloer_bin, "localhost:" + port}, backend_env());
  ASSERT_TRUE(helloer.wait_for_stdout_line("received ", 10s).has_value())
      << "no echo printed\nstdout:\n" << helloer.out_so_far() << "\nstderr:\n" << helloer.err_so_far();
  helloer.send_signal(SIGINT);
  const ProcessResult r = helloer.finish(10s);
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  const std::vector<std::string> expected = {"now we can only send to host 127.0.0.1 port " + port,
                                             "received b'hello' from 127.0.0.1:" + port};
  EXPECT_EQ(lines_of(r.out), expected) << describe(r);

  server.send_signal(SIGTERM);
  const ProcessResult s = server.finish(10s);
  EXPECT_TRUE(s.exited && s.exit_code == 0) << describe(s);
}

TEST_P(Helloer, NameThatDoesNotResolveIsOneLineNamingItAndExitCode2) {
  // .invalid never resolves (RFC 6761); the resolver answers without the network.
  ExampleProcess helloer({helloer_bin, "no-such-host.invalid:1234"}, backend_env());
  const ProcessResult r = helloer.finish(30s);  // it ends by itself once the resolver has answered
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_TRUE(r.out.empty()) << describe(r);
  // Besides the backend line every example prints at start, exactly one line: the error.
  const auto lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 2u) << describe(r);
  EXPECT_NE(lines[0].find(backend_line()), std::string::npos) << describe(r);
  EXPECT_EQ(lines[1].rfind("helloer: ", 0), 0u) << lines[1];
  EXPECT_NE(lines[1].find("'no-such-host.invalid'"), std::string::npos) << lines[1];
}

TEST_P(Helloer, SaysNoOneListeningOnAClosedPortAndExits3) {
  // Not "bind port 0 and close": the helloer binds port 0 itself and could be handed that port.
  const Address closed = closed_port_address(addr("127.0.0.1:0"));
  ExampleProcess helloer({helloer_bin, closed.to_string()}, backend_env());
  const ProcessResult r = helloer.finish(10s);  // it ends by itself once refused
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  const std::vector<std::string> expected = {
      "now we can only send to host 127.0.0.1 port " + std::to_string(closed.port()), "No one listening"};
  EXPECT_EQ(lines_of(r.out), expected) << describe(r);
  EXPECT_NE(r.err.find(backend_line()), std::string::npos) << describe(r);
}

INSTANTIATE_TEST_SUITE_P(Backends, Helloer, testing::ValuesIn(available_backends()), backend_test_name);

struct UsageCase {
  const char* name;
  std::vector<std::string> args;  // args[0] is the program
  std::string mentions;           // the one stderr line names this
};

void PrintTo(const UsageCase& c, std::ostream* os) {
  for (const auto& a : c.args) *os << a.substr(a.rfind('/') + 1) << " ";
}

class ExampleUsage : public testing::TestWithParam<UsageCase> {};

TEST_P(ExampleUsage, IsOneLineOnStderrAndExitCode2) {
  const ProcessResult r = run_process(GetParam().args, 10s);
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  const auto lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 1u) << describe(r);
  EXPECT_NE(lines[0].find(GetParam().mentions), std::string::npos) << lines[0];
  EXPECT_TRUE(r.out.empty()) << describe(r);
}

const std::vector<UsageCase> usage_cases = {
    {"HelloerNameWithoutPort", {helloer_bin, "localhost"}, "localhost"},
    {"HelloerBadName", {helloer_bin, "no_such host:1234"}, "no_such host:1234"},
    {"HelloerPortZero", {helloer_bin, "127.0.0.1:0"}, "port cannot be 0"},
    {"HelloerExtraArgument", {helloer_bin, "127.0.0.1:1234", "more"}, "'more'"},
    {"PongBadGroup", {multicast_pong_bin, "228.0.0.5"}, "228.0.0.5"},
    {"PongInterfaceWithoutName", {multicast_pong_bin, "--interface"}, "--interface needs a value"},
    {"PingCountZero", {multicast_ping_bin, "--count", "0"}, "--count"},
    {"PingTtlTooLarge", {multicast_ping_bin, "--ttl", "256"}, "--ttl"},
    {"PingNegativeWait", {multicast_ping_bin, "--wait", "-1"}, "--wait"},
    {"RelayWindowZero", {chat_relay_bin, "--window", "0"}, "--window"},
    {"RelayOnePeer", {chat_relay_bin, "--max-peers", "1"}, "--max-peers"},
    {"RelayTooManyPeers", {chat_relay_bin, "--max-peers", "4097"}, "--max-peers"},
    {"RelayUnknownFlag", {chat_relay_bin, "--loud"}, "'--loud'"},
};

INSTANTIATE_TEST_SUITE_P(Examples, ExampleUsage, testing::ValuesIn(usage_cases),
                         [](const testing::TestParamInfo<UsageCase>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace salvo::test
