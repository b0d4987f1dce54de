// The Transport calls that reach past the socket to its worker: the reactor, timers the socket
// owns, pausing reads.
#include "engine/reactor_core.hpp"
#include "engine/worker.hpp"
#include "salvo/transport.hpp"
#include "socket/socket_state.hpp"

namespace salvo {

Reactor& Transport::reactor() noexcept { return state_->reactor->reactor(); }

Result<TimerId> Transport::call_later(std::chrono::steady_clock::duration delay, TimerCallback fn) noexcept {
  detail::SocketState& s = *state_;
  if (s.closed) return Error::make(Errc::invalid_state, "socket closed");
  return s.reactor->schedule(s.reactor->now() + delay, std::chrono::steady_clock::duration::zero(), std::move(fn), s.index);
}

Result<TimerId> Transport::call_every(std::chrono::steady_clock::duration period, TimerCallback fn) noexcept {
  detail::SocketState& s = *state_;
  if (s.closed) return Error::make(Errc::invalid_state, "socket closed");
  if (period <= std::chrono::steady_clock::duration::zero()) return Error::make(Errc::bad_option, "timer period <= 0");
  return s.reactor->schedule(s.reactor->now() + period, period, std::move(fn), s.index);
}

void Transport::pause_reading() noexcept {
  detail::SocketState& s = *state_;
  if (s.worker != nullptr) {
    s.worker->pause_reading(s);
  } else if (!s.stopping && !s.closed) {
    s.paused = true;
  }
}

void Transport::resume_reading() noexcept {
  detail::SocketState& s = *state_;
  if (s.worker != nullptr) {
    s.worker->resume_reading(s);
  } else if (!s.stopping && !s.closed && !s.draining) {
    s.paused = false;
  }
}

bool Transport::reading_paused() const noexcept { return state_->paused; }

void Protocol::on_draining(std::chrono::nanoseconds /*left*/, Transport& transport) { transport.stop_listening(); }

}  // namespace salvo
