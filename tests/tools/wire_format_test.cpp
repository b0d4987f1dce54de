// The two wire formats the tools speak: salvo ping's payload header and sockperf's message header.
// Exact bytes on the wire, round trips, and rejection of what is not one.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "ping/ping_payload.hpp"
#include "servers/sockperf_header.hpp"

namespace salvo::cli {
namespace {

std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

TEST(PingPayload, LayoutIsLittleEndianAfterMagicAndVersion) {
  std::vector<std::byte> p(40, std::byte{0xEE});
  write_ping_header(p, PingHeader{0x1122334455667788, 0x0102030405060708, 0xA1A2A3A4A5A6A7A8});
  const auto expected = bytes({'S', 'L', 'V', 'P', 1, 0, 0, 0,                      //
                               0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,      // token
                               0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,      // sequence
                               0xA8, 0xA7, 0xA6, 0xA5, 0xA4, 0xA3, 0xA2, 0xA1});    // intended time
  ASSERT_EQ(ping_header_size, 32u);
  EXPECT_EQ(std::vector<std::byte>(p.begin(), p.begin() + 32), expected);
  EXPECT_EQ(p[32], std::byte{0xEE}) << "bytes after the header are left alone";

  auto h = parse_ping_header(p);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(*h, (PingHeader{0x1122334455667788, 0x0102030405060708, 0xA1A2A3A4A5A6A7A8}));
}

TEST(PingPayload, StampChangesOnlySequenceAndTime) {
  std::vector<std::byte> p(64);
  write_ping_header(p, PingHeader{42, 0, 0});
  const std::vector<std::byte> before = p;
  stamp_ping_payload(p, 7, 123456789);
  auto h = parse_ping_header(p);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(*h, (PingHeader{42, 7, 123456789}));
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (i < 16 || i >= 32) {
      EXPECT_EQ(p[i], before[i]) << "byte " << i;
    }
  }
}

TEST(PingPayload, RejectsWhatIsNotAPingPayload) {
  std::vector<std::byte> p(32);
  write_ping_header(p, PingHeader{1, 2, 3});
  ASSERT_TRUE(parse_ping_header(p).has_value());
  EXPECT_FALSE(parse_ping_header(std::span(p).first(31)).has_value()) << "shorter than the header";
  EXPECT_FALSE(parse_ping_header({}).has_value());
  auto wrong_magic = p;
  wrong_magic[0] = std::byte{'s'};
  EXPECT_FALSE(parse_ping_header(wrong_magic).has_value());
  auto wrong_version = p;
  wrong_version[4] = std::byte{2};
  EXPECT_FALSE(parse_ping_header(wrong_version).has_value());
  // Every single-byte truncation of a valid header is rejected; longer datagrams are fine.
  for (std::size_t n = 0; n < 32; ++n) EXPECT_FALSE(parse_ping_header(std::span(p).first(n)).has_value()) << n;
  p.resize(1500);
  EXPECT_TRUE(parse_ping_header(p).has_value());
}

TEST(SockperfHeader, ParsesNetworkOrderFields) {
  // sequence 0x0102030405060708, flags client|pong (3), length 14
  const auto m = bytes({1, 2, 3, 4, 5, 6, 7, 8, 0, 3, 0, 0, 0, 14});
  auto h = parse_sockperf_header(m);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->sequence, 0x0102030405060708u);
  EXPECT_EQ(h->flags, 3u);
  EXPECT_EQ(h->length, 14u);
  EXPECT_TRUE(h->is_client());
  EXPECT_TRUE(h->wants_pong());
  EXPECT_FALSE(h->is_warmup());

  std::vector<std::byte> out(14);
  EXPECT_TRUE(write_sockperf_header(out, *h));
  EXPECT_EQ(out, m);
}

TEST(SockperfHeader, AShortBufferIsRefusedAndLeftAlone) {
  std::vector<std::byte> out(13, std::byte{0x5A});
  EXPECT_FALSE(write_sockperf_header(out, SockperfHeader{1, SockperfHeader::client, 14}));
  EXPECT_EQ(out, std::vector<std::byte>(13, std::byte{0x5A}));
  EXPECT_FALSE(write_sockperf_header({}, SockperfHeader{}));
}

TEST(SockperfHeader, LengthMustBeTheDatagramSize) {
  std::vector<std::byte> m(100);
  write_sockperf_header(m, SockperfHeader{9, SockperfHeader::client, 100});
  EXPECT_TRUE(parse_sockperf_header(m).has_value());
  write_sockperf_header(m, SockperfHeader{9, SockperfHeader::client, 99});
  EXPECT_FALSE(parse_sockperf_header(m).has_value());
  write_sockperf_header(m, SockperfHeader{9, SockperfHeader::client, 101});
  EXPECT_FALSE(parse_sockperf_header(m).has_value());
  write_sockperf_header(m, SockperfHeader{9, SockperfHeader::client, 13});
  EXPECT_FALSE(parse_sockperf_header(std::span(m).first(13)).has_value()) << "shorter than the header";
  EXPECT_FALSE(parse_sockperf_header({}).has_value());
}

TEST(SockperfHeader, ReplyClearsOnlyTheClientFlag) {
  std::vector<std::byte> m(20, std::byte{0x5A});
  write_sockperf_header(m, SockperfHeader{77, 0x0107, 20});  // client, pong, warm-up, and a high bit
  const std::vector<std::byte> original = m;
  make_sockperf_reply(m);
  auto h = parse_sockperf_header(m);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->flags, 0x0106u);
  EXPECT_EQ(h->sequence, 77u);
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (i != 9) {
      EXPECT_EQ(m[i], original[i]) << "byte " << i;
    }
  }
}

}  // namespace
}  // namespace salvo::cli
