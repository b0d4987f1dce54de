// The percentile distribution of a LatencyHistogram in HdrHistogram's .hgrm text format (what
// HistogramLogProcessor and outputPercentileDistribution print, and what HdrHistogram's plotter,
// wrk2 users' scripts and hdr-plot read):
//
//   # <comment lines>                     (salvo's addition: what was measured and the unit)
//          Value     Percentile TotalCount 1/(1-Percentile)
//                                          (one empty line)
//        12.223 0.000000000000          1           1.00
//        ...                               (5 percentile ticks per half distance to 100 %)
//       950.271 1.000000000000       1000
//   #[Mean    =       30.125, StdDeviation   =       12.021]
//   #[Max     =      950.271, Total count    =         1000]
//   #[Buckets =           32, SubBuckets     =         2048]
//
// Values are printed in microseconds with 3 decimals (the histogram records nanoseconds), as
// HdrHistogram's tools usually print them; the comment line says so. Each value is the highest
// value of its bucket, clamped to the exact min and max, so the 100 % line is the exact maximum.
#pragma once

#include <string>

#include "common/latency_histogram.hpp"
#include "salvo/error.hpp"

namespace salvo::cli {

// The whole .hgrm text. `comment` may hold several lines; each is printed after "# ".
std::string format_hgrm(const LatencyHistogram& h, const std::string& comment);

// Writes format_hgrm() to `path` (replacing it). The error names the path.
Result<void> write_hgrm_file(const std::string& path, const LatencyHistogram& h, const std::string& comment);

}  // namespace salvo::cli
