// TimerWheel: one worker's timers. Everything is allocated by init(); scheduling, cancelling and
// firing never allocate, and set and cancel are O(1). Used by the worker's thread only.
//
// Structure: a hierarchical timing wheel of 8 levels of 64 buckets over ticks of 2^15 ns (about
// 33 us). Level 0 buckets hold one tick each (a level spans about 2 ms), level 1 buckets 64 ticks
// (a level spans about 134 ms), level 2 about 8.6 s, level 3 about 9 min, level 4 about 9.8 h, and
// so on: 48 bits of ticks cover any steady_clock time, so there is no overflow list. A timer sits at
// the level of the highest 6-bit digit in which its tick differs from the wheel's current tick and
// moves down when the wheel reaches its bucket. One 64-bit mask of non-empty buckets per level lets
// run_due and earliest() jump straight to the next bucket with timers, however long the wheel slept.
// Each timer keeps its exact due time: a bucket's timers are compared with `now` one by one and
// fired sorted by (due, order of scheduling), so none fires early and none waits for a later call.
//
// Callbacks run inside run_due and may schedule and cancel any timer, their own included; they must
// not call run_due, and must not throw (the data path never does).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "salvo/error.hpp"
#include "salvo/timer.hpp"
#include "timers/owner_index.hpp"

namespace salvo::detail {

class TimerWheel {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::uint32_t kNoOwner = 0xffffffff;
  static constexpr std::uint32_t kMaxCapacity = 1u << 24;

  // Allocates everything, once: room for `capacity` pending timers (1..kMaxCapacity). `now` is the
  // wheel's starting time; earlier due times are simply overdue. Errors name "timer capacity", and
  // an allocation that fails is ENOMEM naming the bytes asked for (table_bytes).
  Result<void> init(std::uint32_t capacity, Clock::time_point now);

  // What init(capacity) allocates, in bytes.
  static std::uint64_t table_bytes(std::uint32_t capacity) noexcept;

  // A one-shot timer when `period` is zero, else a periodic one due at due, due + period, due +
  // 2 * period, ...: each next due time is computed from the previous due time, not from when the
  // callback ran, so a periodic timer does not drift. `owner` is an opaque tag for cancel_owned_by
  // (kNoOwner for none). Errc::full when all `capacity` timers are pending (the error's message is
  // short enough not to allocate); Errc::bad_option for a negative period, Errc::invalid_state for
  // an empty callback or a wheel not initialised.
  Result<TimerId> schedule(Clock::time_point due, Clock::duration period, TimerCallback callback,
                           std::uint32_t owner = kNoOwner);

  // O(1). False for a handle that names no pending timer: stale, unknown, or a one-shot timer that
  // has fired (or is firing). Cancelling a periodic timer from its own callback stops it.
  bool cancel(TimerId id) noexcept;

  // Cancels every pending timer scheduled with `owner`; returns how many. Costs that owner's timers.
  std::size_t cancel_owned_by(std::uint32_t owner) noexcept;

  // The exact due time of the earliest pending timer, time_point::max() when none. Cached: after
  // a run_due that fired something, or a cancel of the earliest timer, the next call looks through
  // one bucket (the first non-empty one).
  Clock::time_point earliest() const noexcept;

  // Fires every timer due at or before `now`, in order of due time, ties in order of scheduling,
  // and returns how many callbacks ran. A timer scheduled by a callback with due <= now fires in
  // the next call, not this one. A periodic timer that fell behind fires once; its next due time is
  // the first due + k * period after `now`, and the periods it skipped are added to missed_periods().
  // `now` is only compared with due times: the wheel never reads the clock.
  std::size_t run_due(Clock::time_point now);

  // Inside a callback: the due time that callback was fired for (for a periodic timer, the period
  // it serves). time_point::min() outside callbacks.
  Clock::time_point firing_due() const noexcept { return firing_due_; }

