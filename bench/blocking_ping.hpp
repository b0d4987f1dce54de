// A blocking ping-pong client: sends one 64-byte datagram to an echo server, blocks in recv() for
// its echo, records the round trip, repeats. Blocking rather than spinning, so that the client
// leaves its CPU idle between trips and the figures include a wake-up on each side, as an
// ordinary client would see them. Bounded in count and in time; a datagram not back within a
// second counts as lost. Header-only.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "process_probes.hpp"
#include "salvo/address.hpp"

namespace salvo::bench {

struct PingSummary {
  std::uint64_t sent = 0;
  std::uint64_t answered = 0;
  std::uint64_t lost = 0;
  double p50_us = 0;
  double p99_us = 0;
  double max_us = 0;
  bool failed = false;  // the client socket could not be set up
};

inline double nth_us(std::vector<std::int64_t>& ns, double fraction) {
  if (ns.empty()) return 0;
  const auto k = std::min(ns.size() - 1, static_cast<std::size_t>(fraction * static_cast<double>(ns.size())));
  std::nth_element(ns.begin(), ns.begin() + static_cast<std::ptrdiff_t>(k), ns.end());
  return static_cast<double>(ns[k]) / 1000.0;
}

// `warmup` trips first (not recorded: they fault in the paths on both sides), then at most
// `pings` recorded ones, all of them within `budget_ns` of the start.
inline PingSummary blocking_ping(const Address& echo, std::uint64_t warmup, std::uint64_t pings, std::int64_t budget_ns) {
  PingSummary s;
  const int fd = ::socket(echo.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, static_cast<const sockaddr*>(echo.sockaddr_data()), echo.sockaddr_size()) != 0) {
    if (fd >= 0) ::close(fd);
    s.failed = true;
    return s;
  }
  // Wakes a recv() whose datagram was lost, so that one loss costs a second, not the run.
  timeval second{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &second, sizeof second);
  std::vector<std::int64_t> rtt;
  rtt.reserve(pings);
  unsigned char payload[64] = {};
  unsigned char reply[2048];
  const std::int64_t end = monotonic_ns() + budget_ns;
  for (std::uint64_t seq = 0; seq < warmup + pings && monotonic_ns() < end; ++seq) {
    std::memcpy(payload, &seq, sizeof seq);
    const bool recorded = seq >= warmup;
    if (recorded) ++s.sent;
    const std::int64_t start = monotonic_ns();
    if (::send(fd, payload, sizeof payload, 0) != static_cast<ssize_t>(sizeof payload)) {
      if (recorded) ++s.lost;
      continue;
    }
    bool answered = false;
    // An echo of an earlier, given-up trip may still arrive: skip it, within this trip's second.
    while (!answered && monotonic_ns() - start < 1'000'000'000) {
      const ssize_t n = ::recv(fd, reply, sizeof reply, 0);
      if (n < 0) break;  // the receive timeout (or an ICMP error): lost
      answered = n == static_cast<ssize_t>(sizeof payload) && std::memcmp(reply, payload, sizeof payload) == 0;
    }
    const std::int64_t took = monotonic_ns() - start;
    if (!recorded) continue;
    if (!answered) {
      ++s.lost;
      continue;
    }
    ++s.answered;
    rtt.push_back(took);
  }
  ::close(fd);
  s.p50_us = nth_us(rtt, 0.50);
  s.p99_us = nth_us(rtt, 0.99);
  s.max_us = rtt.empty() ? 0 : static_cast<double>(*std::max_element(rtt.begin(), rtt.end())) / 1000.0;
  return s;
}

}  // namespace salvo::bench
