// Per-socket options given to Engine::listen (ListenOptions::socket), for every backend: each
// option read back with getsockopt on Transport::native_handle() from on_start; values salvo or the
// kernel refuses fail listen() with an error naming the option, the value and the address; and
// Transport::path_mtu() on loopback (lo's MTU when connected, invalid_state when not).
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

using PathMtuDiscovery = SocketOptions::PathMtuDiscovery;

class ListenSocketOptions : public SmallPoolPerBackend {};

int read_option(int fd, int level, int name) {
  int value = -12345;
  socklen_t length = sizeof value;
  if (::getsockopt(fd, level, name, &value, &length) != 0) {
    ADD_FAILURE() << "getsockopt " << level << "/" << name << ": " << std::strerror(errno);
  }
  return value;
}

std::string bound_device(int fd) {
  char name[IFNAMSIZ] = {};
  socklen_t length = sizeof name;
  if (::getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, &length) != 0) {
    ADD_FAILURE() << "getsockopt SO_BINDTODEVICE: " << std::strerror(errno);
    return {};
  }
  return std::string(name, ::strnlen(name, length));
}

// An integer from a /proc/sys or /sys file (net.core.rmem_max, lo's MTU); -1 when it cannot be read.
long read_number(const char* path) {
  std::ifstream in(path);
  long value = -1;
  if (!(in >> value)) return -1;
  return value;
}

Engine::ListenOptions with(const SocketOptions& socket) {
  Engine::ListenOptions how;
  how.socket = socket;
  return how;
}

// Listens on `address` with `socket`, starts the engine, runs `probe` on the socket's Transport in
// on_start (on the worker thread) and stops. Returns the bound address.
Address probe_socket(const EngineOptions& options, const Address& address, const SocketOptions& socket,
                     const std::function<void(Transport&)>& probe) {
  Recorder recorder;
  std::atomic<bool> probed{false};
  auto engine = make_engine(options);
  Hooks hooks;
  hooks.on_start = [&](Transport& t) {
    probe(t);
    probed = true;
  };
  auto bound = engine->listen(address, recording_factory(recorder, hooks), with(socket));
  if (!bound) {
    ADD_FAILURE() << "listen on " << address.to_string() << ": " << bound.error().message;
    return {};
  }
  must_start(*engine);
  EXPECT_TRUE(wait_until([&] { return probed.load(); }, 5s)) << "on_start did not run";
  stop_and_wait(*engine);
  return *bound;
}

// The error listen() gives for `address` with `socket` (a failed expectation when it succeeds).
Error listen_error(const EngineOptions& options, const Address& address, const SocketOptions& socket) {
  Recorder recorder;
  auto engine = make_engine(options);
  auto bound = engine->listen(address, recording_factory(recorder), with(socket));
  if (bound) {
    ADD_FAILURE() << "listen on " << address.to_string() << " succeeded, bound to " << bound->to_string();
    return Error::make(Errc::invalid_state, "no error");
  }
  return bound.error();
}

std::error_code os_error(int err) { return std::error_code(err, std::system_category()); }

TEST_P(ListenSocketOptions, DefaultsLeaveEveryOptionAsAPlainSocketHasIt) {
  UdpSocket plain(addr("127.0.0.1:0"));
  const int plain_pmtu = read_option(plain.fd(), IPPROTO_IP, IP_MTU_DISCOVER);
  const int plain_rcvbuf = read_option(plain.fd(), SOL_SOCKET, SO_RCVBUF);
  const int plain_sndbuf = read_option(plain.fd(), SOL_SOCKET, SO_SNDBUF);
  std::atomic<int> checked{0};
  const Address bound = probe_socket(options(), addr("127.0.0.1:0"), SocketOptions{}, [&](Transport& t) {
    const int fd = t.native_handle();
    ASSERT_GE(fd, 0);
    sockaddr_in6 name{};
    socklen_t length = sizeof name;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&name), &length), 0);
    EXPECT_EQ(Address::from_sockaddr(&name, length), t.local_address()) << "native_handle() is another socket";
    EXPECT_EQ(read_option(fd, IPPROTO_IP, IP_MTU_DISCOVER), plain_pmtu);
    EXPECT_EQ(read_option(fd, SOL_SOCKET, SO_RCVBUF), plain_rcvbuf);
    EXPECT_EQ(read_option(fd, SOL_SOCKET, SO_SNDBUF), plain_sndbuf);
    EXPECT_EQ(read_option(fd, IPPROTO_IP, IP_TOS), 0);
    EXPECT_EQ(read_option(fd, SOL_SOCKET, SO_MARK), 0);
    EXPECT_EQ(read_option(fd, SOL_SOCKET, SO_REUSEADDR), 0);
    EXPECT_EQ(read_option(fd, SOL_SOCKET, SO_REUSEPORT), 0);
    EXPECT_EQ(read_option(fd, IPPROTO_IP, IP_FREEBIND), 0);
    EXPECT_EQ(bound_device(fd), "");
    ++checked;
  });
  EXPECT_EQ(bound.ip_string(), "127.0.0.1");
  EXPECT_EQ(checked.load(), 1);
}

