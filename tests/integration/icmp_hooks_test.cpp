// ICMP errors as protocol hooks, for every backend, with real ICMP from the kernel: host / network
// unreachable and administratively prohibited as on_unreachable(peer, why), and path MTU as
// on_path_mtu(peer, mtu), both for the local MTU (a datagram too big for the interface with
// IP_PMTUDISC_DO) and for a router's "fragmentation needed" / "packet too big".
//
// Everything runs in network namespaces the test makes (unreachable: nftables rules on loopback;
// router: three namespaces joined by veth pairs), so no traffic leaves them; the tests skip with the
// reason when the namespaces cannot be made (not root) or `nft` / `ip` are missing.
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/netns.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

// --- a protocol that records every ICMP hook --------------------------------------------------

struct Unreachable {
  Address peer;
  std::error_code why;
};
struct PathMtu {
  Address peer;
  unsigned mtu = 0;
};

class IcmpRecorder final : public Protocol {
 public:
  explicit IcmpRecorder(std::function<void(Transport&)> start) : start_(std::move(start)) {}
  void on_start(Transport& t) override {
    transport_ = &t;
    if (start_) start_(t);
  }
  void on_datagrams(std::span<const Datagram> batch, Transport&) override {
    std::lock_guard lock(mutex_);
    datagrams_ += batch.size();
  }
  void on_refused(const Address& peer, Transport&) override {
    std::lock_guard lock(mutex_);
    refused_.push_back(peer);
  }
  void on_unreachable(const Address& peer, std::error_code why, Transport&) override {
    std::lock_guard lock(mutex_);
    unreachable_.push_back({peer, why});
  }
  void on_path_mtu(const Address& peer, unsigned mtu, Transport&) override {
    std::lock_guard lock(mutex_);
    path_mtu_.push_back({peer, mtu});
  }
  void on_error(std::error_code e, Transport&) override {
    std::lock_guard lock(mutex_);
    errors_.push_back(e);
  }

  Transport* transport() const { return transport_; }
  std::vector<Address> refused() const {
    std::lock_guard lock(mutex_);
    return refused_;
  }
  std::vector<Unreachable> unreachable() const {
    std::lock_guard lock(mutex_);
    return unreachable_;
  }
  std::vector<PathMtu> path_mtu() const {
    std::lock_guard lock(mutex_);
    return path_mtu_;
  }
  std::vector<std::error_code> errors() const {
    std::lock_guard lock(mutex_);
    return errors_;
  }
  std::string describe_errors() const {
    std::string text;
    for (const std::error_code& e : errors()) text += " [" + e.message() + "]";
    return text.empty() ? " none" : text;
  }

 private:
  std::function<void(Transport&)> start_;
  std::atomic<Transport*> transport_{nullptr};
  mutable std::mutex mutex_;
  std::size_t datagrams_ = 0;
  std::vector<Address> refused_;
  std::vector<Unreachable> unreachable_;
  std::vector<PathMtu> path_mtu_;
  std::vector<std::error_code> errors_;
};

// Reads datagrams from `socket` until `count` have arrived or `timeout` passes; returns the
// sequence numbers seen, sorted.
std::vector<std::uint64_t> receive_seqs(UdpSocket& socket, std::size_t count, milliseconds timeout,
                                        const Address& expected_from, std::size_t* bad_sender = nullptr) {
  std::vector<std::uint64_t> seqs;
  Deadline deadline(timeout);
  while (seqs.size() < count && !deadline.expired()) {
    auto m = socket.receive(milliseconds(deadline.poll_ms()));
    if (!m) continue;
    if (bad_sender != nullptr && !(m->from == expected_from)) ++*bad_sender;
    seqs.push_back(payload_seq(m->payload));
  }
  std::sort(seqs.begin(), seqs.end());
  return seqs;
}

std::vector<std::uint64_t> iota_seqs(std::uint64_t from, std::uint64_t count) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t i = 0; i < count; ++i) v.push_back(from + i);
  return v;
}

class IcmpHooks : public SmallPoolPerBackend {};

// --- unreachable ------------------------------------------------------------------------------

