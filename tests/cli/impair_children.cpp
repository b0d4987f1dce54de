#include "cli/impair_children.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <stdexcept>

#include "cli/cli_test_support.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

std::vector<std::string> proxy_argv(const Address& to, const std::vector<std::string>& flags,
                                    const std::string& backend, std::vector<std::string> wrapper) {
  std::vector<std::string> a = std::move(wrapper);
  const std::vector<std::string> command = {SALVO_CLI_PATH, "impair",  "--listen", "127.0.0.1:0", "--to",
                                            to.to_string(), "--json",  "--backend", backend,       "--rcvbuf",
                                            "4194304"};
  a.insert(a.end(), command.begin(), command.end());
  a.insert(a.end(), flags.begin(), flags.end());
  return a;
}

}  // namespace

Proxy::Proxy(const Address& to, std::vector<std::string> flags, const std::string& backend,
             std::vector<std::string> wrapper)
    : child_(proxy_argv(to, flags, backend, std::move(wrapper))) {
  if (!child_.wait_for_stderr(", forwarding to ", 20s)) {
    throw std::runtime_error("impair did not start: " + child_.err_so_far());
  }
  address_ = listening_address(child_.err_so_far());
}

nlohmann::json Proxy::result() {
  child_.send_signal(SIGINT);
  const ProcessResult r = child_.finish(20s);
  if (!r.exited || r.exit_code != 0) throw std::runtime_error(show(r));
  return json_of(r);
}

EchoServer::EchoServer(const std::string& backend)
    : child_({SALVO_CLI_PATH, "echo", "--bind", "127.0.0.1:0", "--duration", "60", "--rcvbuf", "4194304", "--backend",
              backend}) {
  if (!child_.wait_for_stderr(")\n", 20s)) throw std::runtime_error("echo did not start: " + child_.err_so_far());
  address_ = listening_address(child_.err_so_far());
}

void expect_accounted(const nlohmann::json& d) {
  auto u = [&d](const char* name) { return d.at(name).get<std::uint64_t>(); };
  EXPECT_EQ(u("in"), u("forwarded") + u("dropped_loss") + u("dropped_rate") + u("dropped_overflow") +
                         u("dropped_unroutable") + u("dropped_no_upstream") + u("dropped_send") + u("dropped_at_exit"))
      << d.dump();
}

}  // namespace salvo::test