TEST_P(ListenSocketOptions, PathMtuDiscoveryModesAreSetOnTheSocketsLevels) {
  const struct {
    PathMtuDiscovery mode;
    int expected;
  } cases[] = {{PathMtuDiscovery::dont_fragment, IP_PMTUDISC_DO},
               {PathMtuDiscovery::probe, IP_PMTUDISC_PROBE},
               {PathMtuDiscovery::allow_fragments, IP_PMTUDISC_DONT}};
  for (const auto& c : cases) {
    SocketOptions socket;
    socket.path_mtu_discovery = c.mode;
    std::atomic<int> v4{-1};
    probe_socket(options(), addr("127.0.0.1:0"), socket,
                 [&](Transport& t) { v4 = read_option(t.native_handle(), IPPROTO_IP, IP_MTU_DISCOVER); });
    EXPECT_EQ(v4.load(), c.expected) << "mode " << static_cast<int>(c.mode);
  }
  SALVO_REQUIRE_IPV6();
  for (const auto& c : cases) {
    SocketOptions socket;
    socket.path_mtu_discovery = c.mode;
    std::atomic<int> v6{-1};
    std::atomic<int> v4{-1};
    // A dual-stack socket: the IPv4 level serves its v4-mapped peers and is set too.
    probe_socket(options(), addr("[::]:0"), socket, [&](Transport& t) {
      v6 = read_option(t.native_handle(), IPPROTO_IPV6, IPV6_MTU_DISCOVER);
      v4 = read_option(t.native_handle(), IPPROTO_IP, IP_MTU_DISCOVER);
    });
    EXPECT_EQ(v6.load(), c.expected) << "mode " << static_cast<int>(c.mode);
    EXPECT_EQ(v4.load(), c.expected) << "mode " << static_cast<int>(c.mode);
  }
}

TEST_P(ListenSocketOptions, Ipv6OnlyIsSetBeforeBindAndRefusedOnIpv4) {
  const Error v4 = listen_error(options(), addr("127.0.0.1:0"), SocketOptions{.ipv6_only = true});
  EXPECT_EQ(v4.code, make_error_code(Errc::bad_option));
  EXPECT_EQ(v4.message, "IPV6_V6ONLY 1 on 127.0.0.1:0: only for IPv6 addresses");
  SALVO_REQUIRE_IPV6();
  for (const bool only : {true, false}) {
    std::atomic<int> value{-1};
    SocketOptions socket;
    socket.ipv6_only = only;
    const Address bound = probe_socket(options(), addr("[::]:0"), socket, [&](Transport& t) {
      value = read_option(t.native_handle(), IPPROTO_IPV6, IPV6_V6ONLY);
    });
    EXPECT_EQ(value.load(), only ? 1 : 0);
    ASSERT_NE(bound.port(), 0);
  }
  // Set before bind, it decides the bind: an IPv6-only socket leaves the IPv4 port free. Another
  // program may hold the IPv4 side of the port the kernel picked: then try another port (a dual
  // stack socket would make every try fail).
  SocketOptions only;
  only.ipv6_only = true;
  bool v4_bound = false;
  for (int attempt = 0; attempt < 20 && !v4_bound; ++attempt) {
    Recorder recorder;
    auto engine = make_engine(options());
    auto v6 = engine->listen(addr("[::]:0"), recording_factory(recorder), with(only));
    ASSERT_TRUE(v6.ok()) << v6.error().message;
    try {
      UdpSocket v4_same_port(Address::ipv4_any(v6->port()));
      v4_bound = v4_same_port.local().port() == v6->port();
    } catch (const std::runtime_error&) {
      // in use by someone else: next port
    }
  }
  EXPECT_TRUE(v4_bound) << "an IPv6-only socket held the IPv4 side of its port";
}

