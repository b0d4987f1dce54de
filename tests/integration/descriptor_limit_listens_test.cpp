// A library engine at RLIMIT_NOFILE 64 asked for 100 runtime listens, for each backend, in a forked
// child of a process that has not probed io_uring yet (salvo_fresh_probe_tests): the listens that
// find no descriptor each fail with EMFILE in one line naming the limit and its value; the engine
// serves on; an engine created while none is left fails the same way; once the engines are gone,
// the process holds exactly the descriptors it held before; and the io_uring probe, first run
// (with epoll) while descriptors were exhausted, is not poisoned: with the limit restored,
// io_uring runs.
#include <sys/resource.h>

#include <string>

#include "support/child_engine.hpp"
#include "support/in_child.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

class DescriptorLimitListens : public testing::TestWithParam<BackendKind> {};

class Quiet final : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram>, Transport&) override {}
};

constexpr int limit = 64;
constexpr int listens = 100;

TEST_P(DescriptorLimitListens, HundredRuntimeListensUnderSixtyFourDescriptors) {
  SALVO_SKIP_UNLESS_DESCRIPTOR_EXHAUSTION_TESTABLE();
  const BackendKind backend = GetParam();
  const ChildOutcome outcome = run_in_child(
      [backend] {
        ChildChecks c;
        EngineOptions options;
        options.backend = backend;
        rlimit saved{};
        ::getrlimit(RLIMIT_NOFILE, &saved);
        const std::size_t before = open_descriptors();
        rlimit lowered = saved;
        lowered.rlim_cur = limit;
        if (::setrlimit(RLIMIT_NOFILE, &lowered) != 0) return std::string("setrlimit failed");
        int bound = 0;
        int refused = 0;
        {
          auto engine = Engine::create(options);
          if (!engine) {
            if (backend == BackendKind::io_uring) return child_skip + engine.error().message;
            return "create: " + engine.error().message;
          }
          const Address echo = [&] {
            auto a = (*engine)->listen(addr("127.0.0.1:0"), child_echo_factory());
            return a ? *a : Address{};
          }();
          if (auto r = (*engine)->start(); !r) return "start: " + r.error().message;
          UdpSocket client(addr("127.0.0.1:0"));  // before the listens take what is left
          for (int i = 0; i < listens; ++i) {
            auto r = (*engine)->listen(addr("127.0.0.1:0"), [](unsigned) { return std::make_unique<Quiet>(); });
            if (r) {
              ++bound;
              continue;
            }
            ++refused;
            const Error& e = r.error();
            c.check(e.code == std::errc::too_many_files_open, "listen " + std::to_string(i) + ": " + e.message);
            c.contains(e.message, "RLIMIT_NOFILE is " + std::to_string(limit), "listen " + std::to_string(i));
            c.check(e.message.find('\n') == std::string::npos, "listen " + std::to_string(i) + ": more than one line");
          }
          c.check(bound > 0 && refused > 0 && bound + refused == listens,
                  "listens: " + std::to_string(bound) + " bound, " + std::to_string(refused) + " refused");
          c.check((*engine)->open_sockets() == static_cast<std::size_t>(bound) + 1,
                  "open sockets: " + std::to_string((*engine)->open_sockets()));
          // No descriptor left: another engine is one line naming the limit, whatever the backend
          // (with auto, the io_uring probe runs here for the first time when this one is epoll).
          auto another = Engine::create(EngineOptions{});
          if (c.check(!another, "an engine was created with no descriptor left")) {
            c.contains(another.error().message, "Too many open files", "second engine");
            c.contains(another.error().message, "RLIMIT_NOFILE is " + std::to_string(limit), "second engine");
          }
          // The engine serves on with what it has.
          c.check(client.send_to(make_payload(9, 32), echo), "send");
          auto back = client.receive(10s);
          c.check(back && payload_seq(back->payload) == 9, "no echo while out of descriptors");
          (*engine)->stop();
          c.check((*engine)->wait_for(10s), "the engine did not finish");
        }
        c.check(open_descriptors() == before,
                "descriptors: " + std::to_string(before) + " before, " + std::to_string(open_descriptors()) + " after");
        ::setrlimit(RLIMIT_NOFILE, &saved);
        std::printf("[ figure ] %s: %d of %d listens bound under RLIMIT_NOFILE %d, %d refused\n",
                    std::string(to_string(backend)).c_str(), bound, listens, limit, refused);
        // Not poisoned: io_uring runs now, where this machine has it.
        EngineOptions uring;
        uring.backend = BackendKind::io_uring;
        if (auto probe = Engine::create(uring); probe || probe.error().message.find("a passing condition") != std::string::npos) {
          c.check(serve_once(c, uring, "io_uring after the limit").kind == BackendKind::io_uring, "io_uring did not run");
        }
        return c.failures();
      },
      120s);
  if (outcome.skipped()) GTEST_SKIP() << outcome.failures;
  EXPECT_TRUE(outcome.passed()) << outcome.describe();
}

INSTANTIATE_TEST_SUITE_P(Backends, DescriptorLimitListens, testing::Values(BackendKind::epoll, BackendKind::io_uring),
                         backend_test_name);

}  // namespace
}  // namespace salvo::test
