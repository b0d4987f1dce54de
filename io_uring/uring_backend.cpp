// The io_uring backend: one ring per worker.
//
// Receive: one recvmsg request per socket, selecting buffers from the worker's provided-buffer
// ring. Normally a multishot request: each completion carries one datagram (io_uring_recvmsg_out
// header, source address, control data, payload) in a buffer the kernel picked. Consecutive
// completions of one socket are gathered into a batch for the protocol; their buffers go back to
// the ring after the batch.
// A multishot request can end: -ENOBUFS when every buffer is in use (the datagram stays queued in
// the socket), -ECANCELED at stop, or an error. Every ending is counted (recv_terminations) and,
// while the socket still receives, re-armed once buffers are back (recv_rearms): never spinning.
// Under light traffic (EngineOptions::io_uring_receive, see receive_mode.hpp) a socket receives
// with single-shot requests instead, one per datagram, submitted with the round's replies: the
// payload then starts the buffer, and address and control data land in the socket's own msghdr.
// Their completions are not endings; their failures are, counted as the multishot's are.
//
// Send: each queued datagram becomes one SENDMSG SQE whose msghdr lives in the scratch beside its
// send-queue entry (TxState) until the completion, which names the entry by its slot in the
// worker's send pool; all SQEs of a round go to the kernel in the same io_uring_enter that waits
// for completions. Completions may arrive out of order, so entries are released in order as the
// front ones complete. With EngineOptions::gso a run of equal datagrams to one destination (see
// gso.hpp) is one SQE instead: the msghdr of its first entry, with the payloads of all its entries
// as one iovec (a run never leaves its pool segment, where they lie one after the other), and its
// completion marks every entry of the run done. The sends in flight are bounded (send_budget_) so that their completions,
// with one per receive buffer, always fit the completion queue, however many sockets send.
//
// Per round, the backend touches only the sockets that had completions or wait for a receive to
// be armed again: nothing walks every socket.
//
// Waiting (the wait verb; the worker says until when, and whether to spin): io_uring_submit_and_
// wait_timeout for EngineOptions::completion_batch completions or completion_wait, whichever is
// first, while the previous round brought a whole batch (heavy traffic); for one completion
// otherwise (see engine.hpp for the trade-off), with no timeout of its own. The worker's deadline
// is one absolute IORING_OP_TIMEOUT, armed when the deadline moves earlier and left alone
// otherwise: a timed wait costs the kernel a timer set and cancelled on every wait, which in a
// ping-pong is every datagram. The sends submitted in the same call are counted in (they complete
// at once); each carries a linked NOP that completes only if the send fails, so that a failure
// ends the wait without a timer.
//
// Send results go to the worker's SendOutcome, which decides (sent, sent again after an ICMP
// error, split a refused GSO message into plain ones, dropped); this file only carries it out.
#include <liburing.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <memory>
#include <span>
#include <vector>

#include "engine/backend.hpp"
#include "buffer_ring.hpp"
#include "datapath/cmsg.hpp"
#include "datapath/error_reports.hpp"
#include "datapath/gso.hpp"
#include "datapath/send_control.hpp"
#include "datapath/send_outcome.hpp"
#include "receive_mode.hpp"
#include "recvmsg_result.hpp"
#include "socket_command.hpp"
#include "uring_setup.hpp"
#include "engine/worker.hpp"

// Kernel 6.2's zero-copy usage report (liburing 2.3's header predates it): asked for with the
// SQE flag, answered in the notification's res.
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

namespace salvo::detail {
namespace {

// user_data layout: operation in the top byte, socket index in the next three, slot in the low 32.
enum class Op : std::uint8_t {
  recv = 1, send = 2, wake = 3, cancel = 4, deadline = 5, send_failed = 6, stop_receive = 7, files_update = 8,
  socket_option = 9, close = 10
};

constexpr std::uint64_t pack(Op op, std::uint32_t socket, std::uint32_t slot = 0) {
  return (std::uint64_t{static_cast<std::uint8_t>(op)} << 56) | (std::uint64_t{socket & 0xffffff} << 32) | slot;
}
constexpr Op op_of(std::uint64_t data) { return static_cast<Op>(data >> 56); }
constexpr std::uint32_t socket_of(std::uint64_t data) { return static_cast<std::uint32_t>(data >> 32) & 0xffffff; }
constexpr std::uint32_t slot_of(std::uint64_t data) { return static_cast<std::uint32_t>(data); }

// Room for the source address, rounded up to 8 bytes so that what follows stays aligned. The kernel
// writes the real length in io_uring_recvmsg_out::namelen. A control area follows only when the
// options ask for per-datagram metadata (Worker::control_space(); kernel drops are sampled with
// SO_MEMINFO instead, see Worker::note_kernel_drops): every byte of headroom moves the payload
// further into the buffer, onto one more cache line the kernel has to write per datagram.
constexpr std::uint32_t name_space = (sizeof(sockaddr_in6) + 7) & ~std::uint32_t{7};
constexpr std::uint32_t recv_header_bytes = sizeof(io_uring_recvmsg_out) + name_space;
static_assert(sizeof(io_uring_recvmsg_out) % 8 == 0);

// Per-socket io_uring state, sized at setup.
struct SocketRing {
  // The wait (UringBackend::waits_) before which this socket's IP_RECVERR command was queued:
  // while waits_ still says so, the command may be unsubmitted and the fd must not close at once.
  std::uint64_t option_wait = ~std::uint64_t{0};
  msghdr recv_template{};          // tells the kernel how much room name and control get
  bool armed = false;              // a recvmsg (multishot or single-shot) is outstanding
  bool armed_single = false;       // ... and it is single-shot
  bool rearm_counts = false;       // the last receive ended (recv_terminations): its re-arm counts
  ReceiveMode mode;                // which kind to arm next (adaptive policy)
  std::uint32_t received_this_round = 0;
  // A single-shot recvmsg's header: the kernel fills in the source address, the control data and
  // the flags (MSG_TRUNC) here, and the payload at the start of the buffer it picks.
  msghdr single_msg{};
  iovec single_iov{};
  sockaddr_in6 single_name{};
  std::vector<std::byte> single_control;
  bool cancel_sent = false;        // receive cancelled (stopping)
  bool cancel_sent_sends = false;  // sends cancelled (stop deadline passed)
  int target = -1;                 // what SQEs name: the registered-file slot, or the fd itself
  bool fixed = false;              // target is a registered-file slot (IOSQE_FIXED_FILE)
  // What the slot's registered-file entry is to hold (the fd, or -1 once released): the
  // FILES_UPDATE SQEs of the slot read it when they are submitted, so every update of one round
  // leaves the entry as the last of them wants it.
  int table_fd = -1;
  std::size_t submitted = 0;       // queue entries (from the front) handed to the kernel
  SendEntry* last_submitted = nullptr;  // the newest of them, while submitted > 0
  std::uint64_t tx_round = 0;      // the round that last counted a send syscall
  bool rx_listed = false;          // in rx_touched_ this round
  bool rearm_listed = false;       // in rearm_
};


// What a send needs beside its queue entry until the kernel is done with it. For a message's first
// entry: its msghdr and control messages, how many entries it carries, how often it was sent again
// after ICMP errors, and for zero-copy whether it goes as SENDMSG_ZC, how many notifications are
// still to come, and whether its result is in and only those notifications hold it. For every
// entry: whether it completed but is not yet released (completions come out of order).
struct TxState {
  msghdr msg;
  SendControl control;
  iovec span;  // a GSO message's payloads as one (SendQueue::run_span)
  std::uint16_t retries;
  std::uint8_t entries;
  std::uint8_t done;
  std::uint8_t zc;
  std::uint8_t notifications;
  std::uint8_t awaiting_notification;
};

// Zero-copy sends: the page size, and how many pages one message may span (MAX_SKB_FRAGS is 17
// by default; one less leaves room for the kernel's own header fragment).
constexpr std::uintptr_t zerocopy_page = 4096;
constexpr std::size_t zerocopy_max_pages = 16;

// The registered-file table's size at most (the descriptor limit bounds it too).
constexpr rlim_t max_fixed_files = 65536;

// IORING_FEAT_MIN_TIMEOUT (kernel 6.12): newer than the liburing headers salvo builds with.
constexpr unsigned min_timeout_feature = 1u << 15;

// Sends in flight per worker at most, and what may go beyond it: messages sent again after an
// error, or a refused GSO message split into its datagrams (at most gso_max_segments), while the
// budget is full.
constexpr unsigned send_budget = 4096;
constexpr unsigned send_budget_slack = 2 * gso_max_segments;

class UringBackend final : public Backend {
 public:
  ~UringBackend() override {
    // Registered-file updates still queued let go of their sockets now, not with the ring's
    // asynchronous teardown. The worker thread submitted what its rounds left (Worker::thread_main);
    // this is for a ring without SINGLE_ISSUER, which the destroying thread may still submit to.
    if (ring_ready_) io_uring_submit(&ring_);
    buffers_.reset();  // unregisters from the ring, so before the ring goes
    if (ring_ready_) io_uring_queue_exit(&ring_);
  }

