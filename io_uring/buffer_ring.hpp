// BufferRing: the worker's receive buffers offered to the kernel as an io_uring provided-buffer
// ring (IORING_REGISTER_PBUF_RING). The kernel picks a buffer per received datagram and names it
// by id in the completion; the id is the BufferPool slot index. Buffers go back to the ring only
// after the protocol's on_datagrams has returned, in one release-store per round.
// Owned and used by one worker thread.
#pragma once

#include <liburing.h>

#include <cstdint>

#include "datapath/buffer_pool.hpp"
#include "salvo/error.hpp"

namespace salvo::detail {

class BufferRing {
 public:
  static constexpr std::uint16_t group_id = 0;

  BufferRing() = default;
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  // Registers a ring sized to the next power of two of the pool and offers every slot, each as
  // `length` bytes (at most the slot size).
  Result<void> init(io_uring& ring, const BufferPool& pool, std::uint32_t length);

  // Queue a buffer to go back; publish() makes the queued ones visible to the kernel.
  void give_back(std::uint16_t id) noexcept {
    io_uring_buf_ring_add(ring_, pool_->slot(id), length_, id, mask_, pending_);
    ++pending_;
  }
  void publish() noexcept {
    if (pending_ == 0) return;
    io_uring_buf_ring_advance(ring_, pending_);
    in_kernel_ += static_cast<std::uint32_t>(pending_);
    pending_ = 0;
  }
  void taken_by_kernel() noexcept { --in_kernel_; }
  std::uint32_t in_kernel() const noexcept { return in_kernel_; }

 private:
  io_uring* uring_ = nullptr;
  io_uring_buf_ring* ring_ = nullptr;
  const BufferPool* pool_ = nullptr;
  std::size_t mapped_bytes_ = 0;
  std::uint32_t length_ = 0;
  unsigned entries_ = 0;
  int mask_ = 0;
  int pending_ = 0;
  std::uint32_t in_kernel_ = 0;
};

}  // namespace salvo::detail