  std::size_t size() const noexcept { return size_; }  // pending timers
  std::uint32_t capacity() const noexcept { return capacity_; }
  std::uint64_t missed_periods() const noexcept { return missed_periods_; }

 private:
  static constexpr int kTickShift = 15;
  static constexpr int kLevelBits = 6;
  static constexpr std::uint32_t kSlots = 1u << kLevelBits;
  static constexpr int kLevels = 8;
  static constexpr std::uint64_t kMaxTick = (std::uint64_t{1} << (kLevelBits * kLevels)) - 1;
  static constexpr std::uint32_t kWheelBuckets = kSlots * kLevels;
  // Timers scheduled by a callback with due <= now wait here until run_due ends.
  static constexpr std::uint32_t kDeferred = kWheelBuckets;
  static constexpr std::uint32_t kNone = 0xffffffff;

  enum class State : std::uint8_t {
    free,
    pending,    // in a bucket (or the deferred list)
    queued,     // taken out of its bucket by run_due, about to fire
    running,    // its callback is running
    cancelled,  // a periodic timer cancelled while its callback runs: freed when the callback returns
  };

  // What the wheel walks; the callbacks live in their own array, touched only to fire.
  struct Timer {
    Clock::time_point due{};
    Clock::duration period{};
    std::uint64_t sequence = 0;  // order of scheduling, for ties
    std::uint32_t next = kNone;  // in the bucket, or the free list
    std::uint32_t prev = kNone;
    std::uint32_t owner_next = kNone;
    std::uint32_t owner_prev = kNone;
    std::uint32_t owner = kNoOwner;
    std::uint32_t generation = 1;
    std::uint16_t bucket = 0;
    State state = State::free;
  };

  struct Queued {
    std::uint32_t slot;
    std::uint32_t generation;  // a cancelled (and maybe reused) slot no longer matches
  };

  std::uint64_t tick_of(Clock::time_point t) const noexcept;
  void place(std::uint32_t slot) noexcept;  // into the bucket its due time belongs to now
  void link(std::uint32_t slot, std::uint32_t bucket) noexcept;
  void unlink(std::uint32_t slot) noexcept;
  void link_owner(std::uint32_t slot) noexcept;
  void unlink_owner(std::uint32_t slot) noexcept;
  void release(std::uint32_t slot) noexcept;  // back to the free list, with a new generation
  bool cancel_slot(std::uint32_t slot) noexcept;
  // The first non-empty bucket after the current tick's, and the tick at which the wheel must
  // visit it; false when the wheel holds nothing else.
  bool next_bucket(std::uint32_t& bucket, std::uint64_t& tick) const noexcept;
  void advance_to(std::uint64_t tick) noexcept;
  std::size_t fire_bucket(std::uint32_t bucket, Clock::time_point now);
  void fire(std::uint32_t slot, Clock::time_point now);
  Clock::time_point scan_earliest() const noexcept;
  Clock::time_point bucket_earliest(std::uint32_t bucket) const noexcept;

  std::unique_ptr<Timer[]> timers_;
  std::unique_ptr<TimerCallback[]> callbacks_;
  std::unique_ptr<Queued[]> queue_;  // one bucket's due timers, sorted, while run_due fires them
  std::uint32_t queue_size_ = 0;
  std::uint32_t queue_next_ = 0;
  OwnerIndex owners_;
  std::uint32_t heads_[kWheelBuckets + 1];
  std::uint64_t occupied_[kLevels] = {};
  std::uint64_t current_tick_ = 0;  // every bucket of an earlier tick is empty
  Clock::time_point origin_{};
  std::uint32_t free_head_ = kNone;
  std::uint32_t capacity_ = 0;
  std::size_t size_ = 0;
  std::uint64_t next_sequence_ = 0;
  std::uint64_t missed_periods_ = 0;
  bool running_ = false;
  Clock::time_point run_now_{};
  Clock::time_point firing_due_ = Clock::time_point::min();
  mutable bool earliest_valid_ = false;
  mutable Clock::time_point earliest_{};
};

}  // namespace salvo::detail
