// Micro-benchmark: the buffer pool's free list, as the epoll backend lends slots to a recvmmsg batch
// and takes them back after dispatch (take_batch 64, give_batch 64).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "datapath/buffer_pool.hpp"

namespace {

void BM_BufferPoolTakeGive(benchmark::State& state) {
  salvo::detail::BufferPool pool;
  if (!pool.init(1024, 2048)) {
    state.SkipWithError("BufferPool::init failed");
    return;
  }
  const auto batch = static_cast<std::uint32_t>(state.range(0));
  std::vector<std::uint32_t> taken(batch);
  for (auto _ : state) {
    pool.take_batch(taken.data(), batch);
    benchmark::DoNotOptimize(taken.data());
    pool.give_batch(taken.data(), batch);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * batch);  // items = slots taken and given back
}
BENCHMARK(BM_BufferPoolTakeGive)->Arg(1)->Arg(64);

}  // namespace
