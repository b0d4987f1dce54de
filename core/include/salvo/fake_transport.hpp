// FakeTransport: unit-test a Protocol without sockets, threads or an Engine. Inject datagrams and
// ICMP-style errors, then look at what the protocol sent.
//
// The protocol under test gets the real salvo::Transport (the same class, the same code: send's
// checks and results, the bounded send queue, connect's rules, counters, stop_listening), backed by
// a standalone socket state instead of a worker's socket. What the engine's worker would do around
// the hooks, the fake does synchronously, in the calling thread:
//
//   start(p)            on_start
//   deliver(p, ...)     on_datagrams, in batches of at most options.batch_size, counted as the
//                       worker counts them (received, delivered, truncated, rx_batches, ...); then
//                       the send queue is "flushed": every queued datagram moves to the record
//                       (sent, sent_bytes), as the kernel accepting it
//   refuse / unreachable / path_mtu / error
//                       on_refused / on_unreachable / on_path_mtu / on_error, counted as the worker
//                       counts an error-queue report (refused, unreachable, path_mtu_reports,
//                       socket_errors), then a flush
//   writable(p)         on_writable while the protocol asked for it and the queue has room, as the
//                       worker feeds a writer; then a flush
//   stop(p)             the engine stopping: reads off, a last flush, on_stop
//   drain(p, left)      the engine draining: reads off, on_draining, a flush
//   advance(p, d)       the clock moves on: due timers run at their due times, a flush after each
// After every hook, if the protocol called transport.stop_listening(), the queue is flushed, the
// fake closes and on_stop runs (once), as the engine does.
//
// Sends are not sent anywhere. take_sent() returns each recorded datagram with an owned copy of
// its bytes and its destination as the kernel would get it (normalised to the socket's family:
// an IPv4 destination on an IPv6 fake is recorded v4-mapped, as the real Transport queues it).
// fail_sends(n, err) makes the "kernel" refuse the next n datagrams flushed, as sendmmsg failing:
// counted as dropped_send_error, reported through on_refused(destination) for ECONNREFUSED and
// on_error otherwise, exactly as the worker does.
//
// Timers: the fake has a reactor of its own on a clock only the test moves (advance), so a
// protocol's timers are tested without sleeping; timers the socket owns go when it closes.
// pause_reading() holds deliveries back: deliver() then delivers nothing, as a paused socket reads
// nothing (the kernel would keep the datagrams; the fake does not).
//
// The counters a system call would move (rx_syscalls, tx_syscalls, eagain, kernel_drops,
// no_buffer, discarded_at_close) stay 0; the others follow the accounting rules of counters.hpp.
//
// Receive payloads are copied into a buffer the fake owns and overwritten after the hook returns,
// so that a protocol keeping a view past on_datagrams reads garbage in tests, not just in
// production.
//
// connect() works without a socket: it applies the real checks (family, port 0, only once; a second
// call fails with Errc::invalid_state, "already connected to ...") and records the peer, without a
// connect(2). The socket options (broadcast, multicast, TTL, loopback) need a file descriptor: by
// default there is none and they fail with Errc::invalid_state ("no socket: ..."). With
// options.real_socket the fake opens an unbound UDP socket of the local address's family, never
// read or written, so that the options are real setsockopt/getsockopt calls.
//
// Ownership: the fake owns its socket state (and the socket, if any); the Transport returned by
// transport() lives as long as the fake. The protocol is the caller's: each call takes it by
// reference and keeps nothing of it.
// Threading: none. Use a fake from one thread at a time; counters() may be read from any thread.
//
// Include <salvo/fake_transport.hpp> (salvo.hpp includes it too).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "salvo/address.hpp"
#include "salvo/counters.hpp"
#include "salvo/datagram.hpp"
#include "salvo/protocol.hpp"
#include "salvo/transport.hpp"

namespace salvo {

namespace detail {
struct SocketState;
class ReactorCore;
class SendPool;
}

class Reactor;

struct FakeTransportOptions {
  // The send queue, as EngineOptions::send_queue_entries and send_queue_bytes. Sizes the real
  // queue refuses (0) give a one-entry queue instead.
  std::uint32_t send_queue_entries = 1024;
  std::uint32_t send_queue_bytes = 4u << 20;
  std::uint32_t batch_size = 64;     // datagrams per on_datagrams call at most
  std::uint32_t buffer_size = 2048;  // larger injected datagrams arrive truncated to this
  bool deliver_truncated = false;    // as EngineOptions: deliver truncated datagrams flagged, or drop them
  unsigned worker_index = 0;         // what Transport::worker_index() answers
  // Leave sends queued after hooks instead of recording them (a socket whose buffer is full, or a
  // flush that has not happened yet); flush() records them.
  bool hold_sends = false;
  // Back the fake with an unbound, never used UDP socket so that socket options are real calls.
  bool real_socket = false;
  // The fake's reactor: how many timers it holds, and where its clock starts (advance() moves it;
  // nothing else does, so timers fire only when the test says time has passed).
  std::uint32_t timers = 1024;
  std::chrono::steady_clock::time_point start_time{};
};

// One datagram to inject. Owns its bytes.
struct FakeDatagram {
  std::vector<std::byte> payload;
  Address peer;
  bool truncated = false;  // mark it truncated even if it fits the buffer
  // Metadata, delivered as given (see Datagram): as if the engine had been asked for it.
  Address destination;
  std::uint32_t interface_index = 0;
  std::int16_t traffic_class = -1;
  std::int64_t timestamp_ns = 0;

