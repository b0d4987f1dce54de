// GSO at the MTU, for every backend, across a real veth link (two network namespaces joined by a
// veth pair with MTU 1500, so nothing leaves them): a segment that fills the MTU exactly goes out
// as a GSO message, one byte more goes out as plain datagrams (which the kernel fragments), and in
// both cases the receiver gets exactly the datagrams queued, in order, and nothing else. IPv4 and
// IPv6 (whose header is 20 bytes larger). The segment-count boundary (64 and 65) is in
// gso_test.cpp's run tables, on loopback.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

#include "support/netns.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

struct MtuCase {
  const char* name;
  bool ipv6;
  std::size_t count;
  std::size_t size;
  std::uint64_t gso_sends;  // expected
};

class GsoMtu : public testing::TestWithParam<BackendKind> {};

// Namespaces s (sender) and r (receiver), veth s0 <-> r0 at MTU 1500, 10.98.0.1/2 and fd98::1/2.
class VethPair {
 public:
  // Names unique to this process: ctest runs the backends' cases at the same time.
  VethPair() : s_("salvo_gso_s" + std::to_string(::getpid())), r_("salvo_gso_r" + std::to_string(::getpid())) {
    error_ = !s_.error().empty() ? s_.error() : r_.error();
    if (!error_.empty()) return;
    for (const auto& step : std::vector<std::pair<const NamedNamespace*, std::vector<std::string>>>{
             {&s_, {"link", "add", "s0", "mtu", "1500", "type", "veth", "peer", "name", "r0", "netns", r_.name(), "mtu", "1500"}},
             {&s_, {"addr", "add", "10.98.0.1/24", "dev", "s0"}},
             {&r_, {"addr", "add", "10.98.0.2/24", "dev", "r0"}},
             {&s_, {"-6", "addr", "add", "fd98::1/64", "dev", "s0", "nodad"}},
             {&r_, {"-6", "addr", "add", "fd98::2/64", "dev", "r0", "nodad"}},
             {&s_, {"link", "set", "s0", "up"}},
             {&r_, {"link", "set", "r0", "up"}}}) {
      error_ = step.first->ip(step.second);
      if (!error_.empty()) return;
    }
  }
  const std::string& error() const { return error_; }
  const NamedNamespace& sender() const { return s_; }
  const NamedNamespace& receiver() const { return r_; }

 private:
  NamedNamespace s_;
  NamedNamespace r_;
  std::string error_;
};

TEST_P(GsoMtu, SegmentsAtTheMtuGoAsGsoOneByteMoreGoesPlainAndAllArriveExactly) {
  VethPair link;
  if (!link.error().empty()) GTEST_SKIP() << "cannot make the namespaces: " << link.error();
  const MtuCase cases[] = {
      {"v4 10x1472 (IPv4 + UDP headers + 1472 = 1500)", false, 10, 1472, 1},
      {"v4 10x1473", false, 10, 1473, 0},
      {"v4 30x1000", false, 30, 1000, 1},
      {"v6 10x1452 (IPv6 + UDP headers + 1452 = 1500)", true, 10, 1452, 1},
      {"v6 10x1453", true, 10, 1453, 0},
  };
  for (const MtuCase& mc : cases) {
    SCOPED_TRACE(mc.name);
    std::unique_ptr<UdpSocket> receiver;
    const std::string why = link.receiver().run(
        [&] { receiver = std::make_unique<UdpSocket>(addr(mc.ipv6 ? "[fd98::2]:0" : "10.98.0.2:0"), 1 << 20); });
    ASSERT_TRUE(why.empty()) << why;
    const Address to = receiver->local();
    Counters sent;
    const std::string why_send = link.sender().run([&] {
      EngineOptions o;
      o.backend = GetParam();
      Recorder recorder;
      Hooks hooks;
      hooks.on_start = [&](Transport& t) {
        for (std::size_t i = 0; i < mc.count; ++i) EXPECT_EQ(t.send(make_payload(i, mc.size), to), SendResult::queued);
      };
      auto engine = make_engine(o);
      must_listen(*engine, addr(mc.ipv6 ? "[fd98::1]:0" : "10.98.0.1:0"), recording_factory(recorder, hooks));
      must_start(*engine);
      EXPECT_TRUE(wait_until([&] { return engine->counters().sent + engine->counters().dropped_send_error >= mc.count; }, 10s));
      stop_and_wait(*engine);
      sent = engine->counters();
    });
    ASSERT_TRUE(why_send.empty()) << why_send;
    EXPECT_EQ(sent.sent, mc.count) << describe(sent);
    EXPECT_EQ(sent.dropped_send_error, 0u) << describe(sent);
    EXPECT_EQ(sent.gso_sends, mc.gso_sends) << describe(sent);
    EXPECT_EQ(sent.gso_segments, mc.gso_sends == 0 ? 0 : mc.count) << describe(sent);
    EXPECT_EQ(sent.gso_fallbacks, 0u) << "a size GSO cannot carry is no reason to turn GSO off: " << describe(sent);
    for (std::size_t i = 0; i < mc.count; ++i) {
      auto m = receiver->receive(5s);
      ASSERT_TRUE(m.has_value()) << "datagram " << i << " never arrived";
      EXPECT_EQ(m->payload, make_payload(i, mc.size)) << "datagram " << i;
    }
    EXPECT_FALSE(receiver->receive(200ms).has_value()) << "more arrived than was sent";
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, GsoMtu, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
