// SocketState: everything one socket of one worker owns. Owned by its Worker, used only on that
// worker's thread (counters are the exception: readable anywhere).
//
// A SocketState may also stand alone, without a Worker (salvo::FakeTransport): worker is null,
// Transport::stop_listening then only marks the state stopping, worker_index() is
// detached_worker_index, connect() records the peer without a connect(2) on the fd, and fd is -1
// unless the owner opened a socket for the socket options.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "datapath/send_queue.hpp"
#include "engine/live_counters.hpp"
#include "salvo/address.hpp"
#include "salvo/protocol.hpp"
#include "salvo/timer.hpp"
#include "salvo/transport.hpp"

namespace salvo::detail {

class Worker;
class ReactorCore;
class SendChannelState;

struct SocketState {
  explicit SocketState(Worker& owner) : worker(&owner), transport(*this) {}
  SocketState() : worker(nullptr), transport(*this) {}  // standalone: no worker (see above)
  SocketState(const SocketState&) = delete;
  SocketState& operator=(const SocketState&) = delete;

  Worker* worker;  // null for a standalone state
  ReactorCore* reactor = nullptr;  // the worker's (or the FakeTransport's) timers and clock
  unsigned detached_worker_index = 0;  // worker_index() when worker is null
  int fd = -1;
  // The engine opened fd itself and nothing else holds a descriptor of it (Reactor::open): closing
  // it takes it out of an epoll set, so the backend need not (adopted and listening sockets: false).
  bool fd_private = false;
  // Opened by Reactor::open on port 0: the kernel picked the port and no one binds it again by
  // number, so a backend may let go of the socket a moment after on_stop rather than at once
  // (io_uring closes its fd and releases its registered file with the next submission).
  bool ephemeral_port = false;
  // Port 0 for a socket the kernel bound at connect until someone asks (Transport::local_address).
  Address local;
  bool ipv6 = false;  // socket family (AF_INET6 sockets may also carry v4-mapped peers)
  Address peer;       // Transport::connect: the connected peer (Family::none when unconnected)
  // IP_RECVERR is on (every socket salvo opens, unless the kernel refused it; adopted ones may not
  // be), or will be before the socket's first request (recverr_pending).
  bool recverr = true;
  // Opened without IP_RECVERR for the backend to turn it on in add() (Backend::sets_recverr),
  // ahead of the socket's first requests; recverr already says true, as it will be.
  bool recverr_pending = false;
  std::uint32_t index = 0;  // position in the worker's socket list; backends key arrays by it
  std::uint32_t generation = 0;  // bumped each time the worker reuses the position for a new socket

  // EMSGSIZE bookkeeping, touched only after a send or receive failed (Worker::emsgsize_from_network):
  // path MTU reports from the network read off the error queue that no failed send has yet been
  // put down to (each can have left EMSGSIZE pending for one send), and the destinations of local
  // "too big" errors (SO_EE_ORIGIN_LOCAL) read but not yet matched with the send that caused them.
  std::uint8_t network_emsgsize = 0;
  std::vector<Address> local_emsgsize;

  std::unique_ptr<Protocol> protocol;
  Transport transport;
  SendQueue queue;
  LiveCounters counters;

  // Lifecycle, in order: receiving -> stopping (reads off, queue draining) -> closed.
  bool receiving = true;
  bool stopping = false;
  bool closed = false;
  std::chrono::steady_clock::time_point stop_deadline{};
  // Reading paused by the protocol (Transport::pause_reading) or by a drain; sends, timers and
  // on_writable go on. The backends arm receiving only while reads() holds.
  bool paused = false;
  bool draining = false;
  bool reads() const noexcept { return receiving && !paused; }

  // Threads that are not the worker's send through these (Transport::open_send_channel); the
  // worker moves what they queued into `queue` each round, and closes them with the socket.
  std::vector<std::shared_ptr<SendChannelState>> channels;

  bool want_writable = false;  // the protocol asked for on_writable
  bool writable_quiet = false; // on_writable queued nothing: no more calls until the protocol sends
                               // or asks again, so that an idle writer does not spin the worker
  bool send_blocked = false;   // the kernel said EAGAIN; wait for writability before sending more
  // GSO for this socket (EngineOptions::gso) until the kernel refuses it, and the queue sequence
  // number of a refused GSO message's first datagram, now sent plain, whose fate decides (see
  // datapath/send_outcome.hpp).
  bool gso = false;
  bool gso_suspect = false;
  std::uint64_t gso_suspect_sequence = 0;
  std::chrono::steady_clock::time_point writable_after{};  // defer_writable: no on_writable before
  bool writable_deferred = false;  // in the worker's list of deferred writers

  // In the worker's lists (Worker::note_work, note_received, note_channels): each names a socket
  // at most once, and the flags pass to the next socket of a reused slot with its place there.
  bool todo = false;
  bool sampled = false;
  bool channel_listed = false;

  // Since when the slot has held no open socket (set when the worker frees it, or when the rounds
  // begin for a socket closed before): Worker::trim_socket_slots gives back an idle slot at the end
  // of the list after EngineOptions::socket_slot_keep.
  std::chrono::steady_clock::time_point idle_since{};
};

}  // namespace salvo::detail