  // The recvmsg_out header, the source address and the control area come before each payload.
  std::uint32_t buffer_headroom(const EngineOptions& o) const noexcept override {
    return recv_header_bytes + static_cast<std::uint32_t>(receive_control_space(o));
  }

  Result<void> setup(Worker& worker) override {
    worker_ = &worker;
    const EngineOptions& o = worker.options();
    const auto sockets = worker.sockets();
    // The completions outstanding at once must fit the CQ: one per buffer in the kernel's hands,
    // one per send in flight (two for zero-copy: result, then notification), which send_budget_
    // bounds however many sockets send, plus the control operations (a send that fails, and is
    // sent again or split, may go a little over the budget: the slack). The kernel keeps what
    // overflows a full CQ (IORING_FEAT_NODROP) rather than losing it, so a burst of receive
    // endings on many sockets at once costs time, not completions.
    per_send_ = o.zerocopy_send ? 2 : 1;
    const unsigned cq = std::max(1024u, o.buffer_count + per_send_ * (send_budget + send_budget_slack) + 128);
    if (int ret = create_ring(ring_, 512, cq, setup_); ret < 0) {
      return Error::from_errno(-ret, "io_uring_setup for worker " + std::to_string(worker.index()));
    }
    ring_ready_ = true;
    cqe_skip_ = (ring_.features & IORING_FEAT_CQE_SKIP) != 0;
    cq_entries_ = ring_.cq.ring_entries;

    // A sparse registered-file table: sockets opened while running take a slot (their index)
    // with one update each. Sockets beyond it, or every socket on a kernel without sparse tables
    // (before 5.19), are named by their fd, which costs the kernel a file lookup per request.
    rlimit files{};
    const unsigned limit = ::getrlimit(RLIMIT_NOFILE, &files) == 0 ? static_cast<unsigned>(std::min<rlim_t>(files.rlim_cur, max_fixed_files)) : 0;
    if (limit > 0 && io_uring_register_files_sparse(&ring_, limit) == 0) fixed_slots_ = limit;

    buffers_ = std::make_unique<BufferRing>();
    control_space_ = static_cast<std::uint32_t>(worker.batch().control_space());
    if (auto r = buffers_->init(ring_, worker.pool(), o.buffer_size + recv_header_bytes + control_space_); !r) return r;
    payload_room_ = o.buffer_size;
    zerocopy_ = o.zerocopy_send;
    zerocopy_min_bytes_ = o.zerocopy_min_bytes;
    completion_batch_ = o.completion_batch;
    completion_wait_ = o.completion_wait;
    flag_send_failures_ = cqe_skip_;
    // The kernel's minimum wait for held waits (latency budget), with its extended wait argument.
    min_timeout_ = (ring_.features & min_timeout_feature) != 0 && (ring_.features & IORING_FEAT_EXT_ARG) != 0;
    socket_commands_ = cqe_skip_ && socket_commands_supported(ring_);  // before anything else is in flight
    arm_wake();
    for (const auto& s : sockets) {
      if (s->closed) continue;
      if (auto r = add(*s); !r) return r;
    }
    return {};
  }

  std::uint32_t send_scratch_bytes() const noexcept override { return sizeof(TxState); }

  // A socket's ring state is made afresh for each socket that takes the slot: its msghdrs point
  // into it, and the kernel holds nothing of the slot's previous socket (holds() was false).
  Result<void> add(SocketState& s) override {
    const EngineOptions& o = worker_->options();
    if (rings_.size() <= s.index) rings_.resize(s.index + 1);
    // Each list names a socket at most once: room for all of them now, not while reaping.
    if (rx_touched_.capacity() < rings_.size()) {
      const std::size_t room = 2 * rings_.size();
      rx_touched_.reserve(room);
      rearm_.reserve(room);
      rearm_work_.reserve(room);
    }
    // The slot's state is reset in place, not made anew: a FILES_UPDATE SQE not yet submitted
    // may point into it (table_fd).
    if (!rings_[s.index]) rings_[s.index] = std::make_unique<SocketRing>();
    SocketRing& sr = *rings_[s.index];
    const bool listed = sr.rearm_listed;
    sr = SocketRing{};
    sr.rearm_listed = listed;  // the slot's place in rearm_ stays with it
    sr.target = s.fd;
    if (s.index < fixed_slots_ && queue_files_update(s.index, sr, s.fd)) {
      sr.target = static_cast<int>(s.index);
      sr.fixed = true;
    }
    sr.recv_template.msg_namelen = name_space;
    sr.recv_template.msg_controllen = control_space_;
    sr.mode = ReceiveMode(o.io_uring_receive);
    sr.single_control.resize(control_space_);
    // The single-shot header's pointers and the iovec never change; the iovec's length caps the
    // payload at buffer_size, as the multishot layout does, so that a datagram is truncated (or
    // not) whichever kind received it. arm_receive resets what the kernel writes back.
    sr.single_iov = {nullptr, payload_room_};
    sr.single_msg.msg_name = &sr.single_name;
    sr.single_msg.msg_iov = &sr.single_iov;
    sr.single_msg.msg_iovlen = 1;
    sr.single_msg.msg_control = control_space_ == 0 ? nullptr : sr.single_control.data();
    if (s.recverr_pending) queue_recverr(s);
    return {};
  }

