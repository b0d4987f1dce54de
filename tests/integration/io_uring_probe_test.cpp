// The io_uring probe out of descriptors, in a forked child of a process that has not probed yet
// (this executable, salvo_fresh_probe_tests, registers no test by backend availability, so its
// probe cache is empty when a child is made): a probe that fails for want of a descriptor (EMFILE,
// at io_uring_setup, or at the probe's own socket) says so, as a passing condition, and is not
// kept: with the limit restored, io_uring is usable again (the capability report too), and engines
// with explicit io_uring and with auto start on io_uring and echo.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "salvo/capabilities.hpp"
#include "support/child_engine.hpp"
#include "support/in_child.hpp"
#include "support/syscall_failures.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

int lowest_free_descriptor() {
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) ::close(fd);
  return fd;
}

TEST(IoUringProbe, AFailureForWantOfDescriptorsIsNotKept) {
  SALVO_SKIP_UNLESS_DESCRIPTOR_EXHAUSTION_TESTABLE();
  const ChildOutcome outcome = run_in_child(
      [] {
        ChildChecks c;
        rlimit saved{};
        ::getrlimit(RLIMIT_NOFILE, &saved);
        const int lowest = lowest_free_descriptor();
        rlimit lowered = saved;

        // No descriptor at all: io_uring_setup itself fails.
        lowered.rlim_cur = static_cast<rlim_t>(lowest);
        ::setrlimit(RLIMIT_NOFILE, &lowered);
        const Capabilities none = probe_capabilities();
        EngineOptions uring;
        uring.backend = BackendKind::io_uring;
        auto refused = Engine::create(uring);
        ::setrlimit(RLIMIT_NOFILE, &saved);
        c.check(!none.io_uring.usable.available, "the probe passed with no descriptor left");
        c.contains(none.io_uring.usable.reason, "io_uring_setup failed: Too many open files", "capability report");
        c.contains(none.io_uring.usable.reason, "RLIMIT_NOFILE is " + std::to_string(lowest), "capability report");
        c.contains(none.io_uring.usable.reason, "a passing condition", "capability report");
        if (c.check(!refused, "explicit io_uring was created with no descriptor left")) {
          c.check(refused.error().code == make_error_code(Errc::backend_unavailable), "explicit io_uring: error code");
          c.contains(refused.error().message, "io_uring backend unavailable: io_uring_setup failed: Too many open files",
                     "explicit io_uring");
        }

        // One descriptor: the ring is made, the probe's socket is not; auto runs on epoll (whose
        // eventfd takes that descriptor) and says why.
        lowered.rlim_cur = static_cast<rlim_t>(lowest + 1);
        ::setrlimit(RLIMIT_NOFILE, &lowered);
        {
          auto fallen = Engine::create(EngineOptions{});
          ::setrlimit(RLIMIT_NOFILE, &saved);
          if (c.check(fallen.ok(), "auto with one descriptor: " + (fallen ? "" : fallen.error().message))) {
            c.check((*fallen)->backend().kind == BackendKind::epoll, "auto with one descriptor did not choose epoll");
            c.contains((*fallen)->backend().reason,
                       "epoll: auto, io_uring unavailable: the probe's loopback socket: Too many open files", "auto");
            c.contains((*fallen)->backend().reason, "a passing condition", "auto");
          }
        }

        // The limit restored: the probe runs again and passes, in the report and for engines (a
        // machine where io_uring cannot run at all has nothing to show).
        const Capabilities again = probe_capabilities();
        if (!again.io_uring.built) return std::string(child_skip) + "this build has no io_uring backend";
        if (!again.io_uring.usable.available && again.io_uring.usable.reason.find("a passing condition") == std::string::npos) {
          return std::string(child_skip) + again.io_uring.usable.reason;
        }
        c.check(again.io_uring.usable.available,
                "io_uring unusable after the limit was restored: " + again.io_uring.usable.reason);
        const BackendChoice explicit_choice = serve_once(c, uring, "explicit io_uring after the limit");
        c.check(explicit_choice.kind == BackendKind::io_uring, "explicit io_uring did not run io_uring");
        const BackendChoice automatic = serve_once(c, EngineOptions{}, "auto after the limit");
        c.check(automatic.kind == BackendKind::io_uring, "auto did not choose io_uring again: " + automatic.reason);
        return c.failures();
      },
      60s);
  if (outcome.skipped()) GTEST_SKIP() << outcome.failures;
  EXPECT_TRUE(outcome.passed()) << outcome.describe();
}

TEST(IoUringProbe, ARingRefusedForWantOfMemoryIsNotKept) {
  const ChildOutcome outcome = run_in_child(
      [] {
        ChildChecks c;
        SyscallFailures setup(__NR_io_uring_setup);
        if (!setup.ok()) return std::string(child_skip) + setup.error();

        setup.fail_next(1, ENOMEM);
        EngineOptions uring;
        uring.backend = BackendKind::io_uring;
        auto refused = Engine::create(uring);
        c.check(setup.failed() == 1, "the probe did not meet the refusal");
        if (c.check(!refused, "explicit io_uring was created with its ring refused")) {
          c.check(refused.error().code == make_error_code(Errc::backend_unavailable), "explicit io_uring: error code");
          c.contains(refused.error().message, "io_uring backend unavailable: io_uring_setup failed: Cannot allocate memory",
                     "explicit io_uring");
          c.contains(refused.error().message, "(a passing condition: the next engine probes again)", "explicit io_uring");
        }

        setup.fail_next(1, ENOMEM);
        {
          auto fallen = Engine::create(EngineOptions{});
          c.check(setup.failed() == 2, "the second engine did not probe again");
          if (c.check(fallen.ok(), "auto with its ring refused: " + (fallen ? "" : fallen.error().message))) {
            c.check((*fallen)->backend().kind == BackendKind::epoll, "auto with its ring refused did not choose epoll");
            c.contains((*fallen)->backend().reason,
                       "epoll: auto, io_uring unavailable: io_uring_setup failed: Cannot allocate memory", "auto");
            c.contains((*fallen)->backend().reason, "a passing condition", "auto");
          }
        }

        // Memory again: the probe runs once more and passes (a machine where io_uring cannot run at
        // all has nothing to show), and engines run io_uring.
        const std::uint64_t before = setup.calls();
        const BackendChoice explicit_choice = serve_once(c, uring, "explicit io_uring with memory again");
        if (explicit_choice.kind != BackendKind::io_uring && explicit_choice.reason.find("a passing condition") == std::string::npos &&
            explicit_choice.reason.find("unavailable") != std::string::npos) {
          return std::string(child_skip) + explicit_choice.reason;
        }
        c.check(setup.calls() >= before + 2, "the third engine did not probe again (nor set up its ring)");
        c.check(explicit_choice.kind == BackendKind::io_uring, "explicit io_uring did not run io_uring");
        const BackendChoice automatic = serve_once(c, EngineOptions{}, "auto with memory again");
        c.check(automatic.kind == BackendKind::io_uring, "auto did not choose io_uring again: " + automatic.reason);
        c.check(setup.failed() == 2, "a call failed that was not meant to");
        return c.failures();
      },
      60s);
  if (outcome.skipped()) GTEST_SKIP() << outcome.failures;
  EXPECT_TRUE(outcome.passed()) << outcome.describe();
}

}  // namespace
}  // namespace salvo::test
