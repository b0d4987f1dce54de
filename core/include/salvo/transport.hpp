// Transport: a protocol's handle on its socket (Twisted: IUDPTransport).
//
// Threading: a Transport belongs to its worker thread; call it only from that worker's Protocol
// hooks, timer callbacks and posted functions. It stays valid from on_start until on_stop (after
// that the worker may reuse its memory for a socket opened later, or free it).
//
// Sending copies the payload into the socket's bounded send queue; the queue is flushed in one
// batch (sendmmsg, or one io_uring submission) at the end of the current hook. A full queue is a
// SendResult, counted, never a block and never unbounded memory.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "salvo/address.hpp"
#include "salvo/counters.hpp"
#include "salvo/datagram.hpp"
#include "salvo/error.hpp"
#include "salvo/send_channel.hpp"
#include "salvo/timer.hpp"

namespace salvo {

namespace detail {
struct SocketState;
}

class Reactor;

enum class SendResult : std::uint8_t {
  queued,           // copied into the send queue; goes out at the end of the current hook
  queue_full,       // no room (entries or bytes); counted as dropped_send_queue_full
  too_large,        // larger than a UDP datagram can be (65507 bytes for IPv4, 65527 for IPv6)
  family_mismatch,  // an IPv6 destination on an IPv4 socket
  bad_address,      // Family::none
  closed,           // stop_listening was called or the socket is closed
};

std::string_view to_string(SendResult r) noexcept;

// A network interface for multicast: by name ("eth0"), by index, or unspecified (the kernel's
// choice, from the routing table). Transport::join_group(group, every_interface) joins on every
// interface that is up and multicast-capable.
struct NetworkInterface {
  std::string name;    // takes precedence over index when set
  unsigned index = 0;  // 0: unspecified
  static NetworkInterface named(std::string n) { return NetworkInterface{std::move(n), 0}; }
  static NetworkInterface with_index(unsigned i) { return NetworkInterface{{}, i}; }
};
struct EveryInterface {};
inline constexpr EveryInterface every_interface{};

// How one datagram goes out, beyond its destination: its source address, interface and traffic
// class, each as a per-message control message (nothing socket-wide changes). The defaults leave
// each to the socket and the kernel.
struct SendOptions {
  // Send from this local IP address (IP_PKTINFO / IPV6_PKTINFO; the port is the socket's, whatever
  // this says). Family::none or unspecified: the kernel picks, as for any send. An address that is
  // not this host's is refused by the kernel (counted as dropped_send_error, on_error EINVAL).
  Address source;
  std::uint32_t interface_index = 0;  // out of this interface; 0: where the route says
  // The TOS (IPv4, also to v4-mapped peers of a dual-stack socket) or traffic class (IPv6) byte;
  // its low two bits are ECN (see salvo::Ecn). -1: the socket's.
  std::int16_t traffic_class = -1;

  // A reply from the address and interface `request` arrived on, so that a server bound to the
  // wildcard answers from the address its client used (needs EngineOptions::receive_destination;
  // without it this is the defaults). A multicast or broadcast destination is no source: then only
  // the interface is kept and the kernel picks the address.
  static SendOptions reply_to(const Datagram& request) noexcept;
};

class Transport {
 public:
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  SendResult send(std::span<const std::byte> payload, const Address& to) noexcept;
  // With a source address, interface or traffic class for this datagram. A source of the wrong
  // family for the socket and destination (IPv6 to an IPv4 peer, ...) is family_mismatch.
  SendResult send(std::span<const std::byte> payload, const Address& to, const SendOptions& how) noexcept;
  // send(payload, request.peer, SendOptions::reply_to(request)).
  SendResult reply(const Datagram& request, std::span<const std::byte> payload) noexcept;
  // To the connected peer (see connect); bad_address when the socket is not connected.
  SendResult send(std::span<const std::byte> payload) noexcept;

  // Connected UDP (Twisted: transport.connect). From now on this socket talks to `peer` only: the
  // kernel drops datagrams from anyone else, send(payload) goes to the peer, and an ICMP port
  // unreachable from it arrives as on_refused(peer). Once per socket: a second call fails with
  // Errc::invalid_state, as in Twisted. An IPv4 peer on an IPv6 socket is mapped. With several
  // workers only this worker's socket is connected.
  Result<void> connect(const Address& peer) noexcept;
  // The connected peer, or an address of Family::none.
  Address connected_peer() const noexcept;

  // --- socket options (Twisted: setBroadcastAllowed, setTTL, joinGroup, ...) ---
  // Each is a setsockopt on this worker's socket; failures come back as errors that name the call.
  using Interface = NetworkInterface;

