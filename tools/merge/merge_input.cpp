#include "merge/merge_input.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include "common/cli_common.hpp"
#include "common/latency_histogram.hpp"
#include "common/start_at.hpp"
#include "ping/ping_payload.hpp"
#include "ping/ping_report.hpp"

namespace salvo::cli {
namespace {

// The histogram's fields, in the order they are checked (and the only ones kept).
constexpr const char* histogram_fields[] = {"unit", "significant_digits", "highest_trackable", "total",
                                            "clamped", "min", "max", "buckets"};

// A ping report nests 5 deep ("ping.histogram.buckets[i]", "per_worker[i].rx_batch_sizes[j]").
constexpr std::size_t max_depth = 64;
constexpr std::uint64_t max_payload_size = 65527;  // salvo ping --size's limit (a UDP datagram over IPv6)
constexpr std::size_t max_shown_string = 32;

// The problem with one file, naming the field by its path ("ping.histogram.unit"); empty if none.
using Problem = std::optional<std::string>;

// How a wrong value appears in a message: a number, boolean or null as the file has it, a short
// printable string quoted, anything else by its kind. So a message stays one short line whatever
// the file holds (a megabyte string, a newline, an array nested a million deep).
std::string describe(const nlohmann::json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    const bool printable =
        s.size() <= max_shown_string && std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
    return printable ? v.dump() : "a string of " + std::to_string(s.size()) + " bytes";
  }
  if (v.is_array()) return "an array of " + std::to_string(v.size()) + (v.size() == 1 ? " element" : " elements");
  if (v.is_object()) return "an object";
  return v.dump();  // numbers (always finite: JSON text has no NaN or infinity), true, false, null
}

// Whether JSON text nests arrays and objects at most max_depth deep, counted outside strings as
// the parser counts them. nlohmann's parser has no depth limit of its own: 16 MiB of '[' would
// build sixteen million nested arrays, over a gigabyte, before it found the text unterminated.
// Wrong JSON may be counted wrongly past its first error, but the parser stops there.
bool nested_within_limit(std::string_view text) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // an escaped character, perhaps '"'
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if ((c == ']' || c == '}') && depth != 0) {
      --depth;
    }
  }
  return true;
}

std::string must_be(const std::string& path, const std::string& what, const nlohmann::json& v) {
  return "\"" + path + "\" must be " + what + ", not " + describe(v);
}

std::string missing(const std::string& path) { return "\"" + path + "\" is missing"; }

