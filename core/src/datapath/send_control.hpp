// The destination and control messages of one outgoing message, shared by both backends: no
// destination for the connected peer, UDP_SEGMENT for a GSO run (gso.hpp), IP_PKTINFO /
// IPV6_PKTINFO for a chosen source address or interface, and IP_TOS / IPV6_TCLASS for a chosen
// traffic class (SendMeta). Per message, never socket-wide, so that every other datagram of the
// socket goes out as the socket's defaults say.
#pragma once

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>

#include "datapath/send_queue.hpp"
#include "salvo/address.hpp"

namespace salvo::detail {

// Room for every control message one message can carry, aligned as the CMSG macros need.
struct SendControl {
  alignas(cmsghdr) unsigned char bytes[CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(int)) +
                                       CMSG_SPACE(sizeof(std::uint16_t))];
};

namespace send_control_detail {

inline cmsghdr* put(unsigned char* at, int level, int type, const void* data, std::size_t length, std::size_t cmsg_length) noexcept {
  auto* c = reinterpret_cast<cmsghdr*>(at);
  c->cmsg_level = level;
  c->cmsg_type = type;
  c->cmsg_len = cmsg_length;
  std::memcpy(CMSG_DATA(c), data, length);
  return c;
}

}  // namespace send_control_detail

// Whether a socket's `peer` is set: its sockaddr has a family at all (an unconnected socket's peer
// is all zeroes). Two bytes looked at, cheaper than family(); omit_connected_destination checks
// the rest.
inline bool has_peer(const Address& peer) noexcept {
  sa_family_t family;
  std::memcpy(&family, peer.sockaddr_data(), sizeof family);
  return family != AF_UNSPEC;
}

// Drops the destination of a message `m` bound for the socket's `connected_peer`: a message
// without one takes the route the kernel cached at connect(), where one with a destination costs a
// route lookup per message. Called only for connected sockets, after the messages are built, so
// that an unconnected socket's flush pays nothing for it.
inline void omit_connected_destination(msghdr& m, const Address& connected_peer) noexcept {
  if (m.msg_namelen == connected_peer.sockaddr_size() &&
      std::memcmp(m.msg_name, connected_peer.sockaddr_data(), m.msg_namelen) == 0) {
    m.msg_name = nullptr;
    m.msg_namelen = 0;
  }
}

// Points `m` at the control messages for a message whose first entry is `e`, written into `c`:
// `gso_segment` != 0 adds UDP_SEGMENT (`malformed_gso`: the test seam's length the kernel rejects,
// see gso_test_error). With nothing to say, the message gets no control area at all.
// `ipv6_socket`: the socket is AF_INET6 (`e.to` is then v6 or v4-mapped).
inline void attach_send_control(msghdr& m, SendControl& c, const SendQueue::Entry& e, bool ipv6_socket,
                                std::uint32_t gso_segment, bool malformed_gso) noexcept {
  using send_control_detail::put;
  const SendMeta& meta = e.meta;
  if (gso_segment == 0 && meta.empty()) {
    m.msg_control = nullptr;
    m.msg_controllen = 0;
    return;
  }
  std::memset(c.bytes, 0, sizeof c.bytes);
  unsigned char* at = c.bytes;
  if (gso_segment != 0) {
    const auto size = static_cast<std::uint16_t>(gso_segment);
    put(at, SOL_UDP, UDP_SEGMENT, &size, sizeof size,
        malformed_gso ? CMSG_LEN(sizeof(std::uint32_t)) : CMSG_LEN(sizeof(std::uint16_t)));
    at += CMSG_SPACE(sizeof(std::uint16_t));
  }
  if (meta.source_family != SendMeta::Source::none || meta.interface_index != 0) {
    if (ipv6_socket) {
      // For a v4-mapped destination the kernel takes a v4-mapped source here too.
      in6_pktinfo pi{};
      pi.ipi6_addr = meta.source;
      pi.ipi6_ifindex = meta.interface_index;
      put(at, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof pi, CMSG_LEN(sizeof pi));
      at += CMSG_SPACE(sizeof pi);
    } else {
      in_pktinfo pi{};
      std::memcpy(&pi.ipi_spec_dst, &meta.source, sizeof pi.ipi_spec_dst);  // zero: the kernel's choice
      pi.ipi_ifindex = static_cast<int>(meta.interface_index);
      put(at, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi, CMSG_LEN(sizeof pi));
      at += CMSG_SPACE(sizeof pi);
    }
  }
  if (meta.traffic_class >= 0) {
    const int value = meta.traffic_class;
    // IPv4 datagrams take IP_TOS, from a dual-stack socket as well; IPv6 ones IPV6_TCLASS.
    const bool over_ipv4 = !ipv6_socket || e.to.is_v4_mapped();
    put(at, over_ipv4 ? IPPROTO_IP : IPPROTO_IPV6, over_ipv4 ? IP_TOS : IPV6_TCLASS, &value, sizeof value,
        CMSG_LEN(sizeof value));
    at += CMSG_SPACE(sizeof value);
  }
  m.msg_control = c.bytes;
  m.msg_controllen = static_cast<std::size_t>(at - c.bytes);
}

}  // namespace salvo::detail
