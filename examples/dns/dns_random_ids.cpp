#include "dns_random_ids.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>

namespace dns {

std::uint16_t RandomIds::next() noexcept {
  if (used_ == pool_.size()) refill();
  return pool_[used_++];
}

void RandomIds::refill() noexcept {
  auto* bytes = reinterpret_cast<unsigned char*>(pool_.data());
  std::size_t filled = 0;
  while (filled < sizeof(pool_)) {
    const ssize_t got = getrandom(bytes + filled, sizeof(pool_) - filled, 0);
    if (got > 0) {
      filled += static_cast<std::size_t>(got);
    } else if (got < 0 && errno != EINTR) {
      // getrandom cannot fail on Linux >= 3.17 once the pool is initialised; predictable IDs would
      // silently weaken spoofing resistance, so do not go on without it.
      std::abort();
    }
  }
  used_ = 0;
}

}  // namespace dns
