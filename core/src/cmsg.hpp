// Control-message decoding for received datagrams: the one place that reads cmsg bytes, shared by
// both backends (epoll hands it msghdr control data, io_uring the control area of a recvmsg_out).
// The bytes come from the kernel but are parsed defensively: a malformed or truncated area yields
// what was valid before the damage and never reads out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>

namespace salvo::detail {

// Room reserved per datagram for control messages.
inline constexpr std::size_t control_space = 128;

struct ControlInfo {
  bool has_kernel_drops = false;
  std::uint32_t kernel_drops = 0;  // SO_RXQ_OVFL: the socket's cumulative drop count
};

ControlInfo parse_control(const void* control, std::size_t length) noexcept;

}  // namespace salvo::detail
