// SendChannelRing: a bounded multi-producer / single-consumer ring of fixed-size datagram slots.
//
// Threads that are not salvo workers (a market-data feed, a telemetry exporter) hand datagrams to a
// worker's socket through it without allocating and without locks; the worker drains the ring once
// per round and copies the entries into the socket's SendQueue. A full ring refuses: full is a value.
//
// Threads:
//   init()                         before any other thread sees the ring.
//   push(), close(), closed()      any thread.
//   drain()                        the one consumer thread (the worker that owns the socket).
//   empty()                        exact on the consumer; a snapshot that may be stale elsewhere.
//   capacity(), slot_bytes()       any thread after init().
//
// The slots follow Dmitry Vyukov's bounded-queue scheme: every slot carries a sequence number that
// says whose turn it is. Slot i of lap L is free for the producer that claims position p = L*N + i
// when its sequence is p, published when it is p + 1, and freed by the consumer to p + N (the
// same slot's position in the next lap). Producers claim positions by compare-and-swap on tail_;
// the consumer alone advances head_.
//
// Wake protocol (the worker sleeps in its event loop; producers write its eventfd):
//   The consumer arms wake_needed_ (store true) whenever drain() finds the ring empty, then looks
//   at the head slot once more. A producer, after publishing its slot, looks at the flag and, when
//   it is armed, takes it (exchange to false); the one that takes it true gets `wake` and writes the
//   eventfd. So a burst of pushes while the consumer has not drained wakes it once. The flag starts
//   armed: a new ring's consumer is idle.
//   Why no wake-up is missed: the publish, the producer's look at the flag, the consumer's arming
//   and its second look at the slot are all seq_cst, so they fall in one total order. If the
//   producer's look at the flag comes before the arming, its publish does too, and the consumer's
//   second look sees the entry and goes on draining. If it comes after, it reads the armed value
//   or a later one; a later value is false only because another producer took the flag after the
//   arming, and that producer writes the eventfd. Either way the consumer does not sleep on a
//   published entry. An entry behind a slot claimed but not yet published waits for that slot,
//   whose own publish wakes the consumer by the same argument.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <type_traits>

#include "salvo/address.hpp"
#include "salvo/error.hpp"

namespace salvo::detail {

class SendChannelRing {
 public:
  static constexpr std::uint32_t min_slots = 2;
  static constexpr std::uint32_t max_slots = 1u << 20;
  static constexpr std::uint32_t max_slot_bytes = 65527;  // the largest UDP payload over IPv4
  static constexpr std::size_t cache_line = 64;

  enum class Push : std::uint8_t {
    queued,     // copied into a slot and published
    full,       // every slot holds an entry the consumer has not drained
    too_large,  // payload longer than slot_bytes()
    closed,     // close() was called
  };
  struct PushResult {
    Push status = Push::queued;
    // True for the one push that found the consumer armed (see the wake protocol above): the
    // caller writes the worker's eventfd. Only ever true with Push::queued.
    bool wake = false;
  };

  SendChannelRing() = default;
  SendChannelRing(const SendChannelRing&) = delete;
  SendChannelRing& operator=(const SendChannelRing&) = delete;

  // Allocates once: `slots` entries (a power of two from 2 to 1<<20) of up to `slot_bytes` payload
  // bytes each (1..65527). Calling it again replaces the ring, dropping what it held.
  Result<void> init(std::uint32_t slots, std::uint32_t slot_bytes);

  // Copies payload and destination into the next free slot. `to` may be Family::none, meaning the
  // socket's connected peer. Lock-free: no allocation, no system call, and the compare-and-swap on
  // tail_ retries only when another producer claimed the same position first. Entries from one
  // thread are drained in the order it pushed them.
  PushResult push(std::span<const std::byte> payload, const Address& to) noexcept;

  // Consumer only. Calls take(std::span<const std::byte> payload, const Address& to) for up to
  // `max` published entries in the order their slots were claimed, freeing each after take returns
  // true. If take returns false, the entry stays for the next drain and draining stops; take must
  // not keep the span. Returns how many entries were taken.
  // A drain that returns fewer than `max` with no refusal from take has found the ring empty and
  // armed the wake: the consumer may then sleep until a push reports `wake`. After a refusal or a
  // drain of `max`, it must drain again without waiting for a wake.
  template <class Take>
  std::size_t drain(Take&& take, std::size_t max);

  bool empty() const noexcept;
  std::uint32_t capacity() const noexcept { return slots_; }
  std::uint32_t slot_bytes() const noexcept { return slot_bytes_; }

  // After close(), pushes that start later return Push::closed; a push already past its check may
  // still land. Entries already queued stay drainable (the consumer decides whether to send them).
  void close() noexcept { closed_.store(true, std::memory_order_release); }
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

 private:
  struct Header {
    std::atomic<std::uint64_t> sequence;
    std::uint32_t length = 0;
    Address to;
  };
  // The payload follows the header in the same slot.
  static constexpr std::size_t payload_offset = sizeof(Header);
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "push promises no lock");
  static_assert(std::is_trivially_copyable_v<Address>, "slots copy Address without running code");
  static_assert(std::is_trivially_destructible_v<Header>, "slots are freed without destroying headers");

  struct FreeAligned {
    void operator()(std::byte* p) const noexcept { ::operator delete(p, std::align_val_t{cache_line}); }
  };

  Header& header(std::uint64_t position) const noexcept {
    return *std::launder(reinterpret_cast<Header*>(slot_memory(position)));
  }
  std::byte* slot_memory(std::uint64_t position) const noexcept {
    return memory_.get() + static_cast<std::size_t>(position & mask_) * stride_;
  }

  // Read-only after init: shared by every thread without contention.
  std::unique_ptr<std::byte[], FreeAligned> memory_;
  std::size_t stride_ = 0;  // bytes per slot, a multiple of the cache line
  std::uint64_t mask_ = 0;
  std::uint32_t slots_ = 0;
  std::uint32_t slot_bytes_ = 0;
  std::atomic<bool> closed_{false};

  // Each counter on its own cache line: producers hammer tail_, the consumer writes head_ and
  // arms wake_needed_, and none of them should drag the others' lines around.
  alignas(cache_line) std::atomic<std::uint64_t> tail_{0};  // next position a producer claims
  alignas(cache_line) std::atomic<std::uint64_t> head_{0};  // next position the consumer takes
  alignas(cache_line) std::atomic<bool> wake_needed_{true};  // the consumer starts idle
};

template <class Take>
std::size_t SendChannelRing::drain(Take&& take, std::size_t max) {
  std::size_t taken = 0;
  std::uint64_t position = head_.load(std::memory_order_relaxed);
  while (taken < max) {
    Header& h = header(position);
    if (h.sequence.load(std::memory_order_acquire) != position + 1) {
      // Looks empty: arm, then look again (the second half of the wake protocol's argument).
      wake_needed_.store(true, std::memory_order_seq_cst);
      if (h.sequence.load(std::memory_order_seq_cst) != position + 1) break;
    }
    const std::byte* payload = slot_memory(position) + payload_offset;
    if (!take(std::span<const std::byte>(payload, h.length), static_cast<const Address&>(h.to))) break;
    h.sequence.store(position + slots_, std::memory_order_release);
    ++position;
    ++taken;
    head_.store(position, std::memory_order_relaxed);
  }
  return taken;
}

}  // namespace salvo::detail
