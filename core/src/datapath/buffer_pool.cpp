#include "datapath/buffer_pool.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace salvo::detail {
namespace {

constexpr std::size_t small_page = 4096;
constexpr std::size_t huge_page = std::size_t{2} << 20;

// AnonHugePages of the mapping that contains `address`, from /proc/self/smaps (init only).
bool backed_by_huge_pages(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  const auto target = reinterpret_cast<std::uintptr_t>(address);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    unsigned long start = 0;
    unsigned long end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &start, &end) == 2 && line.find(':') > line.find('-')) {
      inside = target >= start && target < end;
      continue;
    }
    unsigned long kib = 0;
    if (inside && std::sscanf(line.c_str(), "AnonHugePages: %lu kB", &kib) == 1) return kib > 0;
  }
  return false;
}

}  // namespace

void BufferPool::Unmapper::operator()(std::byte* p) const noexcept { ::munmap(p, bytes); }

Result<void> BufferPool::init(std::uint32_t count, std::uint32_t size) {
  if (count == 0 || size == 0) {
    return Error::make(Errc::bad_option, "buffer pool needs at least one buffer of at least one byte");
  }
  std::size_t bytes = std::size_t{count} * size;
  const bool want_huge = bytes >= huge_page / 2;
  const std::size_t unit = want_huge ? huge_page : small_page;
  bytes = (bytes + unit - 1) / unit * unit;
  // Over-map by one huge page so that a 2 MiB aligned range can be cut out of it.
  const std::size_t mapped = want_huge ? bytes + huge_page : bytes;
  void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return Error::from_errno(errno, "cannot map " + std::to_string(bytes) + " bytes of receive buffers");
  }
  auto* start = static_cast<std::byte*>(p);
  if (want_huge) {
    const auto raw = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t aligned = (raw + huge_page - 1) & ~(huge_page - 1);
    const std::size_t head = aligned - raw;
    if (head != 0) ::munmap(p, head);
    if (const std::size_t tail = mapped - head - bytes; tail != 0) ::munmap(start + head + bytes, tail);
    start += head;
    // Advice only: where THP is disabled this fails or does nothing, and small pages serve.
    ::madvise(start, bytes, MADV_HUGEPAGE);
  }
  memory_ = std::unique_ptr<std::byte, Unmapper>(start, Unmapper{bytes});
  // Touch every page now, so that the first flood does not pay page faults on the data path.
  std::memset(start, 0, bytes);
  huge_pages_ = want_huge && backed_by_huge_pages(start);
  base_ = start;
  count_ = count;
  size_ = size;
  free_.resize(count);
  // Lowest indexes on top: a lightly loaded worker keeps reusing the same few (cache-warm) slots.
  for (std::uint32_t i = 0; i < count; ++i) free_[i] = count - 1 - i;
  free_top_ = count;
  return {};
}

}  // namespace salvo::detail
