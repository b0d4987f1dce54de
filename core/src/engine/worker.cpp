#include "engine/worker.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "datapath/cmsg.hpp"
#include "socket/receive_options.hpp"
#include "socket/udp_socket.hpp"

namespace salvo::detail {

Worker::Worker(unsigned index, const EngineOptions& options, std::unique_ptr<Backend> backend)
    : index_(index), options_(options), backend_(std::move(backend)) {}

Worker::~Worker() {
  join();
  backend_.reset();  // before the buffers and sockets it may have registered with the kernel
  // Sockets still open here belong to a worker that never ran: close them and run on_stop (on
  // this thread, since there is no worker thread), so that every attached protocol sees it once.
  for (auto& s : sockets_) close_socket(*s);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Result<void> Worker::init() {
  // Slots are rounded up to a cache line: the kernel's headers at the start of each stay aligned,
  // and neighbouring datagrams do not share a line.
  const std::uint32_t slot = (options_.buffer_size + backend_->buffer_headroom(options_) + 63) & ~std::uint32_t{63};
  if (auto r = pool_.init(options_.buffer_count, slot); !r) {
    return r;
  }
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return Error::from_errno(errno, "eventfd for worker " + std::to_string(index_));
  batch_.init(options_, receive_control_space(options_));
  return {};
}

Result<SocketState*> Worker::add_socket(int fd, const Address& local, std::unique_ptr<Protocol> protocol) {
  if (auto r = enable_receive_metadata(fd, local.is_v6(), options_); !r) {
    Error e = r.error();
    e.message += " for " + local.to_string();
    return e;
  }
  auto s = std::make_unique<SocketState>(*this);
  if (auto r = s->queue.init(options_.send_queue_entries, options_.send_queue_bytes); !r) {
    return r.error();
  }
  s->fd = fd;
  s->local = local;
  s->ipv6 = local.is_v6();
  s->protocol = std::move(protocol);
  s->gso = options_.gso;
  s->index = static_cast<std::uint32_t>(sockets_.size());
  sockets_.push_back(std::move(s));
  ++open_sockets_;
  return sockets_.back().get();
}

void Worker::start(std::function<void(Result<void>)> ready, std::function<void()> finished) {
  thread_ = std::thread([this, ready = std::move(ready), finished = std::move(finished)]() mutable {
    thread_main(std::move(ready), std::move(finished));
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::request_stop() noexcept {
  stop_requested_.store(true, std::memory_order_release);
  const std::uint64_t one = 1;
  // A full eventfd counter (EAGAIN) still wakes the worker, so the result needs no handling.
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

Counters Worker::counters() const noexcept {
  Counters sum;
  for (const auto& s : sockets_) sum += s->counters.snapshot();
  return sum;
}

Result<void> Worker::post(std::function<void()> fn) {
  if (!fn) return Error::make(Errc::invalid_state, "post() needs a function");
  {
    std::lock_guard lock(post_mutex_);
    if (posts_closed_) {
      return Error::make(Errc::invalid_state, "worker " + std::to_string(index_) + " has finished");
    }
    posted_.push_back(std::move(fn));
    posted_pending_.store(true, std::memory_order_release);
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  return {};
}

void Worker::run_posted() noexcept {
  {
    std::lock_guard lock(post_mutex_);
    posted_pending_.store(false, std::memory_order_relaxed);
    running_.swap(posted_);
  }
  for (auto& fn : running_) fn();
  running_.clear();  // keeps its capacity: steady posting does not reallocate
}

void Worker::close_posts() noexcept {
  {
    std::lock_guard lock(post_mutex_);
    posts_closed_ = true;
  }
  // Whatever was accepted runs, even after the last socket closed.
  run_posted();
}

Result<void> Worker::pin() {
  if (options_.cpus.empty()) return {};
  const int cpu = options_.cpus[index_ % options_.cpus.size()];
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (int err = pthread_setaffinity_np(pthread_self(), sizeof set, &set); err != 0) {
    return Error::from_errno(err, "pin worker " + std::to_string(index_) + " to CPU " + std::to_string(cpu));
  }
  return {};
}

void Worker::thread_main(std::function<void(Result<void>)> ready, std::function<void()> finished) {
  Result<void> setup = pin();
  if (setup) setup = backend_->setup(*this);
  const bool ok = setup.ok();
  ready(std::move(setup));
  if (ok) {
    start_protocols();
    run_rounds();
  }
  // Whatever the backend left open (setup failure, or a backend returning early) is closed here,
  // so that on_stop runs exactly once for every protocol that was attached.
  for (auto& s : sockets_) {
    if (!s->closed) close_socket(*s);
  }
  close_posts();
  finished();
}

void Worker::start_protocols() {
  for (auto& s : sockets_) {
    if (!s->closed) s->protocol->on_start(s->transport);
  }
}

void Worker::run_rounds() {
  for (auto& s : sockets_) {
    if (!s->closed && s->receiving) backend_->start_receiving(*s);
  }
  last_activity_ = std::chrono::steady_clock::now();
  while (!all_closed()) {
    poll_control();
    const auto now = std::chrono::steady_clock::now();
    sample_kernel_drops(now);
    WaitPlan plan;
    plan.now = now;
    plan.deadline = next_drop_sample_;
    for (const auto& sp : sockets_) {
      SocketState& s = *sp;
      if (s.closed) continue;
      backend_->submit(s);
      if (wants_writable(s)) feed_writable(s, now);
      plan.deadline = std::min(plan.deadline, writable_due(s));
      plan.writers = plan.writers || s.want_writable;
      if (s.stopping) {
        progress_stop(s, now);
        if (!s.closed && s.stop_deadline > now) plan.deadline = std::min(plan.deadline, s.stop_deadline);
      }
    }
    if (all_closed()) break;
    // Busy polling: no sleeping while traffic flowed within the idle budget.
    const bool spinning = options_.busy_poll &&
                          (options_.busy_poll_idle.count() == 0 || now - last_activity_ < options_.busy_poll_idle);
    plan.spin = spinning || plan.deadline <= now;
    backend_->wait(plan);
    if (backend_->reap(*this) != 0) last_activity_ = now;
  }
}

void Worker::feed_writable(SocketState& s, std::chrono::steady_clock::time_point now) {
  for (int round = 0; round < 4 && wants_writable(s) && s.writable_after <= now; ++round) {
    const std::size_t before = s.queue.size();
    s.protocol->on_writable(s.transport);
    if (s.queue.size() == before) {
      // Nothing to send: do not call again until something changes, unless the protocol
      // deferred itself to a later time (a pacer waiting for its next slot).
      if (s.writable_after <= now) s.writable_quiet = true;
      break;
    }
    backend_->submit(s);
  }
}

// A stopping socket reads no more, flushes what it queued until its deadline, and closes once the
// kernel holds nothing of it.
void Worker::progress_stop(SocketState& s, std::chrono::steady_clock::time_point now) {
  backend_->stop_receiving(s);
  if (now >= s.stop_deadline) backend_->cancel_sends(s);
  if (backend_->holds(s) || !ready_to_close(s, now)) return;
  backend_->release(s);
  close_socket(s);
}

void Worker::sample_kernel_drops(std::chrono::steady_clock::time_point now) noexcept {
  if (now < next_drop_sample_) return;
  next_drop_sample_ = now + kernel_drop_sample_interval;
  for (auto& s : sockets_) {
    if (s->closed) continue;
    if (std::int64_t drops = read_kernel_drops(s->fd); drops >= 0) {
      note_kernel_drops(*s, static_cast<std::uint32_t>(drops));
    }
  }
}

void Worker::note_kernel_drops(SocketState& s, std::uint32_t cumulative) noexcept {
  // The kernel's counter only grows; a smaller value can only be a 32-bit wrap.
  const std::uint64_t known = s.counters.kernel_drops.get();
  const auto low = static_cast<std::uint32_t>(known);
  std::uint64_t value = (known & ~std::uint64_t{0xffffffff}) | cumulative;
  if (cumulative < low) value += std::uint64_t{1} << 32;
  if (value > known) s.counters.kernel_drops.set(value);
}

void Worker::handle_wake() noexcept {
  std::uint64_t value = 0;
  [[maybe_unused]] ssize_t n = ::read(wake_fd_, &value, sizeof value);
  poll_control();
}

void Worker::begin_stop_all() noexcept {
  stop_begun_ = true;
  for (auto& s : sockets_) begin_stop(*s);
}

void Worker::begin_stop(SocketState& s) noexcept {
  if (s.stopping || s.closed) return;
  s.receiving = false;
  s.stopping = true;
  s.want_writable = false;
  s.stop_deadline = std::chrono::steady_clock::now() + options_.stop_flush_timeout;
}

bool Worker::ready_to_close(const SocketState& s, std::chrono::steady_clock::time_point now) const noexcept {
  return s.stopping && !s.closed && (s.queue.empty() || now >= s.stop_deadline);
}

void Worker::close_socket(SocketState& s) noexcept {
  if (s.closed) return;
  if (!s.queue.empty()) {
    // The socket buffer never drained before the deadline: these datagrams are lost, and said so.
    s.counters.dropped_send_error.add(s.queue.size());
    s.queue.pop(s.queue.size());
  }
  if (s.fd >= 0) {
    // Datagrams still queued would vanish with the socket: read them out (without their
    // payloads) and count them, so that stopping under load keeps the accounting exact.
    s.counters.discarded_at_close.add(discard_queued(s.fd));
    if (std::int64_t drops = read_kernel_drops(s.fd); drops >= 0) {
      note_kernel_drops(s, static_cast<std::uint32_t>(drops));
    }
    ::close(s.fd);
    s.fd = -1;
  }
  s.receiving = false;
  s.stopping = true;
  s.closed = true;
  --open_sockets_;
  s.protocol->on_stop();
}

}  // namespace salvo::detail
