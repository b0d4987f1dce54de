#include "datapath/send_queue.hpp"

#include <cstring>
#include <string>

namespace salvo::detail {

Result<void> SendQueue::init(std::uint32_t entries, std::uint32_t bytes) {
  if (entries == 0 || (entries & (entries - 1)) != 0) {
    return Error::make(Errc::bad_option,
                       "send queue entries must be a power of two, not " + std::to_string(entries));
  }
  if (bytes == 0) return Error::make(Errc::bad_option, "send queue needs at least one byte");
  entries_ = std::make_unique<Entry[]>(entries);
  bytes_ = std::make_unique<std::byte[]>(bytes);
  capacity_ = entries;
  mask_ = entries - 1;
  byte_capacity_ = bytes;
  head_ = count_ = 0;
  byte_head_ = byte_tail_ = 0;
  return {};
}

// The byte ring holds payloads contiguously. Free space is [tail, capacity) + [0, head) while the
// used region has not wrapped (tail >= head), and [tail, head) once it has. A payload that does not
// fit before the end wraps to offset 0, leaving the end unused until the ring drains past it.
// Inequalities on the wrapped side are strict so that tail == head always means "no wrap".
bool SendQueue::reserve_bytes(std::uint32_t length, std::uint32_t& offset) noexcept {
  if (count_ == 0) byte_head_ = byte_tail_ = 0;
  if (byte_tail_ >= byte_head_) {
    if (byte_capacity_ - byte_tail_ >= length) {
      offset = byte_tail_;
      byte_tail_ += length;
      return true;
    }
    if (length < byte_head_) {
      offset = 0;
      byte_tail_ = length;
      return true;
    }
    return false;
  }
  if (byte_head_ - byte_tail_ > length) {
    offset = byte_tail_;
    byte_tail_ += length;
    return true;
  }
  return false;
}

bool SendQueue::push(std::span<const std::byte> payload, const Address& to, const SendMeta& meta) noexcept {
  if (count_ == capacity_ || payload.size() > byte_capacity_) return false;
  std::uint32_t offset = 0;
  const auto length = static_cast<std::uint32_t>(payload.size());
  if (!reserve_bytes(length, offset)) return false;
  if (length != 0) std::memcpy(bytes_.get() + offset, payload.data(), length);
  Entry& e = entries_[(head_ + count_) & mask_];
  e.to = to;
  e.offset = offset;
  e.length = length;
  e.meta = meta;
  ++count_;
  return true;
}

std::size_t SendQueue::room_for(std::size_t size) const noexcept {
  const std::size_t entries = room();
  if (size == 0 || entries == 0) return entries;
  // Mirrors reserve_bytes: fill towards the end first, then wrap below the oldest payload.
  std::size_t fits;
  if (count_ == 0) {
    fits = byte_capacity_ / size;
  } else if (byte_tail_ >= byte_head_) {
    fits = (byte_capacity_ - byte_tail_) / size + (byte_head_ == 0 ? 0 : (byte_head_ - 1) / size);
  } else {
    fits = (byte_head_ - byte_tail_ - 1) / size;
  }
  return fits < entries ? fits : entries;
}

void SendQueue::pop(std::size_t n) noexcept {
  if (n == 0) return;
  popped_ += n < count_ ? n : count_;
  if (n >= count_) {
    head_ = (head_ + count_) & mask_;
    count_ = 0;
    byte_head_ = byte_tail_ = 0;
    return;
  }
  // The used bytes now start where the oldest remaining payload starts (0 if it wrapped).
  byte_head_ = entries_[(head_ + n) & mask_].offset;
  head_ = (head_ + n) & mask_;
  count_ -= n;
}

}  // namespace salvo::detail
