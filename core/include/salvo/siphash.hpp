// SipHash-1-3 (Aumasson and Bernstein) over whole 64-bit words, under a 128-bit secret key: the hash
// for tables whose keys a sender chooses (its address, its port), so that it cannot compute which
// bucket its keys land in and fill one on purpose. The 1-3 variant (one round per word, three to
// finish) because the messages are a few words and the tables are looked up once or twice per
// datagram. Pure and allocation-free; any thread.
#pragma once

#include <bit>
#include <cstdint>
#include <span>

namespace salvo {

inline std::uint64_t siphash13(const std::uint64_t (&key)[2], std::span<const std::uint64_t> words) noexcept {
  std::uint64_t v0 = key[0] ^ 0x736f6d6570736575ull, v1 = key[1] ^ 0x646f72616e646f6dull;
  std::uint64_t v2 = key[0] ^ 0x6c7967656e657261ull, v3 = key[1] ^ 0x7465646279746573ull;
  auto round = [&] {
    v0 += v1; v1 = std::rotl(v1, 13); v1 ^= v0; v0 = std::rotl(v0, 32);
    v2 += v3; v3 = std::rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = std::rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = std::rotl(v1, 17); v1 ^= v2; v2 = std::rotl(v2, 32);
  };
  auto absorb = [&](std::uint64_t m) {
    v3 ^= m;
    round();
    v0 ^= m;
  };
  for (const std::uint64_t w : words) absorb(w);
  absorb(std::uint64_t{words.size() * 8} << 56);  // the message length in bytes, in the last block
  v2 ^= 0xff;
  round();
  round();
  round();
  return v0 ^ v1 ^ v2 ^ v3;
}

}  // namespace salvo
