// BufferPool: a worker's receive buffers, allocated once at start-up in one block.
//
// Slots are equal-sized and addressed by index, so that the io_uring backend can hand them to the
// kernel as a provided-buffer ring (buffer id == slot index) and the epoll backend can point a
// recvmmsg batch at them. take/give keep a free list for backends that lend slots out themselves.
// Owned and used by one worker thread: no synchronisation.
#pragma once

#include <cstddef>
#include <cstdint>
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
  std::byte* base() const noexcept { return base_; }

  // Free-list use: take one slot (false when none is free), give it back later.
  bool take(std::uint32_t& index) noexcept {
    if (free_top_ == 0) return false;
    index = free_[--free_top_];
    return true;
  }
  void give(std::uint32_t index) noexcept { free_[free_top_++] = index; }
  std::uint32_t available() const noexcept { return free_top_; }

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
