// Transport's socket options: broadcast and multicast (Twisted's setBroadcastAllowed, joinGroup,
// leaveGroup, setTTL, setLoopbackMode, setOutgoingInterface), for IPv4 and IPv6 sockets. Group
// membership uses the protocol-independent MCAST_* options, so one code path serves both families
// and source-specific joins. Also the socket's path MTU and its descriptor. Called from hooks on
// the worker thread; each is one setsockopt or getsockopt.
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "salvo/transport.hpp"
#include "socket/socket_state.hpp"

namespace salvo {
namespace {

Result<void> check_open(const detail::SocketState& s) {
  if (s.closed) return Error::make(Errc::invalid_state, "the socket is closed");
  if (s.fd < 0 && s.worker == nullptr) {
    return Error::make(Errc::invalid_state,
                       "no socket: this FakeTransport has none (set FakeTransportOptions::real_socket for "
                       "socket options)");
  }
  if (s.fd < 0) return Error::make(Errc::invalid_state, "the socket is closed");
  return {};
}

Result<unsigned> resolve(const NetworkInterface& where) {
  if (where.name.empty()) return where.index;
  const unsigned index = ::if_nametoindex(where.name.c_str());
  if (index == 0) return Error::make(Errc::bad_address, "no network interface named '" + where.name + "'");
  return index;
}

// The group in the socket's family (IPv4 groups are mapped on IPv6 sockets), checked to be multicast.
Result<Address> group_for(const detail::SocketState& s, const Address& group) {
  Address g = group;
  if (g.is_v4_mapped()) g = g.unmapped();
  bool multicast = false;
  if (g.is_v4()) {
    std::uint32_t a;
    std::memcpy(&a, &static_cast<const sockaddr_in*>(g.sockaddr_data())->sin_addr, sizeof a);
    multicast = IN_MULTICAST(ntohl(a));
  } else if (g.is_v6()) {
    multicast = IN6_IS_ADDR_MULTICAST(&static_cast<const sockaddr_in6*>(g.sockaddr_data())->sin6_addr);
  }
  if (!multicast) return Error::make(Errc::bad_address, group.to_string() + " is not a multicast group address");
  if (g.is_v6() && !s.ipv6) return Error::make(Errc::bad_address, "an IPv4 socket cannot join " + group.to_string());
  return g;
}

// An IPv4 group on an IPv6 (dual-stack) socket is joined at the IPv4 level: that is where the
// kernel keeps IPv4 memberships.
int membership_level(const Address& group) { return group.is_v4() ? IPPROTO_IP : IPPROTO_IPV6; }

Result<void> membership(detail::SocketState& s, int option, const Address& group_in, unsigned index,
                        const char* what) {
  if (auto r = check_open(s); !r) return r;
  auto group = group_for(s, group_in);
  if (!group) return group.error();
  group_req req{};
  req.gr_interface = index;
  std::memcpy(&req.gr_group, group->sockaddr_data(), group->sockaddr_size());
  if (::setsockopt(s.fd, membership_level(*group), option, &req, sizeof req) != 0) {
    return Error::from_errno(errno, std::string(what) + " " + group->to_string());
  }
  return {};
}

Result<void> source_membership(detail::SocketState& s, int option, const Address& group_in, const Address& source_in,
                               const NetworkInterface& where, const char* what) {
  if (auto r = check_open(s); !r) return r;
  auto group = group_for(s, group_in);
  if (!group) return group.error();
  Address source = source_in.is_v4_mapped() ? source_in.unmapped() : source_in;
  if (source.family() != group->family()) {
    return Error::make(Errc::bad_address, "source " + source_in.to_string() + " and group " + group_in.to_string() +
                                              " are of different address families");
  }
  auto index = resolve(where);
  if (!index) return index.error();
  group_source_req req{};
  req.gsr_interface = *index;
  std::memcpy(&req.gsr_group, group->sockaddr_data(), group->sockaddr_size());
  std::memcpy(&req.gsr_source, source.sockaddr_data(), source.sockaddr_size());
  if (::setsockopt(s.fd, membership_level(*group), option, &req, sizeof req) != 0) {
    return Error::from_errno(errno, std::string(what) + " " + group->to_string() + " from " + source.to_string());
  }
  return {};
}

Result<void> set_int(const detail::SocketState& s, int level, int option, int value, const char* what) {
  if (auto r = check_open(s); !r) return r;
  if (::setsockopt(s.fd, level, option, &value, sizeof value) != 0) return Error::from_errno(errno, what);
  return {};
}

Result<int> get_int(const detail::SocketState& s, int level, int option, const char* what) {
  if (auto r = check_open(s); !r) return r.error();
  int value = 0;
  socklen_t length = sizeof value;
  if (::getsockopt(s.fd, level, option, &value, &length) != 0) return Error::from_errno(errno, what);
  // IP_MULTICAST_TTL and IP_MULTICAST_LOOP may answer with one byte.
  if (length == 1) value = static_cast<unsigned char>(value & 0xff);
  return value;
}

}  // namespace

Result<void> Transport::set_broadcast_allowed(bool allowed) noexcept {
  return set_int(*state_, SOL_SOCKET, SO_BROADCAST, allowed ? 1 : 0, "SO_BROADCAST");
}

Result<bool> Transport::broadcast_allowed() const noexcept {
  auto v = get_int(*state_, SOL_SOCKET, SO_BROADCAST, "SO_BROADCAST");
  if (!v) return v.error();
  return *v != 0;
}

Result<void> Transport::join_group(const Address& group, const Interface& where) noexcept {
  auto index = resolve(where);
  if (!index) return index.error();
  return membership(*state_, MCAST_JOIN_GROUP, group, *index, "join multicast group");
}

Result<void> Transport::join_group(const Address& group, EveryInterface) noexcept {
  struct if_nameindex* all = ::if_nameindex();
  if (all == nullptr) return Error::from_errno(errno, "list network interfaces");
  unsigned joined = 0;
  Result<void> last = Error::make(Errc::bad_address, "no multicast-capable interface is up");
  for (struct if_nameindex* i = all; i->if_index != 0; ++i) {
    auto r = membership(*state_, MCAST_JOIN_GROUP, group, i->if_index, "join multicast group");
    if (r) {
      ++joined;
    } else if (r.error().code != std::error_code(EADDRNOTAVAIL, std::system_category()) &&
               r.error().code != std::error_code(ENODEV, std::system_category())) {
      last = r;  // a real failure (bad group, closed socket), not an interface without multicast
      if (r.error().code == make_error_code(Errc::bad_address) || r.error().code == make_error_code(Errc::invalid_state)) break;
    }
  }
  ::if_freenameindex(all);
  if (joined == 0) return last;
  return {};
}

Result<void> Transport::leave_group(const Address& group, const Interface& where) noexcept {
  auto index = resolve(where);
  if (!index) return index.error();
  return membership(*state_, MCAST_LEAVE_GROUP, group, *index, "leave multicast group");
}

Result<void> Transport::join_source_group(const Address& group, const Address& source, const Interface& where) noexcept {
  return source_membership(*state_, MCAST_JOIN_SOURCE_GROUP, group, source, where, "join multicast group");
}

Result<void> Transport::leave_source_group(const Address& group, const Address& source, const Interface& where) noexcept {
  return source_membership(*state_, MCAST_LEAVE_SOURCE_GROUP, group, source, where, "leave multicast group");
}

Result<void> Transport::set_multicast_ttl(int ttl) noexcept {
  if (ttl < 1 || ttl > 255) return Error::make(Errc::bad_option, "multicast TTL must be between 1 and 255");
  const detail::SocketState& s = *state_;
  if (s.ipv6) {
    // A dual-stack socket sends IPv4 multicast too: set both.
    if (auto r = set_int(s, IPPROTO_IP, IP_MULTICAST_TTL, ttl, "IP_MULTICAST_TTL"); !r) return r;
    return set_int(s, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, ttl, "IPV6_MULTICAST_HOPS");
  }
  return set_int(s, IPPROTO_IP, IP_MULTICAST_TTL, ttl, "IP_MULTICAST_TTL");
}

Result<int> Transport::multicast_ttl() const noexcept {
  const detail::SocketState& s = *state_;
  return s.ipv6 ? get_int(s, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, "IPV6_MULTICAST_HOPS")
                : get_int(s, IPPROTO_IP, IP_MULTICAST_TTL, "IP_MULTICAST_TTL");
}

Result<void> Transport::set_multicast_loopback(bool enabled) noexcept {
  const detail::SocketState& s = *state_;
  if (s.ipv6) {
    if (auto r = set_int(s, IPPROTO_IP, IP_MULTICAST_LOOP, enabled ? 1 : 0, "IP_MULTICAST_LOOP"); !r) return r;
    return set_int(s, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, enabled ? 1 : 0, "IPV6_MULTICAST_LOOP");
  }
  return set_int(s, IPPROTO_IP, IP_MULTICAST_LOOP, enabled ? 1 : 0, "IP_MULTICAST_LOOP");
}

Result<bool> Transport::multicast_loopback() const noexcept {
  const detail::SocketState& s = *state_;
  auto v = s.ipv6 ? get_int(s, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, "IPV6_MULTICAST_LOOP")
                  : get_int(s, IPPROTO_IP, IP_MULTICAST_LOOP, "IP_MULTICAST_LOOP");
  if (!v) return v.error();
  return *v != 0;
}

Result<void> Transport::set_multicast_interface(const Interface& where) noexcept {
  auto index = resolve(where);
  if (!index) return index.error();
  const detail::SocketState& s = *state_;
  if (auto r = check_open(s); !r) return r;
  ip_mreqn req{};
  req.imr_ifindex = static_cast<int>(*index);
  if (s.ipv6) {
    // A dual-stack socket sends IPv4 multicast too, and the kernel takes that interface from
    // IP_MULTICAST_IF, not IPV6_MULTICAST_IF: set both (as set_multicast_ttl does).
    if (::setsockopt(s.fd, IPPROTO_IP, IP_MULTICAST_IF, &req, sizeof req) != 0) {
      return Error::from_errno(errno, "IP_MULTICAST_IF");
    }
    const int i = static_cast<int>(*index);
    if (::setsockopt(s.fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &i, sizeof i) != 0) {
      return Error::from_errno(errno, "IPV6_MULTICAST_IF");
    }
    return {};
  }
  if (::setsockopt(s.fd, IPPROTO_IP, IP_MULTICAST_IF, &req, sizeof req) != 0) {
    return Error::from_errno(errno, "IP_MULTICAST_IF");
  }
  return {};
}

Result<unsigned> Transport::path_mtu() const noexcept {
  const detail::SocketState& s = *state_;
  if (auto r = check_open(s); !r) return r.error();
  // A FakeTransport records its peer without connecting its socket: no path to ask about.
  if (s.peer.family() == Address::Family::none || s.worker == nullptr) {
    return Error::make(Errc::invalid_state, "path_mtu() needs a connected socket");
  }
  auto v = s.ipv6 ? get_int(s, IPPROTO_IPV6, IPV6_MTU, "IPV6_MTU") : get_int(s, IPPROTO_IP, IP_MTU, "IP_MTU");
  if (!v) return v.error();
  return static_cast<unsigned>(*v);
}

int Transport::native_handle() const noexcept { return state_->closed ? -1 : state_->fd; }

}  // namespace salvo