// Three loopback ports whose datagrams an nftables rule in `hook` rejects with an ICMP error;
// `error` is the errno the kernel turns each into for this family.
struct Rejected {
  std::uint16_t port;
  const char* v4_reject;
  const char* v6_reject;
  int v4_error;
  int v6_error;
};
constexpr Rejected rejected_ports[] = {
    {40001, "icmp type host-unreachable", "icmpv6 type addr-unreachable", EHOSTUNREACH, EHOSTUNREACH},
    {40002, "icmp type net-unreachable", "icmpv6 type no-route", ENETUNREACH, ENETUNREACH},
    // ICMP "communication administratively prohibited": EHOSTUNREACH for IPv4 (icmp_err_convert
    // has it as a host error), EACCES for IPv6 (icmpv6_err_convert).
    {40003, "icmp type admin-prohibited", "icmpv6 type admin-prohibited", EHOSTUNREACH, EACCES},
};

// Installs the reject rules in a table of this namespace; "" or why not.
std::string install_rejects(const std::string& nft, const char* hook) {
  if (auto why = run_tool(nft, {"add", "table", "inet", "salvo_icmp"}); !why.empty()) return why;
  const std::string chain = std::string("{ type filter hook ") + hook + " priority 0; policy accept; }";
  if (auto why = run_tool(nft, {"add", "chain", "inet", "salvo_icmp", hook, chain}); !why.empty()) return why;
  for (const Rejected& r : rejected_ports) {
    for (const char* reject : {r.v4_reject, r.v6_reject}) {
      if (auto why = run_tool(nft, {"add", "rule", "inet", "salvo_icmp", hook, "udp", "dport", std::to_string(r.port),
                                    "reject", "with", reject});
          !why.empty()) {
        return why;
      }
    }
  }
  return "";
}

