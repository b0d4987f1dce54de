// A stop whose queued sends cannot leave, for every backend: a token bucket on the namespace's
// loopback (LoopbackTokenBucket) holds what a socket sent, so its send buffer fills and stays
// full, as behind a peer or path that takes nothing. stop() then waits
// EngineOptions::stop_flush_timeout and no longer; stop_now() does not wait at all, and cuts short
// a stop() already waiting. Either way every datagram the protocol asked to send is counted once:
// sent, or dropped_send_error.
//
// Runs in a network namespace the test makes; needs root and `tc` with the tbf qdisc (skipped with
// the reason otherwise).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

#include "support/netns.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

constexpr std::uint64_t queued = 800;  // well beyond what a default send buffer holds of 1200 bytes
constexpr std::size_t datagram = 1200;

class StopFlush : public testing::TestWithParam<BackendKind> {
 protected:
  // Runs `body` in a fresh namespace whose loopback sends 8 kbit/s, with an engine whose one
  // socket has queued `queued` datagrams and begun sending them, and the protocol's on_stop
  // count. Skips when the namespace or the qdisc cannot be made.
  void with_blocked_sends(std::chrono::milliseconds flush_timeout,
                          const std::function<void(Engine&, const std::atomic<int>& stops)>& body) {
    EngineOptions o;
    o.backend = GetParam();
    o.buffer_count = 64;
    o.stop_flush_timeout = flush_timeout;
    const std::string skip = in_fresh_namespace([&] {
      // The receiver outlives the bucket, and the bucket the engine (see LoopbackTokenBucket).
      UdpSocket receiver(addr("127.0.0.1:0"));
      LoopbackTokenBucket bucket;
      if (!bucket.why_not().empty()) GTEST_SKIP() << bucket.why_not();
      std::atomic<int> stops{0};
      Recorder recorder;
      Hooks hooks;
      hooks.on_start = [&](Transport& t) {
        for (std::uint64_t i = 0; i < queued; ++i) {
          EXPECT_EQ(t.send(make_payload(i, datagram), receiver.local()), SendResult::queued);
        }
      };
      hooks.on_stop = [&] { stops.fetch_add(1); };
      auto engine = make_engine(o);
      must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks, Record::nothing));
      must_start(*engine);
      // The first datagrams fill the send buffer at once; the rest of the 800 cannot leave within a
      // minute (epoll meets EAGAIN, io_uring's sends wait in the kernel).
      if (!wait_until([&] { return engine->counters().sent > 0; }, 20s)) {
        engine->stop_now();
        FAIL() << "nothing was sent: " << describe(engine->counters());
      }
      body(*engine, stops);
      // Every datagram asked for is accounted once: what the kernel took, and what never left.
      const Counters c = engine->counters();
      EXPECT_EQ(c.send_requests, queued) << describe(c);
      EXPECT_EQ(c.sent + c.dropped_send_error, queued) << describe(c);
      EXPECT_GT(c.sent, 0u) << describe(c);
      EXPECT_GT(c.dropped_send_error, 0u) << describe(c);
      EXPECT_EQ(stops.load(), 1);
    });
    if (!skip.empty()) GTEST_SKIP() << skip;
  }
};

using std::chrono::steady_clock;

long long ms_since(steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - t).count();
}

TEST_P(StopFlush, AStopWaitsForTheFlushTimeoutAndNoLonger) {
  constexpr auto flush = 300ms;
  with_blocked_sends(flush, [&](Engine& engine, const std::atomic<int>&) {
    const auto asked = steady_clock::now();
    engine.stop();
    ASSERT_TRUE(engine.wait_for(20s)) << "the stop outlasted its flush timeout by far";
    const long long took = ms_since(asked);
    EXPECT_GE(took, flush.count()) << "the stop did not wait for the send buffer to drain";
    std::printf("[ figure ] stop() with a 300 ms flush timeout and a full send buffer took %lld ms\n", took);
  });
}

TEST_P(StopFlush, StopNowDoesNotWaitForAFullSendBuffer) {
  with_blocked_sends(60s, [&](Engine& engine, const std::atomic<int>&) {
    const auto asked = steady_clock::now();
    engine.stop_now();
    ASSERT_TRUE(engine.wait_for(20s)) << "stop_now() waited on the 60 s flush timeout";
    std::printf("[ figure ] stop_now() with a full send buffer took %lld ms\n", ms_since(asked));
  });
}

TEST_P(StopFlush, StopNowCutsShortAStopAlreadyFlushing) {
  with_blocked_sends(60s, [&](Engine& engine, const std::atomic<int>& stops) {
    engine.stop();
    // The stop waits on the send buffer: it cannot finish for a minute, nor the protocol hear
    // on_stop, which comes as its socket closes.
    EXPECT_FALSE(engine.wait_for(500ms));
    EXPECT_EQ(stops.load(), 0);
    const auto asked = steady_clock::now();
    engine.stop_now();
    ASSERT_TRUE(engine.wait_for(20s)) << "stop_now() did not end the flush under way";
    std::printf("[ figure ] stop_now() during stop()'s flush took %lld ms\n", ms_since(asked));
  });
}

INSTANTIATE_TEST_SUITE_P(Backends, StopFlush, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
