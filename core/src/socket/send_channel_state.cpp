#include "socket/send_channel_state.hpp"

#include "engine/worker.hpp"
#include "salvo/send_channel.hpp"
#include "salvo/transport.hpp"
#include "socket/socket_state.hpp"

namespace salvo::detail {

SendResult SendChannelState::push(std::span<const std::byte> payload, const Address& to) noexcept {
  if (closed()) return SendResult::closed;
  const auto pushed = ring_.push(payload, to);
  switch (pushed.status) {
    case SendChannelRing::Push::queued:
      break;
    case SendChannelRing::Push::full:
      refused_.fetch_add(1, std::memory_order_relaxed);
      return SendResult::queue_full;
    case SendChannelRing::Push::too_large:
      return SendResult::too_large;
    case SendChannelRing::Push::closed:
      return SendResult::closed;
  }
  // Once per burst: the ring says when it went from drained to holding something.
  if (pushed.wake) {
    worker_->channel_ready();
    worker_->wake();
  }
  return SendResult::queued;
}

bool SendChannelState::move_into(SocketState& s) noexcept {
  bool left = false;
  const std::size_t max = s.queue.capacity();
  const std::size_t moved = ring_.drain(
      [&](std::span<const std::byte> payload, const Address& to) {
        if (s.queue.room_for(payload.size()) == 0) {
          left = true;
          return false;
        }
        if (to.family() == Address::Family::none) {
          (void)s.transport.send(payload);
        } else {
          (void)s.transport.send(payload, to);
        }
        return true;
      },
      max);
  // A drain that stopped at `max` has not looked for the end of the ring, nor armed its wake.
  return left || moved == max;
}

void SendChannelState::close() noexcept {
  closed_.store(true, std::memory_order_release);
  ring_.close();
}

}  // namespace salvo::detail

namespace salvo {

SendResult SendChannel::send(std::span<const std::byte> payload, const Address& to) const noexcept {
  return state_ ? state_->push(payload, to) : SendResult::closed;
}

SendResult SendChannel::send(std::span<const std::byte> payload) const noexcept {
  return state_ ? state_->push(payload, Address{}) : SendResult::closed;
}

bool SendChannel::closed() const noexcept { return !state_ || state_->closed(); }
std::uint64_t SendChannel::refused() const noexcept { return state_ ? state_->refused() : 0; }
std::uint32_t SendChannel::slots() const noexcept { return state_ ? state_->slots() : 0; }
std::uint32_t SendChannel::slot_bytes() const noexcept { return state_ ? state_->slot_bytes() : 0; }

Result<SendChannel> Transport::open_send_channel(std::uint32_t slots, std::uint32_t slot_bytes) {
  detail::SocketState& s = *state_;
  if (s.worker == nullptr) return Error::make(Errc::invalid_state, "a FakeTransport has no worker to send through");
  if (s.closed || s.stopping) return Error::make(Errc::invalid_state, "open_send_channel on a closed socket");
  auto state = std::make_shared<detail::SendChannelState>(*s.worker);
  if (auto r = state->init(slots, slot_bytes); !r) return r.error();
  s.channels.push_back(state);
  if (s.channels.size() == 1) s.worker->note_channels(s);
  return SendChannel(std::move(state));
}

}  // namespace salvo
