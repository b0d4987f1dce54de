// examples/multicast_pong and examples/multicast_ping (Twisted's multicast ping-pong), run as child
// processes inside a network namespace the test makes, on each backend, with the seed's defaults
// (group 228.0.0.5, port 9999: the namespace has no one else on it). Every ping gets its pong; two
// pongs sharing the port (listen_multiple) both answer every ping; a ping nobody answers exits 1.
// Skipped, with the reason, where the namespace cannot be made (not root, no `ip`).
#include <signal.h>

#include "examples/example_test_support.hpp"
#include "support/netns.hpp"

namespace salvo::test {
namespace {

const std::string pong_line = "Datagram b'Server: Pong' received from ('127.0.0.1', 9999)";

class MulticastPingPong : public ExampleTest {
 protected:
  // Starts a pong and waits until it has joined the group.
  std::unique_ptr<ExampleProcess> start_pong() {
    auto pong = std::make_unique<ExampleProcess>(std::vector<std::string>{multicast_pong_bin}, backend_env());
    if (!pong->wait_for_stdout_line("joined 228.0.0.5 on port 9999", 10s)) {
      ADD_FAILURE() << "multicast_pong did not join:\n" << pong->out_so_far() << pong->err_so_far();
      return nullptr;
    }
    return pong;
  }

  // Runs multicast_ping to the end; checks its first line and returns the port it pinged from.
  std::uint16_t run_ping(const std::vector<std::string>& flags, int expected_exit, ProcessResult& r) {
    std::vector<std::string> argv = {multicast_ping_bin};
    argv.insert(argv.end(), flags.begin(), flags.end());
    ExampleProcess ping(argv, backend_env());
    r = ping.finish(30s);
    EXPECT_TRUE(r.exited) << describe(r);
    EXPECT_EQ(r.exit_code, expected_exit) << describe(r);
    EXPECT_NE(r.err.find(backend_line()), std::string::npos) << describe(r);
    const auto lines = lines_of(r.out);
    const std::string prefix = "pinging 228.0.0.5:9999 from port ";
    if (lines.empty() || lines[0].rfind(prefix, 0) != 0) {
      ADD_FAILURE() << "no 'pinging' line:\n" << describe(r);
      return 0;
    }
    return static_cast<std::uint16_t>(std::stoul(lines[0].substr(prefix.size())));
  }

  // Stops a pong and checks it saw exactly `pings` pings from the pinger's port and answered each.
  void expect_pong_answered(ExampleProcess& pong, std::uint64_t pings, std::uint16_t ping_port) {
    pong.send_signal(SIGTERM);
    const ProcessResult r = pong.finish(10s);
    EXPECT_TRUE(r.exited && r.exit_code == 0) << describe(r);
    const std::string ping_line =
        "Datagram b'Client: Ping' received from ('127.0.0.1', " + std::to_string(ping_port) + ")";
    EXPECT_EQ(count_lines(r.out, ping_line), pings) << describe(r);
    EXPECT_EQ(lines_of(r.out).size(), pings + 1) << "the 'joined' line and one per ping\n" << describe(r);
    const std::string summary = "multicast_pong: " + std::to_string(pings) + " datagrams received, " +
                                std::to_string(pings) + " pongs sent, 0 pongs not queued";
    EXPECT_NE(r.err.find(summary), std::string::npos) << describe(r);
    EXPECT_NE(r.err.find(backend_line()), std::string::npos) << describe(r);
  }
};

TEST_P(MulticastPingPong, EveryPingGetsItsPong) {
  const std::string skip = in_multicast_namespace([&] {
    auto pong = start_pong();
    ASSERT_TRUE(pong);
    ProcessResult r;
    const std::uint16_t port = run_ping({"--count", "10", "--interval", "0.02", "--expect", "10", "--wait", "20"}, 0, r);
    EXPECT_EQ(count_lines(r.out, pong_line), 10u) << describe(r);
    EXPECT_EQ(lines_of(r.out).size(), 11u) << describe(r);
    EXPECT_NE(r.err.find("multicast_ping: 10 pings sent, 0 not sent, 10 pongs received, 0 other datagrams"),
              std::string::npos)
        << describe(r);
    expect_pong_answered(*pong, 10, port);
  });
  if (!skip.empty()) GTEST_SKIP() << "cannot make a multicast network namespace: " << skip;
}

TEST_P(MulticastPingPong, TwoPongsOnOnePortBothAnswerEveryPing) {
  const std::string skip = in_multicast_namespace([&] {
    auto first = start_pong();
    ASSERT_TRUE(first);
    auto second = start_pong();  // the same port: only listen_multiple lets it bind
    ASSERT_TRUE(second);
    ProcessResult r;
    const std::uint16_t port = run_ping({"--count", "5", "--interval", "0.02", "--expect", "10", "--wait", "20"}, 0, r);
    EXPECT_EQ(count_lines(r.out, pong_line), 10u) << describe(r);
    EXPECT_NE(r.err.find("multicast_ping: 5 pings sent, 0 not sent, 10 pongs received, 0 other datagrams"),
              std::string::npos)
        << describe(r);
    expect_pong_answered(*first, 5, port);
    expect_pong_answered(*second, 5, port);
  });
  if (!skip.empty()) GTEST_SKIP() << "cannot make a multicast network namespace: " << skip;
}

TEST_P(MulticastPingPong, PingsNobodyAnswersEndAfterTheWaitWithExitCode1) {
  const std::string skip = in_multicast_namespace([&] {
    ProcessResult r;
    run_ping({"--count", "2", "--interval", "0.01", "--wait", "0.2"}, 1, r);
    EXPECT_EQ(lines_of(r.out).size(), 1u) << describe(r);
    EXPECT_NE(r.err.find("multicast_ping: 2 pings sent, 0 not sent, 0 pongs received, 0 other datagrams"),
              std::string::npos)
        << describe(r);
  });
  if (!skip.empty()) GTEST_SKIP() << "cannot make a multicast network namespace: " << skip;
}

INSTANTIATE_TEST_SUITE_P(Backends, MulticastPingPong, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