const nlohmann::json* find(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// An integer in [min, max]. Parsed text holds a non-negative integer as unsigned, but "-0" as a
// signed 0; fractions and exponents ("1.0", "1e3") are floating point and no integer.
bool in_range(const nlohmann::json& v, std::uint64_t min, std::uint64_t max) {
  std::uint64_t n = 0;
  if (v.is_number_unsigned()) {
    n = v.get<std::uint64_t>();
  } else if (v.is_number_integer() && v.get<std::int64_t>() >= 0) {
    n = static_cast<std::uint64_t>(v.get<std::int64_t>());
  } else {
    return false;
  }
  return n >= min && n <= max;
}

std::string range_text(std::uint64_t min, std::uint64_t max) {
  if (min == max) return std::to_string(min);
  return "an integer from " + std::to_string(min) + " to " + std::to_string(max);
}

// The member `key` of `object` (at `parent`) must be an integer in [min, max].
Problem check_integer(const nlohmann::json& object, const std::string& parent, const char* key, std::uint64_t min,
                      std::uint64_t max) {
  const std::string path = parent + "." + key;
  const nlohmann::json* v = find(object, key);
  if (v == nullptr) return missing(path);
  if (!in_range(*v, min, max)) return must_be(path, range_text(min, max), *v);
  return {};
}

// A label, host, "to" or load member: printable (one line in merge's table and messages) and short.
constexpr std::size_t max_text = 255;

bool is_printable_text(const nlohmann::json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return s.size() <= max_text && std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// The run parameters merge keeps when every file agrees. Optional: an earlier merge left out
// those its files disagreed on. Only scalars are accepted, so that comparing and printing them
// never recurses into nested arrays.
Problem check_run_parameters(const nlohmann::json& report) {
  // A ping report without "load" has its "to", "size" and "rate" for load (merge_inputs), which a
  // merge writes out as "load": "to" must be what a load member may be, or the merge could not be
  // merged again.
  if (const nlohmann::json* to = find(report, "to"); to != nullptr && !is_printable_text(*to)) {
    return must_be("to", "a printable string of at most 255 bytes", *to);
  }
  if (const nlohmann::json* size = find(report, "size");
      size != nullptr && !in_range(*size, ping_header_size, max_payload_size)) {
    return must_be("size", range_text(ping_header_size, max_payload_size), *size);
  }
  if (const nlohmann::json* rate = find(report, "rate");
      rate != nullptr && !(rate->is_number() && std::isfinite(rate->get<double>()) && rate->get<double>() > 0)) {
    return must_be("rate", "a number above 0", *rate);
  }
  return {};
}

// Types and ranges of the histogram's fields; histogram_from_json then checks that they agree.
Problem check_histogram(const nlohmann::json& h) {
  const std::string path = "ping.histogram";
  if (!h.is_object()) return must_be(path, "an object", h);
  const nlohmann::json* unit = find(h, "unit");
  if (unit == nullptr) return missing(path + ".unit");
  if (*unit != "ns") return must_be(path + ".unit", "\"ns\"", *unit);
  // The layout is fixed (latency_histogram.hpp): buckets of another layout cannot be added up.
  constexpr std::uint64_t digits = LatencyHistogram::significant_digits;
  constexpr std::uint64_t highest = LatencyHistogram::highest_trackable;
  if (auto problem = check_integer(h, path, "significant_digits", digits, digits)) return problem;
  if (auto problem = check_integer(h, path, "highest_trackable", highest, highest)) return problem;
  const std::pair<const char*, std::uint64_t> limits[] = {{"total", max_merge_count}, {"clamped", max_merge_count},
                                                          {"min", highest},           {"max", highest}};
  for (const auto& [key, max] : limits) {
    if (auto problem = check_integer(h, path, key, 0, max)) return problem;
  }
  const nlohmann::json* buckets = find(h, "buckets");
  if (buckets == nullptr) return missing(path + ".buckets");
  if (!buckets->is_array()) return must_be(path + ".buckets", "an array", *buckets);
  if (buckets->size() > LatencyHistogram::counts_length) {
    return "\"" + path + ".buckets\" has " + std::to_string(buckets->size()) + " entries, more than the " +
           std::to_string(LatencyHistogram::counts_length) + " buckets of the histogram";
  }
  for (std::size_t i = 0; i < buckets->size(); ++i) {
    const nlohmann::json& b = (*buckets)[i];
    const std::string at = path + ".buckets[" + std::to_string(i) + "]";
    if (!b.is_array() || b.size() != 2) return must_be(at, "a [value, count] pair", b);
    if (!in_range(b[0], 0, highest)) return must_be(at + "[0]", range_text(0, highest), b[0]);
    if (!in_range(b[1], 0, max_merge_count)) return must_be(at + "[1]", range_text(0, max_merge_count), b[1]);
  }
  return {};
}

Problem check_ping(const nlohmann::json& ping) {
  if (!ping.is_object()) return must_be("ping", "an object", ping);
  for (const PingCountField& f : ping_count_fields) {
    if (auto problem = check_integer(ping, "ping", f.name, 0, max_merge_count)) return problem;
  }
  if (auto problem = check_integer(ping, "ping", "lost", 0, max_merge_count)) return problem;
  const nlohmann::json* histogram = find(ping, "histogram");
  if (histogram == nullptr) return missing("ping.histogram");
  return check_histogram(*histogram);
}

constexpr const char* traffic_fields[] = {"sent", "sent_bytes", "received", "bytes", "kernel_drops"};
constexpr const char* time_fields[] = {"start_unix_s", "end_unix_s"};
constexpr const char* figure_fields[] = {"elapsed_s", "sent_per_s", "received_per_s"};
// 2255-03-14T16:00:00Z: the times are printed through nanoseconds in 64 bits, which end in 2262.
constexpr double max_unix_s = 9'000'000'000;
constexpr std::size_t max_load_members = 32;

bool is_number_within(const nlohmann::json& v, double max) {
  return v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() >= 0 && v.get<double>() <= max;
}

// Where and when the run was, and its load: all optional, each checked when present.
Problem check_instance(const nlohmann::json& report) {
  if (const nlohmann::json* label = find(report, "label");
      label != nullptr && !(label->is_string() && is_valid_label(label->get_ref<const std::string&>()))) {
    return must_be("label", "1 to 64 printable characters without a space", *label);
  }
  if (const nlohmann::json* host = find(report, "host"); host != nullptr && !is_printable_text(*host)) {
    return must_be("host", "a printable string of at most 255 bytes", *host);
  }
  for (const char* key : time_fields) {
    if (const nlohmann::json* t = find(report, key); t != nullptr && !is_number_within(*t, max_unix_s)) {
      return must_be(key, "Unix seconds from 0 to 9000000000", *t);
    }
  }
  for (const char* key : figure_fields) {
    if (const nlohmann::json* f = find(report, key);
        f != nullptr && !is_number_within(*f, static_cast<double>(max_merge_count))) {
      return must_be(key, "a number from 0 to 1000000000000000", *f);
    }
  }
  if (const nlohmann::json* load = find(report, "load"); load != nullptr) {
    if (!load->is_object()) return must_be("load", "an object", *load);
    if (load->size() > max_load_members) {
      return "\"load\" has " + std::to_string(load->size()) + " members, more than " +
             std::to_string(max_load_members);
    }
    for (const auto& [key, value] : load->items()) {
      // A name that is no printable text is described, not shown: it may hold a newline.
      if (const nlohmann::json name(key); !is_printable_text(name)) {
        return "\"load\" has a member named by " + describe(name) + ", not by printable text of at most 255 bytes";
      }
      const std::string path = "load." + (key.size() <= max_shown_string ? key : key.substr(0, max_shown_string));
      const bool scalar = value.is_number() || value.is_boolean() || value.is_null() || is_printable_text(value);
      if (!scalar) return must_be(path, "a number, a boolean, null or a printable string", value);
    }
  }
  return {};
}

// The session's counts, required but for ping (whose "ping" object has them).
Problem check_traffic(const nlohmann::json& report, bool required) {
  for (const char* key : traffic_fields) {
    const nlohmann::json* v = find(report, key);
    if (v == nullptr) {
      if (required) return missing(key);
      continue;
    }
    if (!in_range(*v, 0, max_merge_count)) return must_be(key, range_text(0, max_merge_count), *v);
  }
  return {};
}

// The fields merge reads, moved out of a checked report; the rest is dropped with `doc`.
nlohmann::json kept_fields(nlohmann::json& doc, const std::string& kind) {
  nlohmann::json report = nlohmann::json::object();
  report["command"] = kind;
  for (const char* key : {"label", "host", "start_unix_s", "end_unix_s", "elapsed_s", "sent_per_s", "received_per_s",
                          "load", "sent", "sent_bytes", "received", "bytes", "kernel_drops"}) {
    if (doc.contains(key)) report[key] = std::move(doc[key]);
  }
  if (kind != "ping") return report;
  for (const char* key : {"to", "size", "rate"}) {
    if (doc.contains(key)) report[key] = std::move(doc[key]);
  }
  nlohmann::json& from = doc["ping"];
  nlohmann::json ping = nlohmann::json::object();
  for (const PingCountField& f : ping_count_fields) ping[f.name] = std::move(from[f.name]);
  ping["lost"] = std::move(from["lost"]);
  nlohmann::json histogram = nlohmann::json::object();
  for (const char* key : histogram_fields) histogram[key] = std::move(from["histogram"][key]);
  ping["histogram"] = std::move(histogram);
  report["ping"] = std::move(ping);
  return report;
}

std::uint64_t count_or_zero(const nlohmann::json& report, const char* key) {
  const auto it = report.find(key);
  return it == report.end() ? 0 : it->get<std::uint64_t>();
}

Error bad(const std::string& name, const std::string& what) {
  return Error::make(Errc::bad_option, name + ": " + what);
}

}  // namespace

Result<MergeInput> parse_merge_input(std::string_view text, const std::string& name) {
  if (text.size() > max_merge_input_bytes) {
    return bad(name, "larger than " + std::to_string(max_merge_input_bytes >> 20) + " MiB: not a salvo report");
  }
  if (!nested_within_limit(text)) {
    return bad(name, "nested more than " + std::to_string(max_depth) + " levels deep: not a salvo report");
  }
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return bad(name, "not JSON (expected the output of salvo blast, sink, echo or ping --json)");
  if (!doc.is_object()) {
    return bad(name, "not a salvo report (the file holds " + describe(doc) + ", not an object)");
  }
  const nlohmann::json* command = find(doc, "command");
  if (command == nullptr) return bad(name, "not a salvo report (\"command\" is missing)");
  std::string kind;
  for (const char* k : {"blast", "sink", "echo", "ping"}) {
    if (*command == k) kind = k;
  }
  if (kind.empty()) {
    if (*command == "mixed") return bad(name, "a merge of mixed reports cannot be merged again; merge its files");
    return bad(name, "not a salvo report (" + must_be("command", "\"blast\", \"sink\", \"echo\" or \"ping\"", *command) + ")");
  }
  const bool ping = kind == "ping";
  if (ping) {
    const nlohmann::json* p = find(doc, "ping");
    if (p == nullptr) return bad(name, "not a salvo ping report (no \"ping\" object)");
    if (auto problem = check_ping(*p)) return bad(name, *problem);
    if (auto problem = check_run_parameters(doc)) return bad(name, *problem);
  }
  if (auto problem = check_traffic(doc, !ping)) return bad(name, *problem);
  if (auto problem = check_instance(doc)) return bad(name, *problem);

  MergeInput input;
  input.kind = kind;
  input.report = kept_fields(doc, kind);
  const nlohmann::json& r = input.report;
  input.traffic = TrafficCounts{count_or_zero(r, "sent"), count_or_zero(r, "sent_bytes"), count_or_zero(r, "received"),
                                count_or_zero(r, "bytes"), count_or_zero(r, "kernel_drops")};
  if (r.contains("load")) {
    input.load = r["load"];
  } else if (ping) {
    input.load = nlohmann::json::object();
    for (const char* key : {"to", "size", "rate"}) {
      if (r.contains(key)) input.load[key] = r[key];
    }
  }
  if (ping) {
    // Every field has its type now; what is left is whether they agree (lost == sent - received,
    // buckets on the layout's boundaries and adding up to total == received, ...).
    // The counts alone: merge_inputs reads the histogram again, into the merged one.
    auto counts = ping_counts_from_json(r["ping"]);
    if (!counts) return bad(name, counts.error().message);
    input.counts = *counts;
    input.traffic.sent = counts->sent;
    input.traffic.received = counts->received;
  }
  return input;
}

namespace {

// The first member where two loads differ, as `"load.rate" is 2000, but a.json's is 1000`.
std::optional<std::string> load_difference(const nlohmann::json& load, const nlohmann::json& first,
                                           const std::string& first_name) {
  if (load == first) return std::nullopt;
  const nlohmann::json empty = nlohmann::json::object();
  const nlohmann::json& a = load.is_object() ? load : empty;
  const nlohmann::json& b = first.is_object() ? first : empty;
  auto shown = [](const nlohmann::json& object, const std::string& key) {
    const auto it = object.find(key);
    return it == object.end() ? std::string("absent") : describe(*it);
  };
  for (const nlohmann::json* side : {&a, &b}) {
    for (const auto& [key, value] : side->items()) {
      if (a.contains(key) && b.contains(key) && a[key] == b[key]) continue;
      return "\"load." + key + "\" is " + shown(a, key) + ", but " + first_name + "'s is " + shown(b, key);
    }
  }
  return "its load differs from " + first_name + "'s";
}

std::string a_or_an(const std::string& kind) { return (kind == "echo" ? "an " : "a ") + kind; }

double rate_of(const nlohmann::json& report, const char* rate_key, std::uint64_t count) {
  if (report.contains(rate_key)) return report[rate_key].get<double>();
  const double elapsed = report.contains("elapsed_s") ? report["elapsed_s"].get<double>() : 0;
  return elapsed > 0 ? static_cast<double>(count) / elapsed : 0;
}

}  // namespace

Result<nlohmann::json> merge_inputs(std::vector<MergeInput> inputs, const std::vector<std::string>& names,
                                    MergeOptions options) {
  PingCounts sums;
  TrafficCounts total;
  double sent_per_s = 0;
  double received_per_s = 0;
  std::optional<double> first_start, last_start, last_end;
  bool same_load = true;
  std::vector<nlohmann::json> ping_reports;
  std::vector<std::string> ping_names;
  nlohmann::json rows = nlohmann::json::array();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = i < names.size() ? names[i] : std::to_string(i);
    const std::string first_name = names.empty() ? "0" : names[0];
    MergeInput& in = inputs[i];
    if (in.kind != inputs[0].kind && !options.mix) {
      return bad(name, a_or_an(in.kind) + " report, but " + first_name + " is " + a_or_an(inputs[0].kind) +
                           " report; merge reports of one kind, or give --mix");
    }
    if (auto difference = load_difference(in.load, inputs[0].load, first_name)) {
      same_load = false;
      if (!options.mix) return bad(name, *difference + "; merge runs of one load, or give --mix");
    }
    for (const PingCountField& f : ping_count_fields) {
      // Both terms are at most max_merge_count, so the sum cannot wrap before it is compared.
      sums.*f.member += in.counts.*f.member;
      if (sums.*f.member > max_merge_count) {
        return bad(name, std::string("\"ping.") + f.name + "\": the sum over the files exceeds " +
                             std::to_string(max_merge_count));
      }
    }
    const std::pair<const char*, std::uint64_t TrafficCounts::*> traffic[] = {
        {"sent", &TrafficCounts::sent},         {"sent_bytes", &TrafficCounts::sent_bytes},
        {"received", &TrafficCounts::received}, {"bytes", &TrafficCounts::bytes},
        {"kernel_drops", &TrafficCounts::kernel_drops}};
    for (const auto& [key, member] : traffic) {
      total.*member += in.traffic.*member;
      if (total.*member > max_merge_count) {
        return bad(name, std::string("\"") + key + "\": the sum over the files exceeds " + std::to_string(max_merge_count));
      }
    }
    const nlohmann::json& r = in.report;
    nlohmann::json row;
    row["file"] = name;
    row["kind"] = in.kind;
    row["label"] = r.contains("label") ? r["label"] : nlohmann::json(nullptr);
    row["host"] = r.contains("host") ? r["host"] : nlohmann::json(nullptr);
    for (const char* key : {"start_unix_s", "end_unix_s"}) {
      if (!r.contains(key)) continue;
      const double t = r[key].get<double>();
      row[std::string(key).substr(0, std::string(key).find('_'))] =
          format_rfc3339_us(std::llround(t * 1e6) * 1000);
      row[key] = t;
    }
    if (r.contains("start_unix_s")) {
      const double t = r["start_unix_s"].get<double>();
      first_start = first_start ? std::min(*first_start, t) : t;
      last_start = last_start ? std::max(*last_start, t) : t;
    }
    if (r.contains("end_unix_s")) last_end = last_end ? std::max(*last_end, r["end_unix_s"].get<double>()) : r["end_unix_s"].get<double>();
    row["elapsed_s"] = r.contains("elapsed_s") ? r["elapsed_s"] : nlohmann::json(nullptr);
    const double row_sent_per_s = rate_of(r, "sent_per_s", in.traffic.sent);
    const double row_received_per_s = rate_of(r, "received_per_s", in.traffic.received);
    sent_per_s += row_sent_per_s;
    received_per_s += row_received_per_s;
    // A count over a sliver of a second is no rate anyone sent at; and the sums must stay finite.
    const std::pair<const char*, double> rates[] = {{"sent_per_s", row_sent_per_s}, {"received_per_s", row_received_per_s}};
    for (const auto& [key, rate] : rates) {
      if (rate > static_cast<double>(max_merge_count)) {
        return bad(name, std::string("\"") + key + "\" (a count over \"elapsed_s\") exceeds " + std::to_string(max_merge_count));
      }
    }
    if (sent_per_s > static_cast<double>(max_merge_count) || received_per_s > static_cast<double>(max_merge_count)) {
      return bad(name, std::string("\"") + (sent_per_s > static_cast<double>(max_merge_count) ? "sent_per_s" : "received_per_s") +
                           "\": the sum over the files exceeds " + std::to_string(max_merge_count));
    }
    row["sent"] = in.traffic.sent;
    row["sent_bytes"] = in.traffic.sent_bytes;
    row["sent_per_s"] = row_sent_per_s;
    row["received"] = in.traffic.received;
    row["bytes"] = in.traffic.bytes;
    row["received_per_s"] = row_received_per_s;
    row["kernel_drops"] = in.traffic.kernel_drops;
    rows.push_back(std::move(row));
    if (in.kind == "ping") {
      ping_reports.push_back(std::move(in.report));
      ping_names.push_back(name);
    }
  }
  const bool one_kind = std::all_of(inputs.begin(), inputs.end(), [&](const MergeInput& in) { return in.kind == inputs[0].kind; });
  nlohmann::json out;
  if (!ping_reports.empty()) {
    auto merged = merge_ping_reports(ping_reports, ping_names);
    if (!merged) return merged;
    out = std::move(*merged);
  }
  out["command"] = one_kind && !inputs.empty() ? inputs[0].kind : "mixed";
  out["merged_from"] = names;
  out["instances"] = std::move(rows);
  out["sent"] = total.sent;
  out["sent_bytes"] = total.sent_bytes;
  out["received"] = total.received;
  out["bytes"] = total.bytes;
  out["kernel_drops"] = total.kernel_drops;
  out["sent_per_s"] = sent_per_s;
  out["received_per_s"] = received_per_s;
  if (first_start) {
    out["start"] = format_rfc3339_us(std::llround(*first_start * 1e6) * 1000);
    out["start_unix_s"] = *first_start;
    out["start_spread_s"] = *last_start - *first_start;
  }
  if (last_end) {
    out["end"] = format_rfc3339_us(std::llround(*last_end * 1e6) * 1000);
    out["end_unix_s"] = *last_end;
  }
  if (same_load && !inputs.empty() && !inputs[0].load.is_null()) out["load"] = inputs[0].load;
  return out;
}

}  // namespace salvo::cli
