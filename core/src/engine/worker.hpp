// Worker: one thread, pinned to one CPU, owning its backend, buffer pool and sockets. Everything
// here runs on the worker thread except request_stop(), which any thread may call.
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

#include "engine/backend.hpp"
#include "datapath/buffer_pool.hpp"
#include "salvo/datagram.hpp"
#include "salvo/engine.hpp"
#include "socket/socket_state.hpp"

namespace salvo::detail {

class Worker {
 public:
  Worker(unsigned index, const EngineOptions& options, std::unique_ptr<Backend> backend);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // --- controlling thread, before start ---
  Result<void> init();  // buffer pool, eventfd, batch array
  Result<SocketState*> add_socket(int fd, const Address& local, std::unique_ptr<Protocol> protocol);

  // Starts the thread. `ready` is called once on the worker thread with the setup result;
  // `finished` once when the thread is about to exit.
  void start(std::function<void(Result<void>)> ready, std::function<void()> finished);
  void join();

  // --- any thread ---
  void request_stop() noexcept;
  Counters counters() const noexcept;
  // Queues `fn` to run on this worker's thread after everything posted before it (see
  // Engine::post). Fails once the worker has finished.
  Result<void> post(std::function<void()> fn);

  // --- worker thread: for backends ---
  unsigned index() const noexcept { return index_; }
  const EngineOptions& options() const noexcept { return options_; }
  BufferPool& pool() noexcept { return pool_; }
  std::span<const std::unique_ptr<SocketState>> sockets() const noexcept { return sockets_; }
  int wake_fd() const noexcept { return wake_fd_; }

  // Receiving: accept() each datagram of a receive call, then dispatch() once. accept() counts a
  // truncated datagram and drops it unless options say to deliver it flagged.
  void accept(SocketState& s, std::span<const std::byte> payload, const Address& peer,
              bool truncated) noexcept {
    (void)accept_entry(s, payload, peer, truncated, 1);
  }
  // The same for a receive that brought control data (control_space() != 0): the datagram's
  // metadata fields are filled from it, and a GRO datagram counts as its segments.
  void accept(SocketState& s, std::span<const std::byte> payload, const Address& peer, bool truncated,
              const void* control, std::size_t control_length) noexcept;
  // Bytes of control data each receive should make room for; 0 when no metadata is asked for.
  std::size_t control_space() const noexcept { return control_space_; }
  void dispatch(SocketState& s) noexcept;
  std::uint32_t batch_capacity() const noexcept { return static_cast<std::uint32_t>(batch_.size()); }

  void note_kernel_drops(SocketState& s, std::uint32_t cumulative) noexcept;
  // An error the socket reported asynchronously (ECONNREFUSED from ICMP, ...): counted, then the
  // protocol's on_refused / on_error hook.
  void note_async_error(SocketState& s, int err, const Address& peer) noexcept;
  // A receive failed with `err` (0: epoll only said EPOLLERR): reads the socket's error queue and
  // calls on_refused / on_unreachable / on_path_mtu per report; when the queue held nothing, the
  // error itself goes to note_async_error. Bounded per call, so an ICMP storm cannot hold the
  // worker: the rest waits for the next round.
  // Returns how many error-queue messages it read.
  unsigned drain_errors(SocketState& s, int err) noexcept;
  // A send failed with an ICMP error (is_icmp_error) that may be an earlier datagram's: reads the
  // error queue until it is empty (reporting as drain_errors does), at most max_send_error_drain
  // messages. Emptying it matters: while the queue holds an ICMP report, the kernel leaves that
  // report's error pending again after every read (sock_dequeue_err_skb), so the next send would
  // fail too. Returns how many messages it read.
  unsigned drain_errors_before_resend(SocketState& s) noexcept;
  static constexpr unsigned max_send_error_drain = 4096;
  // A queued datagram the kernel refused to send (already counted as dropped_send_error): the
  // protocol hears of it through on_refused for ECONNREFUSED, on_error otherwise.
  // An EMSGSIZE about a datagram too big for the route is reported as on_path_mtu (once, however
  // often the error queue was read in between), not on_error.
  void note_send_error(SocketState& s, int err, const Address& to) noexcept;
  // A send of one datagram to `to` failed with EMSGSIZE: was that the socket's pending error (a
  // router's ICMP fragmentation needed / ICMPv6 packet too big about an earlier datagram, which
  // the kernel hands to the next send, whatever its destination, without sending it)? Then the
  // datagram should be sent again. Reads the error queue (only here, after a failure), reporting
  // what it holds as drain_errors does. True only for a report from the network (SO_EE_ORIGIN_ICMP
  // / _ICMP6) not yet put down to another failed send; false when the datagram itself is too big
  // (a local error about `to`, SO_EE_ORIGIN_LOCAL), when nothing says, or without IP_RECVERR: the
  // backend then drops it and calls note_send_error, which reports it once.
  bool emsgsize_from_network(SocketState& s, const Address& to) noexcept;

