#include "datapath/send_pool.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <string>

namespace salvo::detail {
namespace {

constexpr std::size_t align_up(std::size_t n, std::size_t to) noexcept { return (n + to - 1) / to * to; }

}  // namespace

SendPool::~SendPool() {
  if (base_ != nullptr) ::munmap(base_, mapped_bytes_);
}

// A segment starts on a page, so that one used for a few small datagrams touches as few pages as
// it can.
std::size_t SendPool::segment_bytes_for(std::uint32_t scratch_bytes) noexcept {
  return align_up(scratch_offset + std::size_t{scratch_bytes} * entries_per_segment, 4096);
}

Result<void> SendPool::init(std::uint64_t limit_bytes, std::uint32_t scratch_bytes, const std::string& what) {
  const std::size_t segment = segment_bytes_for(scratch_bytes);
  const std::uint64_t count = limit_bytes / segment;
  if (count == 0) {
    return Error::make(Errc::bad_option, "the send pool of " + what + " needs at least " + std::to_string(segment) +
                                             " bytes (one segment), not " + std::to_string(limit_bytes));
  }
  if (count > none / entries_per_segment) {  // slot_of must fit 32 bits
    return Error::make(Errc::bad_option, "the send pool of " + what + " is too large: " + std::to_string(limit_bytes) + " bytes");
  }
  const std::size_t bytes = static_cast<std::size_t>(count) * segment;
  // Address space only: MAP_NORESERVE, and nothing touched until a datagram is queued.
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    return Error::from_errno(errno, "reserve the send pool of " + what + " (" + std::to_string(bytes >> 20) +
                                        " MiB of address space; lower EngineOptions::send_pool_bytes)");
  }
  base_ = static_cast<std::byte*>(p);
  mapped_bytes_ = bytes;
  segment_bytes_ = segment;
  scratch_bytes_ = scratch_bytes;
  state_.assign(static_cast<std::size_t>(count), SegmentState{});
  // Segment 0 on top: the first sockets to send write the start of the mapping.
  for (std::size_t i = 0; i < state_.size(); ++i) state_[i].next = i + 1 < state_.size() ? static_cast<std::uint32_t>(i + 1) : none;
  free_head_ = 0;
  free_count_ = state_.size();
  return {};
}

}  // namespace salvo::detail
