#include "ping/ping_report.hpp"

#include <cstdio>
#include <optional>

namespace salvo::cli {
namespace {

// The percentiles reported everywhere, as (JSON key, percent, label).
struct Percentile {
  const char* key;
  double percent;
  const char* label;
};
constexpr Percentile percentiles[] = {
    {"p50", 50.0, "p50"}, {"p90", 90.0, "p90"}, {"p99", 99.0, "p99"}, {"p99_9", 99.9, "p99.9"}, {"p99_99", 99.99, "p99.99"},
};

Error bad(const std::string& what) { return Error::make(Errc::bad_option, what); }

// A non-negative integer, whether nlohmann holds it as unsigned (parsed text) or signed.
bool is_count(const nlohmann::json& v) {
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0);
}

}  // namespace

nlohmann::json ping_results_json(const PingCounts& counts, const LatencyHistogram& latency) {
  nlohmann::json j;
  for (const PingCountField& f : ping_count_fields) j[f.name] = counts.*f.member;
  j["lost"] = counts.lost();
  nlohmann::json l;
  l["min"] = latency.min();
  for (const Percentile& p : percentiles) l[p.key] = latency.value_at_percentile(p.percent);
  l["max"] = latency.max();
  l["mean"] = latency.mean();
  l["stddev"] = latency.stddev();
  l["clamped"] = latency.clamped();
  j["latency_ns"] = std::move(l);
  j["histogram"] = histogram_to_json(latency);
  return j;
}

namespace {

// The counts of a "ping" object, consistent with each other (not yet with the histogram).
Result<PingCounts> counts_from_json(const nlohmann::json& ping) {
  if (!ping.is_object()) return bad("\"ping\" is not a JSON object");
  PingCounts counts;
  for (const PingCountField& f : ping_count_fields) {
    const auto it = ping.find(f.name);
    if (it == ping.end() || !is_count(*it)) {
      return bad(std::string("\"ping.") + f.name + "\" must be a non-negative integer");
    }
    counts.*f.member = it->get<std::uint64_t>();
  }
  if (counts.received > counts.sent) return bad("\"ping.received\" exceeds \"ping.sent\"");
  const auto lost = ping.find("lost");
  if (lost == ping.end() || !is_count(*lost) || lost->get<std::uint64_t>() != counts.lost()) {
    return bad("\"ping.lost\" must equal sent - received");
  }
  return counts;
}

// The checks of a "ping" object's histogram, in ping_results_from_json's order: `read` checks and
// reads the JSON form (with or without building a histogram) and gives back its total.
template <typename Read>
Result<PingCounts> check_ping_json(const nlohmann::json& ping, Read read) {
  auto counts = counts_from_json(ping);
  if (!counts) return counts;
  const auto histogram = ping.find("histogram");
  if (histogram == ping.end()) return bad("\"ping.histogram\" is missing");
  Result<std::uint64_t> total = read(*histogram);
  if (!total) return bad("ping." + total.error().message);
  if (*total != counts->received) {
    return bad("\"ping.histogram\" holds " + std::to_string(*total) + " samples but \"ping.received\" is " +
               std::to_string(counts->received));
  }
  return counts;
}

}  // namespace

Result<PingResults> ping_results_from_json(const nlohmann::json& ping) {
  // The histogram is made only once the counts are known good, and only from its JSON form: a
  // default-constructed one would allocate its counters just to be replaced.
  std::optional<LatencyHistogram> latency;
  auto counts = check_ping_json(ping, [&](const nlohmann::json& histogram) -> Result<std::uint64_t> {
    auto h = histogram_from_json(histogram);
    if (!h) return h.error();
    latency = std::move(*h);
    return latency->total();
  });
  if (!counts) return counts.error();
  return PingResults{*counts, std::move(*latency)};
}

Result<PingCounts> ping_counts_from_json(const nlohmann::json& ping) {
  return check_ping_json(ping, [](const nlohmann::json& histogram) -> Result<std::uint64_t> {
    auto figures = check_histogram_json(histogram);
    if (!figures) return figures.error();
    return figures->total;
  });
}

