// Micro-benchmark: control-message parsing per received datagram (parse_control), on an empty
// control area and on one carrying UDP_GRO's segment size (what every coalesced receive brings
// with EngineOptions::gro).
#include <benchmark/benchmark.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>

#include "datapath/cmsg.hpp"

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace {

// One control message of `level`/`type` carrying `value` into `control`; returns its length.
template <class T>
std::size_t one_message(unsigned char* control, int level, int type, T value) {
  auto* c = reinterpret_cast<cmsghdr*>(control);
  c->cmsg_level = level;
  c->cmsg_type = type;
  c->cmsg_len = CMSG_LEN(sizeof value);
  std::memcpy(CMSG_DATA(c), &value, sizeof value);
  return CMSG_SPACE(sizeof value);
}

void BM_ParseControlEmpty(benchmark::State& state) {
  alignas(cmsghdr) unsigned char control[salvo::detail::max_control_space] = {};
  std::size_t length = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(length);  // the optimiser may not assume the length is constant
    benchmark::DoNotOptimize(salvo::detail::parse_control(control, length));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseControlEmpty);

void BM_ParseControlGro(benchmark::State& state) {
  alignas(cmsghdr) unsigned char control[salvo::detail::max_control_space] = {};
  std::size_t length = one_message(control, SOL_UDP, UDP_GRO, int{64});
  for (auto _ : state) {
    benchmark::DoNotOptimize(length);
    benchmark::DoNotOptimize(salvo::detail::parse_control(control, length));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseControlGro);

}  // namespace
