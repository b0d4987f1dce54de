// parse_control: finds SO_RXQ_OVFL among control messages, and reads nothing out of bounds however
// the area is damaged (run under ASan to make an overread fail loudly). Buffers are allocated at
// exactly the length handed to the parser, so that any read past it is an ASan error.
#include "datapath/cmsg.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <random>

#include "support/test_support.hpp"

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

TEST(ParseControl, FindsRxqOverflow) {
  Area a(CMSG_SPACE(sizeof(std::uint32_t)));
  const std::uint32_t drops = 123456;
  put(a, 0, SOL_SOCKET, SO_RXQ_OVFL, &drops, sizeof drops);
  const ControlInfo info = parse_control(a.bytes.get(), a.length);
  EXPECT_TRUE(info.has_kernel_drops);
  EXPECT_EQ(info.kernel_drops, 123456u);
}

TEST(ParseControl, ExactCmsgLenWithoutTrailingPadding) {
  Area a(CMSG_LEN(sizeof(std::uint32_t)));  // the kernel may hand back CMSG_LEN, not CMSG_SPACE
  const std::uint32_t drops = 7;
  cmsghdr* c = a.at(0);
  c->cmsg_len = CMSG_LEN(sizeof drops);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SO_RXQ_OVFL;
  std::memcpy(CMSG_DATA(c), &drops, sizeof drops);
  const ControlInfo info = parse_control(a.bytes.get(), a.length);
  EXPECT_TRUE(info.has_kernel_drops);
  EXPECT_EQ(info.kernel_drops, 7u);
}

TEST(ParseControl, FindsItAfterOtherMessages) {
  Area a(CMSG_SPACE(sizeof(timeval)) + CMSG_SPACE(sizeof(in_pktinfo)) + CMSG_SPACE(sizeof(std::uint32_t)));
  timeval tv{1, 2};
  in_pktinfo pi{};
  const std::uint32_t drops = 0xFFFFFFFFu;
  std::size_t off = put(a, 0, SOL_SOCKET, SO_TIMESTAMP, &tv, sizeof tv);
  off = put(a, off, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi);
  off = put(a, off, SOL_SOCKET, SO_RXQ_OVFL, &drops, sizeof drops);
  ASSERT_EQ(off, a.length);
  const ControlInfo info = parse_control(a.bytes.get(), a.length);
  EXPECT_TRUE(info.has_kernel_drops);
  EXPECT_EQ(info.kernel_drops, 0xFFFFFFFFu);
}

TEST(ParseControl, IgnoresOtherLevelsAndTypes) {
  Area a(2 * CMSG_SPACE(sizeof(std::uint32_t)));
  const std::uint32_t v = 99;
  std::size_t off = put(a, 0, IPPROTO_IP, SO_RXQ_OVFL, &v, sizeof v);  // right type, wrong level
  put(a, off, SOL_SOCKET, SO_TIMESTAMP, &v, sizeof v);                 // right level, wrong type
  const ControlInfo info = parse_control(a.bytes.get(), a.length);
  EXPECT_FALSE(info.has_kernel_drops);
  EXPECT_EQ(info.kernel_drops, 0u);
}

TEST(ParseControl, EmptyAndTooShortAreasYieldNothing) {
  EXPECT_FALSE(parse_control(nullptr, 0).has_kernel_drops);
  EXPECT_FALSE(parse_control(nullptr, 64).has_kernel_drops);
  Area a(CMSG_SPACE(sizeof(std::uint32_t)));
  const std::uint32_t drops = 5;
  put(a, 0, SOL_SOCKET, SO_RXQ_OVFL, &drops, sizeof drops);
  EXPECT_FALSE(parse_control(a.bytes.get(), 0).has_kernel_drops);
  // Every truncation of a valid message, down to nothing: the value is found only when whole.
  for (std::size_t n = 0; n < CMSG_LEN(sizeof drops); ++n) {
    Area cut(n);
    std::memcpy(cut.bytes.get(), a.bytes.get(), n);
    const ControlInfo info = parse_control(cut.bytes.get(), n);
    EXPECT_FALSE(info.has_kernel_drops) << "length " << n;
    EXPECT_EQ(info.kernel_drops, 0u) << "length " << n;
  }
}

TEST(ParseControl, LyingLengthsAreNotFollowed) {
  const std::uint32_t drops = 42;
  for (std::size_t bad_len : {std::size_t{0}, std::size_t{1}, sizeof(cmsghdr) - 1, CMSG_LEN(2),
                              CMSG_SPACE(sizeof drops) + 1, std::size_t{4096}, ~std::size_t{0},
                              ~std::size_t{0} - 7}) {
    Area a(CMSG_SPACE(sizeof drops));
    put(a, 0, SOL_SOCKET, SO_RXQ_OVFL, &drops, sizeof drops);
    a.at(0)->cmsg_len = bad_len;
    const ControlInfo info = parse_control(a.bytes.get(), a.length);
    EXPECT_FALSE(info.has_kernel_drops) << "cmsg_len " << bad_len;
  }
}

