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
  Result<void> init(std::uint32_t count, std::uint32_t size);

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
  struct FreeDeleter {
    void operator()(std::byte* p) const noexcept;
  };
  std::unique_ptr<std::byte, FreeDeleter> memory_;
  std::byte* base_ = nullptr;
  std::uint32_t count_ = 0;
  std::uint32_t size_ = 0;
  std::vector<std::uint32_t> free_;
  std::uint32_t free_top_ = 0;
};

}  // namespace salvo::detail
