// salvo impair's clients at scale, for every backend, with a salvo echo behind the proxy: 300
// clients, more than the old pre-opened 256, each get exactly their own replies; under
// RLIMIT_NOFILE 64, 100 clients: as many as the descriptors left after start-up have a socket and
// are served, the others are refused and counted as dropped_no_upstream with one line on stderr
// naming the limit, the served ones are served on, and once they expire the descriptor count is
// back where it started and the clients refused before are served; and a --max-clients that
// cannot fit under the limit is refused at start, in one line naming it (exit 2), while the
// largest that fits starts and serves that many.
#include <dirent.h>
#include <sys/types.h>

#include <cstdio>
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

// The descriptors process `pid` has open: the entries of /proc/PID/fd.
std::size_t descriptors_of(pid_t pid) {
  std::size_t n = 0;
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) throw std::runtime_error("cannot read /proc/" + std::to_string(pid) + "/fd");
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
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

// The salvo command under RLIMIT_NOFILE `limit` (soft and hard).
std::vector<std::string> descriptor_limit(int limit) {
  return {SALVO_WITH_DESCRIPTOR_LIMIT_PATH, std::to_string(limit), std::to_string(limit)};
}

TEST_P(ImpairClients, AHundredClientsUnderALimitOf64AreServedAsFarAsDescriptorsGoAndTheRestCounted) {
  SALVO_SKIP_UNLESS_DESCRIPTOR_EXHAUSTION_TESTABLE();
  // The default --max-clients (256): the table never refuses, the descriptors do. The idle timeout
  // is far longer than the first two rounds take, so that no client expires before the test lets
  // them all fall idle.
  constexpr int limit = 64;
  constexpr std::uint64_t n_clients = 100, more = 20;
  EchoServer echo(backend());
  Proxy proxy(echo.address(), {"--idle-timeout", "6"}, backend(), descriptor_limit(limit));
  const pid_t pid = proxy.child().pid();
  const std::size_t at_start = descriptors_of(pid);
  ASSERT_LT(at_start, static_cast<std::size_t>(limit));
  const std::uint64_t room = limit - at_start;  // one socket per client served
  ASSERT_LT(room, n_clients) << "the limit does not bite";
  ASSERT_GE(room, n_clients - room) << "the refused clients will not all fit after the others expire";
  auto clients = make_clients(n_clients);

  // Round 1: one datagram from each client in turn. Exactly the first `room` are served; the
  // proxy then holds every descriptor it may.
  const std::uint64_t served = serve_until_refused(proxy, clients);
  EXPECT_EQ(served, room) << at_start << " descriptors at start";
  EXPECT_EQ(descriptors_of(pid), static_cast<std::size_t>(limit));

  // Round 2: more from everyone, the refused clients first: the served clients get every reply
  // (once the last of them has, the proxy has read all the refused ones' datagrams too).
  for (std::uint64_t i = n_clients; i-- > 0;) {
    for (std::uint64_t j = 1; j <= more; ++j) {
      ASSERT_TRUE(clients[i]->send_to(make_payload(seq_of(i, j), 48), proxy.address()));
    }
  }
  for (std::uint64_t i = 0; i < served; ++i) expect_replies(*clients[i], i, 1, more, proxy.address());
  for (std::uint64_t i = served; i < n_clients; ++i) {
    EXPECT_FALSE(clients[i]->wait_readable(0ms)) << "refused client " << i << " got a reply";
  }

  // The served clients fall idle and expire: their sockets close, and the descriptor count is
  // back where it started.
  EXPECT_TRUE(wait_until([&] { return descriptors_of(pid) == at_start; }, 30s))
      << descriptors_of(pid) << " descriptors, " << at_start << " at start";

  // Round 3: the clients refused before are served now, each with a descriptor of its own.
  for (std::uint64_t i = served; i < n_clients; ++i) {
    ASSERT_TRUE(clients[i]->send_to(make_payload(seq_of(i, 1 + more), 48), proxy.address()));
    expect_replies(*clients[i], i, 1 + more, 1, proxy.address());
  }
  EXPECT_EQ(descriptors_of(pid), at_start + (n_clients - served));

  const nlohmann::json j = proxy.result();
  const std::uint64_t each = 1 + more, refused = n_clients - served;
  EXPECT_EQ(u(j["kernel_drops"]), 0u) << "the proxy's sockets overflowed: the test is invalid";
  const auto& table = j["clients"];
  EXPECT_EQ(u(table["admitted"]), n_clients) << "the served ones, then the refused ones in round 3";
  EXPECT_EQ(u(table["peak"]), served);
  EXPECT_EQ(u(table["expired"]), served);
  EXPECT_EQ(u(table["active"]), refused);
  EXPECT_EQ(u(table["refused"]), 0u) << "the table was never full";
  const auto& up = j["client_to_server"];
  EXPECT_EQ(u(up["in"]), n_clients * each + refused);
  EXPECT_EQ(u(up["forwarded"]), served * each + refused);
  EXPECT_EQ(u(up["dropped_no_upstream"]), refused * each);
  EXPECT_EQ(u(j["server_to_client"]["in"]), served * each + refused);
  EXPECT_EQ(u(j["server_to_client"]["forwarded"]), served * each + refused);
  expect_accounted(up);
  expect_accounted(j["server_to_client"]);
  // Once for refused * each datagrams.
  expect_refusal_said_once(proxy, limit);
  std::printf("[ figure ] impair under RLIMIT_NOFILE %d (%s): %zu descriptors at start, %llu of %llu clients served, "
              "%llu refused (%llu datagrams counted as dropped_no_upstream, one line), descriptors back to %zu, the "
              "%llu refused served after the others expired\n",
              limit, backend().c_str(), at_start, static_cast<unsigned long long>(served),
              static_cast<unsigned long long>(n_clients), static_cast<unsigned long long>(refused),
              static_cast<unsigned long long>(refused * each), at_start, static_cast<unsigned long long>(refused));
}

