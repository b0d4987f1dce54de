// salvo_latency: ping-pong round-trip time on loopback, for echo servers side by side in one run.
//
// Each case's echo server runs in a child process pinned to CPU 0; the client in this process,
// pinned to CPU 1, sends one 64-byte datagram, waits for its echo, and repeats (--trips per round,
// after a warm-up). The client polls its socket without sleeping, so that the figures show the
// server's side of the round trip: how fast it wakes, reads, hands the datagram to a protocol and
// sends the reply. Cases run in interleaved rounds (order rotated each round); the table shows the
// medians over rounds of each round's p50 and p99, with ratios to the plain loop that waits the
// same way (blocking or spinning) and, for busy polling, to the same server blocking.
//
// Servers: a plain blocking recvfrom/sendto loop, a plain spinning (non-blocking) loop, and salvo's
// echo on each backend, blocking and with busy_poll.
//
// Usage: salvo_latency [--rounds N] [--trips N] [--json FILE] [--only NAME-PART]
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "receivers.hpp"
#include "salvo/salvo.hpp"

namespace {

using namespace salvo::bench;

std::atomic<bool> g_stop{false};
void on_stop_signal(int) { g_stop.store(true); }

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// --- servers (child processes) ---

void serve_plain(const PortReady& ready, bool spin) {
  std::uint16_t port = 0;
  const int fd = bind_loopback_udp(port);
  timeval tv{0, 50'000};  // blocking variant: notice the stop signal when idle
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ready(port);
  char buffer[2048];
  while (!g_stop.load(std::memory_order_relaxed)) {
    sockaddr_in6 peer{};
    socklen_t length = sizeof peer;
    const ssize_t n = ::recvfrom(fd, buffer, sizeof buffer, spin ? MSG_DONTWAIT : 0, reinterpret_cast<sockaddr*>(&peer), &length);
    if (n >= 0) ::sendto(fd, buffer, static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&peer), length);
  }
  ::close(fd);
}

class Echo final : public salvo::Protocol {
 public:
  void on_datagrams(std::span<const salvo::Datagram> batch, salvo::Transport& t) override {
    for (const salvo::Datagram& d : batch) t.send(d.payload, d.peer);
  }
};

void serve_salvo(const PortReady& ready, const char* backend, bool busy_poll) {
  salvo::EngineOptions options;
  options.backend = salvo::parse_backend_kind(backend).value();
  options.cpus = {sched_getcpu()};
  options.busy_poll = busy_poll;
  options.busy_poll_idle = std::chrono::milliseconds(0);
  auto engine = salvo::Engine::create(options);
  if (!engine) std::exit(3);
  auto bound = (*engine)->listen(salvo::Address::ipv4_loopback(0), [](unsigned) { return std::make_unique<Echo>(); });
  if (!bound || !(*engine)->start()) std::exit(3);
  ready(bound->port());
  while (!g_stop.load(std::memory_order_relaxed)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  (*engine)->stop();
  (*engine)->wait();
}

struct Case {
  const char* name;
  void (*serve)(const PortReady&);
  const char* baseline_of;  // the blocking case this one is compared with (nullptr: itself)
  const char* plain;        // the plain loop that waits the same way (blocking or spinning)
};

// --- client ---

struct Round {
  double p50_us = 0;
  double p99_us = 0;
  std::uint64_t lost = 0;
};

double percentile(std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return 0;
  const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1000.0;
}

Round run_case(const Case& c, int trips) {
  int port_pipe[2];
  if (::pipe(port_pipe) != 0) std::exit(1);
  const pid_t child = ::fork();
  if (child == 0) {
    pin(0);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigaction(SIGUSR1, &sa, nullptr);
    c.serve([&](std::uint16_t port) { [[maybe_unused]] auto n = ::write(port_pipe[1], &port, sizeof port); });
    ::_exit(0);
  }
  std::uint16_t port = 0;
  if (::read(port_pipe[0], &port, sizeof port) != sizeof port) std::exit(1);

  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to);
  char payload[64] = {};
  char reply[2048];
  std::vector<std::int64_t> rtt;
  rtt.reserve(static_cast<std::size_t>(trips));
  Round r;
  const int warmup = trips / 10 + 100;
  for (int i = 0; i < warmup + trips; ++i) {
    std::memcpy(payload, &i, sizeof i);
    const std::int64_t start = now_ns();
    ::send(fd, payload, sizeof payload, 0);
    bool answered = false;
    // Spin for the echo (the client's own wake-up would otherwise be part of every figure);
    // a datagram not back within 100 ms counts as lost.
    while (now_ns() - start < 100'000'000) {
      const ssize_t n = ::recv(fd, reply, sizeof reply, MSG_DONTWAIT);
      if (n == static_cast<ssize_t>(sizeof payload) && std::memcmp(reply, &i, sizeof i) == 0) {
        answered = true;
        break;
      }
    }
    const std::int64_t took = now_ns() - start;
    if (!answered) {
      ++r.lost;
      continue;
    }
    if (i >= warmup) rtt.push_back(took);
  }
  ::close(fd);
  ::kill(child, SIGUSR1);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(port_pipe[0]);
  ::close(port_pipe[1]);
  r.p50_us = percentile(rtt, 50);
  r.p99_us = percentile(rtt, 99);
  return r;
}

void plain_blocking(const PortReady& r) { serve_plain(r, false); }
void plain_spinning(const PortReady& r) { serve_plain(r, true); }
void salvo_epoll(const PortReady& r) { serve_salvo(r, "epoll", false); }
void salvo_epoll_busy(const PortReady& r) { serve_salvo(r, "epoll", true); }
void salvo_uring(const PortReady& r) { serve_salvo(r, "io_uring", false); }
void salvo_uring_busy(const PortReady& r) { serve_salvo(r, "io_uring", true); }

}  // namespace

