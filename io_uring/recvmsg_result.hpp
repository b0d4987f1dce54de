// Decoding one multishot recvmsg completion's buffer: the io_uring_recvmsg_out header the kernel
// writes at the start of the provided buffer, then the source address (in the room the template
// gave it), the control messages, and the payload.
//
// Pure and bounds-checked (buffer and length in, views out) so that it can be fuzzed: the header's
// lengths are the kernel's, but nothing here reads past `length` whatever they say.
#pragma once

#include <liburing.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace salvo::detail {

struct RecvmsgResult {
  const void* name = nullptr;      // the source address, `name_length` bytes (cut to the room given)
  std::uint32_t name_length = 0;
  const void* control = nullptr;   // control messages, `control_length` bytes
  std::uint32_t control_length = 0;
  std::span<const std::byte> payload;  // the bytes received (all of the datagram unless truncated)
  bool truncated = false;          // MSG_TRUNC: the datagram was larger than the room left for it
  bool control_truncated = false;  // MSG_CTRUNC: control messages did not fit
};

// `buffer` holds `length` bytes (the completion's res); `name_room` and `control_room` are the
// template msghdr's msg_namelen and msg_controllen. Empty when the buffer is shorter than the
// header and the room the template reserves (which the kernel always writes in full).
inline std::optional<RecvmsgResult> parse_recvmsg_result(const void* buffer, std::size_t length, std::uint32_t name_room,
                                                         std::uint32_t control_room) noexcept {
  const std::size_t header = sizeof(io_uring_recvmsg_out);
  if (buffer == nullptr || length < header || length - header < std::size_t{name_room} + control_room) return std::nullopt;
  io_uring_recvmsg_out out;
  std::memcpy(&out, buffer, header);
  const auto* base = static_cast<const std::byte*>(buffer);
  RecvmsgResult r;
  r.name = base + header;
  r.name_length = out.namelen < name_room ? out.namelen : name_room;
  r.control = base + header + name_room;
  r.control_length = out.controllen < control_room ? out.controllen : control_room;
  const std::size_t payload_at = header + std::size_t{name_room} + control_room;
  // payloadlen is the datagram's real length (larger than what fit when truncated).
  const std::size_t fit = length - payload_at;
  r.payload = {base + payload_at, out.payloadlen < fit ? out.payloadlen : fit};
  r.truncated = (out.flags & MSG_TRUNC) != 0 || out.payloadlen > fit;
  r.control_truncated = (out.flags & MSG_CTRUNC) != 0;
  return r;
}

}  // namespace salvo::detail
