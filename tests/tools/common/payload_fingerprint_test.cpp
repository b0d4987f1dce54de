// PayloadFingerprint: a payload matches its own fingerprint and no payload that differs in length
// or in any single byte, whether the byte is in the head (compared as is) or after it (hashed);
// empty and head-sized payloads work; hash_bytes depends on the seed and on the length.
#include <gtest/gtest.h>

#include <vector>

#include "common/payload_fingerprint.hpp"

namespace salvo::cli {
namespace {

std::vector<std::byte> bytes(std::size_t size, std::uint8_t first = 1) {
  std::vector<std::byte> b(size);
  for (std::size_t i = 0; i < size; ++i) b[i] = static_cast<std::byte>(first + i * 7);
  return b;
}

TEST(PayloadFingerprint, APayloadMatchesItsOwnFingerprint) {
  for (const std::size_t size : {0u, 1u, 23u, 24u, 25u, 40u, 64u, 1472u, 9000u}) {
    SCOPED_TRACE(size);
    const auto p = bytes(size);
    const PayloadFingerprint f = PayloadFingerprint::of(p);
    EXPECT_EQ(f.length, size);
    EXPECT_TRUE(f.matches(p));
    EXPECT_EQ(f, PayloadFingerprint::of(bytes(size)));  // the same bytes elsewhere
    EXPECT_EQ(f.rest == 0, size <= PayloadFingerprint::head_size);
  }
}

TEST(PayloadFingerprint, AnyChangedByteOrLengthDoesNotMatch) {
  for (const std::size_t size : {1u, 24u, 25u, 100u, 1472u}) {
    const auto p = bytes(size);
    const PayloadFingerprint f = PayloadFingerprint::of(p);
    for (std::size_t at = 0; at < size; ++at) {
      auto q = p;
      q[at] ^= std::byte{0x40};
      EXPECT_FALSE(f.matches(q)) << "size " << size << ", byte " << at;
    }
    auto longer = p;
    longer.push_back(std::byte{0});
    EXPECT_FALSE(f.matches(longer)) << size;
    EXPECT_FALSE(f.matches(std::span(p).first(size - 1))) << size;
  }
  EXPECT_FALSE(PayloadFingerprint::of({}).matches(bytes(1)));
  EXPECT_TRUE(PayloadFingerprint::of({}).matches({}));
}

TEST(PayloadFingerprint, HashDependsOnSeedAndLength) {
  const auto p = bytes(100);
  EXPECT_EQ(hash_bytes(p, 1), hash_bytes(p, 1));
  EXPECT_NE(hash_bytes(p, 1), hash_bytes(p, 2));
  const std::vector<std::byte> zero1(1), zero2(2), zero16(16), zero17(17);
  EXPECT_NE(hash_bytes(zero1), hash_bytes(zero2));
  EXPECT_NE(hash_bytes(zero16), hash_bytes(zero17));
  EXPECT_NE(hash_bytes({}), hash_bytes(zero1));
}

}  // namespace
}  // namespace salvo::cli