// The engine's socket sends 20 datagrams to a live receiver with one datagram to each rejected
// port among them; `hook` is where the reject rules sit (input: the datagram is sent and an ICMP
// error comes back, as from a router; output: the local firewall refuses the send itself).
// `coalescible`: the live receiver's datagrams all have one size, so that runs of them between the
// rejected ones go out as GSO messages; otherwise each has its own size and goes alone.
void check_unreachable(BackendKind backend, bool v6, const char* hook, bool coalescible = false) {
  const std::string nft = find_tool("nft");
  if (nft.empty()) GTEST_SKIP() << "nftables (`nft`) is not installed";
  EngineOptions o;
  o.backend = backend;
  o.buffer_count = 64;
  const bool output = std::strcmp(hook, "output") == 0;
  const std::string skip = in_fresh_namespace([&] {
    if (auto why = install_rejects(nft, hook); !why.empty()) {
      GTEST_SKIP() << "cannot install nftables reject rules: " << why;
    }
    const Address loopback = v6 ? addr("[::1]:0") : addr("127.0.0.1:0");
    UdpSocket receiver(loopback);
    std::vector<Address> blocked;
    for (const Rejected& r : rejected_ports) blocked.push_back(loopback.with_port(r.port));

    IcmpRecorder* protocol = nullptr;
    auto engine = make_engine(o);
    const Address local = must_listen(*engine, loopback, [&](unsigned) {
      auto p = std::make_unique<IcmpRecorder>([&](Transport& t) {
        std::size_t next_blocked = 0;
        for (std::uint64_t i = 0; i < 20; ++i) {
          EXPECT_EQ(t.send(make_payload(i, coalescible ? 40 : 40 + i), receiver.local()), SendResult::queued);
          // One to a rejected port after datagrams 2, 9 and 16: valid datagrams are queued behind
          // each, so a send that fails for the ICMP error's sake must be sent again.
          if (i % 7 == 2 && next_blocked < blocked.size()) {
            EXPECT_EQ(t.send(make_payload(1000 + i, 40), blocked[next_blocked++]), SendResult::queued);
          }
        }
      });
      protocol = p.get();
      return p;
    });
    must_start(*engine);
    std::size_t bad_sender = 0;
    const auto seqs = receive_seqs(receiver, 20, 5s, local, &bad_sender);
    const bool all_reported = wait_until([&] { return protocol->unreachable().size() >= blocked.size(); }, 5s);
    stop_and_wait(*engine);

    EXPECT_EQ(seqs, iota_seqs(0, 20)) << "every datagram to the live receiver must arrive, once";
    EXPECT_EQ(bad_sender, 0u);
    ASSERT_TRUE(all_reported) << describe(engine->counters()) << " errors:" << protocol->describe_errors();
    const auto reports = protocol->unreachable();
    // With the reject in output, a datagram that fails in the middle of a sendmmsg batch is tried
    // again by the next call (a short count does not say why it stopped), and each try is
    // rejected with its own ICMP error: the epoll backend may report such a peer twice.
    const std::size_t most = output && backend == BackendKind::epoll ? 2 : 1;
    std::map<std::uint16_t, std::vector<Unreachable>> by_port;
    for (const Unreachable& u : reports) by_port[u.peer.port()].push_back(u);
    EXPECT_EQ(by_port.size(), blocked.size()) << "reports for other peers than the rejected ones";
    for (const Rejected& r : rejected_ports) {
      const auto& mine = by_port[r.port];
      ASSERT_GE(mine.size(), 1u) << "no on_unreachable for port " << r.port;
      EXPECT_LE(mine.size(), most) << "port " << r.port << " reported " << mine.size() << " times";
      for (const Unreachable& u : mine) {
        EXPECT_EQ(u.peer, loopback.with_port(r.port)) << "the peer is the exact destination, address and port";
        EXPECT_EQ(u.why, std::error_code(v6 ? r.v6_error : r.v4_error, std::system_category()))
            << "port " << r.port << ": " << u.why.message();
      }
    }
    EXPECT_TRUE(protocol->refused().empty());
    EXPECT_TRUE(protocol->path_mtu().empty());

    const Counters c = engine->counters();
    EXPECT_EQ(c.unreachable, reports.size()) << "one count per on_unreachable" << describe(c);
    if (most == 1) {
      EXPECT_EQ(c.unreachable, 3u) << describe(c);
    }
    EXPECT_EQ(c.refused, 0u) << describe(c);
    EXPECT_EQ(c.path_mtu_reports, 0u) << describe(c);
    EXPECT_EQ(c.socket_errors, 0u) << describe(c);
    EXPECT_EQ(c.send_requests, 23u) << describe(c);
    if (!output) {
      // The rejected datagrams left the socket; the ICMP errors came back for them.
      EXPECT_EQ(c.sent, 23u) << describe(c);
      EXPECT_EQ(c.dropped_send_error, 0u) << describe(c);
      EXPECT_TRUE(protocol->errors().empty()) << protocol->describe_errors();
    } else {
      // The local firewall dropped each rejected datagram inside the send (EPERM, netfilter's
      // drop verdict): a send error, once per datagram, besides the ICMP error its reject made.
      EXPECT_EQ(c.sent, 20u) << describe(c);
      EXPECT_EQ(c.dropped_send_error, 3u) << describe(c);
      const auto errors = protocol->errors();
      EXPECT_EQ(errors.size(), 3u) << protocol->describe_errors();
      for (const std::error_code& e : errors) EXPECT_EQ(e, std::error_code(EPERM, std::system_category()));
    }
  });
  if (!skip.empty()) GTEST_SKIP() << "cannot make a network namespace: " << skip;
}

TEST_P(IcmpHooks, UnreachableNamesThePeerAndTheErrorIpv4) { check_unreachable(GetParam(), false, "input"); }

TEST_P(IcmpHooks, UnreachableNamesThePeerAndTheErrorIpv6) { check_unreachable(GetParam(), true, "input"); }

TEST_P(IcmpHooks, UnreachableAmongCoalescedDatagramsIpv4) { check_unreachable(GetParam(), false, "input", true); }

TEST_P(IcmpHooks, UnreachableAmongCoalescedDatagramsIpv6) { check_unreachable(GetParam(), true, "input", true); }

TEST_P(IcmpHooks, LocalFirewallRejectIsASendErrorAndAnUnreachableIpv4) {
  check_unreachable(GetParam(), false, "output");
}

