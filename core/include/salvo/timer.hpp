// The handle and callback of a worker's timers. A TimerId is a slot in the worker's timer table
// plus that slot's generation, which changes whenever the slot is freed: a handle kept after its
// timer fired or was cancelled no longer matches, so cancelling it is harmless and cannot touch the
// timer that reuses the slot. A TimerId is valid only on the worker that scheduled it.
#pragma once

#include <cstdint>

#include "salvo/inplace_function.hpp"

namespace salvo {

struct TimerId {
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;  // never 0 for a scheduled timer: a default TimerId names none

  explicit operator bool() const noexcept { return generation != 0; }
  friend bool operator==(const TimerId&, const TimerId&) = default;
};

// What a timer runs: stored inside the timer table, so scheduling never allocates; a lambda that
// captures more than 48 bytes does not compile (capture a pointer to the state instead).
using TimerCallback = InplaceFunction<void(), 48>;

}  // namespace salvo
