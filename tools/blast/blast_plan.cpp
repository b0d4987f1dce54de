#include "blast/blast_plan.hpp"

#include <algorithm>
#include <bit>
#include <charconv>

namespace salvo::cli {
namespace {

constexpr std::uint64_t max_rate = 1'000'000'000;  // far beyond what one machine sends
constexpr std::size_t max_udp_payload = 65527;

Error bad(std::string message) { return Error::make(Errc::bad_option, std::move(message)); }

// A whole decimal number, nothing else (no sign, no spaces, no suffix).
bool parse_whole(std::string_view text, std::uint64_t& out) {
  if (text.empty() || text.front() < '0' || text.front() > '9') return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

Result<std::uint64_t> parse_rate(std::string_view text) {
  const std::string shown = "--rate " + std::string(text);
  if (text == "max") return std::uint64_t{0};
  std::uint64_t rate = 0;
  if (!text.empty() && text.front() == '-') return bad(shown + ": the rate cannot be negative");
  if (!parse_whole(text, rate)) {
    return bad(shown + ": expected datagrams per second (a whole number, at least 1) or 'max'");
  }
  if (rate == 0) return bad(shown + ": the rate must be at least 1 datagram per second (or 'max')");
  if (rate > max_rate) return bad(shown + ": more than " + std::to_string(max_rate) + " datagrams per second");
  return rate;
}

Result<SizeRange> parse_size_range(std::string_view text) {
  const std::string shown = "--size-range " + std::string(text);
  const auto dash = text.find('-');
  SizeRange r;
  std::uint64_t lo = 0, hi = 0;
  if (dash == std::string_view::npos || !parse_whole(text.substr(0, dash), lo) ||
      !parse_whole(text.substr(dash + 1), hi)) {
    return bad(shown + ": expected MIN-MAX in bytes, e.g. 64-1400");
  }
  if (lo > hi) return bad(shown + ": MIN is larger than MAX");
  if (hi > max_udp_payload) {
    return bad(shown + ": MAX is larger than any UDP datagram (" + std::to_string(max_udp_payload) + ")");
  }
  r.min = static_cast<std::size_t>(lo);
  r.max = static_cast<std::size_t>(hi);
  return r;
}

SendQueueSize blast_send_queue(std::size_t sockets_per_worker, std::size_t size_max) {
  constexpr std::size_t per_worker_entries = 16384;
  constexpr std::size_t per_socket_bytes_cap = 4u << 20;
  constexpr std::size_t per_worker_bytes = 256u << 20;
  const std::size_t sockets = std::max<std::size_t>(sockets_per_worker, 1);
  const std::size_t size = std::max<std::size_t>(size_max, 1);
  std::size_t entries = std::clamp<std::size_t>(std::bit_floor(per_worker_entries / sockets), 16, 1024);
  // Enough bytes for every entry at the largest size, within the caps; fewer entries if need be.
  std::size_t budget = std::min(per_socket_bytes_cap, per_worker_bytes / sockets);
  budget = std::max(budget, 2 * size);
  while (entries > 1 && (entries + 1) * size > budget) entries /= 2;
  const std::size_t bytes = std::max((entries + 1) * size, 2 * size);
  return SendQueueSize{static_cast<std::uint32_t>(entries), static_cast<std::uint32_t>(bytes)};
}

}  // namespace salvo::cli
