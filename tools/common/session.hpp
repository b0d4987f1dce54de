// Running an engine from the command line: until SIGINT/SIGTERM, --duration, --idle-exit, or until
// every worker has finished by itself (its sockets ended: blast --count, with
// EngineOptions::stop_when_sockets_closed). The first SIGINT/SIGTERM drains the engine
// (Engine::drain, two seconds), a second stops it at once. The controlling thread only watches
// counters and the clock; the workers do all I/O.
#pragma once

#include <chrono>

#include "common/cli_common.hpp"
#include "salvo/engine.hpp"

namespace salvo::cli {

// Blocks SIGINT and SIGTERM in the calling thread; call before creating the engine so that its
// workers inherit the mask and the signals reach run_session's sigtimedwait.
void block_stop_signals();

struct SessionResult {
  std::chrono::duration<double> elapsed{};
  bool interrupted = false;  // ended by a signal
};

SessionResult run_session(Engine& engine, const CommonFlags& flags);

}  // namespace salvo::cli
