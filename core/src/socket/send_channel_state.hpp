// SendChannelState: the shared part behind salvo::SendChannel: the ring of fixed slots producers
// copy into, and the worker that drains it into its socket's send queue.
#pragma once

#include <atomic>
#include <cstdint>

#include "datapath/send_channel_ring.hpp"
#include "salvo/transport.hpp"

namespace salvo::detail {

class Worker;
struct SocketState;

class SendChannelState {
 public:
  explicit SendChannelState(Worker& worker) noexcept : worker_(&worker) {}
  Result<void> init(std::uint32_t slots, std::uint32_t slot_bytes) { return ring_.init(slots, slot_bytes); }

  // Any thread.
  SendResult push(std::span<const std::byte> payload, const Address& to) noexcept;
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }
  std::uint64_t refused() const noexcept { return refused_.load(std::memory_order_relaxed); }
  std::uint32_t slots() const noexcept { return ring_.capacity(); }
  std::uint32_t slot_bytes() const noexcept { return ring_.slot_bytes(); }

  // Worker thread: moves what the ring holds into s's send queue while it has room, through
  // Transport::send's checks and counting. True when datagrams were left for lack of room.
  bool move_into(SocketState& s) noexcept;
  void close() noexcept;

 private:
  Worker* worker_;
  SendChannelRing ring_;
  std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> refused_{0};
};

}  // namespace salvo::detail
