// ReactorCore: what stands behind a salvo::Reactor: the worker's timer table and the round's
// clock, with the worker (or nothing, for a FakeTransport) to open sockets and post on. One per
// worker, used only on that worker's thread.
//
// The timer table holds the users' timers and the engine's own few (the kernel-drop sampler, the
// send pool's trim, the deferred writers' wake-up). Users get EngineOptions::timers_per_worker of
// them, whatever the engine's own take: the table is sized for both.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "salvo/reactor.hpp"
#include "timers/timer_wheel.hpp"

namespace salvo::detail {

class Worker;
class Resolver;

class ReactorCore {
 public:
  using Clock = std::chrono::steady_clock;

  // `worker` is null for a FakeTransport's reactor: then open() fails, and resolve() answers on
  // the next run_due() of the fake's clock.
  ReactorCore(Worker* worker, unsigned worker_index) noexcept;
  ReactorCore(const ReactorCore&) = delete;
  ReactorCore& operator=(const ReactorCore&) = delete;

  // `user_timers` for users, `engine_timers` for the engine's own to start with.
  Result<void> init(std::uint32_t user_timers, std::uint32_t engine_timers, Clock::time_point now);
  Reactor& reactor() noexcept { return reactor_; }
  Worker* worker() const noexcept { return worker_; }
  unsigned worker_index() const noexcept { return worker_index_; }
  void set_resolver(Resolver* resolver) noexcept { resolver_ = resolver; }

  Clock::time_point now() const noexcept { return now_; }
  void set_now(Clock::time_point now) noexcept { now_ = now; }

  // A user's timer: refused with Errc::full once timers_per_worker are pending. `owner` is
  // a socket index (its timers go when it closes) or TimerWheel::kNoOwner.
  Result<TimerId> schedule(Clock::time_point due, Clock::duration period, TimerCallback fn,
                           std::uint32_t owner) noexcept;
  bool cancel(TimerId id) noexcept;
  std::size_t cancel_owned_by(std::uint32_t owner) noexcept { return wheel_.cancel_owned_by(owner); }
  std::size_t pending_user_timers() const noexcept { return wheel_.size() - engine_pending_; }

  // The engine's own timers: never refused while the reservations above hold.
  TimerId schedule_engine(Clock::time_point due, Clock::duration period, TimerCallback fn) noexcept;
  void cancel_engine(TimerId& id) noexcept;
  // A one-shot engine timer that fired: no longer pending.
  void engine_timer_fired(TimerId& id) noexcept;

  Clock::time_point earliest() const noexcept { return wheel_.earliest(); }
  Clock::time_point firing_due() const noexcept { return wheel_.firing_due(); }
  std::size_t run_due(Clock::time_point now);

  // Reactor::resolve's plumbing; `done` runs on this worker.
  void resolve(std::string host, std::uint16_t port, ResolveCallback done);

 private:
  Worker* worker_;
  unsigned worker_index_;
  Resolver* resolver_ = nullptr;
  Reactor reactor_;
  TimerWheel wheel_;
  Clock::time_point now_{};
  std::uint32_t user_capacity_ = 0;
  std::size_t engine_pending_ = 0;
  // A FakeTransport's answers to resolve(), run at its next run_due().
  std::vector<std::function<void()>> fake_answers_;
};

}  // namespace salvo::detail
