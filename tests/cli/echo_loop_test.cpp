// salvo echo against the Loop DoS class (issue 21, CVE-2024-2169), with the command as a child
// process on every backend (servers/echo_rules.hpp states the rules):
//   - two salvo echo servers introduced to each other by one datagram with a forged source (sent
//     through a raw socket: needs root or CAP_NET_RAW, else skipped) answer exactly twice each
//     and stop; an echo introduced to itself likewise;
//   - against a peer that sends back everything it gets (the test's own socket, no privileges),
//     echo answers twice, then holds the peer: neither its third return nor its next datagram is
//     answered; with --loop-window 0, everything is;
//   - a source port below 1024 (needs root or CAP_NET_BIND_SERVICE, else skipped) is not answered,
//     plain or --sockperf, and is with --answer-low-ports;
//   - salvo ping gets every reply, and echo's report says it answered every datagram;
//   - salvo impair --dup 1 between a plain echo server and a client that echoes: duplicates are
//     made in the first round trip only (one each way of it: 1 toward the server, 2 back), then
//     withheld, so the loop holds 4 datagrams for good instead of doubling (impair/loop_watch.hpp).
// Absence of a reply is never waited for: another client's echo, sent after, comes back through
// the same socket queue (one worker), so once it is in, any reply owed earlier would be too.
// Each prints a "[ figure ]" line for docs/reliability.md.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "cli/cli_test_support.hpp"
#include "cli/impair_children.hpp"
#include "servers/sockperf_header.hpp"
#include "support/process.hpp"
#include "support/prometheus_parser.hpp"
#include "support/temp_dir.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

const std::string salvo_bin = SALVO_CLI_PATH;

std::uint64_t u(const nlohmann::json& j) { return j.get<std::uint64_t>(); }

// IPv4 UDP datagrams with any source address and port, through a raw socket (IP_HDRINCL): the
// forged datagram of the Loop DoS recipe.
class ForgedUdp {
 public:
  ForgedUdp() : fd_(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW)), error_(errno) {}
  ~ForgedUdp() {
    if (fd_ >= 0) ::close(fd_);
  }
  ForgedUdp(const ForgedUdp&) = delete;
  ForgedUdp& operator=(const ForgedUdp&) = delete;

  bool usable() const { return fd_ >= 0; }
  std::string why_not() const { return std::strerror(error_); }

  bool send(const Address& from, const Address& to, std::span<const std::byte> payload) const {
    sockaddr_in src{}, dst{};
    std::memcpy(&src, from.sockaddr_data(), sizeof src);
    std::memcpy(&dst, to.sockaddr_data(), sizeof dst);
    const std::size_t udp_length = 8 + payload.size();
    std::vector<unsigned char> p(20 + udp_length);
    p[0] = 0x45;  // IPv4, 20-byte header
    put16(p, 2, static_cast<std::uint16_t>(p.size()));
    p[8] = 64;           // TTL
    p[9] = IPPROTO_UDP;  // id, fragment and header checksum stay 0: the kernel fills them in
    std::memcpy(&p[12], &src.sin_addr, 4);
    std::memcpy(&p[16], &dst.sin_addr, 4);
    std::memcpy(&p[20], &src.sin_port, 2);
    std::memcpy(&p[22], &dst.sin_port, 2);
    put16(p, 24, static_cast<std::uint16_t>(udp_length));
    if (!payload.empty()) std::memcpy(&p[28], payload.data(), payload.size());
    put16(p, 26, udp_checksum(p));
    return ::sendto(fd_, p.data(), p.size(), 0, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) ==
           static_cast<ssize_t>(p.size());
  }

 private:
  static void put16(std::vector<unsigned char>& p, std::size_t at, std::uint16_t v) {
    p[at] = static_cast<unsigned char>(v >> 8);
    p[at + 1] = static_cast<unsigned char>(v);
  }
  // RFC 768: the one's complement sum over the pseudo-header (addresses, protocol, UDP length)
  // and the UDP header and data; 0 is sent as 0xffff.
  static std::uint16_t udp_checksum(const std::vector<unsigned char>& p) {
    std::uint32_t sum = IPPROTO_UDP + static_cast<std::uint32_t>(p.size() - 20);
    auto add = [&sum](const unsigned char* b, std::size_t n) {
      for (std::size_t i = 0; i < n; i += 2) sum += (std::uint32_t{b[i]} << 8) | (i + 1 < n ? b[i + 1] : 0u);
    };
    add(&p[12], 8);
    add(&p[20], p.size() - 20);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    const auto c = static_cast<std::uint16_t>(~sum);
    return c == 0 ? 0xffff : c;
  }

  int fd_;
  int error_;
};

