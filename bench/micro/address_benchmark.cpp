// Micro-benchmark: address formatting into a caller's buffer (Address::format, what logs, JSON
// reports and the CLI use; no allocation), and from_sockaddr, which both backends call per datagram.
#include <benchmark/benchmark.h>
#include <netinet/in.h>

#include "salvo/address.hpp"

namespace {

void format_loop(benchmark::State& state, const salvo::Address& a) {
  char text[salvo::Address::max_text];
  for (auto _ : state) {
    benchmark::DoNotOptimize(a.format(text, sizeof text));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_AddressFormatV4(benchmark::State& state) { format_loop(state, salvo::Address::parse("192.168.100.200:54321").value()); }
BENCHMARK(BM_AddressFormatV4);

void BM_AddressFormatV6(benchmark::State& state) {
  format_loop(state, salvo::Address::parse("[2001:db8:85a3::8a2e:370:7334]:443").value());
}
BENCHMARK(BM_AddressFormatV6);

void BM_AddressFromSockaddrV4(benchmark::State& state) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(4242);
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (auto _ : state) {
    benchmark::DoNotOptimize(&in);
    benchmark::DoNotOptimize(salvo::Address::from_sockaddr(&in, sizeof in));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AddressFromSockaddrV4);

}  // namespace
