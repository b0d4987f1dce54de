// Control-message decoding for received datagrams: the one place that reads cmsg bytes, shared by
// both backends (epoll hands it msghdr control data, io_uring the control area of a recvmsg_out).
// The bytes come from the kernel but are parsed defensively: a malformed or truncated area yields
// what was valid before the damage and never reads out of bounds.
#pragma once

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>

#include "salvo/datagram.hpp"
#include "salvo/engine.hpp"

namespace salvo::detail {

// Room reserved per datagram for the control messages `options` turn on; 0 when none is (the
// receive path then passes no control area at all).
std::size_t receive_control_space(const EngineOptions& options) noexcept;
// The most any combination needs (every message salvo asks for, IPv6 sizes).
inline constexpr std::size_t max_control_space = 256;

struct ControlInfo {
  std::uint16_t gro_segment_size = 0;  // UDP_GRO: the coalesced datagrams' size; 0 = one datagram

  // IP_PKTINFO / IPV6_PKTINFO: the header's destination address. An IPv4 destination is stored
  // as it arrived (is_v4 without IPV6_PKTINFO, v4-mapped with it).
  bool has_destination = false;
  bool destination_v6 = false;
  in6_addr destination{};  // for IPv4: the address in the first four bytes
  std::uint32_t interface_index = 0;

  std::int16_t traffic_class = -1;  // IP_TOS / IPV6_TCLASS; -1 when absent

  std::int64_t software_ns = 0;  // SO_TIMESTAMPNS, or SO_TIMESTAMPING's software stamp
  std::int64_t hardware_ns = 0;  // SO_TIMESTAMPING's raw hardware stamp
};

ControlInfo parse_control(const void* control, std::size_t length) noexcept;

// Copies what `info` holds into the datagram's metadata fields. `local_port` is the receiving
// socket's port (the destination's port, which pktinfo does not carry); `socket_v6` its family.
void apply_control(const ControlInfo& info, std::uint16_t local_port, bool socket_v6, Datagram& d) noexcept;

}  // namespace salvo::detail
