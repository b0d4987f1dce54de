// salvo_packet_rate: CPU time per datagram on loopback, receiving and sending, for salvo's backends
// and for plain baselines, measured side by side in one run. Most cases use 64-byte datagrams; the
// large ones (named "... 1200 B", "... 1472 B") use those sizes with GRO on receive and GSO on send.
//
// receive: each case's receiver runs in a child process pinned to CPU 0; a GSO sender in this
//   process, pinned to CPU 1, floods it for --seconds (as many segments of the case's size per
//   sendmsg as salvo would send: 64 of 64 bytes, 54 of 1200: a cheap sender, so that the receiver
//   is the bottleneck). The figure is the child's CPU time (user + system, from wait4) over the
//   datagrams it received.
// send: each case's sender runs in a child process pinned to CPU 1 and sends as fast as the kernel
//   takes datagrams, for --seconds; a recvmmsg drain in this process, pinned to CPU 0, empties the
//   receiving socket (with UDP_GRO for the large cases, so that their GSO messages are not cut on
//   delivery). The figure is the child's CPU time over the datagrams the kernel accepted. On
//   loopback the sender's CPU also runs the receiving half of the kernel's path (softirq), for
//   every case alike.
// Cases run in interleaved rounds (order rotated every round); the tables show medians, each case
// with the ratio to its own baseline and to the best baseline of its suite.
//
// Usage: salvo_packet_rate [--suite receive|send|all] [--rounds N] [--seconds S] [--json FILE]
//                          [--only NAME-PART]
#include <netinet/in.h>
#include <netinet/udp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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
#include "senders.hpp"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace {

using namespace salvo::bench;

constexpr int receiver_cpu = 0;
constexpr int sender_cpu = 1;

std::atomic<bool> g_stop{false};
void on_stop_signal(int) { g_stop.store(true); }

using ReceiveFn = ReceiveResult (*)(const PortReady&, const std::atomic<bool>&);
using SendFn = SendOutcome (*)(std::uint16_t, unsigned, const std::atomic<bool>&);

// One table entry. A receive case sets `receive`, a send case `send`; `compare_to` names the
// baseline its first ratio is against (nullptr: a baseline, compared with itself).
struct Case {
  const char* suite;  // "receive" or "send"
  const char* name;
  ReceiveFn receive;
  SendFn send;
  const char* compare_to;
  bool needs_io_uring;
  unsigned size = 64;  // bytes per datagram; above 64, GRO on receive and GSO on send
};

ReceiveResult salvo_epoll(const PortReady& r, const std::atomic<bool>& s) { return run_salvo({"epoll", false}, r, s); }
ReceiveResult salvo_uring(const PortReady& r, const std::atomic<bool>& s) { return run_salvo({"io_uring", false}, r, s); }
ReceiveResult salvo_uring_busy(const PortReady& r, const std::atomic<bool>& s) { return run_salvo({"io_uring", true}, r, s); }
ReceiveResult salvo_epoll_gro(const PortReady& r, const std::atomic<bool>& s) { return run_salvo({"epoll", false, true}, r, s); }
ReceiveResult salvo_uring_gro(const PortReady& r, const std::atomic<bool>& s) { return run_salvo({"io_uring", false, true}, r, s); }
SendOutcome send_salvo_epoll(std::uint16_t p, unsigned n, const std::atomic<bool>& s) { return run_salvo_sender("epoll", false, p, n, s); }
SendOutcome send_salvo_uring(std::uint16_t p, unsigned n, const std::atomic<bool>& s) { return run_salvo_sender("io_uring", false, p, n, s); }
SendOutcome send_salvo_epoll_gso(std::uint16_t p, unsigned n, const std::atomic<bool>& s) { return run_salvo_sender("epoll", true, p, n, s); }
SendOutcome send_salvo_uring_gso(std::uint16_t p, unsigned n, const std::atomic<bool>& s) { return run_salvo_sender("io_uring", true, p, n, s); }

