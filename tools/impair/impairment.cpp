#include "impair/impairment.hpp"

namespace salvo::cli {

std::string_view to_string(Direction d) noexcept {
  return d == Direction::client_to_server ? "client_to_server" : "server_to_client";
}

ImpairmentModel::ImpairmentModel(const ImpairmentSettings& settings, std::uint64_t seed) noexcept
    : settings_(settings), random_(seed) {}

ImpairmentModel ImpairmentModel::for_direction(const ImpairmentSettings& settings, std::uint64_t seed,
                                               Direction d) noexcept {
  return ImpairmentModel(settings, derive_seed(seed, 1 + static_cast<std::uint64_t>(d)));
}

ImpairmentDecision ImpairmentModel::next() noexcept {
  // Four draws, always, in this order: the k-th decision must not depend on earlier outcomes.
  const double u_loss = random_.unit();
  const double u_duplicate = random_.unit();
  const double u_reorder = random_.unit();
  const std::uint64_t jitter_ns = static_cast<std::uint64_t>(settings_.jitter.count());
  const std::uint64_t offset = random_.between(0, 2 * jitter_ns);  // [-jitter, +jitter] shifted by jitter

  ImpairmentDecision d;
  d.lose = u_loss < settings_.loss;
  if (!d.lose) {
    d.duplicate = u_duplicate < settings_.duplicate;
    d.reorder = u_reorder < settings_.reorder;
  }
  const std::int64_t delay = settings_.delay.count() + static_cast<std::int64_t>(offset) -
                             static_cast<std::int64_t>(jitter_ns);
  d.delay = std::chrono::nanoseconds(delay > 0 ? delay : 0);
  return d;
}

}  // namespace salvo::cli
