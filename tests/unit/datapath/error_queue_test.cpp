// parse_error_message: the error-queue parser reads kernel-built control data defensively.
#include "datapath/error_queue.hpp"

#include <linux/errqueue.h>
#include <netinet/in.h>

#include <cstring>
#include <utility>

#include "support/test_support.hpp"

namespace salvo::detail {
namespace {

// Builds a control area with one IP_RECVERR message.
std::vector<unsigned char> control_with(std::uint32_t err, std::uint32_t info, int level = IPPROTO_IP,
                                        int type = IP_RECVERR, std::uint8_t origin = SO_EE_ORIGIN_ICMP) {
  std::vector<unsigned char> area(CMSG_SPACE(sizeof(sock_extended_err)), 0);
  cmsghdr header{};
  header.cmsg_len = CMSG_LEN(sizeof(sock_extended_err));
  header.cmsg_level = level;
  header.cmsg_type = type;
  std::memcpy(area.data(), &header, sizeof header);
  sock_extended_err ee{};
  ee.ee_errno = err;
  ee.ee_origin = origin;
  ee.ee_info = info;
  std::memcpy(area.data() + CMSG_LEN(0), &ee, sizeof ee);
  return area;
}

TEST(ErrorQueue, ParsesRefusedUnreachableAndPathMtu) {
  const salvo::Address peer = salvo::test::addr("127.0.0.1:4000");
  auto refused = control_with(ECONNREFUSED, 0);
  auto r = parse_error_message(peer.sockaddr_data(), peer.sockaddr_size(), refused.data(), refused.size());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, IcmpReport::Kind::refused);
  EXPECT_EQ(r->peer, peer);
  auto unreachable = control_with(EHOSTUNREACH, 0, IPPROTO_IPV6, IPV6_RECVERR);
  r = parse_error_message(peer.sockaddr_data(), peer.sockaddr_size(), unreachable.data(), unreachable.size());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, IcmpReport::Kind::unreachable);
  EXPECT_EQ(r->error, EHOSTUNREACH);
  auto mtu = control_with(EMSGSIZE, 1280);
  r = parse_error_message(peer.sockaddr_data(), peer.sockaddr_size(), mtu.data(), mtu.size());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, IcmpReport::Kind::path_mtu);
  EXPECT_EQ(r->mtu, 1280u);
  EXPECT_EQ(r->origin, IcmpReport::Origin::network);
}

// Where a report came from: a router (the pending EMSGSIZE a send may meet for an earlier
// datagram's sake) or the local stack (the datagram itself is too big for the route).
TEST(ErrorQueue, ParsesTheOrigin) {
  const salvo::Address peer = salvo::test::addr("127.0.0.1:4000");
  const std::pair<std::uint8_t, IcmpReport::Origin> cases[] = {
      {SO_EE_ORIGIN_ICMP, IcmpReport::Origin::network},
      {SO_EE_ORIGIN_ICMP6, IcmpReport::Origin::network},
      {SO_EE_ORIGIN_LOCAL, IcmpReport::Origin::local},
      {SO_EE_ORIGIN_NONE, IcmpReport::Origin::other},
  };
  for (const auto& [origin, expected] : cases) {
    auto area = control_with(EMSGSIZE, 1300, IPPROTO_IP, IP_RECVERR, origin);
    auto r = parse_error_message(peer.sockaddr_data(), peer.sockaddr_size(), area.data(), area.size());
    ASSERT_TRUE(r.has_value()) << int{origin};
    EXPECT_EQ(r->kind, IcmpReport::Kind::path_mtu);
    EXPECT_EQ(r->origin, expected) << int{origin};
  }
}

TEST(ErrorQueue, MalformedControlDataYieldsNothing) {
  const salvo::Address peer = salvo::test::addr("127.0.0.1:4000");
  auto area = control_with(ECONNREFUSED, 0);
  // Truncated anywhere: nothing, and no read past the end (ASan checks).
  for (std::size_t cut = 0; cut < area.size(); ++cut) {
    std::vector<unsigned char> shorter(area.begin(), area.begin() + static_cast<std::ptrdiff_t>(cut));
    EXPECT_FALSE(parse_error_message(peer.sockaddr_data(), peer.sockaddr_size(), shorter.data(), shorter.size()).has_value())
        << "cut at " << cut;
  }
  // A header claiming more than there is.
  cmsghdr liar{};
  liar.cmsg_len = 4096;
  liar.cmsg_level = IPPROTO_IP;
  liar.cmsg_type = IP_RECVERR;
  std::memcpy(area.data(), &liar, sizeof liar);
  EXPECT_FALSE(parse_error_message(peer.sockaddr_data(), peer.sockaddr_size(), area.data(), area.size()).has_value());
  // Another level's message is skipped.
  auto other = control_with(ECONNREFUSED, 0, SOL_SOCKET, SO_TIMESTAMP);
  EXPECT_FALSE(parse_error_message(peer.sockaddr_data(), peer.sockaddr_size(), other.data(), other.size()).has_value());
  EXPECT_FALSE(parse_error_message(nullptr, 0, nullptr, 0).has_value());
}

}  // namespace
}  // namespace salvo::detail
