// Baseline receiver with UDP_GRO: blocking recvmmsg of up to 16 coalesced payloads per call into
// 64 KiB buffers, each cut by the UDP_GRO control message's segment size, as a careful QUIC
// server's receive loop does. Datagrams are counted one per segment, as the other receivers count.
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "receivers.hpp"

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace salvo::bench {

ReceiveResult run_recvmmsg_gro_baseline(const PortReady& ready, const std::atomic<bool>& stop) {
  constexpr unsigned batch = gro_baseline_batch;
  constexpr unsigned size = 65535;
  constexpr std::size_t control_size = CMSG_SPACE(sizeof(int));
  std::uint16_t port = 0;
  const int fd = bind_loopback_udp(port);
  timeval tv{0, 50'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const int on = 1;
  ::setsockopt(fd, IPPROTO_UDP, UDP_GRO, &on, sizeof on);

  std::vector<char> buffers(std::size_t{batch} * size);
  std::vector<mmsghdr> msgs(batch);
  std::vector<iovec> iov(batch);
  std::vector<sockaddr_in6> names(batch);
  std::vector<char> controls(batch * control_size);
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
      msgs[i].msg_hdr.msg_control = &controls[i * control_size];
      msgs[i].msg_hdr.msg_controllen = control_size;
    }
    const int n = ::recvmmsg(fd, msgs.data(), batch, MSG_WAITFORONE, nullptr);
    if (n <= 0) continue;
    for (int i = 0; i < n; ++i) {
      const unsigned length = msgs[i].msg_len;
      unsigned segment = 0;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c != nullptr; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
        if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) {
          int value = 0;
          std::memcpy(&value, CMSG_DATA(c), sizeof value);
          segment = static_cast<unsigned>(value);
        }
      }
      r.datagrams += segment != 0 && length > segment ? (length + segment - 1) / segment : 1;
      r.bytes += length;
    }
  }
  ::close(fd);
  return r;
}

}  // namespace salvo::bench
