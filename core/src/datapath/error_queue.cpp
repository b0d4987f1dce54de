#include "datapath/error_queue.hpp"

#include <linux/errqueue.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

namespace salvo::detail {

std::optional<IcmpReport> parse_error_message(const void* name, std::size_t name_length, const void* control,
                                              std::size_t control_length) noexcept {
  if (control == nullptr || control_length < sizeof(cmsghdr)) return std::nullopt;
  // Walk the control area by hand with bounds checks (the CMSG macros trust cmsg_len).
  const auto* base = static_cast<const unsigned char*>(control);
  std::size_t offset = 0;
  while (offset + sizeof(cmsghdr) <= control_length) {
    cmsghdr header;
    std::memcpy(&header, base + offset, sizeof header);
    if (header.cmsg_len < sizeof(cmsghdr) || header.cmsg_len > control_length - offset) return std::nullopt;
    const bool is_error = (header.cmsg_level == IPPROTO_IP && header.cmsg_type == IP_RECVERR) ||
                          (header.cmsg_level == IPPROTO_IPV6 && header.cmsg_type == IPV6_RECVERR);
    const std::size_t data_length = header.cmsg_len - CMSG_LEN(0);
    if (is_error && data_length >= sizeof(sock_extended_err)) {
      sock_extended_err ee;
      std::memcpy(&ee, base + offset + CMSG_LEN(0), sizeof ee);
      IcmpReport r;
      r.error = static_cast<int>(ee.ee_errno);
      r.peer = Address::from_sockaddr(name, name_length);
      if (ee.ee_origin == SO_EE_ORIGIN_ICMP || ee.ee_origin == SO_EE_ORIGIN_ICMP6) {
        r.origin = IcmpReport::Origin::network;
      } else if (ee.ee_origin == SO_EE_ORIGIN_LOCAL) {
        r.origin = IcmpReport::Origin::local;
      }
      if (ee.ee_errno == ECONNREFUSED) {
        r.kind = IcmpReport::Kind::refused;
      } else if (ee.ee_errno == EMSGSIZE) {
        r.kind = IcmpReport::Kind::path_mtu;
        r.mtu = ee.ee_info;
      } else if (ee.ee_errno == EHOSTUNREACH || ee.ee_errno == ENETUNREACH || ee.ee_errno == EHOSTDOWN ||
                 ee.ee_errno == ENETDOWN || ee.ee_errno == EACCES || ee.ee_errno == EPROTO) {
        r.kind = IcmpReport::Kind::unreachable;
      }
      return r;
    }
    offset += CMSG_ALIGN(header.cmsg_len);
  }
  return std::nullopt;
}

}  // namespace salvo::detail
