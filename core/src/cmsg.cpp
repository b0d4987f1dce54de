#include "cmsg.hpp"

#include <sys/socket.h>

#include <cstdint>
#include <cstring>

namespace salvo::detail {

ControlInfo parse_control(const void* control, std::size_t length) noexcept {
  ControlInfo info;
  if (control == nullptr || length < sizeof(cmsghdr)) return info;
  // The CMSG macros read cmsghdr fields in place, which needs alignof(cmsghdr). salvo's backends
  // hand aligned areas; anything else is copied to an aligned buffer first (and cut to its size).
  alignas(cmsghdr) unsigned char aligned[4 * control_space];
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
    const std::size_t offset = reinterpret_cast<const unsigned char*>(c) -
                               static_cast<const unsigned char*>(control);
    if (offset + c->cmsg_len > length) break;
    const std::size_t data_length = c->cmsg_len - CMSG_LEN(0);
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL &&
        data_length >= sizeof(std::uint32_t)) {
      std::memcpy(&info.kernel_drops, CMSG_DATA(c), sizeof(std::uint32_t));
      info.has_kernel_drops = true;
    }
  }
  return info;
}

}  // namespace salvo::detail
