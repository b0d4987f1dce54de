// ImpairProxy: the engine side of salvo impair, a UDP proxy that impairs traffic both ways.
//
// Sockets: one listen socket (index 0) that clients send to, opened before the engine starts, and
// an upstream socket per client, bound to its own ephemeral port. A client (source address) new to
// the ClientTable gets its upstream socket there and then, opened on the worker with
// Reactor::open, so that the server's replies arrive on that socket and go back to that client
// through the listen socket. Nothing per client is opened or reserved up front but a table entry,
// so max_clients may be above what the descriptor limit allows (the command refuses that at start
// only for a --max-clients given explicitly): a client whose socket cannot be opened
// (RLIMIT_NOFILE reached) is refused and its datagrams counted (dropped_no_upstream), with one
// line on stderr the first time, and the clients already served carry on. A client that expires
// from the table (checked on every batch, and by a timer on the listen socket when there is no
// traffic) gives its socket back: it closes once the datagrams waiting to leave through it have
// left, and its index is reused after on_stop.
//
// Each direction runs its datagrams, in arrival order, through: the rate limit (TokenBucket,
// excess dropped), the ImpairmentModel (loss, duplication, reordering, delay and jitter), then
// out. A datagram due now goes straight into the outgoing socket's send queue. One that must wait
// (delayed, held for reordering, or the send queue is full) is copied into a fixed pool of slots
// and queued on its outgoing socket in release order; that socket's on_writable sends it when due,
// woken with Transport::defer_writable at the head's release time. Release times never decrease
// within a direction (a datagram leaves no earlier than the one before it), so a plain FIFO per
// socket is time-ordered and jitter never reorders: reordering comes only from --reorder. A full
// pool drops the datagram (counted as overflow); memory stays bounded.
//
// Duplication never feeds a loop: a client caught sending back what the proxy delivered to it
// (LoopWatch, loop_watch.hpp: the client is an echo, and the proxy is part of a loop between it
// and the server) has its duplicates withheld, both directions, for as long as it keeps doing so.
//
// Threading: every method but the constructor, listen_on() and the read-outs after the engine
// finished runs on the engine's single worker thread (impair requires workers == 1: the decisions
// must follow the arrival order of a direction and the client table and queues are shared by all
// sockets, so one thread keeps them consistent without locks). A Transport of one socket is used
// from another socket's on_datagrams (same worker thread): the worker flushes every socket and
// re-reads every socket's writable time at the top of each loop round, which follows the
// delivery of received batches. Sends and wake-ups for other sockets are never made from
// on_writable, where the round has already passed some sockets.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "common/pacer.hpp"
#include "impair/client_table.hpp"
#include "impair/impairment.hpp"
#include "impair/loop_watch.hpp"
#include "salvo/salvo.hpp"

namespace salvo::cli {

struct ImpairConfig {
  Address listen;
  Address to;
  ImpairmentSettings settings;
  std::uint64_t seed = 1;
  std::uint64_t rate = 0;   // datagrams per second per direction; 0 = no limit
  std::uint64_t burst = 0;  // the rate limit's bucket depth; 0 = default (10 ms worth, at least 1)
  std::uint32_t max_clients = 256;  // clients served at once (each with a socket while it is served)
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(30);
  std::uint32_t queue_slots = 4096;   // datagrams waiting (delayed or held) at most, both directions
  std::uint32_t slot_size = 2048;     // bytes per slot: the engine's receive buffer size
  std::chrono::nanoseconds reorder_hold = std::chrono::milliseconds(100);  // a held datagram waits at
                                      // most this long past its release time for a next one
};

// What happened to the datagrams of one direction. At exit:
//   in == forwarded + dropped_loss + dropped_rate + dropped_overflow + dropped_unroutable
//         + dropped_no_upstream + dropped_send + dropped_at_exit
// duplicated counts the extra copies sent, dup_withheld the copies --dup drew but LoopWatch
// withheld (the datagram itself is forwarded as usual, so it is not a drop), reordered the datagrams sent after a later one of the
// same direction, delayed those that waited (delay, jitter, or behind one that did).
#define SALVO_IMPAIR_COUNTERS(X)                                                                   \
  X(in, "datagrams received")                                                                      \
  X(forwarded, "datagrams sent on (the first copy)")                                               \
  X(duplicated, "extra copies sent (--dup)")                                                       \
  X(dup_withheld, "duplicates drawn but not made: the client sends back what it is sent (a loop)") \
  X(reordered, "datagrams sent after the next one of their direction (--reorder)")                 \
  X(delayed, "datagrams that waited before leaving (--delay, --jitter)")                           \
  X(dropped_loss, "dropped by --loss")                                                             \
  X(dropped_rate, "dropped by --rate")                                                             \
  X(dropped_overflow, "dropped because every queue slot was in use (--queue)")                     \
  X(dropped_unroutable, "client refused (table full) or reply for no client / not from --to")      \
  X(dropped_no_upstream, "client refused: no upstream socket could be opened (RLIMIT_NOFILE)")     \
  X(dropped_send, "refused by the outgoing socket (closed while stopping)")                        \
  X(dropped_at_exit, "still waiting in the queue when the proxy stopped")

struct DirectionCounters {
#define SALVO_IMPAIR_FIELD(name, help) std::uint64_t name = 0;
  SALVO_IMPAIR_COUNTERS(SALVO_IMPAIR_FIELD)
#undef SALVO_IMPAIR_FIELD
};

class ImpairProxy {
 public:
  explicit ImpairProxy(const ImpairConfig& config);
  ~ImpairProxy();
  ImpairProxy(const ImpairProxy&) = delete;
  ImpairProxy& operator=(const ImpairProxy&) = delete;

