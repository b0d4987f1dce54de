// The receive loops the packet-rate harness compares. Each runs in its own process (so that its
// CPU time can be read exactly with wait4), binds 127.0.0.1:0, reports the port, and counts
// datagrams until `stop` turns true.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

namespace salvo::bench {

struct ReceiveResult {
  std::uint64_t datagrams = 0;
  std::uint64_t bytes = 0;
};

using PortReady = std::function<void(std::uint16_t port)>;

// A blocking UDP socket bound to 127.0.0.1 on a free port, for the baselines; returns the fd.
int bind_loopback_udp(std::uint16_t& port);

// Baseline: a plain blocking recvfrom loop, one datagram per call.
ReceiveResult run_recvfrom_baseline(const PortReady& ready, const std::atomic<bool>& stop);

// Baseline: a plain blocking recvmmsg loop (64 per call, 2 KiB buffers), what a careful
// hand-written server does.
ReceiveResult run_recvmmsg_baseline(const PortReady& ready, const std::atomic<bool>& stop);

// Baseline: recvmmsg with UDP_GRO, gro_baseline_batch coalesced payloads per call into 64 KiB
// buffers, counting one datagram per segment: what a careful QUIC server's receive loop does.
inline constexpr unsigned gro_baseline_batch = 16;
ReceiveResult run_recvmmsg_gro_baseline(const PortReady& ready, const std::atomic<bool>& stop);

// Baseline: a plain io_uring loop (multishot recvmsg, provided buffer ring, wait for one
// completion at a time), in the manner of liburing's examples/io_uring-udp.c.
ReceiveResult run_uring_baseline(const PortReady& ready, const std::atomic<bool>& stop);

// How salvo's receiver is configured for one case: the backend ("epoll" or "io_uring") and the
// EngineOptions a case varies; everything else stays at its default.
struct SalvoReceiver {
  const char* backend = "io_uring";
  bool busy_poll = false;  // EngineOptions::busy_poll, spinning for as long as the case runs
  bool gro = false;        // EngineOptions::gro: the flood's GSO messages arrive coalesced
};

// salvo's engine with a protocol that only counts.
ReceiveResult run_salvo(const SalvoReceiver& how, const PortReady& ready, const std::atomic<bool>& stop);

}  // namespace salvo::bench