TEST_P(ListenSocketOptions, TrafficClassIsEveryDatagramsDefault) {
  SocketOptions socket;
  socket.traffic_class = 0xb8;  // DSCP EF
  std::atomic<int> tos{-1};
  probe_socket(options(), addr("127.0.0.1:0"), socket,
               [&](Transport& t) { tos = read_option(t.native_handle(), IPPROTO_IP, IP_TOS); });
  EXPECT_EQ(tos.load(), 0xb8);

  const Error high = listen_error(options(), addr("127.0.0.1:0"), SocketOptions{.traffic_class = 256});
  EXPECT_EQ(high.code, make_error_code(Errc::bad_option));
  EXPECT_EQ(high.message, "IP_TOS 256 on 127.0.0.1:0: a traffic class is 0..255 (-1: the kernel's)");

  SALVO_REQUIRE_IPV6();
  std::atomic<int> tclass{-1};
  tos = -1;
  probe_socket(options(), addr("[::1]:0"), socket, [&](Transport& t) {
    tclass = read_option(t.native_handle(), IPPROTO_IPV6, IPV6_TCLASS);
    tos = read_option(t.native_handle(), IPPROTO_IP, IP_TOS);
  });
  EXPECT_EQ(tclass.load(), 0xb8);
  EXPECT_EQ(tos.load(), 0xb8) << "the IPv4 level (v4-mapped peers) keeps its own TOS";
  const Error low = listen_error(options(), addr("[::1]:0"), SocketOptions{.traffic_class = -2});
  EXPECT_EQ(low.code, make_error_code(Errc::bad_option));
  EXPECT_EQ(low.message, "IPV6_TCLASS -2 on [::1]:0: a traffic class is 0..255 (-1: the kernel's)");
}

TEST_P(ListenSocketOptions, BufferSizesPerSocketOverTheEngineWideOnes) {
  const long rmem_max = read_number("/proc/sys/net/core/rmem_max");
  const long wmem_max = read_number("/proc/sys/net/core/wmem_max");
  ASSERT_GT(rmem_max, 0);
  ASSERT_GT(wmem_max, 0);
  // What the kernel keeps for a request: capped at the sysctl, then doubled.
  auto kept = [](long asked, long cap) { return static_cast<int>(2 * std::min(asked, cap)); };

  SocketOptions socket;
  socket.receive_buffer = 1 << 20;
  socket.send_buffer = 1 << 19;
  std::atomic<int> rcvbuf{-1};
  std::atomic<int> sndbuf{-1};
  auto read_buffers = [&](Transport& t) {
    rcvbuf = read_option(t.native_handle(), SOL_SOCKET, SO_RCVBUF);
    sndbuf = read_option(t.native_handle(), SOL_SOCKET, SO_SNDBUF);
  };
  probe_socket(options(), addr("127.0.0.1:0"), socket, read_buffers);
  EXPECT_EQ(rcvbuf.load(), kept(1 << 20, rmem_max));
  EXPECT_EQ(sndbuf.load(), kept(1 << 19, wmem_max));

  // Engine-wide sizes apply where the socket leaves its own at 0.
  EngineOptions engine_wide = options();
  engine_wide.socket_receive_buffer = 300000;
  engine_wide.socket_send_buffer = 200000;
  probe_socket(engine_wide, addr("127.0.0.1:0"), SocketOptions{}, read_buffers);
  EXPECT_EQ(rcvbuf.load(), kept(300000, rmem_max));
  EXPECT_EQ(sndbuf.load(), kept(200000, wmem_max));
  probe_socket(engine_wide, addr("127.0.0.1:0"), SocketOptions{.receive_buffer = 1 << 20}, read_buffers);
  EXPECT_EQ(rcvbuf.load(), kept(1 << 20, rmem_max));
  EXPECT_EQ(sndbuf.load(), kept(200000, wmem_max));

  const Error negative = listen_error(options(), addr("127.0.0.1:0"), SocketOptions{.receive_buffer = -1});
  EXPECT_EQ(negative.code, make_error_code(Errc::bad_option));
  EXPECT_EQ(negative.message, "SO_RCVBUF -1 on 127.0.0.1:0: cannot be negative");
}

// Drops CAP_NET_ADMIN and CAP_NET_RAW from the calling thread's effective set; capabilities are
// per thread on Linux, so the rest of the test process keeps them.
bool drop_network_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  data[0].effective &= ~((1u << CAP_NET_ADMIN) | (1u << CAP_NET_RAW));
  return ::syscall(SYS_capset, &header, data) == 0;
}

