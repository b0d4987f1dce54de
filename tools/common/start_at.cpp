#include "common/start_at.hpp"

#include <sys/prctl.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <optional>

namespace salvo::cli {
namespace {

constexpr std::int64_t ns_per_s = 1'000'000'000;
// Later times are taken as this one (in 2255), which is far more than max_start_ahead away, so
// that they are refused as such and never overflow nanoseconds in 64 bits (that happens in 2262).
constexpr std::int64_t max_unix_s = 9'000'000'000;

const char* const accepted_forms =
    "give RFC 3339 (2026-12-06T14:00:00.250Z, or with an offset such as +01:00), Unix seconds "
    "(1796565600.25) or now";

Error malformed(std::string_view text) {
  std::string shown(text.substr(0, 64));
  for (char& c : shown) {
    if (c < 0x20 || c > 0x7e) c = '?';  // one printable line whatever was given
  }
  return Error::make(Errc::bad_option, "--start-at '" + shown + "': not a time; " + accepted_forms);
}

// Reads exactly `n` digits at `pos` as a number, advancing pos; nullopt when they are not digits.
std::optional<int> digits(std::string_view s, std::size_t& pos, std::size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  pos += n;
  return v;
}

bool expect(std::string_view s, std::size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

// "." and 1 to 9 digits at pos, as nanoseconds; absent: 0. nullopt when malformed.
std::optional<std::int64_t> fraction_ns(std::string_view s, std::size_t& pos) {
  if (pos >= s.size() || s[pos] != '.') return 0;
  ++pos;
  std::int64_t ns = 0;
  std::size_t n = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
    if (++n > 9) return std::nullopt;
    ns = ns * 10 + (s[pos] - '0');
    ++pos;
  }
  if (n == 0) return std::nullopt;
  for (; n < 9; ++n) ns *= 10;
  return ns;
}

std::optional<std::int64_t> parse_unix_seconds(std::string_view s) {
  std::size_t pos = 0;
  std::int64_t seconds = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
    seconds = std::min(seconds * 10 + (s[pos] - '0'), max_unix_s + 1);
    ++pos;
  }
  if (seconds > max_unix_s) seconds = max_unix_s;
  if (pos == 0) return std::nullopt;
  const auto fraction = fraction_ns(s, pos);
  if (!fraction || pos != s.size()) return std::nullopt;
  return seconds * ns_per_s + *fraction;
}

std::optional<std::int64_t> parse_rfc3339(std::string_view s) {
  std::size_t pos = 0;
  const auto year = digits(s, pos, 4);
  if (!year || !expect(s, pos, '-')) return std::nullopt;
  const auto month = digits(s, pos, 2);
  if (!month || !expect(s, pos, '-')) return std::nullopt;
  const auto day = digits(s, pos, 2);
  if (!day || pos >= s.size() || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ')) return std::nullopt;
  ++pos;
  const auto hour = digits(s, pos, 2);
  if (!hour || !expect(s, pos, ':')) return std::nullopt;
  const auto minute = digits(s, pos, 2);
  if (!minute || !expect(s, pos, ':')) return std::nullopt;
  const auto second = digits(s, pos, 2);
  if (!second) return std::nullopt;
  const auto fraction = fraction_ns(s, pos);
  if (!fraction || pos >= s.size()) return std::nullopt;
  std::int64_t offset_s = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    const int sign = s[pos] == '+' ? 1 : -1;
    ++pos;
    const auto offset_hours = digits(s, pos, 2);
    if (!offset_hours || !expect(s, pos, ':')) return std::nullopt;
    const auto offset_minutes = digits(s, pos, 2);
    if (!offset_minutes || *offset_hours > 23 || *offset_minutes > 59) return std::nullopt;
    offset_s = sign * (*offset_hours * 3600 + *offset_minutes * 60);
  } else {
    return std::nullopt;
  }
  if (pos != s.size() || *hour > 23 || *minute > 59 || *second > 59) return std::nullopt;
  using namespace std::chrono;
  const year_month_day date{std::chrono::year{*year}, std::chrono::month{static_cast<unsigned>(*month)},
                            std::chrono::day{static_cast<unsigned>(*day)}};
  if (!date.ok()) return std::nullopt;  // 2026-02-30, month 13, day 0
  const std::int64_t days = sys_days{date}.time_since_epoch().count();
  // Local time minus its offset is UTC: 15:00+01:00 is 14:00Z.
  const std::int64_t seconds = std::min(days * 86400 + *hour * 3600 + *minute * 60 + *second - offset_s, max_unix_s);
  if (seconds < 0) return 0;  // before 1970: passed, as the epoch is
  return seconds * ns_per_s + *fraction;
}

timespec as_timespec(std::int64_t unix_ns) {
  return timespec{static_cast<time_t>(unix_ns / ns_per_s), static_cast<long>(unix_ns % ns_per_s)};
}

}  // namespace

