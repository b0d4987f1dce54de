#include "examples/dns_server_process.hpp"

#include <signal.h>

#include <stdexcept>

namespace salvo::test {

namespace {

std::vector<std::string> command(std::vector<std::string> args, BackendKind backend, std::vector<std::string> wrapper) {
  std::vector<std::string> argv = std::move(wrapper);
  argv.insert(argv.end(), {dns_server_bin, "--bind", "127.0.0.1:0", "--backend", std::string(to_string(backend)), "--json"});
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace

DnsServerProcess::DnsServerProcess(std::vector<std::string> args, BackendKind backend, std::vector<std::string> wrapper)
    : child_(command(std::move(args), backend, std::move(wrapper))) {
  const std::string prefix = "dns_server: answering on ";
  if (!child_.wait_for_stderr(" (", std::chrono::seconds(20))) {
    throw std::runtime_error("dns_server did not start: " + child_.err_so_far());
  }
  const std::string& err = child_.err_so_far();
  const std::size_t at = err.find(prefix);
  if (at == std::string::npos) throw std::runtime_error("dns_server did not start: " + err);
  const std::size_t from = at + prefix.size();
  address_ = addr(err.substr(from, err.find(' ', from) - from));
}

nlohmann::json DnsServerProcess::stop() {
  child_.send_signal(SIGTERM);
  const ProcessResult r = child_.finish(std::chrono::seconds(20));
  if (!r.exited || r.exit_code != 0) throw std::runtime_error("dns_server did not exit 0: " + describe(r));
  const std::vector<std::string> lines = lines_of(r.out);
  if (lines.size() != 1) throw std::runtime_error("dns_server printed no single JSON line: " + describe(r));
  return nlohmann::json::parse(lines.front());
}

}  // namespace salvo::test
