// The hand-written GSO sender that bench/gso_sizes.py puts beside `salvo blast`: one connected UDP
// socket, a 4 MiB send buffer, and sendmsg of one 64 KiB buffer cut by UDP_SEGMENT into as many
// datagrams of SIZE as fit (54 of 1200 B), for SECONDS. Prints "sent N cpu S" (user + system).
//
// Each option changes one thing, so that gso_sizes.py --candidates can measure what each of the
// ways a library's sends differ from this loop costs the kernel:
//   --iovecs        one iovec per datagram instead of one for the whole message
//   --ring BYTES    stream the payloads through a buffer of BYTES (as a send queue does) instead of
//                   sending the same 64 KiB again
//   --hugepages     that buffer advised with MADV_HUGEPAGE (2 MiB aligned)
//   --unconnected   an unconnected socket, the destination in every message
//   --sndbuf BYTES  SO_SNDBUF (0: the kernel's default) instead of 4 MiB
//   --sendmmsg N    N messages per sendmmsg call instead of one sendmsg each
//   --uring N       io_uring SENDMSG, N messages per submission (waiting for their completions)
//
//   salvo_baseline_gso_loop PORT SIZE SECONDS [options]     (to 127.0.0.1:PORT)
#include <arpa/inet.h>
#if SALVO_BENCH_HAVE_LIBURING
#include <liburing.h>
#endif
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

namespace {

struct Options {
  bool iovecs = false;
  std::size_t ring = 0;  // 0: one 64 KiB buffer, sent again and again
  bool hugepages = false;
  bool unconnected = false;
  int sndbuf = 4 << 20;
  unsigned sendmmsg = 0;  // 0: sendmsg
  unsigned uring = 0;     // 0: no io_uring
};

bool parse(int argc, char** argv, Options& o) {
  for (int i = 4; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--iovecs") {
      o.iovecs = true;
    } else if (a == "--hugepages") {
      o.hugepages = true;
    } else if (a == "--unconnected") {
      o.unconnected = true;
    } else if (a == "--ring" && has_value) {
      o.ring = std::strtoul(argv[++i], nullptr, 10);
    } else if (a == "--sndbuf" && has_value) {
      o.sndbuf = std::atoi(argv[++i]);
    } else if (a == "--sendmmsg" && has_value) {
      o.sendmmsg = static_cast<unsigned>(std::atoi(argv[++i]));
    } else if (a == "--uring" && has_value) {
      o.uring = static_cast<unsigned>(std::atoi(argv[++i]));
    } else {
      return false;
    }
  }
  return o.sendmmsg <= 64 && o.uring <= 64 && o.sndbuf >= 0 && !(o.sendmmsg && o.uring);
}

// The payload memory: 64 KiB, or a ring of o.ring bytes (2 MiB aligned, maybe on huge pages).
char* payload_memory(const Options& o, std::size_t bytes) {
  const std::size_t huge = 2u << 20;
  void* p = ::mmap(nullptr, bytes + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  char* aligned = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(p) + huge - 1) & ~(huge - 1));
  ::madvise(aligned, bytes, o.hugepages ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  std::memset(aligned, 7, bytes);
  return aligned;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (argc < 4 || !parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: %s PORT SIZE SECONDS [--iovecs] [--ring BYTES] [--hugepages] [--unconnected] [--sndbuf BYTES] "
                 "[--sendmmsg N | --uring N]\n",
                 argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const std::size_t size = std::strtoul(argv[2], nullptr, 10);
  const double seconds = std::atof(argv[3]);
  if (size == 0 || size > 65000) return 2;
  const std::size_t segments = std::min<std::size_t>(64, 65507 / size);
  const std::size_t message_bytes = segments * size;
  const std::size_t memory_bytes = std::max(o.ring, message_bytes);
  const std::size_t messages_in_memory = memory_bytes / message_bytes;
  char* memory = payload_memory(o, memory_bytes);
  if (memory == nullptr) return 1;

  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (o.sndbuf != 0) ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o.sndbuf, sizeof o.sndbuf);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!o.unconnected && ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    std::perror("connect");
    return 1;
  }

  // One message per slot of a batch (sendmmsg and io_uring send several at once), each with its
  // own iovecs and UDP_SEGMENT control message.
  const unsigned batch = std::max({1u, o.sendmmsg, o.uring});
  const std::size_t iov_per_message = o.iovecs ? segments : 1;
  constexpr std::size_t control_size = CMSG_SPACE(sizeof(std::uint16_t));
  std::vector<iovec> iov(batch * iov_per_message);
  std::vector<mmsghdr> msgs(batch);
  alignas(cmsghdr) static char controls[64][control_size];
  const auto segment = static_cast<std::uint16_t>(size);
  for (unsigned b = 0; b < batch; ++b) {
    msghdr& m = msgs[b].msg_hdr;
    m.msg_name = o.unconnected ? &to : nullptr;
    m.msg_namelen = o.unconnected ? sizeof to : 0;
    m.msg_iov = &iov[b * iov_per_message];
    m.msg_iovlen = iov_per_message;
    m.msg_control = controls[b];
    m.msg_controllen = control_size;
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
    std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
  }
  std::size_t next_message = 0;  // where in the memory the next message's payload starts
  auto point_at_next_payload = [&](unsigned b) {
    char* p = memory + (next_message % messages_in_memory) * message_bytes;
    ++next_message;
    iovec* v = msgs[b].msg_hdr.msg_iov;
    if (o.iovecs) {
      for (std::size_t s = 0; s < segments; ++s) v[s] = {p + s * size, size};
    } else {
      v[0] = {p, message_bytes};
    }
  };

#if SALVO_BENCH_HAVE_LIBURING
  io_uring ring{};
  if (o.uring != 0 && io_uring_queue_init(64, &ring, 0) != 0) {
    std::fprintf(stderr, "io_uring_queue_init failed\n");
    return 1;
  }
#else
  if (o.uring != 0) {
    std::fprintf(stderr, "--uring: built without liburing\n");
    return 2;
  }
#endif

  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  unsigned long long sent = 0;
  while (std::chrono::steady_clock::now() < end) {
    for (int k = 0; k < 16; ++k) {
      for (unsigned b = 0; b < batch; ++b) point_at_next_payload(b);
#if SALVO_BENCH_HAVE_LIBURING
      if (o.uring != 0) {
        for (unsigned b = 0; b < batch; ++b) io_uring_prep_sendmsg(io_uring_get_sqe(&ring), fd, &msgs[b].msg_hdr, 0);
        io_uring_submit_and_wait(&ring, batch);
        io_uring_cqe* cqe = nullptr;
        for (unsigned b = 0; b < batch; ++b) {
          if (io_uring_wait_cqe(&ring, &cqe) != 0) break;
          if (cqe->res > 0) sent += segments;
          io_uring_cqe_seen(&ring, cqe);
        }
        continue;
      }
#endif
      if (o.sendmmsg != 0) {
        const int n = ::sendmmsg(fd, msgs.data(), batch, 0);
        if (n > 0) sent += static_cast<unsigned long long>(n) * segments;
      } else if (::sendmsg(fd, &msgs[0].msg_hdr, 0) > 0) {
        sent += segments;
      }
    }
  }
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  std::printf("sent %llu cpu %.6f\n", sent, cpu);
#if SALVO_BENCH_HAVE_LIBURING
  if (o.uring != 0) io_uring_queue_exit(&ring);
#endif
  ::close(fd);
  return 0;
}