// The room --max-clients has in a refusal: "... which leaves room for N clients; ...".
std::uint64_t room_in(const std::string& refusal) {
  const std::string before = "leaves room for ";
  const std::size_t at = refusal.find(before);
  if (at == std::string::npos) throw std::runtime_error("no room in: " + refusal);
  return std::stoull(refusal.substr(at + before.size()));
}

TEST_P(ImpairClients, AMaxClientsThatCannotFitUnderTheLimitIsRefusedAtStart) {
  SALVO_SKIP_UNLESS_DESCRIPTOR_EXHAUSTION_TESTABLE();
  constexpr int limit = 64;
  EchoServer echo(backend());
  auto impair = [&](std::uint64_t max_clients) {
    std::vector<std::string> argv = descriptor_limit(limit);
    for (const std::string& a : {std::string(SALVO_CLI_PATH), std::string("impair"), std::string("--listen"),
                                 std::string("127.0.0.1:0"), std::string("--to"), echo.address().to_string(),
                                 std::string("--max-clients"), std::to_string(max_clients), std::string("--backend"),
                                 backend()}) {
      argv.push_back(a);
    }
    return run_process(argv, 20s);
  };
  const ProcessResult hundred = impair(100);
  expect_usage_error(hundred, {"--max-clients 100", "RLIMIT_NOFILE is 64", "ulimit -n"});
  const std::uint64_t room = room_in(hundred.err);
  ASSERT_GE(room, 1u);
  ASSERT_LT(room, 64u);
  expect_usage_error(impair(room + 1), {"--max-clients " + std::to_string(room + 1), "RLIMIT_NOFILE is 64",
                                        "room for " + std::to_string(room) + " clients"});

  // The largest that fits starts, and serves that many clients at once, every descriptor taken.
  Proxy proxy(echo.address(), {"--max-clients", std::to_string(room)}, backend(), descriptor_limit(limit));
  auto clients = make_clients(room);
  for (std::uint64_t i = 0; i < room; ++i) {
    ASSERT_TRUE(clients[i]->send_to(make_payload(seq_of(i, 0), 48), proxy.address()));
    expect_replies(*clients[i], i, 0, 1, proxy.address());
  }
  EXPECT_EQ(descriptors_of(proxy.child().pid()), static_cast<std::size_t>(limit));
  const nlohmann::json j = proxy.result();
  EXPECT_EQ(u(j["clients"]["admitted"]), room);
  EXPECT_EQ(u(j["client_to_server"]["forwarded"]), room);
  EXPECT_EQ(u(j["client_to_server"]["dropped_no_upstream"]), 0u);
  EXPECT_EQ(u(j["server_to_client"]["forwarded"]), room);
  EXPECT_EQ(proxy.err().find(refused_line), std::string::npos) << proxy.err();
  std::printf("[ figure ] impair --max-clients under RLIMIT_NOFILE %d (%s): 100 and %llu refused at start (exit 2, "
              "one line), %llu starts and serves %llu clients\n",
              limit, backend().c_str(), static_cast<unsigned long long>(room + 1),
              static_cast<unsigned long long>(room), static_cast<unsigned long long>(room));
}

INSTANTIATE_TEST_SUITE_P(Backends, ImpairClients, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
