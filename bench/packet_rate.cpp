// salvo_packet_rate: receiver CPU time per 64-byte datagram under a loopback flood, for salvo's
// backends and for plain baselines, measured side by side in one run.
//
// Each case's receiver runs in a child process pinned to CPU 0; a GSO sender in this process,
// pinned to CPU 1, floods it for --seconds (64 segments of 64 bytes per sendmsg: a cheap sender, so
// the receiver is the bottleneck). The child's CPU time (user + system, from wait4) divided by the
// datagrams it received is the figure; the cases run in interleaved rounds (order rotated every
// round) and the table shows medians, with ratios to the baselines of the same run.
//
// Usage: salvo_packet_rate [--rounds N] [--seconds S] [--json FILE] [--only NAME-PART]
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
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

#include "receivers.hpp"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

namespace {

using namespace salvo::bench;

std::atomic<bool> g_stop{false};
void on_stop_signal(int) { g_stop.store(true); }

struct Case {
  const char* name;
  ReceiveResult (*run)(const PortReady&, const std::atomic<bool>&);
  bool baseline;
};

ReceiveResult salvo_io_uring(const PortReady& r, const std::atomic<bool>& s) { return run_salvo("io_uring", r, s); }
ReceiveResult salvo_epoll(const PortReady& r, const std::atomic<bool>& s) { return run_salvo("epoll", r, s); }

struct Sample {
  double cpu_ns_per_datagram = 0;
  double datagrams_per_s = 0;
  double user_ns_per_datagram = 0;  // the user-space part of cpu_ns_per_datagram
  double cpu_share = 0;  // receiver CPU time / flood time: ~1.0 means the receiver was saturated
  std::uint64_t datagrams = 0;
};

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

// Floods 127.0.0.1:port with 64-byte datagrams, 64 per GSO send, until the deadline.
std::uint64_t flood(std::uint16_t port, std::chrono::duration<double> seconds) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to);
  constexpr int segment = 64;
  constexpr int segments = 64;
  const int seg = segment;
  const bool gso = ::setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof seg) == 0;
  std::vector<char> payload(gso ? segment * segments : segment, 'x');
  std::uint64_t sent = 0;
  const auto end = std::chrono::steady_clock::now() + seconds;
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 16; ++i) {
      if (::send(fd, payload.data(), payload.size(), 0) > 0) sent += gso ? segments : 1;
    }
  }
  ::close(fd);
  return sent;
}

