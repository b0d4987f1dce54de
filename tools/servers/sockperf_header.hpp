// sockperf's message header, as sockperf (github.com/Mellanox/sockperf, src/message.h) puts it
// at the start of every message. 14 bytes, network byte order, no padding on the wire:
//
//   offset  size  field
//        0     8  sequence number
//        8     2  flags: 1 = sent by a client, 2 = pong request (answer this one),
//                 4 = warm-up message (not measured, not answered)
//       10     4  length: the whole message, header included
//
// A sockperf server answers a client message that has the pong-request flag with the same bytes,
// the client flag cleared; it answers nothing else. Over UDP one datagram is one message.
//
// parse_sockperf_header is pure (span in, optional out) so that it can be fuzzed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace salvo::cli {

inline constexpr std::size_t sockperf_header_size = 14;

struct SockperfHeader {
  static constexpr std::uint16_t client = 1;
  static constexpr std::uint16_t pong_request = 2;
  static constexpr std::uint16_t warmup = 4;

  std::uint64_t sequence = 0;
  std::uint16_t flags = 0;
  std::uint32_t length = 0;

  bool is_client() const noexcept { return (flags & client) != 0; }
  bool wants_pong() const noexcept { return (flags & pong_request) != 0; }
  bool is_warmup() const noexcept { return (flags & warmup) != 0; }
  friend bool operator==(const SockperfHeader&, const SockperfHeader&) = default;
};

// The header of a datagram that is exactly one sockperf message: at least 14 bytes, and the
// header's length equal to the datagram's size. nullopt otherwise.
std::optional<SockperfHeader> parse_sockperf_header(std::span<const std::byte> datagram) noexcept;

// Writes a header in wire order into the first 14 bytes of `out`. false, and nothing written, when
// `out` is shorter than that.
bool write_sockperf_header(std::span<std::byte> out, const SockperfHeader& header) noexcept;

// Turns a copy of a client message into the server's reply, in place: clears the client flag.
// `message` must be at least 14 bytes.
void make_sockperf_reply(std::span<std::byte> message) noexcept;

}  // namespace salvo::cli
