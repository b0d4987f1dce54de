#include "common/session.hpp"

#include <csignal>
#include <ctime>

namespace salvo::cli {
namespace {
// How long the first SIGINT/SIGTERM gives protocols to finish before the engine stops.
constexpr std::chrono::milliseconds drain_grace{2000};
}  // namespace

void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

SessionResult run_session(Engine& engine, const CommonFlags& flags) {
  using clock = std::chrono::steady_clock;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);

  SessionResult result;
  const auto start = clock::now();
  auto last_activity = start;
  std::uint64_t last_received = 0;
  bool stopping = false;
  bool draining = false;
  const timespec tick{0, 50'000'000};  // 50 ms: the resolution of --duration and --idle-exit

  while (!engine.finished()) {
    if (sigtimedwait(&set, nullptr, &tick) > 0) {
      // The first signal drains (protocols finish what they owe); a second, or one that comes
      // while --duration's stop flushes, ends at once, without waiting on peers to take what is
      // still queued.
      result.interrupted = true;
      if (!draining && !stopping) {
        draining = true;
        engine.drain(drain_grace);
      } else {
        engine.stop_now();
        break;
      }
    }
    const auto now = clock::now();
    const std::uint64_t received = engine.counters().received;
    if (received != last_received) {
      last_received = received;
      last_activity = now;
    }
    if (stopping || draining) continue;
    const bool duration_over =
        flags.duration_s > 0 && now - start >= std::chrono::duration<double>(flags.duration_s);
    const bool idle_over =
        flags.idle_exit_s > 0 && now - last_activity >= std::chrono::duration<double>(flags.idle_exit_s);
    if (duration_over || idle_over) {
      stopping = true;
      engine.stop();
    }
  }
  engine.wait();
  result.elapsed = clock::now() - start;
  return result;
}

}  // namespace salvo::cli