  bool sets_recverr() const noexcept override { return socket_commands_; }

  void start_receiving(SocketState& s) override { arm_receive(s); }

  void stop_receiving(SocketState& s) override {
    SocketRing& sr = ring_of(s);
    if (!sr.armed || sr.cancel_sent) return;
    io_uring_sqe* sqe = get_sqe();
    if (sqe == nullptr) {
      list_for_rearm(s);  // asked again after the next reap
      return;
    }
    io_uring_prep_cancel64(sqe, receive_data(s.index, sr.armed_single), 0);
    io_uring_sqe_set_data64(sqe, pack(Op::stop_receive, s.index));
    sr.cancel_sent = true;
  }

  void submit(SocketState& s) override { prepare_sends(s); }

  // Sends stuck past the stop deadline: cancelled; their completions count them as send errors.
  void cancel_sends(SocketState& s) override {
    SocketRing& sr = ring_of(s);
    if (sr.submitted == 0 || sr.cancel_sent_sends) return;
    io_uring_sqe* sqe = get_sqe();
    if (sqe == nullptr) return;  // a stopping socket is visited each round: asked again
    io_uring_prep_cancel_fd(sqe, sr.target, IORING_ASYNC_CANCEL_ALL | (sr.fixed ? IORING_ASYNC_CANCEL_FD_FIXED : 0));
    io_uring_sqe_set_data64(sqe, pack(Op::cancel, s.index));
    sr.cancel_sent_sends = true;
  }

  bool sends_pending(const SocketState& s) const noexcept override { return ring_of(s).submitted < s.queue.size(); }

  // Nothing of a socket may remain in the kernel's hands when its fd closes.
  bool holds(const SocketState& s) const noexcept override {
    const SocketRing& sr = ring_of(s);
    return sr.armed || sr.submitted != 0;
  }

  // The registered-file entry keeps the socket open after its fd closes, until it lets go. A socket
  // on a port the kernel picked is let go with the next submission, sparing a system call per
  // socket (a forwarder's per query); the last socket to close, and any other socket, at once,
  // so that a program may bind its port again as soon as on_stop has run.
  void release(SocketState& s) override {
    SocketRing& sr = ring_of(s);
    // A socket command of this socket's still queued must reach the kernel before the fd's number
    // can pass to another socket (a socket opened and closed before the round's wait).
    if (sr.option_wait == waits_) submit_now();
    if (!sr.fixed) return;
    sr.fixed = false;
    if (s.ephemeral_port && queue_files_update(s.index, sr, -1)) {
      if (worker_->open_socket_count() <= 1) submit_queued();
      return;
    }
    sr.table_fd = -1;
    io_uring_register_files_update(&ring_, s.index, &sr.table_fd, 1);
  }

  // An IORING_OP_CLOSE request with the round's others, sparing a system call per socket (a
  // forwarder's per query); the fd's number stays taken until it is submitted
  // (Worker::open_socket submits at once when it finds no descriptor free).
  bool close_later(SocketState& s) override {
    if (!ring_ready_) return false;
    io_uring_sqe* sqe = get_sqe();
    if (sqe == nullptr) return false;
    io_uring_prep_close(sqe, s.fd);
    if (cqe_skip_) sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, pack(Op::close, s.index, s.generation));
    return true;
  }

  bool submit_now() override {
    if (!ring_ready_ || io_uring_sq_ready(&ring_) == 0) return false;
    // A submission the kernel cuts short (no memory for a request) is tried again, a few times.
    for (int tries = 0; tries < 4 && io_uring_sq_ready(&ring_) > 0; ++tries) {
      if (submit_queued() < 0) break;
    }
    return true;
  }

  // A closed socket's requests have all completed (holds() was false at its close); what may still
  // name its slot is a place in the re-arm or receive lists.
  bool can_forget(const SocketState& s) const noexcept override {
    const SocketRing& sr = ring_of(s);
    return !sr.armed && sr.submitted == 0 && !sr.rearm_listed && !sr.rx_listed;
  }

  void forget_from(std::uint32_t index) noexcept override {
    if (rings_.size() > index) rings_.resize(index);
  }

  WaitKind wait(const WaitPlan& plan) override {
    // For the adaptive receive policy: how long the previous round worked after its wait.
    previous_round_busy_ = plan.now - woke_at_;
    if (!wake_armed_) arm_wake();
    WaitKind kind = WaitKind::ordinary;
    int ret = 0;
    if (plan.spin) {
      ret = io_uring_submit_and_get_events(&ring_);
      kind = WaitKind::none;
    } else if (plan.hold.count() > 0) {
      kind = held_wait(plan, ret);
    } else {
      // Wait for a whole batch only while traffic is heavy (the last round already brought one):
      // light traffic, a ping-pong above all, would otherwise wait out completion_wait on every
      // datagram.
      const bool batch_wait = last_seen_ >= completion_batch_;
      unsigned want = batch_wait ? completion_batch_ : 1;
      // The sends submitted now complete at once (a UDP send does not wait), so waiting for `want`
      // completions would end on their own and cost a second io_uring_enter per reply (an echo's
      // ping-pong: one to send, one to wait for the next request). Count them in, unless a writer
      // waits for the room they free: then their completions are the news.
      if (!plan.writers) want = std::min(want + sends_submitted_, cq_entries_ / 2);
      if (!batch_wait && unflagged_sends_ == 0 && arm_deadline(plan.deadline)) {
        // Untimed: the deadline's own timeout ends it, and so does a failed send (its flag).
        ret = io_uring_submit_and_wait(&ring_, want);
      } else {
        auto wait = std::chrono::nanoseconds(plan.deadline - plan.now);
        if (batch_wait) wait = std::min(wait, std::chrono::nanoseconds(completion_wait_));
        io_uring_cqe* cqe = nullptr;
        __kernel_timespec ts = to_timespec<__kernel_timespec>(wait);
        ret = io_uring_submit_and_wait_timeout(&ring_, &cqe, want, &ts, nullptr);
      }
    }
    if (counted_refusal(ret)) {
      // The kernel is short of memory: what was queued stays queued for the next round. The
      // completions of what it took still come in (an enter that submits nothing runs the
      // deferred task work), and this was no wait: nothing queued went in with it.
      counted_refusal(io_uring_get_events(&ring_));
      woke_at_ = std::chrono::steady_clock::now();
      return WaitKind::refused;
    }
    sends_submitted_ = 0;  // every send prepared so far went in with that call
    ++waits_;
    unflagged_sends_ = 0;
    woke_at_ = std::chrono::steady_clock::now();
    return kind;
  }

