#include "servers/sockperf_header.hpp"

namespace salvo::cli {
namespace {

// Big-endian (network order) fields of `size` bytes.
std::uint64_t get_be(const std::byte* at, int size) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < size; ++i) v = (v << 8) | static_cast<std::uint64_t>(at[i]);
  return v;
}

void put_be(std::byte* at, int size, std::uint64_t v) noexcept {
  for (int i = size - 1; i >= 0; --i) {
    at[i] = static_cast<std::byte>(v);
    v >>= 8;
  }
}

constexpr std::size_t flags_offset = 8;
constexpr std::size_t length_offset = 10;

}  // namespace

std::optional<SockperfHeader> parse_sockperf_header(std::span<const std::byte> datagram) noexcept {
  if (datagram.size() < sockperf_header_size) return std::nullopt;
  SockperfHeader h;
  h.sequence = get_be(datagram.data(), 8);
  h.flags = static_cast<std::uint16_t>(get_be(datagram.data() + flags_offset, 2));
  h.length = static_cast<std::uint32_t>(get_be(datagram.data() + length_offset, 4));
  if (h.length != datagram.size()) return std::nullopt;
  return h;
}

bool write_sockperf_header(std::span<std::byte> out, const SockperfHeader& header) noexcept {
  if (out.size() < sockperf_header_size) return false;
  put_be(out.data(), 8, header.sequence);
  put_be(out.data() + flags_offset, 2, header.flags);
  put_be(out.data() + length_offset, 4, header.length);
  return true;
}

void make_sockperf_reply(std::span<std::byte> message) noexcept {
  // The flags are big-endian: the client bit is the low bit of their second byte.
  message[flags_offset + 1] &= ~std::byte{SockperfHeader::client};
}

}  // namespace salvo::cli
