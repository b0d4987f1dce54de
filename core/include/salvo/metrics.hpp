// Metrics: Counters in Prometheus' text exposition format (version 0.0.4), for a scrape endpoint
// or node_exporter's textfile collector (`salvo sink|echo --metrics FILE` writes one). Plain text
// built with the standard library only.
//
// What prometheus_text() writes, for per-worker Counters (Engine::worker_counters()):
//   - every counter of SALVO_COUNTERS as a Prometheus counter named <prefix><name>_total, with
//     the counter's description as HELP, one sample per worker labelled worker="N" (N = index in
//     the vector); sum(...) without(worker) in PromQL gives the engine's total;
//   - the batch-size histogram (Counters::rx_batch_sizes) as a Prometheus histogram
//     <prefix>rx_batch_size: cumulative <prefix>rx_batch_size_bucket samples with le = the largest
//     batch size each power-of-two bucket holds (1, 3, 7, ..., 1023), le="+Inf" (every batch), and
//     <prefix>rx_batch_size_count (equal to the +Inf bucket, and to rx_batches).
//     There is no _sum sample: the sum of the sizes is not a counter of its own, so it is left out
//     rather than derived; the mean batch size is delivered_total / rx_batches_total.
//   - each metric's # HELP and # TYPE lines before its samples; no timestamps.
//
// Thread safety: pure functions of their arguments; call from any thread.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "salvo/counters.hpp"
#include "salvo/error.hpp"

namespace salvo {

struct PrometheusOptions {
  // Prepended to every metric name. Must match [a-zA-Z_:][a-zA-Z0-9_:]*.
  std::string prefix = "salvo_";
  // Labels put on every sample, before worker (and le), e.g. {"backend", "io_uring"},
  // {"command", "sink"}. Names must match [a-zA-Z_][a-zA-Z0-9_]*, must not start with "__", must
  // be distinct and must not be "worker" or "le" (salvo's own). Values may be any text (escaped).
  std::vector<std::pair<std::string, std::string>> labels;
};

// Checks the options against the rules above; the error names the offending prefix or label.
Result<void> check_prometheus_options(const PrometheusOptions& options);

// The exposition text (see above). Always valid exposition format: options that fail
// check_prometheus_options are repaired rather than written as they are (characters outside the
// allowed set become '_', a name starting with a digit gets a leading '_', a label named worker or
// le becomes exported_worker / exported_le, a repeated label name keeps its first value).
std::string prometheus_text(const std::vector<Counters>& per_worker, const PrometheusOptions& options = {});

}  // namespace salvo