TEST_P(ListenSocketOptions, MarkIsSetWithTheCapabilityAndNamedWithout) {
  SocketOptions socket;
  socket.mark = 7;
  {
    UdpSocket plain(addr("127.0.0.1:0"));
    const std::uint32_t mark = 7;
    if (::setsockopt(plain.fd(), SOL_SOCKET, SO_MARK, &mark, sizeof mark) == 0) {
      std::atomic<int> value{-1};
      probe_socket(options(), addr("127.0.0.1:0"), socket,
                   [&](Transport& t) { value = read_option(t.native_handle(), SOL_SOCKET, SO_MARK); });
      EXPECT_EQ(value.load(), 7);
    }
  }
  // Without the capability (in a thread that dropped it): the kernel's EPERM, naming the option.
  std::optional<Error> refused;
  std::thread unprivileged([&] {
    if (!drop_network_capabilities()) return;
    refused = listen_error(options(), addr("127.0.0.1:0"), socket);
  });
  unprivileged.join();
  ASSERT_TRUE(refused.has_value()) << "capset refused to drop CAP_NET_ADMIN";
  EXPECT_EQ(refused->code, os_error(EPERM));
  EXPECT_EQ(refused->message, "SO_MARK 7 on 127.0.0.1:0: " + std::string(std::strerror(EPERM)));
}

TEST_P(ListenSocketOptions, BindToDeviceLimitsTheSocketToOneInterface) {
  SocketOptions socket;
  socket.bind_to_device = "lo";
  Recorder recorder;
  std::string device;
  std::mutex mutex;
  auto engine = make_engine(options());
  Hooks hooks;
  hooks.on_start = [&](Transport& t) {
    std::lock_guard lock(mutex);
    device = bound_device(t.native_handle());
  };
  auto bound = engine->listen(addr("127.0.0.1:0"), recording_factory(recorder, hooks), with(socket));
  ASSERT_TRUE(bound.ok()) << bound.error().message;
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  ASSERT_TRUE(client.send_to(make_payload(1, 32), *bound));
  EXPECT_TRUE(recorder.wait_for_datagrams(1, 5s)) << "nothing arrived through lo";
  stop_and_wait(*engine);
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(device, "lo");
  }

  const Error missing = listen_error(options(), addr("127.0.0.1:0"), SocketOptions{.bind_to_device = "salvo-nodev0"});
  EXPECT_EQ(missing.code, os_error(ENODEV));
  EXPECT_EQ(missing.message, "SO_BINDTODEVICE salvo-nodev0 on 127.0.0.1:0: " + std::string(std::strerror(ENODEV)));
  const Error long_name =
      listen_error(options(), addr("127.0.0.1:0"), SocketOptions{.bind_to_device = "a-much-too-long-name"});
  EXPECT_EQ(long_name.code, make_error_code(Errc::bad_option));
  EXPECT_EQ(long_name.message,
            "SO_BINDTODEVICE a-much-too-long-name on 127.0.0.1:0: an interface name has at most 15 characters");
}

TEST_P(ListenSocketOptions, FreebindBindsAnAddressThisHostDoesNotHave) {
  if (read_number("/proc/sys/net/ipv4/ip_nonlocal_bind") != 0) GTEST_SKIP() << "net.ipv4.ip_nonlocal_bind is on";
  // 192.0.2.1 is TEST-NET-1, on no interface of a test machine.
  const Error plain = listen_error(options(), addr("192.0.2.1:0"), SocketOptions{});
  EXPECT_EQ(plain.code, os_error(EADDRNOTAVAIL)) << plain.message;
  SocketOptions socket;
  socket.freebind = true;
  std::atomic<int> value{-1};
  const Address bound = probe_socket(options(), addr("192.0.2.1:0"), socket,
                                     [&](Transport& t) { value = read_option(t.native_handle(), IPPROTO_IP, IP_FREEBIND); });
  EXPECT_EQ(bound.ip_string(), "192.0.2.1");
  EXPECT_NE(bound.port(), 0);
  EXPECT_EQ(value.load(), 1);

  SALVO_REQUIRE_IPV6();
  if (read_number("/proc/sys/net/ipv6/ip_nonlocal_bind") > 0) GTEST_SKIP() << "net.ipv6.ip_nonlocal_bind is on";
  const Error plain6 = listen_error(options(), addr("[2001:db8::1]:0"), SocketOptions{});
  EXPECT_EQ(plain6.code, os_error(EADDRNOTAVAIL)) << plain6.message;
  value = -1;
  const Address bound6 = probe_socket(options(), addr("[2001:db8::1]:0"), socket,
                                      [&](Transport& t) { value = read_option(t.native_handle(), IPPROTO_IPV6, IPV6_FREEBIND); });
  EXPECT_EQ(bound6.ip_string(), "2001:db8::1");
  EXPECT_EQ(value.load(), 1);
}