TEST_P(IcmpHooks, LocalFirewallRejectIsASendErrorAndAnUnreachableIpv6) {
  check_unreachable(GetParam(), true, "output");
}

// --- path MTU: the local interface ------------------------------------------------------------

// A socket bound to `local` with path MTU discovery forced on (IP_PMTUDISC_DO: DF set, never
// fragmented locally), to be adopted; salvo has no option for it.
int dont_fragment_socket(const Address& local) {
  const bool v6 = local.is_v6();
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  const int v4_do = IP_PMTUDISC_DO;
  const int v6_do = IPV6_PMTUDISC_DO;
  const bool ok = v6 ? ::setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v6_do, sizeof v6_do) == 0
                     : ::setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v4_do, sizeof v4_do) == 0;
  if (!ok || ::bind(fd, static_cast<const sockaddr*>(local.sockaddr_data()), local.sockaddr_size()) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error(std::string("IP_MTU_DISCOVER / bind: ") + std::strerror(err));
  }
  return fd;
}

// Loopback's MTU lowered to 1300; a 1400-byte datagram with DF among small ones. The kernel refuses
// that send (EMSGSIZE) and queues a local error with the MTU (ip_local_error). What a user needs:
// the datagram counted as a send error exactly once, one on_path_mtu naming the destination and
// the MTU the kernel gave, counted, no on_error, and every other datagram delivered.
// `alternate`: the small datagrams alternate between two receivers, so that none are sent together
// with the large one as one GSO message and the large one goes out in the middle of a sendmmsg
// batch; otherwise all go to one receiver (and the large one may first go out in a GSO message).
void check_local_path_mtu(BackendKind backend, bool v6, bool alternate) {
  EngineOptions o;
  o.backend = backend;
  o.buffer_count = 64;
  const std::string skip = in_fresh_namespace([&] {
    if (auto why = run_tool(find_tool("ip"), {"link", "set", "lo", "mtu", "1300"}); !why.empty()) {
      GTEST_SKIP() << "cannot lower loopback's MTU: " << why;
    }
    const Address loopback = v6 ? addr("[::1]:0") : addr("127.0.0.1:0");
    UdpSocket receiver(loopback);
    UdpSocket other(loopback);
    IcmpRecorder* protocol = nullptr;
    auto engine = make_engine(o);
    auto adopted = engine->adopt(dont_fragment_socket(loopback), [&](unsigned) {
      auto p = std::make_unique<IcmpRecorder>([&](Transport& t) {
        auto small = [&](std::uint64_t i) {
          const Address& to = alternate && i % 2 == 1 ? other.local() : receiver.local();
          EXPECT_EQ(t.send(make_payload(i, 200), to), SendResult::queued);
        };
        for (std::uint64_t i = 0; i < 4; ++i) small(i);
        EXPECT_EQ(t.send(make_payload(99, 1400), receiver.local()), SendResult::queued);
        for (std::uint64_t i = 4; i < 8; ++i) small(i);
      });
      protocol = p.get();
      return p;
    });
    ASSERT_TRUE(adopted.ok()) << adopted.error().message;
    must_start(*engine);
    auto seqs = receive_seqs(receiver, alternate ? 4 : 8, 5s, *adopted);
    if (alternate) {
      for (std::uint64_t s : receive_seqs(other, 4, 5s, *adopted)) seqs.push_back(s);
      std::sort(seqs.begin(), seqs.end());
    }
    const bool reported = wait_until([&] { return !protocol->path_mtu().empty(); }, 3s);
    stop_and_wait(*engine);

    EXPECT_EQ(seqs, iota_seqs(0, 8));
    const Counters c = engine->counters();
    EXPECT_EQ(c.sent, 8u) << describe(c);
    EXPECT_EQ(c.dropped_send_error, 1u) << "the oversized datagram, once" << describe(c);
    EXPECT_TRUE(protocol->errors().empty()) << "a path MTU report is not an on_error:" << protocol->describe_errors();
    ASSERT_TRUE(reported) << "no on_path_mtu; " << describe(c) << " errors:" << protocol->describe_errors();
    const auto reports = protocol->path_mtu();
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].peer, receiver.local()) << "the destination of the oversized datagram, address and port";
    EXPECT_EQ(reports[0].mtu, 1300u);
    EXPECT_EQ(c.path_mtu_reports, 1u) << describe(c);
    EXPECT_EQ(c.socket_errors, 0u) << describe(c);
    EXPECT_EQ(c.unreachable, 0u) << describe(c);
  });
  if (!skip.empty()) GTEST_SKIP() << "cannot make a network namespace: " << skip;
}

