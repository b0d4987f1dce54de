#include "datapath/send_pool.hpp"

#include <sys/mman.h>

#include <algorithm>
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
  // Huge pages would back a whole 2 MiB for a datagram of a few bytes: the pool's memory is meant
  // to follow the pages written. (Advice only: without transparent huge pages it changes nothing.)
  (void)::madvise(p, bytes, MADV_NOHUGEPAGE);
  base_ = static_cast<std::byte*>(p);
  mapped_bytes_ = bytes;
  segment_bytes_ = segment;
  scratch_bytes_ = scratch_bytes;
  state_.assign(static_cast<std::size_t>(count), SegmentState{});
  taken_in_.assign(static_cast<std::size_t>(count), 0);
  // Segment 0 on top: the first sockets to send write the start of the mapping.
  for (std::size_t i = 0; i < state_.size(); ++i) state_[i].next = i + 1 < state_.size() ? static_cast<std::uint32_t>(i + 1) : none;
  free_head_ = 0;
  free_count_ = state_.size();
  // The warm segments are the stack's top: the pages of their first entry, iovec, payload and
  // scratch, which a segment holding one datagram writes, are made resident now.
  const std::uint32_t warm = static_cast<std::uint32_t>(std::min<std::size_t>(warm_segments, state_.size()));
  for (std::uint32_t s = 0; s < warm; ++s) {
    for (std::byte* page : {segment_base(s), reinterpret_cast<std::byte*>(iovecs(s)), payload(s)}) {
      *static_cast<volatile std::byte*>(page) = std::byte{0};
    }
    if (scratch_bytes_ != 0) *static_cast<volatile std::byte*>(scratch(s)) = std::byte{0};
    taken_in_[s] = interval_;
  }
  return {};
}

std::size_t SendPool::touched_free() const noexcept {
  std::size_t n = 0;
  for (std::uint32_t s = free_head_; s != none && taken_in_[s] != 0; s = state_[s].next) ++n;
  return n;
}

std::size_t SendPool::trim() noexcept {
  // The touched free segments lie on top of the stack, those taken in this interval above those
  // that sat free all through it. Give back the deepest of the latter, as many as are touched
  // beyond warm_segments, so that the untouched ones stay at the bottom.
  const std::uint32_t ending = interval_++;
  std::size_t recent = 0;
  std::size_t idle = 0;
  for (std::uint32_t s = free_head_; s != none && taken_in_[s] != 0; s = state_[s].next) {
    if (taken_in_[s] == ending) {
      ++recent;
    } else {
      ++idle;
    }
  }
  const std::size_t touched = state_.size() - free_count_ + recent + idle;
  if (idle == 0 || touched <= warm_segments) return 0;
  const std::size_t give = std::min(idle, touched - warm_segments);
  std::uint32_t s = free_head_;
  for (std::size_t depth = 0; depth < recent + idle - give; ++depth) s = state_[s].next;
  for (std::size_t i = 0; i < give; ++i) {
    // On a private anonymous mapping, MADV_DONTNEED frees the pages at once; the next write faults
    // in zeroed ones. It cannot fail on a range of the mapping.
    (void)::madvise(segment_base(s), segment_bytes_, MADV_DONTNEED);
    taken_in_[s] = 0;
    s = state_[s].next;
  }
  return give;
}

}  // namespace salvo::detail
