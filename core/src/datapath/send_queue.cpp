#include "datapath/send_queue.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

namespace salvo::detail {

Result<void> SendQueue::init(SendPool& pool, std::uint32_t max_entries, std::uint32_t max_bytes) {
  if (max_entries == 0) return Error::make(Errc::bad_option, "send queue needs at least one entry");
  if (max_bytes == 0) return Error::make(Errc::bad_option, "send queue needs at least one byte");
  clear();
  pool_ = &pool;
  max_entries_ = max_entries;
  max_bytes_ = max_bytes;
  return {};
}

bool SendQueue::open_segment() noexcept {
  const std::uint32_t seg = pool_->acquire();
  if (seg == SendPool::none) return false;
  if (tail_ == SendPool::none) {
    head_ = seg;
  } else {
    pool_->state(tail_).next = seg;
  }
  tail_ = seg;
  tail_state_ = &pool_->state(seg);
  tail_base_ = pool_->segment_base(seg);
  return true;
}

bool SendQueue::push(std::span<const std::byte> payload, const Address& to, const SendMeta& meta) noexcept {
  const std::size_t length = payload.size();
  if (count_ == max_entries_ || length > max_bytes_ - bytes_ || length > SendPool::payload_bytes) return false;
  // A payload goes where the tail segment's payload ends; when it (or its entry) does not fit, the
  // queue moves on to a new segment and the rest of the old one stays unused.
  if (tail_state_ == nullptr || tail_state_->end == SendPool::entries_per_segment ||
      SendPool::payload_bytes - tail_state_->used_bytes < length) {
    if (!open_segment()) return false;
  }
  SendPool::SegmentState& st = *tail_state_;
  const std::uint32_t i = st.end;
  std::byte* const base = tail_base_;
  std::byte* at = base + SendPool::payload_offset + st.used_bytes;
  if (length != 0) std::memcpy(at, payload.data(), length);
  new (reinterpret_cast<Entry*>(base) + i) Entry{to, static_cast<std::uint32_t>(length), meta, tail_, static_cast<std::uint16_t>(i), pushed_++};
  reinterpret_cast<iovec*>(base + SendPool::iovec_offset)[i] = {at, length};
  st.used_bytes += static_cast<std::uint32_t>(length);
  ++st.end;
  ++count_;
  bytes_ += length;
  return true;
}

std::size_t SendQueue::room_for(std::size_t size) const noexcept {
  if (pool_ == nullptr || size > SendPool::payload_bytes) return 0;
  std::size_t fits = room();
  if (size != 0) fits = std::min(fits, (max_bytes_ - bytes_) / size);
  if (fits == 0) return 0;
  // Mirrors push: what the tail segment has left, then whole segments from the pool.
  const std::size_t per_segment = size == 0 ? SendPool::entries_per_segment
                                            : std::min<std::size_t>(SendPool::entries_per_segment, SendPool::payload_bytes / size);
  std::size_t in_tail = 0;
  if (tail_ != SendPool::none) {
    const SendPool::SegmentState& st = pool_->state(tail_);
    in_tail = SendPool::entries_per_segment - st.end;
    if (size != 0) in_tail = std::min<std::size_t>(in_tail, (SendPool::payload_bytes - st.used_bytes) / size);
  }
  const std::size_t from_pool = pool_->free_segments() >= fits ? fits : pool_->free_segments() * per_segment;
  return std::min(fits, in_tail + std::min(fits, from_pool));
}

void SendQueue::pop_some(std::size_t n) noexcept {
  while (n > 0) {
    SendPool::SegmentState& st = pool_->state(head_);
    const std::size_t here = std::min<std::size_t>(n, st.end - st.begin);
    const Entry* e = pool_->entries(head_) + st.begin;
    for (std::size_t i = 0; i < here; ++i) bytes_ -= e[i].length;
    st.begin = static_cast<std::uint16_t>(st.begin + here);
    count_ -= here;
    n -= here;
    // A segment is done once everything written to it is popped and nothing more will be: it is
    // not the tail, or it is and the queue is empty.
    if (st.begin == st.end && (head_ != tail_ || count_ == 0)) {
      const std::uint32_t next = st.next;
      pool_->release(head_);
      if (head_ == tail_) {
        head_ = tail_ = SendPool::none;
      } else {
        head_ = next;
      }
    }
  }
}

}  // namespace salvo::detail
