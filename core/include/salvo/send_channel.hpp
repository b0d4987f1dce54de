// SendChannel: how a thread that is not a salvo worker sends on a worker's socket (a market-data
// feed, a telemetry exporter), without locks and without allocating per datagram.
//
// A protocol opens one on its socket (Transport::open_send_channel) and hands copies of the handle
// to its producer threads. send() copies the datagram into one of the channel's fixed slots
// (allocated when the channel was opened); the worker moves what the slots hold into the socket's
// send queue once per round, woken by one eventfd write when the channel goes from empty to
// non-empty. Order is kept per producer thread. A full channel refuses at once with
// SendResult::queue_full (counted in refused()); nothing blocks.
//
// Threading: send() and the accessors from any thread, any number of threads at once. The handle
// is a shared reference: copies name the same channel, which lives while any copy or its socket
// does. Once the socket closes, send() answers SendResult::closed.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "salvo/address.hpp"

namespace salvo {

namespace detail {
class SendChannelState;
}

enum class SendResult : std::uint8_t;

class SendChannel {
 public:
  SendChannel() = default;  // no channel: send() answers closed

  // To `to`; the worker applies Transport::send's rules when it moves the datagram (family,
  // size), counting what it refuses as send_rejected.
  SendResult send(std::span<const std::byte> payload, const Address& to) const noexcept;
  // To the socket's connected peer.
  SendResult send(std::span<const std::byte> payload) const noexcept;

  bool closed() const noexcept;
  std::uint64_t refused() const noexcept;  // sends refused because the channel was full
  std::uint32_t slots() const noexcept;
  std::uint32_t slot_bytes() const noexcept;

  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  friend class Transport;
  explicit SendChannel(std::shared_ptr<detail::SendChannelState> state) noexcept : state_(std::move(state)) {}
  std::shared_ptr<detail::SendChannelState> state_;
};

}  // namespace salvo
