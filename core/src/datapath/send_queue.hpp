// SendQueue: a socket's bounded queue of datagrams waiting to be sent.
//
// Transport::send copies the payload into the queue; the backend hands entries to the kernel from
// the front, in messages (one datagram, or a GSO run of several), and pops what the kernel is done
// with. The storage comes from the worker's SendPool (send_pool.hpp) in segments: an empty queue
// holds none, a segment goes back to the pool as soon as its last entry is popped. A queue is
// bounded twice: by its own limits (EngineOptions::send_queue_entries and send_queue_bytes, the
// payload bytes queued), and by what the pool has left. Either refuses; the queue never blocks.
//
// Entries of one segment are consecutive in memory, and so are their iovecs and scratch, so that a
// message's entries (a message never leaves its segment: run_from) can go to the kernel as they are.
// Owned and used by one worker thread: no synchronisation.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "datapath/send_entry.hpp"
#include "datapath/send_pool.hpp"
#include "salvo/address.hpp"
#include "salvo/error.hpp"

namespace salvo::detail {

class SendQueue {
 public:
  using Entry = SendEntry;

  SendQueue() = default;
  ~SendQueue() { clear(); }
  SendQueue(const SendQueue&) = delete;
  SendQueue& operator=(const SendQueue&) = delete;

  // Limits, checked; nothing is reserved. The pool must outlive the queue.
  Result<void> init(SendPool& pool, std::uint32_t max_entries, std::uint32_t max_bytes);

  // Copies payload in; false when a limit or the pool refuses (the caller counts the refusal).
  bool push(std::span<const std::byte> payload, const Address& to, const SendMeta& meta = {}) noexcept;

  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t capacity() const noexcept { return max_entries_; }
  std::size_t room() const noexcept { return max_entries_ - count_; }
  // How many more payloads of `size` bytes push() would accept right now.
  std::size_t room_for(std::size_t size) const noexcept;

  // The oldest entry; the queue must not be empty.
  Entry& front() const noexcept { return pool_->entries(head_)[pool_->state(head_).begin]; }
  // How many entries from `e` (included) to the end of what its segment holds: the most one
  // message starting at `e` may carry.
  std::size_t run_from(const Entry& e) const noexcept {
    const std::uint32_t seg = pool_->segment_of(e);
    return pool_->state(seg).end - pool_->index_in_segment(e);
  }
  // The entry `n` places after `e` (n <= run_from(e)), or null past the newest.
  Entry* after(const Entry& e, std::size_t n) const noexcept {
    const std::uint32_t seg = pool_->segment_of(e);
    if (n < run_from(e)) return const_cast<Entry*>(&e) + n;
    const std::uint32_t next = pool_->state(seg).next;
    return next == SendPool::none ? nullptr : pool_->entries(next) + pool_->state(next).begin;
  }

  std::byte* payload(const Entry& e) const noexcept { return static_cast<std::byte*>(iov(e)->iov_base); }
  // The payload as an iovec; the entries of a run have consecutive iovecs.
  iovec* iov(const Entry& e) const noexcept { return pool_->iovecs(pool_->segment_of(e)) + pool_->index_in_segment(e); }
  // The payloads of the `run` entries from `e` (a message: run <= run_from(e)) as one iovec: a
  // segment's payloads lie one after the other, so a GSO message can hand the kernel one span
  // instead of an iovec per datagram, which the kernel copies from at a fraction of the cost.
  iovec run_span(const Entry& e, std::size_t run) const noexcept {
    const iovec* first = iov(e);
    const iovec& last = first[run - 1];
    return {first->iov_base, static_cast<std::size_t>(static_cast<std::byte*>(last.iov_base) + last.iov_len -
                                                     static_cast<std::byte*>(first->iov_base))};
  }
  // The backend's scratch beside the entry (SendPool's scratch_bytes of it).
  template <class T>
  T& scratch(const Entry& e) const noexcept {
    return *reinterpret_cast<T*>(pool_->scratch(pool_->segment_of(e)) + std::size_t{pool_->index_in_segment(e)} * pool_->scratch_bytes());
  }
  // A number that finds the entry again (in a completion's user data), unique in the worker.
  std::uint32_t slot_of(const Entry& e) const noexcept {
    return pool_->segment_of(e) * SendPool::entries_per_segment + pool_->index_in_segment(e);
  }
  Entry& at_slot(std::uint32_t slot) const noexcept {
    return pool_->entries(slot / SendPool::entries_per_segment)[slot % SendPool::entries_per_segment];
  }

  // Releases the n oldest entries, and the segments they emptied.
  void pop(std::size_t n) noexcept {
    if (n >= count_) {
      clear();
    } else {
      pop_some(n);
    }
  }
  // Everything (a flush that sent it all, a close): every segment back, no entry looked at.
  void clear() noexcept {
    for (std::uint32_t seg = head_; seg != SendPool::none;) {
      const std::uint32_t next = pool_->state(seg).next;
      pool_->release(seg);
      seg = next;
    }
    head_ = tail_ = SendPool::none;
    tail_state_ = nullptr;
    tail_base_ = nullptr;
    count_ = 0;
    bytes_ = 0;
  }

 private:
  void pop_some(std::size_t n) noexcept;  // n < size()
  bool open_segment() noexcept;  // a new tail segment from the pool

  SendPool* pool_ = nullptr;
  std::uint32_t head_ = SendPool::none;  // oldest segment
  std::uint32_t tail_ = SendPool::none;  // newest segment: pushes go here
  SendPool::SegmentState* tail_state_ = nullptr;  // the tail's state and memory, at hand for push
  std::byte* tail_base_ = nullptr;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
  std::uint32_t max_entries_ = 0;
  std::uint32_t max_bytes_ = 0;
  std::uint64_t pushed_ = 0;
};

}  // namespace salvo::detail