  // Sending: a backend flushes s.queue through this callback, repeatedly, from feed_writable().
  // Calls on_writable while the socket wants it, is not blocked, has room and is not deferred
  // (Transport::defer_writable); after each call the backend's flush runs. Bounded rounds so that
  // one sender cannot starve reception.
  // Whether on_writable is wanted at all, deferred or not.
  static bool wants_writable(const SocketState& s) noexcept {
    return s.want_writable && !s.writable_quiet && s.receiving && !s.send_blocked && s.queue.room() > 0;
  }
  // When on_writable is next due: time_point::max() when not wanted; at or before `now` when due.
  // Backends run feed_writable at once when it is due and otherwise sleep no later than this.
  static std::chrono::steady_clock::time_point writable_due(const SocketState& s) noexcept {
    return wants_writable(s) ? s.writable_after : std::chrono::steady_clock::time_point::max();
  }

  template <class Flush>
  void feed_writable(SocketState& s, std::chrono::steady_clock::time_point now, Flush&& flush) {
    for (int round = 0; round < 4 && wants_writable(s) && s.writable_after <= now; ++round) {
      const std::size_t before = s.queue.size();
      s.protocol->on_writable(s.transport);
      if (s.queue.size() == before) {
        // Nothing to send: do not call again until something changes, unless the protocol
        // deferred itself to a later time (a pacer waiting for its next slot).
        if (s.writable_after <= now) s.writable_quiet = true;
        break;
      }
      flush(s);
    }
  }

  // Stop requests and posted functions arrive through the eventfd; backends call handle_wake()
  // when it fires, and poll_control() once per round as well (one or two relaxed loads), so that
  // neither depends on the eventfd's completion arriving (see the io_uring backend).
  void handle_wake() noexcept;            // drains the eventfd, then poll_control()
  void poll_control() noexcept {
    if (!stop_begun_ && stop_requested()) begin_stop_all();
    if (posted_pending_.load(std::memory_order_acquire)) run_posted();
  }
  void begin_stop(SocketState& s) noexcept;
  bool ready_to_close(const SocketState& s, std::chrono::steady_clock::time_point now) const noexcept;
  void close_socket(SocketState& s) noexcept;  // counts what is left queued, closes, on_stop
  bool all_closed() const noexcept { return open_sockets_ == 0; }
  bool stop_requested() const noexcept { return stop_requested_.load(std::memory_order_acquire); }

  // Kernel drop counts come from SO_MEMINFO, one getsockopt per socket: when idle, at close, and
  // while busy at most every kernel_drop_sample_interval, so that live counters stay current
  // without a syscall (or a per-datagram SO_RXQ_OVFL control message) on the hot path.
  void idle_tick() noexcept;
  void sample_kernel_drops(std::chrono::steady_clock::time_point now) noexcept {
    if (now < next_drop_sample_) return;
    next_drop_sample_ = now + kernel_drop_sample_interval;
    idle_tick();
  }
  static constexpr std::chrono::milliseconds kernel_drop_sample_interval{100};
  void start_protocols();     // on_start for every socket

 private:
  // Counts one received datagram (`datagrams` of them for a GRO payload) and, unless dropped as
  // truncated, appends it to the batch: returns its entry, or null.
  Datagram* accept_entry(SocketState& s, std::span<const std::byte> payload, const Address& peer, bool truncated,
                         std::uint64_t datagrams) noexcept {
    pending_received_ += datagrams;
    pending_received_bytes_ += payload.size();
    if (truncated) {
      pending_truncated_ += datagrams;
      if (!options_.deliver_truncated) return nullptr;
    }
    pending_delivered_ += datagrams;
    pending_delivered_bytes_ += payload.size();
    Datagram& d = batch_[pending_];
    d.payload = payload;
    d.peer = peer;
    d.truncated = truncated;
    ++pending_;
    (void)s;
    return &d;
  }
  void begin_stop_all() noexcept;
  void run_posted() noexcept;
  void close_posts() noexcept;  // at exit: refuse new posts, run what is queued
  void thread_main(std::function<void(Result<void>)> ready, std::function<void()> finished);
  Result<void> pin();

  const unsigned index_;
  const EngineOptions options_;
  std::unique_ptr<Backend> backend_;
  BufferPool pool_;
  std::vector<std::unique_ptr<SocketState>> sockets_;
  std::vector<Datagram> batch_;
  std::uint32_t pending_ = 0;
  std::uint64_t pending_received_ = 0;
  std::uint64_t pending_received_bytes_ = 0;
  std::uint64_t pending_delivered_ = 0;  // datagrams in the batch: GRO entries count their segments
  std::uint64_t pending_delivered_bytes_ = 0;
  std::uint64_t pending_gro_receives_ = 0;
  std::uint64_t pending_gro_segments_ = 0;
  std::size_t control_space_ = 0;
  std::uint64_t pending_truncated_ = 0;
  std::size_t open_sockets_ = 0;
  int wake_fd_ = -1;
  std::atomic<bool> stop_requested_{false};
  bool stop_begun_ = false;  // worker thread only
  // Engine::post: a mutex-guarded queue touched only when something was posted (the flag keeps
  // the per-round check to one load); the worker swaps it out and runs it without the lock.
  std::mutex post_mutex_;
  std::vector<std::function<void()>> posted_;   // guarded by post_mutex_
  bool posts_closed_ = false;                   // guarded by post_mutex_
  std::vector<std::function<void()>> running_;  // worker thread only
  std::atomic<bool> posted_pending_{false};
  std::chrono::steady_clock::time_point next_drop_sample_{};
  std::thread thread_;
};

}  // namespace salvo::detail
