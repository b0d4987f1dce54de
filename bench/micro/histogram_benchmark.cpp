// Micro-benchmark: recording one round-trip sample in the latency histogram that salvo ping keeps
// (tools/common/latency_histogram.hpp), over values spread like real round trips (5 us .. 5 ms), so that
// the bucket lookup is not always the same branch.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>

#include "common/latency_histogram.hpp"

namespace {

void BM_HistogramRecord(benchmark::State& state) {
  salvo::cli::LatencyHistogram h;
  std::array<std::uint64_t, 256> values{};
  std::uint64_t x = 88172645463325252ull;  // xorshift: fixed sequence, same every run
  for (auto& v : values) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v = 5'000 + x % 5'000'000;
  }
  std::size_t i = 0;
  for (auto _ : state) {
    h.record(values[i++ & 255]);
  }
  benchmark::DoNotOptimize(h.total());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramRecord);

}  // namespace
