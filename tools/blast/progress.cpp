#include "blast/progress.hpp"

#include <algorithm>
#include <csignal>
#include <ctime>

namespace salvo::cli {

std::uint64_t send_errors(const Counters& c) noexcept {
  return c.dropped_send_queue_full + c.dropped_send_error + c.send_rejected;
}

std::string format_progress_line(const char* command, double from_s, double to_s, std::uint64_t sent,
                                 std::uint64_t sent_bytes, std::uint64_t errors) {
  const double span = to_s - from_s > 0 ? to_s - from_s : 1;
  char line[256];
  std::snprintf(line, sizeof line, "salvo %s: %.2f-%.2f s  sent %llu datagrams  %.0f pps  %.2f Mbit/s  errors %llu",
                command, from_s, to_s, static_cast<unsigned long long>(sent), static_cast<double>(sent) / span,
                static_cast<double>(sent_bytes) * 8 / 1e6 / span, static_cast<unsigned long long>(errors));
  return line;
}

SessionResult run_sending_session(Engine& engine, const SendingSession& s) {
  using clock = std::chrono::steady_clock;
  using std::chrono::duration;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);

  SessionResult result;
  const auto hard_stop = s.end == clock::time_point::max() ? s.end : s.end + std::chrono::milliseconds(250);
  auto next_line = s.epoch + std::chrono::seconds(1);
  auto last_sample_at = s.epoch;
  Counters last{};
  bool stopping = false;
  auto seconds_since_epoch = [&](clock::time_point t) { return duration<double>(t - s.epoch).count(); };

  while (!engine.finished()) {
    // Sleep until the next line is due, at most 50 ms (the resolution of stopping).
    auto now = clock::now();
    auto wait = std::chrono::nanoseconds(std::chrono::milliseconds(50));
    if (s.progress) wait = std::min(wait, std::chrono::nanoseconds(std::max(next_line - now, clock::duration::zero())));
    if (!stopping && hard_stop != clock::time_point::max()) {
      wait = std::min(wait, std::chrono::nanoseconds(std::max(hard_stop - now, clock::duration::zero())));
    }
    // Wait on the engine, not on signals, so that its end is seen at once (elapsed_s is exact);
    // a pending signal is picked up right after, within the 50 ms.
    if (engine.wait_for(std::chrono::ceil<std::chrono::milliseconds>(wait))) break;
    const timespec no_wait{0, 0};
    while (sigtimedwait(&set, nullptr, &no_wait) > 0) {
      // The first signal stops (what is queued may still leave, for up to the flush timeout); a
      // second, or one during --duration's stop, ends at once. Every signal pending is taken now,
      // so that a second one is not left for the next 50 ms.
      result.interrupted = true;
      if (stopping) {
        engine.stop_now();
      } else {
        stopping = true;
        engine.stop();
      }
    }
    now = clock::now();
    if (!stopping && now >= hard_stop) {
      stopping = true;
      engine.stop();
    }
    if (s.progress && now >= next_line && !engine.finished()) {
      const Counters c = engine.counters();
      const std::string line =
          format_progress_line(s.command, seconds_since_epoch(last_sample_at), seconds_since_epoch(now), c.sent - last.sent,
                               c.sent_bytes - last.sent_bytes, send_errors(c) - send_errors(last));
      std::fprintf(s.out, "%s\n", line.c_str());
      std::fflush(s.out);
      last = c;
      last_sample_at = now;
      while (next_line <= now) next_line += std::chrono::seconds(1);  // on the second, no drift
    }
  }
  engine.wait();
  const auto finished_at = clock::now();
  result.elapsed = finished_at > s.epoch ? finished_at - s.epoch : clock::duration::zero();
  return result;
}

}  // namespace salvo::cli
