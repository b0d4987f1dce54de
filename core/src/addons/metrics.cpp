// prometheus_text(): Counters as Prometheus text exposition format 0.0.4 (see salvo/metrics.hpp).
#include "salvo/metrics.hpp"

#include <string_view>

namespace salvo {
namespace {

bool name_char(char c, bool first, bool colon_ok) {
  const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
  return first ? letter : letter || (c >= '0' && c <= '9');
}

bool valid_name(std::string_view name, bool colon_ok) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, colon_ok)) return false;
  }
  return true;
}

// Characters outside the set become '_'; a leading digit gets a '_' in front. Empty stays empty
// (an empty prefix is allowed; an empty label name is given one).
std::string repair_name(std::string_view name, bool colon_ok) {
  std::string out;
  if (!name.empty() && name[0] >= '0' && name[0] <= '9') out += '_';
  for (char c : name) out += name_char(c, false, colon_ok) ? c : '_';
  return out;
}

bool reserved_label(std::string_view name) {
  return name == "worker" || name == "le" || name.starts_with("__");
}

// The constant labels as written: repaired, renamed when reserved, first of each name kept.
std::vector<std::pair<std::string, std::string>> usable_labels(const PrometheusOptions& options) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [raw_name, value] : options.labels) {
    std::string name = repair_name(raw_name, false);
    if (name.empty()) name = "_";
    if (reserved_label(name)) name = "exported_" + name;
    bool seen = false;
    for (const auto& kept : out) seen = seen || kept.first == name;
    if (!seen) out.emplace_back(std::move(name), value);
  }
  return out;
}

void append_escaped(std::string& out, std::string_view text, bool quotes) {
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quotes && c == '"') out += "\\\"";
    else out += c;
  }
}

// Appends `{constant..., worker="N"` without the closing brace, so that le can follow.
void append_labels_open(std::string& out, const std::string& constant, std::size_t worker) {
  out += '{';
  out += constant;
  out += "worker=\"";
  out += std::to_string(worker);
  out += '"';
}

void append_header(std::string& out, const std::string& name, std::string_view help, const char* type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  append_escaped(out, help, false);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

Result<void> check_prometheus_options(const PrometheusOptions& options) {
  if (!options.prefix.empty() && !valid_name(options.prefix, true)) {
    return Error::make(Errc::bad_option,
                       "metric name prefix '" + options.prefix + "' is not a Prometheus name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
  for (std::size_t i = 0; i < options.labels.size(); ++i) {
    const std::string& name = options.labels[i].first;
    if (!valid_name(name, false)) {
      return Error::make(Errc::bad_option, "label name '" + name + "' is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)");
    }
    if (reserved_label(name)) {
      return Error::make(Errc::bad_option,
                         "label name '" + name + "' is reserved (worker and le are salvo's, __* Prometheus')");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (options.labels[j].first == name) return Error::make(Errc::bad_option, "label '" + name + "' given twice");
    }
  }
  return {};
}

std::string prometheus_text(const std::vector<Counters>& per_worker, const PrometheusOptions& options) {
  const std::string prefix = repair_name(options.prefix, true);
  std::string constant;  // `name="value",` for each constant label
  for (const auto& [name, value] : usable_labels(options)) {
    constant += name;
    constant += "=\"";
    append_escaped(constant, value, true);
    constant += "\",";
  }

  std::string out;
  out.reserve((per_worker.size() + 1) * 4096);
#define SALVO_PROMETHEUS_COUNTER(field, help)                     \
  {                                                               \
    const std::string name = prefix + #field "_total";            \
    append_header(out, name, help, "counter");                    \
    for (std::size_t w = 0; w < per_worker.size(); ++w) {         \
      out += name;                                                \
      append_labels_open(out, constant, w);                       \
      out += "} ";                                                \
      out += std::to_string(per_worker[w].field);                 \
      out += '\n';                                                \
    }                                                             \
  }
  SALVO_COUNTERS(SALVO_PROMETHEUS_COUNTER)
#undef SALVO_PROMETHEUS_COUNTER

  const std::string histogram = prefix + "rx_batch_size";
  append_header(out, histogram,
                "sizes of the batches handed to the protocol, in datagrams (power-of-two buckets; no _sum: "
                "the mean is delivered_total / rx_batches_total)",
                "histogram");
  for (std::size_t w = 0; w < per_worker.size(); ++w) {
    std::uint64_t cumulative = 0;
    for (std::size_t k = 0; k < batch_size_buckets; ++k) {
      cumulative += per_worker[w].rx_batch_sizes[k];
      // The last bucket is open-ended: it is only the +Inf bucket.
      const bool last = k + 1 == batch_size_buckets;
      out += histogram;
      out += "_bucket";
      append_labels_open(out, constant, w);
      out += ",le=\"";
      out += last ? std::string("+Inf") : std::to_string(batch_size_bucket_floor(k + 1) - 1);
      out += "\"} ";
      out += std::to_string(cumulative);
      out += '\n';
    }
    out += histogram;
    out += "_count";
    append_labels_open(out, constant, w);
    out += "} ";
    out += std::to_string(cumulative);
    out += '\n';
  }
  return out;
}

}  // namespace salvo
