#include "engine/reactor_core.hpp"

#include <string>
#include <utility>

#include "engine/worker.hpp"
#include "names/resolver.hpp"
#include "salvo/resolve.hpp"

namespace salvo::detail {

ReactorCore::ReactorCore(Worker* worker, unsigned worker_index) noexcept
    : worker_(worker), worker_index_(worker_index), reactor_(*this) {}

Result<void> ReactorCore::init(std::uint32_t user_timers, std::uint32_t engine_timers, Clock::time_point now) {
  user_capacity_ = user_timers;
  now_ = now;
  return wheel_.init(user_timers + engine_timers, now);
}

Result<TimerId> ReactorCore::schedule(Clock::time_point due, Clock::duration period, TimerCallback fn,
                                      std::uint32_t owner) noexcept {
  if (pending_user_timers() >= user_capacity_) {
    return Error::make(Errc::full, "timers full");
  }
  return wheel_.schedule(due, period, std::move(fn), owner);
}

bool ReactorCore::cancel(TimerId id) noexcept { return wheel_.cancel(id); }

TimerId ReactorCore::schedule_engine(Clock::time_point due, Clock::duration period, TimerCallback fn) noexcept {
  auto id = wheel_.schedule(due, period, std::move(fn), TimerWheel::kNoOwner);
  if (!id) return {};  // cannot happen while the reservations hold
  ++engine_pending_;
  return *id;
}

void ReactorCore::cancel_engine(TimerId& id) noexcept {
  if (id && wheel_.cancel(id)) --engine_pending_;
  id = {};
}

void ReactorCore::engine_timer_fired(TimerId& id) noexcept {
  if (id) --engine_pending_;
  id = {};
}

std::size_t ReactorCore::run_due(Clock::time_point now) {
  now_ = now;
  std::size_t ran = 0;
  if (!fake_answers_.empty()) {
    std::vector<std::function<void()>> answers;
    answers.swap(fake_answers_);
    for (auto& answer : answers) answer();
    ran += answers.size();
  }
  return ran + wheel_.run_due(now);
}

void ReactorCore::resolve(std::string host, std::uint16_t port, ResolveCallback done) {
  if (!done) return;
  // A numeric host needs no resolver; it is still answered later, never inside the caller.
  if (auto numeric = Address::from_ip(host, port); numeric) {
    std::vector<Address> one{*numeric};
    auto answer = [done = std::move(done), one = std::move(one)]() mutable { done(std::move(one)); };
    if (worker_ == nullptr) {
      fake_answers_.push_back(std::move(answer));
    } else {
      (void)worker_->post(std::move(answer));
    }
    return;
  }
  if (worker_ == nullptr || resolver_ == nullptr) {
    // A FakeTransport asks the system at once (tests resolve only local names) and answers at the
    // next run of its clock, as a worker would answer in a later round.
    auto result = salvo::resolve(host, port);
    fake_answers_.push_back([done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
    return;
  }
  Worker* worker = worker_;
  resolver_->resolve(std::move(host), port, Address::Family::none,
                     [worker, done = std::move(done)](Result<std::vector<Address>> result) mutable {
                       // A worker that has finished refuses the post: the answer has nobody to go to.
                       (void)worker->post([done = std::move(done), result = std::move(result)]() mutable {
                         done(std::move(result));
                       });
                     });
}

}  // namespace salvo::detail

namespace salvo {

unsigned Reactor::worker_index() const noexcept { return core_->worker_index(); }
Reactor::Clock::time_point Reactor::now() const noexcept { return core_->now(); }
Reactor::Clock::time_point Reactor::firing_due() const noexcept { return core_->firing_due(); }

Result<TimerId> Reactor::call_later(Clock::duration delay, TimerCallback fn) noexcept {
  return core_->schedule(core_->now() + delay, Clock::duration::zero(), std::move(fn), detail::TimerWheel::kNoOwner);
}

Result<TimerId> Reactor::call_at(Clock::time_point when, TimerCallback fn) noexcept {
  return core_->schedule(when, Clock::duration::zero(), std::move(fn), detail::TimerWheel::kNoOwner);
}

Result<TimerId> Reactor::call_every(Clock::duration period, TimerCallback fn) noexcept {
  if (period <= Clock::duration::zero()) return Error::make(Errc::bad_option, "timer period <= 0");
  return core_->schedule(core_->now() + period, period, std::move(fn), detail::TimerWheel::kNoOwner);
}

bool Reactor::cancel(TimerId id) noexcept { return core_->cancel(id); }
std::size_t Reactor::pending_timers() const noexcept { return core_->pending_user_timers(); }

Result<Transport*> Reactor::open(const Address& local, std::unique_ptr<Protocol> protocol, const OpenOptions& how) {
  if (core_->worker() == nullptr) {
    return Error::make(Errc::invalid_state, "a FakeTransport's reactor cannot open sockets");
  }
  return core_->worker()->open_socket(local, std::move(protocol), how);
}

void Reactor::resolve(std::string host, std::uint16_t port, ResolveCallback done) {
  core_->resolve(std::move(host), port, std::move(done));
}

}  // namespace salvo
