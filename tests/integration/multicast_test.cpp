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

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <optional>
#include <stdexcept>
#include <thread>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

class Multicast : public SmallPoolPerBackend {};

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

// Runs `command` through the shell from the calling thread (so in its network namespace: the child
// inherits the thread's). Returns "" or the command with what it printed.
std::string run_command(const std::string& command) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return command + ": popen: " + std::strerror(errno);
  std::string out;
  char line[256];
  while (std::fgets(line, sizeof line, p) != nullptr) out += line;
  const int status = ::pclose(p);
  if (status == 0) return "";
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return command + ": " + (out.empty() ? "exit status " + std::to_string(status) : out);
}

// A second multicast-capable interface in the namespace besides lo: the veth pair va <-> vb, up,
// with 10.9.0.1/24 and fd00:9::1/64 (no DAD) on va. The kernel gives va a multicast route
// (ff00::/8, and 224.0.0.0/4 is reachable through va when the socket names it). "" or why not.
std::string add_veth_pair(bool ipv6) {
  for (const char* command : {"ip link add va type veth peer name vb", "ip link set va up", "ip link set vb up",
                              "ip addr add 10.9.0.1/24 dev va"}) {
    if (std::string why = run_command(command); !why.empty()) return why;
  }
  if (ipv6) return run_command("ip -6 addr add fd00:9::1/64 dev va nodad");
  return "";
}

// A plain receiver tied to one interface: SO_BINDTODEVICE, IP(V6)_MULTICAST_ALL off, the group
// joined on that interface only, and a port other receivers may share. IPv6 checks a socket's
// memberships by group only (not by interface), so the device binding is what tells which
// interface a datagram arrived on; for IPv4 the per-interface membership alone would.
class InterfaceReceiver {
 public:
  InterfaceReceiver(bool ipv6, const char* device, std::uint16_t port) {
    fd_ = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    const int one = 1, zero = 0;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    ::setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero);
#ifdef IPV6_MULTICAST_ALL
    if (ipv6) ::setsockopt(fd_, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof zero);
#endif
    if (::setsockopt(fd_, SOL_SOCKET, SO_BINDTODEVICE, device, static_cast<socklen_t>(std::strlen(device))) != 0) {
      throw std::runtime_error(std::string("SO_BINDTODEVICE ") + device + ": " + std::strerror(errno));
    }
    index_ = ::if_nametoindex(device);
    const Address any = ipv6 ? Address::ipv6_any(port) : Address::ipv4_any(port);
    if (::bind(fd_, static_cast<const sockaddr*>(any.sockaddr_data()), any.sockaddr_size()) != 0) {
      throw std::runtime_error(std::string("bind: ") + std::strerror(errno));
    }
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &length);
    port_ = Address::from_sockaddr(&local, length).port();
  }
  ~InterfaceReceiver() { ::close(fd_); }
  InterfaceReceiver(const InterfaceReceiver&) = delete;
  InterfaceReceiver& operator=(const InterfaceReceiver&) = delete;

  std::uint16_t port() const { return port_; }
  void join(const Address& group) {
    group_req req{};
    req.gr_interface = index_;
    std::memcpy(&req.gr_group, group.sockaddr_data(), group.sockaddr_size());
    if (::setsockopt(fd_, group.is_v4() ? IPPROTO_IP : IPPROTO_IPV6, MCAST_JOIN_GROUP, &req, sizeof req) != 0) {
      throw std::runtime_error("join " + group.to_string() + ": " + std::strerror(errno));
    }
  }
  // The sequence number of the next datagram, or nothing within `timeout`.
  std::optional<std::uint64_t> next(milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    std::byte buffer[2048];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n < 0) return std::nullopt;
    return payload_seq(std::span<const std::byte>(buffer, static_cast<std::size_t>(n)));
  }

 private:
  int fd_ = -1;
  unsigned index_ = 0;
  std::uint16_t port_ = 0;
};

// Runs `fn` on the engine's worker 0 (between batches, where transports may be used) and waits for
// it to have run. Sends it queues go out after it returns.
void on_worker(Engine& engine, const std::function<void()>& fn) {
  std::atomic<bool> done{false};
  ASSERT_TRUE(engine.post(0, [&] {
    fn();
    done = true;
  }).ok());
  ASSERT_TRUE(wait_until([&] { return done.load(); }, 5s));
}

