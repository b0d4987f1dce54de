#include "datapath/send_channel_ring.hpp"

#include <cerrno>
#include <string>

namespace salvo::detail {

Result<void> SendChannelRing::init(std::uint32_t slots, std::uint32_t slot_bytes) {
  if (slots < min_slots || slots > max_slots || (slots & (slots - 1)) != 0) {
    return Error::make(Errc::bad_option, "send channel slots must be a power of two from " +
                                             std::to_string(min_slots) + " to " + std::to_string(max_slots) +
                                             ", not " + std::to_string(slots));
  }
  if (slot_bytes == 0 || slot_bytes > max_slot_bytes) {
    return Error::make(Errc::bad_option, "send channel slot size must be from 1 to " +
                                             std::to_string(max_slot_bytes) + " bytes, not " +
                                             std::to_string(slot_bytes));
  }
  // Whole cache lines per slot, so that a producer filling one slot never shares a line with the
  // consumer reading its neighbour.
  const std::size_t stride = (payload_offset + slot_bytes + cache_line - 1) / cache_line * cache_line;
  const std::size_t total = stride * slots;
  auto* raw = static_cast<std::byte*>(::operator new(total, std::align_val_t{cache_line}, std::nothrow));
  if (raw == nullptr) {
    return Error::from_errno(ENOMEM, "send channel of " + std::to_string(slots) + " slots of " +
                                         std::to_string(slot_bytes) + " bytes (" + std::to_string(total) +
                                         " bytes)");
  }
  memory_.reset(raw);
  stride_ = stride;
  mask_ = slots - 1;
  slots_ = slots;
  slot_bytes_ = slot_bytes;
  // Position i is free in slot i during the first lap.
  for (std::uint32_t i = 0; i < slots; ++i) ::new (slot_memory(i)) Header{{i}, 0, Address{}};
  tail_.store(0, std::memory_order_relaxed);
  head_.store(0, std::memory_order_relaxed);
  wake_needed_.store(true, std::memory_order_relaxed);
  closed_.store(false, std::memory_order_relaxed);
  return {};
}

SendChannelRing::PushResult SendChannelRing::push(std::span<const std::byte> payload, const Address& to) noexcept {
  if (closed_.load(std::memory_order_acquire)) return {Push::closed, false};
  if (payload.size() > slot_bytes_) return {Push::too_large, false};
  std::uint64_t position = tail_.load(std::memory_order_relaxed);
  Header* h = nullptr;
  for (;;) {
    h = &header(position);
    const std::uint64_t sequence = h->sequence.load(std::memory_order_acquire);
    const auto lag = static_cast<std::int64_t>(sequence - position);
    if (lag == 0) {
      // The slot is free for this position: claim it. On failure `position` is reloaded.
      if (tail_.compare_exchange_strong(position, position + 1, std::memory_order_relaxed)) break;
    } else if (lag < 0) {
      // The slot still holds the entry from the previous lap: the consumer is a whole ring behind.
      return {Push::full, false};
    } else {
      // Another producer claimed this position since tail_ was read.
      position = tail_.load(std::memory_order_relaxed);
    }
  }
  if (!payload.empty()) std::memcpy(slot_memory(position) + payload_offset, payload.data(), payload.size());
  h->length = static_cast<std::uint32_t>(payload.size());
  h->to = to;
  h->sequence.store(position + 1, std::memory_order_seq_cst);
  // Load before exchanging: during a burst the flag is false and stays in every producer's cache.
  const bool wake = wake_needed_.load(std::memory_order_seq_cst) &&
                    wake_needed_.exchange(false, std::memory_order_seq_cst);
  return {Push::queued, wake};
}

bool SendChannelRing::empty() const noexcept {
  if (memory_ == nullptr) return true;
  const std::uint64_t position = head_.load(std::memory_order_relaxed);
  return header(position).sequence.load(std::memory_order_acquire) != position + 1;
}

}  // namespace salvo::detail
