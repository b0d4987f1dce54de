// What salvo impair's tests share: the proxy as a child, a salvo echo child behind it, and the
// check that the proxy's report accounts for every datagram.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "salvo/address.hpp"
#include "support/process.hpp"

namespace salvo::test {

// A running salvo impair between the test and `to`, listening on a free loopback port, with
// --json and a 4 MiB --rcvbuf; `wrapper` (e.g. with_descriptor_limit and its arguments) runs it.
// Ended with SIGINT by result().
class Proxy {
 public:
  Proxy(const Address& to, std::vector<std::string> flags, const std::string& backend,
        std::vector<std::string> wrapper = {});
  const Address& address() const { return address_; }
  Child& child() { return child_; }
  // Stops the proxy and returns its report; it must exit 0. Its stderr is err() from then on.
  nlohmann::json result();
  const std::string& err() const { return child_.err_so_far(); }

 private:
  Child child_;
  Address address_;
};

// A salvo echo child on a free loopback port: the server behind the proxy.
class EchoServer {
 public:
  explicit EchoServer(const std::string& backend);
  const Address& address() const { return address_; }

 private:
  Child child_;
  Address address_;
};

// Every datagram of one direction of the report ("client_to_server" or "server_to_client") is
// counted exactly once: in == forwarded + every drop.
void expect_accounted(const nlohmann::json& direction);

}  // namespace salvo::test
