// The epoll backend: level-triggered epoll for readiness, recvmmsg to read a batch per call,
// sendmmsg to flush a socket's send queue per call. The verbs of backend.hpp, nothing else: the
// worker runs the round, and SendOutcome decides what a failed send becomes.
//
// Per wakeup a readable socket gets at most EngineOptions::reads_per_wakeup recvmmsg calls, so a
// flooded socket cannot starve the other sockets of its worker. A send that meets EAGAIN leaves the
// rest of the queue in place and asks epoll for EPOLLOUT; nothing is dropped and nothing spins.
// While GSO is on, runs of equal datagrams to one destination go out as one message each (see
// gso.hpp); sendmmsg may take some messages of a batch, and exactly their entries are popped.
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "datapath/error_reports.hpp"
#include "datapath/gso.hpp"
#include "datapath/send_control.hpp"
#include "datapath/send_outcome.hpp"
#include "engine/backend.hpp"
#include "engine/worker.hpp"

namespace salvo::detail {
namespace {

constexpr std::uint64_t wake_key = ~std::uint64_t{0};

// A socket's events name its slot and the generation of the socket in it: a registration that
// outlives its socket (a duplicate of a closed descriptor keeps it) names an old generation, and its
// events are ignored rather than taken for the slot's next socket.
std::uint64_t socket_key(const SocketState& s) noexcept { return std::uint64_t{s.generation} << 32 | s.index; }
constexpr std::size_t max_events = 1024;  // per wait

// Receive and send scratch, sized once from the batch size. One for the worker: a socket's
// recvmmsg or sendmmsg is done with it before the next socket's begins, and idle sockets then
// cost nothing here.
struct BatchIo {
  std::vector<mmsghdr> rx;
  std::vector<iovec> rx_iov;
  std::vector<sockaddr_in6> rx_names;
  std::vector<std::uint32_t> rx_slots;
  std::vector<std::uint64_t> rx_control;  // Worker::control_space() bytes per message (8-aligned)
  // The headers the last recvmmsg filled in (their name and control lengths are the kernel's
  // now): only these need resetting before the next call. The rest keep what setup gave them.
  std::uint32_t rx_written = 0;
  // The iovecs point at the slots in rx_slots[0, rx_prepared): the pool's next batch is usually
  // those very slots again (take_batch), and then they stay as they are.
  std::uint32_t rx_prepared = 0;
  std::vector<mmsghdr> tx;
  std::vector<std::uint32_t> tx_entries; // per message of the batch: the queue entries it carries
  std::vector<SendControl> tx_control;   // per message: its control messages (GSO, source, TOS), if any
  std::vector<iovec> tx_span;            // per GSO message: its payloads as one span (SendQueue::run_span)
};

// What one socket keeps between calls.
struct SocketIo {
  std::size_t plain_front = 0;  // entries from the front to send one by one (their GSO send failed)
  std::uint32_t registered = 0;  // the epoll events currently asked for
};

class EpollBackend final : public Backend {
 public:
  ~EpollBackend() override {
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
  }

  Result<void> setup(Worker& worker) override {
    worker_ = &worker;
    events_.resize(1);
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) return Error::from_errno(errno, "epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = wake_key;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, worker.wake_fd(), &ev) != 0) {
      return Error::from_errno(errno, "epoll_ctl(add eventfd)");
    }
    const std::uint32_t batch = worker.options().batch_size;
    const std::size_t control = worker.batch().control_space();
    batch_.rx.resize(batch);
    batch_.rx_iov.resize(batch);
    batch_.rx_names.resize(batch);
    batch_.rx_slots.resize(batch);
    batch_.rx_control.resize(std::size_t{batch} * control / sizeof(std::uint64_t));
    batch_.tx.resize(batch);
    batch_.tx_entries.resize(batch);
    batch_.tx_control.resize(batch);
    batch_.tx_span.resize(batch);
    // The pointers and lengths stay; recvmmsg writes only msg_len, the name and control lengths
    // and msg_flags (an output only).
    for (std::uint32_t i = 0; i < batch; ++i) {
      msghdr& h = batch_.rx[i].msg_hdr;
      h.msg_iov = &batch_.rx_iov[i];
      h.msg_iovlen = 1;
      h.msg_name = &batch_.rx_names[i];
      h.msg_namelen = sizeof(sockaddr_in6);
      if (control != 0) {
        h.msg_control = &batch_.rx_control[i * control / sizeof(std::uint64_t)];
        h.msg_controllen = control;
      }
    }
    batch_.rx_written = batch;  // reset every header before the first call
    for (const auto& s : worker.sockets()) {
      if (s->closed) continue;
      if (auto r = add(*s); !r) return r;
    }
    return {};
  }

