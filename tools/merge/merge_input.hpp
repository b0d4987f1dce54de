// The input of `salvo merge`: JSON files that anyone may have written, edited or truncated. Each
// file's text is parsed and every field merge reads is checked for presence, type and range before
// anything else looks at it, so that a bad file ends in one error line naming the file and the
// field (a usage error, exit code 2), never in an exception, a wrapped sum, a crash or a hang.
//
// What merge reads of a report (`salvo ping --json`, or an earlier `salvo merge`):
//   "command"                    "ping"
//   "to", "size", "rate"         optional (an earlier merge drops those its runs disagreed on):
//                                a string, an integer from 32 to 65527, a number above 0
//   "ping": {"sent", "received", "lost", "duplicates", "reordered", "invalid", "late",
//            "send_failed", "refused"}          integers from 0 to max_merge_count
//   "ping.histogram": {"unit": "ns", "significant_digits": 3, "highest_trackable": 3600000000000,
//                      "total", "clamped" (counts), "min", "max" (0 to highest_trackable),
//                      "buckets": [[value, count], ...] (at most counts_length of them)}
// and then, through ping_results_from_json, that they agree (lost == sent - received, the buckets
// add up to total == received, ...). Every other field (latency_ns, which is recomputed, the
// engine counters, ...) is not read, whatever it holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "ping/ping_protocol.hpp"
#include "salvo/error.hpp"

namespace salvo::cli {

// The largest file merge reads. A histogram with every one of its 33,792 buckets used is about
// 1.3 MB of JSON (3 MB pretty-printed); a file many times that size is not a ping report, and
// reading it whole (/dev/zero, a disk image) would only exhaust memory.
constexpr std::size_t max_merge_input_bytes = std::size_t{16} << 20;

// The largest count merge accepts, in a file and summed over the files: 10^15, over three years of
// replies at ping's top rate of 10 M/s. The .hgrm writer (format_hgrm) steps through percentile
// levels in doubles; above a total of about 1.9e15, a bucket holding all but a sample or two has a
// share so close to 100 % that the level stops growing before it passes it, and the loop never
// ends. The limit also keeps every sum far from 2^64.
constexpr std::uint64_t max_merge_count = 1'000'000'000'000'000;

// One file, checked.
struct MergeInput {
  // Only what merge reads: "command", "ping" (its counts and "histogram"), and "to", "size",
  // "rate" when the file has them. Everything else is left out.
  nlohmann::json report;
  PingCounts counts;  // the "ping" object's counts
};

// Parses and checks one file's text: at most max_merge_input_bytes, arrays and objects nested at
// most 64 deep (before it is parsed), then the fields above. `name` (the file name) starts every
// error message: `a.json: "ping.histogram.unit" must be "ns", not 1000`.
Result<MergeInput> parse_merge_input(std::string_view text, const std::string& name);

// Merges checked files (merge_ping_reports, ping_report.hpp), `names[i]` being the name of
// `inputs[i]`. An error names the first file at which a count summed over the files exceeds
// max_merge_count, and the count.
Result<nlohmann::json> merge_inputs(std::vector<MergeInput> inputs, const std::vector<std::string>& names);

}  // namespace salvo::cli
