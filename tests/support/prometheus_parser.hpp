// A strict parser of Prometheus text exposition format 0.0.4, for tests of what salvo writes
// (salvo::prometheus_text, `salvo sink --metrics FILE`). Stricter than Prometheus itself where
// salvo's output is concerned, so that anything it accepts is accepted by every reader:
//   - every line is "# HELP name text", "# TYPE name type" or a sample "name{labels} value";
//     no other comments, no empty lines, no timestamps (node_exporter's textfile collector
//     rejects them), the text ends with a newline;
//   - names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*, label values use
//     only the escapes \\ \" \n, no label name twice in one sample, no sample twice;
//   - every metric has exactly one HELP and one TYPE, both before its first sample, and its lines
//     are contiguous (a metric does not come back after another one started);
//   - a histogram's samples are name_bucket (with le), name_count and optionally name_sum; per
//     label set its buckets have increasing le ending at "+Inf", non-decreasing counts, and the
//     +Inf bucket equals name_count.
// Violations throw std::runtime_error naming the line.
#pragma once

#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace salvo::test {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  std::string value;                          // as written
};

struct PromFamily {
  std::string name;
  std::string help;  // unescaped
  std::string type;
  std::vector<PromSample> samples;
};

struct PromDocument {
  std::vector<PromFamily> families;

  const PromFamily* family(std::string_view name) const {
    for (const PromFamily& f : families) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }
  // The value of the sample `name` whose labels are exactly `labels`, as an unsigned integer;
  // throws when there is no such sample or its value is not one.
  std::uint64_t value(std::string_view name, const std::map<std::string, std::string>& labels) const {
    for (const PromFamily& f : families) {
      for (const PromSample& s : f.samples) {
        if (s.name != name || s.labels != labels) continue;
        std::uint64_t v = 0;
        auto [end, ec] = std::from_chars(s.value.data(), s.value.data() + s.value.size(), v);
        if (ec != std::errc() || end != s.value.data() + s.value.size()) {
          throw std::runtime_error("sample " + std::string(name) + " has a value that is not an unsigned integer: " + s.value);
        }
        return v;
      }
    }
    std::string text;
    for (const auto& [k, v] : labels) text += k + "=" + v + " ";
    throw std::runtime_error("no sample " + std::string(name) + " with labels { " + text + "}");
  }
};

namespace prom_detail {

inline bool name_start(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}
inline bool name_rest(char c, bool colon) { return name_start(c, colon) || (c >= '0' && c <= '9'); }

// Reads a name at `pos`; empty when there is none.
inline std::string read_name(std::string_view line, std::size_t& pos, bool colon) {
  const std::size_t start = pos;
  if (pos < line.size() && name_start(line[pos], colon)) {
    ++pos;
    while (pos < line.size() && name_rest(line[pos], colon)) ++pos;
  }
  return std::string(line.substr(start, pos - start));
}

inline bool valid_name(std::string_view name, bool colon) {
  std::size_t pos = 0;
  return !read_name(name, pos, colon).empty() && pos == name.size();
}

// A float as Prometheus writes them (Go's ParseFloat): digits with optional fraction and
// exponent, or +Inf, -Inf, NaN.
inline bool valid_value(std::string_view v) {
  if (v == "+Inf" || v == "-Inf" || v == "NaN") return true;
  std::size_t i = 0;
  if (i < v.size() && (v[i] == '-' || v[i] == '+')) ++i;
  std::size_t digits = 0;
  while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++digits;
  if (i < v.size() && v[i] == '.') {
    ++i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
    ++i;
    if (i < v.size() && (v[i] == '-' || v[i] == '+')) ++i;
    std::size_t exp = 0;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++exp;
    if (exp == 0) return false;
  }
  return i == v.size();
}

inline double le_value(const std::string& le) {
  if (le == "+Inf") return std::numeric_limits<double>::infinity();
  return std::stod(le);
}

}  // namespace prom_detail

