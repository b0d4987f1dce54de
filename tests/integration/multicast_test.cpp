// Multicast, listen-multiple and socket adoption, for every backend. Multicast delivery needs an
// interface with multicast routing, which a host's loopback usually lacks: those tests run in a
// network namespace the test makes (loopback up with IFF_MULTICAST and a 224.0.0.0/4 route), on a
// thread that entered it, and skip with the reason when one cannot be made (not root, no
// CAP_SYS_ADMIN).
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

// Runs `body` on a thread inside a fresh multicast-capable namespace; returns the skip reason or "".
std::string in_namespace(const std::function<void()>& body) {
  std::promise<std::string> entered;
  auto result = entered.get_future();
  std::thread t([&] {
    const std::string why = enter_multicast_namespace();
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
