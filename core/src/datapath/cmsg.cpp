#include "datapath/cmsg.hpp"

#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <ctime>

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace salvo::detail {

std::size_t receive_control_space(const EngineOptions& o) noexcept {
  std::size_t space = 0;
  if (o.gro) space += CMSG_SPACE(sizeof(int));
  if (o.receive_destination) space += CMSG_SPACE(sizeof(in6_pktinfo));
  // A dual-stack socket may see either family's TOS message; either is one int.
  if (o.receive_traffic_class) space += CMSG_SPACE(sizeof(int));
  if (o.timestamps == EngineOptions::Timestamps::software) space += CMSG_SPACE(sizeof(timespec));
  if (o.timestamps == EngineOptions::Timestamps::hardware) space += CMSG_SPACE(sizeof(scm_timestamping));
  // Round up to keep the payload that follows (io_uring) aligned; headroom for a surprise message
  // (the kernel sets MSG_CTRUNC rather than overrun, but nothing should be cut that was asked for).
  if (space != 0) space = (space + 32 + 15) & ~std::size_t{15};
  return space;
}

namespace {

// A time no kernel writes (beyond int64 nanoseconds) is no timestamp: 0, not undefined behaviour.
std::int64_t to_ns(const timespec& ts) noexcept {
  std::int64_t ns = 0;
  if (__builtin_mul_overflow(static_cast<std::int64_t>(ts.tv_sec), std::int64_t{1'000'000'000}, &ns) ||
      __builtin_add_overflow(ns, static_cast<std::int64_t>(ts.tv_nsec), &ns)) {
    return 0;
  }
  return ns;
}

template <class T>
bool read_data(const cmsghdr* c, std::size_t data_length, T& out) noexcept {
  if (data_length < sizeof(T)) return false;
  std::memcpy(&out, CMSG_DATA(c), sizeof(T));
  return true;
}

// IP_TOS arrives as one byte, IPV6_TCLASS as an int.
std::int16_t read_class(const cmsghdr* c, std::size_t data_length) noexcept {
  if (data_length >= sizeof(int)) {
    int v = 0;
    std::memcpy(&v, CMSG_DATA(c), sizeof v);
    return static_cast<std::int16_t>(v & 0xff);
  }
  if (data_length >= 1) return static_cast<std::int16_t>(*CMSG_DATA(c));
  return -1;
}

}  // namespace

ControlInfo parse_control(const void* control, std::size_t length) noexcept {
  ControlInfo info;
  if (control == nullptr || length < sizeof(cmsghdr)) return info;
  // The CMSG macros read cmsghdr fields in place, which needs alignof(cmsghdr). salvo's backends
  // hand aligned areas; anything else is copied to an aligned buffer first (and cut to its size).
  alignas(cmsghdr) unsigned char aligned[2 * max_control_space];
  if (reinterpret_cast<std::uintptr_t>(control) % alignof(cmsghdr) != 0) {
    if (length > sizeof aligned) length = sizeof aligned;
    std::memcpy(aligned, control, length);
    control = aligned;
  }
  // CMSG_NXTHDR checks every header against msg_controllen, so a lying cmsg_len cannot walk us
  // past the end; we additionally check each payload length before reading it.
  msghdr msg{};
  msg.msg_control = const_cast<void*>(control);
  msg.msg_controllen = length;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_len < CMSG_LEN(0)) break;
    const std::size_t offset = reinterpret_cast<const unsigned char*>(c) - static_cast<const unsigned char*>(control);
    // Not offset + cmsg_len > length: a cmsg_len near 2^64 would wrap that sum.
    // CMSG_FIRSTHDR / CMSG_NXTHDR guarantee that the header itself lies within `length`.
    if (c->cmsg_len > length - offset) break;
    const std::size_t data_length = c->cmsg_len - CMSG_LEN(0);
    if (c->cmsg_level == SOL_SOCKET) {
      if (c->cmsg_type == SO_TIMESTAMPNS) {
        timespec ts{};
        if (read_data(c, data_length, ts)) info.software_ns = to_ns(ts);
      } else if (c->cmsg_type == SO_TIMESTAMPING) {
        scm_timestamping stamps{};
        if (read_data(c, data_length, stamps)) {
          info.software_ns = to_ns(stamps.ts[0]);
          info.hardware_ns = to_ns(stamps.ts[2]);
        }
      }
    } else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      int size = 0;
      if (read_data(c, data_length, size) && size > 0 && size <= 0xffff) info.gro_segment_size = static_cast<std::uint16_t>(size);
    } else if (c->cmsg_level == IPPROTO_IP) {
      if (c->cmsg_type == IP_PKTINFO) {
        in_pktinfo pi{};
        if (read_data(c, data_length, pi)) {
          info.has_destination = true;
          info.destination_v6 = false;
          info.destination = {};
          std::memcpy(&info.destination, &pi.ipi_addr, sizeof pi.ipi_addr);
          info.interface_index = static_cast<std::uint32_t>(pi.ipi_ifindex);
        }
      } else if (c->cmsg_type == IP_TOS) {
        info.traffic_class = read_class(c, data_length);
      }
    } else if (c->cmsg_level == IPPROTO_IPV6) {
      if (c->cmsg_type == IPV6_PKTINFO) {
        in6_pktinfo pi{};
        if (read_data(c, data_length, pi)) {
          info.has_destination = true;
          info.destination_v6 = true;
          info.destination = pi.ipi6_addr;
          info.interface_index = pi.ipi6_ifindex;
        }
      } else if (c->cmsg_type == IPV6_TCLASS) {
        info.traffic_class = read_class(c, data_length);
      }
    }
  }
  return info;
}

void apply_control(const ControlInfo& info, std::uint16_t local_port, bool socket_v6, Datagram& d) noexcept {
  d.segment_size = info.gro_segment_size;
  d.traffic_class = info.traffic_class;
  d.timestamp_ns = info.software_ns;
  d.hardware_timestamp_ns = info.hardware_ns;
  d.interface_index = info.interface_index;
  if (!info.has_destination) {
    d.destination = Address();
    return;
  }
  if (info.destination_v6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(local_port);
    sa.sin6_addr = info.destination;
    // A link-local destination is only meaningful with its interface.
    if (IN6_IS_ADDR_LINKLOCAL(&info.destination) || IN6_IS_ADDR_MC_LINKLOCAL(&info.destination)) {
      sa.sin6_scope_id = info.interface_index;
    }
    d.destination = Address::from_sockaddr(&sa, sizeof sa);
  } else {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(local_port);
    std::memcpy(&sa.sin_addr, &info.destination, sizeof sa.sin_addr);
    d.destination = Address::from_sockaddr(&sa, sizeof sa);
    // A dual-stack socket names every address as IPv6: keep to its family.
    if (socket_v6) d.destination = d.destination.v4_mapped();
  }
}

}  // namespace salvo::detail
