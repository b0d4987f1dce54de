// LiveCounters: the counters a worker updates while other threads may read them.
//
// One writer (the owning worker), any number of readers. Relaxed atomics with load+store instead of
// fetch_add: the writer is alone, so no locked instruction is needed, and readers see a value that
// is at worst one batch old without a data race.
#pragma once

#include <atomic>
#include <cstdint>

#include "salvo/counters.hpp"

namespace salvo::detail {

class CounterCell {
 public:
  void add(std::uint64_t n) noexcept { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void set(std::uint64_t n) noexcept { v_.store(n, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

struct LiveCounters {
#define SALVO_LIVE_FIELD(name, help) CounterCell name;
  SALVO_COUNTERS(SALVO_LIVE_FIELD)
#undef SALVO_LIVE_FIELD
  CounterCell rx_batch_sizes[batch_size_buckets];

  Counters snapshot() const noexcept {
    Counters c;
#define SALVO_LIVE_COPY(name, help) c.name = name.get();
    SALVO_COUNTERS(SALVO_LIVE_COPY)
#undef SALVO_LIVE_COPY
    for (std::size_t k = 0; k < batch_size_buckets; ++k) c.rx_batch_sizes[k] = rx_batch_sizes[k].get();
    return c;
  }
};

}  // namespace salvo::detail
