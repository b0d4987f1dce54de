#include "common/payload_fingerprint.hpp"

#include <algorithm>
#include <cstring>

#include "common/seeded_random.hpp"

namespace salvo::cli {
namespace {

constexpr std::uint64_t k0 = 0xa0761d6478bd642full;
constexpr std::uint64_t k1 = 0xe7037ed1a0b428dbull;
constexpr std::uint64_t k2 = 0x8ebc6af09c88c6e3ull;

// The two halves of the 128-bit product, folded.
std::uint64_t fold_multiply(std::uint64_t a, std::uint64_t b) noexcept {
  const uint128 p = static_cast<uint128>(a) * b;
  return static_cast<std::uint64_t>(p) ^ static_cast<std::uint64_t>(p >> 64);
}

std::uint64_t load(const std::byte* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  std::memcpy(&v, p, n);
  return v;
}

}  // namespace

std::uint64_t hash_bytes(std::span<const std::byte> bytes, std::uint64_t seed) noexcept {
  const std::byte* p = bytes.data();
  std::size_t n = bytes.size();
  std::uint64_t h = seed ^ k0;
  // Each block is mixed on its own and folded into h with one multiply by an odd constant (a
  // bijection, so no block can wipe out what came before).
  for (; n >= 16; p += 16, n -= 16) h = (h * k0) ^ fold_multiply(load(p, 8) ^ k1, load(p + 8, 8) ^ k2);
  if (n > 0) {
    const std::size_t first = std::min<std::size_t>(n, 8);
    h = (h * k0) ^ fold_multiply(load(p, first) ^ k1, load(p + first, n - first) ^ k2);
  }
  return fold_multiply(h ^ bytes.size(), k1 ^ seed);
}

PayloadFingerprint PayloadFingerprint::of(std::span<const std::byte> payload) noexcept {
  PayloadFingerprint f;
  f.length = static_cast<std::uint32_t>(payload.size());
  const std::size_t head = std::min(payload.size(), head_size);
  if (head != 0) std::memcpy(f.head.data(), payload.data(), head);
  if (payload.size() > head_size) f.rest = hash_bytes(payload.subspan(head_size));
  return f;
}

bool PayloadFingerprint::matches(std::span<const std::byte> payload) const noexcept {
  if (payload.size() != length) return false;
  const std::size_t head_bytes = std::min(payload.size(), head_size);
  if (head_bytes != 0 && std::memcmp(head.data(), payload.data(), head_bytes) != 0) return false;
  return payload.size() <= head_size || hash_bytes(payload.subspan(head_size)) == rest;
}

}  // namespace salvo::cli
