// Resolver: name lookups off the workers. salvo::resolve() blocks for as long as the system resolver
// takes, which a worker's round must never do, so the engine hands lookups to this one background
// thread and posts each answer back to the worker that asked.
// Threads: resolve() and shutdown() from any thread, except from inside a `done` callback for
// shutdown() (it waits for the resolver thread, which is the one running the callback). `done`
// runs on the resolver thread, one job at a time, in the order the jobs were queued; jobs still
// queued at shutdown() get their `done` on the thread calling shutdown(), before it returns.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "salvo/address.hpp"
#include "salvo/error.hpp"

namespace salvo::detail {

class Resolver {
 public:
  using Done = std::function<void(Result<std::vector<Address>>)>;

  Resolver() = default;  // no thread until the first resolve()
  ~Resolver();           // shutdown()
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Queues salvo::resolve(host, port, family); `done` gets its result exactly once. After
  // shutdown(), `done` gets Errc::cancelled at once, on the calling thread; when the resolver
  // thread cannot be created (the first lookup starts it), the errno of that failure (EAGAIN),
  // likewise. Never throws.
  void resolve(std::string host, std::uint16_t port, Address::Family family, Done done);

  // Stops the thread: jobs not yet started get Errc::cancelled ("resolver shut down"); a lookup
  // in progress is waited for (the system resolver's own time-outs bound it) and its `done` runs.
  // Idempotent.
  void shutdown();

 private:
  struct Job {
    std::string host;
    std::uint16_t port = 0;
    Address::Family family = Address::Family::none;
    Done done;
  };

  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;  // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;     // started under mutex_ by the first resolve(); joined by shutdown()
};

}  // namespace salvo::detail
