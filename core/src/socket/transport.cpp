#include "salvo/transport.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "engine/worker.hpp"
#include "socket/open_options.hpp"
#include "socket/send_options.hpp"
#include "socket/socket_state.hpp"

namespace salvo {

std::string_view to_string(SendResult r) noexcept {
  switch (r) {
    case SendResult::queued: return "queued";
    case SendResult::queue_full: return "send queue full";
    case SendResult::too_large: return "datagram too large";
    case SendResult::family_mismatch: return "address family does not match the socket";
    case SendResult::bad_address: return "no destination address";
    case SendResult::closed: return "socket closed";
  }
  return "unknown";
}

namespace {

// Largest UDP payload: 65535 minus the IP and UDP headers (IPv6's header is not counted in its
// payload length, so it allows 20 bytes more).
constexpr std::size_t max_payload_v4 = 65507;
constexpr std::size_t max_payload_v6 = 65527;

}  // namespace

SendResult Transport::send(std::span<const std::byte> payload, const Address& to) noexcept {
  return send_with(payload, to, nullptr);
}

SendResult Transport::send(std::span<const std::byte> payload, const Address& to, const SendOptions& how) noexcept {
  return send_with(payload, to, &how);
}

SendResult Transport::reply(const Datagram& request, std::span<const std::byte> payload) noexcept {
  const SendOptions how = SendOptions::reply_to(request);
  return send_with(payload, request.peer, &how);
}

SendResult Transport::send_with(std::span<const std::byte> payload, const Address& to, const SendOptions* how) noexcept {
  detail::SocketState& s = *state_;
  s.counters.send_requests.add(1);
  auto reject = [&](SendResult why) {
    s.counters.send_rejected.add(1);
    return why;
  };
  if (s.stopping || s.closed) return reject(SendResult::closed);
  // Destinations are normalised to the socket's family here, once, so that backends can hand the
  // stored sockaddr to the kernel as it is.
  Address dest;
  if (to.is_v4()) {
    dest = s.ipv6 ? to.v4_mapped() : to;
  } else if (to.is_v6()) {
    if (!s.ipv6) {
      if (!to.is_v4_mapped()) return reject(SendResult::family_mismatch);
      dest = to.unmapped();
    } else {
      dest = to;
    }
  } else {
    return reject(SendResult::bad_address);
  }
  const bool carried_by_ipv4 = dest.is_v4() || dest.is_v4_mapped();
  if (payload.size() > (carried_by_ipv4 ? max_payload_v4 : max_payload_v6)) {
    return reject(SendResult::too_large);
  }
  detail::SendMeta meta;
  if (how != nullptr && !detail::make_send_meta(*how, s.ipv6, dest, meta)) {
    return reject(SendResult::family_mismatch);
  }
  if (!s.queue.push(payload, dest, meta)) {
    s.counters.dropped_send_queue_full.add(1);
    return SendResult::queue_full;
  }
  s.writable_quiet = false;
  if (s.worker != nullptr) s.worker->note_send(s);
  return SendResult::queued;
}

SendResult Transport::send(std::span<const std::byte> payload) noexcept {
  if (state_->peer.family() == Address::Family::none) {
    state_->counters.send_requests.add(1);
    state_->counters.send_rejected.add(1);
    return SendResult::bad_address;
  }
  return send(payload, state_->peer);
}

Result<void> Transport::connect(const Address& peer) noexcept {
  detail::SocketState& s = *state_;
  // A standalone state (no worker: FakeTransport) has no socket to connect, or one that is never
  // read or written; it records the peer only.
  const bool standalone = s.worker == nullptr;
  if (s.closed || (s.fd < 0 && !standalone)) return Error::make(Errc::invalid_state, "connect on a closed socket");
  if (s.peer.family() != Address::Family::none) {
    return Error::make(Errc::invalid_state, "already connected to " + s.peer.to_string());
  }
  auto target = detail::connect_target(s.ipv6, peer);
  if (!target) return target.error();
  if (!standalone && ::connect(s.fd, static_cast<const sockaddr*>(target->sockaddr_data()), target->sockaddr_size()) != 0) {
    return Error::from_errno(errno, "connect to " + target->to_string());
  }
  s.peer = *target;
  return {};
}

Address Transport::connected_peer() const noexcept { return state_->peer; }

Address Transport::local_address() const noexcept {
  detail::SocketState& s = *state_;
  // A socket the kernel bound at connect (Reactor::open with connect_to, on the wildcard address
  // and port 0) learns its address here, the first time anyone asks.
  if (s.local.port() == 0 && s.fd >= 0 && s.worker != nullptr) {
    const Address bound = detail::local_address_of(s.fd);
    if (bound.family() != Address::Family::none) s.local = bound;
  }
  return s.local;
}

unsigned Transport::worker_index() const noexcept {
  return state_->worker != nullptr ? state_->worker->index() : state_->detached_worker_index;
}

void Transport::stop_listening() noexcept {
  detail::SocketState& s = *state_;
  if (s.worker != nullptr) {
    s.worker->begin_stop(s);
    return;
  }
  // Standalone (FakeTransport): no worker to drain the queue and close; its owner does that.
  if (s.stopping || s.closed) return;
  s.receiving = false;
  s.stopping = true;
  s.want_writable = false;
}

void Transport::request_writable(bool wanted) noexcept {
  state_->want_writable = wanted && !state_->stopping;
  state_->writable_quiet = false;
  if (state_->worker != nullptr && state_->want_writable) state_->worker->note_work(*state_);
}

void Transport::defer_writable(std::chrono::steady_clock::time_point when) noexcept {
  if (state_->worker != nullptr) {
    state_->worker->defer_writable(*state_, when);
    return;
  }
  state_->writable_after = when;
  state_->writable_quiet = false;
}

std::size_t Transport::send_queue_room(std::size_t payload_size) const noexcept {
  return state_->queue.room_for(payload_size);
}

Counters Transport::counters() const noexcept { return state_->counters.snapshot(); }

}  // namespace salvo
