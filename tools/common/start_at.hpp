// Wall-clock time for runs spread over several hosts: `--start-at TIME` of the sending commands
// (blast, ping), so that instances on hosts with synchronized clocks start their load together,
// and the wall-clock "start" and "end" every --json report carries, so that their results line up.
//
// The load itself is timed on the monotonic clock (pacing, --duration); the wall clock only says
// when it begins. Any thread may call these.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "salvo/error.hpp"

namespace salvo::cli {

// CLOCK_REALTIME in nanoseconds since the Unix epoch.
std::int64_t wall_clock_ns() noexcept;

// How far ahead --start-at may be: a time further out is a typo far more often than a plan, and
// would leave the command waiting silently for days.
inline constexpr std::chrono::hours max_start_ahead{24};

struct StartAt {
  bool now = true;           // "now": start as soon as set up
  std::int64_t unix_ns = 0;  // otherwise the moment, in nanoseconds since the Unix epoch
};

// Parses --start-at TIME, one of
//   now
//   Unix seconds, with up to nine fractional digits     1796565600, 1796565600.25
//   RFC 3339, with Z or a +HH:MM / -HH:MM offset        2026-12-06T14:00:00.250Z, 2026-12-06T15:00:00+01:00
//     (RFC 3339's lowercase t and z and a space for T are accepted; up to nine fractional digits;
//     no leap second, which Unix time cannot name).
// A time at or before `now_ns` is an error (the run would start late, out of step with the
// others), as is one more than max_start_ahead after it. Errors are one line, for usage_error().
Result<StartAt> parse_start_at(std::string_view text, std::int64_t now_ns);

// RFC 3339 in UTC with microseconds, "2026-12-06T14:00:00.250000Z" (the time rounded down).
std::string format_rfc3339_us(std::int64_t unix_ns);

// Unix seconds with their fraction, for JSON ("start_unix_s").
double unix_seconds(std::int64_t unix_ns) noexcept;

// Sleeps until the wall clock reads `unix_ns`: clock_nanosleep on CLOCK_REALTIME with
// TIMER_ABSTIME, which follows the clock if it is set meanwhile, with the calling thread's timer
// slack at 1 ns for the last stretch. SIGINT and SIGTERM (blocked by block_stop_signals) end the
// wait early: it returns false then, the signal consumed. Returns true at once for a time passed.
bool sleep_until_wall_clock(std::int64_t unix_ns);

// Waits for the start of the load: for `now` not at all; otherwise until 20 ms before the start
// on the wall clock (sleep_until_wall_clock), then returns the start as a time on the monotonic
// clock, for the workers to wait out on their own timers (one wake-up each, at the start; a clock
// step in the last 20 ms is not followed). nullopt when SIGINT or SIGTERM ended the wait.
std::optional<std::chrono::steady_clock::time_point> wait_for_start(const StartAt& start);

}  // namespace salvo::cli
