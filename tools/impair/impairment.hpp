// The decision model of salvo impair: for each datagram, in arrival order, whether it is lost,
// duplicated or held back for reordering, and how long it is delayed.
//
// One model per direction (client -> server, server -> client), each with its own seeded
// generator, so that a direction's decisions depend only on the seed and on how many datagrams
// came before in that direction, not on timing or on the other direction. Every decision draws the
// same four numbers whatever the outcome, so the k-th datagram of a direction always gets the k-th
// decision (a datagram dropped by the rate limit still uses up its decision).
//
// Pure and allocation-free (runs once per datagram); one thread per instance.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "common/seeded_random.hpp"

namespace salvo::cli {

struct ImpairmentSettings {
  double loss = 0;       // probability in [0, 1] that a datagram is dropped
  double duplicate = 0;  // probability that a datagram that is not lost is sent twice
  double reorder = 0;    // probability that a datagram is held back and sent after the next one
  std::chrono::nanoseconds delay{0};   // added to every datagram
  std::chrono::nanoseconds jitter{0};  // uniform in [-jitter, +jitter] around delay, never below 0
};

struct ImpairmentDecision {
  bool lose = false;
  bool duplicate = false;  // never together with lose
  bool reorder = false;    // never together with lose
  std::chrono::nanoseconds delay{0};

  friend bool operator==(const ImpairmentDecision&, const ImpairmentDecision&) = default;
};

enum class Direction : std::uint8_t { client_to_server = 0, server_to_client = 1 };
std::string_view to_string(Direction d) noexcept;  // "client_to_server", "server_to_client"

class ImpairmentModel {
 public:
  ImpairmentModel(const ImpairmentSettings& settings, std::uint64_t seed) noexcept;
  // The model of one direction for a user's --seed.
  static ImpairmentModel for_direction(const ImpairmentSettings& settings, std::uint64_t seed, Direction d) noexcept;

  // The decision for the next datagram.
  ImpairmentDecision next() noexcept;

  const ImpairmentSettings& settings() const noexcept { return settings_; }

 private:
  ImpairmentSettings settings_;
  SeededRandom random_;
};

}  // namespace salvo::cli
