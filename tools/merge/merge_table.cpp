#include "merge/merge_table.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace salvo::cli {
namespace {

// A JSON number as text with `decimals` places (whole counts exactly), or "-".
std::string number(const nlohmann::json& v, int decimals) {
  if (!v.is_number()) return "-";
  char text[64];
  if (v.is_number_unsigned()) {
    std::snprintf(text, sizeof text, "%llu", static_cast<unsigned long long>(v.get<std::uint64_t>()));
  } else {
    std::snprintf(text, sizeof text, "%.*f", decimals, v.get<double>());
  }
  return text;
}

std::string text_or_dash(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "-";
}

std::vector<std::string> row_cells(const nlohmann::json& row, const std::string& instance, const std::string& kind) {
  const auto at = [&](const char* key) { return row.contains(key) ? row[key] : nlohmann::json(nullptr); };
  return {instance,
          kind,
          text_or_dash(row, "host"),
          text_or_dash(row, "start"),
          number(at("elapsed_s"), 3),
          number(at("sent"), 0),
          number(at("sent_per_s"), 0),
          number(at("received"), 0),
          number(at("received_per_s"), 0),
          number(at("kernel_drops"), 0)};
}

}  // namespace

std::string merge_table_text(const nlohmann::json& merged) {
  std::vector<std::vector<std::string>> lines;
  lines.push_back({"instance", "kind", "host", "start (UTC)", "seconds", "sent", "sent/s", "received", "received/s",
                   "kernel drops"});
  for (const nlohmann::json& row : merged["instances"]) {
    const std::string label = row["label"].is_string() ? row["label"].get<std::string>() : row["file"].get<std::string>();
    lines.push_back(row_cells(row, label, row["kind"].get<std::string>()));
  }
  // The total: sums, the earliest start, and the span from it to the latest end.
  nlohmann::json total = merged;
  total["host"] = "-";
  if (merged.contains("start_unix_s") && merged.contains("end_unix_s")) {
    total["elapsed_s"] = merged["end_unix_s"].get<double>() - merged["start_unix_s"].get<double>();
  }
  lines.push_back(row_cells(total, "total", merged["command"].get<std::string>()));

  std::vector<std::size_t> widths(lines[0].size(), 0);
  for (const auto& cells : lines) {
    for (std::size_t c = 0; c < cells.size(); ++c) widths[c] = std::max(widths[c], cells[c].size());
  }
  std::string out;
  for (const auto& cells : lines) {
    std::string line;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      // Text left, numbers right.
      const std::string pad(widths[c] - cells[c].size(), ' ');
      line += c < 4 ? cells[c] + pad : pad + cells[c];
      if (c + 1 < cells.size()) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  if (merged.contains("start_spread_s")) {
    char spread[128];
    std::snprintf(spread, sizeof spread, "starts spread over %.3f ms\n", merged["start_spread_s"].get<double>() * 1e3);
    out += spread;
  }
  return out;
}

}  // namespace salvo::cli