// A UDP socket on 127.0.0.1 with a source port below 1024, or nullptr when this process may not
// bind one (neither root nor CAP_NET_BIND_SERVICE) or every candidate is taken.
std::unique_ptr<UdpSocket> low_port_socket() {
  for (std::uint16_t port = 1001; port < 1024; ++port) {
    try {
      return std::make_unique<UdpSocket>(Address::ipv4_loopback(port));
    } catch (const std::runtime_error&) {
    }
  }
  return nullptr;
}

// The "received" counter a --metrics file holds now, summed over its workers; 0 before the file
// exists.
std::uint64_t received_in(const std::string& metrics_path) {
  std::ifstream in(metrics_path, std::ios::binary);
  if (!in) return 0;
  std::ostringstream text;
  text << in.rdbuf();
  const PromDocument doc = parse_prometheus_strict(text.str());
  const PromFamily* f = doc.family("salvo_received_total");
  std::uint64_t sum = 0;
  if (f != nullptr) {
    for (const PromSample& s : f->samples) sum += std::stoull(s.value);
  }
  return sum;
}

class EchoLoopCli : public testing::TestWithParam<BackendKind> {
 protected:
  std::string backend() const { return std::string(to_string(GetParam())); }

  // A salvo echo on a free loopback port with --json and these flags.
  std::unique_ptr<Child> start_echo(const std::vector<std::string>& flags) const {
    std::vector<std::string> argv = {salvo_bin, "echo", "--bind", "127.0.0.1:0", "--duration", "60", "--json",
                                     "--backend", backend()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto child = std::make_unique<Child>(argv);
    if (!child->wait_for_stderr(")\n", 20s)) throw std::runtime_error("echo did not start: " + child->err_so_far());
    return child;
  }

  // Ends an echo with SIGINT; it must exit 0.
  static ProcessResult stop(Child& echo) {
    echo.send_signal(SIGINT);
    ProcessResult r = echo.finish(20s);
    if (!r.exited || r.exit_code != 0) throw std::runtime_error(show(r));
    return r;
  }
};

TEST_P(EchoLoopCli, TwoEchoServersIntroducedByAForgedDatagramAnswerTwiceEachAndStop) {
  const ForgedUdp forge;
  if (!forge.usable()) GTEST_SKIP() << "no raw socket (needs root or CAP_NET_RAW): " << forge.why_not();
  TempDir dir;
  const std::string a_metrics = dir.file("a.prom");
  auto a = start_echo({"--metrics", a_metrics});
  auto b = start_echo({});
  const Address a_at = listening_address(a->err_so_far());
  const Address b_at = listening_address(b->err_so_far());
  // The recipe: one datagram to A that says it comes from B.
  ASSERT_TRUE(forge.send(b_at, a_at, make_payload(1, 64)));
  // A's third datagram is its reply coming back the second time: the end of the exchange (or,
  // were the rule broken, just a moment in thousands).
  ASSERT_TRUE(wait_until([&] { return received_in(a_metrics) >= 3; }, 20s)) << "A: " << a->err_so_far();
  const nlohmann::json ja = json_of(stop(*a));
  const nlohmann::json jb = json_of(stop(*b));
  std::cout << "[ figure ] two salvo echo servers (" << backend() << ") introduced by one forged datagram: A received "
            << u(ja["received"]) << ", answered " << u(ja["echo"]["answered"]) << "; B received " << u(jb["received"])
            << ", answered " << u(jb["echo"]["answered"]) << "; A: " << ja["echo"].dump() << "\n";
  EXPECT_EQ(u(ja["received"]), 3u) << ja.dump();
  EXPECT_EQ(u(ja["sent"]), 2u) << ja.dump();
  EXPECT_EQ(ja["echo"], (nlohmann::json{{"answered", 2}, {"not_sent", 0}, {"low_port", 0}, {"loop", 1}, {"held", 0},
                                        {"evicted", 0}}));
  EXPECT_EQ(u(jb["received"]), 2u) << jb.dump();
  EXPECT_EQ(u(jb["sent"]), 2u) << jb.dump();
  EXPECT_EQ(u(jb["echo"]["answered"]), 2u) << jb.dump();
  EXPECT_EQ(u(jb["echo"]["loop"]), 0u) << "A stopped first: B's reply never came back to it twice";
}

TEST_P(EchoLoopCli, AnEchoIntroducedToItselfAnswersTwiceAndStops) {
  const ForgedUdp forge;
  if (!forge.usable()) GTEST_SKIP() << "no raw socket (needs root or CAP_NET_RAW): " << forge.why_not();
  TempDir dir;
  const std::string metrics = dir.file("a.prom");
  auto a = start_echo({"--metrics", metrics});
  const Address a_at = listening_address(a->err_so_far());
  ASSERT_TRUE(forge.send(a_at, a_at, make_payload(1, 64)));
  ASSERT_TRUE(wait_until([&] { return received_in(metrics) >= 3; }, 20s)) << a->err_so_far();
  const nlohmann::json j = json_of(stop(*a));
  EXPECT_EQ(u(j["received"]), 3u) << j.dump();
  EXPECT_EQ(u(j["sent"]), 2u) << j.dump();
  EXPECT_EQ(u(j["echo"]["loop"]), 1u) << j.dump();
}

// The test's socket plays an echo server without the rules: it sends back whatever comes.
TEST_P(EchoLoopCli, APeerThatSendsBackEverythingIsAnsweredTwiceThenHeld) {
  for (const bool rule : {true, false}) {
    SCOPED_TRACE(rule ? "--loop-window 60" : "--loop-window 0");
    // 60 s: the whole exchange is surely within one window, however slow the machine.
    auto a = start_echo({"--loop-window", rule ? "60" : "0"});
    const Address a_at = listening_address(a->err_so_far());
    UdpSocket peer(addr("127.0.0.1:0"));
    UdpSocket other(addr("127.0.0.1:0"));
    const auto x = make_payload(1, 64);
    ASSERT_TRUE(peer.send_to(x, a_at));
    for (int answer = 0; answer < 2; ++answer) {
      auto m = peer.receive(5s);
      ASSERT_TRUE(m.has_value()) << "answer " << answer;
      EXPECT_EQ(m->payload, x);
      ASSERT_TRUE(peer.send_to(m->payload, m->from));  // sent back: the first time, then the second
    }
    ASSERT_TRUE(peer.send_to(make_payload(2, 64), a_at));  // something else
    ASSERT_TRUE(other.send_to(make_payload(3, 64), a_at));
    ASSERT_TRUE(other.receive(5s).has_value()) << "another client is answered all along";
    std::vector<std::byte> buffer(2048);
    Address from;
    std::uint64_t late = 0;
    while (peer.try_receive(buffer, from) >= 0) ++late;
    const nlohmann::json j = json_of(stop(*a));
    EXPECT_EQ(u(j["received"]), 5u) << j.dump();
    if (rule) {
      EXPECT_EQ(late, 0u) << "the second return and what followed it were answered";
      EXPECT_EQ(j["echo"], (nlohmann::json{{"answered", 3}, {"not_sent", 0}, {"low_port", 0}, {"loop", 1}, {"held", 1},
                                           {"evicted", 0}}));
    } else {
      EXPECT_EQ(late, 2u);
      EXPECT_EQ(u(j["echo"]["answered"]), 5u) << j.dump();
      EXPECT_EQ(u(j["echo"]["loop"]), 0u) << j.dump();
    }
  }
}

TEST_P(EchoLoopCli, ASourcePortBelow1024IsAnsweredOnlyWithAnswerLowPorts) {
  auto low = low_port_socket();
  if (!low) GTEST_SKIP() << "cannot bind a UDP port below 1024 here (needs root or CAP_NET_BIND_SERVICE)";
  UdpSocket other(addr("127.0.0.1:0"));
  std::vector<std::byte> buffer(2048);
  Address from;
  // sockperf's pong request: what --sockperf answers from any other port.
  std::vector<std::byte> pong_request(64);
  ASSERT_TRUE(cli::write_sockperf_header(
      pong_request, cli::SockperfHeader{1, cli::SockperfHeader::client | cli::SockperfHeader::pong_request, 64}));
  for (const bool sockperf : {false, true}) {
    SCOPED_TRACE(sockperf ? "--sockperf" : "plain echo");
    const auto request = sockperf ? pong_request : make_payload(1, 64);
    {
      auto a = start_echo(sockperf ? std::vector<std::string>{"--sockperf"} : std::vector<std::string>{});
      const Address a_at = listening_address(a->err_so_far());
      ASSERT_TRUE(low->send_to(request, a_at));
      auto other_request = request;
      other_request[0] = std::byte{0x7f};  // another sequence number
      ASSERT_TRUE(other.send_to(other_request, a_at));
      ASSERT_TRUE(other.receive(5s).has_value());
      EXPECT_LT(low->try_receive(buffer, from), 0) << "answered port " << low->local().port();
      const ProcessResult r = stop(*a);
      const nlohmann::json j = json_of(r);
      EXPECT_EQ(u(j["received"]), 2u) << j.dump();
      EXPECT_EQ(u(j["sent"]), 1u) << j.dump();
      EXPECT_EQ(u(j[sockperf ? "sockperf" : "echo"]["low_port"]), 1u) << j.dump();
      EXPECT_NE(r.err.find("1 well-known source port (< 1024)"), std::string::npos) << r.err;
    }
    {
      auto a = start_echo(sockperf ? std::vector<std::string>{"--sockperf", "--answer-low-ports"}
                                   : std::vector<std::string>{"--answer-low-ports"});
      const Address a_at = listening_address(a->err_so_far());
      ASSERT_TRUE(low->send_to(request, a_at));
      ASSERT_TRUE(low->receive(5s).has_value()) << "--answer-low-ports";
      const nlohmann::json j = json_of(stop(*a));
      EXPECT_EQ(u(j[sockperf ? "sockperf" : "echo"]["low_port"]), 0u) << j.dump();
      EXPECT_EQ(u(j["sent"]), 1u) << j.dump();
    }
  }
}

TEST_P(EchoLoopCli, SalvoPingGetsEveryReply) {
  constexpr std::uint64_t count = 3000;
  auto echo = start_echo({"--rcvbuf", "4194304"});
  const Address at = listening_address(echo->err_so_far());
  const ProcessResult r = run_process({salvo_bin, "ping", "--to", at.to_string(), "--rate", "10000", "--count",
                                       std::to_string(count), "--rcvbuf", "4194304", "--json", "--backend", backend()},
                                      60s);
  ASSERT_TRUE(r.exited && r.exit_code == 0) << show(r);
  const nlohmann::json ping = json_of(r)["ping"];
  const nlohmann::json j = json_of(stop(*echo));
  EXPECT_EQ(u(ping["sent"]), count) << ping.dump();
  EXPECT_EQ(u(ping["received"]), count) << ping.dump();
  EXPECT_EQ(u(ping["duplicates"]), 0u);
  EXPECT_EQ(u(ping["invalid"]), 0u);
  EXPECT_EQ(u(j["received"]), count) << j.dump();
  EXPECT_EQ(j["echo"], (nlohmann::json{{"answered", count}, {"not_sent", 0}, {"low_port", 0}, {"loop", 0}, {"held", 0},
                                      {"evicted", 0}}));
}

// A client that is itself an echo: after its first datagram it sends back everything it gets.
class EchoingClient {
 public:
  EchoingClient() : socket_(addr("127.0.0.1:0"), 1 << 20), thread_([this] { run(); }) {}
  ~EchoingClient() { stop(); }
  EchoingClient(const EchoingClient&) = delete;
  EchoingClient& operator=(const EchoingClient&) = delete;

