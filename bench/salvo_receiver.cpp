// salvo's engine as a receiver for the harness: one worker pinned to the current CPU, a protocol
// that only counts (what the counters already do), default options but those the case sets.
#include <sched.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <type_traits>

#include "receivers.hpp"
#include "salvo/salvo.hpp"

namespace salvo::bench {
namespace {

class Discard final : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram>, Transport&) override {}
};

}  // namespace

ReceiveResult run_salvo(const SalvoReceiver& how, const PortReady& ready, const std::atomic<bool>& stop) {
  const char* backend = how.backend;
  EngineOptions options;
  options.backend = parse_backend_kind(backend).value();
  options.cpus = {sched_getcpu()};
  options.busy_poll = how.busy_poll;
  options.busy_poll_idle = std::chrono::milliseconds(0);
  options.gro = how.gro;
  // For experiments with the engine's knobs; the recorded runs use the defaults.
  auto knob = [](const char* name, auto& field) {
    if (const char* v = std::getenv(name); v != nullptr && *v != 0) field = static_cast<std::remove_reference_t<decltype(field)>>(std::atol(v));
  };
  knob("SALVO_BENCH_BUFFERS", options.buffer_count);
  knob("SALVO_BENCH_BATCH", options.batch_size);
  knob("SALVO_BENCH_COMPLETION_BATCH", options.completion_batch);
  long wait_us = options.completion_wait.count();
  knob("SALVO_BENCH_COMPLETION_WAIT_US", wait_us);
  options.completion_wait = std::chrono::microseconds(wait_us);
  auto engine = Engine::create(options);
  if (!engine) return {};
  auto bound = (*engine)->listen(Address::ipv4_loopback(0), [](unsigned) { return std::make_unique<Discard>(); });
  if (!bound || !(*engine)->start()) return {};
  ready(bound->port());
  while (!stop.load(std::memory_order_relaxed)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  (*engine)->stop();
  (*engine)->wait();
  const Counters c = (*engine)->counters();
  // SALVO_BENCH_COUNTERS=1 prints the engine's counters, to see why a case costs what it costs.
  if (const char* v = std::getenv("SALVO_BENCH_COUNTERS"); v != nullptr && *v == '1') {
    std::fprintf(stderr, "  %s counters:", backend);
#define SALVO_PRINT_COUNTER(name, ...) \
  if (c.name != 0) std::fprintf(stderr, " %s=%llu", #name, static_cast<unsigned long long>(c.name));
    SALVO_COUNTERS(SALVO_PRINT_COUNTER)
#undef SALVO_PRINT_COUNTER
    std::fprintf(stderr, "\n");
  }
  // With GRO, received counts the datagrams inside each coalesced receive (segments), as the
  // baselines count theirs: the figures stay per 64-byte datagram.
  return {c.received, c.received_bytes};
}

}  // namespace salvo::bench
