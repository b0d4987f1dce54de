// The moment a sending command's load begins. The engine is started first, with every socket
// bound and every sender's on_start run, while the senders wait; then open() hands each worker the
// same epoch and its senders begin, sending from the epoch on. So the setup (threads, rings, binds)
// is done before the start time, not after it, and `--start-at` needs no more than a wait between
// start() and open(). The epoch may lie a little ahead: each worker then waits it out on its own
// timer, so that the start costs one wake-up per worker, not a wake-up of the controlling thread
// and then a hand-over.
//
// Threading: enlist() and withdraw() run on a sender's worker (from on_start and on_stop), the
// begin calls too (posted by open() to each worker), so each worker's list is touched by that worker
// alone and nothing is locked. open() is for the controlling thread, after Engine::start, once.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "salvo/salvo.hpp"

namespace salvo::cli {

class LoadStart {
 public:
  using Time = std::chrono::steady_clock::time_point;

  // A protocol whose sending waits for the start.
  class Sender {
   public:
    // On the sender's worker, once: send from `epoch` on (the load's start, shared by all; it may
    // be ahead). The sender calls sending() when it queues its first datagram.
    virtual void begin(Transport& transport, Time epoch) = 0;

   protected:
    ~Sender() = default;
  };

  explicit LoadStart(unsigned workers);

  // From the sender's on_start: it begins when the load starts (at once if it has).
  void enlist(unsigned worker, Sender& sender, Transport& transport);
  // From the sender's on_stop, if it may stop before the start (its transport is gone then).
  void withdraw(unsigned worker, Sender& sender) noexcept;

  // Begins every enlisted sender on every worker with `epoch`. Returns when all is posted; the
  // workers begin their senders as soon as they see it.
  Result<void> open(Engine& engine, Time epoch);

  // From a sender on `worker`, when it queues its first datagram: notes the wall clock then (once
  // per worker, so one clock read per run).
  void sending(unsigned worker) noexcept;

  // The wall clock (ns since the Unix epoch) when the first datagram was queued, on any worker:
  // when the load really started. 0 if nothing was sent. Read it after the engine has stopped.
  std::int64_t began_unix_ns() const noexcept;

 private:
  struct Enlisted {
    Sender* sender;
    Transport* transport;
  };
  struct Worker {
    std::vector<Enlisted> senders;
    bool open = false;
    Time epoch{};
    std::int64_t began_unix_ns = 0;
  };
  std::vector<Worker> workers_;
};

}  // namespace salvo::cli
