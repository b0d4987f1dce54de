// FloodGuard: an opt-in layer in front of a Protocol that limits what any one source can make a
// server do. It does two things:
//
//   1. Per-source rate limiting. Every datagram's source is looked up in a fixed-size table; a
//      source sending faster than `rate` datagrams per second (after a burst of `burst`) has the
//      excess dropped before the wrapped protocol sees it, and counted (rate_limited).
//   2. A reply budget against amplification. Until the wrapped protocol marks a source verified
//      (after a cookie, a handshake, a retry token: whatever proves the source address is real),
//      the server never sends it more bytes than it received from it (times reply_factor, 1 by
//      default). A reply over the budget is not sent and is counted (over_budget). Replies must go
//      through FloodGuard::send for this: Transport is a concrete class that the guard cannot
//      intercept. Sends made directly on the Transport bypass the budget; the guard counts them
//      (unguarded_sends) so that a protocol that forgets shows up in the numbers.
//
// The table. `table_entries` slots, allocated once when the guard is made, never grown: memory is
// the same for 10 sources and for 10 million. It is set-associative: a source hashes (keyed with a
// random per-guard seed, so that a sender cannot aim at one set) to a set of `ways` slots. A source
// not in its set takes the first free slot, or else evicts one: the least recently seen unverified
// source of the set; a verified source is only evicted when every slot of the set is verified (then
// the least recently seen of those). Eviction forgets a source's rate state, its reply credit and
// its verification: it comes back as a new, unverified source with no credit. So eviction can make
// the guard stricter (lost credit, a verified peer must verify again) but never lets more bytes out
// than came in. Its limit, stated plainly: a flood spread over many more sources than the table
// holds (spoofed source addresses) keeps evicting, and each new source gets a fresh burst; rate
// limiting per source cannot stop that, the reply budget still makes it useless for amplification,
// and the engine's own accounting (kernel_drops) shows the load.
//
// Cost: no allocation, no lock and no system call per datagram. Per datagram: one keyed hash, a
// scan of `ways` slots, integer arithmetic (GCRA: one 64-bit "theoretical arrival time" per slot),
// and a copy of the Datagram view (not the payload) into a preallocated batch for the wrapped
// protocol. The clock is read once per batch.
//
// Ownership and threads. A FloodGuard is a Protocol: the engine owns it (through the factory that
// flood_guarded() returns) and it owns the wrapped protocol, created by the inner factory with a
// reference to its guard. The guard is made, and set_inner called, on the thread that calls
// Engine::listen (the factory runs there); from then on every member except stats() is for the
// worker thread that runs the guard's hooks: the wrapped protocol calls send / mark_verified /
// forget / is_verified / reply_budget from inside its own hooks. A batch longer than max_batch is
// handed over in parts; a protocol that stops listening in one part still gets the later parts of
// that batch (as it would get the rest of a batch it stopped in without a guard). Counters are published to a FloodGuardMonitor, which any thread may read
// at any time (relaxed atomics written by the single worker; a snapshot may lag by a batch).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "salvo/address.hpp"
#include "salvo/datagram.hpp"
#include "salvo/error.hpp"
#include "salvo/protocol.hpp"
#include "salvo/transport.hpp"

namespace salvo {

struct FloodGuardOptions {
  // Slots in the source table (a power of two, at least `ways`). Each is 64 bytes: the default
  // 4096 is 256 KiB per worker.
  std::uint32_t table_entries = 4096;
  // Slots per set (1, 2, 4, 8 or 16): how many sources that hash alike can be tracked at once.
  std::uint32_t ways = 8;

  // Unverified sources: at most `rate` datagrams per second on average, `burst` back to back.
  std::uint32_t rate = 1000;
  std::uint32_t burst = 100;
  // Verified sources (mark_verified). verified_rate = 0: not rate limited at all.
  std::uint32_t verified_rate = 0;
  std::uint32_t verified_burst = 1000;

  // An unverified source may be sent reply_factor x the payload bytes the guard admitted from it,
  // minus what was already sent to it. 1: never more than received (no amplification); 3 is QUIC's
  // anti-amplification limit; 0: nothing at all until verified.
  std::uint32_t reply_factor = 1;

