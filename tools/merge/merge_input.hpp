// The input of `salvo merge`: JSON files that anyone may have written, edited or truncated. Each
// file's text is parsed and every field merge reads is checked for presence, type and range before
// anything else looks at it, so that a bad file ends in one error line naming the file and the
// field (a usage error, exit code 2), never in an exception, a wrapped sum, a crash or a hang.
//
// What merge reads of a report (`salvo blast|sink|echo|ping --json`, or an earlier `salvo merge` of
// one kind):
//   "command"                    "blast", "sink", "echo" or "ping"
//   "label", "host"              optional: a label as --label takes it; printable, at most 255 bytes
//   "start_unix_s", "end_unix_s" optional: Unix seconds, from 0 to the end of year 9999
//   "elapsed_s", "sent_per_s", "received_per_s"   optional: numbers from 0 to 10^15
//   "load"                       optional: an object of at most 32 members, each named by
//                                printable text of at most 255 bytes and each a number, a
//                                boolean, null or a printable string of at most 255 bytes
//   "sent", "sent_bytes", "received", "bytes", "kernel_drops"   integers from 0 to max_merge_count;
//                                required but for ping, whose "ping" object has the counts
// and of a ping report also:
//   "to", "size", "rate"         optional (an earlier merge drops those its runs disagreed on):
//                                a printable string of at most 255 bytes, an integer from 32 to
//                                65527, a number above 0
//   "ping": {"sent", "received", "lost", "duplicates", "reordered", "invalid", "late",
//            "send_failed", "refused"}          integers from 0 to max_merge_count
//   "ping.histogram": {"unit": "ns", "significant_digits": 3, "highest_trackable": 3600000000000,
//                      "total", "clamped" (counts), "min", "max" (0 to highest_trackable),
//                      "buckets": [[value, count], ...] (at most counts_length of them)}
// and then, through ping_counts_from_json, that they agree (lost == sent - received, the buckets
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

// The counts every kind of report has, as merge's table shows them.
struct TrafficCounts {
  std::uint64_t sent = 0;
  std::uint64_t sent_bytes = 0;
  std::uint64_t received = 0;
  std::uint64_t bytes = 0;  // received bytes
  std::uint64_t kernel_drops = 0;
  friend bool operator==(const TrafficCounts&, const TrafficCounts&) = default;
};

// One file, checked.
struct MergeInput {
  std::string kind;  // "blast", "sink", "echo" or "ping"
  // Only the fields above that the file has. Everything else is left out.
  nlohmann::json report;
  PingCounts counts;  // ping: the "ping" object's counts
  TrafficCounts traffic;  // ping: sent and received from "ping"
  // What the report's load is for comparing: "load", or for a ping report without one, an object
  // of its "to", "size" and "rate".
  nlohmann::json load;
};

struct MergeOptions {
  // Merge reports of different kinds or loads (--mix); otherwise that is an error naming the
  // first file and field that differ.
  bool mix = false;
};

// Parses and checks one file's text: at most max_merge_input_bytes, arrays and objects nested at
// most 64 deep (before it is parsed), then the fields above. `name` (the file name) starts every
// error message: `a.json: "ping.histogram.unit" must be "ns", not 1000`.
Result<MergeInput> parse_merge_input(std::string_view text, const std::string& name);

// Merges checked files, `names[i]` being the name of `inputs[i]`:
//   {"command": the kind (or "mixed"), "merged_from": names,
//    "instances": [{"file", "kind", "label", "host", "start", "start_unix_s", "end", "end_unix_s",
//                   "elapsed_s", "sent", "sent_bytes", "sent_per_s", "received", "bytes",
//                   "received_per_s", "kernel_drops"}, ...]        (a row per file, times when known)
//    "sent", "sent_bytes", "received", "bytes", "kernel_drops"       the sums
//    "sent_per_s", "received_per_s"                                  the sums of the instances' rates
//    "start", "start_unix_s", "end", "end_unix_s", "start_spread_s"  earliest start, latest end,
//                                                                    latest start - earliest start
//    "load"                                                          when every file agrees
//    "to", "size", "rate", "ping": merge_ping_reports of the ping files (ping_report.hpp)}
// A merge of one kind is itself an input of that kind. Errors name a file: the first at which a
// count summed over the files exceeds max_merge_count, or (without options.mix) the first whose
// kind or load differs from the first file's.
Result<nlohmann::json> merge_inputs(std::vector<MergeInput> inputs, const std::vector<std::string>& names,
                                    MergeOptions options = {});

}  // namespace salvo::cli