  FakeDatagram() = default;
  FakeDatagram(std::span<const std::byte> bytes, const Address& from, bool was_truncated = false)
      : payload(bytes.begin(), bytes.end()), peer(from), truncated(was_truncated) {}
  FakeDatagram(std::string_view text, const Address& from, bool was_truncated = false)
      : payload(reinterpret_cast<const std::byte*>(text.data()),
                reinterpret_cast<const std::byte*>(text.data()) + text.size()),
        peer(from),
        truncated(was_truncated) {}
};

// One datagram the protocol sent (the kernel "accepted" it).
struct SentDatagram {
  std::vector<std::byte> bytes;
  Address to;
  SendOptions how;  // as the protocol gave it (source normalised to the socket's family)
  std::string text() const { return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()); }
};

class FakeTransport {
 public:
  explicit FakeTransport(Address local = Address::ipv4_loopback(9999), FakeTransportOptions options = {});
  ~FakeTransport();
  FakeTransport(const FakeTransport&) = delete;
  FakeTransport& operator=(const FakeTransport&) = delete;

  // The real Transport, as the hooks receive it. Calling it directly (outside a hook) is allowed:
  // sends stay queued until the next hook's flush or flush().
  Transport& transport() noexcept;

  // on_start, then a flush. Optional: the other calls work without it.
  void start(Protocol& protocol);

  // Hands the datagrams to on_datagrams in batches and flushes after each batch. Returns how many
  // were delivered: truncated ones are dropped unless options.deliver_truncated, and nothing is
  // delivered once the protocol stopped listening (the socket reads no more).
  std::size_t deliver(Protocol& protocol, std::span<const FakeDatagram> datagrams);
  std::size_t deliver(Protocol& protocol, std::initializer_list<FakeDatagram> datagrams);
  std::size_t deliver(Protocol& protocol, const FakeDatagram& datagram);
  std::size_t deliver(Protocol& protocol, std::string_view text, const Address& peer);

  // ICMP reports and socket errors, as the worker reads them from the error queue. A peer of
  // Family::none is replaced by the connected peer, as the worker does. Ignored once closed.
  void refuse(Protocol& protocol, const Address& peer = {});
  void unreachable(Protocol& protocol, const Address& peer);  // why: EHOSTUNREACH
  void unreachable(Protocol& protocol, const Address& peer, std::error_code why);
  void path_mtu(Protocol& protocol, const Address& peer, unsigned mtu);
  void error(Protocol& protocol, std::error_code error);

  // Calls on_writable while the protocol wants it (request_writable(true)), the queue has room,
  // defer_writable's time is not after `now`, and each call queues something: at most `max_calls`
  // times, flushing after each. Returns the number of calls.
  unsigned writable(Protocol& protocol, std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now(),
                    unsigned max_calls = 4);
  // Whether the worker would call on_writable now (ignoring defer_writable's time).
  bool wants_writable() const noexcept;

  // The engine stopping (Engine::stop): reads off, queued sends flushed, on_stop. Once.
  void stop(Protocol& protocol);
  // The engine draining (Engine::drain): reads off for good, on_draining(left), then a flush; the
  // protocol's timers go on with advance(), and it closes when it calls stop_listening().
  void drain(Protocol& protocol, std::chrono::nanoseconds left);

  // The reactor the protocol's transport().reactor() answers: timers work, on the fake's clock;
  // open() fails (Errc::invalid_state); resolve() asks the system at once and answers at the next
  // advance().
  Reactor& reactor() noexcept;
  std::chrono::steady_clock::time_point now() const noexcept;
  // Moves the clock forward, running every timer that falls due on the way at its own due time
  // (reactor().now() is that time inside the callback), with a flush after each, as the worker
  // does. Returns how many callbacks ran. A zero step runs what is already due.
  std::size_t advance(Protocol& protocol, std::chrono::steady_clock::duration by);
  std::size_t advance_to(Protocol& protocol, std::chrono::steady_clock::time_point when);

  // The "kernel" refuses the next `count` datagrams flushed with `err` (an errno value).
  void fail_sends(std::size_t count, int err);

  // Records what is queued (runs send-error hooks if fail_sends is armed). Returns how many were
  // recorded or refused. Hooks already flush unless options.hold_sends.
  std::size_t flush(Protocol& protocol);

  // What was sent since the last take_sent(), oldest first; take_sent() clears the record.
  std::vector<SentDatagram> take_sent();
  const std::vector<SentDatagram>& sent() const noexcept;
  std::size_t queued() const noexcept;  // sends waiting for a flush

  bool stopped() const noexcept;  // stop_listening (or stop) was called
  bool closed() const noexcept;   // on_stop ran
  bool has_socket() const noexcept;  // options.real_socket and the socket opened
  Counters counters() const noexcept;

 private:
  void after_hook(Protocol& protocol);
  std::size_t flush_queue(Protocol& protocol);

  std::unique_ptr<detail::SendPool> send_pool_;  // before state_: its queue gives segments back
  std::unique_ptr<detail::SocketState> state_;
  std::unique_ptr<detail::ReactorCore> core_;
  FakeTransportOptions options_;
  std::vector<SentDatagram> sent_;
  std::vector<std::byte> rx_buffer_;
  std::vector<Datagram> batch_;
  std::size_t fail_count_ = 0;
  int fail_errno_ = 0;
};

}  // namespace salvo