TEST_P(ListenSocketOptions, ReuseFlagsAreSetAndLetEnginesShareAPort) {
  std::atomic<int> reuseaddr{-1};
  std::atomic<int> reuseport{-1};
  auto read_reuse = [&](Transport& t) {
    reuseaddr = read_option(t.native_handle(), SOL_SOCKET, SO_REUSEADDR);
    reuseport = read_option(t.native_handle(), SOL_SOCKET, SO_REUSEPORT);
  };
  probe_socket(options(), addr("127.0.0.1:0"), SocketOptions{.reuse_address = true}, read_reuse);
  EXPECT_EQ(reuseaddr.load(), 1);
  EXPECT_EQ(reuseport.load(), 0);
  probe_socket(options(), addr("127.0.0.1:0"), SocketOptions{.reuse_port = true}, read_reuse);
  EXPECT_EQ(reuseaddr.load(), 0);
  EXPECT_EQ(reuseport.load(), 1);

  // A second engine joins the first one's SO_REUSEPORT group, with one worker or several; without
  // reuse_port the port is in use.
  Recorder recorder;
  auto first = make_engine(options());
  auto held = first->listen(addr("127.0.0.1:0"), recording_factory(recorder), with(SocketOptions{.reuse_port = true}));
  ASSERT_TRUE(held.ok()) << held.error().message;
  auto second = make_engine(options());
  auto joined = second->listen(*held, recording_factory(recorder), with(SocketOptions{.reuse_port = true}));
  ASSERT_TRUE(joined.ok()) << joined.error().message;
  EXPECT_EQ(*joined, *held);
  EngineOptions two_workers = options();
  two_workers.workers = 2;
  auto third = make_engine(two_workers);
  auto joined_by_two = third->listen(*held, recording_factory(recorder), with(SocketOptions{.reuse_port = true}));
  ASSERT_TRUE(joined_by_two.ok()) << joined_by_two.error().message;
  EXPECT_EQ(*joined_by_two, *held);
  const Error in_use = listen_error(two_workers, *held, SocketOptions{});
  EXPECT_EQ(in_use.code, os_error(EADDRINUSE)) << in_use.message;
  const Error in_use_one = listen_error(options(), *held, SocketOptions{});
  EXPECT_EQ(in_use_one.code, os_error(EADDRINUSE)) << in_use_one.message;
}

// path_mtu() from on_start: unconnected, an error; connected to a peer on loopback, `expected`.
void expect_loopback_path_mtu(const EngineOptions& options, const Address& listen_on, const Address& peer_on,
                              unsigned expected) {
  UdpSocket peer(peer_on);
  std::mutex mutex;
  std::optional<Result<unsigned>> before;
  std::optional<Result<unsigned>> after;
  probe_socket(options, listen_on, SocketOptions{}, [&](Transport& t) {
    auto unconnected = t.path_mtu();
    ASSERT_TRUE(t.connect(peer.local()).ok());
    auto connected = t.path_mtu();
    std::lock_guard lock(mutex);
    before = unconnected;
    after = connected;
  });
  std::lock_guard lock(mutex);
  ASSERT_TRUE(before.has_value() && after.has_value());
  ASSERT_FALSE(before->ok());
  EXPECT_EQ(before->error().code, make_error_code(Errc::invalid_state));
  EXPECT_EQ(before->error().message, "path_mtu() needs a connected socket");
  ASSERT_TRUE(after->ok()) << after->error().message;
  EXPECT_EQ(after->value(), expected) << listen_on.to_string() << " connected to " << peer.local().to_string();
}

// lo's MTU is 65536, but an IPv4 route's MTU stops at 65535, the largest IPv4 total length; an
// IPv6 route's stops at 65535 plus the 40-byte header, so IPv6 reports lo's own.
TEST_P(ListenSocketOptions, PathMtuOfAConnectedSocketIsTheRoutesMtu) {
  const long lo_mtu = read_number("/sys/class/net/lo/mtu");
  ASSERT_GT(lo_mtu, 0);
  const auto v4_mtu = static_cast<unsigned>(std::min(lo_mtu, 65535L));
  expect_loopback_path_mtu(options(), addr("127.0.0.1:0"), addr("127.0.0.1:0"), v4_mtu);
  SALVO_REQUIRE_IPV6();
  expect_loopback_path_mtu(options(), addr("[::1]:0"), addr("[::1]:0"), static_cast<unsigned>(lo_mtu));
  // A dual-stack socket connected to an IPv4 peer (v4-mapped) has the IPv4 route's MTU.
  expect_loopback_path_mtu(options(), addr("[::]:0"), addr("127.0.0.1:0"), v4_mtu);
}

INSTANTIATE_TEST_SUITE_P(Backends, ListenSocketOptions, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
