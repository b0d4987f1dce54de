// OwnerIndex: the TimerWheel's map from an owner tag (an opaque 32-bit value, e.g. a socket slot)
// to the first timer of that owner's intrusive list, so that cancel_owned_by costs only that
// owner's timers. A fixed open-addressing table (linear probing, deletion by backward shift, so no
// tombstones pile up) sized once at init for the most owners there can be; it never allocates
// afterwards. Used by the TimerWheel alone, on its thread.
#pragma once

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstdint>
#include <memory>

namespace salvo::detail {

class OwnerIndex {
 public:
  static constexpr std::uint32_t kNone = 0xffffffff;  // no owner (never a key), no timer

  // Room for `max_owners` keys at a load factor of at most one half.
  void init(std::uint32_t max_owners) {
    const std::uint32_t size = table_size(max_owners);
    shift_ = 64 - std::countr_zero(size);
    mask_ = size - 1;
    entries_ = std::make_unique<Entry[]>(size);
  }

  // What init(max_owners) allocates, in bytes.
  static std::uint64_t table_bytes(std::uint32_t max_owners) noexcept {
    return std::uint64_t{table_size(max_owners)} * sizeof(Entry);
  }

  // The first timer of `owner`, or kNone.
  std::uint32_t find(std::uint32_t owner) const noexcept {
    for (std::uint32_t i = home(owner);; i = (i + 1) & mask_) {
      if (entries_[i].owner == owner) return entries_[i].head;
      if (entries_[i].owner == kNone) return kNone;
    }
  }

  // Inserts or updates; the table has room because every owner has at least one timer.
  void set(std::uint32_t owner, std::uint32_t head) noexcept {
    assert(owner != kNone && head != kNone);
    std::uint32_t i = home(owner);
    while (entries_[i].owner != owner && entries_[i].owner != kNone) i = (i + 1) & mask_;
    entries_[i] = {owner, head};
  }

  void erase(std::uint32_t owner) noexcept {
    std::uint32_t i = home(owner);
    while (entries_[i].owner != owner) {
      if (entries_[i].owner == kNone) return;
      i = (i + 1) & mask_;
    }
    // Pull back each later entry of the run whose home does not lie cyclically in (i, j]:
    // otherwise a lookup for it would stop at the hole.
    for (std::uint32_t j = (i + 1) & mask_; entries_[j].owner != kNone; j = (j + 1) & mask_) {
      const std::uint32_t k = home(entries_[j].owner);
      const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
      if (!stays) {
        entries_[i] = entries_[j];
        i = j;
      }
    }
    entries_[i] = Entry{};
  }

 private:
  struct Entry {
    std::uint32_t owner = kNone;
    std::uint32_t head = kNone;
  };

  // Fibonacci hashing: socket slots are small consecutive numbers, which this spreads out.
  static std::uint32_t table_size(std::uint32_t max_owners) noexcept {
    return std::bit_ceil(std::max<std::uint32_t>(2 * max_owners, 2));
  }

  std::uint32_t home(std::uint32_t owner) const noexcept {
    return static_cast<std::uint32_t>((owner * 0x9e3779b97f4a7c15ull) >> shift_) & mask_;
  }

  std::unique_ptr<Entry[]> entries_;
  std::uint32_t mask_ = 0;
  int shift_ = 63;
};

}  // namespace salvo::detail
