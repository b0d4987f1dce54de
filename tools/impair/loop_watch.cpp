#include "impair/loop_watch.hpp"

namespace salvo::cli {

LoopWatch::LoopWatch(std::uint32_t clients, std::chrono::nanoseconds window) : window_(window), entries_(clients) {}

void LoopWatch::reset(std::uint32_t client) noexcept { entries_[client] = Entry{}; }

void LoopWatch::delivering(std::uint32_t client, std::span<const std::byte> payload, time_point now) noexcept {
  Entry& e = entries_[client];
  if (now < e.remembered_until) return;  // the remembered one stands until its window is over
  e.delivered = PayloadFingerprint::of(payload);
  e.remembered_until = now + window_;
}

bool LoopWatch::received(std::uint32_t client, std::span<const std::byte> payload, time_point now) noexcept {
  Entry& e = entries_[client];
  if (now >= e.remembered_until || !e.delivered.matches(payload)) return false;
  e.looping_until = now + window_;
  e.remembered_until = time_point{};  // the next datagram delivered is watched for the next round
  return true;
}

bool LoopWatch::looping(std::uint32_t client, time_point now) const noexcept {
  return now < entries_[client].looping_until;
}

}  // namespace salvo::cli