Sample run_case(const Case& c, double seconds) {
  int port_pipe[2];
  int result_pipe[2];
  if (::pipe(port_pipe) != 0 || ::pipe(result_pipe) != 0) std::exit(1);
  const pid_t child = ::fork();
  if (child == 0) {
    pin(0);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigaction(SIGUSR1, &sa, nullptr);
    ReceiveResult r = c.run(
        [&](std::uint16_t port) { [[maybe_unused]] auto n = ::write(port_pipe[1], &port, sizeof port); }, g_stop);
    [[maybe_unused]] auto n = ::write(result_pipe[1], &r, sizeof r);
    ::_exit(0);
  }
  std::uint16_t port = 0;
  if (::read(port_pipe[0], &port, sizeof port) != sizeof port) std::exit(1);
  flood(port, std::chrono::duration<double>(seconds));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the receiver drain its queue
  ::kill(child, SIGUSR1);
  ReceiveResult r;
  if (::read(result_pipe[0], &r, sizeof r) != sizeof r) r = {};
  int status = 0;
  rusage usage{};
  ::wait4(child, &status, 0, &usage);
  for (int fd : {port_pipe[0], port_pipe[1], result_pipe[0], result_pipe[1]}) ::close(fd);
  const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                     static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  Sample s;
  s.datagrams = r.datagrams;
  s.cpu_ns_per_datagram = r.datagrams ? cpu * 1e9 / static_cast<double>(r.datagrams) : 0;
  s.datagrams_per_s = static_cast<double>(r.datagrams) / seconds;
  s.cpu_share = cpu / seconds;
  const double user = static_cast<double>(usage.ru_utime.tv_sec) + static_cast<double>(usage.ru_utime.tv_usec) / 1e6;
  s.user_ns_per_datagram = r.datagrams ? user * 1e9 / static_cast<double>(r.datagrams) : 0;
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

std::string machine() {
  utsname u{};
  uname(&u);
  std::string cpu = "unknown CPU";
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  return std::string("Linux ") + u.release + ", " + std::to_string(std::thread::hardware_concurrency()) +
         " CPUs, " + cpu;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 3;
  double seconds = 2.0;
  std::string json_path;
  std::string only;  // run only the cases whose name contains this
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: salvo_packet_rate [--rounds N] [--seconds S] [--json FILE] [--only NAME-PART]\n");
      return 2;
    }
  }
  if (rounds < 1 || rounds > 100 || !(seconds > 0 && seconds <= 60)) {
    std::fprintf(stderr, "salvo_packet_rate: --rounds 1..100 and --seconds (0, 60] please\n");
    return 2;
  }
  if (std::thread::hardware_concurrency() < 2) {
    std::fprintf(stderr, "salvo_packet_rate: needs two CPUs (sender and receiver each get one)\n");
    return 2;
  }
  pin(1);
  const std::vector<Case> cases = {
      {"recvmmsg baseline", run_recvmmsg_baseline, true},
      {"io_uring baseline", run_uring_baseline, true},
      {"salvo epoll", salvo_epoll, false},
      {"salvo io_uring", salvo_io_uring, false},
  };
  std::vector<std::vector<Sample>> samples(cases.size());
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t k = 0; k < cases.size(); ++k) {
      const std::size_t i = (k + static_cast<std::size_t>(round)) % cases.size();  // rotate the order
      if (!only.empty() && std::string(cases[i].name).find(only) == std::string::npos) continue;
      samples[i].push_back(run_case(cases[i], seconds));
      std::fprintf(stderr, "round %d %-18s %8.1f ns/datagram (user %5.1f)  %10.0f datagrams/s  cpu %.2f\n",
                   round + 1, cases[i].name, samples[i].back().cpu_ns_per_datagram,
                   samples[i].back().user_ns_per_datagram, samples[i].back().datagrams_per_s,
                   samples[i].back().cpu_share);
    }
  }
  std::vector<double> cpu(cases.size()), user(cases.size()), rate(cases.size()), share(cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    std::vector<double> c, u, r, s;
    for (const Sample& x : samples[i]) {
      c.push_back(x.cpu_ns_per_datagram);
      u.push_back(x.user_ns_per_datagram);
      r.push_back(x.datagrams_per_s);
      s.push_back(x.cpu_share);
    }
    cpu[i] = median(c);
    user[i] = median(u);
    rate[i] = median(r);
    share[i] = median(s);
  }
  // With --only, a baseline that did not run has no figure: its ratios print as "-".
  const double recvmmsg = cpu[0];
  const double best = cpu[0] == 0 ? cpu[1] : cpu[1] == 0 ? cpu[0] : std::min(cpu[0], cpu[1]);
  auto ratio = [](double value, double base) {
    char text[32] = "-";
    if (base > 0) std::snprintf(text, sizeof text, "%.2fx", value / base);
    return std::string(text);
  };
  std::printf("Receiver CPU per 64-byte datagram, loopback GSO flood, medians of %d interleaved rounds of %.1f s\n",
              rounds, seconds);
  std::printf("Machine: %s\n\n", machine().c_str());
  std::printf("| receiver | CPU ns/datagram | of which user | datagrams/s | receiver CPU busy | vs recvmmsg baseline | vs best baseline |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (samples[i].empty()) continue;
    std::printf("| %s | %.1f | %.1f | %.0f | %.0f%% | %s | %s |\n", cases[i].name, cpu[i], user[i], rate[i], share[i] * 100,
                ratio(cpu[i], recvmmsg).c_str(), ratio(cpu[i], best).c_str());
  }
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << "{\"machine\":\"" << machine() << "\",\"rounds\":" << rounds << ",\"seconds\":" << seconds << ",\"cases\":[";
    bool first = true;
    for (std::size_t i = 0; i < cases.size(); ++i) {
      if (samples[i].empty()) continue;
      out << (first ? "" : ",") << "{\"name\":\"" << cases[i].name << "\",\"baseline\":" << (cases[i].baseline ? "true" : "false")
          << ",\"cpu_ns_per_datagram\":" << cpu[i] << ",\"user_ns_per_datagram\":" << user[i] << ",\"datagrams_per_s\":" << rate[i]
          << ",\"ratio_to_recvmmsg\":" << (recvmmsg > 0 ? cpu[i] / recvmmsg : 0)
          << ",\"ratio_to_best_baseline\":" << (best > 0 ? cpu[i] / best : 0) << "}";
      first = false;
    }
    out << "]}\n";
  }
  return 0;
}
