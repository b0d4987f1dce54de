// Worker: one thread, pinned to one CPU, owning its backend, buffer pool, receive batch, timers
// and sockets, and running the round that drives them (run_rounds). Everything here runs on the
// worker thread except request_stop(), post(), wake() and counters(), which any thread may call,
// and attach(), which the controlling thread also calls before start.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "datapath/buffer_pool.hpp"
#include "datapath/send_pool.hpp"
#include "datapath/receive_batch.hpp"
#include "datapath/send_outcome.hpp"
#include "engine/backend.hpp"
#include "engine/batch_wait.hpp"
#include "engine/live_counters.hpp"
#include "engine/reactor_core.hpp"
#include "salvo/datagram.hpp"
#include "salvo/engine.hpp"
#include "salvo/reactor.hpp"
#include "socket/socket_state.hpp"

namespace salvo::detail {

// A worker's backend setup, as it reports it to the engine (Worker::start's `ready`).
struct SetupReport {
  Result<void> result;
  bool backend_refused = false;  // the backend's own setup failed (not pinning, say)
};
// What the engine answers once every worker has reported (see Engine::start).
enum class SetupVerdict : std::uint8_t {
  serve,      // run the rounds
  use_epoll,  // drop this backend, set up epoll instead and report again (auto's fallback)
  give_up,    // another worker failed: close everything without serving
};

class Worker {
 public:
  Worker(unsigned index, const EngineOptions& options, std::unique_ptr<Backend> backend);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // --- controlling thread, before start ---
  Result<void> init();  // buffer pool, eventfd, receive batch, timers
  // What init allocates from the heap (the receive batch and the timer table), in bytes: the
  // buffer pool and the send pool are mapped, and their own errors name their sizes.
  static std::uint64_t table_bytes(const EngineOptions& options) noexcept;
  // Starts the thread. `ready` is called on the worker thread with the setup result and returns
  // what to do (it may block until the engine has heard every worker); after use_epoll it is
  // called once more, for the epoll setup. `finished` is called once when the thread is about to
  // exit. When the thread cannot be created (the system's thread or memory limits), neither is
  // called and the error comes back here.
  using Ready = std::function<SetupVerdict(const SetupReport&)>;
  Result<void> start(Ready ready, std::function<void()> finished);
  void join();

  // --- any thread ---
  // How much of a stop was asked for: flush (stop(), a drain's end) or now (stop_now()).
  enum class StopLevel : std::uint8_t { none, flush, now };
  void request_stop(StopLevel level) noexcept;
  Counters counters() const noexcept;
  // Queues `fn` to run on this worker's thread after everything posted before it (see
  // Engine::post). Fails once the worker has finished.
  Result<void> post(std::function<void()> fn);
  // Wakes the worker from its wait (a send channel went from empty to non-empty).
  void wake() noexcept;
  // Marks a send channel of socket `index` as having datagrams; the next round moves them.
  void channel_ready() noexcept { channels_pending_.store(true, std::memory_order_release); }

  // The worker whose thread calls this, or null on any other thread.
  static Worker* current() noexcept;

  // --- worker thread: the reactor's operations ---
  ReactorCore& reactor() noexcept { return core_; }
  // Serves an already bound socket (the controlling thread calls this before start, the worker
  // thread while running): a slot (a closed socket's, reused, or a new one), the backend,
  // on_start, then receiving. On failure the fd is closed and the protocol destroyed unstarted.
  // `fd_private`: the engine opened fd and holds its only descriptor (SocketState::fd_private).
  // `recverr_pending`: IP_RECVERR is for the backend to turn on (SocketState::recverr_pending).
  Result<SocketState*> attach(int fd, const Address& local, std::unique_ptr<Protocol> protocol, bool recverr,
                              const Address& peer = {}, bool fd_private = false, bool recverr_pending = false);
  // Reactor::open: bind (and connect) a socket here, then attach it.
  Result<Transport*> open_socket(const Address& local, std::unique_ptr<Protocol> protocol, const OpenOptions& how);
  void pause_reading(SocketState& s) noexcept;
  void resume_reading(SocketState& s) noexcept;
  // Transport::defer_writable: no on_writable before `when`; a timer wakes the worker then.
  void defer_writable(SocketState& s, std::chrono::steady_clock::time_point when) noexcept;
  // Engine::drain: reading stops everywhere, protocols hear on_draining and close when done; at
  // `deadline` the rest stop as with stop().
  void begin_drain(std::chrono::steady_clock::time_point deadline) noexcept;

