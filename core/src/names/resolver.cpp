#include "names/resolver.hpp"

#include <cassert>
#include <system_error>
#include <utility>

#include "salvo/resolve.hpp"

namespace salvo::detail {
namespace {

Error shut_down() { return Error::make(Errc::cancelled, "resolver shut down"); }

}  // namespace

Resolver::~Resolver() { shutdown(); }

void Resolver::resolve(std::string host, std::uint16_t port, Address::Family family, Done done) {
  Error refused = shut_down();
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      try {
        if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
        queue_.push_back(Job{std::move(host), port, family, std::move(done)});
        wake_.notify_one();
        return;
      } catch (const std::system_error& e) {
        // The system's thread or memory limits: this lookup fails, the next one tries again.
        refused = Error::from_errno(e.code().value(), "cannot create the resolver thread to look up " + host);
      }
    }
  }
  done(std::move(refused));  // outside the lock: `done` may call back into the resolver
}

void Resolver::shutdown() {
  std::deque<Job> dropped;
  std::thread thread;
  {
    std::lock_guard lock(mutex_);
    assert(!thread_.joinable() || thread_.get_id() != std::this_thread::get_id());
    stopping_ = true;
    dropped.swap(queue_);
    thread.swap(thread_);
    wake_.notify_one();
  }
  // Dropped jobs first: their callers hear at once, not after the lookup in progress.
  for (Job& job : dropped) job.done(shut_down());
  if (thread.joinable()) thread.join();
}

void Resolver::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;  // shutdown() took what was queued
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job.done(salvo::resolve(job.host, job.port, job.family));
  }
}

}  // namespace salvo::detail