int main(int argc, char** argv) {
  int rounds = 3;
  int trips = 20000;
  std::string only;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--trips" && i + 1 < argc) {
      trips = std::atoi(argv[++i]);
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: salvo_latency [--rounds N] [--trips N] [--json FILE] [--only NAME-PART]\n");
      return 2;
    }
  }
  if (rounds < 1 || rounds > 100 || trips < 100 || trips > 10'000'000) {
    std::fprintf(stderr, "salvo_latency: --rounds 1..100 and --trips 100..10000000 please\n");
    return 2;
  }
  if (std::thread::hardware_concurrency() < 2) {
    std::fprintf(stderr, "salvo_latency: needs two CPUs (client and server each get one)\n");
    return 2;
  }
  pin(1);
  std::vector<Case> cases = {
      {"plain recvfrom loop", plain_blocking, nullptr, "plain recvfrom loop"},
      {"plain spinning loop", plain_spinning, "plain recvfrom loop", "plain spinning loop"},
      {"salvo epoll", salvo_epoll, nullptr, "plain recvfrom loop"},
      {"salvo epoll busy-poll", salvo_epoll_busy, "salvo epoll", "plain spinning loop"},
  };
  salvo::EngineOptions uring;
  uring.backend = salvo::BackendKind::io_uring;
  if (salvo::Engine::create(uring).ok()) {
    cases.push_back({"salvo io_uring", salvo_uring, nullptr, "plain recvfrom loop"});
    cases.push_back({"salvo io_uring busy-poll", salvo_uring_busy, "salvo io_uring", "plain spinning loop"});
  }
  std::vector<std::vector<Round>> results(cases.size());
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t k = 0; k < cases.size(); ++k) {
      const std::size_t i = (k + static_cast<std::size_t>(round)) % cases.size();
      if (!only.empty() && std::string(cases[i].name).find(only) == std::string::npos) continue;
      results[i].push_back(run_case(cases[i], trips));
      const Round& r = results[i].back();
      std::fprintf(stderr, "round %d %-26s p50 %7.1f us  p99 %7.1f us  lost %llu\n", round + 1, cases[i].name, r.p50_us,
                   r.p99_us, static_cast<unsigned long long>(r.lost));
    }
  }
  std::printf("Ping-pong round trip, 64-byte datagrams on loopback, server on CPU 0, spinning client on CPU 1,\n"
              "%d round trips per round, medians of %d interleaved rounds\nMachine: %s\n\n",
              trips, rounds, machine().c_str());
  std::printf("| server | p50 us | p99 us | p50 vs plain loop | p99 vs plain loop | p50 vs blocking | lost |\n"
              "|---|---:|---:|---:|---:|---:|---:|\n");
  std::vector<double> p50(cases.size()), p99(cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    std::vector<double> a, b;
    for (const Round& r : results[i]) {
      a.push_back(r.p50_us);
      b.push_back(r.p99_us);
    }
    p50[i] = median(a);
    p99[i] = median(b);
  }
  // Index of the case called `name` that ran, or -1.
  auto find = [&](const char* name) -> long {
    for (std::size_t j = 0; j < cases.size(); ++j) {
      if (name != nullptr && std::string(cases[j].name) == name && !results[j].empty()) return static_cast<long>(j);
    }
    return -1;
  };
  auto ratio = [](double value, double base) {
    char text[32] = "-";
    if (base > 0 && value > 0) std::snprintf(text, sizeof text, "%.2fx", value / base);
    return std::string(text);
  };
  std::string json = "{\"machine\":" + json_string(machine()) + ",\"rounds\":" + std::to_string(rounds) +
                     ",\"trips\":" + std::to_string(trips) + ",\"cases\":[";
  bool first = true;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (results[i].empty()) continue;
    std::uint64_t lost = 0;
    for (const Round& r : results[i]) lost += r.lost;
    const long plain = find(cases[i].plain);
    const long blocking = cases[i].baseline_of != nullptr ? find(cases[i].baseline_of) : static_cast<long>(i);
    const double plain50 = plain < 0 ? 0 : p50[static_cast<std::size_t>(plain)];
    const double plain99 = plain < 0 ? 0 : p99[static_cast<std::size_t>(plain)];
    const double block50 = blocking < 0 ? 0 : p50[static_cast<std::size_t>(blocking)];
    std::printf("| %s | %.1f | %.1f | %s | %s | %s | %llu |\n", cases[i].name, p50[i], p99[i], ratio(p50[i], plain50).c_str(),
                ratio(p99[i], plain99).c_str(), ratio(p50[i], block50).c_str(), static_cast<unsigned long long>(lost));
    char fields[512];
    std::snprintf(fields, sizeof fields,
                  ",\"p50_us\":%.3f,\"p99_us\":%.3f,\"plain\":%s,\"p50_vs_plain\":%.4f,\"p99_vs_plain\":%.4f,"
                  "\"p50_vs_blocking\":%.4f,\"lost\":%llu}",
                  p50[i], p99[i], json_string(cases[i].plain).c_str(), plain50 > 0 ? p50[i] / plain50 : 0.0,
                  plain99 > 0 ? p99[i] / plain99 : 0.0, block50 > 0 ? p50[i] / block50 : 0.0,
                  static_cast<unsigned long long>(lost));
    json += std::string(first ? "" : ",") + "{\"name\":" + json_string(cases[i].name) + fields;
    first = false;
  }
  json += "]}\n";
  if (!json_path.empty()) std::ofstream(json_path) << json;
  return 0;
}
