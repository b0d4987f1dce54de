// Multicast, listen-multiple and socket adoption, for every backend. Multicast delivery needs an
// interface with multicast routing, which a host's loopback usually lacks: those tests run in a
// network namespace the test makes (loopback up with IFF_MULTICAST and a 224.0.0.0/4 route), on a
// thread that entered it, and skip with the reason when one cannot be made (not root, no
// CAP_SYS_ADMIN). IPv6 multicast adds a local ff00::/8 route through loopback there.
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <thread>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

class Multicast : public testing::TestWithParam<BackendKind> {
 protected:
  EngineOptions options() const {
    EngineOptions o;
    o.backend = GetParam();
    o.buffer_count = 64;
    return o;
  }
};

// Moves the calling thread into a new network namespace with loopback up, multicast on, and a
// route for 224.0.0.0/4 through it. Returns "" or why it could not.
std::string enter_multicast_namespace() {
  if (::unshare(CLONE_NEWNET) != 0) return std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) return std::string("SIOCGIFFLAGS lo: ") + std::strerror(errno);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_MULTICAST);
  if (::ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) return std::string("SIOCSIFFLAGS lo: ") + std::strerror(errno);
  rtentry route{};
  auto* dst = reinterpret_cast<sockaddr_in*>(&route.rt_dst);
  dst->sin_family = AF_INET;
  dst->sin_addr.s_addr = htonl(0xe0000000);  // 224.0.0.0
  auto* mask = reinterpret_cast<sockaddr_in*>(&route.rt_genmask);
  mask->sin_family = AF_INET;
  mask->sin_addr.s_addr = htonl(0xf0000000);  // /4
  route.rt_flags = RTF_UP;
  char device[] = "lo";
  route.rt_dev = device;
  if (::ioctl(fd, SIOCADDRT, &route) != 0) return std::string("route 224.0.0.0/4 dev lo: ") + std::strerror(errno);
  ::close(fd);
  return "";
}

// IPv6 multicast in the namespace: loopback gets ::1 when it comes up (unless IPv6 is disabled),
// but no multicast route (the kernel adds ff00::/8 to every interface except loopback). A plain
// route through lo will not do: IPv6 turns routes via loopback into reject routes (sends fail with
// ENETUNREACH, counted as Ip6OutNoRoutes). A route of type local does work, as
// `ip -6 route add local ff00::/8 dev lo`: the datagram loops back through lo and UDP delivers it
// to the sockets whose membership lists hold the group (so leaving still stops it).
// Returns "" or why it could not.
std::string add_ipv6_multicast_route() {
  const int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket(AF_INET6): ") + std::strerror(errno);
  in6_rtmsg route{};
  route.rtmsg_dst.s6_addr[0] = 0xff;  // ff00::/8
  route.rtmsg_dst_len = 8;
  route.rtmsg_metric = 1;
  route.rtmsg_type = 2;  // RTN_LOCAL (<linux/rtnetlink.h>)
  route.rtmsg_flags = RTF_UP | RTF_LOCAL;
  route.rtmsg_ifindex = static_cast<int>(::if_nametoindex("lo"));
  std::string why;
  if (route.rtmsg_ifindex == 0) {
    why = "no interface lo";
  } else if (::ioctl(fd, SIOCADDRT, &route) != 0) {
    why = std::string("route local ff00::/8 dev lo: ") + std::strerror(errno);
  }
  ::close(fd);
  if (!why.empty()) return why;
  // ::1 must be there to send from.
  const int probe = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 loopback{};
  loopback.sin6_family = AF_INET6;
  loopback.sin6_addr = in6addr_loopback;
  if (::bind(probe, reinterpret_cast<sockaddr*>(&loopback), sizeof loopback) != 0) {
    why = std::string("bind [::1]:0 in the namespace: ") + std::strerror(errno);
  }
  ::close(probe);
  return why;
}

// Runs `body` on a thread inside a fresh multicast-capable namespace (IPv6 multicast too when
// `ipv6`); returns the skip reason or "".
std::string in_namespace(const std::function<void()>& body, bool ipv6 = false) {
  std::promise<std::string> entered;
  auto result = entered.get_future();
  std::thread t([&] {
    std::string why = enter_multicast_namespace();
    if (why.empty() && ipv6) why = add_ipv6_multicast_route();
    entered.set_value(why);
    if (why.empty()) body();
  });
  t.join();
  return result.get();
}

