// Per-datagram metadata, without sockets: parse_control decodes every control message salvo asks
// for (pktinfo, TOS / traffic class, timestamps, GRO) exactly, apply_control turns them into
// Datagram fields, attach_send_control writes what the kernel expects (read back here with the
// CMSG macros), and segments() cuts GRO payloads at the stride.
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cstring>
#include <limits>
#include <vector>

#include "datapath/cmsg.hpp"
#include "datapath/send_control.hpp"
#include "socket/send_options.hpp"
#include "support/test_support.hpp"

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace salvo::detail {
namespace {

// A control area built message by message, aligned as the kernel's.
class Area {
 public:
  template <class T>
  Area& add(int level, int type, const T& value) {
    const std::size_t at = used_;
    used_ += CMSG_SPACE(sizeof(T));
    cmsghdr* c = reinterpret_cast<cmsghdr*>(bytes_ + at);
    c->cmsg_len = CMSG_LEN(sizeof(T));
    c->cmsg_level = level;
    c->cmsg_type = type;
    std::memcpy(CMSG_DATA(c), &value, sizeof(T));
    return *this;
  }
  const void* data() const { return bytes_; }
  std::size_t size() const { return used_; }

 private:
  alignas(cmsghdr) unsigned char bytes_[512]{};
  std::size_t used_ = 0;
};

in6_addr v6(const char* text) {
  in6_addr a{};
  EXPECT_EQ(inet_pton(AF_INET6, text, &a), 1);
  return a;
}

TEST(ParseControl, Ipv4PktinfoTosAndTimestamp) {
  in_pktinfo pi{};
  pi.ipi_ifindex = 7;
  inet_pton(AF_INET, "127.0.0.5", &pi.ipi_addr);
  inet_pton(AF_INET, "127.0.0.9", &pi.ipi_spec_dst);
  const std::uint8_t tos = 0xb9;  // DSCP EF, ECT(1): IP_TOS arrives as one byte
  const timespec ts{1'700'000'000, 123'456'789};
  Area a;
  a.add(IPPROTO_IP, IP_PKTINFO, pi).add(IPPROTO_IP, IP_TOS, tos).add(SOL_SOCKET, SO_TIMESTAMPNS, ts);
  const ControlInfo info = parse_control(a.data(), a.size());
  ASSERT_TRUE(info.has_destination);
  EXPECT_FALSE(info.destination_v6);
  EXPECT_EQ(info.interface_index, 7u);
  EXPECT_EQ(info.traffic_class, 0xb9);
  EXPECT_EQ(info.software_ns, 1'700'000'000'123'456'789);
  EXPECT_EQ(info.hardware_ns, 0);
  EXPECT_EQ(info.gro_segment_size, 0);

  Datagram d;
  apply_control(info, 4242, false, d);
  EXPECT_EQ(d.destination, test::addr("127.0.0.5:4242"));  // the header's destination, not spec_dst
  EXPECT_EQ(d.interface_index, 7u);
  EXPECT_EQ(d.traffic_class, 0xb9);
  EXPECT_EQ(d.ecn(), Ecn::ect1);
  EXPECT_EQ(d.timestamp_ns, 1'700'000'000'123'456'789);
  // The same on a dual-stack socket names the destination v4-mapped.
  apply_control(info, 4242, true, d);
  EXPECT_EQ(d.destination, test::addr("[::ffff:127.0.0.5]:4242"));
}

TEST(ParseControl, Ipv6PktinfoTclassTimestampingAndGro) {
  in6_pktinfo pi{};
  pi.ipi6_addr = v6("fe80::1");
  pi.ipi6_ifindex = 3;
  const int tclass = 0x03;  // CE; IPV6_TCLASS arrives as an int
  scm_timestamping stamps{};
  stamps.ts[0] = {5, 6};
  stamps.ts[2] = {7, 8};
  const int gro = 1200;
  Area a;
  a.add(IPPROTO_IPV6, IPV6_PKTINFO, pi).add(IPPROTO_IPV6, IPV6_TCLASS, tclass).add(SOL_SOCKET, SO_TIMESTAMPING, stamps).add(SOL_UDP, UDP_GRO, gro);
  const ControlInfo info = parse_control(a.data(), a.size());
  ASSERT_TRUE(info.has_destination);
  EXPECT_TRUE(info.destination_v6);
  EXPECT_EQ(info.traffic_class, 3);
  EXPECT_EQ(info.software_ns, 5'000'000'006);
  EXPECT_EQ(info.hardware_ns, 7'000'000'008);
  EXPECT_EQ(info.gro_segment_size, 1200);

  Datagram d;
  apply_control(info, 53, true, d);
  // A link-local destination keeps its interface as the scope.
  EXPECT_EQ(d.destination, test::addr("[fe80::1%3]:53"));
  EXPECT_EQ(d.destination.scope_id(), 3u);
  EXPECT_EQ(d.ecn(), Ecn::ce);
  EXPECT_EQ(d.segment_size, 1200);
}

TEST(ParseControl, GroSizesOutsideAUint16AreIgnored) {
  for (int bad : {0, -1, 65536, 1 << 30}) {
    Area a;
    a.add(SOL_UDP, UDP_GRO, bad);
    EXPECT_EQ(parse_control(a.data(), a.size()).gro_segment_size, 0) << bad;
  }
}

TEST(ParseControl, ShortPayloadsAreNotRead) {
  // A pktinfo message whose cmsg_len covers only half of an in_pktinfo: skipped, not half-read.
  alignas(cmsghdr) unsigned char bytes[CMSG_SPACE(sizeof(in6_pktinfo))]{};
  auto* c = reinterpret_cast<cmsghdr*>(bytes);
  c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo) / 2);
  c->cmsg_level = IPPROTO_IP;
  c->cmsg_type = IP_PKTINFO;
  const ControlInfo info = parse_control(bytes, sizeof bytes);
  EXPECT_FALSE(info.has_destination);
  EXPECT_EQ(info.traffic_class, -1);
}

// Found by fuzzing: a later header whose cmsg_len is close to 2^64 made offset + cmsg_len wrap, and
// the message behind it was read past the end of the area.
TEST(ParseControl, AHugeCmsgLenDoesNotWrapPastTheEnd) {
  const int segment = 1000;
  const timespec ts{1, 2};
  Area a;
  a.add(SOL_SOCKET, SO_TIMESTAMPNS, ts).add(SOL_UDP, UDP_GRO, segment);
  std::vector<unsigned char> bytes(static_cast<const unsigned char*>(a.data()),
                                   static_cast<const unsigned char*>(a.data()) + a.size());
  auto* second = reinterpret_cast<cmsghdr*>(bytes.data() + CMSG_SPACE(sizeof(timespec)));
  second->cmsg_len = ~std::size_t{0} - 7;
  const ControlInfo info = parse_control(bytes.data(), bytes.size());
  EXPECT_EQ(info.software_ns, 1'000'000'002);  // the intact first message
  EXPECT_EQ(info.gro_segment_size, 0);          // the lying one is not read
}

// Also found by fuzzing: tv_sec * 1e9 overflowed int64 (undefined behaviour). Such a time is no
// timestamp.
TEST(ParseControl, AnUnrepresentableTimestampIsNone) {
  for (const timespec ts : {timespec{std::numeric_limits<time_t>::max(), 0}, timespec{std::numeric_limits<time_t>::min(), 0},
                            timespec{9'223'372'036, 999'999'999}}) {
    Area a;
    a.add(SOL_SOCKET, SO_TIMESTAMPNS, ts);
    EXPECT_EQ(parse_control(a.data(), a.size()).software_ns, 0) << ts.tv_sec;
  }
}

TEST(ParseControl, NothingMeansNotKnown) {
  Datagram d;
  d.traffic_class = 5;  // left over from an earlier datagram in the same batch slot
  d.destination = test::addr("127.0.0.1:1");
  apply_control(parse_control(nullptr, 0), 1, false, d);
  EXPECT_EQ(d.traffic_class, -1);
  EXPECT_EQ(d.destination.family(), Address::Family::none);
  EXPECT_EQ(d.timestamp_ns, 0);
  EXPECT_EQ(d.segment_size, 0);
}

TEST(ReceiveControlSpace, OnlyWhatIsAskedFor) {
  EngineOptions o;
  EXPECT_EQ(receive_control_space(o), 0u);
  o.receive_destination = true;
  const std::size_t one = receive_control_space(o);
  EXPECT_GE(one, CMSG_SPACE(sizeof(in6_pktinfo)));
  o.gro = true;
  o.receive_traffic_class = true;
  o.timestamps = EngineOptions::Timestamps::hardware;
  const std::size_t all = receive_control_space(o);
  EXPECT_GE(all, CMSG_SPACE(sizeof(in6_pktinfo)) + 2 * CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(scm_timestamping)));
  EXPECT_LE(all, max_control_space);
  EXPECT_EQ(all % 16, 0u);
}

struct Decoded {
  int gso = -1;
  int tos = -1;
  int tclass = -1;
  bool pktinfo4 = false;
  bool pktinfo6 = false;
  in_pktinfo pi4{};
  in6_pktinfo pi6{};
};

Decoded decode(const msghdr& m) {
  Decoded out;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&m), c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_SEGMENT) {
      std::uint16_t v;
      std::memcpy(&v, CMSG_DATA(c), sizeof v);
      out.gso = v;
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
      std::memcpy(&out.tos, CMSG_DATA(c), sizeof(int));
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
      std::memcpy(&out.tclass, CMSG_DATA(c), sizeof(int));
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      out.pktinfo4 = true;
      std::memcpy(&out.pi4, CMSG_DATA(c), sizeof out.pi4);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      out.pktinfo6 = true;
      std::memcpy(&out.pi6, CMSG_DATA(c), sizeof out.pi6);
    }
  }
  return out;
}

SendMeta meta_for(const SendOptions& how, bool ipv6_socket, const Address& dest) {
  SendMeta meta;
  EXPECT_TRUE(make_send_meta(how, ipv6_socket, dest, meta));
  return meta;
}

TEST(SendControl, NothingToSayMeansNoControlArea) {
  SendQueue::Entry e;
  e.to = test::addr("127.0.0.1:9");
  msghdr m{};
  SendControl c;
  attach_send_control(m, c, e, false, 0, false);
  EXPECT_EQ(m.msg_control, nullptr);
  EXPECT_EQ(m.msg_controllen, 0u);
}

TEST(SendControl, Ipv4SourceTosAndGso) {
  SendQueue::Entry e;
  e.to = test::addr("127.0.0.1:9");
  SendOptions how;
  how.source = test::addr("127.0.0.5:0");
  how.traffic_class = 2;
  e.meta = meta_for(how, false, e.to);
  msghdr m{};
  SendControl c;
  attach_send_control(m, c, e, false, 1200, false);
  const Decoded d = decode(m);
  EXPECT_EQ(d.gso, 1200);
  EXPECT_EQ(d.tos, 2);
  EXPECT_EQ(d.tclass, -1);
  ASSERT_TRUE(d.pktinfo4);
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &d.pi4.ipi_spec_dst, text, sizeof text);
  EXPECT_STREQ(text, "127.0.0.5");
  EXPECT_EQ(d.pi4.ipi_ifindex, 0);
}

TEST(SendControl, DualStackUsesIpTosForV4MappedAndTclassForV6) {
  SendOptions how;
  how.traffic_class = 3;
  how.source = test::addr("127.0.0.5:0");
  SendQueue::Entry mapped;
  mapped.to = test::addr("[::ffff:127.0.0.1]:9");
  mapped.meta = meta_for(how, true, mapped.to);
  msghdr m{};
  SendControl c;
  attach_send_control(m, c, mapped, true, 0, false);
  Decoded d = decode(m);
  EXPECT_EQ(d.tos, 3);
  EXPECT_EQ(d.tclass, -1);
  ASSERT_TRUE(d.pktinfo6);  // the kernel takes a v4-mapped source in IPV6_PKTINFO
  EXPECT_TRUE(IN6_IS_ADDR_V4MAPPED(&d.pi6.ipi6_addr));

  SendOptions how6;
  how6.traffic_class = 1;
  SendQueue::Entry native;
  native.to = test::addr("[::1]:9");
  native.meta = meta_for(how6, true, native.to);
  attach_send_control(m, c, native, true, 0, false);
  d = decode(m);
  EXPECT_EQ(d.tclass, 1);
  EXPECT_EQ(d.tos, -1);
  EXPECT_FALSE(d.pktinfo6);
}

TEST(SendMeta, SourceFamilyMustFitTheDestination) {
  SendMeta meta;
  SendOptions how;
  how.source = test::addr("[::1]:0");
  EXPECT_FALSE(make_send_meta(how, true, test::addr("[::ffff:127.0.0.1]:9"), meta));
  EXPECT_FALSE(make_send_meta(how, false, test::addr("127.0.0.1:9"), meta));
  how.source = test::addr("127.0.0.1:0");
  EXPECT_FALSE(make_send_meta(how, true, test::addr("[::1]:9"), meta));
  EXPECT_TRUE(make_send_meta(how, true, test::addr("[::ffff:127.0.0.1]:9"), meta));
  // An unspecified source is "the kernel's choice", for any destination.
  how.source = test::addr("0.0.0.0:0");
  EXPECT_TRUE(make_send_meta(how, true, test::addr("[::1]:9"), meta));
  EXPECT_EQ(meta.source_family, SendMeta::Source::none);
}

TEST(SendOptions, ReplyToKeepsUnicastDestinationsAndDropsGroups) {
  Datagram d;
  d.destination = test::addr("127.0.0.5:53");
  d.interface_index = 1;
  SendOptions how = SendOptions::reply_to(d);
  EXPECT_EQ(how.source, d.destination);
  EXPECT_EQ(how.interface_index, 1u);
  EXPECT_EQ(how.traffic_class, -1);
  d.destination = test::addr("239.1.2.3:53");
  how = SendOptions::reply_to(d);
  EXPECT_EQ(how.source.family(), Address::Family::none);
  EXPECT_EQ(how.interface_index, 1u);
  d.destination = test::addr("[ff02::1]:53");
  EXPECT_EQ(SendOptions::reply_to(d).source.family(), Address::Family::none);
  EXPECT_EQ(SendOptions::reply_to(Datagram{}).source.family(), Address::Family::none);
}

std::vector<std::size_t> segment_sizes(std::size_t payload, std::uint16_t stride) {
  std::vector<std::byte> bytes(payload);
  Datagram d;
  d.payload = bytes;
  d.segment_size = stride;
  std::vector<std::size_t> sizes;
  const std::byte* expected = bytes.data();
  for (std::span<const std::byte> s : segments(d)) {
    EXPECT_EQ(s.data(), expected);  // consecutive, no gaps
    expected += s.size();
    sizes.push_back(s.size());
  }
  EXPECT_EQ(sizes.size(), segments(d).size());
  return sizes;
}

TEST(Segments, CutsAtTheStrideWithAShortLast) {
  EXPECT_EQ(segment_sizes(3000, 1000), (std::vector<std::size_t>{1000, 1000, 1000}));
  EXPECT_EQ(segment_sizes(2500, 1000), (std::vector<std::size_t>{1000, 1000, 500}));
  EXPECT_EQ(segment_sizes(1, 1000), (std::vector<std::size_t>{1}));
  EXPECT_EQ(segment_sizes(1200, 0), (std::vector<std::size_t>{1200}));  // not GRO: one datagram
  EXPECT_EQ(segment_sizes(0, 0), (std::vector<std::size_t>{0}));        // an empty datagram is one
  EXPECT_EQ(segment_sizes(64 * 1024 - 1, 1), std::vector<std::size_t>(64 * 1024 - 1, 1));
}

}  // namespace
}  // namespace salvo::detail
