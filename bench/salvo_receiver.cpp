// salvo's engine as a receiver for the harness: one worker pinned to the current CPU, a protocol
// that only counts (what the counters already do), default options otherwise.
#include <sched.h>

#include <chrono>
#include <thread>

#include "receivers.hpp"
#include "salvo/salvo.hpp"

namespace salvo::bench {
namespace {

class Discard final : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram>, Transport&) override {}
};

}  // namespace

ReceiveResult run_salvo(const char* backend, const PortReady& ready, const std::atomic<bool>& stop) {
  EngineOptions options;
  options.backend = parse_backend_kind(backend).value();
  options.cpus = {sched_getcpu()};
  auto engine = Engine::create(options);
  if (!engine) return {};
  auto bound = (*engine)->listen(Address::ipv4_loopback(0), [](unsigned) { return std::make_unique<Discard>(); });
  if (!bound || !(*engine)->start()) return {};
  ready(bound->port());
  while (!stop.load(std::memory_order_relaxed)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  (*engine)->stop();
  (*engine)->wait();
  const Counters c = (*engine)->counters();
  return {c.received, c.received_bytes};
}

}  // namespace salvo::bench
