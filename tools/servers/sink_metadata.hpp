// salvo sink --metadata: what the per-datagram metadata said, summed per worker and reported at
// exit. Each worker's stats are its own (no locks on the data path); the report sums them after
// the engine has stopped.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "salvo/salvo.hpp"

namespace salvo::cli {

struct SinkMetadataStats {
  // Datagrams by ECN code point (index: Ecn), counted per datagram (GRO segments included).
  std::array<std::uint64_t, 4> ecn{};
  // Destination addresses and interfaces seen, at most `max_destinations` distinct ones; the rest
  // count in other_destinations, so that a scan of many addresses cannot grow the table.
  static constexpr std::size_t max_destinations = 16;
  struct Destination {
    Address address;
    std::uint32_t interface_index = 0;
    std::uint64_t datagrams = 0;
  };
  std::vector<Destination> destinations;  // reserved to max_destinations up front
  std::uint64_t other_destinations = 0;
  // From the kernel's receive timestamp to the protocol's hook, in nanoseconds (wall clock), over
  // `stamped` datagrams (a GRO run's segments share its stamp and count each).
  std::uint64_t stamped = 0;
  std::int64_t delay_min_ns = 0;
  std::int64_t delay_max_ns = 0;
  long double delay_sum_ns = 0;

  SinkMetadataStats() { destinations.reserve(max_destinations); }
  void record(std::span<const Datagram> batch, std::int64_t now_ns) noexcept;
  SinkMetadataStats& operator+=(const SinkMetadataStats& other);
};

nlohmann::json sink_metadata_json(const SinkMetadataStats& s);
std::string sink_metadata_line(const SinkMetadataStats& s);  // one line for the stderr summary

// A sink protocol that records into `stats`.
std::unique_ptr<Protocol> make_metadata_sink(SinkMetadataStats& stats);

}  // namespace salvo::cli
