#include "impair/client_table.hpp"

#include <sys/random.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <random>

#include "salvo/siphash.hpp"

namespace salvo::cli {

namespace {

AddressHashKey draw_key() {
  std::array<std::uint64_t, 2> words{};
  auto* out = reinterpret_cast<unsigned char*>(words.data());
  std::size_t got = 0;
  while (got < sizeof words) {
    const ssize_t n = getrandom(out + got, sizeof words - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      // No getrandom (a kernel before 3.17, or a seccomp filter): the library's source instead.
      std::random_device rd;
      for (std::uint64_t& w : words) w = (std::uint64_t{rd()} << 32) ^ rd();
      break;
    }
  }
  return {words[0], words[1]};
}


}  // namespace

AddressHashKey process_hash_key() {
  static const AddressHashKey key = draw_key();  // thread-safe, once
  return key;
}

std::uint64_t keyed_hash(const Address& address, const AddressHashKey& key) noexcept {
  // The sockaddr bytes operator== compares, zero-padded to four words.
  std::array<std::uint64_t, 4> words{};
  static_assert(sizeof words >= Address::sockaddr_capacity);
  std::memcpy(words.data(), address.sockaddr_data(), address.sockaddr_size());
  const std::uint64_t k[2] = {key.k0, key.k1};
  return siphash13(k, words);
}

ClientTable::ClientTable(std::uint32_t capacity, std::chrono::nanoseconds idle_timeout, AddressHashKey key)
    : capacity_(capacity),
      idle_timeout_(idle_timeout),
      key_(key),
      client_(capacity),
      last_active_(capacity),
      in_use_(capacity, 0),
      newer_(capacity, none),
      older_(capacity, none) {
  free_.reserve(capacity);
  for (std::uint32_t s = capacity; s > 0; --s) free_.push_back(s - 1);  // slot 0 is taken first
  const std::size_t size = std::bit_ceil(std::max<std::size_t>(2 * std::size_t{capacity}, 8));
  index_.assign(size, 0);
  mask_ = size - 1;
}

std::size_t ClientTable::find_index(const Address& a) const noexcept {
  // The table is never more than half full, so an empty entry always ends the probe.
  for (std::size_t i = home(a);; i = (i + 1) & mask_) {
    const std::uint32_t e = index_[i];
    if (e == 0 || client_[e - 1] == a) return i;
  }
}

std::uint32_t ClientTable::find(const Address& client) const noexcept {
  const std::uint32_t e = index_[find_index(client)];
  return e == 0 ? none : e - 1;
}

const Address* ClientTable::client_of(std::uint32_t slot) const noexcept {
  return slot < capacity_ && in_use_[slot] ? &client_[slot] : nullptr;
}

void ClientTable::unlink(std::uint32_t slot) noexcept {
  const std::uint32_t n = newer_[slot], o = older_[slot];
  if (n != none) older_[n] = o; else head_ = o;
  if (o != none) newer_[o] = n; else tail_ = n;
  newer_[slot] = older_[slot] = none;
}

void ClientTable::push_front(std::uint32_t slot) noexcept {
  newer_[slot] = none;
  older_[slot] = head_;
  if (head_ != none) newer_[head_] = slot;
  head_ = slot;
  if (tail_ == none) tail_ = slot;
}

void ClientTable::touch(std::uint32_t slot, time_point now) noexcept {
  if (slot >= capacity_ || !in_use_[slot]) return;
  last_active_[slot] = now;
  if (head_ != slot) {
    unlink(slot);
    push_front(slot);
  }
}

void ClientTable::erase_slot(std::uint32_t slot) noexcept {
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  std::size_t hole = find_index(client_[slot]);
  index_[hole] = 0;
  for (std::size_t i = (hole + 1) & mask_; index_[i] != 0; i = (i + 1) & mask_) {
    const std::size_t want = home(client_[index_[i] - 1]);
    // Move the entry into the hole unless its home lies cyclically in (hole, i].
    const bool stays = hole <= i ? (hole < want && want <= i) : (hole < want || want <= i);
    if (!stays) {
      index_[hole] = index_[i];
      index_[i] = 0;
      hole = i;
    }
  }
  unlink(slot);
  in_use_[slot] = 0;
  client_[slot] = Address();
  free_.push_back(slot);
  --active_;
}

std::uint32_t ClientTable::expire(time_point now) noexcept {
  std::uint32_t freed = 0;
  while (tail_ != none && now - last_active_[tail_] >= idle_timeout_) {
    if (on_expire_) on_expire_(tail_);
    erase_slot(tail_);
    ++expired_;
    ++freed;
  }
  return freed;
}

std::uint32_t ClientTable::admit(const Address& client, time_point now) noexcept {
  std::size_t i = find_index(client);
  if (index_[i] != 0) {
    const std::uint32_t slot = index_[i] - 1;
    touch(slot, now);
    return slot;
  }
  if (free_.empty()) {
    if (tail_ == none || now - last_active_[tail_] < idle_timeout_) {
      ++refused_;
      return none;
    }
    if (on_expire_) on_expire_(tail_);
    erase_slot(tail_);
    ++expired_;
    i = find_index(client);  // the deletion may have moved entries
  }
  const std::uint32_t slot = free_.back();
  free_.pop_back();
  client_[slot] = client;
  in_use_[slot] = 1;
  last_active_[slot] = now;
  index_[i] = slot + 1;
  push_front(slot);
  ++active_;
  ++admitted_;
  peak_before_admit_ = peak_;
  if (active_ > peak_) peak_ = active_;
  return slot;
}

void ClientTable::withdraw(std::uint32_t slot) noexcept {
  if (slot >= capacity_ || !in_use_[slot]) return;
  erase_slot(slot);
  --admitted_;
  peak_ = peak_before_admit_;
}

}  // namespace salvo::cli