TEST_P(IcmpHooks, DatagramTooBigForTheInterfaceIsAPathMtuReportIpv4) { check_local_path_mtu(GetParam(), false, false); }

TEST_P(IcmpHooks, DatagramTooBigForTheInterfaceIsAPathMtuReportIpv6) { check_local_path_mtu(GetParam(), true, false); }

TEST_P(IcmpHooks, DatagramTooBigMidBatchIsOnePathMtuReportIpv4) { check_local_path_mtu(GetParam(), false, true); }

TEST_P(IcmpHooks, DatagramTooBigMidBatchIsOnePathMtuReportIpv6) { check_local_path_mtu(GetParam(), true, true); }

// --- path MTU: a router -----------------------------------------------------------------------

// Writes `value` to each sysctl file, in the calling thread's network namespace; "" or why not.
std::string write_knobs(std::initializer_list<const char*> knobs, const char* value) {
  for (const char* knob : knobs) {
    std::ofstream f(knob);
    f << value << "\n";
    f.flush();
    if (!f) return std::string("cannot write ") + knob;
  }
  return "";
}

// A (the engine, 1500) --veth-- R (router) --veth, MTU 1280-- B (the receiver). A datagram of 1400
// bytes (DF: Linux's default for UDP, IP_PMTUDISC_WANT) cannot cross R's second link: R answers
// with ICMP fragmentation needed / IPv6 packet too big, MTU 1280.
class RouterPath {
 public:
  RouterPath()
      : r_("salvo-icmp-r-" + std::to_string(::getpid())), b_("salvo-icmp-b-" + std::to_string(::getpid())) {}
  // Builds the topology from the calling thread's namespace (A); "" or why not.
  std::string build() {
    if (!r_.error().empty()) return r_.error();
    if (!b_.error().empty()) return b_.error();
    // No duplicate address detection on the links to come: tentative link-local addresses hold
    // neighbour discovery (and so the first IPv6 datagrams) back for a second.
    if (auto why = write_knobs({"/proc/sys/net/ipv6/conf/default/accept_dad"}, "0"); !why.empty()) return why;
    for (NamedNamespace* ns : {&r_, &b_}) {
      std::string knob_error;
      auto why = ns->run([&] { knob_error = write_knobs({"/proc/sys/net/ipv6/conf/default/accept_dad"}, "0"); });
      if (!why.empty() || !knob_error.empty()) return why + knob_error;
    }
    const std::string ip = find_tool("ip");
    const std::vector<std::vector<std::string>> in_a = {
        {"link", "add", "a0", "type", "veth", "peer", "name", "r0", "netns", r_.name()},
        {"addr", "add", "10.71.1.1/24", "dev", "a0"},
        {"addr", "add", "fd71:1::1/64", "dev", "a0", "nodad"},
        {"link", "set", "a0", "up"},
        {"route", "add", "default", "via", "10.71.1.2"},
        {"-6", "route", "add", "default", "via", "fd71:1::2"},
    };
    for (const auto& args : in_a) {
      if (auto why = run_tool(ip, args); !why.empty()) return why;
    }
    const std::vector<std::vector<std::string>> in_r = {
        {"link", "add", "r1", "mtu", "1280", "type", "veth", "peer", "name", "b0", "netns", b_.name(), "mtu", "1280"},
        {"addr", "add", "10.71.1.2/24", "dev", "r0"},
        {"addr", "add", "fd71:1::2/64", "dev", "r0", "nodad"},
        {"link", "set", "r0", "up"},
        {"addr", "add", "10.71.2.1/24", "dev", "r1"},
        {"addr", "add", "fd71:2::1/64", "dev", "r1", "nodad"},
        {"link", "set", "r1", "up"},
    };
    for (const auto& args : in_r) {
      if (auto why = r_.ip(args); !why.empty()) return why;
    }
    const std::vector<std::vector<std::string>> in_b = {
        {"addr", "add", "10.71.2.2/24", "dev", "b0"},
        {"addr", "add", "fd71:2::2/64", "dev", "b0", "nodad"},
        {"link", "set", "b0", "up"},
        {"route", "add", "default", "via", "10.71.2.1"},
        {"-6", "route", "add", "default", "via", "fd71:2::1"},
    };
    for (const auto& args : in_b) {
      if (auto why = b_.ip(args); !why.empty()) return why;
    }
    std::string forwarding;
    auto why = r_.run([&] {
      forwarding = write_knobs({"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"}, "1");
    });
    return why.empty() ? forwarding : why;
  }
  // A plain socket in B bound to `local`.
  std::unique_ptr<UdpSocket> receiver_in_b(const Address& local) {
    std::unique_ptr<UdpSocket> s;
    const std::string why = b_.run([&] { s = std::make_unique<UdpSocket>(local); });
    if (!why.empty()) throw std::runtime_error(why);
    return s;
  }

