// ClientTable: which client (source address) of salvo impair holds which slot; the proxy gives
// each slot's client its own upstream socket, opened when the client is admitted and closed when it
// expires.
//
// The capacity (--max-clients) is fixed at construction, and so are the arrays: a few dozen bytes
// per slot, nothing per client beyond that. Lookups use open addressing: no allocation, lock or
// system call per datagram. Slots are kept in order of last activity, so finding idle ones to
// expire is O(1) per expiry.
//
// The index hashes client addresses with a secret key (SipHash-1-3, keyed once per process by
// default): a client chooses its own source port, and with an unkeyed hash it could pick addresses
// that all land on one probe chain and make every lookup walk it.
//
// A client new to a full table takes the least recently active slot if that one has been idle for
// idle_timeout; otherwise it is refused (counted) and the table does not grow. Whoever holds
// per-slot state (the proxy's upstream sockets) learns of every expiry through on_expire.
//
// One thread (impair's single worker).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "salvo/address.hpp"

namespace salvo::cli {

// The secret of the index's hash.
struct AddressHashKey {
  std::uint64_t k0 = 0, k1 = 0;
};

// This process's key: drawn from getrandom at the first call (impair's start, when it makes its
// table), the same on every later call. Any thread.
AddressHashKey process_hash_key();

// SipHash-1-3 under `key` of the bytes that Address's operator== compares (equal addresses hash
// alike).
std::uint64_t keyed_hash(const Address& address, const AddressHashKey& key) noexcept;

class ClientTable {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  static constexpr std::uint32_t none = ~std::uint32_t{0};

  // `key`: the index's hash key; tests pass their own.
  ClientTable(std::uint32_t capacity, std::chrono::nanoseconds idle_timeout, AddressHashKey key = process_hash_key());

  // Called with a slot whose client expires (in expire(), or in admit() taking an idle slot for a
  // newcomer), while client_of(slot) still names it and before the slot is reused.
  void on_expire(std::function<void(std::uint32_t slot)> fn) { on_expire_ = std::move(fn); }

  // The slot serving `client`, admitting it if new (into a free slot, or one idle for the
  // timeout, which expires first); none when the table is full. Marks the slot active at `now`.
  std::uint32_t admit(const Address& client, time_point now) noexcept;
  // Takes back the admission admit() just made for a new client that cannot be served after all
  // (no upstream socket for it): the slot is free again, and neither the admission nor the peak
  // it may have set counts. Not an expiry: on_expire is not called.
  void withdraw(std::uint32_t slot) noexcept;
  // The slot serving `client`, or none; changes nothing.
  std::uint32_t find(const Address& client) const noexcept;
  // The client a slot serves, or nullptr when the slot is free.
  const Address* client_of(std::uint32_t slot) const noexcept;
  // Traffic for the slot's client (either direction) keeps it from expiring.
  void touch(std::uint32_t slot, time_point now) noexcept;
  // Frees every slot idle for idle_timeout at `now`; returns how many it freed.
  std::uint32_t expire(time_point now) noexcept;

  std::uint32_t capacity() const noexcept { return capacity_; }
  std::uint32_t active() const noexcept { return active_; }
  std::uint32_t peak() const noexcept { return peak_; }
  std::uint64_t admitted() const noexcept { return admitted_; }
  std::uint64_t expired() const noexcept { return expired_; }
  std::uint64_t refused() const noexcept { return refused_; }  // datagrams from clients refused

 private:
  std::size_t home(const Address& a) const noexcept { return keyed_hash(a, key_) & mask_; }
  std::size_t find_index(const Address& a) const noexcept;  // hash index holding a, or an empty one
  void erase_slot(std::uint32_t slot) noexcept;
  void unlink(std::uint32_t slot) noexcept;
  void push_front(std::uint32_t slot) noexcept;

  std::uint32_t capacity_;
  std::chrono::nanoseconds idle_timeout_;
  AddressHashKey key_;

  // Per slot.
  std::vector<Address> client_;
  std::vector<time_point> last_active_;
  std::vector<std::uint8_t> in_use_;
  std::vector<std::uint32_t> newer_, older_;  // activity list, most recent at head_
  std::uint32_t head_ = none, tail_ = none;
  std::vector<std::uint32_t> free_;           // stack of free slots

  // Open addressing with linear probing: slot + 1, 0 = empty. Twice the capacity, at least.
  std::vector<std::uint32_t> index_;
  std::size_t mask_ = 0;

  std::function<void(std::uint32_t)> on_expire_;
  std::uint32_t active_ = 0, peak_ = 0;
  std::uint32_t peak_before_admit_ = 0;  // what withdraw() restores
  std::uint64_t admitted_ = 0, expired_ = 0, refused_ = 0;
};

}  // namespace salvo::cli
