// A ring refused at start, in a forked child (run_in_child) so that the seccomp filter stays
// there: the probe passed, then io_uring_setup is refused with EPERM (the filter Docker's profile
// applies, installed after the probe). Under auto every worker falls back to epoll, backend() says
// why, and the engine echoes with exact counts; an explicit io_uring fails at start with the
// reason and leaves nothing open.
#include <string>

#include "support/child_engine.hpp"
#include "support/in_child.hpp"
#include "support/seccomp_filters.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

TEST(IoUringFallback, ARingRefusedAtStartFallsBackToEpollUnderAuto) {
  if (!seccomp_filters_apply) GTEST_SKIP() << "the seccomp filters are written for x86-64";
  if (!backend_available(BackendKind::io_uring)) GTEST_SKIP() << "io_uring does not run here";
  const ChildOutcome outcome = run_in_child(
      [] {
        ChildChecks c;
        EngineOptions options;
        options.workers = 2;
        auto engine = Engine::create(options);  // the probe passes here
        if (!c.check(engine.ok(), "create: " + (engine ? "" : engine.error().message))) return c.failures();
        c.check((*engine)->backend().kind == BackendKind::io_uring, "auto did not choose io_uring before the filter");
        auto bound = (*engine)->listen(addr("127.0.0.1:0"), child_echo_factory());
        if (!c.check(bound.ok(), "listen")) return c.failures();

        if (std::string why = install_seccomp_filter(no_io_uring_filter()); !why.empty()) return why;
        auto started = (*engine)->start();
        if (!c.check(started.ok(), "start under auto: " + (started ? "" : started.error().message))) return c.failures();
        const BackendChoice& now = (*engine)->backend();
        c.check(now.kind == BackendKind::epoll, "auto did not fall back to epoll: " + now.reason);
        c.contains(now.reason, "epoll: auto, the io_uring probe passed but a ring could not be set up at start", "reason");
        c.contains(now.reason, "Operation not permitted", "reason");
        // Both workers serve (SO_REUSEPORT spreads the clients' flows over them).
        for (std::uint64_t seq = 1; seq <= 8; ++seq) c.check(echoes(*bound, seq), "no echo of " + std::to_string(seq));
        (*engine)->stop();
        (*engine)->wait();
        const Counters counters = (*engine)->counters();
        c.check(counters.received == 8 && counters.sent == 8,
                "counters after the fallback: received " + std::to_string(counters.received) + ", sent " +
                    std::to_string(counters.sent));
        return c.failures();
      },
      60s);
  EXPECT_TRUE(outcome.passed()) << outcome.describe();
}

TEST(IoUringFallback, AnExplicitIoUringRefusedAtStartFailsWithTheReason) {
  if (!seccomp_filters_apply) GTEST_SKIP() << "the seccomp filters are written for x86-64";
  if (!backend_available(BackendKind::io_uring)) GTEST_SKIP() << "io_uring does not run here";
  const ChildOutcome outcome = run_in_child(
      [] {
        ChildChecks c;
        EngineOptions options;
        options.backend = BackendKind::io_uring;
        auto engine = Engine::create(options);
        if (!c.check(engine.ok(), "create: " + (engine ? "" : engine.error().message))) return c.failures();
        auto bound = (*engine)->listen(addr("127.0.0.1:0"), child_echo_factory());
        if (!c.check(bound.ok(), "listen")) return c.failures();
        if (std::string why = install_seccomp_filter(no_io_uring_filter()); !why.empty()) return why;
        auto started = (*engine)->start();
        if (c.check(!started, "explicit io_uring started with io_uring_setup refused")) {
          c.contains(started.error().message, "io_uring_setup for worker 0: Operation not permitted", "start error");
        }
        c.check((*engine)->backend().kind == BackendKind::io_uring, "an explicit choice changed");
        c.check((*engine)->finished(), "the engine is not finished after a failed start");
        c.check((*engine)->open_sockets() == 0, "a failed start left sockets open");
        return c.failures();
      },
      60s);
  EXPECT_TRUE(outcome.passed()) << outcome.describe();
}

}  // namespace
}  // namespace salvo::test
