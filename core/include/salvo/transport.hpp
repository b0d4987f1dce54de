// Transport: a protocol's handle on its socket (Twisted: IUDPTransport).
//
// Threading: a Transport belongs to its worker thread; call it only from that worker's Protocol
// hooks. It stays valid from on_start until on_stop.
//
// Sending copies the payload into the socket's bounded send queue; the queue is flushed in one
// batch (sendmmsg, or one io_uring submission) at the end of the current hook. A full queue is a
// SendResult, counted, never a block and never unbounded memory.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <string_view>

#include "salvo/address.hpp"
#include "salvo/counters.hpp"

namespace salvo {

namespace detail {
struct SocketState;
}

enum class SendResult : std::uint8_t {
  queued,           // copied into the send queue; goes out at the end of the current hook
  queue_full,       // no room (entries or bytes); counted as dropped_send_queue_full
  too_large,        // larger than a UDP datagram can be (65507 bytes for IPv4, 65527 for IPv6)
  family_mismatch,  // an IPv6 destination on an IPv4 socket
  bad_address,      // Family::none
  closed,           // stop_listening was called or the socket is closed
};

std::string_view to_string(SendResult r) noexcept;

class Transport {
 public:
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  SendResult send(std::span<const std::byte> payload, const Address& to) noexcept;

  // The bound address (Twisted: getHost); the real port when bound to port 0.
  Address local_address() const noexcept;
  unsigned worker_index() const noexcept;

  // Stop reading; queued sends are still flushed, then the socket closes and on_stop runs.
  void stop_listening() noexcept;

  // Ask for (or stop asking for) on_writable calls whenever the send queue has room.
  void request_writable(bool wanted) noexcept;

  // Hold on_writable calls back until `when` (steady clock), then resume them; the worker sleeps
  // meanwhile unless other work wakes it. This is the pacing primitive: a rate-controlled sender
  // queues what its budget allows, defers to the time the next datagram is due, and returns.
  // Only meaningful while request_writable(true) is on; a time already passed resumes at once.
  // Resolution is the kernel's timer slack (tens of microseconds), so pace in bursts, not singles.
  void defer_writable(std::chrono::steady_clock::time_point when) noexcept;

  // How many more datagrams of `payload_size` bytes the send queue accepts right now.
  std::size_t send_queue_room(std::size_t payload_size = 0) const noexcept;

  // This socket's counters.
  Counters counters() const noexcept;

 private:
  friend struct detail::SocketState;
  explicit Transport(detail::SocketState& state) noexcept : state_(&state) {}
  detail::SocketState* state_;
};

}  // namespace salvo