  // Controlling thread, before Engine::start: binds the listen socket (upstream sockets come with
  // their clients). Returns the listen socket's address (the real port when 0 was asked for).
  Result<Address> listen_on(Engine& engine);

  // Controlling thread, after the engine finished: counts what is still queued as dropped_at_exit.
  void finish();

  const DirectionCounters& counters(Direction d) const noexcept { return dirs_[static_cast<int>(d)].counters; }
  const ClientTable& clients() const noexcept { return clients_; }
  const ImpairConfig& config() const noexcept { return config_; }

  // Worker thread: the socket protocols' hooks.
  void attach(std::uint32_t socket, Transport& transport) noexcept;
  void detach(std::uint32_t socket) noexcept;
  void receive(std::uint32_t socket, std::span<const Datagram> batch, Transport& transport) noexcept;
  void writable(std::uint32_t socket, Transport& transport) noexcept;

 private:
  static constexpr std::uint32_t none = ~std::uint32_t{0};
  using time_point = std::chrono::steady_clock::time_point;

  struct Slot {
    time_point release{};
    Address to;
    std::uint32_t length = 0;
    std::uint32_t next = none;    // in its socket's FIFO, or in the free list
    std::uint32_t socket = 0;     // the socket it leaves through
    std::uint8_t copies_left = 0;
    bool sent_any = false;
    bool overtaken = false;       // released after a later datagram: reordered
  };
  struct Fifo {
    std::uint32_t head = none;
    std::uint32_t tail = none;
  };
  // One of the proxy's sockets, by index: 0 is the listen socket, the others upstream sockets.
  struct ProxySocket {
    Transport* transport = nullptr;  // while attached (on_start to on_stop)
    Fifo fifo;                       // datagrams waiting to leave through it, in release order
    std::uint32_t client = none;     // the client slot it serves; none: listen socket, closing or free
  };
  struct DirectionState {
    ImpairmentModel model;
    std::optional<TokenBucket> limiter;
    DirectionCounters counters;
    time_point last_release{};
    std::uint32_t held = none;  // the slot held back for reordering
    time_point held_deadline{};
  };

  static Direction direction_of(std::uint32_t socket) noexcept {
    return socket == 0 ? Direction::server_to_client : Direction::client_to_server;
  }
  DirectionState& state_of(Direction d) noexcept { return dirs_[static_cast<int>(d)]; }

  // The upstream socket of the client `peer` (opened now for a new client), or none when the
  // client is refused; the refusal is counted in `st`.
  std::uint32_t upstream_for(const Address& peer, time_point now, Transport& listen, DirectionState& st) noexcept;
  std::uint32_t open_upstream(std::uint32_t client, Transport& listen) noexcept;
  void client_expired(std::uint32_t client) noexcept;
  // Stops a socket whose client is gone once nothing waits to leave through it.
  void close_if_done(std::uint32_t socket) noexcept;
  void forward(DirectionState& st, std::uint32_t socket, const Address& to, std::span<const std::byte> payload,
               const ImpairmentDecision& decision, time_point now) noexcept;
  std::uint32_t take_slot(std::uint32_t socket, const Address& to, std::span<const std::byte> payload,
                          std::uint8_t copies, time_point release) noexcept;
  void push(std::uint32_t slot) noexcept;  // onto its socket's FIFO
  void release_held(DirectionState& st, bool overtaken) noexcept;
  void arm(std::uint32_t socket) noexcept;
  // Sends one copy of `slot`'s datagram; false when the socket refused it (counted).
  bool send_copy(DirectionState& st, Transport& t, Slot& slot) noexcept;
  void free_slot(std::uint32_t slot) noexcept;

  ImpairConfig config_;
  Address upstream_local_;  // where upstream sockets bind: the any-address of --to's family, port 0
  ClientTable clients_;
  std::array<DirectionState, 2> dirs_;
  std::vector<ProxySocket> sockets_;       // grows to the most sockets open at once, indices reused
  std::vector<std::uint32_t> free_sockets_;  // indices of sockets_ whose socket has stopped
  std::vector<std::uint32_t> upstream_;    // per client slot: its socket index, or none
  LoopWatch loops_;                        // per client slot: is it looping (no duplicates then)
  bool told_no_upstream_ = false;          // the stderr line about a refused client was printed
  std::vector<Slot> slots_;
  std::unique_ptr<std::byte[]> slot_bytes_;
  std::uint32_t free_head_ = none;
};

}  // namespace salvo::cli