  unsigned reap(Worker& worker) override {
    last_seen_ = process_completions(worker);
    // Light traffic waits without a timeout for one completion beyond the sends' own; a send
    // that fails must then end the wait by itself (see submit_send).
    flag_send_failures_ = cqe_skip_ && last_seen_ < completion_batch_;
    return last_seen_;
  }

 private:
  SocketRing& ring_of(const SocketState& s) const noexcept { return *rings_[s.index]; }

  // An SQE, submitting what is queued when the SQ is full. Null only when the kernel would not take
  // the submission (counted): callers then leave their request for a later round, or, where a
  // datagram depends on it, count it dropped.
  io_uring_sqe* get_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      submit_queued();  // SQ full: hand over what we have and continue
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

  // io_uring_submit, on the worker's thread: a refusal is counted.
  int submit_queued() {
    const int ret = io_uring_submit(&ring_);
    counted_refusal(ret);
    return ret;
  }

  // Whether `ret`, what an io_uring_enter returned, is the kernel refusing the submission for want
  // of memory (EAGAIN: no request could be allocated; ENOMEM; EBUSY: completions it could not
  // post yet). Each is counted in the worker's submission_refusals; the SQEs stay in the SQ.
  bool counted_refusal(int ret) noexcept {
    if (ret != -EAGAIN && ret != -ENOMEM && ret != -EBUSY) return false;
    worker_->count_submission_refusal();
    return true;
  }

  // Points the registered-file slot `index` at `fd` (-1: empty) with a FILES_UPDATE SQE, which
  // goes to the kernel with the round's other requests, ahead of the requests queued after it
  // (the kernel issues a submission's SQEs in order, and this one completes inline). False when
  // no SQE could be had. A failure comes back as a completion (on_files_update).
  bool queue_files_update(std::uint32_t index, SocketRing& sr, int fd) {
    sr.table_fd = fd;
    io_uring_sqe* sqe = get_sqe();
    if (sqe == nullptr) return false;
    io_uring_prep_files_update(sqe, &sr.table_fd, 1, static_cast<int>(index));
    if (cqe_skip_) sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, pack(Op::files_update, index));
    return true;
  }

  // A FILES_UPDATE that failed (or, on kernels without CQE_SKIP, succeeded). Should the slot's
  // socket have been left out of the table, its requests that named the slot fail (EBADF): its
  // receive ends and is armed again by fd, its sends are dropped and counted by SendOutcome.
  void on_files_update(Worker& worker, std::uint32_t index, int res) {
    if (res >= 0 || index >= rings_.size() || !rings_[index]) return;
    SocketState& s = *worker.sockets()[index];
    SocketRing& sr = *rings_[index];
    if (s.closed || !sr.fixed || sr.table_fd != s.fd) return;
    s.counters.socket_errors.add(1);
    sr.fixed = false;
    sr.target = s.fd;
  }

  // IP_RECVERR (and IPV6_RECVERR) on by socket commands, which the kernel runs in submission order,
  // inline, before the socket's first receive or send queued after them. Only a failure completes
  // (on_socket_option). Without SQEs the option is left pending, for the worker to set at once.
  void queue_recverr(SocketState& s) {
    static constexpr int one = 1;
    if (!socket_commands_) return;
    const bool v6 = s.ipv6;
    for (int i = 0; i < (v6 ? 2 : 1); ++i) {
      io_uring_sqe* sqe = get_sqe();
      if (sqe == nullptr) return;
      prep_set_socket_option(sqe, s.fd, i == 0 && v6 ? IPPROTO_IPV6 : IPPROTO_IP, i == 0 && v6 ? IPV6_RECVERR : IP_RECVERR, &one);
      sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
      io_uring_sqe_set_data64(sqe, pack(Op::socket_option, s.index, s.generation));
    }
    ring_of(s).option_wait = waits_;  // queued until this round's wait submits it
    s.recverr_pending = false;
  }

  // A socket command that failed: that socket's ICMP reports come as its pending error instead
  // (drain_errors), as an adopted socket's without IP_RECVERR do.
  void on_socket_option(Worker& worker, std::uint64_t data, int res) {
    if (res >= 0 || socket_of(data) >= worker.sockets().size()) return;
    SocketState& s = *worker.sockets()[socket_of(data)];
    if (s.closed || s.generation != slot_of(data)) return;
    s.recverr = false;
    s.counters.socket_errors.add(1);
  }

  void arm_wake() {
    // A multishot poll, not a read: the worker drains the eventfd itself in handle_wake().
    io_uring_sqe* sqe = get_sqe();
    wake_armed_ = sqe != nullptr;  // or the next wait tries again
    if (sqe == nullptr) return;
    io_uring_prep_poll_multishot(sqe, worker_->wake_fd(), POLLIN);
    io_uring_sqe_set_data64(sqe, pack(Op::wake, 0));
  }

