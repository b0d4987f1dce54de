// The results a subcommand prints at exit: one JSON object on stdout (--json) and a short human
// summary on stderr.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "common/session.hpp"
#include "salvo/engine.hpp"

namespace salvo::cli {

// Every counter by name, as the Counters X-macro lists them, and the batch-size histogram as
// "rx_batch_sizes": [{"min": 1, "max": 1, "batches": N}, {"min": 2, "max": 3, ...}, ...,
// {"min": 1024, "max": null, ...}].
nlohmann::json counters_json(const Counters& c);

// The common report: command, backend and reason, elapsed time, the headline figures and all
// counters. Commands add their own fields before printing.
nlohmann::json session_json(const char* command, const Engine& engine, const SessionResult& session);

// Where and when a run happened, which every --json report says, so that reports of instances on
// several hosts can be lined up and merged (salvo merge).
struct RunInstance {
  std::string host;               // host_name()
  std::string label;              // instance_label(--label)
  std::int64_t start_unix_ns = 0;  // when its load began (senders) or it began serving (servers)
  std::int64_t end_unix_ns = 0;    // when it ended
};

// Adds "host", "label", "start" and "end" (RFC 3339, UTC, microseconds), "start_unix_s" and
// "end_unix_s", and "load": the options that shape the load (an object of scalars, which merge
// compares across reports).
void add_instance_json(nlohmann::json& report, const RunInstance& instance, nlohmann::json load);

void print_summary(const char* command, const Engine& engine, const SessionResult& session);

}  // namespace salvo::cli