inline PromDocument parse_prometheus_strict(const std::string& text) {
  using namespace prom_detail;
  PromDocument doc;
  std::size_t line_no = 0;
  auto fail = [&](const std::string& why) -> std::runtime_error {
    return std::runtime_error("prometheus text, line " + std::to_string(line_no) + ": " + why);
  };
  if (!text.empty() && text.back() != '\n') {
    line_no = 0;
    throw fail("the text does not end with a newline");
  }
  std::map<std::string, std::size_t> index;      // family name -> position in doc.families
  std::map<std::string, bool> sample_seen;       // name + labels, for duplicates
  std::string current;                           // the family whose lines are being read
  std::size_t pos_line = 0;
  while (pos_line < text.size()) {
    const std::size_t end = text.find('\n', pos_line);
    const std::string_view line(text.data() + pos_line, end - pos_line);
    pos_line = end + 1;
    ++line_no;
    if (line.empty()) throw fail("empty line");

    if (line[0] == '#') {
      const bool help = line.starts_with("# HELP ");
      const bool type = line.starts_with("# TYPE ");
      if (!help && !type) throw fail("a comment that is neither HELP nor TYPE: " + std::string(line));
      std::size_t pos = 7;
      const std::string name = read_name(line, pos, true);
      if (name.empty()) throw fail("HELP/TYPE without a valid metric name");
      if (pos >= line.size() || line[pos] != ' ') throw fail("HELP/TYPE: expected a space after the name");
      const std::string_view rest = line.substr(pos + 1);
      auto found = index.find(name);
      if (found == index.end()) {
        index[name] = doc.families.size();
        doc.families.push_back(PromFamily{name, {}, {}, {}});
        found = index.find(name);
      } else if (current != name) {
        throw fail("metric " + name + " comes back after another metric");
      }
      PromFamily& family = doc.families[found->second];
      if (!family.samples.empty()) throw fail("HELP/TYPE for " + name + " after its samples");
      current = name;
      if (help) {
        if (!family.help.empty()) throw fail("a second HELP for " + name);
        std::string unescaped;
        for (std::size_t i = 0; i < rest.size(); ++i) {
          if (rest[i] != '\\') {
            unescaped += rest[i];
            continue;
          }
          if (++i >= rest.size()) throw fail("HELP ends in a lone backslash");
          if (rest[i] == '\\') unescaped += '\\';
          else if (rest[i] == 'n') unescaped += '\n';
          else throw fail(std::string("HELP has an unknown escape \\") + rest[i]);
        }
        if (unescaped.empty()) throw fail("empty HELP for " + name);
        family.help = unescaped;
      } else {
        if (!family.type.empty()) throw fail("a second TYPE for " + name);
        if (rest != "counter" && rest != "gauge" && rest != "histogram" && rest != "summary" && rest != "untyped") {
          throw fail("unknown TYPE " + std::string(rest));
        }
        family.type = std::string(rest);
      }
      continue;
    }

    // A sample.
    std::size_t pos = 0;
    PromSample sample;
    sample.name = read_name(line, pos, true);
    if (sample.name.empty()) throw fail("a sample line that does not start with a metric name: " + std::string(line));
    if (pos < line.size() && line[pos] == '{') {
      ++pos;
      bool first = true;
      while (true) {
        if (pos >= line.size()) throw fail("unterminated label set");
        if (line[pos] == '}') {
          ++pos;
          break;
        }
        if (!first) {
          if (line[pos] != ',') throw fail("expected ',' between labels");
          ++pos;
        }
        first = false;
        const std::string label = read_name(line, pos, false);
        if (label.empty()) throw fail("bad label name");
        if (pos + 1 >= line.size() || line[pos] != '=' || line[pos + 1] != '"') throw fail("expected =\" after label " + label);
        pos += 2;
        std::string value;
        while (true) {
          if (pos >= line.size()) throw fail("unterminated label value");
          const char c = line[pos++];
          if (c == '"') break;
          if (c != '\\') {
            value += c;
            continue;
          }
          if (pos >= line.size()) throw fail("label value ends in a lone backslash");
          const char e = line[pos++];
          if (e == '\\') value += '\\';
          else if (e == '"') value += '"';
          else if (e == 'n') value += '\n';
          else throw fail(std::string("label value has an unknown escape \\") + e);
        }
        if (!sample.labels.emplace(label, value).second) throw fail("label " + label + " twice in one sample");
      }
    }
    if (pos >= line.size() || line[pos] != ' ') throw fail("expected one space before the value");
    ++pos;
    sample.value = std::string(line.substr(pos));
    if (!valid_value(sample.value)) {
      throw fail("the value is not one float (a timestamp or trailing text?): '" + sample.value + "'");
    }

    // Which family: the exact name, or a histogram's _bucket/_count/_sum.
    std::string family_name = sample.name;
    std::string suffix;
    auto found = index.find(family_name);
    if (found == index.end() || doc.families[found->second].type == "histogram") {
      for (const char* s : {"_bucket", "_count", "_sum"}) {
        if (sample.name.size() > std::string_view(s).size() && sample.name.ends_with(s)) {
          family_name = sample.name.substr(0, sample.name.size() - std::string_view(s).size());
          suffix = s;
          break;
        }
      }
      found = index.find(family_name);
      if (found == index.end() || doc.families[found->second].type != "histogram") {
        throw fail("sample " + sample.name + " has no HELP and TYPE before it");
      }
    }
    PromFamily& family = doc.families[found->second];
    if (family.help.empty() || family.type.empty()) throw fail("sample " + sample.name + " before its metric's HELP and TYPE");
    if (current != family.name) throw fail("sample " + sample.name + " is not next to its metric's other lines");
    if (family.type == "histogram") {
      if (suffix.empty()) throw fail("histogram sample without _bucket/_count/_sum: " + sample.name);
      if ((suffix == "_bucket") != (sample.labels.count("le") == 1)) throw fail("le belongs on _bucket samples only");
    }
    std::string key = sample.name + "{";
    for (const auto& [k, v] : sample.labels) key += k + "=" + v + ",";
    if (sample_seen[key]) throw fail("sample " + key + "} twice");
    sample_seen[key] = true;
    family.samples.push_back(std::move(sample));
  }

  // Histograms: cumulative buckets per label set, +Inf == _count.
  for (const PromFamily& f : doc.families) {
    if (f.help.empty() || f.type.empty()) throw std::runtime_error("metric " + f.name + " lacks HELP or TYPE");
    if (f.type != "histogram") continue;
    struct Series {
      std::vector<std::pair<std::string, std::string>> buckets;  // le, value
      std::string count;
      bool has_count = false;
    };
    std::map<std::map<std::string, std::string>, Series> series;
    for (const PromSample& s : f.samples) {
      auto labels = s.labels;
      if (s.name == f.name + "_bucket") {
        const std::string le = labels.at("le");
        labels.erase("le");
        series[labels].buckets.emplace_back(le, s.value);
      } else if (s.name == f.name + "_count") {
        series[labels].count = s.value;
        series[labels].has_count = true;
      }
    }
    for (const auto& [labels, s] : series) {
      const std::string where = "histogram " + f.name + ": ";
      if (!s.has_count) throw std::runtime_error(where + "a bucket series without _count");
      if (s.buckets.empty()) throw std::runtime_error(where + "_count without buckets");
      if (s.buckets.back().first != "+Inf") throw std::runtime_error(where + "the last bucket is not le=\"+Inf\"");
      for (std::size_t i = 1; i < s.buckets.size(); ++i) {
        if (!(le_value(s.buckets[i - 1].first) < le_value(s.buckets[i].first))) {
          throw std::runtime_error(where + "le values not increasing at " + s.buckets[i].first);
        }
        if (std::stod(s.buckets[i].second) < std::stod(s.buckets[i - 1].second)) {
          throw std::runtime_error(where + "bucket counts decrease at le=" + s.buckets[i].first);
        }
      }
      if (s.buckets.back().second != s.count) {
        throw std::runtime_error(where + "+Inf bucket " + s.buckets.back().second + " != _count " + s.count);
      }
    }
  }
  return doc;
}

}  // namespace salvo::test
