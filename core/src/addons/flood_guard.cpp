#include "salvo/flood_guard.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "salvo/siphash.hpp"

namespace salvo {

namespace detail {

// What a guard publishes: written by its worker only (so relaxed load + store, no read-modify-write
// instruction), read by any thread through the monitor.
struct FloodGuardCells {
#define SALVO_FLOOD_GUARD_CELL(name, help) std::atomic<std::uint64_t> name{0};
  SALVO_FLOOD_GUARD_COUNTERS(SALVO_FLOOD_GUARD_CELL)
#undef SALVO_FLOOD_GUARD_CELL
  std::atomic<std::uint64_t> tracked{0};
  std::uint64_t capacity = 0;  // set before the guard is shared

  FloodGuardStats load() const noexcept {
    FloodGuardStats s;
#define SALVO_FLOOD_GUARD_LOAD(name, help) s.name = name.load(std::memory_order_relaxed);
    SALVO_FLOOD_GUARD_COUNTERS(SALVO_FLOOD_GUARD_LOAD)
#undef SALVO_FLOOD_GUARD_LOAD
    s.tracked = tracked.load(std::memory_order_relaxed);
    s.capacity = capacity;
    return s;
  }
};

}  // namespace detail

namespace {

// Counting from the worker: the single writer, so no atomic read-modify-write is needed.
void bump(std::atomic<std::uint64_t>& cell, std::uint64_t by = 1) noexcept {
  cell.store(cell.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
  return a > std::numeric_limits<std::uint64_t>::max() - b ? std::numeric_limits<std::uint64_t>::max() : a + b;
}


constexpr std::uint64_t ns_per_s = 1'000'000'000;

// Key::words[2]: port << 32 | scope id | these.
constexpr std::uint64_t real_source = std::uint64_t{1} << 63;  // never set for Family::none
constexpr std::uint64_t peer_entry = std::uint64_t{1} << 62;   // KeyKind::peer, not a prefix

// The first `bits` bits of a 16-byte address, as the two words that hold its bytes in memory
// order: AND-ing them keeps the prefix whatever the host's byte order.
std::array<std::uint64_t, 2> prefix_mask(std::uint32_t bits) noexcept {
  std::array<unsigned char, 16> bytes{};
  for (std::uint32_t i = 0; i < 16; ++i) {
    const std::uint32_t take = bits > 8 * i ? std::min<std::uint32_t>(8, bits - 8 * i) : 0;
    bytes[i] = static_cast<unsigned char>(0xff00u >> take);  // the top `take` bits of the byte
  }
  std::array<std::uint64_t, 2> words;
  std::memcpy(words.data(), bytes.data(), 16);
  return words;
}

// ::ffff:0:0/96, the IPv4-mapped addresses.
constexpr unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

// One source. 64 bytes, so that a set of 8 is 8 cache lines and a slot never straddles two.
struct alignas(64) FloodGuard::Slot {
  Key key;
  std::uint64_t tat_ns = 0;      // GCRA theoretical arrival time: when the bucket is full again
  std::uint64_t credit = 0;      // bytes that may still be sent (unverified)
  std::uint64_t last_seen_ns = 0;  // for eviction: least recently seen goes first
  bool used = false;
  bool verified = false;
};
static_assert(sizeof(FloodGuard::Slot) == 64);

FloodGuardStats& FloodGuardStats::operator+=(const FloodGuardStats& other) noexcept {
#define SALVO_FLOOD_GUARD_ADD(name, help) name += other.name;
  SALVO_FLOOD_GUARD_COUNTERS(SALVO_FLOOD_GUARD_ADD)
#undef SALVO_FLOOD_GUARD_ADD
  tracked += other.tracked;
  capacity += other.capacity;
  return *this;
}

std::string_view to_string(GuardedSend r) noexcept {
  switch (r) {
    case GuardedSend::queued: return "queued";
    case GuardedSend::over_budget: return "over the unverified peer's reply budget";
    case GuardedSend::not_queued: return "refused by the transport";
  }
  return "unknown";
}

Result<void> check_flood_guard_options(const FloodGuardOptions& o) {
  auto bad = [](std::string what) { return Error::make(Errc::bad_option, "flood guard: " + std::move(what)); };
  if (o.ways == 0 || o.ways > 16 || !std::has_single_bit(o.ways)) {
    return bad("ways must be 1, 2, 4, 8 or 16 (got " + std::to_string(o.ways) + ")");
  }
  if (!std::has_single_bit(o.table_entries) || o.table_entries < o.ways || o.table_entries > (1u << 24)) {
    return bad("table_entries must be a power of two from ways (" + std::to_string(o.ways) + ") to 16777216 (got " +
               std::to_string(o.table_entries) + ")");
  }
  if (o.rate == 0 || o.rate > ns_per_s) return bad("rate must be 1..1000000000 datagrams per second (got " + std::to_string(o.rate) + ")");
  if (o.burst == 0) return bad("burst must be at least 1");
  if (o.verified_rate > ns_per_s) return bad("verified_rate must be 0 (unlimited) to 1000000000 (got " + std::to_string(o.verified_rate) + ")");
  if (o.verified_rate != 0 && o.verified_burst == 0) return bad("verified_burst must be at least 1 when verified_rate is set");
  if (o.max_batch == 0 || o.max_batch > 65536) return bad("max_batch must be 1..65536 (got " + std::to_string(o.max_batch) + ")");
  if (o.ipv4_prefix > 32) return bad("ipv4_prefix must be 0..32 bits (got " + std::to_string(o.ipv4_prefix) + ")");
  if (o.ipv6_prefix > 128) return bad("ipv6_prefix must be 0..128 bits (got " + std::to_string(o.ipv6_prefix) + ")");
  if (o.key_by_port && (o.ipv4_prefix != 32 || o.ipv6_prefix != 128)) {
    return bad("key_by_port needs one source per address: ipv4_prefix 32 and ipv6_prefix 128 (got " +
               std::to_string(o.ipv4_prefix) + " and " + std::to_string(o.ipv6_prefix) + ")");
  }
  return {};
}

// --- monitor ---

void FloodGuardMonitor::add(std::shared_ptr<detail::FloodGuardCells> cells) {
  std::lock_guard lock(mutex_);
  guards_.push_back(std::move(cells));
}

FloodGuardStats FloodGuardMonitor::stats() const {
  FloodGuardStats sum;
  std::lock_guard lock(mutex_);
  for (const auto& g : guards_) sum += g->load();
  return sum;
}

std::vector<FloodGuardStats> FloodGuardMonitor::per_guard() const {
  std::lock_guard lock(mutex_);
  std::vector<FloodGuardStats> out;
  out.reserve(guards_.size());
  for (const auto& g : guards_) out.push_back(g->load());
  return out;
}

// --- guard ---

FloodGuard::FloodGuard(const FloodGuardOptions& options, std::shared_ptr<FloodGuardMonitor> monitor)
    : options_(options), cells_(std::make_shared<detail::FloodGuardCells>()) {
  slots_ = std::make_unique<Slot[]>(options_.table_entries);
  set_mask_ = options_.table_entries / options_.ways - 1;
  std::random_device rd;
  seed_[0] = (std::uint64_t{rd()} << 32) ^ rd();
  seed_[1] = (std::uint64_t{rd()} << 32) ^ rd();
  v4_mask_ = prefix_mask(96 + options_.ipv4_prefix);
  v6_mask_ = prefix_mask(options_.ipv6_prefix);
  // GCRA: a datagram every `interval` on average; up to burst - 1 intervals ahead of schedule.
  interval_ns_ = ns_per_s / options_.rate;
  tolerance_ns_ = interval_ns_ * (options_.burst - 1);
  if (options_.verified_rate != 0) {
    verified_interval_ns_ = ns_per_s / options_.verified_rate;
    verified_tolerance_ns_ = verified_interval_ns_ * (options_.verified_burst - 1);
  }
  batch_.reserve(options_.max_batch);
  cells_->capacity = options_.table_entries;
  if (monitor) monitor->add(cells_);
}

FloodGuard::~FloodGuard() = default;

FloodGuardStats FloodGuard::stats() const noexcept { return cells_->load(); }

std::uint64_t FloodGuard::now_ns() const noexcept {
  const auto t = options_.clock != nullptr ? options_.clock() : std::chrono::steady_clock::now();
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

FloodGuard::Key FloodGuard::key_of(const Address& peer, KeyKind kind) const noexcept {
  // Every address as 16 bytes (IPv4 as ::ffff:a.b.c.d, so that a dual-stack socket's mapped peers
  // and an IPv4 socket's peers are the same key), then port and scope. A prefix keeps the leading
  // bits of its family's prefix length (an IPv4 one the ::ffff: too, so that it never equals an
  // IPv6 one) and the port only with key_by_port; a verified peer's key is the whole address and
  // port, and marked, so that it never equals a prefix's (not even a full-length one).
  Key k;
  const Address a = peer.v4_mapped();
  if (!a.is_v6()) return k;  // Family::none: all zero, never a real source
  sockaddr_in6 sin6;
  std::memcpy(&sin6, a.sockaddr_data(), sizeof sin6);
  std::memcpy(&k.words[0], &sin6.sin6_addr, 16);
  std::uint64_t port = a.port();
  std::uint64_t tag = real_source;
  if (kind == KeyKind::prefix) {
    const bool v4 = std::memcmp(&sin6.sin6_addr, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0;
    const std::array<std::uint64_t, 2>& mask = v4 ? v4_mask_ : v6_mask_;
    k.words[0] &= mask[0];
    k.words[1] &= mask[1];
    if (!options_.key_by_port) port = 0;
  } else {
    tag |= peer_entry;
  }
  k.words[2] = (port << 32) | a.scope_id() | tag;
  return k;
}

// Keyed per guard, so that a sender choosing its source ports cannot aim them at one set.
std::uint64_t FloodGuard::hash_of(const Key& key) const noexcept { return siphash13(seed_, key.words); }

FloodGuard::Slot* FloodGuard::find(const Key& key) const noexcept {
  Slot* set = &slots_[(hash_of(key) & set_mask_) * options_.ways];
  for (std::uint32_t i = 0; i < options_.ways; ++i) {
    if (set[i].used && set[i].key == key) return &set[i];
  }
  return nullptr;
}

FloodGuard::Slot* FloodGuard::find_verified(const Address& peer) const noexcept {
  if (verified_entries_ == 0) return nullptr;  // the common case: no second hash
  Slot* s = find(key_of(peer, KeyKind::peer));
  return s != nullptr && s->verified ? s : nullptr;
}

void FloodGuard::release(Slot& s) noexcept {
  if (s.verified) --verified_entries_;
  s = Slot{};
  --tracked_;
  cells_->tracked.store(tracked_, std::memory_order_relaxed);
}

FloodGuard::Slot& FloodGuard::find_or_insert(const Key& key, std::uint64_t now) noexcept {
  Slot* set = &slots_[(hash_of(key) & set_mask_) * options_.ways];
  Slot* free_slot = nullptr;
  Slot* oldest_unverified = nullptr;
  Slot* oldest_verified = nullptr;
  for (std::uint32_t i = 0; i < options_.ways; ++i) {
    Slot& s = set[i];
    if (!s.used) {
      if (free_slot == nullptr) free_slot = &s;
      continue;
    }
    if (s.key == key) {
      s.last_seen_ns = now;
      return s;
    }
    Slot*& oldest = s.verified ? oldest_verified : oldest_unverified;
    if (oldest == nullptr || s.last_seen_ns < oldest->last_seen_ns) oldest = &s;
  }
  Slot* victim = free_slot;
  if (victim == nullptr) {
    victim = oldest_unverified != nullptr ? oldest_unverified : oldest_verified;
    if (victim->verified) --verified_entries_;
    bump(cells_->evictions);
  } else {
    ++tracked_;
    cells_->tracked.store(tracked_, std::memory_order_relaxed);
  }
  bump(cells_->new_sources);
  *victim = Slot{};
  victim->key = key;
  victim->used = true;
  victim->last_seen_ns = now;
  return *victim;
}

bool FloodGuard::admit(Slot& s, std::uint64_t now) noexcept {
  const std::uint64_t interval = s.verified ? verified_interval_ns_ : interval_ns_;
  const std::uint64_t tolerance = s.verified ? verified_tolerance_ns_ : tolerance_ns_;
  if (s.verified && interval == 0) return true;  // verified_rate = 0: unlimited
  const std::uint64_t tat = std::max(s.tat_ns, now);
  if (tat - now > tolerance) return false;
  s.tat_ns = tat + interval;
  return true;
}

template <class Fn>
void FloodGuard::watch_sends(Transport& transport, Fn&& hook) {
  // Sends on the Transport directly cannot be stopped, only seen: the socket's send_requests
  // counter moves for every call, and the guard knows how many of those calls were its own.
  const std::uint64_t before = transport.counters().send_requests;
  guarded_requests_ = 0;
  hook();
  const std::uint64_t direct = transport.counters().send_requests - before - guarded_requests_;
  if (direct != 0) bump(cells_->unguarded_sends, direct);
}

void FloodGuard::on_datagrams(std::span<const Datagram> batch, Transport& transport) {
  if (!inner_) return;
  const std::uint64_t now = now_ns();
  std::uint64_t admitted = 0, admitted_bytes = 0, limited = 0, limited_bytes = 0;
  auto hand_over = [&] {
    if (batch_.empty()) return;
    watch_sends(transport, [&] { inner_->on_datagrams(batch_, transport); });
    batch_.clear();
  };
  for (const Datagram& d : batch) {
    // A verified peer counts against its own entry (and its verified rate); anyone else against
    // its prefix's.
    Slot* verified = find_verified(d.peer);
    if (verified != nullptr) verified->last_seen_ns = now;
    Slot& s = verified != nullptr ? *verified : find_or_insert(key_of(d.peer, KeyKind::prefix), now);
    if (!admit(s, now)) {
      ++limited;
      limited_bytes += d.payload.size();
      continue;
    }
    ++admitted;
    admitted_bytes += d.payload.size();
    if (!s.verified) s.credit = saturating_add(s.credit, std::uint64_t{options_.reply_factor} * d.payload.size());
    batch_.push_back(d);  // within the reserved capacity: never allocates
    if (batch_.size() == options_.max_batch) hand_over();
  }
  // Published before the (last) hand-over so that a protocol (or a test) reading the stats from inside
  // its hook sees its own batch counted.
  bump(cells_->datagrams, batch.size());
  bump(cells_->admitted, admitted);
  bump(cells_->admitted_bytes, admitted_bytes);
  bump(cells_->rate_limited, limited);
  bump(cells_->rate_limited_bytes, limited_bytes);
  hand_over();
}

GuardedSend FloodGuard::send(std::span<const std::byte> payload, const Address& to, Transport& transport) noexcept {
  Slot* const verified_slot = find_verified(to);
  const bool verified = verified_slot != nullptr;
  Slot* s = verified ? verified_slot : find(key_of(to, KeyKind::prefix));
  if (!verified && (s == nullptr || s->credit < payload.size())) {
    bump(cells_->over_budget);
    bump(cells_->over_budget_bytes, payload.size());
    return GuardedSend::over_budget;
  }
  ++guarded_requests_;
  last_transport_result_ = transport.send(payload, to);
  if (last_transport_result_ != SendResult::queued) return GuardedSend::not_queued;
  if (!verified) s->credit -= payload.size();
  bump(cells_->replies);
  bump(cells_->reply_bytes, payload.size());
  return GuardedSend::queued;
}

void FloodGuard::mark_verified(const Address& peer) noexcept {
  const Key key = key_of(peer, KeyKind::peer);
  if (key.words[2] == 0) return;  // not a real address
  // The time of the last reading is good enough for eviction order; a verify outside a batch
  // (on_start) reads the clock itself.
  Slot& s = find_or_insert(key, now_ns());
  if (s.verified) return;
  s.verified = true;
  s.tat_ns = 0;  // the verified rate starts with a full burst
  ++verified_entries_;
  bump(cells_->verified);
}

bool FloodGuard::is_verified(const Address& peer) const noexcept { return find_verified(peer) != nullptr; }

std::uint64_t FloodGuard::reply_budget(const Address& peer) const noexcept {
  if (find_verified(peer) != nullptr) return std::numeric_limits<std::uint64_t>::max();
  const Slot* s = find(key_of(peer, KeyKind::prefix));
  return s == nullptr ? 0 : s->credit;
}

void FloodGuard::forget(const Address& peer) noexcept {
  if (Slot* v = find_verified(peer); v != nullptr) release(*v);
  if (!options_.key_by_port) return;  // the prefix entry is shared with the sender's other ports, or its neighbours
  if (Slot* s = find(key_of(peer, KeyKind::prefix)); s != nullptr) release(*s);
}

void FloodGuard::on_start(Transport& transport) {
  if (inner_) watch_sends(transport, [&] { inner_->on_start(transport); });
}
void FloodGuard::on_writable(Transport& transport) {
  if (inner_) watch_sends(transport, [&] { inner_->on_writable(transport); });
}
void FloodGuard::on_refused(const Address& peer, Transport& transport) {
  if (inner_) watch_sends(transport, [&] { inner_->on_refused(peer, transport); });
}
void FloodGuard::on_unreachable(const Address& peer, std::error_code why, Transport& transport) {
  if (inner_) watch_sends(transport, [&] { inner_->on_unreachable(peer, why, transport); });
}
void FloodGuard::on_path_mtu(const Address& peer, unsigned mtu, Transport& transport) {
  if (inner_) watch_sends(transport, [&] { inner_->on_path_mtu(peer, mtu, transport); });
}
void FloodGuard::on_error(std::error_code error, Transport& transport) {
  if (inner_) watch_sends(transport, [&] { inner_->on_error(error, transport); });
}
void FloodGuard::on_stop() {
  if (inner_) inner_->on_stop();
}

Result<ProtocolFactory> flood_guarded(const FloodGuardOptions& options, GuardedProtocolFactory inner,
                                      std::shared_ptr<FloodGuardMonitor> monitor) {
  if (auto ok = check_flood_guard_options(options); !ok) return ok.error();
  if (!inner) return Error::make(Errc::invalid_state, "flood guard: no protocol factory to guard");
  return ProtocolFactory([options, inner = std::move(inner), monitor](unsigned worker) -> std::unique_ptr<Protocol> {
    auto guard = std::make_unique<FloodGuard>(options, monitor);
    auto protocol = inner(worker, *guard);
    if (!protocol) return nullptr;  // listen() reports "the protocol factory returned no protocol"
    guard->set_inner(std::move(protocol));
    return guard;
  });
}

}  // namespace salvo
