#include "dns_rdata.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstring>

#include "dns_types.hpp"

namespace dns {
namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

char lower_char(char c) noexcept { return static_cast<char>(lower_ascii(static_cast<std::uint8_t>(c))); }

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower_char(a[i]) != lower_char(b[i])) return false;
  }
  return true;
}

// Reads one character of escaped text at `at` (a plain byte, \X or \DDD) into `byte` and moves
// past it. Returns an error message, empty on success.
std::string unescape_one(std::string_view text, std::size_t& at, std::uint8_t& byte) {
  if (text[at] != '\\') {
    byte = static_cast<std::uint8_t>(text[at++]);
    return {};
  }
  if (at + 1 >= text.size()) return "a backslash ends " + std::string(text);
  if (is_digit(text[at + 1])) {
    if (at + 3 >= text.size() || !is_digit(text[at + 2]) || !is_digit(text[at + 3])) {
      return "bad \\DDD escape in " + std::string(text);
    }
    const int value = (text[at + 1] - '0') * 100 + (text[at + 2] - '0') * 10 + (text[at + 3] - '0');
    if (value > 255) return "\\DDD escape above 255 in " + std::string(text);
    byte = static_cast<std::uint8_t>(value);
    at += 4;
    return {};
  }
  byte = static_cast<std::uint8_t>(text[at + 1]);
  at += 2;
  return {};
}

std::string uint_from_text(std::string_view text, std::uint32_t max, std::string_view what, std::uint32_t& out) {
  if (text.empty() || text.size() > 10) {
    return std::string(what) + ": expected a number, got \"" + std::string(text) + "\"";
  }
  std::uint64_t value = 0;
  for (const char c : text) {
    if (!is_digit(c)) return std::string(what) + ": expected a number, got \"" + std::string(text) + "\"";
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (value > max) {
    return std::string(what) + " " + std::string(text) + " is out of range (0-" + std::to_string(max) + ")";
  }
  out = static_cast<std::uint32_t>(value);
  return {};
}

void put16(std::vector<std::uint8_t>& out, std::uint32_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}

void put32(std::vector<std::uint8_t>& out, std::uint32_t value) {
  put16(out, value >> 16);
  put16(out, value & 0xffff);
}

std::string put_name(std::vector<std::uint8_t>& out, std::string_view text, const Name* origin) {
  Name name;
  std::string error = name_from_text(text, origin, name);
  if (!error.empty()) return error;
  out.insert(out.end(), name.wire().begin(), name.wire().end());
  return {};
}

// A TXT character-string: at most 255 bytes after the escapes are read (RFC 1035 3.3).
std::string put_character_string(std::vector<std::uint8_t>& out, std::string_view text) {
  const std::size_t length_at = out.size();
  out.push_back(0);
  for (std::size_t at = 0; at < text.size();) {
    std::uint8_t byte = 0;
    std::string error = unescape_one(text, at, byte);
    if (!error.empty()) return error;
    out.push_back(byte);
  }
  const std::size_t length = out.size() - length_at - 1;
  if (length > 255) return "TXT string longer than 255 bytes";
  out[length_at] = static_cast<std::uint8_t>(length);
  return {};
}

struct TypeName {
  std::uint16_t type;
  const char* text;
};
constexpr std::array<TypeName, 9> type_names{{{type::A, "A"},
                                              {type::NS, "NS"},
                                              {type::CNAME, "CNAME"},
                                              {type::SOA, "SOA"},
                                              {type::PTR, "PTR"},
                                              {type::MX, "MX"},
                                              {type::TXT, "TXT"},
                                              {type::AAAA, "AAAA"},
                                              {type::SRV, "SRV"}}};

// The field names each type expects, for the "missing" message.
const char* expected_fields(std::uint16_t type) noexcept {
  switch (type) {
    case type::A: return "an IPv4 address";
    case type::AAAA: return "an IPv6 address";
    case type::NS:
    case type::CNAME:
    case type::PTR: return "a domain name";
    case type::MX: return "preference and exchange";
    case type::SOA: return "mname rname serial refresh retry expire minimum";
    case type::TXT: return "at least one string";
    case type::SRV: return "priority weight port target";
    default: return "fields";
  }
}

std::size_t field_count(std::uint16_t type) noexcept {
  switch (type) {
    case type::MX: return 2;
    case type::SOA: return 7;
    case type::SRV: return 4;
    default: return 1;
  }
}

std::size_t skip_name(std::span<const std::uint8_t> rdata, std::size_t at) noexcept {
  while (at < rdata.size() && rdata[at] != 0) at += 1 + rdata[at];
  return at + 1;
}

void lowercase_name_at(std::vector<std::uint8_t>& rdata, std::size_t at) noexcept {
  while (at < rdata.size() && rdata[at] != 0) {
    const std::size_t end = at + 1 + rdata[at];
    for (std::size_t i = at + 1; i < end && i < rdata.size(); ++i) rdata[i] = lower_ascii(rdata[i]);
    at = end;
  }
}

}  // namespace

