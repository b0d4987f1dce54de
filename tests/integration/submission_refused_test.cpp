// The kernel refusing to take sends for want of memory, mid-run, for every backend: io_uring_enter
// failing with EAGAIN (the kernel could not allocate requests) while a round has filled the
// submission queue, and sendmmsg failing with ENOBUFS (what a socket with IP_RECVERR hears from a
// full device queue). Made on purpose by a seccomp listener (SyscallFailures), armed on the worker's
// thread just before the protocol queues 2,000 datagrams, so that the refusals meet those sends.
// io_uring keeps every request queued (a null SQE leaves the rest of the queue for a later round)
// and sends all 2,000, counting each refused io_uring_enter in submission_refusals; epoll drops the
// datagram each refused sendmmsg was sending, counted in dropped_send_error. Nothing is lost
// uncounted, nothing spins, and the engine stops as usual. A stop asked for while the kernel
// refuses everything (its cancels then find no SQE either) ends once the kernel takes
// submissions again, with every datagram sent.
#include <sys/syscall.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <thread>

#include "support/in_child.hpp"
#include "support/syscall_failures.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

constexpr std::uint64_t datagrams = 2000;  // far beyond the 512 entries of a worker's submission queue

class SubmissionRefused : public testing::TestWithParam<BackendKind> {
 protected:
  struct Run {
    SyscallFailures& kernel;
    UdpSocket& receiver;
    Engine& engine;
    bool uring;
  };

  // In a forked child: the call that carries the backend's sends made refusable (io_uring_enter, or
  // sendmmsg), a receiver read by a thread of its own, and an engine whose protocol, at on_start, sets the next `refusals` calls
  // to fail and queues `datagrams` sends of 64 bytes to the receiver, one message each (GSO off: so
  // that io_uring's overflow its submission queue). `body` goes on from there; then the books are
  // checked: every send asked for was sent or counted dropped, and the receiver got exactly the
  // ones sent, none twice.
  void run(std::uint32_t refusals, std::chrono::milliseconds flush_timeout, const std::function<void(ChildChecks&, Run&)>& body) {
    const BackendKind kind = GetParam();
    const ChildOutcome outcome = run_in_child(
        [&] {
          ChildChecks c;
          const bool uring = kind == BackendKind::io_uring;
          // Before the engine, so that its worker thread inherits the filter.
          SyscallFailures kernel(uring ? __NR_io_uring_enter : __NR_sendmmsg);
          if (!kernel.ok()) return child_skip + kernel.error();
          UdpSocket receiver(addr("127.0.0.1:0"), 8 << 20);
          EngineOptions o;
          o.backend = kind;
          o.buffer_count = 64;
          o.send_queue_entries = 4096;
          o.socket_send_buffer = 8 << 20;
          o.gso = false;
          o.stop_flush_timeout = flush_timeout;
          Recorder recorder;
          std::atomic<std::uint64_t> not_queued{0};
          Hooks hooks;
          hooks.on_start = [&](Transport& t) {
            kernel.fail_next(refusals, uring ? EAGAIN : ENOBUFS);
            for (std::uint64_t i = 0; i < datagrams; ++i) {
              if (t.send(make_payload(i, 64), receiver.local()) != SendResult::queued) not_queued.fetch_add(1);
            }
          };
          auto created = Engine::create(o);
          if (!created) return "create: " + created.error().message;
          Engine& engine = **created;
          auto bound = engine.listen(addr("127.0.0.1:0"), recording_factory(recorder, hooks, Record::nothing));
          if (!bound) return "listen: " + bound.error().message;
          if (auto r = engine.start(); !r) return "start: " + r.error().message;

          // Read as the datagrams come (the receive buffer need not hold them all), until the
          // engine has stopped and nothing more came for half a second.
          std::set<std::uint64_t> seen;
          std::uint64_t twice = 0;
          std::atomic<bool> stopped{false};
          std::thread reader([&] {
            for (;;) {
              auto m = receiver.receive(500ms);
              if (m) {
                if (!seen.insert(payload_seq(m->payload)).second) ++twice;
              } else if (stopped.load()) {
                return;
              }
            }
          });
          Run run{kernel, receiver, engine, uring};
          body(c, run);
          c.check(engine.wait_for(20s), "the engine did not stop");
          stopped.store(true);
          reader.join();
          c.check(not_queued.load() == 0, std::to_string(not_queued.load()) + " sends were not queued");

          // io_uring sends everything; epoll drops the datagram each refused sendmmsg was sending.
          const std::uint64_t sent = uring ? datagrams : datagrams - kernel.failed();
          const Counters k = engine.counters();
          c.check(k.send_requests == datagrams, "send_requests " + describe(k));
          c.check(k.sent == sent, "sent " + describe(k));
          c.check(k.dropped_send_error == datagrams - sent, "dropped_send_error " + describe(k));
          c.check(k.submission_refusals == (uring ? kernel.failed() : 0),
                  "submission_refusals against " + std::to_string(kernel.failed()) + " refused: " + describe(k));
          c.check(seen.size() == sent, "received " + std::to_string(seen.size()) + " distinct datagrams, not " + std::to_string(sent));
          c.check(twice == 0, std::to_string(twice) + " datagrams came twice");
          // Each refused sendmmsg dropped the oldest queued datagram.
          if (!uring) c.check(seen.empty() || *seen.begin() == kernel.failed(), "the dropped datagrams were not the first ones");
          return c.failures();
        },
        60s);
    if (outcome.skipped()) GTEST_SKIP() << outcome.failures;
    EXPECT_TRUE(outcome.passed()) << outcome.describe();
    if (outcome.passed()) std::fputs(outcome.err.c_str(), stdout);  // the child's figures
  }
};

