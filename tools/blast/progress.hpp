// Running a sending command (salvo blast) from the controlling thread, with a progress line on
// stderr every second, like iperf3's interval lines:
//
//   salvo blast: 1.00-2.00 s  sent 10000 datagrams  10000 pps  5.12 Mbit/s  errors 0
//
// The figures are read from Engine::counters(), which any thread may call; the workers do all the
// I/O. Mbit/s counts UDP payload bytes. errors counts datagrams the socket refused or failed to
// send (send queue full, send errors, rejected sends).
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "common/session.hpp"
#include "salvo/engine.hpp"

namespace salvo::cli {

struct SendingSession {
  const char* command = "blast";
  std::chrono::steady_clock::time_point epoch;  // when sending starts; elapsed counts from here
  std::chrono::steady_clock::time_point end = std::chrono::steady_clock::time_point::max();  // planned end
  bool progress = true;                         // the per-second line (off with --quiet)
  std::FILE* out = stderr;
};

// Runs until every worker has finished (the senders end by themselves at their count or at
// `end`), or SIGINT/SIGTERM (call block_stop_signals() before creating the engine). As a safety
// net for a sender that cannot reach its own end (a socket blocked for good), the engine is
// stopped 250 ms after `end`.
SessionResult run_sending_session(Engine& engine, const SendingSession& session);

// One progress line, without the trailing newline (for tests and the session above).
std::string format_progress_line(const char* command, double from_s, double to_s, std::uint64_t sent,
                                 std::uint64_t sent_bytes, std::uint64_t errors);

// The errors a progress line reports.
std::uint64_t send_errors(const Counters& c) noexcept;

}  // namespace salvo::cli