 private:
  NamedNamespace r_;
  NamedNamespace b_;
};

void check_router_path_mtu(BackendKind backend, bool v6) {
  EngineOptions o;
  o.backend = backend;
  o.buffer_count = 64;
  const std::string skip = in_fresh_namespace([&] {
    RouterPath path;
    if (auto why = path.build(); !why.empty()) GTEST_SKIP() << "cannot build the router topology: " << why;
    auto receiver = path.receiver_in_b(v6 ? addr("[fd71:2::2]:0") : addr("10.71.2.2:0"));
    const Address far = receiver->local();
    IcmpRecorder* protocol = nullptr;
    auto engine = make_engine(o);
    const Address local = must_listen(*engine, v6 ? addr("[fd71:1::1]:0") : addr("10.71.1.1:0"), [&](unsigned) {
      auto p = std::make_unique<IcmpRecorder>([&](Transport& t) {
        EXPECT_EQ(t.send(make_payload(99, 1400), far), SendResult::queued);
      });
      protocol = p.get();
      return p;
    });
    must_start(*engine);
    ASSERT_TRUE(wait_until([&] { return !protocol->path_mtu().empty(); }, 5s))
        << "no on_path_mtu; " << describe(engine->counters()) << " errors:" << protocol->describe_errors();
    // Now that the kernel knows the path's MTU, small datagrams go through, and so does a large
    // one: the kernel fragments it (IPv4 without DF from now on, IPv6 at the source).
    std::atomic<bool> queued{false};
    ASSERT_TRUE(engine
                    ->post(0,
                           [&] {
                             Transport& t = *protocol->transport();
                             bool ok = true;
                             for (std::uint64_t i = 0; i < 5; ++i) ok &= t.send(make_payload(i, 100), far) == SendResult::queued;
                             ok &= t.send(make_payload(5, 1400), far) == SendResult::queued;
                             queued = ok;
                           })
                    .ok());
    std::size_t bad_sender = 0;
    const auto seqs = receive_seqs(*receiver, 6, 5s, local, &bad_sender);
    stop_and_wait(*engine);

    EXPECT_TRUE(queued.load());
    EXPECT_EQ(seqs, iota_seqs(0, 6)) << "after the report, small datagrams and a fragmented large one arrive";
    EXPECT_EQ(bad_sender, 0u);
    const auto reports = protocol->path_mtu();
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].peer, far) << "the destination of the datagram the router could not forward";
    EXPECT_EQ(reports[0].mtu, 1280u);
    const Counters c = engine->counters();
    EXPECT_EQ(c.path_mtu_reports, 1u) << describe(c);
    EXPECT_EQ(c.sent, 7u) << describe(c);
    EXPECT_EQ(c.dropped_send_error, 0u) << describe(c);
    EXPECT_EQ(c.socket_errors, 0u) << describe(c);
    EXPECT_EQ(c.unreachable, 0u) << describe(c);
    EXPECT_TRUE(protocol->errors().empty()) << protocol->describe_errors();
  });
  if (!skip.empty()) GTEST_SKIP() << "cannot make a network namespace: " << skip;
}

