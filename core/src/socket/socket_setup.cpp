// SocketOptions on a new socket: one setsockopt per option asked for, all before bind. Some must
// precede it (IPV6_V6ONLY, IP_FREEBIND and SO_BINDTODEVICE decide what bind accepts, SO_REUSE*
// whether the port may be shared); the others could follow, but one place keeps the order plain.
#include "socket/socket_setup.hpp"

#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

namespace salvo::detail {
namespace {

using PathMtuDiscovery = SocketOptions::PathMtuDiscovery;

// "SO_MARK 7 on 127.0.0.1:9000", the start of every message here.
std::string naming(const char* option, const std::string& value, const Address& address) {
  return std::string(option) + " " + value + " on " + address.to_string();
}

Error bad(const char* option, const std::string& value, const Address& address, const char* why) {
  return Error::make(Errc::bad_option, naming(option, value, address) + ": " + why);
}

Result<void> set_int(int fd, int level, int option, int value, const char* name, const std::string& shown,
                     const Address& address) {
  if (::setsockopt(fd, level, option, &value, sizeof value) != 0) {
    return Error::from_errno(errno, naming(name, shown, address));
  }
  return {};
}

Result<void> set_flag(int fd, int level, int option, bool value, const char* name, const Address& address) {
  return set_int(fd, level, option, value ? 1 : 0, name, value ? "1" : "0", address);
}

// The IP_PMTUDISC_* / IPV6_PMTUDISC_* values are the same numbers; the names say which level.
struct MtuMode {
  int value;
  const char* v4_name;
  const char* v6_name;
};

MtuMode mtu_mode(PathMtuDiscovery mode) {
  switch (mode) {
    case PathMtuDiscovery::dont_fragment: return {IP_PMTUDISC_DO, "IP_PMTUDISC_DO", "IPV6_PMTUDISC_DO"};
    case PathMtuDiscovery::probe: return {IP_PMTUDISC_PROBE, "IP_PMTUDISC_PROBE", "IPV6_PMTUDISC_PROBE"};
    case PathMtuDiscovery::allow_fragments: return {IP_PMTUDISC_DONT, "IP_PMTUDISC_DONT", "IPV6_PMTUDISC_DONT"};
    case PathMtuDiscovery::kernel_default: break;
  }
  return {-1, "", ""};
}

}  // namespace

Result<void> check_socket_options(const Address& address, const SocketOptions& o) {
  if (o.receive_buffer < 0) return bad("SO_RCVBUF", std::to_string(o.receive_buffer), address, "cannot be negative");
  if (o.send_buffer < 0) return bad("SO_SNDBUF", std::to_string(o.send_buffer), address, "cannot be negative");
  if (o.path_mtu_discovery > PathMtuDiscovery::allow_fragments) {
    return bad(address.is_v6() ? "IPV6_MTU_DISCOVER" : "IP_MTU_DISCOVER",
               std::to_string(static_cast<int>(o.path_mtu_discovery)), address, "unknown path MTU discovery mode");
  }
  if (o.ipv6_only && !address.is_v6()) {
    return bad("IPV6_V6ONLY", *o.ipv6_only ? "1" : "0", address, "only for IPv6 addresses");
  }
  if (o.traffic_class < -1 || o.traffic_class > 255) {
    return bad(address.is_v6() ? "IPV6_TCLASS" : "IP_TOS", std::to_string(o.traffic_class), address,
               "a traffic class is 0..255 (-1: the kernel's)");
  }
  // The kernel copies at most IFNAMSIZ - 1 bytes of the name: a longer one would name another
  // device, or none, without an error.
  if (o.bind_to_device.size() >= IFNAMSIZ) {
    return bad("SO_BINDTODEVICE", o.bind_to_device, address, "an interface name has at most 15 characters");
  }
  return {};
}

Result<void> apply_socket_options(int fd, const Address& address, const SocketOptions& o) {
  const bool v6 = address.is_v6();
  if (o.ipv6_only) {
    if (auto r = set_flag(fd, IPPROTO_IPV6, IPV6_V6ONLY, *o.ipv6_only, "IPV6_V6ONLY", address); !r) return r;
  }
  if (o.freebind) {
    // IPV6_FREEBIND arrived in Linux 4.15; before it IP_FREEBIND set the same flag for IPv6 too.
    const int one = 1;
    const bool done = v6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one) == 0;
    if (v6 && !done && errno != ENOPROTOOPT) return Error::from_errno(errno, naming("IPV6_FREEBIND", "1", address));
    if (!done) {
      if (auto r = set_flag(fd, IPPROTO_IP, IP_FREEBIND, true, "IP_FREEBIND", address); !r) return r;
    }
  }
  if (!o.bind_to_device.empty() &&
      ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o.bind_to_device.c_str(),
                   static_cast<socklen_t>(o.bind_to_device.size())) != 0) {
    return Error::from_errno(errno, naming("SO_BINDTODEVICE", o.bind_to_device, address));
  }
  if (o.reuse_address) {
    if (auto r = set_flag(fd, SOL_SOCKET, SO_REUSEADDR, true, "SO_REUSEADDR", address); !r) return r;
  }
  if (o.reuse_port) {
    if (auto r = set_flag(fd, SOL_SOCKET, SO_REUSEPORT, true, "SO_REUSEPORT", address); !r) return r;
  }
  if (o.mark != 0) {
    if (::setsockopt(fd, SOL_SOCKET, SO_MARK, &o.mark, sizeof o.mark) != 0) {
      return Error::from_errno(errno, naming("SO_MARK", std::to_string(o.mark), address));
    }
  }
  if (o.receive_buffer > 0) {
    const std::string shown = std::to_string(o.receive_buffer);
    if (auto r = set_int(fd, SOL_SOCKET, SO_RCVBUF, o.receive_buffer, "SO_RCVBUF", shown, address); !r) return r;
  }
  if (o.send_buffer > 0) {
    const std::string shown = std::to_string(o.send_buffer);
    if (auto r = set_int(fd, SOL_SOCKET, SO_SNDBUF, o.send_buffer, "SO_SNDBUF", shown, address); !r) return r;
  }
  // An IPv6 socket sends to v4-mapped peers through the IPv4 level, which keeps its own path MTU
  // discovery mode and TOS: set both levels there (harmless on an IPv6-only socket).
  if (o.path_mtu_discovery != PathMtuDiscovery::kernel_default) {
    const MtuMode m = mtu_mode(o.path_mtu_discovery);
    if (auto r = set_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, m.value, "IP_MTU_DISCOVER", m.v4_name, address); !r) return r;
    if (v6) {
      if (auto r = set_int(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, m.value, "IPV6_MTU_DISCOVER", m.v6_name, address); !r) {
        return r;
      }
    }
  }
  if (o.traffic_class >= 0) {
    const std::string shown = std::to_string(o.traffic_class);
    if (auto r = set_int(fd, IPPROTO_IP, IP_TOS, o.traffic_class, "IP_TOS", shown, address); !r) return r;
    if (v6) {
      if (auto r = set_int(fd, IPPROTO_IPV6, IPV6_TCLASS, o.traffic_class, "IPV6_TCLASS", shown, address); !r) return r;
    }
  }
  return {};
}

}  // namespace salvo::detail