TEST_P(Multicast, EveryJoinedListenerGetsACopyAndLeavingStopsIt) {
  const Address group = addr("239.255.10.20:0");
  const std::string skip = in_namespace([&] {
    Recorder a_seen;
    Recorder b_seen;
    std::atomic<int> joins{0};
    std::vector<Transport*> transports(2, nullptr);
    auto joiner = [&](Recorder& r, int which) {
      Hooks h;
      h.on_start = [&, which](Transport& t) {
        transports[which] = &t;
        if (t.join_group(group, NetworkInterface::named("lo")).ok()) ++joins;
      };
      return recording_factory(r, h);
    };
    auto a = make_engine(options());
    auto b = make_engine(options());
    const Engine::ListenOptions shared{true};
    auto bound = a->listen(addr("0.0.0.0:0"), joiner(a_seen, 0), shared);
    ASSERT_TRUE(bound.ok()) << bound.error().message;
    // The second listener on the same port: only listen_multiple makes this possible.
    auto refused = make_engine(options())->listen(addr("0.0.0.0:0").with_port(bound->port()), recording_factory(b_seen));
    EXPECT_FALSE(refused.ok()) << "a plain listen on a shared port must fail";
    auto bound_b = b->listen(addr("0.0.0.0:0").with_port(bound->port()), joiner(b_seen, 1), shared);
    ASSERT_TRUE(bound_b.ok()) << bound_b.error().message;
    must_start(*a);
    must_start(*b);
    ASSERT_TRUE(wait_until([&] { return joins.load() == 2; }, 5s)) << "joins: " << joins.load();

    UdpSocket sender(addr("127.0.0.1:0"));
    const Address to = group.with_port(bound->port());
    for (std::uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(sender.send_to(make_payload(i, 30), to));
    ASSERT_TRUE(a_seen.wait_for_datagrams(10, 5s));
    ASSERT_TRUE(b_seen.wait_for_datagrams(10, 5s));
    for (const Received& r : a_seen.datagrams()) EXPECT_EQ(r.peer, sender.local());

    // b leaves (from its worker thread); only a keeps receiving.
    std::atomic<bool> left{false};
    ASSERT_TRUE(b->post(0, [&] { left = transports[1]->leave_group(group, NetworkInterface::named("lo")).ok(); }).ok());
    ASSERT_TRUE(wait_until([&] { return left.load(); }, 5s));
    for (std::uint64_t i = 10; i < 20; ++i) ASSERT_TRUE(sender.send_to(make_payload(i, 30), to));
    ASSERT_TRUE(a_seen.wait_for_datagrams(20, 5s));
    // A datagram b would have got by now had it still been a member (a already has all of them).
    EXPECT_FALSE(b_seen.wait_for_datagrams(11, std::chrono::milliseconds(200)));
    stop_and_wait(*a);
    stop_and_wait(*b);
    EXPECT_EQ(a->counters().received, 20u);
    EXPECT_EQ(b->counters().received, 10u);
  });
  if (!skip.empty()) GTEST_SKIP() << "cannot make a multicast network namespace: " << skip;
}

TEST_P(Multicast, SourceSpecificJoinTakesOnlyThatSource) {
  const Address group = addr("232.1.2.3:0");  // the SSM range
  const std::string skip = in_namespace([&] {
    UdpSocket wanted(addr("127.0.0.1:0"));
    UdpSocket other(addr("127.0.0.2:0"));
    Recorder seen;
    std::atomic<int> joined{-1};
    Hooks h;
    h.on_start = [&](Transport& t) {
      auto r = t.join_source_group(group, wanted.local().with_port(0), NetworkInterface::named("lo"));
      joined = r.ok() ? 1 : 0;
      if (!r) ADD_FAILURE() << r.error().message;
    };
    auto engine = make_engine(options());
    const Address bound = must_listen(*engine, addr("0.0.0.0:0"), recording_factory(seen, h));
    must_start(*engine);
    ASSERT_TRUE(wait_until([&] { return joined.load() != -1; }, 5s));
    ASSERT_EQ(joined.load(), 1);
    const Address to = group.with_port(bound.port());
    for (std::uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(other.send_to(make_payload(i, 16), to));
    for (std::uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(wanted.send_to(make_payload(100 + i, 16), to));
    ASSERT_TRUE(seen.wait_for_datagrams(5, 5s));
    stop_and_wait(*engine);
    EXPECT_EQ(engine->counters().received, 5u);
    for (const Received& r : seen.datagrams()) EXPECT_EQ(r.peer, wanted.local());
  });
  if (!skip.empty()) GTEST_SKIP() << "cannot make a multicast network namespace: " << skip;
}

// IPv6: a listener joined to a data group and a marker group, and a second listener on the same
// port joined to the marker group only. A datagram to the marker group goes after the data, so when
// a listener has the marker, every data datagram that was going to reach it has (one socket's
// queue is in order): non-delivery is checked without waiting for something not to happen.
TEST_P(Multicast, Ipv6JoinDeliversLeaveStopsAndOptionsReadBack) {
  const Address group = addr("[ff15::1:2]:0");
  const Address marker = addr("[ff15::1:3]:0");
  const std::string skip = in_namespace(
      [&] {
        struct Seen {
          int ttl = 0;
          bool loop_off = true, loop_on = false;
          std::string failure;
        } seen;
        Recorder member_seen;
        Recorder marker_only_seen;
        std::atomic<int> ready{0};
        Transport* member = nullptr;
        Hooks member_hooks;
        member_hooks.on_start = [&](Transport& t) {
          member = &t;
          auto fail = [&](const Result<void>& r) {
            if (!r && seen.failure.empty()) seen.failure = r.error().message;
          };
          fail(t.set_multicast_ttl(3));
          if (auto ttl = t.multicast_ttl(); ttl) seen.ttl = *ttl;
          fail(t.set_multicast_loopback(false));
          if (auto loop = t.multicast_loopback(); loop) seen.loop_off = *loop;
          fail(t.set_multicast_loopback(true));
          if (auto loop = t.multicast_loopback(); loop) seen.loop_on = *loop;
          fail(t.join_group(group, NetworkInterface::named("lo")));
          fail(t.join_group(marker, NetworkInterface::named("lo")));
          ++ready;
        };
        Hooks marker_hooks;
        marker_hooks.on_start = [&](Transport& t) {
          if (auto r = t.join_group(marker, NetworkInterface::named("lo")); !r) ADD_FAILURE() << r.error().message;
          ++ready;
        };
        auto a = make_engine(options());
        auto b = make_engine(options());
        const Engine::ListenOptions shared{true};
        auto bound = a->listen(addr("[::]:0"), recording_factory(member_seen, member_hooks), shared);
        ASSERT_TRUE(bound.ok()) << bound.error().message;
        auto bound_b = b->listen(addr("[::]:0").with_port(bound->port()), recording_factory(marker_only_seen, marker_hooks),
                                 shared);
        ASSERT_TRUE(bound_b.ok()) << bound_b.error().message;
        must_start(*a);
        must_start(*b);
        ASSERT_TRUE(wait_until([&] { return ready.load() == 2; }, 5s));
        EXPECT_EQ(seen.failure, "");
        EXPECT_EQ(seen.ttl, 3) << "IPV6_MULTICAST_HOPS reads back as set";
        EXPECT_FALSE(seen.loop_off);
        EXPECT_TRUE(seen.loop_on);

        UdpSocket sender(addr("[::1]:0"));
        const Address to = group.with_port(bound->port());
        const Address to_marker = marker.with_port(bound->port());
        for (std::uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(sender.send_to(make_payload(i, 30), to));
        ASSERT_TRUE(sender.send_to(make_payload(1000, 30), to_marker));
        ASSERT_TRUE(member_seen.wait_for_datagrams(11, 5s)) << member_seen.datagram_count();
        ASSERT_TRUE(marker_only_seen.wait_for_datagrams(1, 5s));
        auto got = member_seen.datagrams();
        for (std::uint64_t i = 0; i < 10; ++i) {
          EXPECT_EQ(payload_seq(got[i].payload), i);
          EXPECT_EQ(got[i].peer, sender.local());
        }
        EXPECT_EQ(payload_seq(got[10].payload), 1000u);
        auto marker_got = marker_only_seen.datagrams();
        ASSERT_EQ(marker_got.size(), 1u) << "a listener that did not join the group got its datagrams";
        EXPECT_EQ(payload_seq(marker_got[0].payload), 1000u);

        // The member leaves the data group (on its worker thread); the marker still reaches it.
        std::atomic<int> left{-1};
        ASSERT_TRUE(a->post(0, [&] { left = member->leave_group(group, NetworkInterface::named("lo")).ok() ? 1 : 0; }).ok());
        ASSERT_TRUE(wait_until([&] { return left.load() != -1; }, 5s));
        ASSERT_EQ(left.load(), 1);
        for (std::uint64_t i = 10; i < 20; ++i) ASSERT_TRUE(sender.send_to(make_payload(i, 30), to));
        ASSERT_TRUE(sender.send_to(make_payload(1001, 30), to_marker));
        ASSERT_TRUE(member_seen.wait_for_datagrams(12, 5s));
        ASSERT_TRUE(marker_only_seen.wait_for_datagrams(2, 5s));
        stop_and_wait(*a);
        stop_and_wait(*b);
        got = member_seen.datagrams();
        ASSERT_EQ(got.size(), 12u) << "datagrams arrived after leaving the group";
        EXPECT_EQ(payload_seq(got[11].payload), 1001u);
        EXPECT_EQ(a->counters().received, 12u);
        EXPECT_EQ(b->counters().received, 2u);
      },
      true);
  if (!skip.empty()) GTEST_SKIP() << "cannot make an IPv6 multicast network namespace: " << skip;
}

TEST_P(Multicast, Ipv6JoinByInterfaceIndexAndOnEveryInterface) {
  const Address group = addr("[ff15::1:4]:0");
  const std::string skip = in_namespace(
      [&] {
        Recorder by_index_seen;
        Recorder everywhere_seen;
        std::atomic<int> joins{0};
        std::atomic<int> failures{0};
        const unsigned lo = ::if_nametoindex("lo");
        ASSERT_NE(lo, 0u);
        Transport* by_index = nullptr;
        Hooks index_hooks;
        index_hooks.on_start = [&](Transport& t) {
          by_index = &t;
          auto r = t.join_group(group, NetworkInterface::with_index(lo));
          if (!r) {
            ++failures;
            ADD_FAILURE() << r.error().message;
          }
          ++joins;
        };
        Hooks every_hooks;
        every_hooks.on_start = [&](Transport& t) {
          auto r = t.join_group(group, every_interface);
          if (!r) {
            ++failures;
            ADD_FAILURE() << r.error().message;
          }
          ++joins;
        };
        auto a = make_engine(options());
        auto b = make_engine(options());
        const Engine::ListenOptions shared{true};
        auto bound = a->listen(addr("[::]:0"), recording_factory(by_index_seen, index_hooks), shared);
        ASSERT_TRUE(bound.ok()) << bound.error().message;
        auto bound_b =
            b->listen(addr("[::]:0").with_port(bound->port()), recording_factory(everywhere_seen, every_hooks), shared);
        ASSERT_TRUE(bound_b.ok()) << bound_b.error().message;
        must_start(*a);
        must_start(*b);
        ASSERT_TRUE(wait_until([&] { return joins.load() == 2; }, 5s));
        ASSERT_EQ(failures.load(), 0);
        UdpSocket sender(addr("[::1]:0"));
        const Address to = group.with_port(bound->port());
        for (std::uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(sender.send_to(make_payload(i, 20), to));
        ASSERT_TRUE(by_index_seen.wait_for_datagrams(5, 5s)) << by_index_seen.datagram_count();
        ASSERT_TRUE(everywhere_seen.wait_for_datagrams(5, 5s)) << everywhere_seen.datagram_count();
        for (const Received& r : everywhere_seen.datagrams()) EXPECT_EQ(r.peer, sender.local());
        // Leaving by the same index works.
        std::atomic<int> left{-1};
        ASSERT_TRUE(a->post(0, [&] { left = by_index->leave_group(group, NetworkInterface::with_index(lo)).ok() ? 1 : 0; }).ok());
        ASSERT_TRUE(wait_until([&] { return left.load() != -1; }, 5s));
        EXPECT_EQ(left.load(), 1);
        stop_and_wait(*a);
        stop_and_wait(*b);
        EXPECT_EQ(a->counters().received, 5u);
        EXPECT_EQ(b->counters().received, 5u);
      },
      true);
  if (!skip.empty()) GTEST_SKIP() << "cannot make an IPv6 multicast network namespace: " << skip;
}

TEST_P(Multicast, AdoptedSocketIsServedAndBadOnesAreRefused) {
  // A socket bound elsewhere (as systemd would pass it) is served as it is.
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
  Recorder recorder;
  auto engine = make_engine(options());
  auto adopted = engine->adopt(fd, echo_factory(recorder));
  ASSERT_TRUE(adopted.ok()) << adopted.error().message;
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  for (std::uint64_t i = 0; i < 20; ++i) {
    ASSERT_TRUE(client.send_to(make_payload(i, 32), *adopted));
    auto m = client.receive(2s);
    ASSERT_TRUE(m.has_value()) << i;
    EXPECT_EQ(m->payload, make_payload(i, 32));
  }
  stop_and_wait(*engine);
  EXPECT_EQ(engine->counters().received, 20u);

  auto fresh = make_engine(options());
  const int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
  auto r1 = fresh->adopt(tcp, echo_factory(recorder));
  ASSERT_FALSE(r1.ok());
  EXPECT_NE(r1.error().message.find("not a datagram socket"), std::string::npos) << r1.error().message;
  const int unbound = ::socket(AF_INET, SOCK_DGRAM, 0);
  auto r2 = fresh->adopt(unbound, echo_factory(recorder));
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message.find("not bound"), std::string::npos) << r2.error().message;
  auto r3 = fresh->adopt(-1, echo_factory(recorder));
  ASSERT_FALSE(r3.ok());
  // The engine owns what it was given, accepted or not: both descriptors are closed.
  EXPECT_EQ(::fcntl(tcp, F_GETFD), -1);
  EXPECT_EQ(::fcntl(unbound, F_GETFD), -1);
}

INSTANTIATE_TEST_SUITE_P(Backends, Multicast, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