std::int64_t wall_clock_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * ns_per_s + ts.tv_nsec;
}

Result<StartAt> parse_start_at(std::string_view text, std::int64_t now_ns) {
  if (text == "now") return StartAt{};
  std::optional<std::int64_t> at = parse_unix_seconds(text);
  if (!at) at = parse_rfc3339(text);
  if (!at) return malformed(text);
  const std::string given = "--start-at " + std::string(text);
  if (*at <= now_ns) {
    return Error::make(Errc::bad_option, given + ": that time has passed (it is now " + format_rfc3339_us(now_ns) +
                                             "); give a time ahead, or now");
  }
  const std::int64_t ahead_ns = std::chrono::nanoseconds(max_start_ahead).count();
  if (*at - now_ns > ahead_ns) {
    return Error::make(Errc::bad_option, given + ": more than " + std::to_string(max_start_ahead.count()) +
                                             " hours ahead (it is now " + format_rfc3339_us(now_ns) + ")");
  }
  return StartAt{false, *at};
}

std::string format_rfc3339_us(std::int64_t unix_ns) {
  using namespace std::chrono;
  const std::int64_t seconds = unix_ns >= 0 ? unix_ns / ns_per_s : (unix_ns - ns_per_s + 1) / ns_per_s;
  const std::int64_t micros = (unix_ns - seconds * ns_per_s) / 1000;
  const sys_days days{std::chrono::days{seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400}};
  const std::int64_t in_day = seconds - days.time_since_epoch().count() * 86400;
  const year_month_day date{days};
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<long long>(in_day / 3600), static_cast<long long>(in_day / 60 % 60),
                static_cast<long long>(in_day % 60), static_cast<long long>(micros));
  return text;
}

double unix_seconds(std::int64_t unix_ns) noexcept {
  // Whole seconds and the fraction apart, so that the microseconds survive the double.
  return static_cast<double>(unix_ns / ns_per_s) + static_cast<double>(unix_ns % ns_per_s) / 1e9;
}

bool sleep_until_wall_clock(std::int64_t unix_ns) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  // Far from the start, wait in slices that a stop signal ends; the last 100 ms in one absolute
  // sleep on the wall clock, with timer slack at 1 ns (it is 50 us by default) so that it is punctual.
  constexpr std::int64_t last_stretch_ns = 100'000'000;
  constexpr std::int64_t slice_ns = 200'000'000;
  for (;;) {
    const std::int64_t left = unix_ns - wall_clock_ns();
    if (left <= 0) return true;
    if (left > last_stretch_ns) {
      const std::int64_t wait = std::min(left - last_stretch_ns, slice_ns);
      const timespec timeout{0, static_cast<long>(wait)};
      if (sigtimedwait(&stop_signals, nullptr, &timeout) > 0) return false;
      continue;
    }
    const int slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    const timespec at = as_timespec(unix_ns);
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &at, nullptr) == EINTR) {
    }
    if (slack > 0) prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(slack), 0UL, 0UL, 0UL);
    return true;
  }
}

std::optional<std::chrono::steady_clock::time_point> wait_for_start(const StartAt& start) {
  using Clock = std::chrono::steady_clock;
  if (start.now) return Clock::now();
  constexpr std::int64_t lead_ns = 20'000'000;
  if (!sleep_until_wall_clock(start.unix_ns - lead_ns)) return std::nullopt;
  // The two clocks read back to back: the start's distance from now, on the monotonic clock.
  const Clock::time_point steady_now = Clock::now();
  const std::int64_t wall_now = wall_clock_ns();
  return steady_now + std::chrono::nanoseconds(std::max<std::int64_t>(start.unix_ns - wall_now, 0));
}

}  // namespace salvo::cli
