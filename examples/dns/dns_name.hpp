// A domain name in uncompressed wire form: length-prefixed labels ending with the root's zero byte,
// at most 255 bytes in all and 63 per label (RFC 1035 3.1). The storage is inside the object, so a
// server parsing a query's name never allocates.
//
// Comparisons are exact (byte for byte); compare lowercased() names for DNS's case-insensitive
// equality. key() gives the bytes for hash maps keyed by lowercased names.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace dns {

class Name {
 public:
  static constexpr std::size_t max_wire_size = 255;
  static constexpr std::size_t max_label_size = 63;

  Name() noexcept { bytes_[0] = 0; }  // the root, "."

  // Appends one label before the root; false (the name unchanged) when the label is empty, longer
  // than 63 bytes, or the name would pass 255 bytes.
  bool append_label(std::span<const std::uint8_t> label) noexcept;
  bool append_label(std::string_view label) noexcept;

  std::span<const std::uint8_t> wire() const noexcept { return {bytes_.data(), size_}; }
  std::size_t wire_size() const noexcept { return size_; }
  std::string_view key() const noexcept { return {reinterpret_cast<const char*>(bytes_.data()), size_}; }
  unsigned label_count() const noexcept;
  bool is_root() const noexcept { return size_ == 1; }

  Name lowercased() const noexcept;
  // The name without its first label (the root's parent is the root).
  Name parent() const noexcept;
  // True when this name is `ancestor` or below it; both are compared ignoring ASCII case.
  bool is_at_or_below(const Name& ancestor) const noexcept;
  bool equals_ignoring_case(const Name& other) const noexcept;

  // Presentation form, "www.example.com." ("." for the root), with RFC 1035 escapes (\. \\ \DDD)
  // for bytes that would not read back.
  std::string to_text() const;

  friend bool operator==(const Name& a, const Name& b) noexcept { return a.key() == b.key(); }

 private:
  // Only the first size_ bytes are meaningful; the rest is left uninitialised, since zeroing 255
  // bytes for every name a query parses would cost more than the parsing.
  std::array<std::uint8_t, max_wire_size> bytes_;
  std::uint8_t size_ = 1;
};

// ASCII-only lowering, as DNS compares names (RFC 4343).
constexpr std::uint8_t lower_ascii(std::uint8_t c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<std::uint8_t>(c + ('a' - 'A')) : c;
}

}  // namespace dns