  // A wait held open for plan.hold (the latency budget), in the same io_uring_enter that submits
  // the round's replies. The kernel's minimum wait returns early only for a whole batch
  // (completion_batch beyond the replies' own completions), and at the end of the hold returns
  // with whatever is there, the replies' completions included; until then arrivals do not wake
  // the thread. Kernels without IORING_FEAT_MIN_TIMEOUT (before 6.12) sleep through the hold.
  [[gnu::noinline]] WaitKind held_wait(const WaitPlan& plan, int& ret) {
    const auto hold_us = std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::microseconds>(plan.hold).count());
    // Without a timeout of its own the kernel ends the wait at the end of the hold, found or not:
    // the worker's deadline (an hour at most when there is none) keeps it waiting.
    const auto limit = std::chrono::nanoseconds(std::chrono::hours(1));
    const auto wait = std::clamp(std::chrono::nanoseconds(plan.deadline - plan.now), plan.hold, limit);
    __kernel_timespec ts = to_timespec<__kernel_timespec>(wait);
    if (min_timeout_) {
      io_uring_getevents_arg arg{};
      arg.pad = static_cast<std::uint32_t>(hold_us);  // min_wait_usec in kernels 6.12+
      arg.ts = reinterpret_cast<std::uint64_t>(&ts);
      const unsigned want = std::min(completion_batch_ + sends_submitted_, cq_entries_ / 2);
      ret = io_uring_enter2(ring_.ring_fd, flush_submissions(), want, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
                            reinterpret_cast<sigset_t*>(&arg), sizeof arg);
      if (ret != -EINVAL) return WaitKind::held;  // -ETIME: the deadline came first
      min_timeout_ = false;  // refused: sleep through holds from now on
    }
    submit_queued();  // the replies go now, not after the hold
    sleep_through(plan.hold);
    io_uring_cqe* cqe = nullptr;
    ts = to_timespec<__kernel_timespec>(wait - plan.hold);
    ret = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    return WaitKind::held;
  }

  // Makes the SQEs prepared since the last submission visible to the kernel (what liburing's
  // submit does before its io_uring_enter) and returns how many there are, for an io_uring_enter
  // of our own.
  unsigned flush_submissions() noexcept {
    io_uring_sq& sq = ring_.sq;
    const unsigned tail = sq.sqe_tail;
    if (sq.sqe_head != tail) {
      sq.sqe_head = tail;
      io_uring_smp_store_release(sq.ktail, tail);
    }
    return tail - *sq.khead;
  }

  // The worker's deadline as one absolute timeout (CLOCK_MONOTONIC, steady_clock's): armed when
  // none is pending, moved when the deadline comes earlier. A later deadline leaves it alone: it
  // fires early, the round finds nothing due, and the next wait arms the later one. False when no
  // SQE could be had: the wait is then timed itself.
  bool arm_deadline(std::chrono::steady_clock::time_point deadline) {
    if (deadline_armed_ && deadline >= armed_deadline_) return true;
    const auto since_epoch = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch());
    io_uring_sqe* sqe = get_sqe();
    if (sqe == nullptr) return false;
    if (!deadline_armed_) {
      deadline_ts_ = to_timespec<__kernel_timespec>(since_epoch);
      io_uring_prep_timeout(sqe, &deadline_ts_, 0, IORING_TIMEOUT_ABS);
      io_uring_sqe_set_data64(sqe, pack(Op::deadline, 0));
    } else {
      // Its completion (0, or -ENOENT when the timeout fired meanwhile) says nothing new.
      update_ts_ = to_timespec<__kernel_timespec>(since_epoch);
      io_uring_prep_timeout_update(sqe, &update_ts_, pack(Op::deadline, 0), IORING_TIMEOUT_ABS);
      io_uring_sqe_set_data64(sqe, pack(Op::cancel, 0));
    }
    deadline_armed_ = true;
    armed_deadline_ = deadline;
    return true;
  }

  // user_data of a socket's receive: slot 1 marks a single-shot one.
  static std::uint64_t receive_data(std::uint32_t socket, bool single) { return pack(Op::recv, socket, single ? 1 : 0); }

  void arm_receive(SocketState& s) {
    SocketRing& sr = ring_of(s);
    if (sr.armed || !s.reads() || s.closed) return;
    io_uring_sqe* sqe = get_sqe();
    if (sqe == nullptr) {
      list_for_rearm(s);
      return;
    }
    const bool single = sr.mode.single_shot_next();
    if (single) {
      sr.single_msg.msg_namelen = sizeof(sr.single_name);
      sr.single_msg.msg_controllen = control_space_;
      sr.single_msg.msg_flags = 0;
      io_uring_prep_recvmsg(sqe, sr.target, &sr.single_msg, 0);
    } else {
      io_uring_prep_recvmsg_multishot(sqe, sr.target, &sr.recv_template, 0);
    }
    sqe->flags |= (sr.fixed ? IOSQE_FIXED_FILE : 0) | IOSQE_BUFFER_SELECT;
    sr.cancel_sent = false;
    sqe->buf_group = BufferRing::group_id;
    io_uring_sqe_set_data64(sqe, receive_data(s.index, single));
    sr.armed = true;
    sr.armed_single = single;
  }

  // The sockets whose receive ended, or whose arm or cancel found no SQE. Each is looked at once;
  // what still cannot be done (no buffers back yet) stays listed for the next round.
  void rearm_listed_sockets(std::span<const std::unique_ptr<SocketState>> sockets) {
    if (rearm_.empty()) return;
    rearm_start_ = (rearm_start_ + 1) % rearm_.size();
    std::rotate(rearm_.begin(), rearm_.begin() + static_cast<std::ptrdiff_t>(rearm_start_), rearm_.end());
    rearm_work_.swap(rearm_);
    for (const std::uint32_t index : rearm_work_) {
      SocketState& s = *sockets[index];
      SocketRing& sr = ring_of(s);
      sr.rearm_listed = false;
      if (s.closed) continue;
      if (!sr.armed && s.reads()) {
        if (buffers_->in_kernel() == 0) {
          list_for_rearm(s);
          continue;
        }
        arm_receive(s);
        if (sr.armed) {
          if (sr.rearm_counts) s.counters.recv_rearms.add(1);
          sr.rearm_counts = false;
        }
      } else if (sr.armed && !s.reads() && !sr.cancel_sent) {
        stop_receiving(s);
      }
    }
    rearm_work_.clear();
  }

  // The socket's receive needs attention after the next reap: armed again once buffers are back,
  // or (paused, stopping) cancelled where the first try found no SQE.
  void list_for_rearm(SocketState& s) {
    SocketRing& sr = ring_of(s);
    if (sr.rearm_listed) return;
    sr.rearm_listed = true;
    rearm_.push_back(s.index);
  }

  // The adaptive policy wants single-shot receives while a multishot one is armed: cancel it; its
  // -ECANCELED ending is planned, and the socket is re-armed single-shot.
  void switch_to_single_shot(SocketState& s) {
    SocketRing& sr = ring_of(s);
    io_uring_sqe* sqe = get_sqe();
    if (sqe == nullptr) return;  // stays multishot for now
    io_uring_prep_cancel64(sqe, receive_data(s.index, false), 0);
    io_uring_sqe_set_data64(sqe, pack(Op::cancel, s.index));
    sr.mode.cancel_sent();
  }

  // Hands the kernel the queued entries it does not have yet, one message per datagram or GSO run,
  // while the budget of sends in flight allows; the rest wait in the queue (sends_pending) for the
  // completions that free the budget.
  void prepare_sends(SocketState& s) {
    SocketRing& sr = ring_of(s);
    while (sr.submitted < s.queue.size()) {
      if (sends_in_flight_ + per_send_ > send_budget) return;
      if (io_uring_sq_space_left(&ring_) < 2) {
        submit_queued();  // a message takes two SQEs (its failure flag)
        if (io_uring_sq_space_left(&ring_) < 2) return;  // refused: the rest wait for a later round
      }
      SendEntry& e = sr.submitted == 0 ? s.queue.front() : *s.queue.after(*sr.last_submitted, 1);
      const std::size_t available = s.queue.run_from(e);
      const std::size_t run = SendOutcome::gso(s) ? gso_run(&e, available) : 1;
      prepare_message(s, e, run);
      submit_send(s, e);
      sr.submitted += run;
      sr.last_submitted = &e + (run - 1);
      if (sr.tx_round != round_) {
        sr.tx_round = round_;
        s.counters.tx_syscalls.add(1);  // these ride on this round's io_uring_enter
      }
    }
  }

  // Builds the msghdr of the message of `run` entries starting at `e` over their iovecs, with a
  // UDP_SEGMENT control message when it carries more than one datagram.
  void prepare_message(const SocketState& s, SendEntry& e, std::size_t run) {
    TxState& tx = s.queue.scratch<TxState>(e);
    iovec* iov = s.queue.iov(e);
    tx.msg = {};
    tx.msg.msg_name = const_cast<void*>(e.to.sockaddr_data());
    tx.msg.msg_namelen = e.to.sockaddr_size();
    if (has_peer(s.peer)) [[unlikely]] omit_connected_destination(tx.msg, s.peer);
    if (run > 1) {
      tx.span = s.queue.run_span(e, run);
      tx.msg.msg_iov = &tx.span;
    } else {
      tx.msg.msg_iov = iov;
    }
    tx.msg.msg_iovlen = 1;
    attach_send_control(tx.msg, tx.control, e, s.ipv6, run > 1 ? e.length : 0, worker_->send_outcome().malformed_gso());
    tx.zc = 0;
    if (zerocopy_) {
      // The kernel sends a zero-copy message from the pages it lies in, one skb fragment per page,
      // and refuses (EMSGSIZE) a message that needs more fragments than an skb has: such a message
      // (a large GSO run straddling pages) is copied instead.
      // A run's payloads lie one after the other in the segment's payload area: count each page
      // once, however many of them share it.
      std::size_t bytes = 0;
      std::size_t pages = 0;
      std::uintptr_t counted_up_to = 0;  // pages below this one are counted
      for (std::size_t i = 0; i < run; ++i) {
        const iovec& v = iov[i];
        bytes += v.iov_len;
        if (v.iov_len == 0) continue;
        std::uintptr_t first = reinterpret_cast<std::uintptr_t>(v.iov_base) / zerocopy_page;
        const std::uintptr_t last = (reinterpret_cast<std::uintptr_t>(v.iov_base) + v.iov_len - 1) / zerocopy_page;
        if (first < counted_up_to) first = counted_up_to;
        if (last >= first) pages += last - first + 1;
        counted_up_to = std::max(counted_up_to, last + 1);
      }
      tx.zc = bytes >= zerocopy_min_bytes_ && pages <= zerocopy_max_pages ? 1 : 0;
    }
    tx.entries = static_cast<std::uint8_t>(run);
    tx.retries = 0;
    tx.notifications = 0;
    tx.awaiting_notification = 0;
    for (std::size_t i = 0; i < run; ++i) s.queue.scratch<TxState>((&e)[i]).done = 0;
  }

  // Submits the prepared message starting at `e`. False when no SQE could be had (only when the
  // kernel refuses submissions): the caller decides what becomes of the message.
  bool submit_send(SocketState& s, SendEntry& e) {
    SocketRing& sr = ring_of(s);
    TxState& tx = s.queue.scratch<TxState>(e);
    io_uring_sqe* sqe = get_sqe();
    if (sqe == nullptr) return false;
    if (tx.zc) {
      io_uring_prep_sendmsg_zc(sqe, sr.target, &tx.msg, 0);
      sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;  // the notification says whether it copied
      s.counters.zerocopy_sends.add(1);
    } else {
      io_uring_prep_sendmsg(sqe, sr.target, &tx.msg, 0);
    }
    ++sends_submitted_;
    sends_in_flight_ += tx.zc ? 2 : 1;
    if (sr.fixed) sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, pack(Op::send, s.index, s.queue.slot_of(e)));
    if (!flag_send_failures_) {
      ++unflagged_sends_;
      return true;
    }
    // An untimed wait counts on the sends' completions to end it only when a receive or the
    // deadline comes as well; a send that fails needs handling (sent again, reported) at once. So a
    // NOP linked behind it: it runs, silently (CQE_SKIP_SUCCESS), when the send succeeds, and is
    // cancelled, with a completion of its own, when the send fails, one completion more than
    // the wait counts on. (Should the SQ fill between the two, the send goes without its flag:
    // its failure then waits for the next completion or the deadline.)
    sqe->flags |= IOSQE_IO_LINK;
    io_uring_sqe* flag = get_sqe();
    if (flag == nullptr) {
      sqe->flags &= ~IOSQE_IO_LINK;
      ++unflagged_sends_;
      return true;
    }
    io_uring_prep_nop(flag);
    flag->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(flag, pack(Op::send_failed, s.index));
    return true;
  }

  // Returns how many completions the round brought, the deadline's and the send-failure flags'
  // not counted.
  unsigned process_completions(Worker& worker) {
    unsigned head;
    unsigned seen = 0;
    unsigned not_traffic = 0;  // completions that are not news of traffic
    io_uring_cqe* cqe;
    SocketState* batch_socket = nullptr;
    // A hook may open sockets, growing the worker's list: it is looked up afresh each time.
    auto socket_at = [&worker](std::uint32_t index) -> SocketState& { return *worker.sockets()[index]; };
    ReceiveBatch& batch = worker.batch();
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      const std::uint64_t data = cqe->user_data;
      switch (op_of(data)) {
        case Op::recv: {
          SocketState& s = socket_at(socket_of(data));
          if (batch_socket != &s || batch.full()) {
            if (batch_socket != nullptr) finish_batch(worker, *batch_socket);
            batch_socket = &s;
          }
          on_receive(s, batch, *cqe, slot_of(data) == 1);
          break;
        }
        case Op::send:
          on_send(socket_at(socket_of(data)), *cqe, slot_of(data));
          break;
        case Op::wake:
          worker.handle_wake();
          if (!(cqe->flags & IORING_CQE_F_MORE)) arm_wake();
          break;
        case Op::deadline:
          ++not_traffic;
          deadline_armed_ = false;  // fired (-ETIME), or refused: the next wait arms another
          break;
        case Op::send_failed: ++not_traffic; break;  // only ends the wait: the send's own completion tells
        case Op::files_update:
          ++not_traffic;
          on_files_update(worker, socket_of(data), cqe->res);
          break;
        case Op::cancel: ++not_traffic; break;  // the cancelled request reports through its own completion
        case Op::socket_option:
          ++not_traffic;
          on_socket_option(worker, data, cqe->res);
          break;
        case Op::close:
          // A descriptor the kernel would not close (it cannot be another's: its number stayed
          // taken until this request ran): counted against the socket that held it, if still its slot's.
          ++not_traffic;
          if (cqe->res < 0 && socket_of(data) < worker.sockets().size()) {
            SocketState& s = *worker.sockets()[socket_of(data)];
            if (s.generation == slot_of(data)) s.counters.socket_errors.add(1);
          }
          break;
        case Op::stop_receive:
          // Not found: the receive was between its poll and its retry (task work after a wake-up,
          // an error-queue report for one), and is armed again by now; or it already ended, and
          // its completion says so. Either way the next round asks again while it is armed.
          ++not_traffic;
          if ((cqe->res == -ENOENT || cqe->res == -EALREADY) && socket_of(data) < rings_.size()) {
            SocketState& s = socket_at(socket_of(data));
            ring_of(s).cancel_sent = false;
            // Paused (not stopping, which asks every round): ask again now, or it stays armed.
            if (!s.closed && !s.reads()) stop_receiving(s);
          }
          break;
      }
    }
    if (batch_socket != nullptr) finish_batch(worker, *batch_socket);
    io_uring_cq_advance(&ring_, seen);
    buffers_->publish();
    // Buffers are back: re-arm whatever ended while its socket still receives. The kernel runs
    // the re-armed receives in this order, and a flooded socket's receive takes every free buffer
    // from its backlog at once; starting at a different socket each round keeps a flooded socket
    // from starving the others of buffers round after round.
    const auto sockets = worker.sockets();
    for (const std::uint32_t index : rx_touched_) {
      SocketState& s = *sockets[index];
      SocketRing& sr = ring_of(s);
      sr.rx_listed = false;
      s.counters.rx_syscalls.add(1);
      if (sr.armed && !sr.armed_single && s.reads() && sr.mode.multishot_round(sr.received_this_round)) {
        switch_to_single_shot(s);
      }
      sr.received_this_round = 0;
    }
    rx_touched_.clear();
    ++round_;
    rearm_listed_sockets(sockets);
    return seen - not_traffic;
  }

  void on_receive(SocketState& s, ReceiveBatch& batch, const io_uring_cqe& cqe, bool single) {
    SocketRing& sr = ring_of(s);
    if (!sr.rx_listed) {
      sr.rx_listed = true;
      rx_touched_.push_back(s.index);
    }
    if (single || !(cqe.flags & IORING_CQE_F_MORE)) {
      sr.armed = false;
      list_for_rearm(s);  // armed again after this round's batches, if it still reads
      // Our own cancels (at stop, or to switch to single-shot receives) are planned ends, not
      // terminations to re-arm after, and a single-shot receive that brought a datagram simply
      // did its one job; counting only the other ends keeps recv_rearms == recv_terminations for
      // a socket that was not stopped.
      const bool planned = (cqe.res == -ECANCELED && (!s.reads() || sr.mode.switching())) || (single && cqe.res >= 0);
      sr.mode.receive_ended(single, previous_round_busy_);
      if (!planned) {
        s.counters.recv_terminations.add(1);
        sr.rearm_counts = true;
      }
      if (cqe.res == -ENOBUFS) {
        s.counters.no_buffer.add(1);
      } else if (cqe.res < 0 && cqe.res != -ECANCELED) {
        drain_errors(s, -cqe.res);
      }
    }
    if (cqe.res < 0) return;
    if (!(cqe.flags & IORING_CQE_F_BUFFER)) {
      // A single-shot receive of an empty datagram: the kernel put its buffer back unused.
      if (single && cqe.res == 0) accept_single(s, batch, sr, nullptr, 0);
      return;
    }
    const auto id = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
    buffers_->taken_by_kernel();
    batch.hold(id);
    std::byte* buffer = worker_->pool().slot(id);
    if (single) {
      accept_single(s, batch, sr, buffer, static_cast<std::size_t>(cqe.res));
      return;
    }
    const auto r = parse_recvmsg_result(buffer, static_cast<std::size_t>(cqe.res), name_space, control_space_);
    if (!r) {
      // Shorter than the header the kernel itself wrote: cannot happen; count it rather than trust it.
      s.counters.socket_errors.add(1);
      return;
    }
    const Address peer = Address::from_sockaddr(r->name, r->name_length);
    const std::uint64_t before = batch.received();
    batch.accept(s, r->payload, peer, r->truncated, r->control, r->control_length);
    sr.received_this_round += static_cast<std::uint32_t>(batch.received() - before);  // GRO: its datagrams
  }

  // A single-shot receive's datagram, counted: `length` payload bytes at the start of `buffer`
  // (null for an empty datagram, which comes without one), the rest in the msghdr the kernel
  // filled in.
  void accept_single(SocketState& s, ReceiveBatch& batch, SocketRing& sr, const std::byte* buffer, std::size_t length) {
    s.counters.recv_single_shots.add(1);
    const msghdr& m = sr.single_msg;
    const std::span<const std::byte> payload(buffer, buffer == nullptr ? 0 : std::min<std::size_t>(length, payload_room_));
    const bool truncated = (m.msg_flags & MSG_TRUNC) != 0;
    const std::uint32_t name_length = std::min<std::uint32_t>(m.msg_namelen, sizeof(sr.single_name));
    const Address peer = Address::from_sockaddr(&sr.single_name, name_length);
    const std::size_t control_length = std::min<std::size_t>(m.msg_controllen, control_space_);
    const std::uint64_t before = batch.received();
    batch.accept(s, payload, peer, truncated, sr.single_control.data(), control_length);
    const auto datagrams = static_cast<std::uint32_t>(batch.received() - before);
    sr.received_this_round += datagrams;
    sr.mode.single_shot_brought(datagrams);
  }

  // The batch's datagrams to the protocol, then its buffers back to the ring; the replies go out
  // with this round's submission.
  void finish_batch(Worker& worker, SocketState& s) {
    worker.deliver(s, [this](std::span<const std::uint32_t> held) {
      for (const std::uint32_t id : held) buffers_->give_back(static_cast<std::uint16_t>(id));
    });
  }

  // A GSO message (the one starting at `e`) failed and the kernel sent none of it: its entries go
  // again, one message each. They stay submitted meanwhile, and go out after what was submitted
  // with them (as sends again after an ICMP error do).
  void split_into_plain(SocketState& s, SendEntry& e) {
    const std::size_t run = s.queue.scratch<TxState>(e).entries;
    for (std::size_t i = 0; i < run; ++i) {
      SendEntry& one = (&e)[i];
      prepare_message(s, one, 1);
      if (!submit_send(s, one)) give_up_send(s, one, EAGAIN);
    }
  }

  // A message that must go again found no SQE: it is dropped, counted, rather than left waiting
  // for a completion that will not come.
  void give_up_send(SocketState& s, SendEntry& e, int err) {
    const std::size_t run = s.queue.scratch<TxState>(e).entries;
    for (std::size_t i = 0; i < run; ++i) worker_->send_outcome().dropped(s, (&e)[i].to, err);
    release_sends(s, e);
  }

  void on_send(SocketState& s, const io_uring_cqe& cqe, std::uint32_t slot) {
    SendEntry& e = s.queue.at_slot(slot);
    TxState& tx = s.queue.scratch<TxState>(e);
    // A zero-copy send completes twice: its result (with F_MORE when a notification follows), then
    // the notification that the kernel no longer needs the payload. Only then may the entries go.
    if (cqe.flags & IORING_CQE_F_NOTIF) {
      --sends_in_flight_;
      if (static_cast<std::uint32_t>(cqe.res) & IORING_NOTIF_USAGE_ZC_COPIED) s.counters.zerocopy_copied.add(1);
      if (tx.notifications > 0) --tx.notifications;
      if (tx.awaiting_notification && tx.notifications == 0) {
        tx.awaiting_notification = 0;
        release_sends(s, e);
      }
      return;
    }
    // A zero-copy send that reports no notification to come frees its second place now.
    sends_in_flight_ -= tx.zc && !(cqe.flags & IORING_CQE_F_MORE) ? 2 : 1;
    if (cqe.flags & IORING_CQE_F_MORE) ++tx.notifications;
    const std::size_t run = tx.entries;
    SendOutcome& outcome = worker_->send_outcome();
    if (cqe.res >= 0) {
      outcome.sent(s, e, run, run > 1 ? 1 : 0, run > 1 ? run : 0);
    } else {
      const int err = -cqe.res;
      switch (outcome.failed(s, e, run, err, tx.retries)) {
        case SendAction::resend:
          ++tx.retries;
          if (!submit_send(s, e)) give_up_send(s, e, err);
          return;
        case SendAction::split:
          split_into_plain(s, e);
          return;
        case SendAction::blocked:  // the ring waits for room itself: EAGAIN here is a failure
        case SendAction::drop:
          for (std::size_t i = 0; i < run; ++i) outcome.dropped(s, (&e)[i].to, err);
          break;
      }
    }
    if (tx.notifications > 0) {
      tx.awaiting_notification = 1;  // accounted; the payload is still the kernel's
      return;
    }
    release_sends(s, e);
  }

  // The message starting at `e` is finished: mark its entries done and release the completed ones
  // from the front of the queue, in order.
  void release_sends(SocketState& s, SendEntry& e) {
    SocketRing& sr = ring_of(s);
    const std::size_t run = s.queue.scratch<TxState>(e).entries;
    for (std::size_t i = 0; i < run; ++i) s.queue.scratch<TxState>((&e)[i]).done = 1;
    std::size_t release = 0;
    const SendEntry* front = sr.submitted == 0 ? nullptr : &s.queue.front();
    while (release < sr.submitted && front != nullptr && s.queue.scratch<TxState>(*front).done) {
      ++release;
      front = s.queue.after(*front, 1);
    }
    if (release == 0) return;
    s.queue.pop(release);
    sr.submitted -= release;
    worker_->sends_released(s);
  }

  Worker* worker_ = nullptr;
  io_uring ring_{};
  bool ring_ready_ = false;
  UringSetup setup_;
  std::unique_ptr<BufferRing> buffers_;
  std::vector<std::unique_ptr<SocketRing>> rings_;  // by socket index; stable addresses
  std::vector<std::uint32_t> rx_touched_;  // sockets that received this round
  std::vector<std::uint32_t> rearm_;       // list_for_rearm
  std::vector<std::uint32_t> rearm_work_;  // rearm_, as it is being worked through
  std::uint64_t round_ = 1;                // reaps so far: stamps the round a socket counted a send
  // Sends in flight (two places for zero-copy), bounded by send_budget so that their completions
  // fit the CQ.
  unsigned sends_in_flight_ = 0;
  unsigned per_send_ = 1;
  bool wake_armed_ = false;
  unsigned fixed_slots_ = 0;  // size of the sparse registered-file table (0: none)
  unsigned last_seen_ = 0;  // completions found by the previous round
  __kernel_timespec deadline_ts_{};  // read by the kernel when the deadline's SQE is submitted
  __kernel_timespec update_ts_{};    // ... and when an update of it is
  bool min_timeout_ = false;         // IORING_FEAT_MIN_TIMEOUT: held waits use it
  bool socket_commands_ = false;     // socket options by SQE (6.7+): IP_RECVERR of sockets opened while running
  std::uint64_t waits_ = 0;          // waits so far, each of which submitted everything queued
  bool deadline_armed_ = false;      // the deadline's timeout is pending in the kernel
  std::chrono::steady_clock::time_point armed_deadline_{};
  unsigned completion_batch_ = 0;                // EngineOptions::completion_batch
  std::chrono::microseconds completion_wait_{};  // EngineOptions::completion_wait
  bool cqe_skip_ = false;              // the kernel has IOSQE_CQE_SKIP_SUCCESS (5.17)
  bool flag_send_failures_ = false;    // sends get a linked NOP that completes if they fail
  unsigned sends_submitted_ = 0;  // send SQEs prepared since the last io_uring_enter
  unsigned unflagged_sends_ = 0;  // ... of them without a failure flag: the wait must be timed
  std::uint32_t control_space_ = 0;  // per receive, for the metadata the options ask for
  std::uint32_t payload_room_ = 0;   // payload bytes per receive buffer (EngineOptions::buffer_size)
  // For the adaptive receive policy: when the last wait returned, and how long the round before
  // this one worked from there to the next wait.
  std::chrono::steady_clock::time_point woke_at_ = std::chrono::steady_clock::now();
  std::chrono::nanoseconds previous_round_busy_{};
  bool zerocopy_ = false;                 // EngineOptions::zerocopy_send
  std::uint32_t zerocopy_min_bytes_ = 0;  // EngineOptions::zerocopy_min_bytes
  unsigned cq_entries_ = 0;       // the completion queue's size
  std::size_t rearm_start_ = 0;  // where in rearm_ the re-arming starts this round (rotates)
};

}  // namespace

std::unique_ptr<Backend> make_io_uring_backend() { return std::make_unique<UringBackend>(); }

}  // namespace salvo::detail
