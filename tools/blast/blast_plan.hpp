// The arithmetic of salvo blast's flags, kept apart from sockets so that tests can check it
// in-process: parsing --rate and --size-range, splitting a count or a rate exactly over flows and
// workers, and sizing each socket's send queue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "salvo/error.hpp"

namespace salvo::cli {

// --rate: "max" (returned as 0) or a whole number of datagrams per second, at least 1.
Result<std::uint64_t> parse_rate(std::string_view text);

struct SizeRange {
  std::size_t min = 0;
  std::size_t max = 0;
};
// --size-range: "MIN-MAX" in bytes, MIN <= MAX <= 65527.
Result<SizeRange> parse_size_range(std::string_view text);

// Part `index` of `total` split over `parts` as evenly as possible: the first total % parts parts
// get one more. The parts add up to total exactly.
constexpr std::uint64_t share_of(std::uint64_t total, std::uint64_t parts, std::uint64_t index) noexcept {
  return total / parts + (index < total % parts ? 1 : 0);
}

// The datagrams sender (flow, worker) sends: the count is split over the flows, then each flow's
// part over the workers, so that every flow's total is exact whatever the number of workers.
constexpr std::uint64_t sender_count(std::uint64_t count, std::uint64_t flows, std::uint64_t workers,
                                     std::uint64_t flow, std::uint64_t worker) noexcept {
  return share_of(share_of(count, flows, flow), workers, worker);
}

struct SendQueueSize {
  std::uint32_t entries = 0;  // a power of two
  std::uint32_t bytes = 0;
};
// Each socket's send queue for `sockets_per_worker` sockets sending up to `size_max` bytes: 1024
// entries for a few sockets, fewer (down to 16) for many, so that a worker queues at most about
// 16k datagrams; bytes for every entry at the largest size plus one (the byte ring wastes its end
// when a payload wraps) so that entries, not bytes, run out first, within a per-worker budget.
SendQueueSize blast_send_queue(std::size_t sockets_per_worker, std::size_t size_max);

}  // namespace salvo::cli