  // Whether the port is part of a source's identity. true (the default): 10.0.0.1:5000 and
  // 10.0.0.1:5001 are two sources, so clients behind one NAT address do not share a limit. false:
  // one entry per IP address, so a sender cannot dodge its limit by changing ports (but a NAT's
  // clients share one). IPv4-mapped IPv6 addresses count as their IPv4 address either way.
  bool key_by_port = true;

  // The largest batch handed to the wrapped protocol at once; longer batches are handed over in
  // parts (all inside the same engine batch, so their sends are still flushed together). Sizes the
  // one preallocated array; EngineOptions::batch_size (64 by default) fits without splitting.
  std::uint32_t max_batch = 64;

  // The clock, read once per batch. nullptr: std::chrono::steady_clock::now. Tests inject one.
  std::chrono::steady_clock::time_point (*clock)() = nullptr;
};

// Checks the options; the error names the field and the accepted range.
Result<void> check_flood_guard_options(const FloodGuardOptions& options);

// X(name, help): what a guard did, as counters. datagrams == admitted + rate_limited.
#define SALVO_FLOOD_GUARD_COUNTERS(X)                                                            \
  X(datagrams, "datagrams the guard examined")                                                   \
  X(admitted, "datagrams handed to the wrapped protocol")                                        \
  X(admitted_bytes, "payload bytes handed to the wrapped protocol")                              \
  X(rate_limited, "datagrams dropped because their source was over its rate")                    \
  X(rate_limited_bytes, "payload bytes of the rate-limited datagrams")                           \
  X(replies, "sends through FloodGuard::send that reached the transport")                        \
  X(reply_bytes, "payload bytes of those sends")                                                 \
  X(over_budget, "sends through FloodGuard::send refused: over an unverified peer's reply budget") \
  X(over_budget_bytes, "payload bytes of the refused sends")                                     \
  X(unguarded_sends, "sends made on the Transport directly from the wrapped protocol's hooks (not budgeted)") \
  X(new_sources, "sources entered into the table")                                               \
  X(evictions, "sources pushed out of the table to make room for another")                       \
  X(verified, "mark_verified calls that verified a source not verified before")

struct FloodGuardStats {
#define SALVO_FLOOD_GUARD_FIELD(name, help) std::uint64_t name = 0;
  SALVO_FLOOD_GUARD_COUNTERS(SALVO_FLOOD_GUARD_FIELD)
#undef SALVO_FLOOD_GUARD_FIELD
  std::uint64_t tracked = 0;  // a gauge, not a counter: sources in the table now
  std::uint64_t capacity = 0; // the table's slots (tracked <= capacity)

  FloodGuardStats& operator+=(const FloodGuardStats& other) noexcept;
};

namespace detail {
struct FloodGuardCells;  // the atomics a guard publishes to its monitor
}

// Collects the counters of every guard a flood_guarded() factory made (one per worker and listen).
// Thread safety: stats() and per_guard() from any thread; the lock they take is also taken when a
// guard is made (at listen()), never on the data path. A monitor may outlive its engine or not:
// guards and monitor share their counter blocks.
class FloodGuardMonitor {
 public:
  FloodGuardStats stats() const;                   // summed over every guard
  std::vector<FloodGuardStats> per_guard() const;  // in creation order

 private:
  friend class FloodGuard;
  void add(std::shared_ptr<detail::FloodGuardCells> cells);
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<detail::FloodGuardCells>> guards_;
};

class FloodGuard;

// Makes the wrapped protocol, given the guard it sits behind (keep the reference: it is valid for
// the protocol's whole life, the guard owns the protocol).
using GuardedProtocolFactory = std::function<std::unique_ptr<Protocol>(unsigned worker_index, FloodGuard& guard)>;

// What FloodGuard::send did.
enum class GuardedSend : std::uint8_t {
  queued,       // within budget (or verified): handed to Transport::send, which queued it
  over_budget,  // not sent: more than the unverified peer's remaining reply budget
  not_queued,   // within budget, but Transport::send refused it (see transport_result)
};
std::string_view to_string(GuardedSend r) noexcept;

class FloodGuard final : public Protocol {
 public:
  // Allocates the table and the batch array (the only allocations). Options must pass
  // check_flood_guard_options; flood_guarded() checks them before making any guard.
  FloodGuard(const FloodGuardOptions& options, std::shared_ptr<FloodGuardMonitor> monitor);
  ~FloodGuard() override;
  FloodGuard(const FloodGuard&) = delete;
  FloodGuard& operator=(const FloodGuard&) = delete;

