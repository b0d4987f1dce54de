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
#include <set>
#include <string>

#include "support/in_child.hpp"
#include "support/syscall_failures.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

constexpr std::uint64_t datagrams = 2000;  // far beyond the 512 entries of a worker's submission queue
constexpr std::uint32_t refusals = 8;

class SubmissionRefused : public testing::TestWithParam<BackendKind> {};

TEST_P(SubmissionRefused, NothingIsLostUncountedAndTrafficGoesOn) {
  const BackendKind kind = GetParam();
  const bool uring = kind == BackendKind::io_uring;
  const ChildOutcome outcome = run_in_child(
      [kind, uring] {
        ChildChecks c;
        // Before the engine, so that its worker thread inherits the filter.
        SyscallFailures kernel(uring ? __NR_io_uring_enter : __NR_sendmmsg);
        if (!kernel.ok()) return "SKIP: " + kernel.error();
        UdpSocket receiver(addr("127.0.0.1:0"), 8 << 20);
        EngineOptions o;
        o.backend = kind;
        o.buffer_count = 64;
        o.send_queue_entries = 4096;
        o.socket_send_buffer = 8 << 20;
        o.gso = false;  // a message per datagram: io_uring's 2,000 sends overflow its submission queue
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

        // What the refusals cost: io_uring nothing, epoll the first datagram of each refused call.
        const std::uint64_t expected = uring ? datagrams : datagrams - refusals;
        std::set<std::uint64_t> seen;
        std::uint64_t duplicates = 0;
        while (seen.size() < expected) {
          auto m = receiver.receive(20s);
          if (!m) break;
          if (!seen.insert(payload_seq(m->payload)).second) ++duplicates;
        }
        c.check(not_queued.load() == 0, std::to_string(not_queued.load()) + " sends were not queued");
        c.check(kernel.failed() == refusals, "the kernel refused " + std::to_string(kernel.failed()) + " calls, not " + std::to_string(refusals));
        c.check(seen.size() == expected, "received " + std::to_string(seen.size()) + " distinct datagrams, not " + std::to_string(expected));
        c.check(duplicates == 0, std::to_string(duplicates) + " datagrams came twice");
        if (!uring) {
          // Each refused sendmmsg dropped the oldest queued datagram: 0 to 4.
          c.check(!seen.empty() && *seen.begin() == refusals, "the first datagram received is not the sixth");
        }
        c.check(!receiver.wait_readable(200ms), "more datagrams than were sent");

        // Traffic goes on: the worker did not spin or stall, and answers a stop as usual.
        engine.stop();
        c.check(engine.wait_for(20s), "the engine did not stop");
        const Counters k = engine.counters();
        c.check(k.send_requests == datagrams, "send_requests " + describe(k));
        c.check(k.sent == expected, "sent " + describe(k));
        c.check(k.dropped_send_error == datagrams - expected, "dropped_send_error " + describe(k));
        c.check(k.submission_refusals == (uring ? refusals : 0), "submission_refusals " + describe(k));
        return c.failures();
      },
      60s);
  if (outcome.passed() || outcome.failures.rfind("SKIP: ", 0) != 0) {
    EXPECT_TRUE(outcome.passed()) << outcome.describe();
  } else {
    GTEST_SKIP() << outcome.failures;
  }
}

TEST_P(SubmissionRefused, AStopWhileTheKernelRefusesEndsOnceItTakesAgain) {
  const BackendKind kind = GetParam();
  const bool uring = kind == BackendKind::io_uring;
  const ChildOutcome outcome = run_in_child(
      [kind, uring] {
        ChildChecks c;
        SyscallFailures kernel(uring ? __NR_io_uring_enter : __NR_sendmmsg);
        if (!kernel.ok()) return "SKIP: " + kernel.error();
        UdpSocket receiver(addr("127.0.0.1:0"), 8 << 20);
        EngineOptions o;
        o.backend = kind;
        o.buffer_count = 64;
        o.send_queue_entries = 4096;
        o.socket_send_buffer = 8 << 20;
        o.gso = false;
        o.stop_flush_timeout = std::chrono::minutes(1);  // the stop waits for the sends
        Recorder recorder;
        Hooks hooks;
        hooks.on_start = [&](Transport& t) {
          kernel.fail_next(UINT32_MAX, uring ? EAGAIN : ENOBUFS);  // until told otherwise
          for (std::uint64_t i = 0; i < datagrams; ++i) (void)t.send(make_payload(i, 64), receiver.local());
        };
        auto created = Engine::create(o);
        if (!created) return "create: " + created.error().message;
        Engine& engine = **created;
        auto bound = engine.listen(addr("127.0.0.1:0"), recording_factory(recorder, hooks, Record::nothing));
        if (!bound) return "listen: " + bound.error().message;
        if (auto r = engine.start(); !r) return "start: " + r.error().message;

        c.check(wait_until([&] { return kernel.failed() >= 10; }, 20s), "the kernel was not asked 10 times");
        engine.stop();
        if (uring) {
          // The worker goes on asking, a round a millisecond, and cannot end the stop while its
          // sends (and the receive's cancel) wait in the submission queue.
          const std::uint64_t at_stop = kernel.failed();
          c.check(wait_until([&] { return kernel.failed() >= at_stop + 10; }, 20s), "the worker stopped asking");
          c.check(!engine.finished(), "the stop ended with its sends still queued");
        }
        kernel.fail_next(0, 0);
        c.check(engine.wait_for(20s), "the engine did not stop once the kernel took submissions again");

        const Counters k = engine.counters();
        // io_uring sends everything; epoll dropped a datagram per refused sendmmsg.
        const std::uint64_t expected = uring ? datagrams : datagrams - kernel.failed();
        c.check(k.send_requests == datagrams, "send_requests " + describe(k));
        c.check(k.sent == expected, "sent " + describe(k));
        c.check(k.dropped_send_error == datagrams - expected, "dropped_send_error " + describe(k));
        c.check(k.submission_refusals == (uring ? kernel.failed() : 0), "submission_refusals " + describe(k) +
                                                                              " against " + std::to_string(kernel.failed()));
        std::set<std::uint64_t> seen;
        while (seen.size() < expected) {
          auto m = receiver.receive(20s);
          if (!m) break;
          seen.insert(payload_seq(m->payload));
        }
        c.check(seen.size() == expected, "received " + std::to_string(seen.size()) + " distinct datagrams");
        c.check(!receiver.wait_readable(200ms), "more datagrams than were sent");
        return c.failures();
      },
      60s);
  if (outcome.passed() || outcome.failures.rfind("SKIP: ", 0) != 0) {
    EXPECT_TRUE(outcome.passed()) << outcome.describe();
  } else {
    GTEST_SKIP() << outcome.failures;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, SubmissionRefused, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
