// The results of `salvo ping` as JSON and as text, and the merge of several runs' results.
//
// The "ping" object of `salvo ping --json` (and of `salvo merge`):
//   {"sent", "received", "lost", "duplicates", "reordered", "invalid", "late", "send_failed",
//    "refused",                                          counts (see ping_protocol.hpp)
//    "latency_ns": {"min", "p50", "p90", "p99", "p99_9", "p99_99", "max", "mean", "stddev",
//                   "clamped"},                          figures derived from the histogram
//    "histogram": {...}}                                 lossless (latency_histogram.hpp)
// Merging sums the counts and the histograms and recomputes latency_ns from the merged histogram,
// so the merge of two runs' objects equals the object of one run that saw both runs' samples.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/latency_histogram.hpp"
#include "ping/ping_protocol.hpp"
#include "salvo/error.hpp"

namespace salvo::cli {

// The counts that add up over runs, by their JSON names ("lost" is derived, sent - received, so it
// is written but never read or summed). Report, merge and merge's input checks all walk this list.
struct PingCountField {
  const char* name;
  std::uint64_t PingCounts::*member;
};
inline constexpr PingCountField ping_count_fields[] = {
    {"sent", &PingCounts::sent},           {"received", &PingCounts::received},
    {"duplicates", &PingCounts::duplicates}, {"reordered", &PingCounts::reordered},
    {"invalid", &PingCounts::invalid},     {"late", &PingCounts::late},
    {"send_failed", &PingCounts::send_failed}, {"refused", &PingCounts::refused},
};

struct PingResults {
  PingCounts counts;
  LatencyHistogram latency;
};

nlohmann::json ping_results_json(const PingCounts& counts, const LatencyHistogram& latency);

// Reads a "ping" object back. Its counts must be consistent (lost == sent - received, the
// histogram's total == received); latency_ns is not read (it is recomputed).
Result<PingResults> ping_results_from_json(const nlohmann::json& ping);

// The same checks, without building the histogram: the counts, for readers that need no more.
Result<PingCounts> ping_counts_from_json(const nlohmann::json& ping);

// Merges whole reports (`salvo ping --json` output, or an earlier merge): each must have a "ping"
// object. `names` (one per report, e.g. file names) are for error messages and "merged_from".
// The result: {"command": "ping", "merged_from": [names...], "to", "size", "rate" (each kept only
// when every report has the same value), "ping": merged}.
Result<nlohmann::json> merge_ping_reports(const std::vector<nlohmann::json>& reports,
                                          const std::vector<std::string>& names);

// The human summary: a few lines, each ending in '\n'. `what` names the run ("127.0.0.1:9000",
// "3 merged runs"); `linger_s` < 0 leaves the linger sentence out.
std::string ping_summary_text(const std::string& what, const PingCounts& counts, const LatencyHistogram& latency,
                              double linger_s);

}  // namespace salvo::cli
