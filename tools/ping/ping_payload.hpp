// The payload `salvo ping` sends, and which an echo server returns unchanged.
//
// Layout (32-byte header, integers little-endian; the rest of the datagram, up to --size, is a
// fixed filler pattern that nobody checks):
//
//   offset  size  field
//        0     4  magic "SLVP" (0x53 0x4C 0x56 0x50)
//        4     1  version (1)
//        5     3  reserved, zero
//        8     8  run token: random per run, so that replies to another run (or another
//                 program's datagrams) are recognised as not ours
//       16     8  sequence number, 0, 1, 2, ... in send order
//       24     8  intended send time: CLOCK_MONOTONIC nanoseconds of the slot in the schedule
//                 (not when the datagram actually left: latency is measured from the schedule)
//
// parse_ping_header is pure (span in, optional out) so that it can be fuzzed; it checks only what
// the bytes alone can say (length, magic, version). Whether a reply belongs to this run (token,
// size, a sequence number that was sent, a time that matches the schedule) is the caller's check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace salvo::cli {

inline constexpr std::size_t ping_header_size = 32;
inline constexpr std::uint8_t ping_version = 1;

struct PingHeader {
  std::uint64_t token = 0;
  std::uint64_t sequence = 0;
  std::uint64_t intended_ns = 0;
  friend bool operator==(const PingHeader&, const PingHeader&) = default;
};

// Writes the magic, version, reserved bytes and the three fields into the first
// ping_header_size bytes of `out` (out.size() >= ping_header_size).
void write_ping_header(std::span<std::byte> out, const PingHeader& header) noexcept;

// Rewrites only the sequence number and the intended time of a payload write_ping_header made:
// what the sender changes per datagram.
void stamp_ping_payload(std::span<std::byte> out, std::uint64_t sequence, std::uint64_t intended_ns) noexcept;

// The header of a datagram, or nullopt when it is shorter than the header, has another magic or
// another version.
std::optional<PingHeader> parse_ping_header(std::span<const std::byte> datagram) noexcept;

}  // namespace salvo::cli
