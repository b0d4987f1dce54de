// salvo impair's clients at scale, for every backend, with a salvo echo behind the proxy: 300
// clients, more than the old pre-opened 256, each get exactly their own replies; under a
// descriptor limit that leaves room for only a few upstream sockets (with --max-clients 100000,
// which opens nothing up front), the clients beyond them are refused and counted as
// dropped_no_upstream with one line on stderr naming RLIMIT_NOFILE, while the clients it has are
// served on, exactly; and a client that expires closes its socket, whose descriptor then serves a
// client refused before.
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/cli_test_support.hpp"
#include "cli/impair_children.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

std::uint64_t u(const nlohmann::json& j) { return j.get<std::uint64_t>(); }

// Datagram j of client i: the client in the high half of the sequence number.
std::uint64_t seq_of(std::uint64_t client, std::uint64_t j) { return (client << 32) | j; }

std::vector<std::unique_ptr<UdpSocket>> make_clients(std::size_t n) {
  std::vector<std::unique_ptr<UdpSocket>> clients;
  for (std::size_t i = 0; i < n; ++i) clients.push_back(std::make_unique<UdpSocket>(addr("127.0.0.1:0"), 1 << 20));
  return clients;
}

// Reads `n` replies on `client` (each within 10 s) and checks that they are its own datagrams
// first..first+n-1, each once, from the proxy's address.
void expect_replies(UdpSocket& client, std::uint64_t id, std::uint64_t first, std::uint64_t n, const Address& proxy) {
  std::vector<bool> seen(n, false);
  for (std::uint64_t k = 0; k < n; ++k) {
    auto reply = client.receive(10s);
    ASSERT_TRUE(reply) << "client " << id << ": " << k << " of " << n << " replies";
    EXPECT_EQ(reply->from, proxy);
    const std::uint64_t seq = payload_seq(reply->payload);
    ASSERT_EQ(seq >> 32, id) << "client " << id << " got another client's reply";
    const std::uint64_t j = seq & 0xffffffff;
    ASSERT_GE(j, first);
    ASSERT_LT(j - first, n);
    EXPECT_FALSE(seen[j - first]) << "client " << id << ": reply " << j << " twice";
    seen[j - first] = true;
  }
}

// What the proxy prints, once, when a client finds no descriptor for its upstream socket.
const std::string refused_line = "salvo impair: no upstream socket for a new client (";

// One datagram (number 0) from each client, one client at a time: each is served (its reply comes
// back, and is read here) until the first that finds no descriptor, which the proxy says on
// stderr; every later one is refused too, since no socket closes meanwhile. Returns how many were
// served: clients 0..served-1.
std::uint64_t serve_until_refused(Proxy& proxy, std::vector<std::unique_ptr<UdpSocket>>& clients) {
  std::uint64_t served = 0;
  bool refused = false;
  for (std::uint64_t i = 0; i < clients.size(); ++i) {
    if (!clients[i]->send_to(make_payload(seq_of(i, 0), 48), proxy.address())) throw std::runtime_error("send failed");
    if (refused) continue;
    Deadline deadline(20s);
    while (!refused) {
      if (clients[i]->wait_readable(20ms)) {
        ++served;
        break;
      }
      refused = proxy.child().wait_for_stderr(refused_line, 20ms);
      if (deadline.expired()) throw std::runtime_error("client " + std::to_string(i) + ": no reply, no refusal");
    }
  }
  for (std::uint64_t i = 0; i < served; ++i) expect_replies(*clients[i], i, 0, 1, proxy.address());
  EXPECT_TRUE(refused) << "every client got a socket: the limit did not bite";
  return served;
}

// The proxy's stderr has exactly one refusal line, and it names RLIMIT_NOFILE and its value.
void expect_refusal_said_once(const Proxy& proxy, int limit) {
  std::size_t said = 0;
  for (const std::string& line : lines_of(proxy.err())) {
    if (line.find(refused_line) == std::string::npos) continue;
    ++said;
    EXPECT_NE(line.find("RLIMIT_NOFILE is " + std::to_string(limit)), std::string::npos) << line;
  }
  EXPECT_EQ(said, 1u) << proxy.err();
}

class ImpairClients : public testing::TestWithParam<BackendKind> {
 protected:
  std::string backend() const { return std::string(to_string(GetParam())); }
};

TEST_P(ImpairClients, ThreeHundredClientsEachGetExactlyTheirReplies) {
  constexpr std::uint64_t n_clients = 300, per_client = 3;
  EchoServer echo(backend());
  Proxy proxy(echo.address(), {"--max-clients", "1000"}, backend());
  auto clients = make_clients(n_clients);
  for (std::uint64_t j = 0; j < per_client; ++j) {
    for (std::uint64_t i = 0; i < n_clients; ++i) {
      ASSERT_TRUE(clients[i]->send_to(make_payload(seq_of(i, j), 48), proxy.address()));
    }
  }
  for (std::uint64_t i = 0; i < n_clients; ++i) expect_replies(*clients[i], i, 0, per_client, proxy.address());

  const nlohmann::json j = proxy.result();
  EXPECT_EQ(u(j["kernel_drops"]), 0u) << "the proxy's sockets overflowed: the test is invalid";
  const auto& table = j["clients"];
  EXPECT_EQ(u(table["max"]), 1000u);
  EXPECT_EQ(u(table["admitted"]), n_clients);
  EXPECT_EQ(u(table["peak"]), n_clients);
  EXPECT_EQ(u(table["active"]), n_clients);
  EXPECT_EQ(u(table["refused"]), 0u);
  for (const char* dir : {"client_to_server", "server_to_client"}) {
    SCOPED_TRACE(dir);
    EXPECT_EQ(u(j[dir]["in"]), n_clients * per_client);
    EXPECT_EQ(u(j[dir]["forwarded"]), n_clients * per_client);
    expect_accounted(j[dir]);
  }
}

