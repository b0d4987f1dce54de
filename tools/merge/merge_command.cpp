// salvo merge: combines the --json reports of several runs (blast, sink, echo or ping, or earlier
// merges) into one: a row per instance and a total, counts and rates summed; for ping runs the
// histograms merged and the percentiles recomputed from the merged histogram.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/commands.hpp"
#include "common/hgrm.hpp"
#include "merge/merge_input.hpp"
#include "merge/merge_table.hpp"
#include "ping/ping_report.hpp"

namespace salvo::cli {
namespace {

struct MergeFlags {
  std::vector<std::string> files;
  std::string hgrm;
  bool mix = false;
  bool json = false;
};

// Reads a file whole, but no more than one byte past max_merge_input_bytes: enough for
// parse_merge_input to refuse it, without filling memory from /dev/zero or a disk image. The
// error names the file and says why.
Result<std::string> read_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return Error::from_errno(errno, path);
  std::string text;
  char chunk[65536];
  while (text.size() <= max_merge_input_bytes) {
    const std::size_t want = std::min(sizeof chunk, max_merge_input_bytes + 1 - text.size());
    const std::size_t n = std::fread(chunk, 1, want, file.get());
    text.append(chunk, n);
    if (n < want) break;
  }
  if (std::ferror(file.get())) return Error::from_errno(errno, path);
  return text;
}

int run_merge(const MergeFlags& flags) {
  std::vector<MergeInput> inputs;
  for (const std::string& path : flags.files) {
    auto text = read_file(path);
    if (!text) return usage_error("merge: " + text.error().message);
    auto input = parse_merge_input(*text, path);
    if (!input) return usage_error("merge: " + input.error().message);
    inputs.push_back(std::move(*input));
  }
  auto merged = merge_inputs(std::move(inputs), flags.files, MergeOptions{flags.mix});
  if (!merged) return usage_error("merge: " + merged.error().message);
  std::FILE* text_out = flags.json ? stderr : stdout;
  const std::string table = merge_table_text(*merged);
  if (!merged->contains("ping")) {
    if (!flags.hgrm.empty()) return usage_error("merge: --hgrm needs salvo ping reports (these have no latencies)");
    std::fputs(table.c_str(), text_out);
    if (flags.json) std::printf("%s\n", merged->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    std::fflush(stdout);
    return 0;
  }
  auto results = ping_results_from_json((*merged)["ping"]);
  if (!results) {  // what merge_ping_reports wrote must read back; anything else is a bug
    std::fprintf(stderr, "salvo: merge: internal error: %s\n", results.error().message.c_str());
    return 1;
  }
  const std::size_t ping_runs = (*merged)["ping"].is_object() ? std::count_if((*merged)["instances"].begin(), (*merged)["instances"].end(),
                                                                   [](const nlohmann::json& row) { return row["kind"] == "ping"; })
                                                              : 0;
  const std::string what = std::to_string(ping_runs) + " merged runs";
  if (!flags.hgrm.empty()) {
    const std::string comment = "salvo merge of " + std::to_string(ping_runs) +
                                " ping runs: round-trip latency from the scheduled send time\n"
                                "values in microseconds (us); " + std::to_string(results->latency.total()) + " replies";
    if (auto written = write_hgrm_file(flags.hgrm, results->latency, comment); !written) {
      return usage_error(written.error().message);
    }
  }
  std::fputs(table.c_str(), text_out);
  std::fputs(ping_summary_text(what, results->counts, results->latency, -1).c_str(), text_out);
  // File names go into "merged_from" as given, and a name need not be UTF-8, which JSON text
  // must be: such bytes are printed as U+FFFD rather than thrown at (dump's default).
  if (flags.json) std::printf("%s\n", merged->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace

Command add_merge_command(CLI::App& app) {
  auto flags = std::make_shared<MergeFlags>();
  CLI::App* sub = app.add_subcommand("merge", "merge the --json reports of several blast, sink, echo or ping runs");
  sub->add_option("files", flags->files, "salvo blast|sink|echo|ping --json outputs (or earlier merges)")
      ->required()
      ->expected(1, -1);
  sub->add_option("--hgrm", flags->hgrm, "also write the merged latency distribution in HdrHistogram's .hgrm format");
  sub->add_flag("--mix", flags->mix,
                "merge reports of different kinds (blast and sink) or different loads; without it that is an error");
  sub->add_flag("--json", flags->json, "print the merged report as one JSON object on stdout (the table goes to stderr)");
  return [flags] { return run_merge(*flags); };
}

}  // namespace salvo::cli