  // --- worker thread: what backends use ---
  unsigned index() const noexcept { return index_; }
  const EngineOptions& options() const noexcept { return options_; }
  BufferPool& pool() noexcept { return pool_; }
  SendPool& send_pool() noexcept { return send_pool_; }
  // Every socket slot, open or closed (a closed slot waits for reuse). A hook may open sockets:
  // hold an index, not the span, across one.
  std::span<const std::unique_ptr<SocketState>> sockets() const noexcept { return sockets_; }
  int wake_fd() const noexcept { return wake_fd_; }
  ReceiveBatch& batch() noexcept { return batch_; }
  SendOutcome& send_outcome() noexcept { return send_outcome_; }
  void count_submission_refusal() noexcept { worker_counters_.submission_refusals.add(1); }

  // Hands the batch to s's protocol (counted, then on_datagrams), gives its held buffer slots back
  // through `give_back(std::span<const std::uint32_t>)`, empties it, and submits the replies.
  template <class GiveBack>
  void deliver(SocketState& s, GiveBack&& give_back) {
    note_received(s);
    delivering_ = &s;
    if (batch_.count_into(s.counters)) {
      round_datagrams_ += static_cast<std::uint32_t>(batch_.datagrams().size());
      s.protocol->on_datagrams(batch_.datagrams(), s.transport);
    }
    delivering_ = nullptr;
    give_back(batch_.held());
    batch_.clear();
    backend_->submit(s);
    if (backend_->sends_pending(s)) note_work(s);
  }

  // The wake eventfd fired: drains it, then poll_control().
  void handle_wake() noexcept;

  // The round visits only the sockets that have something to do (note_work): sends queued that
  // the kernel does not have yet, on_writable to call, a stop to move along. Whatever gives a
  // socket such work notes it: Transport::send, request_writable, a deferred writer coming due,
  // send completions freeing room for a writer, writability after EAGAIN, a stop.
  void note_work(SocketState& s) noexcept {
    if (s.todo || s.closed) return;
    s.todo = true;
    todo_.push_back(s.index);
  }
  // Transport::send queued a datagram. The replies of the socket being delivered to are submitted
  // right after its on_datagrams, so it needs noting only if it also writes (on_writable).
  void note_send(SocketState& s) noexcept {
    if (&s != delivering_ || s.want_writable) note_work(s);
  }
  // The socket received: its kernel drop count is read at the next sample.
  void note_received(SocketState& s) noexcept {
    if (s.sampled) return;
    s.sampled = true;
    sampled_.push_back(s.index);
  }
  // The socket has send channels (Transport::open_send_channel): the round moves what they queued.
  void note_channels(SocketState& s) noexcept {
    if (s.channel_listed) return;
    s.channel_listed = true;
    channel_sockets_.push_back(s.index);
  }
  // A backend released sends of `s`: a writer waiting for room may go on.
  void sends_released(SocketState& s) noexcept {
    if (s.want_writable) note_work(s);
  }

  // --- worker thread: the round's parts, public for FakeTransport and the tests ---
  // Whether on_writable is wanted at all, deferred or not.
  static bool wants_writable(const SocketState& s) noexcept {
    return s.want_writable && !s.writable_quiet && s.receiving && !s.send_blocked && s.queue.room() > 0;
  }
  // When on_writable is next due: time_point::max() when not wanted; at or before `now` when due.
  static std::chrono::steady_clock::time_point writable_due(const SocketState& s) noexcept {
    return wants_writable(s) ? s.writable_after : std::chrono::steady_clock::time_point::max();
  }
  // Calls on_writable while the socket wants it, is not blocked, has room and is not deferred
  // (Transport::defer_writable), submitting after each call. Bounded, so that one sender cannot
  // starve reception.
  void feed_writable(SocketState& s, std::chrono::steady_clock::time_point now);

