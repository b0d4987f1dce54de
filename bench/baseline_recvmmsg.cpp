// Baseline receiver: blocking recvmmsg, 64 datagrams per call, 2 KiB buffers. SO_RCVTIMEO lets it
// notice `stop` when traffic ends.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "receivers.hpp"

namespace salvo::bench {

int bind_loopback_udp(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

ReceiveResult run_recvmmsg_baseline(const PortReady& ready, const std::atomic<bool>& stop) {
  constexpr unsigned batch = 64;
  constexpr unsigned size = 2048;
  std::uint16_t port = 0;
  const int fd = bind_loopback_udp(port);
  timeval tv{0, 50'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  std::vector<char> buffers(std::size_t{batch} * size);
  std::vector<mmsghdr> msgs(batch);
  std::vector<iovec> iov(batch);
  std::vector<sockaddr_in6> names(batch);
  ready(port);

  ReceiveResult r;
  while (!stop.load(std::memory_order_relaxed)) {
    for (unsigned i = 0; i < batch; ++i) {
      iov[i] = {&buffers[std::size_t{i} * size], size};
      msgs[i].msg_hdr = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &names[i];
      msgs[i].msg_hdr.msg_namelen = sizeof names[i];
    }
    const int n = ::recvmmsg(fd, msgs.data(), batch, MSG_WAITFORONE, nullptr);
    if (n <= 0) continue;
    r.datagrams += static_cast<unsigned>(n);
    for (int i = 0; i < n; ++i) r.bytes += msgs[i].msg_len;
  }
  ::close(fd);
  return r;
}

}  // namespace salvo::bench