// Every case of the suite, in table order. A new configuration (GRO, say) is one line here.
const std::vector<Case> all_cases = {
    {"receive", "recvfrom baseline", run_recvfrom_baseline, nullptr, nullptr, false},
    {"receive", "recvmmsg baseline", run_recvmmsg_baseline, nullptr, nullptr, false},
    {"receive", "io_uring baseline", run_uring_baseline, nullptr, nullptr, true},
    {"receive", "salvo epoll", salvo_epoll, nullptr, "recvmmsg baseline", false},
    {"receive", "salvo io_uring", salvo_uring, nullptr, "io_uring baseline", true},
    {"receive", "salvo io_uring busy-poll", salvo_uring_busy, nullptr, "io_uring baseline", true},
    {"receive", "salvo epoll GRO", salvo_epoll_gro, nullptr, "recvmmsg baseline", false},
    {"receive", "salvo io_uring GRO", salvo_uring_gro, nullptr, "io_uring baseline", true},
    {"send", "sendto baseline", nullptr, run_sendto_baseline, nullptr, false},
    {"send", "sendmmsg baseline", nullptr, run_sendmmsg_baseline, nullptr, false},
    {"send", "GSO sendmsg baseline", nullptr, run_gso_baseline, nullptr, false},
    {"send", "salvo epoll", nullptr, send_salvo_epoll, "sendmmsg baseline", false},
    {"send", "salvo io_uring", nullptr, send_salvo_uring, "sendmmsg baseline", true},
    {"send", "salvo epoll GSO", nullptr, send_salvo_epoll_gso, "GSO sendmsg baseline", false},
    {"send", "salvo io_uring GSO", nullptr, send_salvo_uring_gso, "GSO sendmsg baseline", true},
    // Large datagrams, as QUIC sends them: each size beside its own hand-written loop.
    {"receive", "recvmmsg GRO baseline 1200 B", run_recvmmsg_gro_baseline, nullptr, nullptr, false, 1200},
    {"receive", "salvo epoll GRO 1200 B", salvo_epoll_gro, nullptr, "recvmmsg GRO baseline 1200 B", false, 1200},
    {"receive", "salvo io_uring GRO 1200 B", salvo_uring_gro, nullptr, "recvmmsg GRO baseline 1200 B", true, 1200},
    {"receive", "recvmmsg GRO baseline 1472 B", run_recvmmsg_gro_baseline, nullptr, nullptr, false, 1472},
    {"receive", "salvo epoll GRO 1472 B", salvo_epoll_gro, nullptr, "recvmmsg GRO baseline 1472 B", false, 1472},
    {"receive", "salvo io_uring GRO 1472 B", salvo_uring_gro, nullptr, "recvmmsg GRO baseline 1472 B", true, 1472},
    {"send", "GSO sendmsg baseline 1200 B", nullptr, run_gso_baseline, nullptr, false, 1200},
    {"send", "salvo epoll GSO 1200 B", nullptr, send_salvo_epoll_gso, "GSO sendmsg baseline 1200 B", false, 1200},
    {"send", "salvo io_uring GSO 1200 B", nullptr, send_salvo_uring_gso, "GSO sendmsg baseline 1200 B", true, 1200},
    {"send", "GSO sendmsg baseline 1472 B", nullptr, run_gso_baseline, nullptr, false, 1472},
    {"send", "salvo epoll GSO 1472 B", nullptr, send_salvo_epoll_gso, "GSO sendmsg baseline 1472 B", false, 1472},
    {"send", "salvo io_uring GSO 1472 B", nullptr, send_salvo_uring_gso, "GSO sendmsg baseline 1472 B", true, 1472},
};

struct Sample {
  double cpu_ns_per_datagram = 0;
  double user_ns_per_datagram = 0;  // the user-space part of cpu_ns_per_datagram
  double datagrams_per_s = 0;
  double cpu_share = 0;  // the measured process's CPU time / run time: ~1.0 means saturated
  std::uint64_t datagrams = 0;
};