std::string name_from_text(std::string_view text, const Name* origin, Name& out) {
  out = Name();
  if (text.empty()) return "empty domain name";
  if (text == "@") {
    if (origin == nullptr) return "@ needs an origin ($ORIGIN or the zone's name)";
    out = *origin;
    return {};
  }
  if (text == ".") return {};
  std::string label;
  bool absolute = false;
  for (std::size_t at = 0; at < text.size();) {
    if (text[at] == '.') {
      if (label.empty()) return "empty label in domain name " + std::string(text);
      if (!out.append_label(label)) return "domain name " + std::string(text) + " is longer than 255 bytes";
      label.clear();
      ++at;
      if (at == text.size()) absolute = true;
      continue;
    }
    std::uint8_t byte = 0;
    std::string error = unescape_one(text, at, byte);
    if (!error.empty()) return error;
    label.push_back(static_cast<char>(byte));
    if (label.size() > Name::max_label_size) {
      return "label longer than 63 bytes in domain name " + std::string(text);
    }
  }
  if (!label.empty() && !out.append_label(label)) {
    return "domain name " + std::string(text) + " is longer than 255 bytes";
  }
  if (absolute) return {};
  if (origin == nullptr) return "relative domain name " + std::string(text) + " needs an origin ($ORIGIN or the zone's name)";
  // Append the origin's labels one by one: Name has no concatenation of its own.
  const auto origin_wire = origin->wire();
  for (std::size_t at = 0; origin_wire[at] != 0; at += 1 + origin_wire[at]) {
    if (!out.append_label(origin_wire.subspan(at + 1, origin_wire[at]))) {
      return "domain name " + std::string(text) + " is longer than 255 bytes with the origin appended";
    }
  }
  return {};
}

std::string seconds_from_text(std::string_view text, std::uint32_t max, std::string_view what, std::uint32_t& out) {
  const auto bad = [&] { return std::string(what) + ": expected seconds or a duration like 1h30m, got \"" + std::string(text) + "\""; };
  if (text.empty() || !is_digit(text[0])) return bad();
  std::uint64_t total = 0;
  std::uint64_t number = 0;
  bool digits_pending = false;
  for (const char c : text) {
    if (is_digit(c)) {
      number = number * 10 + static_cast<std::uint64_t>(c - '0');
      digits_pending = true;
      if (number > 0xffffffffull * 2) return std::string(what) + " " + std::string(text) + " is out of range (0-" + std::to_string(max) + ")";
      continue;
    }
    if (!digits_pending) return bad();
    std::uint64_t unit = 0;
    switch (lower_char(c)) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      case 'w': unit = 604800; break;
      default: return bad();
    }
    total += number * unit;
    if (total > 0xffffffffull * 2) return std::string(what) + " " + std::string(text) + " is out of range (0-" + std::to_string(max) + ")";
    number = 0;
    digits_pending = false;
  }
  // "1h30" would leave 30 without a unit: BIND reads it as seconds, and so does this.
  if (digits_pending) total += number;
  if (total > max) return std::string(what) + " " + std::string(text) + " is out of range (0-" + std::to_string(max) + ")";
  out = static_cast<std::uint32_t>(total);
  return {};
}

