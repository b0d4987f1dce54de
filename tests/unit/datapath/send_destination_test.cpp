// The destination of an outgoing message: a connected socket's messages to its peer go without one
// (the kernel's cached route), every other message keeps its own (send_control.hpp).
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "datapath/send_control.hpp"
#include "support/test_support.hpp"

namespace salvo::detail {
namespace {

using salvo::test::addr;

msghdr message_to(const Address& to) {
  msghdr m{};
  m.msg_name = const_cast<void*>(to.sockaddr_data());
  m.msg_namelen = to.sockaddr_size();
  return m;
}

TEST(SendDestination, AnUnconnectedSocketHasNoPeer) {
  EXPECT_FALSE(has_peer(Address{}));
  EXPECT_TRUE(has_peer(addr("127.0.0.1:53")));
  EXPECT_TRUE(has_peer(addr("[::1]:53")));
}

TEST(SendDestination, TheConnectedPeerLosesItsDestination) {
  for (const char* peer_text : {"127.0.0.1:5300", "[::1]:5300", "[::ffff:127.0.0.1]:5300"}) {
    SCOPED_TRACE(peer_text);
    const Address peer = addr(peer_text);
    const Address same = addr(peer_text);
    msghdr m = message_to(same);
    omit_connected_destination(m, peer);
    EXPECT_EQ(m.msg_name, nullptr);
    EXPECT_EQ(m.msg_namelen, 0u);
  }
}

TEST(SendDestination, EveryOtherDestinationStays) {
  const Address peer = addr("127.0.0.1:5300");
  for (const char* other_text : {"127.0.0.1:5301", "127.0.0.2:5300", "[::1]:5300", "[::ffff:127.0.0.1]:5300"}) {
    SCOPED_TRACE(other_text);
    const Address other = addr(other_text);
    msghdr m = message_to(other);
    omit_connected_destination(m, peer);
    EXPECT_EQ(m.msg_name, other.sockaddr_data());
    EXPECT_EQ(m.msg_namelen, other.sockaddr_size());
  }
  // An unconnected socket's empty peer matches nothing.
  const Address to = addr("127.0.0.1:5300");
  msghdr m = message_to(to);
  omit_connected_destination(m, Address{});
  EXPECT_EQ(m.msg_namelen, to.sockaddr_size());
}

}  // namespace
}  // namespace salvo::detail