TEST(ParseControl, DamageAfterAValidMessageKeepsWhatCameBefore) {
  const std::uint32_t drops = 77;
  Area a(CMSG_SPACE(sizeof drops) + sizeof(cmsghdr) + 8);
  const std::size_t off = put(a, 0, SOL_SOCKET, SO_RXQ_OVFL, &drops, sizeof drops);
  cmsghdr* second = a.at(off);
  second->cmsg_len = 100000;  // runs far past the area
  second->cmsg_level = SOL_SOCKET;
  second->cmsg_type = SO_RXQ_OVFL;
  const ControlInfo info = parse_control(a.bytes.get(), a.length);
  EXPECT_TRUE(info.has_kernel_drops);
  EXPECT_EQ(info.kernel_drops, 77u);
  // A zero-length header after it must end the walk, not loop on itself.
  second->cmsg_len = 0;
  const ControlInfo again = parse_control(a.bytes.get(), a.length);
  EXPECT_TRUE(again.has_kernel_drops);
  EXPECT_EQ(again.kernel_drops, 77u);
}

TEST(ParseControl, ShortPayloadIsNotRead) {
  // An SO_RXQ_OVFL header whose data is 2 bytes, not 4: ignored, not over-read.
  Area a(CMSG_SPACE(2));
  const std::uint16_t half = 0xBEEF;
  put(a, 0, SOL_SOCKET, SO_RXQ_OVFL, &half, sizeof half);
  const ControlInfo info = parse_control(a.bytes.get(), CMSG_LEN(2));
  EXPECT_FALSE(info.has_kernel_drops);
}

// The io_uring backend hands parse_control the control area of a recvmsg_out, which sits after a
// 16-byte header and the 28-byte name area (sizeof(sockaddr_in6)): 4 bytes off the 8-byte alignment
// a cmsghdr needs. Reading it must still work, and must not be undefined behaviour (UBSan in the
// asan preset reports "misaligned address ... for type 'struct cmsghdr'" otherwise).
TEST(ParseControl, ControlAreaWhereIoUringPutsIt) {
  constexpr std::size_t header = 16 + 28;  // io_uring_recvmsg_out + sockaddr_in6
  const std::uint32_t drops = 31337;
  alignas(16) unsigned char buffer[header + CMSG_SPACE(sizeof drops) + 16] = {};
  cmsghdr c{};
  c.cmsg_len = CMSG_LEN(sizeof drops);
  c.cmsg_level = SOL_SOCKET;
  c.cmsg_type = SO_RXQ_OVFL;
  std::memcpy(buffer + header, &c, sizeof c);
  std::memcpy(buffer + header + CMSG_LEN(0), &drops, sizeof drops);
  ASSERT_NE(reinterpret_cast<std::uintptr_t>(buffer + header) % alignof(cmsghdr), 0u);
  const ControlInfo info = parse_control(buffer + header, CMSG_SPACE(sizeof drops));
  EXPECT_TRUE(info.has_kernel_drops);
  EXPECT_EQ(info.kernel_drops, 31337u);
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
        c->cmsg_level = rng() % 2 ? SOL_SOCKET : static_cast<int>(rng());
        c->cmsg_type = rng() % 2 ? SO_RXQ_OVFL : static_cast<int>(rng() % 64);
        const std::size_t next = off + CMSG_ALIGN(c->cmsg_len);
        if (rng() % 8 == 0) c->cmsg_len = rng();  // a lie somewhere along the chain
        off = next;
      }
    }
    const ControlInfo info = parse_control(a.bytes.get(), n);
    if (info.has_kernel_drops) ++found;
    if (!info.has_kernel_drops) {
      ASSERT_EQ(info.kernel_drops, 0u);
    }
  }
  EXPECT_GT(found, 0) << "the planted headers never produced a valid message; the test is too weak";
}

TEST(ParseControl, RealSocketReportsDrops) {
  // The kernel's own encoding: overflow a tiny receive buffer, then read with SO_RXQ_OVFL on.
  test::UdpSocket rx(test::addr("127.0.0.1:0"), 1);  // the kernel rounds up to its minimum
  const int one = 1;
  ASSERT_EQ(::setsockopt(rx.fd(), SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one), 0);
  test::UdpSocket tx(test::addr("127.0.0.1:0"));
  const auto payload = test::make_payload(1, 1000);
  // Datagrams queued after a drop carry the drop count, so overflow first, then drain, repeatedly.
  int accepted = 0;
  std::uint32_t reported = 0;
  bool seen = false;
  for (int round = 0; round < 10 && !seen; ++round) {
    for (int i = 0; i < 50; ++i) accepted += tx.send_to(payload, rx.local()) ? 1 : 0;
    for (;;) {
      std::byte buffer[2048];
      alignas(cmsghdr) unsigned char control[max_control_space];
      iovec iov{buffer, sizeof buffer};
      msghdr h{};
      h.msg_iov = &iov;
      h.msg_iovlen = 1;
      h.msg_control = control;
      h.msg_controllen = sizeof control;
      if (::recvmsg(rx.fd(), &h, MSG_DONTWAIT) < 0) break;
      const ControlInfo info = parse_control(control, h.msg_controllen);
      if (info.has_kernel_drops) {
        seen = true;
        reported = info.kernel_drops;
      }
    }
  }
  ASSERT_TRUE(seen) << "no datagram carried SO_RXQ_OVFL although the queue overflowed";
  EXPECT_GT(reported, 0u);
  EXPECT_LE(reported, static_cast<std::uint32_t>(accepted));
}

}  // namespace
}  // namespace salvo::detail
