// The send loops the packet-rate harness compares. Each runs in its own process (so that its CPU
// time can be read exactly with wait4), pinned to one CPU, sends datagrams of `size` bytes (64 for
// most cases, 1200 and 1472 for the large ones) to 127.0.0.1:`port` as fast as the kernel takes
// them until `stop` turns true, and returns how many the kernel accepted.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace salvo::bench {

// Datagrams per GSO message for a size: at most 64, and no more than fit one IPv4 UDP payload
// (65,507 bytes): 64 of 64 B, 54 of 1200 B, 44 of 1472 B, as salvo cuts its runs.
constexpr unsigned gso_segments_for(unsigned size) { return size == 0 ? 0 : std::min(64u, 65507u / size); }

struct SendOutcome {
  std::uint64_t datagrams = 0;  // accepted by the kernel (not necessarily received)
};

// Baseline: one sendto per datagram on an unconnected socket, what most programs do.
SendOutcome run_sendto_baseline(std::uint16_t port, unsigned size, const std::atomic<bool>& stop);

// Baseline: sendmmsg, 64 datagrams per call, on an unconnected socket.
SendOutcome run_sendmmsg_baseline(std::uint16_t port, unsigned size, const std::atomic<bool>& stop);

// Baseline: sendmsg with a UDP_SEGMENT control message, gso_segments_for(size) datagrams per call
// from one buffer (GSO by hand).
SendOutcome run_gso_baseline(std::uint16_t port, unsigned size, const std::atomic<bool>& stop);

// salvo's engine sending from on_writable (a protocol that refills the send queue whenever it has
// room), on the given backend ("epoll" or "io_uring"), with or without EngineOptions::gso.
SendOutcome run_salvo_sender(const char* backend, bool gso, std::uint16_t port, unsigned size, const std::atomic<bool>& stop);

}  // namespace salvo::bench
