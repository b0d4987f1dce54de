// ReceiveMode: which kind of recvmsg request one socket of the io_uring backend arms next, multishot
// or single-shot, under EngineOptions::io_uring_receive, and when the adaptive policy switches.
//
// Why switch at all: after each datagram a multishot request tries the socket once more before
// its completion reaches the worker (UDP does not report whether more is queued), which is on the
// critical path of every ping-pong round trip; a single-shot request submitted with the round's
// replies is not, but costs a submission per datagram, which a burst would pay for every datagram.
//
// The adaptive policy: multishot to start with. After `light_rounds_to_switch` rounds in a row that
// each brought exactly one datagram of the socket, the backend cancels the multishot request and
// the socket receives single-shot. A single-shot round can only bring one datagram, so it cannot
// show that a burst came; after `single_shots_per_probe` of them, or once the worker has been busy
// (not waiting) for `single_shot_busy_budget` in single-shot rounds, whichever comes first, the
// socket goes back to multishot, which either stays (bursts) or switches again after a few light
// rounds. The busy bound is for a slow protocol under a flood: its rounds take long and find the
// next datagram already queued, and one datagram per round would otherwise last for 1024 of them.
// A ping-pong's rounds are busy for microseconds, so there the count decides.
// Datagrams are counted as the protocol sees them: a coalesced (GRO) payload counts the datagrams
// it carries, so a completion bringing one is never a light round, and a single-shot receive that
// brings one shows a burst and sends the socket back to multishot at once (else each payload of a
// GSO sender's flood would cost a round of its own).
//
// Pure state, owned by the worker thread's backend; unit-tested in
// tests/unit/io_uring/receive_mode_test.cpp.
#pragma once

#include <chrono>
#include <cstdint>

#include "salvo/engine.hpp"

namespace salvo::detail {

class ReceiveMode {
 public:
  static constexpr unsigned light_rounds_to_switch = 4;
  static constexpr std::uint32_t single_shots_per_probe = 1024;
  static constexpr std::chrono::milliseconds single_shot_busy_budget{100};

  ReceiveMode() = default;
  explicit ReceiveMode(EngineOptions::IoUringReceive policy) noexcept
      : policy_(policy), single_(policy == EngineOptions::IoUringReceive::single_shot) {}

  // The kind of request to arm next.
  bool single_shot_next() const noexcept { return single_; }

  // A round in which the socket's multishot request brought `datagrams` datagrams. True when the
  // policy now wants single-shot receives: the caller cancels the request, then calls cancel_sent().
  bool multishot_round(std::uint32_t datagrams) noexcept {
    if (policy_ != EngineOptions::IoUringReceive::adaptive || single_ || switching_) return false;
    if (datagrams != 1) {
      light_rounds_ = 0;
      return false;
    }
    if (++light_rounds_ < light_rounds_to_switch) return false;
    light_rounds_ = 0;
    return true;
  }

  void cancel_sent() noexcept {
    switching_ = true;
    single_ = true;
    singles_left_ = single_shots_per_probe;
    busy_ = {};
  }

  // A single-shot receive brought `datagrams` datagrams: more than one (a GRO payload) is a burst,
  // and the next request is multishot.
  void single_shot_brought(std::uint32_t datagrams) noexcept {
    if (policy_ == EngineOptions::IoUringReceive::adaptive && single_ && datagrams > 1) single_ = false;
  }

  // A multishot request was cancelled to switch, and its ending has not come yet: an -ECANCELED
  // ending is then the planned one.
  bool switching() const noexcept { return switching_; }

  // The armed request ended (a single-shot one: completed, with a datagram or an error); `busy` is
  // how long the worker's previous round worked between its wait and the next.
  void receive_ended(bool single, std::chrono::nanoseconds busy) noexcept {
    switching_ = false;
    if (!single || policy_ != EngineOptions::IoUringReceive::adaptive) return;
    if (singles_left_ > 0) --singles_left_;
    busy_ += busy;
    if (singles_left_ == 0 || busy_ >= single_shot_busy_budget) single_ = false;  // probe for bursts
  }

 private:
  EngineOptions::IoUringReceive policy_ = EngineOptions::IoUringReceive::adaptive;
  bool single_ = false;
  bool switching_ = false;
  unsigned light_rounds_ = 0;
  std::uint32_t singles_left_ = 0;
  std::chrono::nanoseconds busy_{};  // worker busy time over this single-shot run
};

}  // namespace salvo::detail
