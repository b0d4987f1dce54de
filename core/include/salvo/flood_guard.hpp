// FloodGuard: an opt-in layer in front of a Protocol that limits what any one source can make a
// server do. It does two things:
//
//   1. Per-source rate limiting. Every datagram's source is looked up in a fixed-size table; a
//      source sending faster than `rate` datagrams per second (after a burst of `burst`) has the
//      excess dropped before the wrapped protocol sees it, and counted (rate_limited).
//   2. A reply budget against amplification. Until the wrapped protocol marks a peer verified
//      (after a cookie, a handshake, a retry token: whatever proves the source address is real),
//      the server never sends a source more bytes than it received from it (times reply_factor, 1
//      by default). A reply over the budget is not sent and is counted (over_budget). Replies must
//      go through FloodGuard::send for this: Transport is a concrete class that the guard cannot
//      intercept. Sends made directly on the Transport bypass the budget; the guard counts them
//      (unguarded_sends) so that a protocol that forgets shows up in the numbers.
//
// What a source is. An unverified source is an address prefix, not an address and port: by
// default every IPv4 address of one /24 is one source, and every IPv6 address of one /56
// (ipv4_prefix, ipv6_prefix; the port only with key_by_port). Changing source ports, or addresses
// inside an IPv6 delegation, costs a sender nothing, so a limit per address and port would hand
// it a fresh burst per port. The rate limit and the reply budget are both per prefix: a prefix is
// never sent more than it sent. Verification is not: mark_verified proves one address and port,
// and only that peer (its own table entry) is lifted out of its prefix's limit and budget, so that
// a verified client neither opens its whole network to spoofed, amplified replies nor is starved
// by a flooder that shares its prefix.
//
// The table. `table_entries` slots, allocated once when the guard is made, never grown: memory is
// the same for 10 sources and for 10 million. A slot holds a prefix (rate state and reply credit)
// or a verified peer (its verified rate state). It is set-associative: a key hashes (keyed with a
// random per-guard seed, so that a sender cannot aim at one set) to a set of `ways` slots. A key
// not in its set takes the first free slot, or else evicts one: the least recently seen prefix of
// the set; a verified peer is only evicted when every slot of the set holds one (then the least
// recently seen of those). Eviction forgets rate state, reply credit and verification: the key
// comes back new, unverified, with no credit. So eviction can make the guard stricter (lost
// credit, a verified peer must verify again) but never lets more bytes out than came in. Its
// limit, stated plainly: a flood spread over many more prefixes than the table holds (spoofed
// source addresses) keeps evicting, and each new prefix gets a fresh burst; rate limiting per
// source cannot stop that, the reply budget still makes it useless for amplification, and the
// engine's own accounting (kernel_drops) shows the load.
//
// Cost: no allocation, no lock and no system call per datagram. Per datagram: the address masked
// to its prefix (two AND instructions), one keyed hash, a scan of `ways` slots, integer arithmetic
// (GCRA: one 64-bit "theoretical arrival time" per slot), and a copy of the Datagram view (not the
// payload) into a preallocated batch for the wrapped protocol. While any peer is verified, one
// more hash and scan (is this exact peer verified?). The clock is read once per batch.
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

  // Unverified sources (prefixes, below): at most `rate` datagrams per second on average, `burst`
  // back to back.
  std::uint32_t rate = 1000;
  std::uint32_t burst = 100;
  // Verified sources (mark_verified). verified_rate = 0: not rate limited at all.
  std::uint32_t verified_rate = 0;
  std::uint32_t verified_burst = 1000;

  // An unverified source (prefix) may be sent reply_factor x the payload bytes the guard admitted
  // from it, minus what was already sent to it. 1: never more than received (no amplification); 3
  // is QUIC's anti-amplification limit; 0: nothing at all until verified.
  std::uint32_t reply_factor = 1;

  // The prefix that makes one unverified source: how many leading bits of its address count, as
  // in the response rate limiting of DNS servers (BIND's defaults are /24 and /56 as well; Knot's
  // also counts by prefix). /56 rather than /64 for IPv6 because a /56 is what ISPs commonly
  // delegate to one customer (RFC 6177): at /64 one home would still be 256 sources with a fresh
  // burst each. /24 rather than /32 for IPv4 because one party often holds a run of neighbouring
  // addresses (a hosting customer, a small allocation). The price: unrelated clients in one prefix
  // (a carrier NAT, a campus) share its limit until verified (mark_verified takes a peer out of
  // it). 32 and 128: one source per address. IPv4-mapped IPv6 addresses (a dual-stack socket's
  // IPv4 peers) count as IPv4.
  std::uint32_t ipv4_prefix = 24;  // 0..32
  std::uint32_t ipv6_prefix = 56;  // 0..128

  // Whether the port is part of an unverified source's identity too. false (the default): a
  // sender cannot dodge its limit by changing ports. true: 10.0.0.1:5000 and 10.0.0.1:5001 are two
  // sources (clients behind one NAT address then do not share a limit; a sender rotating ports
  // gets a burst per port). Only with one source per address (ipv4_prefix 32, ipv6_prefix 128): a
  // port names a socket of one host, not of a network. Verification is always per address and port.
  bool key_by_port = false;

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
  X(new_sources, "entries made in the table (source prefixes, and verified peers)")              \
  X(evictions, "entries pushed out of the table to make room for another")                       \
  X(verified, "mark_verified calls that verified a peer not verified before")