  // The socket's state is made afresh for each socket that takes the slot. It is registered with
  // the interest it already has (EPOLLIN when it reads), so that start_receiving, which follows,
  // finds nothing to change: one epoll_ctl per socket opened.
  Result<void> add(SocketState& s) override {
    if (io_.size() <= s.index) io_.resize(s.index + 1);
    if (!io_[s.index]) io_[s.index] = std::make_unique<SocketIo>();
    SocketIo& io = *io_[s.index];
    io = SocketIo{};
    epoll_event ev{};
    ev.events = s.reads() ? std::uint32_t{EPOLLIN} : 0;
    ev.data.u64 = socket_key(s);
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, s.fd, &ev) != 0) {
      return Error::from_errno(errno, "epoll_ctl(add socket " + s.local.to_string() + ")");
    }
    io.registered = ev.events;
    return {};
  }

  void start_receiving(SocketState& s) override { update_interest(s); }
  void stop_receiving(SocketState& s) override { update_interest(s); }
  void cancel_sends(SocketState&) override {}  // sendmmsg leaves nothing in the kernel's hands
  bool holds(const SocketState&) const noexcept override { return false; }
  // submit() sends until the queue is empty or the socket blocks (EPOLLOUT notes it again); what
  // is left is what a hook queued after it.
  bool sends_pending(const SocketState& s) const noexcept override { return !s.queue.empty() && !s.send_blocked; }
  void release(SocketState& s) override {
    // Closing the fd takes it out of the epoll set, unless a duplicate of it lives on (an adopted
    // socket's, a listening socket's a program may share): those are taken out here. A socket the
    // engine opened for itself (fd_private) is spared the call.
    if (s.fd >= 0 && !s.fd_private) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, s.fd, nullptr);
  }

  // Nothing of a closed socket stays behind: its events were reaped (or name an old generation).
  bool can_forget(const SocketState&) const noexcept override { return true; }
  void forget_from(std::uint32_t index) noexcept override {
    if (io_.size() > index) io_.resize(index);
  }

  WaitKind wait(const WaitPlan& plan) override {
    // Level-triggered: events one wait does not return, the next does, so the array grows with
    // the sockets only up to a bound (and only here, never while reap walks it).
    if (events_.size() < max_events && events_.size() < io_.size() + 1) {  // sockets + the eventfd
      events_.resize(std::min<std::size_t>(io_.size() + 1, max_events));
    }
    if (plan.hold.count() > 0) return held_wait(plan);
    ready_ = std::max(0, wait_for_events(to_timespec(plan.spin ? std::chrono::nanoseconds(0) : plan.deadline - plan.now)));
    return plan.spin ? WaitKind::none : WaitKind::ordinary;  // EINTR above: nothing to reap this round
  }

  // epoll has no minimum wait: the hold is a sleep, then an ordinary wait collects what came (at
  // once, when anything did).
  [[gnu::noinline]] WaitKind held_wait(const WaitPlan& plan) {
    sleep_through(plan.hold);
    ready_ = std::max(0, wait_for_events(to_timespec(plan.deadline - std::chrono::steady_clock::now())));
    return WaitKind::held;
  }

  unsigned reap(Worker& worker) override {
    unsigned traffic = 0;
    for (int i = 0; i < ready_; ++i) {
      const epoll_event& ev = events_[i];
      if (ev.data.u64 == wake_key) {
        worker.handle_wake();
        continue;
      }
      const auto index = static_cast<std::uint32_t>(ev.data.u64);
      if (index >= worker.sockets().size()) continue;
      SocketState& s = *worker.sockets()[index];
      if (s.closed || ev.data.u64 != socket_key(s)) continue;
      ++traffic;
      if (ev.events & EPOLLOUT) {
        s.send_blocked = false;
        update_interest(s);  // level-triggered: ask for EPOLLOUT again only when blocked again
        worker.note_work(s);  // what waited goes with this round's visit
      }
      // EPOLLERR stays set while the error queue holds anything: drain it (level-triggered).
      if ((ev.events & EPOLLERR) && !(ev.events & EPOLLIN)) drain_errors(s, 0);
      if ((ev.events & EPOLLIN) && s.reads()) receive(worker, s);
    }
    ready_ = 0;
    return traffic;
  }

 private:
  // epoll_pwait2 (Linux 5.11) for its nanosecond timeout. Kernels before 5.11, and valgrind 3.19
  // (which runs the engine for the instruction counts in bench/), fail it with ENOSYS: then
  // epoll_wait for good, its timeout rounded up to whole milliseconds so that a deferred writer is
  // never woken early and spun on. A zero timeout stays zero (busy polling).
  int wait_for_events(const timespec& timeout) {
    const int capacity = static_cast<int>(events_.size());
    if (have_pwait2_) {
      const int n = ::epoll_pwait2(epoll_fd_, events_.data(), capacity, &timeout, nullptr);
      if (n >= 0 || errno != ENOSYS) return n;
      have_pwait2_ = false;
    }
    const long long ms = (static_cast<long long>(timeout.tv_sec) * 1'000'000'000 + timeout.tv_nsec + 999'999) / 1'000'000;
    return ::epoll_wait(epoll_fd_, events_.data(), capacity, static_cast<int>(std::min<long long>(ms, 1LL << 30)));
  }

  void update_interest(SocketState& s) {
    SocketIo& io = *io_[s.index];
    std::uint32_t wanted = 0;
    if (s.reads()) wanted |= EPOLLIN;
    if (s.send_blocked) wanted |= EPOLLOUT;
    if (wanted == io.registered) return;
    epoll_event ev{};
    ev.events = wanted;
    ev.data.u64 = socket_key(s);
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, s.fd, &ev) == 0) io.registered = wanted;
  }

  void receive(Worker& worker, SocketState& s) {
    BatchIo& io = batch_;
    BufferPool& pool = worker.pool();
    ReceiveBatch& batch = worker.batch();
    // The configured size, not the (cache-line rounded) slot size: truncation happens where the
    // options say, on both backends.
    const std::uint32_t size = worker.options().buffer_size;
    const std::size_t control = batch.control_space();
    for (std::uint32_t call = 0; call < worker.options().reads_per_wakeup && s.reads(); ++call) {
      std::uint32_t want = std::min(batch.capacity(), pool.available());
      if (want == 0) {
        s.counters.no_buffer.add(1);
        return;
      }
      // A datagram per round (a ping-pong) would otherwise pay for setting up the whole batch
      // every round: only what changed is written.
      const bool same_slots =
          want == io.rx_prepared && std::memcmp(pool.next_batch(want), io.rx_slots.data(), want * sizeof(std::uint32_t)) == 0;
      pool.take_batch(io.rx_slots.data(), want);
      if (!same_slots) {
        for (std::uint32_t i = 0; i < want; ++i) io.rx_iov[i] = {pool.slot(io.rx_slots[i]), size};
        io.rx_prepared = want;
      }
      for (std::uint32_t i = 0; i < io.rx_written; ++i) {
        msghdr& h = io.rx[i].msg_hdr;
        h.msg_namelen = sizeof(sockaddr_in6);
        if (control != 0) h.msg_controllen = control;
      }
      const int n = ::recvmmsg(s.fd, io.rx.data(), want, MSG_DONTWAIT, nullptr);
      s.counters.rx_syscalls.add(1);
      // A failed call wrote nothing the next one relies on; resetting them all costs nothing then.
      io.rx_written = n > 0 ? static_cast<std::uint32_t>(n) : want;
      if (n <= 0) {
        const int err = n < 0 ? errno : EAGAIN;
        pool.give_batch(io.rx_slots.data(), want);
        if (err == EAGAIN || err == EWOULDBLOCK) return;
        if (err == EINTR) continue;
        // An asynchronous error (ICMP) queued on the socket; reading it cleared it.
        drain_errors(s, err);  // the error queue says which peer
        continue;
      }
      for (int i = 0; i < n; ++i) {
        const msghdr& h = io.rx[i].msg_hdr;
        const std::span<const std::byte> payload{pool.slot(io.rx_slots[i]), io.rx[i].msg_len};
        const Address peer = Address::from_sockaddr(h.msg_name, h.msg_namelen);
        batch.accept(s, payload, peer, (h.msg_flags & MSG_TRUNC) != 0, h.msg_control, h.msg_controllen);
      }
      // No slots held one by one: the whole batch of them goes back at once, after the protocol.
      worker.deliver(s, [](std::span<const std::uint32_t>) {});
      pool.give_batch(io.rx_slots.data(), want);
      if (static_cast<std::uint32_t>(n) < want) return;  // the socket is drained
    }
  }

  // Fills the batch's messages from the front of the queue: one entry each, or a GSO run each while
  // GSO is on, its payloads as one iovec (a run never leaves its pool segment, where they lie one
  // after the other). A connected socket's messages to its peer then lose their destination
  // (omit_connected_destination).
  // Returns the number of messages.
  unsigned build_messages(const SocketState& s, const SocketIo& io) noexcept {
    BatchIo& b = batch_;
    const SendQueue::Entry* e = &s.queue.front();
    std::size_t used = 0;
    unsigned m = 0;
    while (m < b.tx.size() && e != nullptr) {
      const std::size_t run = SendOutcome::gso(s) && used >= io.plain_front ? gso_run(e, s.queue.run_from(*e)) : 1;
      msghdr& h = b.tx[m].msg_hdr;
      h.msg_name = const_cast<void*>(e->to.sockaddr_data());
      h.msg_namelen = e->to.sockaddr_size();
      if (run > 1) {
        b.tx_span[m] = s.queue.run_span(*e, run);
        h.msg_iov = &b.tx_span[m];
        h.msg_iovlen = 1;
      } else {
        h.msg_iov = s.queue.iov(*e);
        h.msg_iovlen = 1;
      }
      attach_send_control(h, b.tx_control[m], *e, s.ipv6, run > 1 ? e->length : 0, worker_->send_outcome().malformed_gso());
      b.tx_entries[m] = static_cast<std::uint32_t>(run);
      used += run;
      ++m;
      e = s.queue.after(*e, run);
    }
    if (has_peer(s.peer)) [[unlikely]] omit_connected_destinations(m, s.peer);
    return m;
  }

  // Out of line, so that an unconnected socket's flush does not pay for it in registers saved.
  [[gnu::cold, gnu::noinline]] void omit_connected_destinations(unsigned messages, const Address& peer) noexcept {
    for (unsigned i = 0; i < messages; ++i) omit_connected_destination(batch_.tx[i].msg_hdr, peer);
  }

  // The kernel took the first `messages` messages of the batch: count and pop their entries.
  void account_sent(SocketState& s, SocketIo& io, unsigned messages) noexcept {
    std::size_t entries = 0;
    std::uint64_t gso_sends = 0;
    std::uint64_t gso_segments = 0;
    for (unsigned m = 0; m < messages; ++m) {
      const std::size_t k = batch_.tx_entries[m];
      entries += k;
      if (k > 1) {
        ++gso_sends;
        gso_segments += k;
      }
    }
    worker_->send_outcome().sent(s, s.queue.front(), entries, gso_sends, gso_segments);
    s.queue.pop(entries);
    io.plain_front = io.plain_front > entries ? io.plain_front - entries : 0;
  }

  void submit(SocketState& s) override {
    SocketIo& io = *io_[s.index];
    SendOutcome& outcome = worker_->send_outcome();
    unsigned retries = 0;  // of the oldest datagram; each send that goes out starts again
    bool released = false;
    while (!s.queue.empty() && !s.send_blocked && s.fd >= 0) {
      const unsigned messages = build_messages(s, io);
      const int sent = ::sendmmsg(s.fd, batch_.tx.data(), messages, MSG_DONTWAIT);
      s.counters.tx_syscalls.add(1);
      if (sent > 0) {
        // A short count means the next message failed: the next call reports why.
        account_sent(s, io, static_cast<unsigned>(sent));
        released = true;
        retries = 0;
        continue;
      }
      const int err = errno;
      if (err == EINTR) continue;
      switch (outcome.failed(s, s.queue.front(), batch_.tx_entries[0], err, retries)) {
        case SendAction::resend:
          ++retries;
          break;
        case SendAction::blocked:
          s.send_blocked = true;
          update_interest(s);  // EPOLLOUT clears it
          return;
        case SendAction::split:
          io.plain_front = batch_.tx_entries[0];
          break;
        case SendAction::drop: {
          const Address to = s.queue.front().to;
          s.queue.pop(1);
          released = true;
          if (io.plain_front != 0) --io.plain_front;
          outcome.dropped(s, to, err);
          break;
        }
      }
    }
    if (released) worker_->sends_released(s);
  }

  Worker* worker_ = nullptr;
  int epoll_fd_ = -1;
  std::vector<std::unique_ptr<SocketIo>> io_;  // by socket index; stable while hooks open sockets
  BatchIo batch_;
  std::vector<epoll_event> events_;
  int ready_ = 0;  // events the last wait returned
  bool have_pwait2_ = true;  // false once epoll_pwait2 failed with ENOSYS
};

}  // namespace

std::unique_ptr<Backend> make_epoll_backend() { return std::make_unique<EpollBackend>(); }

}  // namespace salvo::detail
