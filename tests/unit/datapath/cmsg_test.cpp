// parse_control: finds a control message (UDP_GRO's segment size here) among others, and reads
// nothing out of bounds however the area is damaged (run under ASan to make an overread fail
// loudly). Buffers are allocated at exactly the length handed to the parser, so that any read past
// it is an ASan error.
#include "datapath/cmsg.hpp"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <random>

#include "support/test_support.hpp"

#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

namespace salvo::detail {
namespace {

// A control area of exactly `length` bytes, aligned as the kernel's is.
struct Area {
  explicit Area(std::size_t n) : length(n), bytes(new unsigned char[n == 0 ? 1 : n]) { std::memset(bytes.get(), 0, n); }
  std::size_t length;
  std::unique_ptr<unsigned char[]> bytes;
  cmsghdr* at(std::size_t offset) { return reinterpret_cast<cmsghdr*>(bytes.get() + offset); }
};

// Appends one control message at `offset`; returns the offset of the next one.
std::size_t put(Area& a, std::size_t offset, int level, int type, const void* data, std::size_t data_length) {
  cmsghdr* c = a.at(offset);
  c->cmsg_len = CMSG_LEN(data_length);
  c->cmsg_level = level;
  c->cmsg_type = type;
  std::memcpy(CMSG_DATA(c), data, data_length);
  return offset + CMSG_SPACE(data_length);
}

TEST(ParseControl, FindsGroSegmentSize) {
  Area a(CMSG_SPACE(sizeof(int)));
  const int segment = 1234;
  put(a, 0, SOL_UDP, UDP_GRO, &segment, sizeof segment);
  const ControlInfo info = parse_control(a.bytes.get(), a.length);
  EXPECT_EQ(info.gro_segment_size, 1234);
}

TEST(ParseControl, ExactCmsgLenWithoutTrailingPadding) {
  Area a(CMSG_LEN(sizeof(int)));  // the kernel may hand back CMSG_LEN, not CMSG_SPACE
  const int segment = 7;
  cmsghdr* c = a.at(0);
  c->cmsg_len = CMSG_LEN(sizeof segment);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_GRO;
  std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
  const ControlInfo info = parse_control(a.bytes.get(), a.length);
  EXPECT_EQ(info.gro_segment_size, 7);
}

TEST(ParseControl, FindsItAfterOtherMessages) {
  Area a(CMSG_SPACE(sizeof(timeval)) + CMSG_SPACE(sizeof(in_pktinfo)) + CMSG_SPACE(sizeof(int)));
  timeval tv{1, 2};
  in_pktinfo pi{};
  const int segment = 0xffff;
  std::size_t off = put(a, 0, SOL_SOCKET, SO_TIMESTAMP, &tv, sizeof tv);
  off = put(a, off, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi);
  off = put(a, off, SOL_UDP, UDP_GRO, &segment, sizeof segment);
  ASSERT_EQ(off, a.length);
  const ControlInfo info = parse_control(a.bytes.get(), a.length);
  EXPECT_EQ(info.gro_segment_size, 0xffff);
}

TEST(ParseControl, IgnoresOtherLevelsAndTypes) {
  Area a(2 * CMSG_SPACE(sizeof(int)));
  const int v = 99;
  std::size_t off = put(a, 0, IPPROTO_IP, UDP_GRO, &v, sizeof v);  // right type, wrong level
  put(a, off, SOL_UDP, UDP_SEGMENT, &v, sizeof v);                  // right level, wrong type
  const ControlInfo info = parse_control(a.bytes.get(), a.length);
  EXPECT_EQ(info.gro_segment_size, 0);
}

TEST(ParseControl, EmptyAndTooShortAreasYieldNothing) {
  EXPECT_EQ(parse_control(nullptr, 0).gro_segment_size, 0);
  EXPECT_EQ(parse_control(nullptr, 64).gro_segment_size, 0);
  Area a(CMSG_SPACE(sizeof(int)));
  const int segment = 5;
  put(a, 0, SOL_UDP, UDP_GRO, &segment, sizeof segment);
  EXPECT_EQ(parse_control(a.bytes.get(), 0).gro_segment_size, 0);
  // Every truncation of a valid message, down to nothing: the value is found only when whole.
  for (std::size_t n = 0; n < CMSG_LEN(sizeof segment); ++n) {
    Area cut(n);
    std::memcpy(cut.bytes.get(), a.bytes.get(), n);
    const ControlInfo info = parse_control(cut.bytes.get(), n);
    EXPECT_EQ(info.gro_segment_size, 0) << "length " << n;
  }
}

TEST(ParseControl, LyingLengthsAreNotFollowed) {
  const int segment = 42;
  for (std::size_t bad_len : {std::size_t{0}, std::size_t{1}, sizeof(cmsghdr) - 1, CMSG_LEN(2),
                              CMSG_SPACE(sizeof segment) + 1, std::size_t{4096}, ~std::size_t{0},
                              ~std::size_t{0} - 7}) {
    Area a(CMSG_SPACE(sizeof segment));
    put(a, 0, SOL_UDP, UDP_GRO, &segment, sizeof segment);
    a.at(0)->cmsg_len = bad_len;
    const ControlInfo info = parse_control(a.bytes.get(), a.length);
    EXPECT_EQ(info.gro_segment_size, 0) << "cmsg_len " << bad_len;
  }
}

TEST(ParseControl, DamageAfterAValidMessageKeepsWhatCameBefore) {
  const int segment = 77;
  Area a(CMSG_SPACE(sizeof segment) + sizeof(cmsghdr) + 8);
  const std::size_t off = put(a, 0, SOL_UDP, UDP_GRO, &segment, sizeof segment);
  cmsghdr* second = a.at(off);
  second->cmsg_len = 100000;  // runs far past the area
  second->cmsg_level = SOL_UDP;
  second->cmsg_type = UDP_GRO;
  const ControlInfo info = parse_control(a.bytes.get(), a.length);
  EXPECT_EQ(info.gro_segment_size, 77);
  // A zero-length header after it must end the walk, not loop on itself.
  second->cmsg_len = 0;
  const ControlInfo again = parse_control(a.bytes.get(), a.length);
  EXPECT_EQ(again.gro_segment_size, 77);
}

TEST(ParseControl, ShortPayloadIsNotRead) {
  // A UDP_GRO header whose data is 2 bytes, not 4: ignored, not over-read.
  Area a(CMSG_SPACE(2));
  const std::uint16_t half = 0x0BEE;
  put(a, 0, SOL_UDP, UDP_GRO, &half, sizeof half);
  const ControlInfo info = parse_control(a.bytes.get(), CMSG_LEN(2));
  EXPECT_EQ(info.gro_segment_size, 0);
}

// The io_uring backend hands parse_control the control area of a recvmsg_out, which sits after a
// 16-byte header and the 28-byte name area (sizeof(sockaddr_in6)): 4 bytes off the 8-byte alignment
// a cmsghdr needs. Reading it must still work, and must not be undefined behaviour (UBSan in the
// asan preset reports "misaligned address ... for type 'struct cmsghdr'" otherwise).
TEST(ParseControl, ControlAreaWhereIoUringPutsIt) {
  constexpr std::size_t header = 16 + 28;  // io_uring_recvmsg_out + sockaddr_in6
  const int segment = 31337;
  alignas(16) unsigned char buffer[header + CMSG_SPACE(sizeof segment) + 16] = {};
  cmsghdr c{};
  c.cmsg_len = CMSG_LEN(sizeof segment);
  c.cmsg_level = SOL_UDP;
  c.cmsg_type = UDP_GRO;
  std::memcpy(buffer + header, &c, sizeof c);
  std::memcpy(buffer + header + CMSG_LEN(0), &segment, sizeof segment);
  ASSERT_NE(reinterpret_cast<std::uintptr_t>(buffer + header) % alignof(cmsghdr), 0u);
  const ControlInfo info = parse_control(buffer + header, CMSG_SPACE(sizeof segment));
  EXPECT_EQ(info.gro_segment_size, 31337);
}

TEST(ParseControl, RandomBytesNeverCrash) {
  std::mt19937 rng(20240601);
  int found = 0;
  for (int round = 0; round < 20000; ++round) {
    const std::size_t n = rng() % 160;
    Area a(n);
    for (std::size_t i = 0; i < n; ++i) a.bytes[i] = static_cast<unsigned char>(rng());
    // Half the time, plant plausible headers so that the walk goes deep.
    if (round % 2 == 0) {
      std::size_t off = 0;
      while (off + sizeof(cmsghdr) <= n) {
        cmsghdr* c = a.at(off);
        c->cmsg_len = CMSG_LEN(rng() % 24);
        c->cmsg_level = rng() % 2 ? SOL_UDP : static_cast<int>(rng());
        c->cmsg_type = rng() % 2 ? UDP_GRO : static_cast<int>(rng() % 64);
        // A segment size the parser accepts, where the area has room for one.
        if (off + CMSG_LEN(sizeof(int)) <= n) {
          const int segment = 1 + static_cast<int>(rng() % 0xffff);
          std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
        }
        const std::size_t next = off + CMSG_ALIGN(c->cmsg_len);
        if (rng() % 8 == 0) c->cmsg_len = rng();  // a lie somewhere along the chain
        off = next;
      }
    }
    const ControlInfo info = parse_control(a.bytes.get(), n);
    if (info.gro_segment_size != 0) ++found;
  }
  EXPECT_GT(found, 0) << "the planted headers never produced a valid message; the test is too weak";
}

}  // namespace
}  // namespace salvo::detail
