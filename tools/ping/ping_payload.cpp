#include "ping/ping_payload.hpp"

#include <cstring>

namespace salvo::cli {
namespace {

constexpr std::byte magic[4] = {std::byte{'S'}, std::byte{'L'}, std::byte{'V'}, std::byte{'P'}};

void put_u64(std::byte* at, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) at[i] = static_cast<std::byte>(v >> (8 * i));
}

std::uint64_t get_u64(const std::byte* at) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint64_t>(at[i]);
  return v;
}

}  // namespace

void write_ping_header(std::span<std::byte> out, const PingHeader& header) noexcept {
  std::memcpy(out.data(), magic, sizeof magic);
  out[4] = std::byte{ping_version};
  out[5] = out[6] = out[7] = std::byte{0};
  put_u64(out.data() + 8, header.token);
  stamp_ping_payload(out, header.sequence, header.intended_ns);
}

void stamp_ping_payload(std::span<std::byte> out, std::uint64_t sequence, std::uint64_t intended_ns) noexcept {
  put_u64(out.data() + 16, sequence);
  put_u64(out.data() + 24, intended_ns);
}

std::optional<PingHeader> parse_ping_header(std::span<const std::byte> datagram) noexcept {
  if (datagram.size() < ping_header_size) return std::nullopt;
  if (std::memcmp(datagram.data(), magic, sizeof magic) != 0) return std::nullopt;
  if (datagram[4] != std::byte{ping_version}) return std::nullopt;
  PingHeader h;
  h.token = get_u64(datagram.data() + 8);
  h.sequence = get_u64(datagram.data() + 16);
  h.intended_ns = get_u64(datagram.data() + 24);
  return h;
}

}  // namespace salvo::cli