struct FloodGuardStats {
#define SALVO_FLOOD_GUARD_FIELD(name, help) std::uint64_t name = 0;
  SALVO_FLOOD_GUARD_COUNTERS(SALVO_FLOOD_GUARD_FIELD)
#undef SALVO_FLOOD_GUARD_FIELD
  std::uint64_t tracked = 0;  // a gauge, not a counter: entries in the table now
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
  // an unverified one only when `payload` fits in the remaining budget of its prefix (which it
  // then uses up). A peer whose prefix is not in the table has no budget. A send the transport
  // refuses uses no budget.
  GuardedSend send(std::span<const std::byte> payload, const Address& to, Transport& transport) noexcept;
  // The last Transport::send result of send() (queued unless it returned not_queued).
  SendResult transport_result() const noexcept { return last_transport_result_; }

  // The peer (this address and port) proved its address: no reply budget from now on, and its
  // datagrams count against the verified rate in an entry of its own, no longer against its
  // prefix's. Makes that entry if there is none (possibly evicting another). Its prefix's entry,
  // shared with the unverified rest of the prefix, is left as it is.
  void mark_verified(const Address& peer) noexcept;
  bool is_verified(const Address& peer) const noexcept;
  // Bytes that may still be sent to `peer`: what is left of its prefix's budget (0 when the prefix
  // is not in the table), or UINT64_MAX for a verified peer.
  std::uint64_t reply_budget(const Address& peer) const noexcept;
  // Drops the peer's verification (a client that said goodbye; a verification revoked), and its
  // rate entry when that entry is its alone (key_by_port: the source is this address and port).
  // A prefix shared with others keeps its state: a goodbye must not earn a fresh burst for the
  // sender's neighbours, nor for the sender from another port.
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
    std::array<std::uint64_t, 3> words{};  // IP (16 bytes, IPv4 as mapped) + port + scope + kind
    bool operator==(const Key&) const noexcept = default;
  };
  // A prefix entry (rate state and credit of unverified sources) or a verified peer's own entry.
  enum class KeyKind : std::uint8_t { prefix, peer };
  Key key_of(const Address& peer, KeyKind kind) const noexcept;
  std::uint64_t hash_of(const Key& key) const noexcept;
  Slot* find(const Key& key) const noexcept;
  Slot* find_verified(const Address& peer) const noexcept;  // nullptr unless `peer` is verified
  void release(Slot& slot) noexcept;
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
  // The leading ipv4_prefix bits after ::ffff: (96 + ipv4_prefix) and the leading ipv6_prefix bits
  // of an address, as the two words that hold its 16 bytes.
  std::array<std::uint64_t, 2> v4_mask_{}, v6_mask_{};
  std::uint64_t verified_entries_ = 0;  // 0: no datagram needs the second lookup
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