  Result<void> set_broadcast_allowed(bool allowed) noexcept;
  Result<bool> broadcast_allowed() const noexcept;
  Result<void> join_group(const Address& group, const Interface& where = {}) noexcept;
  Result<void> join_group(const Address& group, EveryInterface) noexcept;  // every_interface
  Result<void> leave_group(const Address& group, const Interface& where = {}) noexcept;
  // Source-specific multicast: only what `source` sends to `group`.
  Result<void> join_source_group(const Address& group, const Address& source, const Interface& where = {}) noexcept;
  Result<void> leave_source_group(const Address& group, const Address& source, const Interface& where = {}) noexcept;
  // TTL for IPv4, hop limit for IPv6 (1..255; Twisted's setTTL).
  Result<void> set_multicast_ttl(int ttl) noexcept;
  Result<int> multicast_ttl() const noexcept;
  // Whether this host's own multicast sends come back to its sockets (Twisted: setLoopbackMode).
  Result<void> set_multicast_loopback(bool enabled) noexcept;
  Result<bool> multicast_loopback() const noexcept;
  // The interface multicast goes out of (Twisted: setOutgoingInterface).
  Result<void> set_multicast_interface(const Interface& where) noexcept;

  // The path MTU the kernel knows for the connected peer (IP_MTU / IPV6_MTU): the largest IP
  // packet, headers included, that goes out unfragmented; it drops as ICMP "too big" reports come
  // in (on_path_mtu). Only a connected socket has one path: unconnected, and on a FakeTransport,
  // it is Errc::invalid_state.
  Result<unsigned> path_mtu() const noexcept;

  // The socket's file descriptor, for what salvo does not wrap: getsockopt, setsockopt of options
  // salvo does not manage (SO_PRIORITY, IP_TTL, a BPF filter, ...), ioctl reads (SIOCOUTQ).
  // Never close it, read from it, write to it, change its O_NONBLOCK or connect it (use connect()):
  // the worker and its backend own the descriptor and its queues. A duplicate (dup, a fork that does
  // not exec) must not outlive the socket: the epoll backend counts on the close of a socket it
  // opened itself to take it out of its set. -1 once the socket is closed,
  // and on a FakeTransport without options.real_socket.
  int native_handle() const noexcept;

  // The bound address (Twisted: getHost); the real port when bound to port 0.
  Address local_address() const noexcept;
  unsigned worker_index() const noexcept;

  // Stop reading; queued sends are still flushed, then the socket closes and on_stop runs.
  void stop_listening() noexcept;

  // --- the worker around the socket ---
  // The worker's reactor: worker-wide timers, sockets opened at runtime, name resolution.
  Reactor& reactor() noexcept;
  // Timers this socket owns (Twisted: callLater and LoopingCall): as Reactor::call_later and
  // call_every, and cancelled by the engine when the socket closes, so that a callback capturing
  // the protocol never outlives it. Cancel one with reactor().cancel(id).
  Result<TimerId> call_later(std::chrono::steady_clock::duration delay, TimerCallback fn) noexcept;
  Result<TimerId> call_every(std::chrono::steady_clock::duration period, TimerCallback fn) noexcept;

  // Backpressure (Twisted: stopReading / startReading). While paused the socket is not read:
  // the kernel holds what arrives, up to the socket's receive buffer, and what it then drops shows
  // in kernel_drops. Datagrams the kernel had already handed over when pause_reading was called
  // may still be delivered. Sends, timers and on_writable go on. resume_reading does nothing while
  // the engine drains or stops.
  void pause_reading() noexcept;
  void resume_reading() noexcept;
  bool reading_paused() const noexcept;

  // A channel through which threads that are not this worker's send on this socket (a feed, an
  // exporter): `slots` datagrams of at most `slot_bytes` bytes each wait in it (allocated here,
  // once), and the worker moves them into the send queue each round. Closed when the socket
  // closes. See salvo/send_channel.hpp. Errors name the option that was refused.
  Result<SendChannel> open_send_channel(std::uint32_t slots = 1024, std::uint32_t slot_bytes = 2048);

  // Ask for (or stop asking for) on_writable calls whenever the send queue has room.
  void request_writable(bool wanted) noexcept;

  // Hold on_writable calls back until `when` (steady clock), then resume them; the worker sleeps
  // meanwhile unless other work wakes it (a timer of the worker's wakes it at `when`). This is the pacing primitive: a rate-controlled sender
  // queues what its budget allows, defers to the time the next datagram is due, and returns.
  // Only meaningful while request_writable(true) is on; a time already passed resumes at once.
  // Resolution is the kernel's timer slack (tens of microseconds), so pace in bursts, not singles.
  void defer_writable(std::chrono::steady_clock::time_point when) noexcept;

  // How many more datagrams of `payload_size` bytes the send queue accepts right now.
  std::size_t send_queue_room(std::size_t payload_size = 0) const noexcept;

  // This socket's counters.
  Counters counters() const noexcept;

 private:
  SendResult send_with(std::span<const std::byte> payload, const Address& to, const SendOptions* how) noexcept;
  friend struct detail::SocketState;
  explicit Transport(detail::SocketState& state) noexcept : state_(&state) {}
  detail::SocketState* state_;
};

}  // namespace salvo
