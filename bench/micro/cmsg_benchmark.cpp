// Micro-benchmark: control-message parsing per received datagram (parse_control), on an empty
// control area (salvo's receive path by default) and on one carrying SO_RXQ_OVFL's drop counter.
#include <benchmark/benchmark.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>

#include "cmsg.hpp"

namespace {

void BM_ParseControlEmpty(benchmark::State& state) {
  alignas(cmsghdr) unsigned char control[salvo::detail::control_space] = {};
  std::size_t length = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(length);  // the optimiser may not assume the length is constant
    benchmark::DoNotOptimize(salvo::detail::parse_control(control, length));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseControlEmpty);

void BM_ParseControlKernelDrops(benchmark::State& state) {
  alignas(cmsghdr) unsigned char control[salvo::detail::control_space] = {};
  auto* c = reinterpret_cast<cmsghdr*>(control);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SO_RXQ_OVFL;
  c->cmsg_len = CMSG_LEN(sizeof(std::uint32_t));
  const std::uint32_t drops = 12345;
  std::memcpy(CMSG_DATA(c), &drops, sizeof drops);
  std::size_t length = CMSG_SPACE(sizeof(std::uint32_t));
  for (auto _ : state) {
    benchmark::DoNotOptimize(length);
    benchmark::DoNotOptimize(salvo::detail::parse_control(control, length));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseControlKernelDrops);

}  // namespace
