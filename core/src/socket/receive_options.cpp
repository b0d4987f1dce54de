#include "socket/receive_options.hpp"

#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace salvo::detail {
namespace {

Result<void> set_flag(int fd, int level, int name, const char* what) {
  const int one = 1;
  if (::setsockopt(fd, level, name, &one, sizeof one) != 0) return Error::from_errno(errno, std::string(what) + " on");
  return {};
}

}  // namespace

Result<void> enable_receive_metadata(int fd, bool ipv6, const EngineOptions& o) {
  if (o.gro) {
    if (auto r = set_flag(fd, SOL_UDP, UDP_GRO, "UDP_GRO"); !r) return r;
  }
  if (o.receive_destination) {
    // A dual-stack socket reports IPv4 datagrams through IPV6_PKTINFO too (v4-mapped).
    auto r = ipv6 ? set_flag(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, "IPV6_RECVPKTINFO")
                  : set_flag(fd, IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO");
    if (!r) return r;
  }
  if (o.receive_traffic_class) {
    // IPv4 datagrams on a dual-stack socket carry their TOS only with the IPv4 option.
    if (auto r = set_flag(fd, IPPROTO_IP, IP_RECVTOS, "IP_RECVTOS"); !r) return r;
    if (ipv6) {
      if (auto r = set_flag(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, "IPV6_RECVTCLASS"); !r) return r;
    }
  }
  if (o.timestamps == EngineOptions::Timestamps::software) {
    if (auto r = set_flag(fd, SOL_SOCKET, SO_TIMESTAMPNS, "SO_TIMESTAMPNS"); !r) return r;
  } else if (o.timestamps == EngineOptions::Timestamps::hardware) {
    // Report both stamps: software always, raw hardware where the device makes one.
    const int flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_RX_HARDWARE |
                      SOF_TIMESTAMPING_RAW_HARDWARE;
    if (::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags) != 0) {
      return Error::from_errno(errno, "SO_TIMESTAMPING on");
    }
  }
  return {};
}

}  // namespace salvo::detail