TEST_P(ImpairClients, ClientsBeyondTheDescriptorLimitAreCountedDropsAndTheOthersServedOn) {
  SALVO_SKIP_UNLESS_DESCRIPTOR_EXHAUSTION_TESTABLE();
  // Twelve descriptors: the proxy's own few, and room for a few upstream sockets.
  constexpr int limit = 12;
  constexpr std::uint64_t n_clients = 16, more = 20;
  EchoServer echo(backend());
  Proxy proxy(echo.address(), {"--max-clients", "100000"}, backend(),
              {SALVO_WITH_DESCRIPTOR_LIMIT_PATH, std::to_string(limit), std::to_string(limit)});
  auto clients = make_clients(n_clients);
  const std::uint64_t served = serve_until_refused(proxy, clients);
  ASSERT_GE(served, 1u) << "no client got a socket: the limit leaves the proxy none";
  ASSERT_LT(served, n_clients);

  // More from everyone, the refused clients first: once the served clients have every reply, the
  // proxy has read everything before them.
  for (std::uint64_t i = n_clients; i-- > 0;) {
    for (std::uint64_t j = 1; j <= more; ++j) {
      ASSERT_TRUE(clients[i]->send_to(make_payload(seq_of(i, j), 48), proxy.address()));
    }
  }
  for (std::uint64_t i = 0; i < served; ++i) expect_replies(*clients[i], i, 1, more, proxy.address());

  const nlohmann::json j = proxy.result();
  const std::uint64_t each = 1 + more;
  EXPECT_EQ(u(j["kernel_drops"]), 0u) << "the proxy's sockets overflowed: the test is invalid";
  EXPECT_EQ(u(j["clients"]["admitted"]), served);
  EXPECT_EQ(u(j["clients"]["peak"]), served);
  EXPECT_EQ(u(j["clients"]["refused"]), 0u) << "the table was never full";
  const auto& up = j["client_to_server"];
  EXPECT_EQ(u(up["in"]), n_clients * each);
  EXPECT_EQ(u(up["forwarded"]), served * each);
  EXPECT_EQ(u(up["dropped_no_upstream"]), (n_clients - served) * each);
  EXPECT_EQ(u(j["server_to_client"]["forwarded"]), served * each);
  expect_accounted(up);
  expect_accounted(j["server_to_client"]);
  expect_refusal_said_once(proxy, limit);
}

TEST_P(ImpairClients, AnExpiredClientGivesItsDescriptorToTheNext) {
  SALVO_SKIP_UNLESS_DESCRIPTOR_EXHAUSTION_TESTABLE();
  // As above, until a client is refused; then the served clients fall idle past --idle-timeout,
  // their sockets close, and a refused client asking again is served. The timeout is far longer
  // than serving the first clients takes, so that none expires before the refusal.
  constexpr int limit = 12;
  constexpr std::uint64_t n_clients = 16;
  EchoServer echo(backend());
  Proxy proxy(echo.address(), {"--idle-timeout", "3"}, backend(),
              {SALVO_WITH_DESCRIPTOR_LIMIT_PATH, std::to_string(limit), std::to_string(limit)});
  auto clients = make_clients(n_clients);
  const std::uint64_t served = serve_until_refused(proxy, clients);
  ASSERT_GE(served, 1u);
  ASSERT_LT(served, n_clients);

  UdpSocket& late = *clients.back();
  std::uint64_t asked = 0;
  Deadline deadline(20s);
  while (!late.wait_readable(50ms)) {
    ASSERT_FALSE(deadline.expired()) << "no descriptor ever came back";
    ASSERT_TRUE(late.send_to(make_payload(seq_of(n_clients - 1, 1 + asked++), 48), proxy.address()));
  }
  auto reply = late.receive(1s);
  ASSERT_TRUE(reply);
  EXPECT_EQ(payload_seq(reply->payload) >> 32, n_clients - 1);

  const nlohmann::json j = proxy.result();
  const auto& table = j["clients"];
  EXPECT_GE(u(table["expired"]), 1u);
  EXPECT_LE(u(table["expired"]), served);
  EXPECT_EQ(u(table["admitted"]), served + 1) << "the late client, once";
  EXPECT_EQ(u(table["peak"]), served);
  const auto& up = j["client_to_server"];
  EXPECT_EQ(u(up["in"]), n_clients + asked);
  EXPECT_GE(u(up["forwarded"]), served + 1);
  EXPECT_EQ(u(up["forwarded"]) + u(up["dropped_no_upstream"]), n_clients + asked);
  expect_accounted(up);
  expect_refusal_said_once(proxy, limit);
}

INSTANTIATE_TEST_SUITE_P(Backends, ImpairClients, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