  UdpSocket& socket() { return socket_; }
  std::uint64_t echoed() const { return echoed_.load(std::memory_order_relaxed); }
  void stop() {
    stopping_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    while (!stopping_.load()) {
      auto m = socket_.receive(20ms);
      if (m && socket_.send_to(m->payload, m->from)) echoed_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  UdpSocket socket_;
  std::atomic<std::uint64_t> echoed_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

TEST_P(EchoLoopCli, ImpairDupDoesNotMultiplyALoop) {
  // The server: an echo without the loop rule, as most echo servers are.
  auto server = start_echo({"--loop-window", "0"});
  const Address server_at = listening_address(server->err_so_far());
  // --dup 1: every decision is a duplicate, so a loop fed by them would double every pass.
  // --delay 50: the loop turns about ten times a second, and the server's two echoes of the
  // first pass reach the proxy long before the client can send anything back.
  Proxy proxy(server_at, {"--dup", "1", "--delay", "50"}, backend());
  EchoingClient client;
  ASSERT_TRUE(client.socket().send_to(make_payload(1, 64), proxy.address()));
  // Four datagrams go round; six rounds of them.
  ASSERT_TRUE(wait_until([&] { return client.echoed() >= 24; }, 20s)) << "echoed " << client.echoed();
  client.stop();
  const nlohmann::json j = proxy.result();
  const nlohmann::json& up = j["client_to_server"];
  const nlohmann::json& down = j["server_to_client"];
  std::cout << "[ figure ] impair --dup 1 in a loop (" << backend() << "): client -> server " << u(up["in"])
            << " in, " << u(up["duplicated"]) << " duplicated, " << u(up["dup_withheld"])
            << " withheld; server -> client " << u(down["in"]) << " in, " << u(down["duplicated"]) << " duplicated, "
            << u(down["dup_withheld"]) << " withheld; the client echoed " << client.echoed() << "\n";
  // The first pass: the client's datagram doubled on the way to the server, and both echoes
  // doubled on the way back. From the client's first return on, nothing is duplicated.
  EXPECT_EQ(u(up["duplicated"]), 1u) << j.dump();
  EXPECT_EQ(u(down["duplicated"]), 2u) << j.dump();
  EXPECT_EQ(u(up["dup_withheld"]), u(up["in"]) - 1) << j.dump();
  EXPECT_EQ(u(down["dup_withheld"]), u(down["in"]) - 2) << j.dump();
  EXPECT_GE(u(up["in"]), 1u + 20) << j.dump();
  expect_accounted(up);
  expect_accounted(down);
}

INSTANTIATE_TEST_SUITE_P(Backends, EchoLoopCli, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
