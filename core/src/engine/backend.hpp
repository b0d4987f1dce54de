// Backend: the private interface between a worker and the kernel I/O mechanism that drives it.
//
// A worker owns exactly one backend instance and calls it only from its own thread. setup() runs
// first on that thread (so that an io_uring ring is created by the thread that will submit to it),
// then run() serves until every socket of the worker has closed.
//
// What a backend must do, and what the Worker provides for it:
//   - receive into the worker's BufferPool, then Worker::accept() each datagram and
//     Worker::dispatch() the batch (which calls the protocol and counts);
//   - flush each socket's SendQueue after every hook call, counting sent / dropped / EAGAIN;
//   - call Worker::feed_writable() while a socket wants on_writable and has room, and wake no
//     later than Worker::writable_due() for a writer that deferred itself;
//   - watch Worker::wake_fd() and call Worker::handle_wake() when it fires (stop requests);
//   - stop reading from a socket once it is no longer `receiving`, and close it through
//     Worker::close_socket() once Worker::ready_to_close() says so;
//   - call Worker::idle_tick() when it has waited a full idle interval with nothing to do.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "salvo/engine.hpp"
#include "salvo/error.hpp"

namespace salvo::detail {

class Worker;

class Backend {
 public:
  virtual ~Backend() = default;
  // Bytes each receive buffer needs beyond EngineOptions::buffer_size (io_uring's recvmsg writes
  // a header, the source address and control data in front of the payload).
  virtual std::uint32_t buffer_headroom(const EngineOptions& options) const noexcept {
    (void)options;
    return 0;
  }
  virtual Result<void> setup(Worker& worker) = 0;
  virtual void run(Worker& worker) = 0;
};

// How long a backend sleeps when nothing happens before it calls Worker::idle_tick().
inline constexpr std::chrono::milliseconds idle_interval{100};

std::unique_ptr<Backend> make_epoll_backend();

#if SALVO_HAVE_IO_URING
std::unique_ptr<Backend> make_io_uring_backend();

// What the io_uring probe found (run once per process, on first use).
struct IoUringProbe {
  bool usable = false;
  std::string why_not;   // when !usable: a sentence a person can act on
  std::string features;  // when usable: what was found, e.g. "SINGLE_ISSUER, DEFER_TASKRUN, ..."
};
const IoUringProbe& probe_io_uring();
#endif

// Resolves `requested` (after the SALVO_BACKEND override) to the backend that will run, with a
// reason a person can read. Fails when a specific backend was asked for and cannot run.
Result<BackendChoice> choose_backend(BackendKind requested);

std::unique_ptr<Backend> make_backend(BackendKind kind);

}  // namespace salvo::detail