Sample sample_from(std::uint64_t datagrams, const rusage& usage, double seconds) {
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  const double cpu = secs(usage.ru_utime) + secs(usage.ru_stime);
  Sample s;
  s.datagrams = datagrams;
  if (datagrams != 0) {
    s.cpu_ns_per_datagram = cpu * 1e9 / static_cast<double>(datagrams);
    s.user_ns_per_datagram = secs(usage.ru_utime) * 1e9 / static_cast<double>(datagrams);
  }
  s.datagrams_per_s = static_cast<double>(datagrams) / seconds;
  s.cpu_share = cpu / seconds;
  return s;
}

// Forks a child pinned to `cpu` that runs `body` with SIGUSR1 as its stop signal and writes the
// `Result` it returns to a pipe. Returns the child's pid and the read end of that pipe.
template <class Result, class Body>
pid_t spawn(int cpu, int& result_fd, Body body) {
  int result_pipe[2];
  if (::pipe(result_pipe) != 0) std::exit(1);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(result_pipe[0]);
    pin(cpu);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigaction(SIGUSR1, &sa, nullptr);
    const Result r = body();
    [[maybe_unused]] auto n = ::write(result_pipe[1], &r, sizeof r);
    ::_exit(0);
  }
  ::close(result_pipe[1]);
  result_fd = result_pipe[0];
  return child;
}

// Stops the child, reads its result and its CPU time.
template <class Result>
Result finish(pid_t child, int result_fd, rusage& usage) {
  ::kill(child, SIGUSR1);
  Result r{};
  if (::read(result_fd, &r, sizeof r) != sizeof r) r = {};
  ::close(result_fd);
  int status = 0;
  ::wait4(child, &status, 0, &usage);
  return r;
}

// Floods 127.0.0.1:port with datagrams of `size` bytes, gso_segments_for(size) per GSO send, until
// the deadline.
void flood(std::uint16_t port, unsigned size, std::chrono::duration<double> seconds) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to);
  const unsigned segments = gso_segments_for(size);
  const int segment = static_cast<int>(size);
  const bool gso = ::setsockopt(fd, SOL_UDP, UDP_SEGMENT, &segment, sizeof segment) == 0;
  std::vector<char> payload(gso ? std::size_t{size} * segments : std::size_t{size}, 'x');
  const auto end = std::chrono::steady_clock::now() + seconds;
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 16; ++i) ::send(fd, payload.data(), payload.size(), 0);
  }
  ::close(fd);
}

Sample run_receive(const Case& c, double seconds) {
  int port_pipe[2];
  if (::pipe(port_pipe) != 0) std::exit(1);
  int result_fd = -1;
  const pid_t child = spawn<ReceiveResult>(receiver_cpu, result_fd, [&] {
    return c.receive([&](std::uint16_t port) { [[maybe_unused]] auto n = ::write(port_pipe[1], &port, sizeof port); }, g_stop);
  });
  std::uint16_t port = 0;
  if (::read(port_pipe[0], &port, sizeof port) != sizeof port) std::exit(1);
  flood(port, c.size, std::chrono::duration<double>(seconds));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the receiver drain its queue
  rusage usage{};
  const ReceiveResult r = finish<ReceiveResult>(child, result_fd, usage);
  ::close(port_pipe[0]);
  ::close(port_pipe[1]);
  return sample_from(r.datagrams, usage, seconds);
}

