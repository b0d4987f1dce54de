// Baseline senders: sendto, sendmmsg and GSO sendmsg loops. Each is written the way a careful
// hand-written program would be, so that salvo's figures have something honest to be compared
// with. A full socket send buffer (ENOBUFS/EAGAIN) is retried: the loops are blocking.
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "senders.hpp"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

namespace salvo::bench {
namespace {

constexpr unsigned batch = 64;

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return to;
}

}  // namespace

SendOutcome run_sendto_baseline(std::uint16_t port, unsigned size, const std::atomic<bool>& stop) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  const sockaddr_in to = loopback(port);
  std::vector<char> payload(size, 'x');
  SendOutcome r;
  while (!stop.load(std::memory_order_relaxed)) {
    for (unsigned i = 0; i < batch; ++i) {  // look at `stop` once per 64, as the others do
      if (::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) > 0) ++r.datagrams;
    }
  }
  ::close(fd);
  return r;
}

SendOutcome run_sendmmsg_baseline(std::uint16_t port, unsigned size, const std::atomic<bool>& stop) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to = loopback(port);
  std::vector<char> payloads(std::size_t{batch} * size, 'x');
  std::vector<iovec> iov(batch);
  std::vector<mmsghdr> msgs(batch);
  for (unsigned i = 0; i < batch; ++i) {
    iov[i] = {&payloads[std::size_t{i} * size], size};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &to;
    msgs[i].msg_hdr.msg_namelen = sizeof to;
  }
  SendOutcome r;
  while (!stop.load(std::memory_order_relaxed)) {
    const int n = ::sendmmsg(fd, msgs.data(), batch, 0);
    if (n > 0) r.datagrams += static_cast<unsigned>(n);
  }
  ::close(fd);
  return r;
}

SendOutcome run_gso_baseline(std::uint16_t port, unsigned size, const std::atomic<bool>& stop) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to = loopback(port);
  const unsigned segments = gso_segments_for(size);
  std::vector<char> payload(std::size_t{segments} * size, 'x');
  iovec iov{payload.data(), payload.size()};
  alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(std::uint16_t))] = {};
  msghdr m{};
  m.msg_name = &to;
  m.msg_namelen = sizeof to;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
  const auto segment = static_cast<std::uint16_t>(size);
  std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
  SendOutcome r;
  while (!stop.load(std::memory_order_relaxed)) {
    if (::sendmsg(fd, &m, 0) > 0) r.datagrams += segments;
  }
  ::close(fd);
  return r;
}

}  // namespace salvo::bench
