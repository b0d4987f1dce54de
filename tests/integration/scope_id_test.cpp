// IPv6 link-local addresses keep their scope id through a real socket, for every backend. The
// tests run in a network namespace they make (as multicast_test.cpp does), on a thread that entered
// it: a veth pair va <-> vb, both ends up in that namespace, with fe80::1 on va and fe80::2 on vb
// added `nodad` so they are usable at once. They skip with the reason when the namespace cannot be
// made (not root, no CAP_SYS_ADMIN/CAP_NET_ADMIN, no `ip`, IPv6 disabled).
//
// What the kernel reports: the scope id of a received link-local source is the index of the
// interface the datagram ARRIVED on. fe80::2 sends from vb, it arrives on va, so the engine's
// Datagram::peer is fe80::2 with va's index, and that is also the address a reply must go to.
#include <net/if.h>
#include <sched.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <string>
#include <thread>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

class ScopeId : public SmallPoolPerBackend {};

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

// Moves the calling thread into a new network namespace holding lo and a veth pair va/vb, both up,
// with fe80::1/64 on va and fe80::2/64 on vb (no duplicate address detection). "" or why not.
std::string enter_link_local_namespace() {
  if (::unshare(CLONE_NEWNET) != 0) return std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
  for (const char* command : {"ip link set lo up", "ip link add va type veth peer name vb", "ip link set va up",
                              "ip link set vb up", "ip -6 addr add fe80::1/64 dev va nodad",
                              "ip -6 addr add fe80::2/64 dev vb nodad"}) {
    if (std::string why = run_command(command); !why.empty()) return why;
  }
  return "";
}

// Runs `body` on a thread inside a fresh namespace made by enter_link_local_namespace(); returns
// the skip reason or "". Engines made in `body` start their workers from that thread, so they are
// in the namespace too; the namespace goes away with the last of its threads and sockets.
std::string in_link_local_namespace(const std::function<void()>& body) {
  std::promise<std::string> entered;
  auto result = entered.get_future();
  std::thread t([&] {
    const std::string why = enter_link_local_namespace();
    entered.set_value(why);
    if (why.empty()) body();
  });
  t.join();
  return result.get();
}

TEST_P(ScopeId, LinkLocalPeerKeepsTheArrivalScopeAndRepliesReachIt) {
  const std::string skip = in_link_local_namespace([&] {
    const unsigned va = ::if_nametoindex("va");
    const unsigned vb = ::if_nametoindex("vb");
    ASSERT_NE(va, 0u);
    ASSERT_NE(vb, 0u);
    ASSERT_NE(va, vb);

    Recorder seen;
    Hooks echo;
    echo.on_datagrams = [](std::span<const Datagram> batch, Transport& t) {
      for (const Datagram& d : batch) {
        if (t.send(d.payload, d.peer) != SendResult::queued) ADD_FAILURE() << "reply to " << d.peer.to_string();
      }
    };
    auto engine = make_engine(options());
    const Address bound = must_listen(*engine, addr("[fe80::1%va]:0"), recording_factory(seen, echo));
    ASSERT_NE(bound.port(), 0);
    EXPECT_EQ(bound.scope_id(), va) << "the listening address keeps va's scope";
    EXPECT_EQ(bound.to_string(), "[fe80::1%va]:" + std::to_string(bound.port()));
    must_start(*engine);

    UdpSocket sender(addr("[fe80::2%vb]:0"));
    EXPECT_EQ(sender.local().scope_id(), vb);
    const std::string sport = std::to_string(sender.local().port());
    const std::string eport = std::to_string(bound.port());
    // From vb's side of the link the engine is fe80::1%vb.
    const Address to = addr("[fe80::1%vb]:" + eport);
    const Address expected_peer = addr("[fe80::2%va]:" + sport);
    const Address expected_reply_from = addr("[fe80::1%vb]:" + eport);
    for (std::uint64_t i = 0; i < 5; ++i) {
      ASSERT_TRUE(sender.send_to(make_payload(i, 40), to));
      auto reply = sender.receive(5s);
      ASSERT_TRUE(reply.has_value()) << "no reply to datagram " << i << " sent to " << to.to_string();
      EXPECT_EQ(reply->payload, make_payload(i, 40));
      EXPECT_EQ(reply->from, expected_reply_from);
      EXPECT_EQ(reply->from.scope_id(), vb);
    }
    ASSERT_TRUE(seen.wait_for_datagrams(5, 5s));
    stop_and_wait(*engine);
    const auto got = seen.datagrams();
    ASSERT_EQ(got.size(), 5u);
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(payload_seq(got[i].payload), i);
      EXPECT_EQ(got[i].peer, expected_peer);
      EXPECT_TRUE(got[i].peer.is_v6());
      EXPECT_EQ(got[i].peer.scope_id(), va) << "the scope is the interface the datagram arrived on";
      EXPECT_EQ(got[i].peer.port(), sender.local().port());
      // Address formats a scope by interface name when the index names one.
      EXPECT_EQ(got[i].peer.to_string(), "[fe80::2%va]:" + sport);
      EXPECT_EQ(got[i].peer.ip_string(), "fe80::2%va");
    }
    EXPECT_EQ(engine->counters().received, 5u);
  });
  if (!skip.empty()) GTEST_SKIP() << "cannot make a network namespace with a veth pair: " << skip;
}

