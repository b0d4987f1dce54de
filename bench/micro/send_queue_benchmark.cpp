// Micro-benchmark: the send queue as Transport::send and a backend's flush use it, without the
// system call: push a batch of 64-byte datagrams to one peer, then walk the front as a flush does
// (GSO runs over the entries' own iovecs, as both backends build them) and pop what "the kernel
// took". The queue draws its segments from a pool, as a worker's sockets do.
#include <benchmark/benchmark.h>
#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "datapath/gso.hpp"
#include "datapath/send_pool.hpp"
#include "datapath/send_queue.hpp"

namespace {

using salvo::detail::SendQueue;

void BM_SendQueuePush(benchmark::State& state) {
  salvo::detail::SendPool pool;
  SendQueue q;
  if (!pool.init(std::uint64_t{64} << 20, 0, "the benchmark") || !q.init(pool, 1024, 4u << 20)) {
    state.SkipWithError("SendQueue::init failed");
    return;
  }
  const salvo::Address to = salvo::Address::ipv4_loopback(9);
  std::array<std::byte, 64> payload{};
  const auto batch = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    for (std::size_t i = 0; i < batch; ++i) benchmark::DoNotOptimize(q.push(payload, to));
    q.pop(batch);  // keep the queue from filling; pop is O(1) bookkeeping
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}
BENCHMARK(BM_SendQueuePush)->Arg(64);

void BM_SendQueuePushFlush(benchmark::State& state) {
  salvo::detail::SendPool pool;
  SendQueue q;
  if (!pool.init(std::uint64_t{64} << 20, 0, "the benchmark") || !q.init(pool, 1024, 4u << 20)) {
    state.SkipWithError("SendQueue::init failed");
    return;
  }
  const salvo::Address to = salvo::Address::ipv4_loopback(9);
  std::array<std::byte, 64> payload{};
  const auto batch = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    for (std::size_t i = 0; i < batch; ++i) q.push(payload, to);
    // The flush's planning: cut the front into GSO runs over the entries' iovecs.
    std::size_t messages = 0;
    while (!q.empty()) {
      const SendQueue::Entry& front = q.front();
      const std::size_t run = salvo::detail::gso_run(&front, q.run_from(front));
      benchmark::DoNotOptimize(q.iov(front));
      q.pop(run);
      ++messages;
    }
    benchmark::DoNotOptimize(messages);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}
BENCHMARK(BM_SendQueuePushFlush)->Arg(64);

}  // namespace