TEST_P(IcmpHooks, RouterFragmentationNeededIsAPathMtuReportIpv4) { check_router_path_mtu(GetParam(), false); }

TEST_P(IcmpHooks, RouterPacketTooBigIsAPathMtuReportIpv6) { check_router_path_mtu(GetParam(), true); }

// The router's ICMP error comes back while datagrams queued behind the large one are still being
// sent (on veth it arrives within the same send call). The kernel also leaves it as the socket's
// pending error (EMSGSIZE), which the next send returns without sending: that datagram, to another
// peer and small, was not too big and must still go out, as the backends do for the other ICMP
// errors (is_icmp_error). The small ones go to a second receiver, with growing sizes, so that none
// shares a GSO message with the large one or with each other. The backends tell that EMSGSIZE from
// a local "too big" by the error queue: the router's report comes from the network
// (SO_EE_ORIGIN_ICMP / _ICMP6), a datagram too big for the interface queues a local error.
void check_router_back_to_back(BackendKind backend, bool v6) {
  EngineOptions o;
  o.backend = backend;
  o.buffer_count = 64;
  const std::string skip = in_fresh_namespace([&] {
    RouterPath path;
    if (auto why = path.build(); !why.empty()) GTEST_SKIP() << "cannot build the router topology: " << why;
    auto big_receiver = path.receiver_in_b(v6 ? addr("[fd71:2::2]:0") : addr("10.71.2.2:0"));
    auto receiver = path.receiver_in_b(v6 ? addr("[fd71:2::2]:0") : addr("10.71.2.2:0"));
    const Address far_big = big_receiver->local();
    const Address far = receiver->local();
    IcmpRecorder* protocol = nullptr;
    auto engine = make_engine(o);
    const Address local = must_listen(*engine, v6 ? addr("[fd71:1::1]:0") : addr("10.71.1.1:0"), [&](unsigned) {
      auto p = std::make_unique<IcmpRecorder>([&](Transport& t) {
        // Warm the neighbour caches first, so that the ICMP error returns within the next send.
        EXPECT_EQ(t.send(make_payload(100, 100), far), SendResult::queued);
      });
      protocol = p.get();
      return p;
    });
    must_start(*engine);
    auto first = receiver->receive(5s);
    ASSERT_TRUE(first.has_value()) << describe(engine->counters());
    ASSERT_TRUE(engine
                    ->post(0,
                           [&] {
                             Transport& t = *protocol->transport();
                             t.send(make_payload(99, 1400), far_big);
                             // Growing sizes: no two of them make a GSO message either.
                             for (std::uint64_t i = 0; i < 5; ++i) t.send(make_payload(i, 100 + i), far);
                           })
                    .ok());
    std::size_t bad_sender = 0;
    const auto seqs = receive_seqs(*receiver, 5, 3s, local, &bad_sender);
    wait_until([&] { return !protocol->path_mtu().empty(); }, 3s);
    stop_and_wait(*engine);
    const Counters c = engine->counters();
    EXPECT_EQ(seqs, iota_seqs(0, 5)) << describe(c) << " errors:" << protocol->describe_errors();
    EXPECT_EQ(c.dropped_send_error, 0u) << describe(c);
    EXPECT_EQ(c.sent, 7u) << describe(c);
    EXPECT_TRUE(protocol->errors().empty()) << protocol->describe_errors();
    const auto reports = protocol->path_mtu();
    ASSERT_EQ(reports.size(), 1u) << describe(c);
    EXPECT_EQ(reports[0].peer, far_big);
    EXPECT_EQ(reports[0].mtu, 1280u);
  });
  if (!skip.empty()) GTEST_SKIP() << "cannot make a network namespace: " << skip;
}

TEST_P(IcmpHooks, DatagramsBehindOneTheRouterRejectsAreStillSentIpv4) {
  check_router_back_to_back(GetParam(), false);
}

TEST_P(IcmpHooks, DatagramsBehindOneTheRouterRejectsAreStillSentIpv6) {
  check_router_back_to_back(GetParam(), true);
}

