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
//   ring       the meminfo step's whole life as io_uring requests, none a system call of its own:
//              IORING_OP_SOCKET into a registered-file slot (no descriptor), the option and
//              SO_MEMINFO as socket commands (IORING_OP_URING_CMD, Linux 6.7), IORING_OP_CONNECT,
//              and the slot's close, linked, for --batch sockets per io_uring_enter: what is left
//              of a socket's life once an engine has batched away every entry into the kernel
// Steps alternate in --rounds rounds; the median per step is printed, and the CPU is pinned first.
// Without io_uring (or without socket commands) the ring step is skipped with the reason.
//
// Usage: salvo_socket_lifecycle_floor [--count 200000] [--rounds 5] [--cpu 0] [--batch 32]
#if SALVO_BENCH_HAVE_URING
#include <liburing.h>
#endif
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

enum class Step { null, socket, recverr, connect, meminfo, ring };
constexpr std::array<Step, 6> steps{Step::null, Step::socket, Step::recverr, Step::connect, Step::meminfo, Step::ring};

const char* name(Step s) {
  switch (s) {
    case Step::null: return "null";
    case Step::socket: return "socket";
    case Step::recverr: return "recverr";
    case Step::connect: return "connect";
    case Step::meminfo: return "meminfo";
    case Step::ring: return "ring";
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

#if SALVO_BENCH_HAVE_URING
// The ring step: sockets live in registered-file slots 0..batch-1, each life five linked requests.
class RingLives {
 public:
  // Empty when the ring and its requests work here, else why not.
  std::string setup(unsigned batch, const sockaddr_in& peer) {
    batch_ = batch;
    peer_ = peer;
    if (const int r = io_uring_queue_init(std::max(8u, batch * 8), &ring_, 0); r < 0) {
      return std::string("io_uring_queue_init: ") + std::strerror(-r);
    }
    ready_ = true;
    if (const int r = io_uring_register_files_sparse(&ring_, batch); r < 0) {
      return std::string("io_uring_register_files_sparse: ") + std::strerror(-r);
    }
    meminfo_.resize(batch);
    if (!live(batch)) return "a life's requests failed: " + why_;
    return {};
  }
  ~RingLives() {
    if (ready_) io_uring_queue_exit(&ring_);
  }

  // `count` lives, `batch_` per io_uring_enter; false (why()) when a request failed.
  bool live(long count) {
    for (long done = 0; done < count;) {
      const unsigned n = static_cast<unsigned>(std::min<long>(batch_, count - done));
      for (unsigned slot = 0; slot < n; ++slot) queue_life(slot);
      const unsigned completions = n * 5;
      if (const int r = io_uring_submit_and_wait(&ring_, completions); r < 0) {
        why_ = std::string("io_uring_submit_and_wait: ") + std::strerror(-r);
        return false;
      }
      unsigned seen = 0;
      while (seen < completions) {
        io_uring_cqe* cqe = nullptr;
        if (const int r = io_uring_wait_cqe(&ring_, &cqe); r < 0) {
          why_ = std::string("io_uring_wait_cqe: ") + std::strerror(-r);
          return false;
        }
        const bool meminfo = io_uring_cqe_get_data64(cqe) == 3;
        // The socket command for SO_MEMINFO answers the option's length; every other request 0.
        if (cqe->res < 0 || (!meminfo && cqe->res != 0)) {
          why_ = "request " + std::to_string(io_uring_cqe_get_data64(cqe)) + ": " + std::strerror(-cqe->res);
          io_uring_cqe_seen(&ring_, cqe);
          return false;
        }
        io_uring_cqe_seen(&ring_, cqe);
        ++seen;
      }
      done += n;
    }
    return true;
  }
  const std::string& why() const noexcept { return why_; }

 private:
  static constexpr std::uint32_t getsockopt_command = 2;  // SOCKET_URING_OP_GETSOCKOPT
  static constexpr std::uint32_t setsockopt_command = 3;  // SOCKET_URING_OP_SETSOCKOPT

  // A socket command on slot `slot` by the kernel's layout of the SQE (liburing 2.3 has no helper):
  // level and name in addr, the option's length in file_index's place, its value at addr3.
  static void prep_option(io_uring_sqe* sqe, std::uint32_t command, unsigned slot, int level, int name, void* value,
                          std::uint32_t length) {
    std::memset(static_cast<void*>(sqe), 0, sizeof *sqe);
    sqe->opcode = IORING_OP_URING_CMD;
    sqe->fd = static_cast<int>(slot);
    sqe->flags = IOSQE_FIXED_FILE;
    sqe->cmd_op = command;
    const std::uint32_t level_and_name[2] = {static_cast<std::uint32_t>(level), static_cast<std::uint32_t>(name)};
    std::memcpy(&sqe->addr, level_and_name, sizeof level_and_name);
    sqe->file_index = length;
    sqe->addr3 = reinterpret_cast<std::uintptr_t>(value);
  }

  // The SQ has room for 8 requests per socket of a batch, and a life takes 5.
  io_uring_sqe* next_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) std::abort();
    return sqe;
  }

  void queue_life(unsigned slot) {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_socket_direct(sqe, AF_INET, SOCK_DGRAM, 0, slot, 0);  // no CLOEXEC: there is no descriptor
    finish(sqe, 0, true);
    sqe = next_sqe();
    prep_option(sqe, setsockopt_command, slot, IPPROTO_IP, IP_RECVERR, const_cast<int*>(&one_), sizeof one_);
    finish(sqe, 1, true);
    sqe = next_sqe();
    io_uring_prep_connect(sqe, static_cast<int>(slot), reinterpret_cast<const sockaddr*>(&peer_), sizeof peer_);
    sqe->flags |= IOSQE_FIXED_FILE;
    finish(sqe, 2, true);
    sqe = next_sqe();
    meminfo_[slot].length = sizeof meminfo_[slot].info;
    prep_option(sqe, getsockopt_command, slot, SOL_SOCKET, SO_MEMINFO, meminfo_[slot].info.data(),
                sizeof meminfo_[slot].info);
    finish(sqe, 3, true);
    sqe = next_sqe();
    io_uring_prep_close_direct(sqe, slot);
    finish(sqe, 4, false);
  }

  static void finish(io_uring_sqe* sqe, std::uint64_t step, bool linked) {
    io_uring_sqe_set_data64(sqe, step);
    if (linked) sqe->flags |= IOSQE_IO_LINK;
  }

  struct Meminfo {
    std::array<std::uint32_t, SK_MEMINFO_VARS> info{};
    std::uint32_t length = 0;
  };

  io_uring ring_{};
  bool ready_ = false;
  unsigned batch_ = 32;
  sockaddr_in peer_{};
  static constexpr int one_ = 1;
  std::vector<Meminfo> meminfo_;
  std::string why_;
};
#else
class RingLives {
 public:
  std::string setup(unsigned, const sockaddr_in&) { return "this build has no io_uring"; }
  bool live(long) { return false; }
  const std::string& why() const noexcept { return why_; }

