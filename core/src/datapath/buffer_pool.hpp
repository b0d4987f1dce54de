// BufferPool: a worker's receive buffers, allocated once at start-up in one block.
//
// Slots are equal-sized and addressed by index, so that the io_uring backend can hand them to the
// kernel as a provided-buffer ring (buffer id == slot index) and the epoll backend can point a
// recvmmsg batch at them. A free list keeps track of the slots a backend lends out itself (epoll: a
// batch per receive call, see take_batch).
// Owned and used by one worker thread: no synchronisation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "salvo/error.hpp"

namespace salvo::detail {

class BufferPool {
 public:
  BufferPool() = default;
  // Allocates count * size bytes (page aligned, so buffers of page-multiple size stay aligned).
  // Pools of a megabyte or more are mapped 2 MiB aligned and asked for transparent huge pages:
  // the kernel writes every received datagram into a different slot, cycling through the whole
  // pool, and with 4 KiB pages each of those writes (and the protocol's read) needs its own TLB
  // entry. Where THP is off or unavailable the pool simply stays on small pages.
  Result<void> init(std::uint32_t count, std::uint32_t size);
  // Whether the pool got huge pages (for the capability report and tests), read at init.
  bool huge_pages() const noexcept { return huge_pages_; }

  std::uint32_t count() const noexcept { return count_; }
  std::uint32_t buffer_size() const noexcept { return size_; }
  std::byte* slot(std::uint32_t index) const noexcept { return base_ + std::size_t{index} * size_; }

  // Free slots: all of them until slots are taken.
  std::uint32_t available() const noexcept { return free_top_; }

  // Bulk use, for a receive that lends `n` slots (n <= available()) to one system call and has
  // them all back after it: take_batch writes the n slots given most recently to `out`,
  // give_batch puts n back in the order they were taken. Taking n and giving the same n back
  // leaves the free list as it was, so the next take_batch of n hands out the same slots in the
  // same order: a caller may keep what it set up per slot (its iovecs) from one call to the next.
  void take_batch(std::uint32_t* out, std::uint32_t n) noexcept {
    free_top_ -= n;
    std::memcpy(out, free_.data() + free_top_, std::size_t{n} * sizeof(std::uint32_t));
  }
  // The n slots the next take_batch(n) would hand out, in its order, without taking them.
  const std::uint32_t* next_batch(std::uint32_t n) const noexcept { return free_.data() + (free_top_ - n); }
  void give_batch(const std::uint32_t* in, std::uint32_t n) noexcept {
    std::memcpy(free_.data() + free_top_, in, std::size_t{n} * sizeof(std::uint32_t));
    free_top_ += n;
  }

 private:
  struct Unmapper {
    Unmapper() noexcept {}  // user-provided: a nested type's default member initialisers are not
                            // usable until BufferPool is complete, which unique_ptr needs
    explicit Unmapper(std::size_t b) noexcept : bytes(b) {}
    std::size_t bytes = 0;
    void operator()(std::byte* p) const noexcept;
  };
  std::unique_ptr<std::byte, Unmapper> memory_;
  bool huge_pages_ = false;
  std::byte* base_ = nullptr;
  std::uint32_t count_ = 0;
  std::uint32_t size_ = 0;
  std::vector<std::uint32_t> free_;
  std::uint32_t free_top_ = 0;
};

}  // namespace salvo::detail
