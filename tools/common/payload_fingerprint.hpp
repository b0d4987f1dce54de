// PayloadFingerprint: enough of a datagram's bytes to recognise them when they come back, without
// keeping them. The loop rules of salvo echo (servers/echo_rules.hpp) and salvo impair
// (impair/loop_watch.hpp) use it: a loop between two servers that answer everything bounces the
// same bytes back and forth.
//
// A fingerprint is the length, the first head_size bytes, and a 64-bit hash of the rest. The head
// is compared byte for byte first, so that the usual datagram, which differs from the remembered
// one early (salvo ping's sequence number is at bytes 16-23, sockperf's and salvo blast's at 0-7),
// is told apart without hashing anything; only a datagram with the same length and head is
// hashed. "Same bytes" therefore means byte-identical, but for a 64-bit hash collision in the
// bytes after the head. The hash is not keyed: the loop rules need it to tell a peer's own
// datagrams apart, and a peer that makes its own datagrams collide only hurts itself.
//
// Pure and allocation-free.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace salvo::cli {

// A 64-bit hash of `bytes` (multiply-fold over 16-byte blocks, the blocks mixed independently so
// that they pipeline). Not for cryptography; a per-table `seed` makes it a keyed hash of
// addresses, whose bucket a sender cannot aim at without knowing the seed.
std::uint64_t hash_bytes(std::span<const std::byte> bytes, std::uint64_t seed = 0) noexcept;

struct PayloadFingerprint {
  static constexpr std::size_t head_size = 24;

  std::uint32_t length = 0;
  std::array<std::byte, head_size> head{};  // the first bytes; zero past the length
  std::uint64_t rest = 0;                   // hash_bytes of the bytes after the head; 0 when none

  static PayloadFingerprint of(std::span<const std::byte> payload) noexcept;
  // Whether `payload` has this fingerprint. Hashes only when the length and the head are equal.
  bool matches(std::span<const std::byte> payload) const noexcept;

  friend bool operator==(const PayloadFingerprint&, const PayloadFingerprint&) = default;
};

}  // namespace salvo::cli