Result<nlohmann::json> merge_ping_reports(const std::vector<nlohmann::json>& reports,
                                          const std::vector<std::string>& names) {
  PingResults total;
  nlohmann::json out;
  out["command"] = "ping";
  out["merged_from"] = names;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const std::string& name = i < names.size() ? names[i] : std::to_string(i);
    const nlohmann::json& report = reports[i];
    if (!report.is_object() || !report.contains("ping")) {
      return bad(name + ": not a salvo ping report (no \"ping\" object)");
    }
    // The histogram's buckets go straight into the total: no histogram of 264 KiB per report. On
    // an error the total is left half-made, but then there is no merge.
    auto counts = check_ping_json(report["ping"], [&](const nlohmann::json& histogram) -> Result<std::uint64_t> {
      const std::uint64_t before = total.latency.total();
      if (auto merged = merge_histogram_json(total.latency, histogram); !merged) return merged.error();
      return total.latency.total() - before;
    });
    if (!counts) return bad(name + ": " + counts.error().message);
    total.counts += *counts;
  }
  // Run parameters survive only when every report agrees on them.
  for (const char* key : {"to", "size", "rate"}) {
    bool same = !reports.empty() && reports[0].contains(key);
    for (const nlohmann::json& report : reports) same = same && report.contains(key) && report[key] == reports[0][key];
    if (same) out[key] = reports[0][key];
  }
  out["ping"] = ping_results_json(total.counts, total.latency);
  return out;
}

std::string ping_summary_text(const std::string& what, const PingCounts& c, const LatencyHistogram& h,
                              double linger_s) {
  char line[512];
  std::string out;
  const double lost_percent = c.sent == 0 ? 0.0 : 100.0 * static_cast<double>(c.lost()) / static_cast<double>(c.sent);
  std::snprintf(line, sizeof line,
                "salvo ping %s: sent %llu, received %llu, lost %llu (%.3f%%), duplicates %llu, reordered %llu, "
                "invalid %llu, late %llu\n",
                what.c_str(), static_cast<unsigned long long>(c.sent), static_cast<unsigned long long>(c.received),
                static_cast<unsigned long long>(c.lost()), lost_percent, static_cast<unsigned long long>(c.duplicates),
                static_cast<unsigned long long>(c.reordered), static_cast<unsigned long long>(c.invalid),
                static_cast<unsigned long long>(c.late));
  out += line;
  if (c.send_failed != 0 || c.refused != 0) {
    std::snprintf(line, sizeof line, "  send failures %llu, ICMP port unreachable %llu\n",
                  static_cast<unsigned long long>(c.send_failed), static_cast<unsigned long long>(c.refused));
    out += line;
  }
  if (h.total() != 0) {
    out += "  latency from the scheduled send time, us:";
    std::snprintf(line, sizeof line, " min %.3f", static_cast<double>(h.min()) / 1e3);
    out += line;
    for (const Percentile& p : percentiles) {
      std::snprintf(line, sizeof line, " %s %.3f", p.label, static_cast<double>(h.value_at_percentile(p.percent)) / 1e3);
      out += line;
    }
    std::snprintf(line, sizeof line, " max %.3f (mean %.3f, stddev %.3f)\n", static_cast<double>(h.max()) / 1e3,
                  h.mean() / 1e3, h.stddev() / 1e3);
    out += line;
    if (h.clamped() != 0) {
      std::snprintf(line, sizeof line, "  %llu samples above one hour were recorded as one hour\n",
                    static_cast<unsigned long long>(h.clamped()));
      out += line;
    }
  }
  if (linger_s >= 0 && c.lost() != 0) {
    std::snprintf(line, sizeof line,
                  "  lost: no reply within %.3f s after the last send; replies later than that count as lost\n",
                  linger_s);
    out += line;
  }
  return out;
}

}  // namespace salvo::cli
