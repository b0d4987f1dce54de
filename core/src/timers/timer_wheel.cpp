#include "timers/timer_wheel.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cerrno>
#include <limits>
#include <new>
#include <string>

namespace salvo::detail {
namespace {

using Clock = TimerWheel::Clock;

std::uint64_t bits_above(unsigned digit) noexcept {  // the mask of the slots after `digit`
  return ~((std::uint64_t{2} << digit) - 1);
}

}  // namespace

Result<void> TimerWheel::init(std::uint32_t capacity, Clock::time_point now) {
  if (capacity_ != 0) return Error::make(Errc::invalid_state, "timer capacity: the timer table is already set up");
  if (capacity == 0 || capacity > kMaxCapacity) {
    return Error::make(Errc::bad_option, "timer capacity " + std::to_string(capacity) + " is out of range (1.." +
                                             std::to_string(kMaxCapacity) + ")");
  }
  try {
    timers_ = std::make_unique<Timer[]>(capacity);
    callbacks_ = std::make_unique<TimerCallback[]>(capacity);
    queue_ = std::make_unique<Queued[]>(capacity);
    owners_.init(capacity);
  } catch (const std::bad_alloc&) {
    timers_.reset();
    callbacks_.reset();
    queue_.reset();
    return Error::from_errno(ENOMEM, "timer capacity " + std::to_string(capacity) + ": cannot allocate its " +
                                         std::to_string((table_bytes(capacity) + (1 << 20) - 1) >> 20) + " MiB");
  }
  for (std::uint32_t i = 0; i < capacity; ++i) timers_[i].next = i + 1 < capacity ? i + 1 : kNone;
  std::fill(std::begin(heads_), std::end(heads_), kNone);
  free_head_ = 0;
  capacity_ = capacity;
  origin_ = now;
  return {};
}

std::uint64_t TimerWheel::table_bytes(std::uint32_t capacity) noexcept {
  return std::uint64_t{capacity} * (sizeof(Timer) + sizeof(TimerCallback) + sizeof(Queued)) +
         OwnerIndex::table_bytes(capacity);
}

std::uint64_t TimerWheel::tick_of(Clock::time_point t) const noexcept {
  const auto at = t.time_since_epoch().count();
  const auto from = origin_.time_since_epoch().count();
  if (at <= from) return 0;
  // Unsigned: the distance between any two int64 values fits.
  const std::uint64_t ns = static_cast<std::uint64_t>(at) - static_cast<std::uint64_t>(from);
  return std::min(ns >> kTickShift, kMaxTick);
}

Result<TimerId> TimerWheel::schedule(Clock::time_point due, Clock::duration period, TimerCallback callback,
                                     std::uint32_t owner) {
  if (capacity_ == 0) return Error::make(Errc::invalid_state, "timer capacity: the timer table is not set up");
  if (!callback) return Error::make(Errc::invalid_state, "schedule: the timer callback is empty");
  if (period < Clock::duration::zero()) return Error::make(Errc::bad_option, "schedule: the timer period is negative");
  // Short enough for the string's inline buffer: a full table is a data-path event and must not allocate.
  if (free_head_ == kNone) return Error::make(Errc::full, "timer capacity");

  const std::uint32_t slot = free_head_;
  Timer& t = timers_[slot];
  free_head_ = t.next;
  t.due = due;
  t.period = period;
  t.sequence = next_sequence_++;
  t.owner = owner;
  callbacks_[slot] = std::move(callback);
  if (running_ && due <= run_now_) {
    t.state = State::pending;
    link(slot, kDeferred);
  } else {
    place(slot);
  }
  if (owner != kNoOwner) link_owner(slot);
  ++size_;
  if (earliest_valid_ && due < earliest_) earliest_ = due;
  return TimerId{slot, t.generation};
}

void TimerWheel::place(std::uint32_t slot) noexcept {
  Timer& t = timers_[slot];
  t.state = State::pending;
  const std::uint64_t tick = std::max(tick_of(t.due), current_tick_);
  const std::uint64_t differs = tick ^ current_tick_;
  const int level = differs == 0 ? 0 : (std::bit_width(differs) - 1) / kLevelBits;
  const auto digit = static_cast<std::uint32_t>(tick >> (level * kLevelBits)) & (kSlots - 1);
  link(slot, static_cast<std::uint32_t>(level) * kSlots + digit);
}

void TimerWheel::link(std::uint32_t slot, std::uint32_t bucket) noexcept {
  Timer& t = timers_[slot];
  t.bucket = static_cast<std::uint16_t>(bucket);
  t.prev = kNone;
  t.next = heads_[bucket];
  if (t.next != kNone) timers_[t.next].prev = slot;
  heads_[bucket] = slot;
  if (bucket < kWheelBuckets) occupied_[bucket / kSlots] |= std::uint64_t{1} << (bucket % kSlots);
}

void TimerWheel::unlink(std::uint32_t slot) noexcept {
  Timer& t = timers_[slot];
  if (t.prev != kNone) {
    timers_[t.prev].next = t.next;
  } else {
    heads_[t.bucket] = t.next;
    if (t.next == kNone && t.bucket < kWheelBuckets) {
      occupied_[t.bucket / kSlots] &= ~(std::uint64_t{1} << (t.bucket % kSlots));
    }
  }
  if (t.next != kNone) timers_[t.next].prev = t.prev;
  t.next = t.prev = kNone;
}

void TimerWheel::link_owner(std::uint32_t slot) noexcept {
  Timer& t = timers_[slot];
  const std::uint32_t head = owners_.find(t.owner);
  t.owner_prev = kNone;
  t.owner_next = head;
  if (head != kNone) timers_[head].owner_prev = slot;
  owners_.set(t.owner, slot);
}

void TimerWheel::unlink_owner(std::uint32_t slot) noexcept {
  Timer& t = timers_[slot];
  if (t.owner == kNoOwner) return;
  if (t.owner_prev != kNone) {
    timers_[t.owner_prev].owner_next = t.owner_next;
  } else if (t.owner_next != kNone) {
    owners_.set(t.owner, t.owner_next);
  } else {
    owners_.erase(t.owner);
  }
  if (t.owner_next != kNone) timers_[t.owner_next].owner_prev = t.owner_prev;
  t.owner_next = t.owner_prev = kNone;
  t.owner = kNoOwner;
}

void TimerWheel::release(std::uint32_t slot) noexcept {
  Timer& t = timers_[slot];
  callbacks_[slot].reset();
  t.state = State::free;
  if (++t.generation == 0) t.generation = 1;  // 0 is the empty TimerId
  t.next = free_head_;
  free_head_ = slot;
}

bool TimerWheel::cancel(TimerId id) noexcept {
  if (id.slot >= capacity_ || timers_[id.slot].generation != id.generation) return false;
  return cancel_slot(id.slot);
}

bool TimerWheel::cancel_slot(std::uint32_t slot) noexcept {
  Timer& t = timers_[slot];
  switch (t.state) {
    case State::pending:
      unlink(slot);
      [[fallthrough]];
    case State::queued:  // its queue entry no longer matches the generation and is skipped
      unlink_owner(slot);
      if (earliest_valid_ && t.due <= earliest_) earliest_valid_ = false;
      release(slot);
      --size_;
      return true;
    case State::running:
      if (t.period == Clock::duration::zero()) return false;  // a one-shot timer that is firing has fired
      unlink_owner(slot);
      t.state = State::cancelled;  // its callback is running: freed when it returns
      --size_;
      return true;
    case State::free:
    case State::cancelled:
      return false;
  }
  return false;
}

std::size_t TimerWheel::cancel_owned_by(std::uint32_t owner) noexcept {
  if (owner == kNoOwner || capacity_ == 0) return 0;
  std::size_t cancelled = 0;
  for (std::uint32_t slot = owners_.find(owner); slot != kNone;) {
    const std::uint32_t next = timers_[slot].owner_next;
    cancelled += cancel_slot(slot) ? 1 : 0;
    slot = next;
  }
  return cancelled;
}

bool TimerWheel::next_bucket(std::uint32_t& bucket, std::uint64_t& tick) const noexcept {
  // Non-empty buckets of lower levels come before those of higher levels, and a level's buckets
  // before the current digit are empty: the first set bit after the current digit, level by level,
  // is the next bucket in time.
  for (int level = 0; level < kLevels; ++level) {
    const int shift = level * kLevelBits;
    const auto digit = static_cast<unsigned>(current_tick_ >> shift) & (kSlots - 1);
    const std::uint64_t later = occupied_[level] & bits_above(digit);
    if (later == 0) continue;
    const auto slot = static_cast<std::uint32_t>(std::countr_zero(later));
    bucket = static_cast<std::uint32_t>(level) * kSlots + slot;
    const int above = shift + kLevelBits;
    const std::uint64_t base = above >= 64 ? 0 : (current_tick_ >> above) << above;
    tick = base | (std::uint64_t{slot} << shift);
    return true;
  }
  return false;
}

void TimerWheel::advance_to(std::uint64_t tick) noexcept {
  assert(tick > current_tick_);
  assert(heads_[current_tick_ & (kSlots - 1)] == kNone);
  current_tick_ = tick;
  // The bucket of the new tick at each upper level holds timers placed relative to the old tick:
  // they move down (a level's own current-digit bucket is otherwise always empty).
  for (int level = kLevels - 1; level >= 1; --level) {
    const auto digit = static_cast<std::uint32_t>(tick >> (level * kLevelBits)) & (kSlots - 1);
    const std::uint32_t bucket = static_cast<std::uint32_t>(level) * kSlots + digit;
    std::uint32_t slot = heads_[bucket];
    if (slot == kNone) continue;
    heads_[bucket] = kNone;
    occupied_[level] &= ~(std::uint64_t{1} << digit);
    while (slot != kNone) {
      const std::uint32_t next = timers_[slot].next;
      place(slot);
      slot = next;
    }
  }
}

std::size_t TimerWheel::run_due(Clock::time_point now) {
  assert(!running_ && "run_due must not be called from a timer callback");
  if (capacity_ == 0) return 0;
  running_ = true;
  run_now_ = now;
  const bool earliest_was_valid = earliest_valid_;  // a run that fires nothing changes nothing
  earliest_valid_ = false;
  const std::uint64_t now_tick = std::max(tick_of(now), current_tick_);
  std::size_t fired = 0;
  for (;;) {
    fired += fire_bucket(static_cast<std::uint32_t>(current_tick_ & (kSlots - 1)), now);
    if (current_tick_ == now_tick) break;
    std::uint32_t bucket = 0;
    std::uint64_t tick = 0;
    advance_to(next_bucket(bucket, tick) && tick < now_tick ? tick : now_tick);
  }
  running_ = false;
  // What callbacks scheduled with due <= now joins the current bucket, for the next call.
  for (std::uint32_t slot = heads_[kDeferred]; slot != kNone;) {
    const std::uint32_t next = timers_[slot].next;
    place(slot);
    slot = next;
  }
  heads_[kDeferred] = kNone;
  if (fired == 0) earliest_valid_ = earliest_was_valid;
  return fired;
}

std::size_t TimerWheel::fire_bucket(std::uint32_t bucket, Clock::time_point now) {
  queue_size_ = 0;
  for (std::uint32_t slot = heads_[bucket]; slot != kNone;) {
    Timer& t = timers_[slot];
    const std::uint32_t next = t.next;
    if (t.due <= now) {
      unlink(slot);
      t.state = State::queued;
      queue_[queue_size_++] = {slot, t.generation};
    }
    slot = next;
  }
  std::sort(queue_.get(), queue_.get() + queue_size_, [this](const Queued& a, const Queued& b) {
    const Timer& x = timers_[a.slot];
    const Timer& y = timers_[b.slot];
    return x.due != y.due ? x.due < y.due : x.sequence < y.sequence;
  });
  std::size_t fired = 0;
  for (queue_next_ = 0; queue_next_ < queue_size_;) {
    const Queued q = queue_[queue_next_++];
    const Timer& t = timers_[q.slot];
    if (t.generation != q.generation || t.state != State::queued) continue;  // cancelled by a callback
    fire(q.slot, now);
    ++fired;
  }
  queue_size_ = queue_next_ = 0;
  return fired;
}

void TimerWheel::fire(std::uint32_t slot, Clock::time_point now) {
  Timer& t = timers_[slot];
  t.state = State::running;
  const bool periodic = t.period != Clock::duration::zero();
  if (!periodic) {
    unlink_owner(slot);  // it has fired: neither cancel nor cancel_owned_by counts it any more
    --size_;
  }
  firing_due_ = t.due;
  callbacks_[slot]();
  firing_due_ = Clock::time_point::min();
  if (!periodic || t.state == State::cancelled) {
    release(slot);
    return;
  }
  // The first due + k * period after now, without drift and without overflow.
  const auto period = static_cast<std::uint64_t>(t.period.count());
  const std::uint64_t late = static_cast<std::uint64_t>(now.time_since_epoch().count()) -
                             static_cast<std::uint64_t>(t.due.time_since_epoch().count());
  missed_periods_ += late / period;
  const std::uint64_t step = period - late % period;
  const auto at = now.time_since_epoch().count();
  constexpr auto kMax = std::numeric_limits<Clock::rep>::max();
  const bool overflows = at >= 0 && static_cast<std::uint64_t>(kMax - at) < step;
  t.due = overflows ? Clock::time_point::max() : now + Clock::duration(static_cast<Clock::rep>(step));
  place(slot);
}

Clock::time_point TimerWheel::bucket_earliest(std::uint32_t bucket) const noexcept {
  Clock::time_point earliest = Clock::time_point::max();
  for (std::uint32_t slot = heads_[bucket]; slot != kNone; slot = timers_[slot].next) {
    earliest = std::min(earliest, timers_[slot].due);
  }
  return earliest;
}

Clock::time_point TimerWheel::scan_earliest() const noexcept {
  Clock::time_point earliest = bucket_earliest(static_cast<std::uint32_t>(current_tick_ & (kSlots - 1)));
  if (earliest == Clock::time_point::max()) {
    std::uint32_t bucket = 0;
    std::uint64_t tick = 0;
    if (next_bucket(bucket, tick)) earliest = bucket_earliest(bucket);
  }
  if (running_) {  // a callback asks: count what run_due holds outside the wheel too
    earliest = std::min(earliest, bucket_earliest(kDeferred));
    for (std::uint32_t i = queue_next_; i < queue_size_; ++i) {
      const Timer& t = timers_[queue_[i].slot];
      if (t.generation == queue_[i].generation && t.state == State::queued) {
        earliest = std::min(earliest, t.due);
        break;  // the queue is sorted
      }
    }
  }
  return earliest;
}

Clock::time_point TimerWheel::earliest() const noexcept {
  if (capacity_ == 0) return Clock::time_point::max();
  if (running_) return scan_earliest();  // the wheel changes under a callback without telling the cache
  if (!earliest_valid_) {
    earliest_ = scan_earliest();
    earliest_valid_ = true;
  }
  return earliest_;
}

}  // namespace salvo::detail
