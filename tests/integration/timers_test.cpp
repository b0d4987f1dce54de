// Timers on a running worker, for every backend: they fire in order of due time, periodic ones do
// not drift, a callback may cancel another timer due in the same round, a full table is an error
// (and frees up again), timers a socket owns go with it, and an engine with no sockets at all
// serves timers and posted work until stop().
#include <algorithm>
#include <future>
#include <mutex>
#include <vector>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

using Timers = SmallPoolPerBackend;


TEST_P(Timers, EngineWithoutSocketsRunsTimersAndPostsUntilStop) {
  auto engine = make_engine(options());
  must_start(*engine);
  std::atomic<int> fired{0};
  run_on_worker(*engine, [&](Reactor& r) {
    ASSERT_TRUE(r.call_later(1ms, [&] { fired.fetch_add(1); }));
  });
  ASSERT_TRUE(wait_until([&] { return fired.load() == 1; }, 10s));
  EXPECT_FALSE(engine->finished()) << "a worker without sockets runs until stop()";
  stop_and_wait(*engine);
  EXPECT_TRUE(engine->finished());
}

TEST_P(Timers, FireInOrderOfDueTime) {
  auto engine = make_engine(options());
  must_start(*engine);
  std::mutex mutex;
  std::vector<int> order;
  std::atomic<int> fired{0};
  run_on_worker(*engine, [&](Reactor& r) {
    // Scheduled out of order, several sharing a due time (those fire in scheduling order).
    const int delays_ms[] = {30, 10, 20, 10, 50, 1, 20, 40};
    for (int i = 0; i < 8; ++i) {
      const auto due = r.now() + std::chrono::milliseconds(delays_ms[i]);
      ASSERT_TRUE(r.call_at(due, [&, i] {
        std::lock_guard lock(mutex);
        order.push_back(i);
        fired.fetch_add(1);
      }));
    }
  });
  ASSERT_TRUE(wait_until([&] { return fired.load() == 8; }, 10s));
  std::lock_guard lock(mutex);
  EXPECT_EQ(order, (std::vector<int>{5, 1, 3, 2, 6, 0, 7, 4}));
  stop_and_wait(*engine);
}

TEST_P(Timers, NeverEarlyAndPeriodicDoesNotDrift) {
  auto engine = make_engine(options());
  must_start(*engine);
  struct Seen {
    std::mutex mutex;
    std::vector<Clock::time_point> at;  // the clock when each run began
  } seen;
  Clock::time_point first_due;
  TimerId id;
  constexpr auto period = 2ms;
  run_on_worker(*engine, [&](Reactor& r) {
    first_due = r.now() + period;
    auto t = r.call_every(period, [&] {
      std::lock_guard lock(seen.mutex);
      seen.at.push_back(Clock::now());
    });
    ASSERT_TRUE(t);
    id = *t;
  });
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard lock(seen.mutex);
    return seen.at.size() >= 50;
  }, 20s));
  run_on_worker(*engine, [&](Reactor& r) { EXPECT_TRUE(r.cancel(id)); });
  std::lock_guard lock(seen.mutex);
  // Run k is due at first_due + k*period (or skipped when the machine stalled): never before it,
  // and the runs' due slots only move forward, so lateness never accumulates into drift.
  std::int64_t last_slot = -1;
  for (const auto& t : seen.at) {
    ASSERT_GE(t, first_due);
    const std::int64_t slot = (t - first_due) / period;
    EXPECT_GT(slot, last_slot) << "two runs for one period";
    last_slot = slot;
  }
  const std::size_t runs = seen.at.size();
  stop_and_wait(*engine);
  EXPECT_GE(runs, 50u);
}