std::optional<std::uint16_t> type_from_text(std::string_view text) {
  for (const TypeName& entry : type_names) {
    if (equals_ignoring_case(text, entry.text)) return entry.type;
  }
  return std::nullopt;
}

const char* type_to_text(std::uint16_t type) noexcept {
  for (const TypeName& entry : type_names) {
    if (entry.type == type) return entry.text;
  }
  return "?";
}

std::string rdata_from_text(std::uint16_t type, std::span<const TextField> fields, const Name* origin,
                            std::vector<std::uint8_t>& out) {
  out.clear();
  const std::string type_text = type_to_text(type);
  if (fields.size() < field_count(type) || fields.empty()) {
    return "missing rdata for " + type_text + " (expected " + expected_fields(type) + ")";
  }
  if (type != type::TXT && fields.size() > field_count(type)) {
    return "unexpected \"" + std::string(fields[field_count(type)].text) + "\" after the " + type_text + " rdata";
  }
  std::uint32_t value = 0;
  std::string error;
  switch (type) {
    case type::A: {
      std::array<std::uint8_t, 4> address{};
      const std::string text(fields[0].text);
      if (inet_pton(AF_INET, text.c_str(), address.data()) != 1) return "bad IPv4 address " + text;
      out.assign(address.begin(), address.end());
      return {};
    }
    case type::AAAA: {
      std::array<std::uint8_t, 16> address{};
      const std::string text(fields[0].text);
      if (inet_pton(AF_INET6, text.c_str(), address.data()) != 1) return "bad IPv6 address " + text;
      out.assign(address.begin(), address.end());
      return {};
    }
    case type::NS:
    case type::CNAME:
    case type::PTR:
      return put_name(out, fields[0].text, origin);
    case type::MX:
      if (error = uint_from_text(fields[0].text, 0xffff, "MX preference", value); !error.empty()) return error;
      put16(out, value);
      return put_name(out, fields[1].text, origin);
    case type::SRV: {
      static constexpr const char* names[3] = {"SRV priority", "SRV weight", "SRV port"};
      for (std::size_t i = 0; i < 3; ++i) {
        if (error = uint_from_text(fields[i].text, 0xffff, names[i], value); !error.empty()) return error;
        put16(out, value);
      }
      return put_name(out, fields[3].text, origin);
    }
    case type::SOA: {
      if (error = put_name(out, fields[0].text, origin); !error.empty()) return error;
      if (error = put_name(out, fields[1].text, origin); !error.empty()) return error;
      if (error = uint_from_text(fields[2].text, 0xffffffff, "SOA serial", value); !error.empty()) return error;
      put32(out, value);
      static constexpr const char* names[4] = {"SOA refresh", "SOA retry", "SOA expire", "SOA minimum"};
      for (std::size_t i = 0; i < 4; ++i) {
        if (error = seconds_from_text(fields[3 + i].text, 0xffffffff, names[i], value); !error.empty()) return error;
        put32(out, value);
      }
      return {};
    }
    case type::TXT:
      for (const TextField& field : fields) {
        if (error = put_character_string(out, field.text); !error.empty()) return error;
      }
      return {};
    default:
      return "unknown record type " + type_text;
  }
}

std::optional<std::size_t> rdata_name_offset(std::uint16_t type) noexcept {
  switch (type) {
    case type::NS:
    case type::CNAME:
    case type::PTR: return 0;
    case type::MX: return 2;
    case type::SRV: return 6;
    default: return std::nullopt;
  }
}

Name name_from_wire(std::span<const std::uint8_t> rdata, std::size_t offset) noexcept {
  Name name;
  for (std::size_t at = offset; at < rdata.size() && rdata[at] != 0; at += 1 + rdata[at]) {
    if (!name.append_label(rdata.subspan(at + 1, rdata[at]))) break;
  }
  return name;
}

void lowercase_rdata_names(std::uint16_t type, std::vector<std::uint8_t>& rdata) noexcept {
  if (type == type::SOA) {
    lowercase_name_at(rdata, 0);
    lowercase_name_at(rdata, skip_name(rdata, 0));
    return;
  }
  if (const auto offset = rdata_name_offset(type)) lowercase_name_at(rdata, *offset);
}

}  // namespace dns
