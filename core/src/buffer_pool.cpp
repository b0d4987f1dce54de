#include "buffer_pool.hpp"

#include <cstdlib>
#include <cstring>
#include <string>

namespace salvo::detail {

void BufferPool::FreeDeleter::operator()(std::byte* p) const noexcept { std::free(p); }

Result<void> BufferPool::init(std::uint32_t count, std::uint32_t size) {
  if (count == 0 || size == 0) {
    return Error::make(Errc::bad_option, "buffer pool needs at least one buffer of at least one byte");
  }
  constexpr std::size_t page = 4096;
  std::size_t bytes = std::size_t{count} * size;
  bytes = (bytes + page - 1) / page * page;
  void* p = std::aligned_alloc(page, bytes);
  if (p == nullptr) {
    return Error::make(Errc::bad_option, "cannot allocate " + std::to_string(bytes) +
                                             " bytes of receive buffers");
  }
  // Touch every page now, so that the first flood does not pay page faults on the data path.
  std::memset(p, 0, bytes);
  memory_.reset(static_cast<std::byte*>(p));
  base_ = memory_.get();
  count_ = count;
  size_ = size;
  free_.resize(count);
  // Lowest indexes on top: a lightly loaded worker keeps reusing the same few (cache-warm) slots.
  for (std::uint32_t i = 0; i < count; ++i) free_[i] = count - 1 - i;
  free_top_ = count;
  return {};
}

}  // namespace salvo::detail
