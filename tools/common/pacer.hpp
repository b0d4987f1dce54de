// Token buckets on the monotonic clock: the pacing of salvo blast --rate and the rate limit of
// salvo impair --rate.
//
// TokenBucket is anchored at an epoch: the tokens earned by time t are
// floor((t - epoch) * rate), computed exactly in integer nanoseconds. Nothing is added up step by
// step, so rounding never accumulates and a long run has no drift. Tokens not taken pile up to the
// bucket's depth; beyond it they are forfeited (and counted). A rate is a fraction (per_second /
// divisor tokens per second) so that a total rate splits exactly over many senders.
//
// Pacer is a sender's policy around a bucket: how many datagrams to send now (never more than
// `burst` back to back) and when to wake next. Waking for every single token would mean a timer
// per datagram; instead wakes fall on a grid of `tick` (100 us, or finer when the burst is smaller
// than 100 us worth), so a paced socket wakes at most 10,000 times a second and the sockets of one
// worker, sharing an epoch, wake together. On schedule a wake sends what one tick earned (10
// datagrams per wake at 100,000/s); the burst only bounds what a late wake may send at once.
// A wake is late whenever the worker was not scheduled in time, which on a loaded machine is
// milliseconds: the sender can keep its rate only if `burst` covers that lateness, hence the
// default of 10 ms worth. A sender further behind catches up at twice its rate, still at most
// `burst` at a time, for up to 100 ms worth of backlog; older tokens are forfeited rather than
// sent as a flood.
//
// Pure arithmetic: time is passed in (tests use a fake clock); no clock reads, allocation or
// system calls. One thread per instance.
#pragma once

#include <chrono>
#include <cstdint>

namespace salvo::cli {

using SteadyTime = std::chrono::steady_clock::time_point;

// per_second / divisor tokens per second; both >= 1.
struct Rate {
  std::uint64_t per_second = 1;
  std::uint64_t divisor = 1;
};

class TokenBucket {
 public:
  // Tokens are earned from `epoch` until `end` (none after it); at most `depth` (>= 1) wait.
  TokenBucket(Rate rate, std::uint64_t depth, SteadyTime epoch, SteadyTime end = SteadyTime::max()) noexcept;

  // Everything earned from the epoch up to `t` (clamped to [epoch, end]), taken or not.
  std::uint64_t earned(SteadyTime t) const noexcept;
  // The tokens that may be taken at `now`, at most depth; what lies beyond depth is forfeited.
  std::uint64_t available(SteadyTime now) noexcept;
  // Takes n tokens; n must not exceed what available() just returned.
  void take(std::uint64_t n) noexcept { consumed_ += n; taken_ += n; }
  // Takes one token if there is one (a rate limiter's question: may this datagram pass?).
  bool try_take_one(SteadyTime now) noexcept;

  // When the next token not yet taken or forfeited is earned: SteadyTime::max() after `end`.
  SteadyTime next_token_at() const noexcept;

  std::uint64_t taken() const noexcept { return taken_; }
  std::uint64_t forfeited() const noexcept { return consumed_ - taken_; }
  std::uint64_t depth() const noexcept { return depth_; }
  SteadyTime epoch() const noexcept { return epoch_; }
  SteadyTime end() const noexcept { return end_; }
  Rate rate() const noexcept { return rate_; }

 private:
  Rate rate_;
  std::uint64_t depth_;
  SteadyTime epoch_;
  SteadyTime end_;
  std::uint64_t consumed_ = 0;  // taken + forfeited
  std::uint64_t taken_ = 0;
};

class Pacer {
 public:
  static constexpr std::chrono::nanoseconds max_tick{100'000};
  static constexpr std::chrono::milliseconds catch_up_window{100};

  // `burst` >= 1: the most datagrams sent back to back.
  Pacer(Rate rate, std::uint64_t burst, SteadyTime epoch, SteadyTime end = SteadyTime::max()) noexcept;

  // How many datagrams to send now: at most `want`, `burst` and what has been earned; they count
  // as sent.
  std::uint64_t grant(SteadyTime now, std::uint64_t want) noexcept;
  // When to call grant() next, after a grant at `now`: when the next token is earned, rounded up
  // to the tick grid; when tokens were left over (behind schedule), after half a burst's worth of
  // time, so that the backlog drains at twice the rate; SteadyTime::max() when no token will ever
  // be earned again (past the end).
  SteadyTime next_wake(SteadyTime now) const noexcept;

  std::chrono::nanoseconds tick() const noexcept { return tick_; }
  std::uint64_t burst() const noexcept { return burst_; }
  const TokenBucket& bucket() const noexcept { return bucket_; }

  // The default burst for a rate: 10 ms worth, at least 1.
  static std::uint64_t default_burst(Rate rate) noexcept;

 private:
  // The first grid point at or after t.
  SteadyTime on_grid(SteadyTime t) const noexcept;

  TokenBucket bucket_;
  std::uint64_t burst_;
  std::chrono::nanoseconds tick_;
  std::chrono::nanoseconds catch_up_spacing_;  // burst at twice the rate
  std::uint64_t left_after_grant_ = 0;          // earned but not granted at the last grant
};

}  // namespace salvo::cli
