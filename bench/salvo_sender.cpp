// salvo's engine as a sender for the harness: one worker pinned to the current CPU, a protocol that
// refills the send queue from on_writable (as salvo blast does), default options but gso.
#include <sched.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "salvo/salvo.hpp"
#include "senders.hpp"

namespace salvo::bench {
namespace {

class Flood final : public Protocol {
 public:
  Flood(Address to, unsigned size, bool connect) : to_(to), payload_(size), connect_(connect) {}
  void on_start(Transport& t) override {
    if (connect_ && !t.connect(to_)) connect_ = false;
    t.request_writable(true);
  }
  void on_datagrams(std::span<const Datagram>, Transport&) override {}
  void on_writable(Transport& t) override {
    // Only what fits: a refused send would be counted as a drop, which this harness does not want.
    for (std::size_t n = t.send_queue_room(payload_.size()); n > 0; --n) {
      if (connect_) {
        t.send(payload_);
      } else {
        t.send(payload_, to_);
      }
    }
  }

 private:
  Address to_;
  std::vector<std::byte> payload_;
  bool connect_;
};

}  // namespace

SendOutcome run_salvo_sender(const char* backend, bool gso, std::uint16_t port, unsigned size, const std::atomic<bool>& stop) {
  EngineOptions options;
  options.backend = parse_backend_kind(backend).value();
  options.cpus = {sched_getcpu()};
  options.gso = gso;
  auto engine = Engine::create(options);
  if (!engine) return {};
  const Address to = Address::ipv4_loopback(port);
  // For experiments: SALVO_BENCH_CONNECT=1 connects the socket and sends to its peer. The recorded
  // runs send unconnected, as the sendmmsg and GSO baselines do.
  const char* connect = std::getenv("SALVO_BENCH_CONNECT");
  const bool connected = connect != nullptr && *connect == '1';
  auto bound = (*engine)->listen(Address::ipv4_loopback(0),
                                 [to, size, connected](unsigned) { return std::make_unique<Flood>(to, size, connected); });
  if (!bound || !(*engine)->start()) return {};
  while (!stop.load(std::memory_order_relaxed)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  (*engine)->stop();
  (*engine)->wait();
  return {(*engine)->counters().sent};
}

}  // namespace salvo::bench
