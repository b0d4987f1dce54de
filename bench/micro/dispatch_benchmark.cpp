// Micro-benchmark: a batch of received datagrams through ReceiveBatch::accept and Worker::deliver
// to a protocol's on_datagrams, as both backends do after each receive call: the counters, the
// batch array and the virtual call, without the kernel. Two protocols: one that reads each datagram's
// first byte, and an echo whose Transport::send copies each datagram into the send queue (popped
// after the batch, as a flush would; no system call is made).
#include <benchmark/benchmark.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <memory>

#include "engine/worker.hpp"
#include "salvo/salvo.hpp"

namespace {

using salvo::detail::Worker;

// Never touches a kernel: delivering needs a worker, not a thread or a ring.
class NoBackend final : public salvo::detail::Backend {
 public:
  salvo::Result<void> setup(Worker&) override { return {}; }
  salvo::Result<void> add(salvo::detail::SocketState&) override { return {}; }
  void start_receiving(salvo::detail::SocketState&) override {}
  void stop_receiving(salvo::detail::SocketState&) override {}
  void submit(salvo::detail::SocketState&) override {}
  void cancel_sends(salvo::detail::SocketState&) override {}
  bool sends_pending(const salvo::detail::SocketState&) const noexcept override { return false; }
  bool holds(const salvo::detail::SocketState&) const noexcept override { return false; }
  void release(salvo::detail::SocketState&) override {}
  bool can_forget(const salvo::detail::SocketState&) const noexcept override { return true; }
  void forget_from(std::uint32_t) noexcept override {}
  salvo::detail::WaitKind wait(const salvo::detail::WaitPlan&) override { return salvo::detail::WaitKind::none; }
  unsigned reap(Worker&) override { return 0; }
};

class Touch final : public salvo::Protocol {
 public:
  void on_datagrams(std::span<const salvo::Datagram> batch, salvo::Transport&) override {
    for (const salvo::Datagram& d : batch) sum_ += static_cast<unsigned>(d.payload[0]);
    benchmark::DoNotOptimize(sum_);
  }

 private:
  unsigned sum_ = 0;
};

class Echo final : public salvo::Protocol {
 public:
  void on_datagrams(std::span<const salvo::Datagram> batch, salvo::Transport& t) override {
    for (const salvo::Datagram& d : batch) t.send(d.payload, d.peer);
  }
};

template <class P>
void dispatch_loop(benchmark::State& state) {
  salvo::EngineOptions options;
  options.buffer_count = salvo::EngineOptions::default_buffer_count;  // Engine::create would choose it
  Worker worker(0, options, std::make_unique<NoBackend>());
  if (!worker.init()) {
    state.SkipWithError("Worker::init failed");
    return;
  }
  // A socket the worker owns and closes; nothing is ever sent or received on it.
  auto added = worker.attach(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), salvo::Address::ipv4_loopback(0),
                             std::make_unique<P>(), true);
  if (!added) {
    state.SkipWithError("Worker::attach failed");
    return;
  }
  salvo::detail::SocketState& s = **added;
  const salvo::Address peer = salvo::Address::ipv4_loopback(40000);
  salvo::detail::ReceiveBatch& received = worker.batch();
  const std::uint32_t batch = received.capacity();
  std::array<std::byte, 64> payload{};
  for (auto _ : state) {
    for (std::uint32_t i = 0; i < batch; ++i) received.accept(s, payload, peer, false, nullptr, 0);
    worker.deliver(s, [](std::span<const std::uint32_t>) {});
    s.queue.pop(s.queue.size());  // what the flush would hand to the kernel
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void BM_DispatchTouch(benchmark::State& state) { dispatch_loop<Touch>(state); }
BENCHMARK(BM_DispatchTouch);
void BM_DispatchEcho(benchmark::State& state) { dispatch_loop<Echo>(state); }
BENCHMARK(BM_DispatchEcho);

}  // namespace