TEST_P(ScopeId, WildcardListenerSeesEachLinksScope) {
  // An engine bound to [::]:0 gets datagrams on both links: each peer carries the index of the
  // interface its datagram arrived on, and a reply to that peer goes back over that link.
  const std::string skip = in_link_local_namespace([&] {
    const unsigned va = ::if_nametoindex("va");
    const unsigned vb = ::if_nametoindex("vb");
    Recorder seen;
    Hooks echo;
    echo.on_datagrams = [](std::span<const Datagram> batch, Transport& t) {
      for (const Datagram& d : batch) {
        if (t.send(d.payload, d.peer) != SendResult::queued) ADD_FAILURE() << "reply to " << d.peer.to_string();
      }
    };
    auto engine = make_engine(options());
    const Address bound = must_listen(*engine, addr("[::]:0"), recording_factory(seen, echo));
    must_start(*engine);
    const std::string eport = std::to_string(bound.port());
    UdpSocket on_vb(addr("[fe80::2%vb]:0"));  // to fe80::1 over the link: arrives on va
    UdpSocket on_va(addr("[fe80::1%va]:0"));  // to fe80::2 over the link: arrives on vb
    ASSERT_TRUE(on_vb.send_to(make_payload(1, 16), addr("[fe80::1%vb]:" + eport)));
    auto r1 = on_vb.receive(5s);
    ASSERT_TRUE(r1.has_value()) << "no reply over vb";
    EXPECT_EQ(r1->from, addr("[fe80::1%vb]:" + eport));
    ASSERT_TRUE(on_va.send_to(make_payload(2, 16), addr("[fe80::2%va]:" + eport)));
    auto r2 = on_va.receive(5s);
    ASSERT_TRUE(r2.has_value()) << "no reply over va";
    EXPECT_EQ(r2->from, addr("[fe80::2%va]:" + eport));
    ASSERT_TRUE(seen.wait_for_datagrams(2, 5s));
    stop_and_wait(*engine);
    const auto got = seen.datagrams();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].peer, addr("[fe80::2%va]:" + std::to_string(on_vb.local().port())));
    EXPECT_EQ(got[0].peer.scope_id(), va);
    EXPECT_EQ(got[1].peer, addr("[fe80::1%vb]:" + std::to_string(on_va.local().port())));
    EXPECT_EQ(got[1].peer.scope_id(), vb);
  });
  if (!skip.empty()) GTEST_SKIP() << "cannot make a network namespace with a veth pair: " << skip;
}

// Parsing: an interface name after '%' resolves to if_nametoindex() in the caller's namespace; a
// number is taken as the index; either way the same Address. Backend-independent, so not
// parameterised.
TEST(ScopeIdParse, InterfaceNameResolvesToItsIndex) {
  const std::string skip = in_link_local_namespace([&] {
    const unsigned va = ::if_nametoindex("va");
    ASSERT_NE(va, 0u);
    auto named = Address::parse("[fe80::1%va]:4242");
    ASSERT_TRUE(named.ok()) << named.error().message;
    EXPECT_EQ(named->scope_id(), va);
    EXPECT_EQ(named->port(), 4242);
    auto numbered = Address::parse("[fe80::1%" + std::to_string(va) + "]:4242");
    ASSERT_TRUE(numbered.ok()) << numbered.error().message;
    EXPECT_EQ(*numbered, *named);
    EXPECT_EQ(numbered->to_string(), "[fe80::1%va]:4242") << "printed by name when the index names an interface";
    auto from_ip = Address::from_ip("fe80::1%va", 4242);
    ASSERT_TRUE(from_ip.ok()) << from_ip.error().message;
    EXPECT_EQ(*from_ip, *named);
    auto no_scope = Address::parse("[fe80::1]:4242");
    ASSERT_TRUE(no_scope.ok());
    EXPECT_EQ(no_scope->scope_id(), 0u);
    EXPECT_NE(*no_scope, *named);
    // An index no interface has is kept, and printed as the number.
    auto unnamed = Address::parse("[fe80::1%999]:1");
    ASSERT_TRUE(unnamed.ok()) << unnamed.error().message;
    EXPECT_EQ(unnamed->scope_id(), 999u);
    EXPECT_EQ(unnamed->to_string(), "[fe80::1%999]:1");
    auto unknown = Address::parse("[fe80::1%nosuchif0]:1");
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.error().message.find("nosuchif0"), std::string::npos) << unknown.error().message;
    EXPECT_NE(unknown.error().message.find("scope"), std::string::npos) << unknown.error().message;
  });
  if (!skip.empty()) GTEST_SKIP() << "cannot make a network namespace with a veth pair: " << skip;
}

INSTANTIATE_TEST_SUITE_P(Backends, ScopeId, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