  void begin_stop(SocketState& s) noexcept;
  bool ready_to_close(const SocketState& s, std::chrono::steady_clock::time_point now) const noexcept;
  void close_socket(SocketState& s) noexcept;  // counts what is left queued, closes, on_stop
  bool all_closed() const noexcept { return open_sockets_ == 0; }
  // Any thread.
  std::size_t open_socket_count() const noexcept { return open_sockets_published_.load(std::memory_order_relaxed); }
  // The round ends once a stop began and every socket closed; until then a worker with no sockets
  // serves its timers and posted work.
  bool finished_serving() const noexcept { return stop_begun_ && all_closed(); }

  // Kernel drop counts come from SO_MEMINFO, one getsockopt every kernel_drop_sample_interval per
  // socket that received (or stayed paused) since the last sample, and one at close, so that live
  // counters stay current without a syscall (or a per-datagram SO_RXQ_OVFL control message) on the
  // hot path, and without reading idle sockets. A socket drops only what arrives, so one that
  // neither received nor paused has nothing new to report.
  void note_kernel_drops(SocketState& s, std::uint32_t cumulative) noexcept;
  static constexpr std::chrono::milliseconds kernel_drop_sample_interval{100};

 private:
  // The round, until a stop began and every socket has closed. One iteration:
  //   control     posted functions, then stop requests (poll_control); cross-thread sends
  //   per socket  submit queued sends, feed on_writable, move a stopping socket towards close
  //   wait        backend.wait(plan): until the earliest timer or stop deadline, or not at all
  //               when spinning
  //   reap        backend.reap: batches to on_datagrams (and their replies submitted), send
  //               results to SendOutcome, wake-ups
  //   timers      every timer now due, in order (kernel-drop sampling is one); their sends go
  //               out with the next iteration's submission
  void run_rounds();
  void progress_stop(SocketState& s, std::chrono::steady_clock::time_point now);
  // One visit of a noted socket: sends, on_writable, stop. Returns whether it stays noted, and
  // lowers `plan.deadline` to when it next needs a visit.
  bool visit(SocketState& s, std::chrono::steady_clock::time_point now, WaitPlan& plan);
  void sample_kernel_drops() noexcept;
  // The backend's wait. One the kernel refused (short of memory) is followed by a pause of 1 ms, so
  // that the next round does not come at once and the worker does not spin against the kernel.
  WaitKind wait(const WaitPlan& plan) {
    const WaitKind waited = backend_->wait(plan);
    if (waited == WaitKind::refused) [[unlikely]] pause_after_refusal();
    return waited;
  }
  [[gnu::noinline, gnu::cold]] static void pause_after_refusal() { std::this_thread::sleep_for(std::chrono::milliseconds(1)); }
  void count_wait(WaitKind waited, std::chrono::nanoseconds hold) noexcept {
    if (waited == WaitKind::none || waited == WaitKind::refused) return;
    worker_counters_.wakeups.add(1);
    if (waited != WaitKind::held) return;
    worker_counters_.batch_waits.add(1);
    worker_counters_.batch_wait_us.add(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(hold).count()));
  }
  // Stop requests and posted functions arrive through the eventfd, and are checked once per round
  // as well (one or two relaxed loads), so that neither depends on the eventfd's completion.
  // Posted work runs before a stop request is acted on, so that work posted before stop() sees
  // the sockets still open.
  void poll_control() noexcept {
    if (posted_pending_.load(std::memory_order_acquire)) run_posted();
    if (stop_requested_.load(std::memory_order_acquire) != stop_acted_on_) act_on_stop_request();
  }
  void move_channel_sends() noexcept;
  void arm_writable_timer(std::chrono::steady_clock::time_point when) noexcept;
  void check_drain(std::chrono::steady_clock::time_point now) noexcept;
  SocketState& slot_for_new_socket();
  void free_slot(std::uint32_t index);  // a closed socket's slot, for reuse
  // Once per SendPool::trim_interval: destroys the slots at the end of the list beyond
  // warm_socket_slots that no socket used for EngineOptions::socket_slot_keep, so that the memory a
  // burst of sockets took goes back (see the .cpp).
  void trim_socket_slots();
  void start_protocols();  // on_start for every socket
  void begin_stop_all() noexcept;
  void raise_stop_request(StopLevel level) noexcept;
  void act_on_stop_request() noexcept;
  void run_posted() noexcept;
  void close_posts() noexcept;  // at exit: refuse new posts, run what is queued
  void thread_main(Ready ready, std::function<void()> finished);
  Result<void> pin();

