// Unpredictable 16-bit query IDs for the forwarder's upstream queries (RFC 5452: together with the
// random source port, what an off-path attacker must guess to forge an answer). The bytes come from
// the kernel's CSPRNG (getrandom) in blocks, so drawing an ID is a copy, and a system call happens
// once per 2048 IDs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace dns {

class RandomIds {
 public:
  std::uint16_t next() noexcept;

 private:
  void refill() noexcept;
  std::array<std::uint16_t, 2048> pool_{};
  std::size_t used_ = pool_.size();  // empty: the first next() fills it
};

}  // namespace dns
