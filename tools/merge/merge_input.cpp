#include "merge/merge_input.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include "common/latency_histogram.hpp"
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

// The run parameters merge keeps when every file agrees. Optional: an earlier merge left out
// those its files disagreed on. Only scalars are accepted, so that comparing and printing them
// never recurses into nested arrays.
Problem check_run_parameters(const nlohmann::json& report) {
  if (const nlohmann::json* to = find(report, "to"); to != nullptr && !to->is_string()) {
    return must_be("to", "a string", *to);
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

// The fields merge reads, moved out of a checked report; the rest is dropped with `doc`.
nlohmann::json kept_fields(nlohmann::json& doc) {
  nlohmann::json report = nlohmann::json::object();
  report["command"] = "ping";
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

Error bad(const std::string& name, const std::string& what) {
  return Error::make(Errc::bad_option, name + ": " + what);
}

}  // namespace

Result<MergeInput> parse_merge_input(std::string_view text, const std::string& name) {
  if (text.size() > max_merge_input_bytes) {
    return bad(name, "larger than " + std::to_string(max_merge_input_bytes >> 20) + " MiB: not a salvo ping report");
  }
  if (!nested_within_limit(text)) {
    return bad(name, "nested more than " + std::to_string(max_depth) + " levels deep: not a salvo ping report");
  }
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return bad(name, "not JSON (expected the output of salvo ping --json)");
  if (!doc.is_object()) {
    return bad(name, "not a salvo ping report (the file holds " + describe(doc) + ", not an object)");
  }
  const nlohmann::json* command = find(doc, "command");
  if (command == nullptr) return bad(name, "not a salvo ping report (\"command\" is missing)");
  if (*command != "ping") {
    return bad(name, "not a salvo ping report (" + must_be("command", "\"ping\"", *command) + ")");
  }
  const nlohmann::json* ping = find(doc, "ping");
  if (ping == nullptr) return bad(name, "not a salvo ping report (no \"ping\" object)");
  if (auto problem = check_ping(*ping)) return bad(name, *problem);
  if (auto problem = check_run_parameters(doc)) return bad(name, *problem);

  MergeInput input;
  input.report = kept_fields(doc);
  // Every field has its type now; what is left is whether they agree (lost == sent - received,
  // buckets on the layout's boundaries and adding up to total == received, ...).
  auto results = ping_results_from_json(input.report["ping"]);
  if (!results) return bad(name, results.error().message);
  input.counts = results->counts;
  return input;
}

Result<nlohmann::json> merge_inputs(std::vector<MergeInput> inputs, const std::vector<std::string>& names) {
  PingCounts sums;
  std::vector<nlohmann::json> reports;
  reports.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = i < names.size() ? names[i] : std::to_string(i);
    for (const PingCountField& f : ping_count_fields) {
      // Both terms are at most max_merge_count, so the sum cannot wrap before it is compared.
      sums.*f.member += inputs[i].counts.*f.member;
      if (sums.*f.member > max_merge_count) {
        return bad(name, std::string("\"ping.") + f.name + "\": the sum over the files exceeds " +
                             std::to_string(max_merge_count));
      }
    }
    reports.push_back(std::move(inputs[i].report));
  }
  return merge_ping_reports(reports, names);
}

}  // namespace salvo::cli
