#include "dns_zone_file.hpp"

#include <optional>

#include "dns_rdata.hpp"

namespace dns {
namespace {

// NSD's TTL for records when the file has no $TTL.
constexpr std::uint32_t default_ttl = 3600;

// One logical entry: the fields of a physical line, or of several joined by parentheses.
struct Entry {
  std::vector<TextField> fields;
  std::size_t line = 0;
  bool blank_owner = false;  // the line started with a space or tab: the previous owner's
};

// Splits master-file text into entries, one at a time.
class Tokenizer {
 public:
  explicit Tokenizer(std::string_view text) : text_(text) {}

  // The next entry with at least one field; false at the end or on an error (then error() is set
  // and error_line() says where).
  bool next(Entry& entry) {
    entry.fields.clear();
    while (at_ < text_.size()) {
      if (!read_entry(entry)) return false;
      if (!entry.fields.empty()) return true;
    }
    return false;
  }

  const std::string& error() const noexcept { return error_; }
  std::size_t error_line() const noexcept { return error_line_; }

 private:
  bool fail(std::string message, std::size_t line) {
    error_ = std::move(message);
    error_line_ = line;
    return false;
  }

  bool read_entry(Entry& entry) {
    entry.fields.clear();
    entry.line = line_;
    entry.blank_owner = at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\t');
    std::size_t open_line = 0;
    int depth = 0;
    while (at_ < text_.size()) {
      const char c = text_[at_];
      if (c == '\n') {
        ++line_;
        ++at_;
        if (depth == 0) return true;
        continue;
      }
      if (c == ' ' || c == '\t' || c == '\r') {
        ++at_;
        continue;
      }
      if (c == ';') {
        while (at_ < text_.size() && text_[at_] != '\n') ++at_;
        continue;
      }
      if (c == '(') {
        if (depth > 0) return fail("nested parentheses", line_);
        depth = 1;
        open_line = line_;
        ++at_;
        continue;
      }
      if (c == ')') {
        if (depth == 0) return fail(") without (", line_);
        depth = 0;
        ++at_;
        continue;
      }
      if (c == '"') {
        const std::size_t start = ++at_;
        while (at_ < text_.size() && text_[at_] != '"' && text_[at_] != '\n') at_ += text_[at_] == '\\' ? 2 : 1;
        if (at_ >= text_.size() || text_[at_] != '"') return fail("unterminated quoted string", line_);
        entry.fields.push_back({text_.substr(start, at_ - start), true});
        ++at_;
        continue;
      }
      const std::size_t start = at_;
      while (at_ < text_.size()) {
        const char d = text_[at_];
        if (d == ' ' || d == '\t' || d == '\r' || d == '\n' || d == ';' || d == '(' || d == ')' || d == '"') break;
        if (d == '\\') {
          if (at_ + 1 >= text_.size() || text_[at_ + 1] == '\n') return fail("a backslash ends the line", line_);
          ++at_;
        }
        ++at_;
      }
      entry.fields.push_back({text_.substr(start, at_ - start), false});
    }
    if (depth > 0) return fail("( without ) before the end of the file", open_line);
    return true;
  }

  std::string_view text_;
  std::size_t at_ = 0;
  std::size_t line_ = 1;
  std::string error_;
  std::size_t error_line_ = 0;
};

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower_ascii(static_cast<std::uint8_t>(a[i])) != lower_ascii(static_cast<std::uint8_t>(b[i]))) return false;
  }
  return true;
}

bool is_class_name(std::string_view text) noexcept {
  if (equals_ignoring_case(text, "CH") || equals_ignoring_case(text, "HS") || equals_ignoring_case(text, "CS") ||
      equals_ignoring_case(text, "NONE") || equals_ignoring_case(text, "ANY")) {
    return true;
  }
  return text.size() > 5 && equals_ignoring_case(text.substr(0, 5), "CLASS");
}

// Reads master-file entries and keeps the state they change: origin, $TTL, the previous owner.
class Reader {
 public:
  Reader(std::string_view source_name, ZoneFileContents& out) : source_(source_name), out_(out) {}

  bool set_origin(std::string_view origin) {
    if (origin.empty()) return true;
    std::string text(origin);
    if (text.back() != '.') text += '.';
    Name name;
    std::string error = name_from_text(text, nullptr, name);
    if (!error.empty()) return fail(0, "bad origin: " + error);
    origin_ = name;
    return true;
  }