TEST_P(Timers, CancelFromAnotherTimersCallbackInTheSameRound) {
  auto engine = make_engine(options());
  must_start(*engine);
  std::atomic<int> first{0};
  std::atomic<int> second{0};
  std::atomic<int> marker{0};
  run_on_worker(*engine, [&](Reactor& r) {
    const auto due = r.now() + 5ms;
    auto victim = std::make_shared<TimerId>();
    ASSERT_TRUE(r.call_at(due, [&, victim, &reactor = r] {
      first.fetch_add(1);
      EXPECT_TRUE(reactor.cancel(*victim));
      EXPECT_FALSE(reactor.cancel(*victim)) << "a second cancel finds nothing";
    }));
    auto v = r.call_at(due, [&] { second.fetch_add(1); });  // same due time, fires after the first
    ASSERT_TRUE(v);
    *victim = *v;
    ASSERT_TRUE(r.call_at(due + 20ms, [&] { marker.fetch_add(1); }));
  });
  ASSERT_TRUE(wait_until([&] { return marker.load() == 1; }, 10s));
  EXPECT_EQ(first.load(), 1);
  EXPECT_EQ(second.load(), 0);
  stop_and_wait(*engine);
}

TEST_P(Timers, FullTableIsAnErrorUntilOneFrees) {
  EngineOptions o = options();
  o.timers_per_worker = 8;
  auto engine = make_engine(o);
  must_start(*engine);
  run_on_worker(*engine, [&](Reactor& r) {
    std::vector<TimerId> ids;
    for (int i = 0; i < 8; ++i) {
      auto t = r.call_later(1h, [] {});
      ASSERT_TRUE(t) << i;
      ids.push_back(*t);
    }
    EXPECT_EQ(r.pending_timers(), 8u);
    auto refused = r.call_later(1h, [] {});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, make_error_code(Errc::full));
    EXPECT_TRUE(r.cancel(ids[3]));
    EXPECT_FALSE(r.cancel(ids[3]));
    auto again = r.call_later(1h, [] {});
    ASSERT_TRUE(again);
    EXPECT_FALSE(r.cancel(ids[3])) << "a stale id must not cancel the slot's new timer";
    EXPECT_EQ(r.pending_timers(), 8u);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (i != 3) {
        EXPECT_TRUE(r.cancel(ids[i]));
      }
    }
    EXPECT_TRUE(r.cancel(*again));
    EXPECT_EQ(r.pending_timers(), 0u);
  });
  stop_and_wait(*engine);
}

TEST_P(Timers, SocketTimersGoWithTheSocketAndTheirSendsLeave) {
  // A socket's periodic timer sends a numbered datagram each period; after the third the
  // protocol stops listening, and the timer must never fire again.
  auto engine = make_engine(options());
  UdpSocket client(addr("127.0.0.1:0"));
  Recorder recorder;
  std::atomic<int> runs{0};
  std::atomic<int> runs_at_stop{-1};
  Hooks hooks;
  hooks.on_start = [&](Transport& t) {
    auto id = t.call_every(3ms, [&runs, &t, to = client.local()] {
      const int n = runs.fetch_add(1) + 1;
      if (n > 3) return;  // between stop_listening and the close
      const auto payload = make_payload(static_cast<std::uint64_t>(n), 32);
      EXPECT_EQ(t.send(payload, to), SendResult::queued);
      if (n == 3) t.stop_listening();
    });
    ASSERT_TRUE(id);
  };
  hooks.on_stop = [&] { runs_at_stop = runs.load(); };
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks));
  must_start(*engine);
  for (std::uint64_t n = 1; n <= 3; ++n) {
    auto m = client.receive(10s);
    ASSERT_TRUE(m) << "datagram " << n;
    EXPECT_EQ(payload_seq(m->payload), n);
  }
  ASSERT_TRUE(wait_until([&] { return recorder.lifecycles()[0].stops == 1; }, 10s));
  // Proof that it stayed cancelled: a later timer on the same worker fires while it does not.
  std::atomic<bool> later{false};
  run_on_worker(*engine, [&](Reactor& r) { ASSERT_TRUE(r.call_later(20ms, [&] { later = true; })); });
  ASSERT_TRUE(wait_until([&] { return later.load(); }, 10s));
  EXPECT_GE(runs_at_stop.load(), 3);
  EXPECT_EQ(runs.load(), runs_at_stop.load()) << "a closed socket's timer fired";
  EXPECT_FALSE(client.wait_readable(0ms));
  stop_and_wait(*engine);
}

INSTANTIATE_TEST_SUITE_P(Backends, Timers, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
