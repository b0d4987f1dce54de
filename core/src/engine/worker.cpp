#include "engine/worker.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <functional>
#include <string>
#include <system_error>

#include "datapath/cmsg.hpp"
#include "socket/open_options.hpp"
#include "socket/receive_options.hpp"
#include "socket/send_channel_state.hpp"
#include "socket/udp_socket.hpp"

namespace salvo::detail {
namespace {
thread_local Worker* current_worker = nullptr;
// The engine's own timers: the kernel-drop sampler, the send pool's trim and the deferred writers'
// wake-up.
constexpr std::uint32_t kEngineTimers = 3;
}  // namespace

Worker* Worker::current() noexcept { return current_worker; }

Worker::Worker(unsigned index, const EngineOptions& options, std::unique_ptr<Backend> backend)
    : index_(index), options_(options), backend_(std::move(backend)), core_(this, index) {}

Worker::~Worker() {
  join();
  backend_.reset();  // before the buffers and sockets it may have registered with the kernel
  // Sockets still open here belong to a worker that never ran: close them and run on_stop (on
  // this thread, since there is no worker thread), so that every attached protocol sees it once.
  for (std::size_t i = 0; i < sockets_.size(); ++i) close_socket(*sockets_[i]);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

std::uint64_t Worker::table_bytes(const EngineOptions& options) noexcept {
  return ReceiveBatch::table_bytes(options.batch_size) + TimerWheel::table_bytes(options.timers_per_worker + kEngineTimers);
}

Result<void> Worker::init() {
  // Slots are rounded up to a cache line: the kernel's headers at the start of each stay aligned,
  // and neighbouring datagrams do not share a line.
  const std::uint32_t slot = (options_.buffer_size + backend_->buffer_headroom(options_) + 63) & ~std::uint32_t{63};
  if (auto r = pool_.init(options_.buffer_count, slot); !r) {
    return r;
  }
  if (auto r = send_pool_.init(options_.send_pool_bytes, backend_->send_scratch_bytes(), "worker " + std::to_string(index_)); !r) {
    return r;
  }
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return Error::from_errno(errno, "eventfd for worker " + std::to_string(index_));
  batch_.init(options_, receive_control_space(options_));
  batch_wait_.configure(options_.latency_budget, options_.completion_batch);
  auto timers = core_.init(options_.timers_per_worker, kEngineTimers, std::chrono::steady_clock::now());
  if (!timers) {
    Error e = std::move(timers.error());
    e.message = "worker " + std::to_string(index_) + " with timers_per_worker " +
                std::to_string(options_.timers_per_worker) + ", " + e.message;
    return e;
  }
  return {};
}

SocketState& Worker::slot_for_new_socket() {
  // counters() walks the list from other threads: changes to it are made under the lock.
  std::lock_guard lock(sockets_mutex_);
  if (!free_slots_.empty()) {
    std::pop_heap(free_slots_.begin(), free_slots_.end(), std::greater<>{});
    const std::uint32_t index = free_slots_.back();
    free_slots_.pop_back();
    const SocketState& old = *sockets_[index];
    closed_counters_ += old.counters.snapshot();
    auto fresh = std::make_unique<SocketState>(*this);
    fresh->index = index;
    fresh->generation = ++slot_generations_;
    // The slot's places in the worker's lists go with it (each list names a slot once).
    fresh->todo = old.todo;
    fresh->sampled = old.sampled;
    fresh->channel_listed = old.channel_listed;
    sockets_[index] = std::move(fresh);
    return *sockets_[index];
  }
  auto s = std::make_unique<SocketState>(*this);
  s->index = static_cast<std::uint32_t>(sockets_.size());
  s->generation = ++slot_generations_;
  sockets_.push_back(std::move(s));
  // Each list names a slot at most once: room for every slot now, so that noting a socket never
  // allocates on the data path.
  if (todo_.capacity() < sockets_.size()) {
    const std::size_t room = 2 * sockets_.size();
    todo_.reserve(room);
    sampled_.reserve(room);
    channel_sockets_.reserve(room);
  }
  return *sockets_.back();
}

void Worker::free_slot(std::uint32_t index) {
  sockets_[index]->idle_since = core_.now();
  free_slots_.push_back(index);
  std::push_heap(free_slots_.begin(), free_slots_.end(), std::greater<>{});
}

// A slot beyond the warm ones that held no open socket for socket_slot_keep is past its use: the
// burst that made it is over, and did not come back. (A shorter memory makes a steady load that
// hovers above the warm slots destroy and remake them, and malloc's pages with them, every second.)
// Only the end of the list is given back, so that slot numbers (which the backends and the kernel's
// requests name) never move; lowest-first reuse drains the end. The memory of a closed socket (its
// state, the backend's, its protocol) goes back to malloc, and malloc_trim hands malloc's free
// pages to the kernel: without it the process would keep, for good, the resident size of its
// largest burst.
void Worker::trim_socket_slots() {
  // A program reads what the protocols of a stopped or drained engine gathered (Protocol::on_stop).
  if (stop_begun_ || draining_ || options_.socket_slot_keep.count() == 0) return;
  const auto now = std::chrono::steady_clock::now();
  std::size_t end = sockets_.size();
  while (end > warm_socket_slots) {
    const SocketState& s = *sockets_[end - 1];
    // A slot still named by one of the worker's lists, or by the backend's, waits for the next trim.
    if (!s.closed || now - s.idle_since < options_.socket_slot_keep || s.todo || s.sampled || s.channel_listed ||
        s.writable_deferred || !backend_->can_forget(s))
      break;
    --end;
  }
  if (end < sockets_.size()) {
    std::vector<std::unique_ptr<SocketState>> given_back;
    {
      std::lock_guard lock(sockets_mutex_);
      for (std::size_t i = end; i < sockets_.size(); ++i) {
        closed_counters_ += sockets_[i]->counters.snapshot();
        given_back.push_back(std::move(sockets_[i]));
      }
      sockets_.resize(end);
      std::erase_if(free_slots_, [end](std::uint32_t index) { return index >= end; });
      std::make_heap(free_slots_.begin(), free_slots_.end(), std::greater<>{});
      backend_->forget_from(static_cast<std::uint32_t>(end));
    }
    given_back.clear();  // the protocols' destructors run here, on the worker, outside the lock
    ::malloc_trim(0);
  }
}

Result<SocketState*> Worker::attach(int fd, const Address& local, std::unique_ptr<Protocol> protocol, bool recverr,
                                    const Address& peer, bool fd_private, bool recverr_pending) {
  auto refuse = [fd](Error e) {
    ::close(fd);
    return e;
  };
  if (rounds_over_) return refuse(Error::make(Errc::invalid_state, "worker " + std::to_string(index_) + " has finished"));
  if (auto r = enable_receive_metadata(fd, local.is_v6(), options_); !r) {
    Error e = r.error();
    e.message += " for " + local.to_string();
    return refuse(std::move(e));
  }
  SocketState& s = slot_for_new_socket();
  // Until it is fully set up the slot counts as closed, so that a failure below leaves it free.
  s.closed = true;
  s.receiving = false;
  auto give_up = [&](Error e) {
    s.fd = -1;
    free_slot(s.index);
    return refuse(std::move(e));
  };
  if (auto r = s.queue.init(send_pool_, options_.send_queue_entries, options_.send_queue_bytes); !r) return give_up(r.error());
  s.fd = fd;
  s.fd_private = fd_private;
  s.local = local;
  s.ipv6 = local.is_v6();
  s.recverr = recverr;
  s.recverr_pending = recverr_pending;
  s.peer = peer;
  s.reactor = &core_;
  s.gso = options_.gso;
  // The receive destination's port is the socket's own: a socket the kernel bound at connect
  // learns it now rather than per datagram.
  if (options_.receive_destination && s.local.port() == 0) s.local = s.transport.local_address();
  // Whether it will read is known before the backend hears of it, so that registering it can ask
  // for what receiving needs in the same call. Sockets opened while draining join paused.
  s.receiving = true;
  if (serving_ && draining_) {
    s.paused = true;
    s.draining = true;
  }
  if (serving_) {
    if (auto r = backend_->add(s); !r) return give_up(r.error());
  }
  // Left to a backend that had no room for it this round: set now, before anything is sent.
  if (s.recverr_pending) {
    s.recverr = turn_on_recverr(fd, s.ipv6) == nullptr;
    s.recverr_pending = false;
    if (!s.recverr) s.counters.socket_errors.add(1);  // as the backend counts a refused command
  }
  s.protocol = std::move(protocol);
  s.closed = false;
  ++open_sockets_;
  open_sockets_published_.store(open_sockets_, std::memory_order_relaxed);
  if (serving_) {
    s.protocol->on_start(s.transport);
    if (stop_begun_) begin_stop(s);
    if (s.reads()) backend_->start_receiving(s);
  }
  return &s;
}

Result<Transport*> Worker::open_socket(const Address& local, std::unique_ptr<Protocol> protocol, const OpenOptions& how) {
  if (!protocol) return Error::make(Errc::invalid_state, "open() needs a protocol");
  if (stop_begun_) return Error::make(Errc::invalid_state, "open(): worker " + std::to_string(index_) + " is stopping");
  // A serving backend that turns IP_RECVERR on with its round's requests spares a system call.
  const RecvErr recverr = serving_ && backend_->sets_recverr() ? RecvErr::left_to_backend : RecvErr::now;
  auto opened = detail::open_socket(local, how, options_, LocalAddress::when_asked, recverr);
  // Out of descriptors while closes wait in the backend for the next submission: they go now,
  // and the open is tried once more.
  const auto shortage = [&] {
    const std::error_code code = opened.error().code;
    return code == std::error_code(EMFILE, std::system_category()) || code == std::error_code(ENFILE, std::system_category());
  };
  if (!opened && serving_ && shortage() && backend_->submit_now()) {
    opened = detail::open_socket(local, how, options_, LocalAddress::when_asked, recverr);
  }
  if (!opened) return opened.error();
  auto attached = attach(opened->bound.fd, opened->bound.local, std::move(protocol), opened->bound.recverr, opened->peer,
                         true, recverr == RecvErr::left_to_backend);
  if (!attached) return attached.error();
  (*attached)->ephemeral_port = local.port() == 0;
  return &(*attached)->transport;
}

Result<void> Worker::start(Ready ready, std::function<void()> finished) {
  try {
    thread_ = std::thread([this, ready = std::move(ready), finished = std::move(finished)]() mutable {
      thread_main(std::move(ready), std::move(finished));
    });
  } catch (const std::system_error& e) {
    return Error::from_errno(e.code().value(), "cannot create the thread of worker " + std::to_string(index_));
  }
  return {};
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::request_stop(StopLevel level) noexcept {
  raise_stop_request(level);
  wake();
}

// Only ever raised: a stop_now() is not undone by a stop() that follows it.
void Worker::raise_stop_request(StopLevel level) noexcept {
  auto seen = stop_requested_.load(std::memory_order_relaxed);
  while (seen < level && !stop_requested_.compare_exchange_weak(seen, level, std::memory_order_acq_rel)) {
  }
}

void Worker::act_on_stop_request() noexcept {
  const StopLevel level = stop_requested_.load(std::memory_order_acquire);
  stop_acted_on_ = level;
  if (!stop_begun_) begin_stop_all();
  if (level != StopLevel::now) return;
  // The flush is over for every socket: the next visit counts what is still queued and closes.
  const auto now = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    SocketState& s = *sockets_[i];
    if (!s.stopping || s.closed) continue;
    s.stop_deadline = now;
    note_work(s);
  }
}

Counters Worker::counters() const noexcept {
  // Closed sockets keep their counts: they are the worker's history.
  std::lock_guard lock(sockets_mutex_);
  Counters sum = closed_counters_;
  for (const auto& s : sockets_) sum += s->counters.snapshot();
  sum += worker_counters_.snapshot();
  return sum;
}

void Worker::wake() noexcept {
  const std::uint64_t one = 1;
  // A full eventfd counter (EAGAIN) still wakes the worker, so the result needs no handling.
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
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
  wake();
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

void Worker::thread_main(Ready ready, std::function<void()> finished) {
  current_worker = this;
  SetupReport report{pin()};
  // A held wait on epoll is a timed sleep, which the kernel may stretch by the thread's timer
  // slack (50 us by default): as much as a typical budget. One microsecond keeps the budget.
  if (report.result && batch_wait_.enabled()) ::prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  if (report.result) {
    report.result = backend_->setup(*this);
    report.backend_refused = !report.result;
  }
  SetupVerdict verdict = ready(report);
  if (verdict == SetupVerdict::use_epoll) {
    // Nothing was received or sent yet: the ring (set up or not) goes with what it registered, and
    // an epoll set takes the same sockets, buffers and eventfd.
    backend_ = make_epoll_backend();
    report.result = backend_->setup(*this);
    report.backend_refused = !report.result;
    verdict = ready(report);
  }
  if (verdict == SetupVerdict::serve && report.result) {
    serving_ = true;
    start_protocols();
    run_rounds();
  }
  rounds_over_ = true;
  // Whatever the backend left open (setup failure, or a backend returning early) is closed here,
  // so that on_stop runs exactly once for every protocol that was attached.
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    if (!sockets_[i]->closed) close_socket(*sockets_[i]);
  }
  // What the rounds left queued in the backend (a registered-file update) goes from this thread:
  // a single-issuer ring takes submissions from no other, the engine's destroyer included.
  backend_->submit_now();
  close_posts();
  finished();
}

void Worker::start_protocols() {
  // on_start may open sockets (their own on_start runs inside open): index, not iterators.
  const std::size_t initial = sockets_.size();
  for (std::size_t i = 0; i < initial; ++i) {
    SocketState& s = *sockets_[i];
    if (!s.closed) s.protocol->on_start(s.transport);
  }
}

void Worker::run_rounds() {
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    SocketState& s = *sockets_[i];
    if (!s.closed && s.reads()) backend_->start_receiving(s);
    if (s.closed) s.idle_since = start;  // closed before the rounds: idle from now
  }
  core_.set_now(start);
  core_.schedule_engine(start + kernel_drop_sample_interval, kernel_drop_sample_interval,
                        [this] { sample_kernel_drops(); });
  core_.schedule_engine(start + SendPool::trim_interval, SendPool::trim_interval, [this] {
    send_pool_.trim();
    trim_socket_slots();
  });
  last_activity_ = start;
  const bool budget = batch_wait_.enabled();  // EngineOptions::latency_budget
  // The clock is read once per round, after the wait (and again only when timers ran): the same
  // reading tells which timers are due and starts the next round.
  auto now = start;
  while (!finished_serving()) {
    poll_control();
    if (channels_pending_.load(std::memory_order_acquire)) move_channel_sends();
    core_.set_now(now);
    if (draining_) check_drain(now);
    WaitPlan plan;
    plan.now = now;
    plan.deadline = std::chrono::steady_clock::time_point::max();
    if (draining_ && !stop_begun_) plan.deadline = drain_deadline_;
    // Only the sockets that have something to do. A hook may note more during the walk (a reply
    // sent through another socket, a socket opened); they join it, as the size is read each time.
    std::size_t kept = 0;
    for (std::size_t i = 0; i < todo_.size(); ++i) {
      const std::uint32_t index = todo_[i];
      SocketState& s = *sockets_[index];
      // Still noted while visited: what the visit's hooks note of it is already in hand. Most
      // visits find the reply already sent (deliver submitted it) and nothing else to do.
      const bool idle = s.queue.empty() && !s.want_writable && !s.stopping;
      if (!idle && visit(s, now, plan)) {
        todo_[kept++] = index;
      } else {
        s.todo = false;
      }
    }
    todo_.resize(kept);
    if (finished_serving()) break;
    // After the walk: its hooks (on_writable deferring itself, a timer set) may have moved it.
    plan.deadline = std::min(plan.deadline, core_.earliest());
    // Busy polling: no sleeping while traffic flowed within the idle budget.
    const bool spinning = options_.busy_poll &&
                          (options_.busy_poll_idle.count() == 0 || now - last_activity_ < options_.busy_poll_idle);
    plan.spin = spinning || plan.deadline <= now;
    if (!budget) {
      count_wait(wait(plan), plan.hold);
      if (backend_->reap(*this) != 0) last_activity_ = now;
    } else {
      if (!plan.spin) plan.hold = std::min(batch_wait_.hold(now), std::chrono::nanoseconds(plan.deadline - now));
      const WaitKind waited = wait(plan);
      count_wait(waited, plan.hold);
      // The budget counts from the wait's return: what the reap finds came before it.
      const auto woke = std::chrono::steady_clock::now();
      round_datagrams_ = 0;
      if (backend_->reap(*this) != 0) last_activity_ = now;
      batch_wait_.reaped(woke, round_datagrams_, waited == WaitKind::held);
    }
    now = std::chrono::steady_clock::now();
    // Due timers fire after the batches were dispatched; what they queue is submitted at the top
    // of the next iteration, with everything else of this round.
    if (core_.earliest() <= now && core_.run_due(now) != 0) now = std::chrono::steady_clock::now();
  }
}

bool Worker::visit(SocketState& s, std::chrono::steady_clock::time_point now, WaitPlan& plan) {
  if (s.closed) return false;
  backend_->submit(s);
  if (wants_writable(s) && s.writable_after <= now) feed_writable(s, now);
  // A writer that still has room and is not deferred wants feeding again at once (a deferred
  // one is woken by the writable timer).
  plan.deadline = std::min(plan.deadline, writable_due(s));
  plan.writers = plan.writers || s.want_writable;
  if (s.stopping) {
    progress_stop(s, now);
    if (s.closed) return false;
    if (s.stop_deadline > now) plan.deadline = std::min(plan.deadline, s.stop_deadline);
    return true;
  }
  // A writer stays until it goes quiet or defers itself; one waiting for room is visited each
  // round, as the completions that free it come.
  const bool writer = s.want_writable && !s.writable_quiet && s.receiving && s.writable_after <= now;
  return writer || backend_->sends_pending(s);
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
  // A socket that can close now closes without being told to stop receiving first: closing ends
  // that too, and the backend spares the call (an epoll_ctl, for a forwarder's every query).
  if (!backend_->holds(s) && ready_to_close(s, now)) {
    backend_->release(s);
    close_socket(s);
    return;
  }
  backend_->stop_receiving(s);
  if (now >= s.stop_deadline) backend_->cancel_sends(s);
  if (backend_->holds(s) || !ready_to_close(s, now)) return;
  backend_->release(s);
  close_socket(s);
}

void Worker::sample_kernel_drops() noexcept {
  std::size_t kept = 0;
  for (const std::uint32_t index : sampled_) {
    SocketState& s = *sockets_[index];
    s.sampled = false;
    if (s.closed) continue;  // read at close
    if (std::int64_t drops = read_kernel_drops(s.fd); drops >= 0) {
      note_kernel_drops(s, static_cast<std::uint32_t>(drops));
    }
    // A paused socket's datagrams pile up in the kernel, where they may be dropped: it stays.
    if (s.paused) {
      s.sampled = true;
      sampled_[kept++] = index;
    }
  }
  sampled_.resize(kept);
}

void Worker::pause_reading(SocketState& s) noexcept {
  if (s.closed || s.stopping || s.paused) return;
  s.paused = true;
  note_received(s);  // sampled while paused
  if (serving_) backend_->stop_receiving(s);
}

void Worker::resume_reading(SocketState& s) noexcept {
  if (s.closed || s.stopping || s.draining || !s.paused) return;
  s.paused = false;
  if (serving_) backend_->start_receiving(s);
}

void Worker::defer_writable(SocketState& s, std::chrono::steady_clock::time_point when) noexcept {
  s.writable_after = when;
  s.writable_quiet = false;
  if (when <= core_.now()) {
    note_work(s);
    return;
  }
  if (!s.writable_deferred) {
    s.writable_deferred = true;
    deferred_writers_.push_back({s.index, s.generation});  // grows only to the number of sockets
  }
  if (!writable_timer_ || when < writable_timer_due_) arm_writable_timer(when);
}

// One timer wakes the worker for the earliest deferred writer; when it fires, the writers now due
// leave the list (the round feeds them) and it is armed again for the rest.
void Worker::arm_writable_timer(std::chrono::steady_clock::time_point when) noexcept {
  core_.cancel_engine(writable_timer_);
  writable_timer_due_ = when;
  writable_timer_ = core_.schedule_engine(when, std::chrono::steady_clock::duration::zero(), [this] {
    core_.engine_timer_fired(writable_timer_);
    const auto now = core_.firing_due();
    auto next = std::chrono::steady_clock::time_point::max();
    std::size_t kept = 0;
    for (const auto entry : deferred_writers_) {
      if (entry.index >= sockets_.size()) continue;  // its slot was given back
      SocketState& w = *sockets_[entry.index];
      if (w.generation != entry.generation || w.closed || !w.writable_deferred) continue;
      if (w.writable_after <= now) {
        w.writable_deferred = false;
        note_work(w);
        continue;
      }
      next = std::min(next, w.writable_after);
      deferred_writers_[kept++] = entry;
    }
    deferred_writers_.resize(kept);
    if (kept != 0) arm_writable_timer(next);
  });
}

void Worker::begin_drain(std::chrono::steady_clock::time_point deadline) noexcept {
  if (draining_ || stop_begun_) return;
  draining_ = true;
  drain_deadline_ = deadline;
  const auto now = std::chrono::steady_clock::now();
  const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(std::max(deadline - now, std::chrono::steady_clock::duration::zero()));
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    SocketState& s = *sockets_[i];
    if (s.closed || s.stopping) continue;
    pause_reading(s);
    s.draining = true;
    s.protocol->on_draining(left, s.transport);
  }
}