 private:
  std::string why_;
};
#endif

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

  const long batch = std::clamp(option(argc, argv, "--batch", 32), 1L, 512L);
  RingLives ring;
  const std::string no_ring = ring.setup(static_cast<unsigned>(batch), peer);
  if (!no_ring.empty()) std::printf("the ring step is skipped: %s\n", no_ring.c_str());

  std::array<std::vector<double>, steps.size()> per_socket;
  for (long round = 0; round < rounds; ++round) {
    for (std::size_t k = 0; k < steps.size(); ++k) {
      const Step step = steps[(k + static_cast<std::size_t>(round)) % steps.size()];
      if (step == Step::ring && !no_ring.empty()) continue;
      const double start = cpu_us();
      if (step == Step::ring) {
        if (!ring.live(count)) {
          std::fprintf(stderr, "salvo_socket_lifecycle_floor: step ring failed: %s\n", ring.why().c_str());
          return 1;
        }
      } else {
        for (long i = 0; i < count; ++i) {
          if (!live_once(step, peer)) {
            std::fprintf(stderr, "salvo_socket_lifecycle_floor: step %s failed: %s\n", name(step), std::strerror(errno));
            return 1;
          }
        }
      }
      per_socket[static_cast<std::size_t>(step)].push_back((cpu_us() - start) / static_cast<double>(count));
    }
  }
  std::printf("CPU per socket (us), median of %ld rounds of %ld, CPU %ld, ring batch %ld:\n", rounds, count, cpu, batch);
  for (Step step : steps) {
    std::vector<double>& v = per_socket[static_cast<std::size_t>(step)];
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    std::printf("  %-8s %6.2f  (lowest %.2f, highest %.2f)\n", name(step), v[v.size() / 2], v.front(), v.back());
  }
  return 0;
}
