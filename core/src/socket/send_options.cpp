// SendOptions: per-datagram source address, interface and traffic class (see transport.hpp), and
// their translation into the SendMeta the backends turn into control messages.
#include "socket/send_options.hpp"

#include <netinet/in.h>

#include <cstring>

#include "salvo/transport.hpp"

namespace salvo {
namespace {

bool is_multicast_or_broadcast(const Address& a) noexcept {
  const Address u = a.unmapped();
  if (u.is_v4()) {
    const auto* in = static_cast<const sockaddr_in*>(u.sockaddr_data());
    const std::uint32_t ip = ntohl(in->sin_addr.s_addr);
    // Multicast (224/4) and the limited broadcast; a subnet's directed broadcast is not known
    // here, and the kernel refuses it as a source.
    return (ip >> 28) == 0xe || ip == 0xffffffffu;
  }
  if (u.is_v6()) {
    const auto* in6 = static_cast<const sockaddr_in6*>(u.sockaddr_data());
    return IN6_IS_ADDR_MULTICAST(&in6->sin6_addr);
  }
  return false;
}

}  // namespace

SendOptions SendOptions::reply_to(const Datagram& request) noexcept {
  SendOptions how;
  how.interface_index = request.interface_index;
  if (request.destination.family() != Address::Family::none && !is_multicast_or_broadcast(request.destination)) {
    how.source = request.destination;
  }
  return how;
}

namespace detail {

bool make_send_meta(const SendOptions& how, bool ipv6_socket, const Address& dest, SendMeta& meta) noexcept {
  meta = {};
  meta.traffic_class = how.traffic_class < 0 ? -1 : static_cast<std::int16_t>(how.traffic_class & 0xff);
  meta.interface_index = how.interface_index;
  const Address& src = how.source;
  if (src.family() == Address::Family::none || src.is_unspecified()) return true;
  const bool dest_over_ipv4 = dest.is_v4() || dest.is_v4_mapped();
  const bool src_ipv4 = src.is_v4() || src.is_v4_mapped();
  if (src_ipv4 != dest_over_ipv4) return false;
  if (ipv6_socket) {
    const Address mapped = src.is_v4() ? src.v4_mapped() : src;
    const auto* in6 = static_cast<const sockaddr_in6*>(mapped.sockaddr_data());
    meta.source = in6->sin6_addr;
    meta.source_family = SendMeta::Source::v6;
    // A link-local source names its interface through its scope, unless one was given.
    if (meta.interface_index == 0) meta.interface_index = in6->sin6_scope_id;
  } else {
    const Address plain = src.unmapped();
    const auto* in = static_cast<const sockaddr_in*>(plain.sockaddr_data());
    std::memcpy(&meta.source, &in->sin_addr, sizeof in->sin_addr);
    meta.source_family = SendMeta::Source::v4;
  }
  return true;
}

SendOptions send_options_of(const SendMeta& meta, bool ipv6_socket) noexcept {
  SendOptions how;
  how.traffic_class = meta.traffic_class;
  how.interface_index = meta.interface_index;
  if (meta.source_family == SendMeta::Source::v6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = meta.source;
    how.source = Address::from_sockaddr(&sa, sizeof sa);
  } else if (meta.source_family == SendMeta::Source::v4) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    std::memcpy(&sa.sin_addr, &meta.source, sizeof sa.sin_addr);
    how.source = Address::from_sockaddr(&sa, sizeof sa);
  }
  (void)ipv6_socket;
  return how;
}

}  // namespace detail
}  // namespace salvo