// As above, but the datagrams behind the large one all have one size and one destination, so that
// they go out as one GSO message: the router's pending EMSGSIZE fails that message, whose datagrams
// the backend then sends one by one. The report must still reach the protocol, exactly once (the
// fallback reads the error queue before the plain sends, which meet no pending error), and every
// datagram arrive exactly once.
void check_router_gso_behind(BackendKind backend, bool v6) {
  EngineOptions o;
  o.backend = backend;
  o.buffer_count = 64;
  o.gso = true;
  const std::string skip = in_fresh_namespace([&] {
    RouterPath path;
    if (auto why = path.build(); !why.empty()) GTEST_SKIP() << "cannot build the router topology: " << why;
    auto big_receiver = path.receiver_in_b(v6 ? addr("[fd71:2::2]:0") : addr("10.71.2.2:0"));
    auto receiver = path.receiver_in_b(v6 ? addr("[fd71:2::2]:0") : addr("10.71.2.2:0"));
    const Address far_big = big_receiver->local();
    const Address far = receiver->local();
    IcmpRecorder* protocol = nullptr;
    auto engine = make_engine(o);
    const Address local = must_listen(*engine, v6 ? addr("[fd71:1::1]:0") : addr("10.71.1.1:0"), [&](unsigned) {
      auto p = std::make_unique<IcmpRecorder>([&](Transport& t) {
        // Warm the neighbour caches first, so that the ICMP error returns within the next send.
        EXPECT_EQ(t.send(make_payload(100, 100), far), SendResult::queued);
      });
      protocol = p.get();
      return p;
    });
    must_start(*engine);
    auto first = receiver->receive(5s);
    ASSERT_TRUE(first.has_value()) << describe(engine->counters());
    constexpr std::uint64_t run = 8;
    ASSERT_TRUE(engine
                    ->post(0,
                           [&] {
                             Transport& t = *protocol->transport();
                             t.send(make_payload(99, 1400), far_big);
                             for (std::uint64_t i = 0; i < run; ++i) t.send(make_payload(i, 100), far);
                           })
                    .ok());
    std::size_t bad_sender = 0;
    const auto seqs = receive_seqs(*receiver, run, 3s, local, &bad_sender);
    const bool reported = wait_until([&] { return !protocol->path_mtu().empty(); }, 3s);
    // Anything sent twice would arrive by now.
    const auto extra = receive_seqs(*receiver, 1, 300ms, local);
    stop_and_wait(*engine);
    const Counters c = engine->counters();
    EXPECT_EQ(seqs, iota_seqs(0, run)) << describe(c) << " errors:" << protocol->describe_errors();
    EXPECT_TRUE(extra.empty()) << "a datagram arrived twice: " << extra.front();
    EXPECT_EQ(bad_sender, 0u);
    EXPECT_EQ(c.dropped_send_error, 0u) << describe(c);
    EXPECT_EQ(c.sent, run + 2) << describe(c);
    EXPECT_TRUE(protocol->errors().empty()) << protocol->describe_errors();
    ASSERT_TRUE(reported) << "the router's report never reached on_path_mtu; " << describe(c);
    const auto reports = protocol->path_mtu();
    ASSERT_EQ(reports.size(), 1u) << describe(c);
    EXPECT_EQ(reports[0].peer, far_big);
    EXPECT_EQ(reports[0].mtu, 1280u);
    EXPECT_EQ(c.path_mtu_reports, 1u) << describe(c);
    EXPECT_EQ(c.unreachable, 0u) << describe(c);
    EXPECT_EQ(c.socket_errors, 0u) << describe(c);
  });
  if (!skip.empty()) GTEST_SKIP() << "cannot make a network namespace: " << skip;
}

TEST_P(IcmpHooks, GsoRunBehindOneTheRouterRejectsIsSentAndReportedOnceIpv4) { check_router_gso_behind(GetParam(), false); }

TEST_P(IcmpHooks, GsoRunBehindOneTheRouterRejectsIsSentAndReportedOnceIpv6) { check_router_gso_behind(GetParam(), true); }

INSTANTIATE_TEST_SUITE_P(Backends, IcmpHooks, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
