// examples/dns/dns_server run as a child process for the tests: started on a free loopback port
// with --json, and stopped with SIGTERM, after which its JSON report is parsed.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "examples/example_process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {

inline const std::string dns_server_bin = SALVO_EXAMPLE_DNS_SERVER;
inline const std::string dns_test_dir = SALVO_DNS_TEST_ZONES;  // tests/examples/dns
inline const std::string salvo_bin = SALVO_COMMAND;          // for salvo impair
inline const std::string with_descriptor_limit_bin = SALVO_WITH_DESCRIPTOR_LIMIT_PATH;

class DnsServerProcess {
 public:
  // Runs dns_server with `args` plus --bind 127.0.0.1:0, --backend and --json, under `wrapper` when
  // one is given (a program and its arguments that run the rest: with_descriptor_limit 32 32);
  // throws when it does not say where it answers within 20 s.
  DnsServerProcess(std::vector<std::string> args, BackendKind backend, std::vector<std::string> wrapper = {});
  const Address& address() const noexcept { return address_; }
  Child& child() noexcept { return child_; }
  // SIGTERM, then the report (throws when the process does not exit 0 with one JSON line).
  nlohmann::json stop();

 private:
  Child child_;
  Address address_;
};

}  // namespace salvo::test