void Worker::check_drain(std::chrono::steady_clock::time_point now) noexcept {
  if (!draining_ || stop_begun_) return;
  if (all_closed() || now >= drain_deadline_) {
    raise_stop_request(StopLevel::flush);
    act_on_stop_request();
  }
}

void Worker::move_channel_sends() noexcept {
  channels_pending_.store(false, std::memory_order_release);
  bool more = false;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < channel_sockets_.size(); ++i) {
    const std::uint32_t index = channel_sockets_[i];
    SocketState& s = *sockets_[index];
    if (s.closed || s.channels.empty()) {
      s.channel_listed = false;
      continue;
    }
    channel_sockets_[kept++] = index;
    for (auto& channel : s.channels) more = channel->move_into(s) || more;
  }
  channel_sockets_.resize(kept);
  // A channel the send queue had no room for keeps its datagrams until the next round.
  if (more) channels_pending_.store(true, std::memory_order_release);
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
  for (std::size_t i = 0; i < sockets_.size(); ++i) begin_stop(*sockets_[i]);
}

void Worker::begin_stop(SocketState& s) noexcept {
  if (s.stopping || s.closed) return;
  s.receiving = false;
  s.stopping = true;
  s.want_writable = false;
  s.stop_deadline = std::chrono::steady_clock::now();
  if (stop_acted_on_ != StopLevel::now) s.stop_deadline += options_.stop_flush_timeout;
  note_work(s);
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
    // payloads) and count them, so that stopping under load keeps the accounting exact. A socket
    // whose queues hold nothing (most that a protocol closes: a forwarder's answered query) is
    // spared the read.
    const SocketMemory memory = read_socket_memory(s.fd);
    if (memory.queued_bytes != 0) s.counters.discarded_at_close.add(discard_queued(s.fd));
    if (memory.drops >= 0) note_kernel_drops(s, static_cast<std::uint32_t>(memory.drops));
    // A socket on a port the kernel picked (nobody binds it again by number) while another stays
    // open (so a later wait, or the thread's last submit_now, takes the request to the kernel):
    // the backend may close it with its next submission, sparing a system call.
    const bool later = serving_ && !rounds_over_ && s.ephemeral_port && open_sockets_ > 1 && backend_->close_later(s);
    if (!later) ::close(s.fd);
    s.fd = -1;
  }
  s.receiving = false;
  s.stopping = true;
  s.closed = true;
  --open_sockets_;
  open_sockets_published_.store(open_sockets_, std::memory_order_relaxed);
  // A program that ends with its sockets (EngineOptions::stop_when_sockets_closed): the last one
  // closing is the stop.
  if (serving_ && open_sockets_ == 0 && options_.stop_when_sockets_closed) stop_begun_ = true;
  s.writable_deferred = false;  // its entry in deferred_writers_ is skipped, and dropped, when the timer fires
  core_.cancel_owned_by(s.index);
  for (auto& channel : s.channels) channel->close();
  s.channels.clear();
  s.queue.clear();  // the socket's send memory goes back to the pool now
  s.protocol->on_stop();
  // The protocol object itself lives on (a program may read what it gathered after stop()) until
  // the slot is reused by a socket opened later, the slot is given back (trim_socket_slots), or
  // the engine goes.
  if (serving_) free_slot(s.index);
}

}  // namespace salvo::detail
