#include "examples/network_namespace.hpp"

#include <sched.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>

#include "examples/example_process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

// `ip ARGS...`, in the calling thread's namespace; "" or what went wrong.
std::string run_ip(const std::vector<std::string>& args) {
  const std::string ip = SALVO_IP_COMMAND;
  if (ip.empty()) return "no `ip` command was found when the tests were configured";
  std::vector<std::string> argv = {ip};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string shown = "ip";
  for (const std::string& a : args) shown += " " + a;
  const ProcessResult r = run_process(argv, 10s);
  if (!r.exited || r.exit_code != 0) return shown + " failed: " + describe(r);
  return "";
}

std::string enter_multicast_namespace() {
  if (::unshare(CLONE_NEWNET) != 0) return std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
  if (std::string why = run_ip({"link", "set", "lo", "up", "multicast", "on"}); !why.empty()) return why;
  return run_ip({"route", "add", "224.0.0.0/4", "dev", "lo", "src", "127.0.0.1"});
}

}  // namespace

std::string run_in_multicast_namespace(const std::function<void()>& body) {
  std::string why;
  std::exception_ptr thrown;
  std::thread t([&] {
    why = enter_multicast_namespace();
    if (!why.empty()) return;
    try {
      body();
    } catch (...) {
      thrown = std::current_exception();
    }
  });
  t.join();
  if (thrown) std::rethrow_exception(thrown);
  return why;
}

}  // namespace salvo::test
