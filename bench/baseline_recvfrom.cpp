// Baseline receiver: blocking recvfrom, one datagram per call, what most programs do. SO_RCVTIMEO
// lets it notice `stop` when traffic ends.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "receivers.hpp"

namespace salvo::bench {

ReceiveResult run_recvfrom_baseline(const PortReady& ready, const std::atomic<bool>& stop) {
  std::uint16_t port = 0;
  const int fd = bind_loopback_udp(port);
  timeval tv{0, 50'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ready(port);
  char buffer[2048];
  ReceiveResult r;
  while (!stop.load(std::memory_order_relaxed)) {
    sockaddr_in6 peer{};
    socklen_t length = sizeof peer;
    const ssize_t n = ::recvfrom(fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&peer), &length);
    if (n < 0) continue;
    ++r.datagrams;
    r.bytes += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  return r;
}

}  // namespace salvo::bench
