// The send loops the packet-rate harness compares. Each runs in its own process (so that its CPU
// time can be read exactly with wait4), pinned to one CPU, sends 64-byte datagrams to
// 127.0.0.1:`port` as fast as the kernel takes them until `stop` turns true, and returns how many
// the kernel accepted.
#pragma once

#include <atomic>
#include <cstdint>

namespace salvo::bench {

inline constexpr unsigned send_payload = 64;  // bytes per datagram, every sender

struct SendOutcome {
  std::uint64_t datagrams = 0;  // accepted by the kernel (not necessarily received)
};

// Baseline: one sendto per datagram on an unconnected socket, what most programs do.
SendOutcome run_sendto_baseline(std::uint16_t port, const std::atomic<bool>& stop);

// Baseline: sendmmsg, 64 datagrams per call, on an unconnected socket.
SendOutcome run_sendmmsg_baseline(std::uint16_t port, const std::atomic<bool>& stop);

// Baseline: sendmsg with a UDP_SEGMENT control message, 64 datagrams per call (GSO by hand).
SendOutcome run_gso_baseline(std::uint16_t port, const std::atomic<bool>& stop);

// salvo's engine sending from on_writable (a protocol that refills the send queue whenever it has
// room), on the given backend ("epoll" or "io_uring"), with or without EngineOptions::gso.
SendOutcome run_salvo_sender(const char* backend, bool gso, std::uint16_t port, const std::atomic<bool>& stop);

}  // namespace salvo::bench
