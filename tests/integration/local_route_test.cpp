// A destination the local routing table refuses (`ip route add unreachable|prohibit PREFIX`), for
// every backend: the kernel fails each send to it at once, with EHOSTUNREACH or EACCES, errors
// that an ICMP message about an earlier datagram can also leave pending. The backends send a
// datagram that failed that way again (it may have failed for another's sake), but when the
// error queue shows no ICMP report came in, only a few times (quiet_send_retries in
// core/src/datapath/error_queue.hpp): then it is dropped, counted once as a send error and reported once
// through on_error, and the datagrams queued behind it still go out, in order.
//
// Runs in a network namespace the test makes (skipped with the reason when it cannot be made).
#include <atomic>
#include <cerrno>
#include <mutex>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "support/netns.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

struct RouteCase {
  const char* type;  // the route type `ip route add TYPE PREFIX` installs
  int error;         // what the kernel fails a send to it with
};

class LocalRoute : public testing::TestWithParam<BackendKind> {
 protected:
  void refused_by_route(const RouteCase& route) {
    const std::string ip = find_tool("ip");
    if (ip.empty()) GTEST_SKIP() << "iproute2 (`ip`) is not installed";
    EngineOptions o;
    o.backend = GetParam();
    constexpr std::uint64_t valid = 12;
    constexpr std::uint64_t refused_after = 4;  // the refused datagram goes after this many valid ones
    const std::string skip = in_fresh_namespace([&] {
      if (auto why = run_tool(ip, {"route", "add", route.type, "198.51.100.0/24"}); !why.empty()) {
        GTEST_SKIP() << "cannot add the " << route.type << " route: " << why;
      }
      UdpSocket receiver(addr("127.0.0.1:0"));
      std::mutex mutex;
      std::vector<std::error_code> errors;
      Recorder recorder;
      Hooks hooks;
      hooks.on_start = [&](Transport& t) {
        for (std::uint64_t i = 0; i < valid; ++i) {
          EXPECT_EQ(t.send(make_payload(i, 48), receiver.local()), SendResult::queued);
          if (i + 1 == refused_after) {
            EXPECT_EQ(t.send(make_payload(1000, 48), addr("198.51.100.7:9")), SendResult::queued);
          }
        }
      };
      hooks.on_error = [&](std::error_code e, Transport&) {
        std::lock_guard lock(mutex);
        errors.push_back(e);
      };
      auto engine = make_engine(o);
      must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks, Record::nothing));
      must_start(*engine);

      std::vector<std::uint64_t> seqs;
      while (seqs.size() < valid) {
        auto m = receiver.receive(5s);
        if (!m) break;
        EXPECT_EQ(m->payload, make_payload(payload_seq(m->payload), 48));
        seqs.push_back(payload_seq(m->payload));
      }
      const bool reported = wait_until(
          [&] {
            std::lock_guard lock(mutex);
            return !errors.empty();
          },
          5s);
      stop_and_wait(*engine);

      std::vector<std::uint64_t> expected;
      for (std::uint64_t i = 0; i < valid; ++i) expected.push_back(i);
      EXPECT_EQ(seqs, expected) << "every valid datagram arrives once, in order";
      const Counters c = engine->counters();
      EXPECT_TRUE(reported) << describe(c);
      EXPECT_EQ(c.send_requests, valid + 1) << describe(c);
      EXPECT_EQ(c.sent, valid) << describe(c);
      EXPECT_EQ(c.dropped_send_error, 1u) << describe(c);
      EXPECT_EQ(c.refused, 0u) << describe(c);
      std::lock_guard lock(mutex);
      ASSERT_EQ(errors.size(), 1u) << "one on_error for the one refused datagram";
      EXPECT_EQ(errors[0], std::error_code(route.error, std::system_category())) << errors[0].message();
    });
    if (!skip.empty()) GTEST_SKIP() << skip;
  }
};

TEST_P(LocalRoute, AnUnreachableRouteDropsTheDatagramOnceAndSendsTheRest) {
  refused_by_route({"unreachable", EHOSTUNREACH});
}

TEST_P(LocalRoute, AProhibitRouteDropsTheDatagramOnceAndSendsTheRest) { refused_by_route({"prohibit", EACCES}); }

INSTANTIATE_TEST_SUITE_P(Backends, LocalRoute, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
