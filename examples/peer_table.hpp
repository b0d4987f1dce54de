// PeerTable: the peers a server has heard from recently, each in a numbered slot with the timer that
// will expire it (chat_relay's peers, ticker's clients). Every array is allocated at construction:
// adding, finding and removing a peer never allocate and take O(1) steps, so the table can be used
// for every datagram of a busy socket.
//
// A slot's number stays the same while its peer is in the table, so a timer may capture it; the
// slots in use are also kept in a dense list (active()) for the server to walk when it sends to
// everyone. Finding a peer by address goes through an open-addressing index (linear probing,
// backward-shift removal, so no tombstones pile up), at most half full.
//
// Threading: none; a table belongs to the one protocol (one worker) that uses it.
#pragma once

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include <salvo/salvo.hpp>

namespace examples {

class PeerTable {
 public:
  static constexpr std::uint32_t npos = UINT32_MAX;

  explicit PeerTable(std::uint32_t capacity)
      : addresses_(capacity),
        timers_(capacity),
        positions_(capacity, npos),
        index_(std::bit_ceil(std::max<std::uint32_t>(2 * capacity, 2)), npos),
        mask_(static_cast<std::uint32_t>(index_.size() - 1)) {
    active_.reserve(capacity);
    free_.reserve(capacity);
    for (std::uint32_t slot = capacity; slot > 0; --slot) free_.push_back(slot - 1);  // slot 0 first
  }

  std::uint32_t capacity() const noexcept { return static_cast<std::uint32_t>(addresses_.size()); }
  std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(active_.size()); }
  bool full() const noexcept { return free_.empty(); }

  // The slot of `peer`, or npos when it is not in the table.
  std::uint32_t find(const salvo::Address& peer) const noexcept {
    for (std::uint32_t i = home(peer);; i = (i + 1) & mask_) {
      const std::uint32_t slot = index_[i];
      if (slot == npos) return npos;
      if (addresses_[slot] == peer) return slot;
    }
  }

  // Puts `peer` (not in the table) into a free slot; npos when the table is full.
  std::uint32_t add(const salvo::Address& peer) noexcept {
    if (free_.empty()) return npos;
    const std::uint32_t slot = free_.back();
    free_.pop_back();
    addresses_[slot] = peer;
    timers_[slot] = {};
    positions_[slot] = size();
    active_.push_back(slot);  // within the reserved capacity: no allocation
    std::uint32_t i = home(peer);
    while (index_[i] != npos) i = (i + 1) & mask_;
    index_[i] = slot;
    return slot;
  }

  // Frees `slot` (in use). Its timer is the caller's to cancel, if it is still pending.
  void remove(std::uint32_t slot) noexcept {
    unindex(slot);
    const std::uint32_t position = positions_[slot];
    const std::uint32_t last = active_.back();
    active_[position] = last;  // order does not matter: the last one fills the hole
    positions_[last] = position;
    active_.pop_back();
    positions_[slot] = npos;
    free_.push_back(slot);
  }

  const salvo::Address& address(std::uint32_t slot) const noexcept { return addresses_[slot]; }

  // The slot's expiry timer, as the protocol last scheduled it (a default TimerId: none).
  salvo::TimerId& timer(std::uint32_t slot) noexcept { return timers_[slot]; }

  // (Re)starts the slot's expiry: its pending timer is cancelled and `expire` is scheduled `after`
  // from now on a timer the socket owns, so that it goes with the socket. False when the reactor
  // refused the timer (its table is full); the slot then has none.
  bool expire_after(std::uint32_t slot, salvo::Transport& transport, std::chrono::steady_clock::duration after,
                    salvo::TimerCallback expire) noexcept {
    transport.reactor().cancel(timers_[slot]);  // harmless when it already fired or there is none
    auto scheduled = transport.call_later(after, std::move(expire));
    timers_[slot] = scheduled ? *scheduled : salvo::TimerId{};
    return static_cast<bool>(scheduled);
  }

  // The slots in use, in no particular order; invalidated by add and remove.
  std::span<const std::uint32_t> active() const noexcept { return active_; }

 private:
  std::uint32_t home(const salvo::Address& peer) const noexcept {
    return static_cast<std::uint32_t>(peer.hash()) & mask_;
  }

  // Takes `slot` out of the index, moving back the entries after it that probed past its place,
  // so that every lookup still finds its peer before an empty entry.
  void unindex(std::uint32_t slot) noexcept {
    std::uint32_t hole = home(addresses_[slot]);
    while (index_[hole] != slot) hole = (hole + 1) & mask_;
    for (std::uint32_t i = (hole + 1) & mask_; index_[i] != npos; i = (i + 1) & mask_) {
      const std::uint32_t wanted = home(addresses_[index_[i]]);
      // The entry at i may move to the hole unless its home lies cyclically in (hole, i].
      const bool stays = hole <= i ? (hole < wanted && wanted <= i) : (hole < wanted || wanted <= i);
      if (stays) continue;
      index_[hole] = index_[i];
      hole = i;
    }
    index_[hole] = npos;
  }

  std::vector<salvo::Address> addresses_;    // by slot
  std::vector<salvo::TimerId> timers_;       // by slot
  std::vector<std::uint32_t> positions_;     // by slot: where it is in active_, npos when free
  std::vector<std::uint32_t> active_;        // the slots in use
  std::vector<std::uint32_t> free_;          // the slots not in use
  std::vector<std::uint32_t> index_;         // open addressing: slot numbers, npos for empty
  std::uint32_t mask_;
};

}  // namespace examples