TEST_P(SubmissionRefused, NothingIsLostUncountedAndTrafficGoesOn) {
  constexpr std::uint32_t refusals = 8;
  run(refusals, std::chrono::seconds(1), [&](ChildChecks& c, Run& r) {
    c.check(wait_until([&] { return r.kernel.failures_left() == 0; }, 20s), "the refusals were not all met");
    c.check(wait_until([&] { return r.engine.counters().sent + r.engine.counters().dropped_send_error == datagrams; }, 20s),
            "the sends did not all go: " + describe(r.engine.counters()));
    c.check(r.kernel.failed() == refusals, "the kernel refused " + std::to_string(r.kernel.failed()) + " calls");
    r.engine.stop();
  });
}

TEST_P(SubmissionRefused, AStopWhileTheKernelRefusesEndsOnceItTakesAgain) {
  run(UINT32_MAX, std::chrono::minutes(1), [&](ChildChecks& c, Run& r) {
    c.check(wait_until([&] { return r.kernel.failed() >= 10; }, 20s), "the kernel was not asked 10 times");
    r.engine.stop();
    if (r.uring) {
      // The worker goes on asking, a round a millisecond, and cannot end the stop while its sends
      // (and the receive's cancel) wait in the submission queue: 200 refusals more.
      const std::uint64_t at_stop = r.kernel.failed();
      const auto since = std::chrono::steady_clock::now();
      c.check(wait_until([&] { return r.kernel.failed() >= at_stop + 200; }, 20s), "the worker stopped asking");
      c.check(!r.engine.finished(), "the stop ended with its sends still queued");
      // Not spinning: a round a millisecond asks a few times (its sends, the cancel, the wait, the
      // completions); a worker that did not pause asks several times as often even through this
      // filter's slow answers. A slow machine only asks less.
      const std::uint64_t asked = r.kernel.failed() - at_stop;
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since).count();
      std::fprintf(stderr, "[ figure ] %llu refused calls in %lld ms after the stop\n", static_cast<unsigned long long>(asked),
                   static_cast<long long>(ms));
      c.check(asked <= 10 * static_cast<std::uint64_t>(ms + 1),
              std::to_string(asked) + " refused calls in " + std::to_string(ms) + " ms: the worker spins");
    }
    r.kernel.fail_next(0, 0);
  });
}

INSTANTIATE_TEST_SUITE_P(Backends, SubmissionRefused, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
