#include "dns_name.hpp"

#include <cstring>

namespace dns {

bool Name::append_label(std::span<const std::uint8_t> label) noexcept {
  if (label.empty() || label.size() > max_label_size || size_ + 1 + label.size() > max_wire_size) return false;
  // The root's zero byte is the last one: the new label goes where it was, and the zero after it.
  std::uint8_t* at = bytes_.data() + size_ - 1;
  at[0] = static_cast<std::uint8_t>(label.size());
  std::memcpy(at + 1, label.data(), label.size());
  at[1 + label.size()] = 0;
  size_ = static_cast<std::uint8_t>(size_ + 1 + label.size());
  return true;
}

bool Name::append_label(std::string_view label) noexcept {
  return append_label(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(label.data()), label.size()));
}

unsigned Name::label_count() const noexcept {
  unsigned count = 0;
  for (std::size_t at = 0; bytes_[at] != 0; at += 1 + bytes_[at]) ++count;
  return count;
}

Name Name::lowercased() const noexcept {
  Name lower = *this;
  for (std::size_t at = 0; bytes_[at] != 0; at += 1 + bytes_[at]) {
    for (std::size_t i = at + 1; i <= at + bytes_[at]; ++i) lower.bytes_[i] = lower_ascii(bytes_[i]);
  }
  return lower;
}

Name Name::parent() const noexcept {
  if (is_root()) return *this;
  Name up;
  const std::size_t skip = 1 + bytes_[0];
  up.size_ = static_cast<std::uint8_t>(size_ - skip);
  std::memcpy(up.bytes_.data(), bytes_.data() + skip, up.size_);
  return up;
}

bool Name::equals_ignoring_case(const Name& other) const noexcept {
  if (size_ != other.size_) return false;
  // Length bytes are at most 63, below 'A', so lowering every byte leaves them alone.
  for (std::size_t i = 0; i < size_; ++i) {
    if (lower_ascii(bytes_[i]) != lower_ascii(other.bytes_[i])) return false;
  }
  return true;
}

bool Name::is_at_or_below(const Name& ancestor) const noexcept {
  if (ancestor.size_ > size_) return false;
  // Walk label by label so that "xexample.com." is not taken as below "example.com.".
  for (std::size_t at = 0;; at += 1 + bytes_[at]) {
    const std::size_t rest = size_ - at;
    if (rest == ancestor.size_) {
      for (std::size_t i = 0; i < rest; ++i) {
        if (lower_ascii(bytes_[at + i]) != lower_ascii(ancestor.bytes_[i])) return false;
      }
      return true;
    }
    if (rest < ancestor.size_ || bytes_[at] == 0) return false;
  }
}

std::string Name::to_text() const {
  if (is_root()) return ".";
  std::string text;
  for (std::size_t at = 0; bytes_[at] != 0; at += 1 + bytes_[at]) {
    for (std::size_t i = at + 1; i <= at + bytes_[at]; ++i) {
      const std::uint8_t c = bytes_[i];
      if (c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' || c == '@' || c == '$') {
        text += '\\';
        text += static_cast<char>(c);
      } else if (c <= 0x20 || c >= 0x7f) {
        const char digits[5] = {'\\', static_cast<char>('0' + c / 100), static_cast<char>('0' + c / 10 % 10),
                                static_cast<char>('0' + c % 10), 0};
        text += digits;
      } else {
        text += static_cast<char>(c);
      }
    }
    text += '.';
  }
  return text;
}

}  // namespace dns
