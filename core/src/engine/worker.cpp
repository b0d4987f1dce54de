#include "engine/worker.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "datapath/cmsg.hpp"
#include "datapath/error_queue.hpp"
#include "socket/receive_options.hpp"
#include "socket/udp_socket.hpp"

namespace salvo::detail {

Worker::Worker(unsigned index, const EngineOptions& options, std::unique_ptr<Backend> backend)
    : index_(index), options_(options), backend_(std::move(backend)), control_space_(receive_control_space(options_)) {}

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
  batch_.resize(options_.batch_size);
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
    backend_->run(*this);
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

void Worker::dispatch(SocketState& s) noexcept {
  if (pending_received_ != 0) {
    s.counters.received.add(pending_received_);
    s.counters.received_bytes.add(pending_received_bytes_);
    if (pending_truncated_ != 0) {
      s.counters.truncated.add(pending_truncated_);
      if (!options_.deliver_truncated) s.counters.dropped_truncated.add(pending_truncated_);
    }
  }
  if (pending_gro_receives_ != 0) {
    s.counters.gro_receives.add(pending_gro_receives_);
    s.counters.gro_segments.add(pending_gro_segments_);
  }
  if (pending_ != 0) {
    s.counters.delivered.add(pending_delivered_);
    s.counters.delivered_bytes.add(pending_delivered_bytes_);
    s.counters.rx_batches.add(1);
    s.counters.rx_batch_sizes[batch_size_bucket(pending_)].add(1);
    s.protocol->on_datagrams(std::span<const Datagram>(batch_.data(), pending_), s.transport);
  }
  pending_ = 0;
  pending_received_ = pending_received_bytes_ = pending_delivered_bytes_ = pending_truncated_ = 0;
  pending_delivered_ = pending_gro_receives_ = pending_gro_segments_ = 0;
}

void Worker::accept(SocketState& s, std::span<const std::byte> payload, const Address& peer, bool truncated,
                    const void* control, std::size_t control_length) noexcept {
  const ControlInfo info = parse_control(control, control_length);
  std::uint64_t datagrams = 1;
  if (info.gro_segment_size != 0 && !truncated && payload.size() > info.gro_segment_size) {
    datagrams = SegmentRange(payload, info.gro_segment_size).size();
    ++pending_gro_receives_;
    pending_gro_segments_ += datagrams;
  }
  Datagram* d = accept_entry(s, payload, peer, truncated, datagrams);
  if (d == nullptr) return;
  apply_control(info, s.local.port(), s.ipv6, *d);
  if (datagrams == 1) d->segment_size = 0;  // one datagram, however the kernel labelled it
}

void Worker::note_kernel_drops(SocketState& s, std::uint32_t cumulative) noexcept {
  // The kernel's counter only grows; a smaller value can only be a 32-bit wrap.
  const std::uint64_t known = s.counters.kernel_drops.get();
  const auto low = static_cast<std::uint32_t>(known);
  std::uint64_t value = (known & ~std::uint64_t{0xffffffff}) | cumulative;
  if (cumulative < low) value += std::uint64_t{1} << 32;
  if (value > known) s.counters.kernel_drops.set(value);
}

void Worker::note_async_error(SocketState& s, int err, const Address& peer) noexcept {
  if (err == ECONNREFUSED) {
    s.counters.refused.add(1);
    // A connected socket can only have been refused by its peer.
    s.protocol->on_refused(peer.family() == Address::Family::none ? s.peer : peer, s.transport);
  } else {
    s.counters.socket_errors.add(1);
    s.protocol->on_error(std::error_code(err, std::system_category()), s.transport);
  }
}

namespace {

// Bounds on the EMSGSIZE bookkeeping of one socket (see SocketState): an ICMP storm cannot grow it.
constexpr std::uint8_t max_network_emsgsize = 16;
constexpr std::size_t max_local_emsgsize = 16;

// Whether an error-queue entry naming `peer` is about a datagram sent to `to`: IPv4 local errors
// name no port on an unconnected socket (ip_local_error gives the connected port, here 0).
bool same_destination(const Address& peer, const Address& to) noexcept {
  return peer == to || (peer.port() == 0 && peer.with_port(to.port()) == to);
}

// One error-queue report, counted, to its hook.
void report_icmp(SocketState& s, const IcmpReport& r, const Address& peer) noexcept {
  switch (r.kind) {
    case IcmpReport::Kind::refused:
      s.counters.refused.add(1);
      s.protocol->on_refused(peer, s.transport);
      break;
    case IcmpReport::Kind::unreachable:
      s.counters.unreachable.add(1);
      s.protocol->on_unreachable(peer, std::error_code(r.error, std::system_category()), s.transport);
      break;
    case IcmpReport::Kind::path_mtu:
      s.counters.path_mtu_reports.add(1);
      s.protocol->on_path_mtu(peer, r.mtu, s.transport);
      break;
    case IcmpReport::Kind::other:
      s.counters.socket_errors.add(1);
      s.protocol->on_error(std::error_code(r.error, std::system_category()), s.transport);
      break;
  }
}

// Reads the error queue and reports every entry, noting path MTU reports for the EMSGSIZE
// bookkeeping: from the network, one send may fail for its sake; a local one is a send of its own.
// `to`: the destination of the datagram whose EMSGSIZE is being looked into (Family::none if
// none), which names a local entry about it that has no port.
// Messages read from the error queue per call, so that an ICMP storm cannot hold the worker.
constexpr unsigned read_reports_limit = 64;

unsigned read_reports(SocketState& s, const Address& to) noexcept {
  return drain_error_queue(s.fd, read_reports_limit, [&](const IcmpReport& r) {
    Address peer = r.peer.family() == Address::Family::none ? s.peer : r.peer;
    if (r.kind == IcmpReport::Kind::path_mtu) {
      if (r.origin == IcmpReport::Origin::network) {
        if (s.network_emsgsize < max_network_emsgsize) ++s.network_emsgsize;
      } else if (r.origin == IcmpReport::Origin::local) {
        if (to.family() != Address::Family::none && same_destination(peer, to)) peer = to;
        if (s.local_emsgsize.size() == max_local_emsgsize) s.local_emsgsize.erase(s.local_emsgsize.begin());
        s.local_emsgsize.push_back(peer);
      }
    }
    report_icmp(s, r, peer);
  });
}

}  // namespace

unsigned Worker::drain_errors(SocketState& s, int err) noexcept {
  const unsigned read = read_reports(s, Address{});
  // Every socket salvo opens has IP_RECVERR on, so an ICMP error is both queued and left as the
  // socket's pending error: when the queue is already empty, whoever drained it reported this
  // one. Other errors (and sockets adopted without IP_RECVERR) are reported here.
  if (read == 0 && err != 0 && (!is_icmp_error(err) || !s.recverr)) note_async_error(s, err, Address{});
  return read;
}

unsigned Worker::drain_errors_before_resend(SocketState& s) noexcept {
  unsigned total = 0;
  while (total < max_send_error_drain) {
    const unsigned read = read_reports(s, Address{});
    total += read;
    if (read < read_reports_limit) break;  // empty
  }
  return total;
}

bool Worker::emsgsize_from_network(SocketState& s, const Address& to) noexcept {
  if (!s.recverr) return false;  // no error queue to tell: the datagram's own failure
  read_reports(s, to);
  for (const Address& a : s.local_emsgsize) {
    if (same_destination(a, to)) return false;  // this datagram is too big for the route itself
  }
  if (s.network_emsgsize == 0) return false;
  --s.network_emsgsize;
  return true;
}

void Worker::note_send_error(SocketState& s, int err, const Address& to) noexcept {
  if (err == ECONNREFUSED) {
    s.counters.refused.add(1);
    s.protocol->on_refused(to, s.transport);
    return;
  }
  if (err == EMSGSIZE && s.recverr) {
    // Larger than the route's MTU with path MTU discovery on (IP_PMTUDISC_DO): the kernel queued a
    // local error with that MTU (ip_local_error). That is a path MTU report about `to` (the IPv4
    // entry names no port), not an on_error; the rest of the queue is reported as drain_errors does.
    // The entry may have been read already (emsgsize_from_network), and reported then: once.
    read_reports(s, to);
    for (auto it = s.local_emsgsize.begin(); it != s.local_emsgsize.end(); ++it) {
      if (same_destination(*it, to)) {
        s.local_emsgsize.erase(it);
        return;
      }
    }
  }
  s.protocol->on_error(std::error_code(err, std::system_category()), s.transport);
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

void Worker::idle_tick() noexcept {
  for (auto& s : sockets_) {
    if (s->closed) continue;
    if (std::int64_t drops = read_kernel_drops(s->fd); drops >= 0) {
      note_kernel_drops(*s, static_cast<std::uint32_t>(drops));
    }
  }
}

}  // namespace salvo::detail