// set_multicast_interface on the sending engine picks the interface its multicast leaves by: a
// receiver on lo and one on va, both joined to the group on their own interface only. Each step's
// datagrams are followed by a marker sent out of the other interface (then one out of the same),
// so "the other receiver did not get it" is exact: its next datagram is the marker. `sender_any`
// is the sending engine's address ([::]:0 with an IPv4 group: the dual-stack case).
void check_outgoing_interface(const EngineOptions& options, const Address& group_any, const Address& sender_any) {
  const bool ipv6_group = group_any.is_v6();
  std::string veth_skip;
  const std::string skip = in_namespace(
      [&] {
        veth_skip = add_veth_pair(sender_any.is_v6());
        if (!veth_skip.empty()) return;
        const unsigned lo = ::if_nametoindex("lo");
        const unsigned va = ::if_nametoindex("va");
        ASSERT_NE(lo, 0u);
        ASSERT_NE(va, 0u);
        InterfaceReceiver on_lo(ipv6_group, "lo", 0);
        InterfaceReceiver on_va(ipv6_group, "va", on_lo.port());
        const Address group = group_any.with_port(on_lo.port());
        on_lo.join(group);
        on_va.join(group);

        Transport* sender = nullptr;
        Recorder sender_seen;
        Hooks h;
        h.on_start = [&](Transport& t) { sender = &t; };
        auto engine = make_engine(options);
        must_listen(*engine, sender_any, recording_factory(sender_seen, h));
        must_start(*engine);
        ASSERT_TRUE(wait_until([&] { return sender != nullptr; }, 5s));

        // Sets the interface, then queues `seqs` to the group (they go out after the hook).
        auto send_via = [&](const NetworkInterface& where, std::initializer_list<std::uint64_t> seqs) {
          on_worker(*engine, [&] {
            if (auto r = sender->set_multicast_interface(where); !r) {
              ADD_FAILURE() << "set_multicast_interface(" << where.name << "/" << where.index << "): " << r.error().message;
            }
            for (std::uint64_t seq : seqs) {
              if (sender->send(make_payload(seq, 24), group) != SendResult::queued) ADD_FAILURE() << "send " << seq;
            }
          });
        };
        auto expect_next = [](InterfaceReceiver& r, std::uint64_t seq, const char* who) {
          auto got = r.next(5s);
          ASSERT_TRUE(got.has_value()) << who << " got nothing; expected " << seq;
          EXPECT_EQ(*got, seq) << who;
        };

        // By name: out of va.
        send_via(NetworkInterface::named("va"), {0, 1, 2, 3, 4});
        for (std::uint64_t i = 0; i < 5; ++i) expect_next(on_va, i, "the va receiver");
        send_via(NetworkInterface::with_index(lo), {1000});
        expect_next(on_lo, 1000, "the lo receiver (datagrams sent out of va reached it)");
        send_via(NetworkInterface::named("va"), {1001});
        expect_next(on_va, 1001, "the va receiver (the marker sent out of lo reached it)");

        // By index: out of lo.
        send_via(NetworkInterface::with_index(lo), {10, 11, 12, 13, 14});
        for (std::uint64_t i = 10; i < 15; ++i) expect_next(on_lo, i, "the lo receiver");
        send_via(NetworkInterface::with_index(va), {1002});
        expect_next(on_va, 1002, "the va receiver (datagrams sent out of lo reached it)");
        send_via(NetworkInterface::named("lo"), {1003});
        expect_next(on_lo, 1003, "the lo receiver (the marker sent out of va reached it)");

        // Errors: an unknown name is named in the message; an index no interface has is refused.
        on_worker(*engine, [&] {
          auto unknown = sender->set_multicast_interface(NetworkInterface::named("nosuchif0"));
          EXPECT_FALSE(unknown.ok());
          if (!unknown) {
            EXPECT_NE(unknown.error().message.find("nosuchif0"), std::string::npos) << unknown.error().message;
          }
          EXPECT_FALSE(sender->set_multicast_interface(NetworkInterface::with_index(999999)).ok());
        });
        // The refused calls left the interface as it was (lo): a datagram still goes out of lo.
        on_worker(*engine, [&] {
          if (sender->send(make_payload(20, 24), group) != SendResult::queued) ADD_FAILURE() << "send 20";
        });
        expect_next(on_lo, 20, "the lo receiver after the refused changes");
        stop_and_wait(*engine);
        EXPECT_FALSE(on_va.next(milliseconds(0)).has_value()) << "the va receiver got a datagram sent out of lo";
      },
      sender_any.is_v6());
  if (!skip.empty()) GTEST_SKIP() << "cannot make a multicast network namespace: " << skip;
  if (!veth_skip.empty()) GTEST_SKIP() << "cannot add a veth pair to the namespace: " << veth_skip;
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

TEST_P(Multicast, OutgoingInterfaceByNameAndIndexIpv4) {
  check_outgoing_interface(options(), addr("239.255.30.1:0"), addr("0.0.0.0:0"));
}

TEST_P(Multicast, OutgoingInterfaceByNameAndIndexIpv6) {
  check_outgoing_interface(options(), addr("[ff15::30:1]:0"), addr("[::]:0"));
}

// A dual-stack socket ([::]) sending to an IPv4 group: the kernel takes the interface from
// IP_MULTICAST_IF there, so set_multicast_interface must set it as well as IPV6_MULTICAST_IF.
TEST_P(Multicast, OutgoingInterfaceOfADualStackSocketSendingIpv4) {
  check_outgoing_interface(options(), addr("239.255.30.2:0"), addr("[::]:0"));
}

// leave_source_group after join_source_group: the listener is also joined (any source) to a marker
// group, and each sender follows its data with a marker, so when both markers are in, everything
// that was going to arrive has: what did not arrive, exactly, was filtered.
void check_source_leave(const EngineOptions& options, const Address& group_any, const Address& marker_any,
                        const Address& listen_on, const Address& wanted_at, const Address& other_at, bool ipv6,
                        const char* extra_address) {
  std::string setup_skip;
  const std::string skip = in_namespace(
      [&] {
        if (extra_address != nullptr) {
          setup_skip = run_command(extra_address);
          if (!setup_skip.empty()) return;
        }
        UdpSocket wanted(wanted_at);
        UdpSocket other(other_at);
        Recorder seen;
        Transport* member = nullptr;
        std::atomic<int> joined{-1};
        Hooks h;
        h.on_start = [&](Transport& t) {
          member = &t;
          auto r = t.join_source_group(group_any, wanted.local().with_port(0), NetworkInterface::named("lo"));
          if (!r) ADD_FAILURE() << r.error().message;
          auto m = t.join_group(marker_any, NetworkInterface::named("lo"));
          if (!m) ADD_FAILURE() << m.error().message;
          joined = r && m ? 1 : 0;
        };
        auto engine = make_engine(options);
        const Address bound = must_listen(*engine, listen_on, recording_factory(seen, h));
        must_start(*engine);
        ASSERT_TRUE(wait_until([&] { return joined.load() != -1; }, 5s));
        ASSERT_EQ(joined.load(), 1);
        const Address to = group_any.with_port(bound.port());
        const Address to_marker = marker_any.with_port(bound.port());

        // Joined: only `wanted` gets through.
        for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(other.send_to(make_payload(100 + i, 16), to));
        ASSERT_TRUE(other.send_to(make_payload(1000, 16), to_marker));
        for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(wanted.send_to(make_payload(i, 16), to));
        ASSERT_TRUE(wanted.send_to(make_payload(1001, 16), to_marker));
        ASSERT_TRUE(seen.wait_for_datagrams(5, 5s)) << seen.datagram_count();

        std::atomic<int> left{-1};
        std::string leave_error;
        ASSERT_TRUE(engine->post(0, [&] {
          auto r = member->leave_source_group(group_any, wanted.local().with_port(0), NetworkInterface::named("lo"));
          if (!r) leave_error = r.error().message;
          left = r ? 1 : 0;
        }).ok());
        ASSERT_TRUE(wait_until([&] { return left.load() != -1; }, 5s));
        ASSERT_EQ(left.load(), 1) << leave_error;

        // Left: nothing from either source; the markers still come.
        for (std::uint64_t i = 3; i < 6; ++i) ASSERT_TRUE(wanted.send_to(make_payload(i, 16), to));
        ASSERT_TRUE(wanted.send_to(make_payload(1002, 16), to_marker));
        for (std::uint64_t i = 103; i < 106; ++i) ASSERT_TRUE(other.send_to(make_payload(i, 16), to));
        ASSERT_TRUE(other.send_to(make_payload(1003, 16), to_marker));
        ASSERT_TRUE(seen.wait_for_datagrams(7, 5s)) << seen.datagram_count();
        stop_and_wait(*engine);

        std::vector<std::uint64_t> data, markers;
        for (const Received& r : seen.datagrams()) {
          const std::uint64_t seq = payload_seq(r.payload);
          (seq >= 1000 ? markers : data).push_back(seq);
          if (seq < 1000) {
            EXPECT_EQ(r.peer, wanted.local()) << "seq " << seq;
          }
        }
        EXPECT_EQ(data, (std::vector<std::uint64_t>{0, 1, 2})) << "only `wanted`, and only before leaving";
        std::sort(markers.begin(), markers.end());
        EXPECT_EQ(markers, (std::vector<std::uint64_t>{1000, 1001, 1002, 1003}));
        EXPECT_EQ(engine->counters().received, 7u);
      },
      ipv6);
  if (!skip.empty()) GTEST_SKIP() << "cannot make a multicast network namespace: " << skip;
  if (!setup_skip.empty()) GTEST_SKIP() << "cannot add a second IPv6 source address: " << setup_skip;
}

TEST_P(Multicast, LeaveSourceGroupStopsThatSource) {
  check_source_leave(options(), addr("232.1.2.4:0"), addr("239.255.30.3:0"), addr("0.0.0.0:0"), addr("127.0.0.1:0"),
                     addr("127.0.0.2:0"), false, nullptr);
}

TEST_P(Multicast, Ipv6SourceSpecificJoinAndLeave) {
  // Two IPv6 sources on lo: ::1 and fd00:5::2 (added without DAD).
  check_source_leave(options(), addr("[ff3e::8000:1]:0"), addr("[ff15::30:3]:0"), addr("[::]:0"), addr("[::1]:0"),
                     addr("[fd00:5::2]:0"), true, "ip -6 addr add fd00:5::2/128 dev lo nodad");
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
