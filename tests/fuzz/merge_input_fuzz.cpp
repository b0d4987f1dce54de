// Fuzz target: the input of `salvo merge` (tools/merge/merge_input.hpp), JSON files that anyone
// may have written, edited or cut short. The input is split at NUL bytes (which JSON text cannot
// hold) into up to four files; each is parsed and checked as merge does, and the accepted ones are
// merged as merge --mix does (kinds and loads may differ). Properties:
//   - nothing throws (in salvo, an exception would escape main() and abort);
//   - a refusal is one line, "<file>: " and then either a field's quoted path or a sentence saying
//     why the file is no report at all;
//   - an accepted file's kept fields, as text, are accepted again with the same fields and counts,
//     and its histogram holds "received" samples;
//   - the merge succeeds iff no count summed over the files exceeds max_merge_count, nor a rate
//     (which only its message can say); its counts are then the sums, its histogram the ping
//     files' histograms merged, and a merge of one kind is itself an accepted input with those
//     counts (a merge of merges);
//   - the .hgrm text and the summary of the result are written (format_hgrm's walk ends).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "common/hgrm.hpp"
#include "fuzz_check.hpp"
#include "merge/merge_input.hpp"
#include "ping/ping_report.hpp"

namespace {

using salvo::cli::PingCounts;

constexpr std::size_t max_files = 4;

// "a.json: ..." and the start of what follows it.
bool is_one_line_naming(const salvo::Error& e, const std::vector<std::string>& names) {
  if (e.message.find('\n') != std::string::npos) return false;
  for (const std::string& name : names) {
    if (e.message.rfind(name + ": ", 0) != 0) continue;
    const std::string_view why = std::string_view(e.message).substr(name.size() + 2);
    for (std::string_view start : {"\"", "ping.histogram: ", "not JSON", "not a salvo ping report", "not a salvo report",
                                   "larger than", "nested more than", "a merge of mixed"}) {
      if (why.substr(0, start.size()) == start && why.size() > start.size()) return true;
    }
  }
  return false;
}

void run(const std::uint8_t* data, std::size_t size) {
  // Split at the first max_files - 1 NULs; a later NUL stays in the last file (and is not JSON).
  std::vector<std::string_view> texts;
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  std::size_t start = 0;
  while (texts.size() + 1 < max_files) {
    const std::size_t nul = all.find('\0', start);
    if (nul == std::string_view::npos) break;
    texts.push_back(all.substr(start, nul - start));
    start = nul + 1;
  }
  texts.push_back(all.substr(start));

  std::vector<salvo::cli::MergeInput> inputs;
  std::vector<std::string> names;
  // The files' histograms merged. One for all inputs, emptied for each: a LatencyHistogram's
  // counters are 264 KiB, which ASan maps afresh and unmaps for every new one, the largest cost of
  // an input when each made its own.
  static salvo::cli::LatencyHistogram expected_latency;
  expected_latency.reset();
  // Each count is at most max_merge_count (10^15) and there are at most four files: no wrap.
  PingCounts sums;
  salvo::cli::TrafficCounts traffic;
  bool any_ping = false;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::string name = std::string(1, static_cast<char>('a' + i)) + ".json";
    auto input = salvo::cli::parse_merge_input(texts[i], name);
    if (!input) {
      FUZZ_CHECK(is_one_line_naming(input.error(), {name}));
      continue;
    }
    const auto again = salvo::cli::parse_merge_input(input->report.dump(), name);
    FUZZ_CHECK(again && again->counts == input->counts && again->report == input->report &&
               again->traffic == input->traffic && again->kind == input->kind && again->load == input->load);
    if (input->kind == "ping") {
      any_ping = true;
      const std::uint64_t before = expected_latency.total();
      FUZZ_CHECK(salvo::cli::merge_histogram_json(expected_latency, input->report["ping"]["histogram"]).ok());
      FUZZ_CHECK(expected_latency.total() - before == input->counts.received);
    }
    sums += input->counts;
    traffic.sent += input->traffic.sent;
    traffic.sent_bytes += input->traffic.sent_bytes;
    traffic.received += input->traffic.received;
    traffic.bytes += input->traffic.bytes;
    traffic.kernel_drops += input->traffic.kernel_drops;
    inputs.push_back(std::move(*input));
    names.push_back(name);
  }
  if (inputs.empty()) return;

  bool over = false;
  for (std::uint64_t sum : {sums.sent, sums.received, sums.duplicates, sums.reordered, sums.invalid, sums.late,
                            sums.send_failed, sums.refused, traffic.sent, traffic.sent_bytes, traffic.received,
                            traffic.bytes, traffic.kernel_drops}) {
    over = over || sum > salvo::cli::max_merge_count;
  }
  auto merged = salvo::cli::merge_inputs(std::move(inputs), names, salvo::cli::MergeOptions{true});
  FUZZ_CHECK(!merged.ok() || !over);
  if (!merged) {
    FUZZ_CHECK(is_one_line_naming(merged.error(), names));
    FUZZ_CHECK(over || merged.error().message.find("_per_s\"") != std::string::npos);
    return;
  }
  FUZZ_CHECK((*merged)["merged_from"] == names);
  FUZZ_CHECK((*merged)["sent"] == traffic.sent && (*merged)["kernel_drops"] == traffic.kernel_drops);
  FUZZ_CHECK((*merged)["instances"].size() == names.size());
  if ((*merged)["command"] != "mixed") {
    const auto merge_of_merge = salvo::cli::parse_merge_input(merged->dump(), "merged.json");
    FUZZ_CHECK(merge_of_merge && merge_of_merge->counts == sums && merge_of_merge->traffic == traffic);
  }
  if (!any_ping) return;
  // The merge read back as salvo merge reads it (ping_results_from_json is these two readers, with
  // a new histogram to merge into), into a histogram reused like expected_latency.
  const auto counts = salvo::cli::ping_counts_from_json((*merged)["ping"]);
  FUZZ_CHECK(counts && *counts == sums);
  static salvo::cli::LatencyHistogram latency;
  latency.reset();
  FUZZ_CHECK(salvo::cli::merge_histogram_json(latency, (*merged)["ping"]["histogram"]).ok());
  FUZZ_CHECK(latency == expected_latency);

  // What salvo merge prints and writes with --hgrm.
  const std::string hgrm = salvo::cli::format_hgrm(latency, "fuzz");
  FUZZ_CHECK(hgrm.find("\n#[Buckets = ") != std::string::npos && hgrm.back() == '\n');
  FUZZ_CHECK(!salvo::cli::ping_summary_text("fuzz", *counts, latency, -1).empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    run(data, size);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "exception: %s\n", e.what());
    std::abort();
  }
  return 0;
}