  bool read(std::string_view text) {
    Tokenizer tokenizer(text);
    Entry entry;
    while (tokenizer.next(entry)) {
      const bool ok = entry.fields[0].text.starts_with('$') && !entry.blank_owner && !entry.fields[0].quoted
                          ? directive(entry)
                          : record(entry);
      if (!ok) return false;
    }
    if (!tokenizer.error().empty()) return fail(tokenizer.error_line(), tokenizer.error());
    if (out_.records.empty()) return fail(0, "no records");
    return true;
  }

 private:
  bool fail(std::size_t line, const std::string& message) {
    out_.error = std::string(source_) + (line > 0 ? ":" + std::to_string(line) : std::string()) + ": " + message;
    return false;
  }

  bool directive(const Entry& entry) {
    const std::string_view name = entry.fields[0].text;
    if (equals_ignoring_case(name, "$INCLUDE")) {
      return fail(entry.line, "$INCLUDE is not supported (a zone is one file)");
    }
    const bool is_origin = equals_ignoring_case(name, "$ORIGIN");
    const bool is_ttl = equals_ignoring_case(name, "$TTL");
    if (!is_origin && !is_ttl) return fail(entry.line, "unknown directive " + std::string(name));
    if (entry.fields.size() != 2) {
      return fail(entry.line, std::string(name) + " takes one argument, got " + std::to_string(entry.fields.size() - 1));
    }
    if (is_ttl) {
      std::uint32_t ttl = 0;
      std::string error = seconds_from_text(entry.fields[1].text, max_ttl, "TTL", ttl);
      if (!error.empty()) return fail(entry.line, error);
      ttl_ = ttl;
      return true;
    }
    Name origin;
    std::string error = name_from_text(entry.fields[1].text, origin_ ? &*origin_ : nullptr, origin);
    if (!error.empty()) return fail(entry.line, error);
    origin_ = origin;
    return true;
  }

  bool record(const Entry& entry) {
    ZoneFileRecord parsed;
    parsed.line = entry.line;
    Record& rr = parsed.record;
    std::size_t at = 0;
    if (entry.blank_owner) {
      if (!previous_owner_) return fail(entry.line, "no previous owner name for a line starting with a blank");
      rr.owner = *previous_owner_;
    } else {
      std::string error = name_from_text(entry.fields[0].text, origin_ ? &*origin_ : nullptr, rr.owner);
      if (!error.empty()) return fail(entry.line, error);
      at = 1;
    }
    // With no origin yet, the first owner names the zone and is the origin from here on, as the
    // zone's name is for NSD.
    if (!origin_ && out_.records.empty()) origin_ = rr.owner;
    const Name* origin = origin_ ? &*origin_ : nullptr;
    bool have_ttl = false;
    bool have_class = false;
    rr.ttl = ttl_;
    std::optional<std::uint16_t> type;
    for (; at < entry.fields.size() && !type; ++at) {
      const std::string_view field = entry.fields[at].text;
      if (!field.empty() && field[0] >= '0' && field[0] <= '9') {
        if (have_ttl) return fail(entry.line, "a second TTL " + std::string(field));
        std::string error = seconds_from_text(field, max_ttl, "TTL", rr.ttl);
        if (!error.empty()) return fail(entry.line, error);
        have_ttl = true;
      } else if (equals_ignoring_case(field, "IN")) {
        if (have_class) return fail(entry.line, "a second class IN");
        have_class = true;
      } else if (is_class_name(field)) {
        return fail(entry.line, "class " + std::string(field) + " is not supported (only IN)");
      } else {
        type = type_from_text(field);
        if (!type) return fail(entry.line, "unknown record type " + std::string(field));
      }
    }
    if (!type) return fail(entry.line, "missing record type");
    rr.type = *type;
    rr.rclass = class_in;
    const std::span<const TextField> rdata_fields(entry.fields.data() + at, entry.fields.size() - at);
    std::string error = rdata_from_text(rr.type, rdata_fields, origin, rr.rdata);
    if (!error.empty()) return fail(entry.line, error);
    if (out_.records.empty()) out_.apex = *origin;
    previous_owner_ = rr.owner;
    out_.records.push_back(std::move(parsed));
    return true;
  }

  std::string_view source_;
  ZoneFileContents& out_;
  std::optional<Name> origin_;
  std::optional<Name> previous_owner_;
  std::uint32_t ttl_ = default_ttl;
};

}  // namespace

ZoneFileContents parse_zone_file(std::string_view text, std::string_view source_name, std::string_view origin) {
  ZoneFileContents contents;
  Reader reader(source_name, contents);
  if (reader.set_origin(origin) && reader.read(text)) return contents;
  contents.records.clear();
  return contents;
}

}  // namespace dns
