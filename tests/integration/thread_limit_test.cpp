// Threads made after start() when the system will not make any more, for every backend, in a
// forked child whose threads all take a seccomp filter (clone of a thread: EAGAIN) once its
// engine serves: the first host name Reactor::resolve is asked for, which starts the resolver
// thread, gets an error naming why in its callback, on the worker, instead of an exception out
// of resolve(); the engine serves on, and stops and joins normally.
#include <atomic>
#include <optional>
#include <string>

#include "support/in_child.hpp"
#include "support/seccomp_filters.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

using ThreadLimit = testing::TestWithParam<BackendKind>;

class Echo final : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram> batch, Transport& transport) override {
    for (const Datagram& d : batch) (void)transport.send(d.payload, d.peer);
  }
};

TEST_P(ThreadLimit, TheResolverThreadThatCannotStartIsAnErrorInTheCallback) {
  if (!seccomp_filters_apply) GTEST_SKIP() << "the seccomp filters are written for x86-64";
  const BackendKind backend = GetParam();
  const ChildOutcome outcome = run_in_child(
      [backend] {
        ChildChecks c;
        EngineOptions options;
        options.backend = backend;
        auto engine = Engine::create(options);
        if (!engine) return "create: " + engine.error().message;
        auto bound = (*engine)->listen(addr("127.0.0.1:0"), [](unsigned) { return std::make_unique<Echo>(); });
        if (!bound) return "listen: " + bound.error().message;
        if (auto r = (*engine)->start(); !r) return "start: " + r.error().message;
        if (std::string why = install_seccomp_filter(no_threads_filter(), /*all_threads=*/true); !why.empty()) return why;

        std::atomic<bool> answered{false};
        std::optional<Result<std::vector<Address>>> answer;
        bool on_worker = false;
        auto posted = (*engine)->post(0, [&](Reactor& reactor) {
          reactor.resolve("localhost", 53, [&](Result<std::vector<Address>> result) {
            on_worker = reactor.worker_index() == 0;
            answer = std::move(result);
            answered.store(true, std::memory_order_release);
          });
        });
        if (!posted) return "post: " + posted.error().message;
        c.check(wait_until([&] { return answered.load(std::memory_order_acquire); }, 10s), "resolve never answered");
        if (answered.load(std::memory_order_acquire)) {
          c.check(on_worker, "the answer did not come on the worker");
          if (c.check(!*answer, "the name resolved without a resolver thread")) {
            c.check(answer->error().code == std::errc::resource_unavailable_try_again, "error code: " + answer->error().message);
            c.contains(answer->error().message,
                       "cannot create the resolver thread to look up localhost: Resource temporarily unavailable",
                       "error message");
          }
        }
        // The engine serves on.
        UdpSocket client(addr("127.0.0.1:0"));
        c.check(client.send_to(make_payload(3, 32), *bound), "send");
        auto back = client.receive(10s);
        c.check(back && payload_seq(back->payload) == 3, "no echo after the refused thread");
        (*engine)->stop();
        c.check((*engine)->wait_for(10s), "the engine did not finish");
        return c.failures();
      },
      60s);
  EXPECT_TRUE(outcome.passed()) << outcome.describe();
}

INSTANTIATE_TEST_SUITE_P(Backends, ThreadLimit, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
