// SendPool: one worker's memory for queued sends, shared by all of its sockets.
//
// A socket's send queue holds nothing while it is empty and draws fixed-size segments from this
// pool as datagrams are queued, giving each back as soon as its last datagram is sent: memory
// follows what is queued, not how many sockets are open. A segment holds up to
// entries_per_segment datagrams (their entries, one iovec each, and per-entry scratch of the
// backend's, for state that must live beside a datagram until the kernel is done with it) and
// payload_bytes of payload, room for the largest UDP datagram.
//
// The segments lie in one anonymous mapping of EngineOptions::send_pool_bytes reserved at start:
// only the pages written are backed by memory. Free segments are reused most recently freed first,
// so that a worker keeps writing the same few warm segments. An exhausted pool refuses (the send is
// a counted queue_full); it never grows and never blocks.
//
// Resident memory is bounded by use, not by the worst moment: init() writes the pages that a
// segment's first datagram uses in warm_segments segments, so that ordinary traffic (up to that
// many sockets with something queued at once) runs on memory resident from the start and does not
// add pages each time more sockets than ever before queue at once; trim(), which the worker calls
// once per trim_interval, gives back the pages of free segments beyond those that no queue took
// since the previous trim, so that a burst's memory goes back to the kernel after it is over.
//
// Owned by one worker and used only on its thread (a FakeTransport owns one of its own).
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "datapath/send_entry.hpp"
#include "salvo/error.hpp"

namespace salvo::detail {

class SendPool {
 public:
  static constexpr std::uint32_t entries_per_segment = 64;
  static constexpr std::uint32_t payload_bytes = 65536;
  static constexpr std::uint32_t none = ~std::uint32_t{0};
  // Segments kept touched (in use or free) whatever trim() finds idle, their first pages written
  // by init().
  static constexpr std::uint32_t warm_segments = 32;
  // How often the worker calls trim(): a burst's pages go back one to two intervals after it ends.
  static constexpr std::chrono::seconds trim_interval{1};

  // What a segment holds besides its entries, kept outside the mapping.
  struct SegmentState {
    std::uint32_t next = none;   // the queue's following segment
    std::uint16_t begin = 0;     // first entry still queued
    std::uint16_t end = 0;       // one past the last entry written
    std::uint32_t used_bytes = 0;  // payload bytes written (from the start of the payload area)
  };

  SendPool() = default;
  ~SendPool();
  SendPool(const SendPool&) = delete;
  SendPool& operator=(const SendPool&) = delete;

  // Reserves `limit_bytes` of address space (at least one segment) for segments with
  // `scratch_bytes` of backend scratch per entry. `what` names the owner in errors.
  Result<void> init(std::uint64_t limit_bytes, std::uint32_t scratch_bytes, const std::string& what);

  // The bytes one segment takes (for sizing a limit).
  static std::size_t segment_bytes_for(std::uint32_t scratch_bytes) noexcept;

  // A free segment, emptied, or none when every segment is in use.
  std::uint32_t acquire() noexcept {
    const std::uint32_t s = free_head_;
    if (s == none) return none;
    free_head_ = state_[s].next;
    --free_count_;
    state_[s] = SegmentState{};
    taken_in_[s] = interval_;
    return s;
  }
  void release(std::uint32_t segment) noexcept {
    state_[segment].next = free_head_;
    taken_in_[segment] = interval_;  // in use during this interval: not idle yet
    free_head_ = segment;
    ++free_count_;
  }

  // Gives the kernel back the pages of free segments that sat free since the previous call (no
  // queue took them), as many as are touched beyond warm_segments, the least recently used first.
  // Returns how many segments it gave back. A system call per segment given back, none otherwise.
  std::size_t trim() noexcept;
  // Segments whose pages may be resident: in use, or free but written since init or their last trim.
  // Walks the touched free segments (the stack's top): for trim and tests, never per datagram.
  std::size_t touched_segments() const noexcept { return state_.size() - free_count_ + touched_free(); }

  std::size_t segments() const noexcept { return state_.size(); }
  std::size_t free_segments() const noexcept { return free_count_; }
  std::size_t segment_size() const noexcept { return segment_bytes_; }

  SegmentState& state(std::uint32_t segment) noexcept { return state_[segment]; }
  const SegmentState& state(std::uint32_t segment) const noexcept { return state_[segment]; }
  // A segment is [entries][iovecs][payload][backend scratch], each area on a cache line; the
  // first three are the same for every pool, so that a push needs only the segment's address.
  static constexpr std::size_t iovec_offset = (sizeof(SendEntry) * entries_per_segment + 63) / 64 * 64;
  static constexpr std::size_t payload_offset = iovec_offset + (sizeof(iovec) * entries_per_segment + 63) / 64 * 64;
  static constexpr std::size_t scratch_offset = payload_offset + payload_bytes;
  std::byte* segment_base(std::uint32_t segment) const noexcept { return base_ + std::size_t{segment} * segment_bytes_; }
  SendEntry* entries(std::uint32_t segment) const noexcept {
    return reinterpret_cast<SendEntry*>(base_ + std::size_t{segment} * segment_bytes_);
  }
  iovec* iovecs(std::uint32_t segment) const noexcept { return reinterpret_cast<iovec*>(segment_base(segment) + iovec_offset); }
  std::byte* scratch(std::uint32_t segment) const noexcept { return segment_base(segment) + scratch_offset; }
  std::byte* payload(std::uint32_t segment) const noexcept { return segment_base(segment) + payload_offset; }
  std::uint32_t scratch_bytes() const noexcept { return scratch_bytes_; }

  // The segment an entry lies in, and its place there.
  std::uint32_t segment_of(const SendEntry& e) const noexcept { return e.segment; }
  std::uint32_t index_in_segment(const SendEntry& e) const noexcept { return e.index; }

 private:
  std::byte* base_ = nullptr;
  std::size_t mapped_bytes_ = 0;
  std::size_t segment_bytes_ = 0;
  std::uint32_t scratch_bytes_ = 0;
  std::vector<SegmentState> state_;
  // Per segment, the trim interval in which a queue last took or gave back the segment (interval_);
  // 0: its pages are not resident (never written, or given back by trim since). Apart from
  // state_, which the queues read and write per datagram.
  std::vector<std::uint32_t> taken_in_;
  // How many free segments from the top of the stack are touched (taken_in_ not 0).
  std::size_t touched_free() const noexcept;

  // Free segments, a stack linked through their `next`: the most recently freed on top. The touched
  // ones (written since init or their last trim) are always on top of the untouched ones: release
  // pushes a touched one, acquire pops the top, and trim gives back the deepest touched ones. Those
  // a queue took in the current interval lie above those that sat free all through it, since a
  // segment never popped keeps everything pushed after it above it.
  std::uint32_t free_head_ = none;
  std::size_t free_count_ = 0;
  // The current trim interval, counted from 1; trim() ends it. Stamped into a segment on acquire
  // and release, so that they keep no other books.
  std::uint32_t interval_ = 1;
};

}  // namespace salvo::detail