  // The protocol behind the guard. Set once, before the engine starts (flood_guarded does this).
  void set_inner(std::unique_ptr<Protocol> inner) noexcept { inner_ = std::move(inner); }
  Protocol* inner() const noexcept { return inner_.get(); }

  // --- for the wrapped protocol, from inside its hooks (worker thread) ---

  // Transport::send with the reply budget applied: to a verified peer it always goes through; to
  // an unverified one only when `payload` fits in its remaining budget (which it then uses up).
  // A peer not in the table has no budget. A send the transport refuses uses no budget.
  GuardedSend send(std::span<const std::byte> payload, const Address& to, Transport& transport) noexcept;
  // The last Transport::send result of send() (queued unless it returned not_queued).
  SendResult transport_result() const noexcept { return last_transport_result_; }

  // The source proved its address: no reply budget from now on, and the verified rate applies.
  // Enters the source into the table if it is not there (possibly evicting another).
  void mark_verified(const Address& peer) noexcept;
  bool is_verified(const Address& peer) const noexcept;
  // Bytes that may still be sent to `peer` (unverified); 0 for a peer not in the table, and
  // UINT64_MAX for a verified one.
  std::uint64_t reply_budget(const Address& peer) const noexcept;
  // Drops the source from the table (a client that said goodbye; a verification revoked).
  void forget(const Address& peer) noexcept;

  // This guard's counters, as its monitor sees them. Any thread.
  FloodGuardStats stats() const noexcept;

  // --- Protocol: each hook passes on to the wrapped protocol ---
  void on_start(Transport& transport) override;
  void on_datagrams(std::span<const Datagram> batch, Transport& transport) override;
  void on_writable(Transport& transport) override;
  void on_refused(const Address& peer, Transport& transport) override;
  void on_unreachable(const Address& peer, std::error_code why, Transport& transport) override;
  void on_path_mtu(const Address& peer, unsigned mtu, Transport& transport) override;
  void on_error(std::error_code error, Transport& transport) override;
  void on_stop() override;

  struct Slot;  // one table entry (flood_guard.cpp)

 private:
  struct Key {
    std::array<std::uint64_t, 3> words{};  // IP (16 bytes, IPv4 as mapped) + port + scope
    bool operator==(const Key&) const noexcept = default;
  };
  Key key_of(const Address& peer) const noexcept;
  std::uint64_t hash_of(const Key& key) const noexcept;
  Slot* find(const Key& key) const noexcept;
  Slot& find_or_insert(const Key& key, std::uint64_t now_ns) noexcept;
  bool admit(Slot& slot, std::uint64_t now_ns) noexcept;
  std::uint64_t now_ns() const noexcept;
  // Runs an inner hook and counts the sends it made on the Transport directly.
  template <class Fn>
  void watch_sends(Transport& transport, Fn&& hook);

  FloodGuardOptions options_;
  std::unique_ptr<Protocol> inner_;
  std::shared_ptr<detail::FloodGuardCells> cells_;
  std::unique_ptr<Slot[]> slots_;
  std::uint32_t set_mask_ = 0;   // (table_entries / ways) - 1
  std::uint64_t seed_[2] = {};   // hash key, random per guard
  std::uint64_t interval_ns_ = 0, tolerance_ns_ = 0;                  // unverified GCRA
  std::uint64_t verified_interval_ns_ = 0, verified_tolerance_ns_ = 0;  // 0: unlimited
  std::uint64_t tracked_ = 0;
  std::uint64_t guarded_requests_ = 0;  // Transport::send calls made by send(), during a hook
  std::vector<Datagram> batch_;
  SendResult last_transport_result_ = SendResult::queued;
};

// A ProtocolFactory for Engine::listen: each worker's protocol is a FloodGuard in front of one
// made by `inner`. `monitor` (optional) collects the guards' counters. Fails on bad options, with
// the message of check_flood_guard_options.
Result<ProtocolFactory> flood_guarded(const FloodGuardOptions& options, GuardedProtocolFactory inner,
                                      std::shared_ptr<FloodGuardMonitor> monitor = nullptr);

}  // namespace salvo
