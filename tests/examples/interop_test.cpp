// The examples talking to plain Python peers (tests/interop/*.py, standard library only), as the
// seeds do it, on each backend: a Python socket client against examples/echo_server, Python peers
// chatting through examples/chat_relay, and examples/helloer against a Python echo server.
// Skipped when CMake found no python3.
#include <signal.h>

#include "examples/example_test_support.hpp"

namespace salvo::test {
namespace {

class PythonInterop : public ExampleTest {
 protected:
  void SetUp() override {
    if (python3_bin.empty()) GTEST_SKIP() << "no python3 was found when the tests were configured";
  }
  std::vector<std::string> python(const std::string& script, std::vector<std::string> args) const {
    args.insert(args.begin(), {python3_bin, interop_dir + "/" + script});
    return args;
  }
};

TEST_P(PythonInterop, PythonClientGetsEveryMessageBackFromTheEchoServerExample) {
  ExampleProcess server({echo_server_bin, "127.0.0.1:0"}, backend_env());
  const auto echoing = server.wait_for_stdout_line("echoing on ", 10s);
  ASSERT_TRUE(echoing.has_value()) << server.err_so_far();
  const Address echo = address_after(*echoing, "echoing on ");

  const ProcessResult client = run_process(python("echo_client.py", {"127.0.0.1", std::to_string(echo.port()), "300"}), 60s);
  EXPECT_TRUE(client.exited && client.exit_code == 0) << describe(client);
  EXPECT_EQ(client.out, "echoed 300 of 300\n") << describe(client);

  server.send_signal(SIGTERM);
  const ProcessResult s = server.finish(10s);
  EXPECT_TRUE(s.exited && s.exit_code == 0) << describe(s);
}

TEST_P(PythonInterop, PythonPeersChatThroughTheChatRelay) {
  ExampleProcess relay({chat_relay_bin, "127.0.0.1:0", "--quiet"}, backend_env());
  const auto relaying = relay.wait_for_stdout_line("relaying on ", 10s);
  ASSERT_TRUE(relaying.has_value()) << relay.err_so_far();
  const Address at = address_after(*relaying, "relaying on ");

  // 12 peers: 66 hellos (to those who joined before) + 132 messages (to the other 11 each).
  const ProcessResult peers = run_process(python("chat_clients.py", {"127.0.0.1", std::to_string(at.port()), "12"}), 60s);
  EXPECT_TRUE(peers.exited && peers.exit_code == 0) << describe(peers);
  EXPECT_EQ(peers.out, "relayed 198 messages to 12 peers\n") << describe(peers);

  relay.send_signal(SIGTERM);
  const ProcessResult r = relay.finish(10s);
  EXPECT_TRUE(r.exited && r.exit_code == 0) << describe(r);
  EXPECT_NE(r.err.find("chat_relay: 24 messages, 198 relays queued, 198 relays sent, 0 relays not queued, "
                       "0 messages from peers over the limit, 0 peers expired, 12 peers in the table"),
            std::string::npos)
      << describe(r);
  EXPECT_NE(r.err.find(backend_line()), std::string::npos) << describe(r);
}

TEST_P(PythonInterop, HelloerGetsItsEchoFromAPythonEchoServer) {
  ExampleProcess server(python("echo_server.py", {"127.0.0.1", "0", "--count", "1"}));
  const auto listening = server.wait_for_stdout_line("listening on ", 20s);
  ASSERT_TRUE(listening.has_value()) << server.err_so_far();
  const Address python_server = address_after(*listening, "listening on ");
  const std::string port = std::to_string(python_server.port());

  ExampleProcess helloer({helloer_bin, python_server.to_string()}, backend_env());
  ASSERT_TRUE(helloer.wait_for_stdout_line("received ", 10s).has_value())
      << "stdout:\n" << helloer.out_so_far() << "\nstderr:\n" << helloer.err_so_far();
  helloer.send_signal(SIGTERM);
  const ProcessResult h = helloer.finish(10s);
  EXPECT_TRUE(h.exited && h.exit_code == 0) << describe(h);
  const std::vector<std::string> expected = {"now we can only send to host 127.0.0.1 port " + port,
                                             "received b'hello' from 127.0.0.1:" + port};
  EXPECT_EQ(lines_of(h.out), expected) << describe(h);
  EXPECT_NE(h.err.find(backend_line()), std::string::npos) << describe(h);

  // The Python server saw one "hello" from 127.0.0.1 and exited after echoing it.
  const ProcessResult s = server.finish(10s);
  EXPECT_TRUE(s.exited && s.exit_code == 0) << describe(s);
  const auto lines = lines_of(s.out);
  ASSERT_EQ(lines.size(), 2u) << describe(s);
  EXPECT_EQ(lines[1].rfind("received b'hello' from 127.0.0.1:", 0), 0u) << describe(s);
}

INSTANTIATE_TEST_SUITE_P(Backends, PythonInterop, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
