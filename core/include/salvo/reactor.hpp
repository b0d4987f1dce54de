// Reactor: what one worker offers beyond its sockets' transports, after Twisted's reactor:
// timers (callLater, LoopingCall), sockets opened while running (listenUDP at any time) and
// host-name resolution (resolve). Every worker has one; a protocol reaches it through
// Transport::reactor(), a posted function through Engine::post(worker, fn(Reactor&)).
//
// Threading: a Reactor belongs to its worker thread; call it only from that worker's hooks, timer
// callbacks and posted functions. Callbacks it runs are called on that thread, between batches,
// never concurrently with a hook of the same worker.
//
// Timers are allocation-free once running: each worker has EngineOptions::timers_per_worker slots,
// and a full table is an error (Errc::full), never an allocation. A TimerId
// is a slot and a generation, so a stale id (its timer already fired or was cancelled) is harmless
// to cancel. Timers due in one round fire together, after that round's received batches were
// dispatched and before its sends are flushed, so what they send leaves in the same submission.
// Worker-wide timers live until they fire or are cancelled: a callback that captures a protocol
// must be cancelled by that protocol's on_stop. Timers a socket owns (Transport::call_later) are
// cancelled by the engine when the socket closes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "salvo/address.hpp"
#include "salvo/error.hpp"
#include "salvo/protocol.hpp"
#include "salvo/socket_options.hpp"
#include "salvo/timer.hpp"

namespace salvo {

namespace detail {
class ReactorCore;
}

class Transport;

// How a socket opened at runtime is set up (Reactor::open, Engine::open).
struct OpenOptions {
  SocketOptions socket;  // buffer sizes, DF/PMTU discovery, TOS, mark, device, freebind, reuse
  Address connect_to;    // connect to this peer after binding (Family::none: unconnected)
};

// The answer to Reactor::resolve: every address the name has, in the resolver's order.
using ResolveCallback = std::function<void(Result<std::vector<Address>>)>;

class Reactor {
 public:
  using Clock = std::chrono::steady_clock;

  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  unsigned worker_index() const noexcept;
  // When the current round began: the time due timers are compared with (cheap, no clock read).
  // FakeTransport's reactor answers its test clock.
  Clock::time_point now() const noexcept;
  // Inside a timer callback: the time it was due (for a periodic timer, the period it serves), so
  // that a callback can tell how late it runs; time_point::min() elsewhere.
  Clock::time_point firing_due() const noexcept;

  // --- timers ---
  // Runs fn once, `delay` from now() (Twisted: callLater). A delay of zero or less runs it in the
  // next round.
  Result<TimerId> call_later(Clock::duration delay, TimerCallback fn) noexcept;
  Result<TimerId> call_at(Clock::time_point when, TimerCallback fn) noexcept;
  // Runs fn every `period`, the first time one period from now() (Twisted: LoopingCall.start
  // with now=False). Each run is due exactly one period after the previous one was due, so the
  // timer does not drift; a run that came too late to catch up skips the periods it missed (as
  // LoopingCall does) instead of firing them back to back. Periods of zero or less are an error.
  Result<TimerId> call_every(Clock::duration period, TimerCallback fn) noexcept;
  // Cancels a pending timer (one-shot or periodic); false when the id is stale or empty. A timer
  // may cancel itself or any other from inside its callback.
  bool cancel(TimerId id) noexcept;
  std::size_t pending_timers() const noexcept;

  // --- sockets at runtime ---
  // Opens a UDP socket bound to `local` (port 0 picks one), optionally connected, served by this
  // worker with `protocol`: its on_start runs before this returns, and it receives from the next
  // round on. Errors (port in use, EMFILE, a bad option) come back here; the protocol is then
  // destroyed without its hooks being called. When a socket opened on port 0 closes while others
  // stay open, the io_uring backend closes its descriptor with the worker's next submission, a
  // moment after its on_stop (one system call fewer per socket); an open here that finds no
  // descriptor free meanwhile has the worker submit first and try again, so it sees that
  // descriptor as free (Engine::open on another thread does not, and may find it still taken).
  Result<Transport*> open(const Address& local, std::unique_ptr<Protocol> protocol, const OpenOptions& how = {});

  // --- names ---
  // Resolves `host` (a name or a numeric address) without blocking the worker: a resolver thread
  // asks the system (getaddrinfo), and `done` runs on this worker with the result. A numeric host
  // is answered in the next round without the resolver. If the worker stops first, done never runs.
  // When the resolver thread cannot be created (the first name starts it), done gets that error.
  void resolve(std::string host, std::uint16_t port, ResolveCallback done);

 private:
  friend class detail::ReactorCore;
  explicit Reactor(detail::ReactorCore& core) noexcept : core_(&core) {}
  detail::ReactorCore* core_;
};

}  // namespace salvo