Sample run_send(const Case& c, double seconds) {
  // The drain: a recvmmsg loop on CPU 0 that keeps the receiving socket empty, so that every
  // sender meets the same (empty) queue. Its own cost is not measured.
  std::uint16_t port = 0;
  const int fd = bind_loopback_udp(port);
  timeval tv{0, 20'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  // Forked before the drain thread starts, so that the child begins with a single thread.
  int result_fd = -1;
  const bool gro = c.size > 64;
  if (gro) {
    const int on = 1;
    ::setsockopt(fd, IPPROTO_UDP, UDP_GRO, &on, sizeof on);
  }
  const pid_t child = spawn<SendOutcome>(sender_cpu, result_fd, [&] { return c.send(port, c.size, g_stop); });
  std::atomic<bool> draining{true};
  std::thread drain([&] {
    pin(receiver_cpu);
    // 64 buffers of 2 KiB, or with GRO 16 of 64 KiB (a coalesced message holds up to 64 KiB).
    const unsigned batch = gro ? 16 : 64;
    const std::size_t size = gro ? 65535 : 2048;
    std::vector<char> buffers(batch * size);
    std::vector<mmsghdr> msgs(batch);
    std::vector<iovec> iov(batch);
    while (draining.load(std::memory_order_relaxed)) {
      for (unsigned i = 0; i < batch; ++i) {
        iov[i] = {&buffers[i * size], size};
        msgs[i].msg_hdr = {};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      ::recvmmsg(fd, msgs.data(), batch, MSG_WAITFORONE, nullptr);
    }
  });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  rusage usage{};
  const SendOutcome r = finish<SendOutcome>(child, result_fd, usage);
  draining.store(false);
  drain.join();
  ::close(fd);
  return sample_from(r.datagrams, usage, seconds);
}

bool io_uring_available() {
  salvo::EngineOptions o;
  o.backend = salvo::BackendKind::io_uring;
  return salvo::Engine::create(o).ok();
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 3;
  double seconds = 2.0;
  std::string json_path;
  std::string only;  // run only the cases whose name contains this
  std::string suite = "all";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--suite" && i + 1 < argc) {
      suite = argv[++i];
    } else {
      std::fprintf(stderr, "usage: salvo_packet_rate [--suite receive|send|all] [--rounds N] [--seconds S] [--json FILE] [--only NAME-PART]\n");
      return 2;
    }
  }
  if (rounds < 1 || rounds > 100 || !(seconds > 0 && seconds <= 60) ||
      (suite != "all" && suite != "receive" && suite != "send")) {
    std::fprintf(stderr, "salvo_packet_rate: --rounds 1..100, --seconds (0, 60] and --suite receive|send|all please\n");
    return 2;
  }
  if (std::thread::hardware_concurrency() < 2) {
    std::fprintf(stderr, "salvo_packet_rate: needs two CPUs (sender and receiver each get one)\n");
    return 2;
  }
  pin(sender_cpu);
  const bool uring = io_uring_available();
  std::vector<Case> cases;
  for (const Case& c : all_cases) {
    if (suite != "all" && suite != c.suite) continue;
    if (!only.empty() && std::string(c.name).find(only) == std::string::npos) continue;
    if (c.needs_io_uring && !uring) {
      std::fprintf(stderr, "skipping %s %s: io_uring is not available here\n", c.suite, c.name);
      continue;
    }
    cases.push_back(c);
  }
  std::vector<std::vector<Sample>> samples(cases.size());
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t k = 0; k < cases.size(); ++k) {
      const std::size_t i = (k + static_cast<std::size_t>(round)) % cases.size();  // rotate the order
      const Case& c = cases[i];
      samples[i].push_back(c.receive != nullptr ? run_receive(c, seconds) : run_send(c, seconds));
      const Sample& s = samples[i].back();
      std::fprintf(stderr, "round %d %-7s %-26s %8.1f ns/datagram (user %6.1f)  %10.0f datagrams/s  cpu %.2f\n",
                   round + 1, c.suite, c.name, s.cpu_ns_per_datagram, s.user_ns_per_datagram, s.datagrams_per_s,
                   s.cpu_share);
    }
  }
  struct Figures {
    double cpu = 0, user = 0, rate = 0, share = 0;
    std::uint64_t datagrams = 0;  // the smallest count of a round: 0 means some round got nothing
  };
  std::vector<Figures> f(cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    std::vector<double> c, u, r, s;
    f[i].datagrams = samples[i].empty() ? 0 : samples[i][0].datagrams;
    for (const Sample& x : samples[i]) {
      c.push_back(x.cpu_ns_per_datagram);
      u.push_back(x.user_ns_per_datagram);
      r.push_back(x.datagrams_per_s);
      s.push_back(x.cpu_share);
      f[i].datagrams = std::min(f[i].datagrams, x.datagrams);
    }
    f[i] = {median(c), median(u), median(r), median(s), f[i].datagrams};
  }
  // The baseline a case is compared with (itself for a baseline), and the cheapest baseline of its
  // suite; 0 when that baseline did not run (--only), printed as "-".
  auto baseline_of = [&](std::size_t i) {
    const char* name = cases[i].compare_to != nullptr ? cases[i].compare_to : cases[i].name;
    for (std::size_t j = 0; j < cases.size(); ++j) {
      if (std::string(cases[j].name) == name && std::string(cases[j].suite) == cases[i].suite) return f[j].cpu;
    }
    return 0.0;
  };
  // The cheapest baseline of a case's suite and datagram size.
  auto best_of = [&](std::size_t i) {
    double best = 0;
    for (std::size_t j = 0; j < cases.size(); ++j) {
      if (cases[j].compare_to == nullptr && std::string(cases[j].suite) == cases[i].suite && cases[j].size == cases[i].size &&
          f[j].cpu > 0 && (best == 0 || f[j].cpu < best)) {
        best = f[j].cpu;
      }
    }
    return best;
  };
  auto ratio = [](double value, double base) {
    char text[32] = "-";
    if (base > 0 && value > 0) std::snprintf(text, sizeof text, "%.2fx", value / base);
    return std::string(text);
  };
  std::printf("CPU per datagram on loopback (64 bytes where the case names no size), medians of %d interleaved rounds of %.1f s\nMachine: %s\n", rounds,
              seconds, machine().c_str());
  for (const char* s : {"receive", "send"}) {
    bool any = false;
    for (const Case& c : cases) any = any || std::string(c.suite) == s;
    if (!any) continue;
    const bool rx = std::string(s) == "receive";
    std::printf("\n%s: %s\n\n", s,
                rx ? "the receiver's CPU (CPU 0) under a GSO flood from CPU 1"
                   : "the sender's CPU (CPU 1; on loopback it also runs the kernel's receive path), a drain on CPU 0");
    std::printf("| %s | CPU ns/datagram | of which user | datagrams/s | CPU busy | vs its baseline | vs best baseline |\n",
                rx ? "receiver" : "sender");
    std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
    for (std::size_t i = 0; i < cases.size(); ++i) {
      if (cases[i].suite != std::string(s)) continue;
      std::string vs = ratio(f[i].cpu, baseline_of(i));
      if (cases[i].compare_to != nullptr) vs += std::string(" (") + cases[i].compare_to + ")";
      std::printf("| %s | %.1f | %.1f | %.0f | %.0f%% | %s | %s |\n", cases[i].name, f[i].cpu, f[i].user, f[i].rate,
                  f[i].share * 100, vs.c_str(), ratio(f[i].cpu, best_of(i)).c_str());
    }
  }
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << "{\"machine\":" << json_string(machine()) << ",\"rounds\":" << rounds << ",\"seconds\":" << seconds
        << ",\"cases\":[";
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const double base = baseline_of(i);
      const double best = best_of(i);
      out << (i ? "," : "") << "{\"suite\":" << json_string(cases[i].suite) << ",\"name\":" << json_string(cases[i].name)
          << ",\"size\":" << cases[i].size
          << ",\"baseline\":" << json_string(cases[i].compare_to != nullptr ? cases[i].compare_to : cases[i].name)
          << ",\"cpu_ns_per_datagram\":" << f[i].cpu << ",\"user_ns_per_datagram\":" << f[i].user
          << ",\"datagrams_per_s\":" << f[i].rate << ",\"cpu_busy\":" << f[i].share
          << ",\"min_datagrams_per_round\":" << f[i].datagrams
          << ",\"ratio_to_baseline\":" << (base > 0 ? f[i].cpu / base : 0)
          << ",\"ratio_to_best_baseline\":" << (best > 0 ? f[i].cpu / best : 0) << ",\"rounds\":[";
      for (std::size_t k = 0; k < samples[i].size(); ++k) out << (k ? "," : "") << samples[i][k].cpu_ns_per_datagram;
      out << "]}";
    }
    out << "]}\n";
  }
  return 0;
}
