// Capabilities: what this machine, kernel and build offer salvo, found by trying each thing here.
//
// probe_capabilities() answers "which backend would run, and why?" and "which kernel features
// work?" for `salvo caps`, for bug reports, and for programs that want to adapt (use GSO only
// where a GSO send worked). Nothing is inferred from version numbers: every `available` comes from
// a call that was made on this machine (a ring set up with the flag, a socket option set, a
// datagram sent over loopback and its control messages read back).
//
// Cost and threading: probe_capabilities() may be called from any thread, any number of times.
// The io_uring part (ring setups, the opcode list, a buffer-ring registration and the backend's own
// probe) runs once per process and is cached; it costs a few milliseconds. The rest runs on every
// call: about a dozen UDP sockets on loopback exchanging a handful of datagrams (each wait is
// bounded by one second, on loopback it is immediate), a 2 MiB trial mapping for transparent huge
// pages, and a few reads of /proc and /sys. It reads the environment variable SALVO_BACKEND, so
// it must not race with setenv() in another thread (as Engine::create must not).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "salvo/engine.hpp"

namespace salvo {

// One thing that was tried.
struct Feature {
  std::string name;       // stable identifier, e.g. "udp_gso", "SINGLE_ISSUER", "SEND_ZC"
  bool available = false;
  std::string reason;     // when !available: why, naming the call and its errno ("EPERM (...)")
  std::string detail;     // when available: what the trial showed; may be empty
};

struct Capabilities {
  // What Engine::create would do with EngineOptions::backend == BackendKind::automatic, after the
  // SALVO_BACKEND override (detail: the same decision function Engine::create calls).
  struct Backend {
    bool ok = false;           // false: Engine::create would fail (a bad SALVO_BACKEND value, or it
                               // names a backend that cannot run here)
    BackendKind kind = BackendKind::epoll;  // the backend that would run, when ok
    std::string reason;        // the choice's reason ("epoll: auto, io_uring unavailable: ..."),
                               // or the error Engine::create would return
    bool env_set = false;      // SALVO_BACKEND is set (and not empty)
    std::string env;           // its value
  } backend;

  std::string kernel_release;    // uname -r
  std::string liburing_version;  // of the liburing salvo was built against ("2.3"), or "none"

  struct IoUring {
    bool built = false;   // this build has the io_uring backend
    Feature usable;       // "io_uring": the backend's own probe (what `auto` relies on)
    Feature multishot_recvmsg;    // a multishot RECVMSG received a datagram on loopback
    Feature provided_buffer_ring; // IORING_REGISTER_PBUF_RING accepted a ring
    std::vector<Feature> setup_flags;      // IORING_SETUP_* a ring was created with, one at a time
    std::vector<Feature> kernel_features;  // IORING_FEAT_* the kernel reported for a plain ring
    std::vector<Feature> opcodes;          // IORING_OP_* the kernel lists (IORING_REGISTER_PROBE)
  } io_uring;

  // UDP socket features, tried on sockets bound to 127.0.0.1 (and ::1 for the IPv6 ones):
  // ipv6_loopback, udp_gso, udp_gro, ecn_ipv4, ecn_ipv6, pktinfo_ipv4, pktinfo_ipv6,
  // timestamp_ns, timestamping_rx_software, reuseport, reuseport_cbpf, recverr_ipv4, recverr_ipv6,
  // busy_poll, prefer_busy_poll, meminfo. socket_probes.cpp says what each trial does.
  std::vector<Feature> socket;

  struct Cpus {
    unsigned online = 0;       // CPUs the kernel has online
    std::string online_list;   // as the kernel writes it: "0-3"
    unsigned allowed = 0;      // CPUs this process may run on (its affinity mask)
    std::string allowed_list;  // "0-1"
  } cpus;

  // Transparent huge pages for the receive buffer pools: available when a 2 MiB pool, mapped and
  // advised as a worker's is, really got huge pages. thp_mode is the system setting
  // ("always", "madvise", "never"), or empty when it could not be read (the reason says why).
  Feature thp;
  std::string thp_mode;

  // The feature of that name in any list above (socket, setup flags, kernel features, opcodes,
  // the io_uring and thp entries), or nullptr.
  const Feature* find(std::string_view name) const noexcept;
};

Capabilities probe_capabilities();

}  // namespace salvo
