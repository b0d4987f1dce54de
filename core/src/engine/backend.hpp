// Backend: the private interface between a worker and the kernel I/O mechanism that drives it.
//
// The worker owns the loop (Worker::run_rounds: wait, reap, deliver, writable, flush, stop and
// housekeeping) and every policy in it; a backend knows its kernel interface and nothing else.
// A worker owns exactly one backend and calls it only from its own thread. The verbs:
//
//   setup(worker)          once, on the worker thread, before the first round: create the kernel
//                          objects (ring, epoll set), register the worker's sockets and its wake
//                          eventfd. Errors come back as values.
//   add(s)                 a socket the worker opened (at setup or while running) joins the backend:
//                          its per-socket state is made or reset (the worker reuses the slots of
//                          closed sockets), it is registered with the kernel object, and IP_RECVERR
//                          is turned on when s.recverr_pending. Errors come back as values and
//                          leave the socket out.
//   sets_recverr()         whether add() can turn IP_RECVERR on with the round's other requests
//                          (the worker then opens sockets without it, sparing a system call).
//   start_receiving(s)     arm receiving on a socket (multishot recvmsg, or EPOLLIN), while s.reads().
//   stop_receiving(s)      disarm it (cancel the request, or drop EPOLLIN); idempotent.
//   submit(s)              hand the socket's queued sends the kernel does not have yet to it
//                          (sendmmsg now, or SENDMSG SQEs that go with the next wait), reporting
//                          every result through the worker's SendOutcome, never deciding itself.
//   cancel_sends(s)        the socket's stop deadline passed: what the kernel still holds of its
//                          sends comes back failed (ECANCELED). Idempotent.
//   sends_pending(s)       the socket has queued sends submit() did not hand over yet (the backend
//                          had no room in flight for them): the worker keeps calling submit.
//   holds(s)               the kernel still holds requests of the socket: its fd must stay open.
//   release(s)             the socket is about to close: forget it (its slot may be reused by add),
//                          and hand the kernel what it still has queued that names the fd.
//   close_later(s)         the worker would have the socket's fd closed with the backend's next
//                          submission (its policy: see Worker::close_socket): true when the
//                          backend queued that, false for the worker to close it now.
//   submit_now()           hand the kernel what is queued at once (closes among it); true when
//                          anything went. The worker's retry when it finds no descriptor free, and
//                          its thread's last act (no other thread may submit to its ring).
//   can_forget(s)          s closed a while ago: nothing of it is left in the backend's lists or
//                          in requests not yet submitted, so its slot may be given back.
//   forget_from(n)         the worker gave back its slots from n on: drop their per-socket state
//                          (a socket opened later in such a slot is add()ed afresh).
//   wait(plan)             submit what is prepared, then sleep until there is something to reap
//                          or plan.deadline, or return at once when plan.spin. With plan.hold,
//                          keep sleeping until the hold has passed, unless a whole batch is
//                          ready sooner (the latency budget, see batch_wait.hpp). Says how it
//                          waited (WaitKind).
//   reap(worker)           take what the kernel finished: datagrams into worker.batch(), handed
//                          over per socket with worker.deliver(); send results to the worker's
//                          SendOutcome; the wake eventfd to worker.handle_wake(). Returns how many
//                          completions or events were traffic (receives and sends).
//
// A new backend (AF_XDP, say) is a folder beside io_uring/ and fallback_epoll/ with these verbs,
// a make_*_backend() below and a case in backend.cpp.
#pragma once

#include <time.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "salvo/engine.hpp"
#include "salvo/error.hpp"

