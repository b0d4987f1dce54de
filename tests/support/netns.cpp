#include "support/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <thread>

#include "support/process.hpp"

namespace salvo::test {

using namespace std::chrono_literals;

std::string find_tool(const char* name) {
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"}) {
    const std::string path = std::string(dir) + "/" + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

std::string run_tool(const std::string& path, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {path};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string shown = path;
  for (const std::string& a : args) shown += " " + a;
  const ProcessResult r = run_process(argv, 10s);
  if (!r.exited || r.exit_code != 0) {
    return shown + " failed (exit " + std::to_string(r.exit_code) + "): " + r.err + r.out;
  }
  return "";
}

LoopbackTokenBucket::LoopbackTokenBucket() : tc_(find_tool("tc")) {
  if (tc_.empty()) {
    why_not_ = "iproute2's `tc` is not installed";
    return;
  }
  why_not_ = run_tool(tc_, {"qdisc", "add", "dev", "lo", "root", "tbf", "rate", "8kbit", "burst", "1600", "limit",
                            "10000000"});
  if (!why_not_.empty()) why_not_ = "cannot add a tbf qdisc to loopback: " + why_not_;
}

LoopbackTokenBucket::~LoopbackTokenBucket() {
  if (why_not_.empty()) (void)run_tool(tc_, {"qdisc", "del", "dev", "lo", "root"});
}

std::string in_fresh_namespace(const std::function<void()>& body) {
  const std::string ip = find_tool("ip");
  if (ip.empty()) return "no `ip` command (iproute2)";
  std::string why;
  std::exception_ptr thrown;
  std::thread t([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      why = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
      return;
    }
    why = run_tool(ip, {"link", "set", "lo", "up"});
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

std::string in_multicast_namespace(const std::function<void()>& body) {
  const std::string ip = find_tool("ip");
  if (ip.empty()) return "no `ip` command (iproute2)";
  std::string why;
  const std::string fresh = in_fresh_namespace([&] {
    why = run_tool(ip, {"link", "set", "lo", "multicast", "on"});
    if (why.empty()) why = run_tool(ip, {"route", "add", "224.0.0.0/4", "dev", "lo", "src", "127.0.0.1"});
    if (why.empty()) body();
  });
  return fresh.empty() ? why : fresh;
}

NamedNamespace::NamedNamespace(std::string name) : name_(std::move(name)), ip_(find_tool("ip")) {
  if (ip_.empty()) {
    error_ = "no `ip` command (iproute2)";
    return;
  }
  run_tool(ip_, {"netns", "del", name_});  // a leftover of a crashed run
  error_ = run_tool(ip_, {"netns", "add", name_});
  if (error_.empty()) error_ = ip({"link", "set", "lo", "up"});
}

NamedNamespace::~NamedNamespace() {
  if (!name_.empty() && !ip_.empty()) run_tool(ip_, {"netns", "del", name_});
}

std::string NamedNamespace::ip(std::vector<std::string> args) const {
  args.insert(args.begin(), {"-n", name_});
  return run_tool(ip_, args);
}

std::string NamedNamespace::run(const std::function<void()>& fn) const {
  std::string why;
  std::exception_ptr thrown;
  std::thread t([&] {
    const std::string path = "/run/netns/" + name_;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      why = "setns " + path + ": " + std::strerror(errno);
      if (fd >= 0) ::close(fd);
      return;
    }
    ::close(fd);
    try {
      fn();
    } catch (...) {
      thrown = std::current_exception();
    }
  });
  t.join();
  if (thrown) std::rethrow_exception(thrown);
  return why;
}

}  // namespace salvo::test
