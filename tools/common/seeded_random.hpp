// SeededRandom: the reproducible pseudo-random numbers of salvo blast (--size-range) and salvo
// impair (every loss/duplicate/reorder/jitter decision).
//
// Reproducible means the same seed gives the same numbers on every platform, compiler and build.
// The standard library does not promise that: std::uniform_int_distribution and friends are
// implementation-defined, so their output may change with the library. Hence a fixed generator
// (xoshiro256**, seeded through SplitMix64, both public-domain algorithms by Vigna and Blackman)
// and fixed mappings to ranges. Not for cryptography.
//
// Header-only and allocation-free: it runs once per datagram on the hot path. One thread per
// instance.
#pragma once

#include <cstdint>

namespace salvo::cli {

__extension__ using uint128 = unsigned __int128;  // GCC/Clang; -Wpedantic accepts it this way

// One SplitMix64 step: advances `state` and returns a well-mixed 64-bit value.
constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// An independent seed for stream `stream` of a user's `seed` (one per socket, one per direction),
// so that streams do not repeat each other's numbers.
constexpr std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) noexcept {
  std::uint64_t state = seed ^ (stream * 0xd1b54a32d192ed03ull);
  splitmix64(state);
  return splitmix64(state);
}

class SeededRandom {
 public:
  explicit SeededRandom(std::uint64_t seed) noexcept {
    std::uint64_t state = seed;
    for (std::uint64_t& word : s_) word = splitmix64(state);  // never all zero
  }

  // The next 64 random bits (xoshiro256**).
  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, bound), bound >= 1, without modulo bias (Lemire's multiply-and-reject).
  std::uint64_t below(std::uint64_t bound) noexcept {
    uint128 m = static_cast<uint128>(next()) * bound;
    auto low = static_cast<std::uint64_t>(m);
    if (low < bound) {
      const std::uint64_t threshold = (0 - bound) % bound;
      while (low < threshold) {
        m = static_cast<uint128>(next()) * bound;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

  // Uniform in [lo, hi] (lo <= hi), both ends included.
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) noexcept {
    const std::uint64_t span = hi - lo;
    if (span == ~std::uint64_t{0}) return next();
    return lo + below(span + 1);
  }

  // Uniform in [0, 1), 53 random bits: `unit() < p` is true with probability p for p in [0, 1].
  double unit() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace salvo::cli