namespace salvo::detail {

class Worker;
struct SocketState;

// What the worker asks of one wait.
struct WaitPlan {
  std::chrono::steady_clock::time_point now;       // when the round began
  std::chrono::steady_clock::time_point deadline;  // wake no later than this (always set)
  bool spin = false;     // do not sleep: busy polling, or work already due
  bool writers = false;  // a protocol waits for send-queue room, which send completions free
  // Hold the wait open this long for more datagrams (the latency budget), at most deadline - now;
  // zero for an ordinary wait. Never with spin.
  std::chrono::nanoseconds hold{0};
};

// A duration as the kernel takes it (timespec, or io_uring's __kernel_timespec); a negative one is
// zero.
template <class Timespec = timespec>
Timespec to_timespec(std::chrono::nanoseconds d) noexcept {
  const std::int64_t n = d.count() > 0 ? d.count() : 0;
  Timespec ts{};
  ts.tv_sec = n / 1'000'000'000;
  ts.tv_nsec = n % 1'000'000'000;
  return ts;
}

// A hold carried out where the kernel has no minimum wait: a plain sleep that arrivals do not cut
// short (an EINTR makes it shorter). The wait after it collects what came.
inline void sleep_through(std::chrono::nanoseconds hold) noexcept {
  const timespec ts = to_timespec(hold);
  ::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
}

// How a wait went, for the worker's counters and its batch-wait policy.
enum class WaitKind : std::uint8_t {
  none,      // did not sleep: spinning, or results were already there to reap first
  ordinary,  // slept until the first result (or the deadline)
  held,      // carried out plan.hold
  refused,   // the kernel took nothing (short of memory): the worker pauses before the next round
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Bytes each receive buffer needs beyond EngineOptions::buffer_size (io_uring's recvmsg writes
  // a header, the source address and control data in front of the payload).
  virtual std::uint32_t buffer_headroom(const EngineOptions& options) const noexcept {
    (void)options;
    return 0;
  }
  // Bytes of scratch the backend keeps beside each queued datagram (SendQueue::scratch).
  virtual std::uint32_t send_scratch_bytes() const noexcept { return 0; }
  virtual Result<void> setup(Worker& worker) = 0;
  virtual Result<void> add(SocketState& s) = 0;
  virtual bool sets_recverr() const noexcept { return false; }
  virtual void start_receiving(SocketState& s) = 0;
  virtual void stop_receiving(SocketState& s) = 0;
  virtual void submit(SocketState& s) = 0;
  virtual void cancel_sends(SocketState& s) = 0;
  virtual bool sends_pending(const SocketState& s) const noexcept = 0;
  virtual bool holds(const SocketState& s) const noexcept = 0;
  virtual void release(SocketState& s) = 0;
  virtual bool close_later(SocketState& s) {
    (void)s;
    return false;
  }
  virtual bool submit_now() { return false; }
  virtual bool can_forget(const SocketState& s) const noexcept = 0;
  virtual void forget_from(std::uint32_t index) noexcept = 0;
  virtual WaitKind wait(const WaitPlan& plan) = 0;
  virtual unsigned reap(Worker& worker) = 0;
};

std::unique_ptr<Backend> make_epoll_backend();

#if SALVO_HAVE_IO_URING
std::unique_ptr<Backend> make_io_uring_backend();

// What the io_uring probe found.
struct IoUringProbe {
  bool usable = false;
  // The answer holds for the life of the process (success, or a refusal that cannot change while
  // it runs); otherwise it came from a passing shortage and the next probe_io_uring() asks again.
  bool settled = false;
  std::string why_not;   // when !usable: a sentence a person can act on
  std::string features;  // when usable: what was found, e.g. "SINGLE_ISSUER, DEFER_TASKRUN, ..."
};
// The settled answer of an earlier call, or a new probe (a ring, a socket and one datagram on
// loopback, a fraction of a millisecond). Any thread; takes a lock: for the control path only.
IoUringProbe probe_io_uring();
// Whether an io_uring call failing with `err` says something lasting about this process (ENOSYS,
// EPERM, EACCES, EINVAL, EOPNOTSUPP) rather than a shortage that may pass (EMFILE, ENOMEM, ...).
bool io_uring_errno_lasts(int err) noexcept;
#endif

// `requested` after the SALVO_BACKEND override (an error when that variable names no backend).
Result<BackendKind> requested_backend(BackendKind requested);

// Resolves `requested` (after the SALVO_BACKEND override) to the backend that will run, with a
// reason a person can read. Fails when a specific backend was asked for and cannot run.
Result<BackendChoice> choose_backend(BackendKind requested);

std::unique_ptr<Backend> make_backend(BackendKind kind);

}  // namespace salvo::detail
