#include "buffer_ring.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace salvo::detail {

BufferRing::~BufferRing() {
  if (ring_ != nullptr) {
    if (uring_ != nullptr && uring_->ring_fd >= 0) io_uring_unregister_buf_ring(uring_, group_id);
    ::munmap(ring_, mapped_bytes_);
  }
}

Result<void> BufferRing::init(io_uring& uring, const BufferPool& pool, std::uint32_t length) {
  length_ = length < pool.buffer_size() ? length : pool.buffer_size();
  entries_ = 1;
  while (entries_ < pool.count()) entries_ <<= 1;
  mapped_bytes_ = entries_ * sizeof(io_uring_buf);
  void* mem = ::mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) return Error::from_errno(errno, "mmap of the io_uring buffer ring");
  ring_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(ring_);

  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(ring_);
  reg.ring_entries = entries_;
  reg.bgid = group_id;
  if (int ret = io_uring_register_buf_ring(&uring, &reg, 0); ret != 0) {
    ::munmap(ring_, mapped_bytes_);
    ring_ = nullptr;
    return Error::from_errno(-ret, "register io_uring provided-buffer ring");
  }
  uring_ = &uring;
  pool_ = &pool;
  mask_ = io_uring_buf_ring_mask(entries_);
  for (std::uint32_t id = 0; id < pool.count(); ++id) give_back(static_cast<std::uint16_t>(id));
  publish();
  return {};
}

}  // namespace salvo::detail