  const unsigned index_;
  const EngineOptions options_;
  std::unique_ptr<Backend> backend_;
  BufferPool pool_;
  SendPool send_pool_;  // before sockets_: their queues give segments back when they go
  std::vector<std::unique_ptr<SocketState>> sockets_;
  std::vector<std::uint32_t> todo_;             // note_work
  std::vector<std::uint32_t> sampled_;          // note_received
  std::vector<std::uint32_t> channel_sockets_;  // note_channels
  SocketState* delivering_ = nullptr;           // the socket in on_datagrams, in deliver()
  ReceiveBatch batch_;
  SendOutcome send_outcome_;
  ReactorCore core_;
  bool serving_ = false;  // the backend is set up: sockets attach to it directly
  bool rounds_over_ = false;  // the round has ended: no socket may attach any more
  std::size_t open_sockets_ = 0;
  std::atomic<std::size_t> open_sockets_published_{0};  // open_sockets_, for other threads
  // Closed sockets' slots, for reuse: a min-heap, the lowest slot first, so that sockets gather
  // at the front of the list and the slots at its end fall idle (trim_socket_slots).
  std::vector<std::uint32_t> free_slots_;
  // The slots a worker never gives back: a program that opens and closes a socket now and then
  // does not make and destroy one each time.
  static constexpr std::size_t warm_socket_slots = 64;
  std::uint32_t slot_generations_ = 0;  // the last generation given to a socket (unique per worker)
  // Guards changes to sockets_ (made on the worker thread) against counters() on other threads,
  // and holds the counts of sockets whose slots were reused.
  mutable std::mutex sockets_mutex_;
  Counters closed_counters_;
  // Sockets that deferred on_writable to a later time (Transport::defer_writable), and the one
  // timer that wakes the worker for the earliest of them.
  struct DeferredWriter {
    std::uint32_t index;
    std::uint32_t generation;  // a closed socket's slot, reused, is another socket
  };
  std::vector<DeferredWriter> deferred_writers_;
  TimerId writable_timer_;
  std::chrono::steady_clock::time_point writable_timer_due_{};
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_{};
  std::atomic<bool> channels_pending_{false};
  int wake_fd_ = -1;
  std::atomic<StopLevel> stop_requested_{StopLevel::none};
  StopLevel stop_acted_on_ = StopLevel::none;  // worker thread only
  bool stop_begun_ = false;  // worker thread only
  // Engine::post: a mutex-guarded queue touched only when something was posted (the flag keeps
  // the per-round check to one load); the worker swaps it out and runs it without the lock.
  std::mutex post_mutex_;
  std::vector<std::function<void()>> posted_;   // guarded by post_mutex_
  bool posts_closed_ = false;                   // guarded by post_mutex_
  std::vector<std::function<void()>> running_;  // worker thread only
  std::atomic<bool> posted_pending_{false};
  std::chrono::steady_clock::time_point last_activity_{};  // traffic last reaped (busy_poll)
  BatchWait batch_wait_;              // EngineOptions::latency_budget
  std::uint32_t round_datagrams_ = 0;  // delivered since the last wait returned
  LiveCounters worker_counters_;       // the worker's own: wakeups, batch_waits, batch_wait_us
  std::thread thread_;
};

}  // namespace salvo::detail
