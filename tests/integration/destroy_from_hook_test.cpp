// Destroying an engine on one of its own worker threads, for every backend: from on_datagrams and
// from a timer callback, `delete` of the engine writes one line to stderr naming the worker and
// aborts the process (engine.hpp's contract), instead of waiting for itself forever or ending in
// std::terminate without a word. Each case runs in a forked child, which must die by SIGABRT with
// that line, well within its time limit (no deadlock).
#include <csignal>
#include <string>

#include "support/in_child.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

using DestroyFromHook = testing::TestWithParam<BackendKind>;

Engine* doomed = nullptr;  // the child's engine, for the hook that destroys it

class DeletesItsEngine final : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram>, Transport&) override { delete doomed; }
};

class Quiet final : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram>, Transport&) override {}
};

const char* const diagnostic = "salvo: Engine destroyed on its own worker thread 0 (inside a hook or posted function)";

void expect_refused_loudly(const ChildOutcome& outcome) {
  EXPECT_FALSE(outcome.timed_out) << "the destructor waited for itself\n" << outcome.describe();
  EXPECT_FALSE(outcome.exited) << outcome.describe();
  EXPECT_EQ(outcome.signal, SIGABRT) << outcome.describe();
  EXPECT_NE(outcome.err.find(diagnostic), std::string::npos) << outcome.err;
  EXPECT_EQ(outcome.err.find("terminate called"), std::string::npos) << outcome.err;
}

TEST_P(DestroyFromHook, DeletingTheEngineInOnDatagramsIsRefusedWithOneLine) {
  const BackendKind backend = GetParam();
  const ChildOutcome outcome = run_in_child(
      [backend] {
        EngineOptions options;
        options.backend = backend;
        auto engine = Engine::create(options);
        if (!engine) return "create: " + engine.error().message;
        auto bound = (*engine)->listen(addr("127.0.0.1:0"), [](unsigned) { return std::make_unique<DeletesItsEngine>(); });
        if (!bound) return "listen: " + bound.error().message;
        if (auto r = (*engine)->start(); !r) return "start: " + r.error().message;
        doomed = engine->release();  // the hook owns it now
        UdpSocket client(addr("127.0.0.1:0"));
        client.send_to(make_payload(1, 16), *bound);
        ::pause();  // until the abort; the parent's deadline ends a child that never gets it
        return std::string("the child outlived its engine's destruction");
      },
      30s);
  expect_refused_loudly(outcome);
}

TEST_P(DestroyFromHook, DeletingTheEngineInATimerIsRefusedWithOneLine) {
  const BackendKind backend = GetParam();
  const ChildOutcome outcome = run_in_child(
      [backend] {
        EngineOptions options;
        options.backend = backend;
        auto engine = Engine::create(options);
        if (!engine) return "create: " + engine.error().message;
        if (auto r = (*engine)->start(); !r) return "start: " + r.error().message;
        doomed = engine->release();
        auto posted = doomed->post(0, [](Reactor& reactor) {
          (void)reactor.call_later(std::chrono::milliseconds(1), [] { delete doomed; });
        });
        if (!posted) return "post: " + posted.error().message;
        ::pause();
        return std::string("the child outlived its engine's destruction");
      },
      30s);
  expect_refused_loudly(outcome);
}

// The same engine destroyed on the controlling thread after stop() from a hook is the supported
// way, and ends normally.
TEST_P(DestroyFromHook, StopFromTheHookThenDestroyOutsideIsFine) {
  const BackendKind backend = GetParam();
  const ChildOutcome outcome = run_in_child(
      [backend] {
        EngineOptions options;
        options.backend = backend;
        auto engine = Engine::create(options);
        if (!engine) return "create: " + engine.error().message;
        auto bound = (*engine)->listen(addr("127.0.0.1:0"), [](unsigned) { return std::make_unique<Quiet>(); });
        if (!bound) return "listen: " + bound.error().message;
        if (auto r = (*engine)->start(); !r) return "start: " + r.error().message;
        Engine* raw = engine->get();
        auto posted = raw->post(0, [raw] { raw->stop(); });
        if (!posted) return "post: " + posted.error().message;
        if (!raw->wait_for(10s)) return std::string("the engine did not finish after stop() from its worker");
        engine->reset();
        return std::string();
      },
      30s);
  EXPECT_TRUE(outcome.passed()) << outcome.describe();
}

INSTANTIATE_TEST_SUITE_P(Backends, DestroyFromHook, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
