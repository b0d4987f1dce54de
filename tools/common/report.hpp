// The results a subcommand prints at exit: one JSON object on stdout (--json) and a short human
// summary on stderr.
#pragma once

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

void print_summary(const char* command, const Engine& engine, const SessionResult& session);

}  // namespace salvo::cli
