// salvo_socket_lifecycle_floor: what a UDP socket's life costs the kernel on this machine, without
// salvo and without a datagram. The DNS forwarder (examples/dns) must open a fresh socket on a
// random port for every query and close it when answered (RFC 5452), so these steps are a floor
// under its CPU per query that no engine can go below, however it batches.
//
// Each step adds one call to the one before, in a loop of --count sockets on one CPU, and reports
// the process's CPU time (user + system, getrusage) per socket:
//   null       getppid(): one system call that does nothing, the price of entering the kernel
//   socket     socket() and close()
//   recverr    + setsockopt(IP_RECVERR)   (salvo asks every socket for ICMP reports)
//   connect    + connect() to 127.0.0.1    (the kernel picks the port)
//   meminfo    + getsockopt(SO_MEMINFO)   (what a closing socket still holds, for the books)
// Steps alternate in --rounds rounds; the median per step is printed, and the CPU is pinned first.
//
// Usage: salvo_socket_lifecycle_floor [--count 200000] [--rounds 5] [--cpu 0]
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

enum class Step { null, socket, recverr, connect, meminfo };
constexpr std::array<Step, 5> steps{Step::null, Step::socket, Step::recverr, Step::connect, Step::meminfo};

const char* name(Step s) {
  switch (s) {
    case Step::null: return "null";
    case Step::socket: return "socket";
    case Step::recverr: return "recverr";
    case Step::connect: return "connect";
    case Step::meminfo: return "meminfo";
  }
  return "?";
}

double cpu_us() {
  rusage r{};
  ::getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

// One socket's life up to `step`; false (with errno) when a call the step needs fails.
bool live_once(Step step, const sockaddr_in& peer) {
  if (step == Step::null) {
    ::syscall(SYS_getppid);
    return true;
  }
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = true;
  const int one = 1;
  if (step >= Step::recverr) ok = ok && ::setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one) == 0;
  if (step >= Step::connect) ok = ok && ::connect(fd, reinterpret_cast<const sockaddr*>(&peer), sizeof peer) == 0;
  if (step >= Step::meminfo) {
    std::array<std::uint32_t, SK_MEMINFO_VARS> info{};
    socklen_t length = sizeof info;
    ok = ok && ::getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info.data(), &length) == 0;
  }
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return ok;
}

long option(int argc, char** argv, const char* flag, long fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], flag) == 0) {
      char* end = nullptr;
      const long v = std::strtol(argv[i + 1], &end, 10);
      if (end == argv[i + 1] || *end != '\0' || v < 0) {
        std::fprintf(stderr, "salvo_socket_lifecycle_floor: %s wants a whole number, not '%s'\n", flag, argv[i + 1]);
        std::exit(2);
      }
      return v;
    }
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const long count = std::max(1L, option(argc, argv, "--count", 200000));
  const long rounds = std::max(1L, option(argc, argv, "--rounds", 5));
  const long cpu = option(argc, argv, "--cpu", 0);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<int>(cpu), &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) {
    std::fprintf(stderr, "salvo_socket_lifecycle_floor: cannot pin to CPU %ld: %s\n", cpu, std::strerror(errno));
    return 2;
  }
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(53);  // connect sends nothing: no traffic leaves, nothing needs to listen
  peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  std::array<std::vector<double>, steps.size()> per_socket;
  for (long round = 0; round < rounds; ++round) {
    for (std::size_t k = 0; k < steps.size(); ++k) {
      const Step step = steps[(k + static_cast<std::size_t>(round)) % steps.size()];
      const double start = cpu_us();
      for (long i = 0; i < count; ++i) {
        if (!live_once(step, peer)) {
          std::fprintf(stderr, "salvo_socket_lifecycle_floor: step %s failed: %s\n", name(step), std::strerror(errno));
          return 1;
        }
      }
      per_socket[static_cast<std::size_t>(step)].push_back((cpu_us() - start) / static_cast<double>(count));
    }
  }
  std::printf("CPU per socket (us), median of %ld rounds of %ld, CPU %ld:\n", rounds, count, cpu);
  for (Step step : steps) {
    std::vector<double>& v = per_socket[static_cast<std::size_t>(step)];
    std::sort(v.begin(), v.end());
    std::printf("  %-8s %6.2f  (lowest %.2f, highest %.2f)\n", name(step), v[v.size() / 2], v.front(), v.back());
  }
  return 0;
}
