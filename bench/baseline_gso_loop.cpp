// The hand-written GSO sender that bench/gso_sizes.py puts beside `salvo blast`: one connected UDP
// socket, a 4 MiB send buffer, and sendmsg of one 64 KiB buffer cut by UDP_SEGMENT into as many
// datagrams of SIZE as fit (54 of 1200 B), for SECONDS. Prints "sent N cpu S" (user + system).
//   salvo_baseline_gso_loop PORT SIZE SECONDS     (to 127.0.0.1:PORT)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s PORT SIZE SECONDS\n", argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const std::size_t size = std::strtoul(argv[2], nullptr, 10);
  const double seconds = std::atof(argv[3]);
  if (size == 0 || size > 65000) return 2;
  const std::size_t segments = std::min<std::size_t>(64, 64800 / size);
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  const int sndbuf = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    std::perror("connect");
    return 1;
  }
  static std::array<char, 65536> buffer;
  buffer.fill(7);
  iovec iov{buffer.data(), segments * size};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(std::uint16_t))> control{};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control.data();
  m.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
  const auto segment = static_cast<std::uint16_t>(size);
  std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  unsigned long long sent = 0;
  while (std::chrono::steady_clock::now() < end) {
    for (int k = 0; k < 64; ++k) {
      if (::sendmsg(fd, &m, 0) > 0) sent += segments;
    }
  }
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  std::printf("sent %llu cpu %.6f\n", sent, cpu);
  ::close(fd);
  return 0;
}
