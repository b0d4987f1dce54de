// FakeTransport: a standalone SocketState (no worker, usually no socket) driven synchronously.
// What it does around each hook mirrors Worker (dispatch, drain_errors, note_send_error,
// feed_writable, close_socket): keep the two in step.
#include "salvo/fake_transport.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/reactor_core.hpp"
#include "datapath/send_pool.hpp"
#include "engine/worker.hpp"
#include "socket/send_options.hpp"
#include "socket/socket_state.hpp"

namespace salvo {

FakeTransport::FakeTransport(Address local, FakeTransportOptions options)
    : send_pool_(std::make_unique<detail::SendPool>()),
      state_(std::make_unique<detail::SocketState>()),
      core_(std::make_unique<detail::ReactorCore>(nullptr, options.worker_index)),
      options_(options) {
  if (options_.batch_size == 0) options_.batch_size = 1;
  // A table too large for memory is the test's mistake: a small one keeps the fake usable.
  if (!core_->init(std::max<std::uint32_t>(options_.timers, 1), 0, options_.start_time)) (void)core_->init(1, 0, options_.start_time);
  detail::SocketState& s = *state_;
  s.reactor = core_.get();
  s.local = local;
  s.ipv6 = local.is_v6();
  s.detached_worker_index = options_.worker_index;
  s.recverr = true;
  // A pool of its own, as large as one full queue can need (every entry in a segment of its own
  // at worst): address space, not memory, until the test queues sends.
  const std::size_t entries = std::max<std::uint32_t>(options_.send_queue_entries, 1);
  if (!send_pool_->init(entries * detail::SendPool::segment_bytes_for(0), 0, "a FakeTransport")) {
    (void)send_pool_->init(detail::SendPool::segment_bytes_for(0), 0, "a FakeTransport");
  }
  if (auto r = s.queue.init(*send_pool_, options_.send_queue_entries, options_.send_queue_bytes); !r) {
    // Bad sizes (zero): fall back to a one-entry queue rather than none, so that the fake stays
    // usable; the test sees queue_full early.
    (void)s.queue.init(*send_pool_, 1, std::max<std::uint32_t>(options_.send_queue_bytes, 1));
  }
  if (options_.real_socket) {
    s.fd = ::socket(s.ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  batch_.reserve(options_.batch_size);
}

FakeTransport::~FakeTransport() {
  if (state_->fd >= 0) ::close(state_->fd);
}

Transport& FakeTransport::transport() noexcept { return state_->transport; }

void FakeTransport::start(Protocol& protocol) {
  if (state_->closed) return;
  protocol.on_start(state_->transport);
  after_hook(protocol);
}

std::size_t FakeTransport::deliver(Protocol& protocol, std::span<const FakeDatagram> datagrams) {
  detail::SocketState& s = *state_;
  std::size_t delivered_total = 0;
  std::size_t next = 0;
  while (next < datagrams.size() && s.reads()) {
    const std::size_t end = std::min(datagrams.size(), next + options_.batch_size);
    // One "receive call": copy the payloads into the fake's buffer first (so that the views stay
    // put), then count and build the batch as ReceiveBatch::accept and Worker::deliver do.
    std::size_t bytes = 0;
    for (std::size_t i = next; i < end; ++i) bytes += std::min<std::size_t>(datagrams[i].payload.size(), options_.buffer_size);
    rx_buffer_.assign(bytes, std::byte{0});
    batch_.clear();
    std::size_t offset = 0;
    std::uint64_t received_bytes = 0;
    std::uint64_t delivered_bytes = 0;
    std::uint64_t truncated = 0;
    for (std::size_t i = next; i < end; ++i) {
      const FakeDatagram& d = datagrams[i];
      const std::size_t length = std::min<std::size_t>(d.payload.size(), options_.buffer_size);
      const bool cut = d.truncated || d.payload.size() > options_.buffer_size;
      if (length != 0) std::memcpy(rx_buffer_.data() + offset, d.payload.data(), length);
      std::span<const std::byte> view(rx_buffer_.data() + offset, length);
      offset += length;
      received_bytes += length;
      if (cut) {
        ++truncated;
        if (!options_.deliver_truncated) continue;
      }
      delivered_bytes += length;
      Datagram out;
      out.payload = view;
      out.peer = d.peer;
      out.truncated = cut;
      out.destination = d.destination;
      out.interface_index = d.interface_index;
      out.traffic_class = d.traffic_class;
      out.timestamp_ns = d.timestamp_ns;
      batch_.push_back(out);
    }
    s.counters.received.add(end - next);
    s.counters.received_bytes.add(received_bytes);
    if (truncated != 0) {
      s.counters.truncated.add(truncated);
      if (!options_.deliver_truncated) s.counters.dropped_truncated.add(truncated);
    }
    next = end;
    if (batch_.empty()) continue;
    s.counters.delivered.add(batch_.size());
    s.counters.delivered_bytes.add(delivered_bytes);
    s.counters.rx_batches.add(1);
    s.counters.rx_batch_sizes[batch_size_bucket(batch_.size())].add(1);
    delivered_total += batch_.size();
    protocol.on_datagrams(std::span<const Datagram>(batch_.data(), batch_.size()), s.transport);
    // The views are dead now: make a protocol that kept one see it.
    std::fill(rx_buffer_.begin(), rx_buffer_.end(), std::byte{0xdd});
    batch_.clear();
    after_hook(protocol);
  }
  return delivered_total;
}

std::size_t FakeTransport::deliver(Protocol& protocol, std::initializer_list<FakeDatagram> datagrams) {
  return deliver(protocol, std::span<const FakeDatagram>(datagrams.begin(), datagrams.size()));
}

std::size_t FakeTransport::deliver(Protocol& protocol, const FakeDatagram& datagram) {
  return deliver(protocol, std::span<const FakeDatagram>(&datagram, 1));
}

std::size_t FakeTransport::deliver(Protocol& protocol, std::string_view text, const Address& peer) {
  const FakeDatagram d(text, peer);
  return deliver(protocol, d);
}

// As Worker::drain_errors: an unnamed peer is the connected one.
void FakeTransport::refuse(Protocol& protocol, const Address& peer) {
  detail::SocketState& s = *state_;
  if (s.closed) return;
  s.counters.refused.add(1);
  protocol.on_refused(peer.family() == Address::Family::none ? s.peer : peer, s.transport);
  after_hook(protocol);
}

void FakeTransport::unreachable(Protocol& protocol, const Address& peer) {
  unreachable(protocol, peer, std::error_code(EHOSTUNREACH, std::system_category()));
}

void FakeTransport::unreachable(Protocol& protocol, const Address& peer, std::error_code why) {
  detail::SocketState& s = *state_;
  if (s.closed) return;
  s.counters.unreachable.add(1);
  protocol.on_unreachable(peer.family() == Address::Family::none ? s.peer : peer, why, s.transport);
  after_hook(protocol);
}

void FakeTransport::path_mtu(Protocol& protocol, const Address& peer, unsigned mtu) {
  detail::SocketState& s = *state_;
  if (s.closed) return;
  s.counters.path_mtu_reports.add(1);
  protocol.on_path_mtu(peer.family() == Address::Family::none ? s.peer : peer, mtu, s.transport);
  after_hook(protocol);
}

void FakeTransport::error(Protocol& protocol, std::error_code error) {
  detail::SocketState& s = *state_;
  if (s.closed) return;
  s.counters.socket_errors.add(1);
  protocol.on_error(error, s.transport);
  after_hook(protocol);
}

bool FakeTransport::wants_writable() const noexcept { return detail::Worker::wants_writable(*state_); }

unsigned FakeTransport::writable(Protocol& protocol, std::chrono::steady_clock::time_point now, unsigned max_calls) {
  detail::SocketState& s = *state_;
  unsigned calls = 0;
  // As Worker::feed_writable.
  while (calls < max_calls && detail::Worker::wants_writable(s) && s.writable_after <= now) {
    const std::size_t before = s.queue.size();
    protocol.on_writable(s.transport);
    ++calls;
    if (s.queue.size() == before) {
      if (s.writable_after <= now) s.writable_quiet = true;
      after_hook(protocol);
      break;
    }
    after_hook(protocol);
  }
  return calls;
}

void FakeTransport::stop(Protocol& protocol) {
  if (state_->closed) return;
  state_->transport.stop_listening();
  after_hook(protocol);
}

void FakeTransport::fail_sends(std::size_t count, int err) {
  fail_count_ = count;
  fail_errno_ = err;
}

std::size_t FakeTransport::flush(Protocol& protocol) {
  const std::size_t n = flush_queue(protocol);
  after_hook(protocol);
  return n;
}

std::size_t FakeTransport::flush_queue(Protocol& protocol) {
  detail::SocketState& s = *state_;
  std::size_t handled = 0;
  // One entry at a time, popped before any hook runs, so that sends made by on_refused/on_error
  // join the queue behind the rest and go out in this flush too.
  while (!s.queue.empty()) {
    const detail::SendQueue::Entry& e = s.queue.front();
    const Address to = e.to;
    const SendOptions how = detail::send_options_of(e.meta, s.ipv6);
    const std::byte* p = s.queue.payload(e);
    const std::uint32_t length = e.length;
    ++handled;
    if (fail_count_ > 0) {
      --fail_count_;
      s.queue.pop(1);
      // As the backends and Worker::note_send_error.
      s.counters.dropped_send_error.add(1);
      if (fail_errno_ == ECONNREFUSED) {
        s.counters.refused.add(1);
        protocol.on_refused(to, s.transport);
      } else {
        protocol.on_error(std::error_code(fail_errno_, std::system_category()), s.transport);
      }
      continue;
    }
    sent_.push_back(SentDatagram{std::vector<std::byte>(p, p + length), to, how});
    s.queue.pop(1);
    s.counters.sent.add(1);
    s.counters.sent_bytes.add(length);
  }
  return handled;
}

void FakeTransport::after_hook(Protocol& protocol) {
  detail::SocketState& s = *state_;
  if (s.closed) return;
  if (!options_.hold_sends || s.stopping) flush_queue(protocol);
  if (s.stopping && !s.closed) {
    // As Worker::close_socket, with the queue drained (above).
    if (s.fd >= 0) {
      ::close(s.fd);
      s.fd = -1;
    }
    s.receiving = false;
    s.closed = true;
    core_->cancel_owned_by(s.index);
    protocol.on_stop();
  }
}

void FakeTransport::drain(Protocol& protocol, std::chrono::nanoseconds left) {
  detail::SocketState& s = *state_;
  if (s.closed || s.stopping || s.draining) return;
  s.draining = true;
  s.paused = true;
  protocol.on_draining(left, s.transport);
  after_hook(protocol);
}

Reactor& FakeTransport::reactor() noexcept { return core_->reactor(); }

std::chrono::steady_clock::time_point FakeTransport::now() const noexcept { return core_->now(); }

std::size_t FakeTransport::advance(Protocol& protocol, std::chrono::steady_clock::duration by) {
  return advance_to(protocol, core_->now() + by);
}

std::size_t FakeTransport::advance_to(Protocol& protocol, std::chrono::steady_clock::time_point when) {
  // Step from one due time to the next, so that each callback sees the clock at its own due time
  // (as a worker that woke exactly then would) and a periodic timer fires once per period.
  std::size_t ran = core_->run_due(core_->now());
  after_hook(protocol);
  while (core_->earliest() <= when) {
    ran += core_->run_due(std::max(core_->earliest(), core_->now()));
    after_hook(protocol);
  }
  if (when > core_->now()) core_->set_now(when);
  return ran;
}

std::vector<SentDatagram> FakeTransport::take_sent() {
  std::vector<SentDatagram> out;
  out.swap(sent_);
  return out;
}

const std::vector<SentDatagram>& FakeTransport::sent() const noexcept { return sent_; }

std::size_t FakeTransport::queued() const noexcept { return state_->queue.size(); }

bool FakeTransport::stopped() const noexcept { return state_->stopping || state_->closed; }

bool FakeTransport::closed() const noexcept { return state_->closed; }

bool FakeTransport::has_socket() const noexcept { return state_->fd >= 0; }

Counters FakeTransport::counters() const noexcept { return state_->counters.snapshot(); }

}  // namespace salvo
