// SockperfEchoProtocol: `salvo echo --sockperf`, a server for sockperf's clients (ping-pong,
// under-load, throughput), answering as sockperf's own server does (src/server.h,
// server_receive_then_send):
//   - a message whose client flag is clear (another server's reply) is ignored;
//   - a warm-up message is ignored;
//   - any other client message is counted; if it requests a pong, the same bytes go back to the
//     sender with the client flag cleared; otherwise nothing is sent (under-load sends most
//     messages without a pong request, throughput sends none).
// Datagrams that are not one well-formed sockperf message (shorter than the 14-byte header, or a
// header length other than the datagram's size, or truncated) are counted as invalid, never answered.
// Datagrams from a source port below 1024 are counted as low_port and not answered, unless
// answer_low_ports (echo_rules.hpp says why). No loop rule is needed here: a reply has its client
// flag cleared, so no sockperf server answers it, and an echo that sends it back is ignored.
//
// Memory: one reply buffer of the engine's receive buffer size, allocated by the constructor. The
// hook copies each answered message into it once to clear the flag (Transport::send then copies
// it into the send queue); no allocation, lock or system call per datagram.
//
// Threading: the hooks run on the worker; `stats` is written there and must be read only after
// the engine has stopped (Engine::wait joins the worker).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "salvo/salvo.hpp"

namespace salvo::cli {

// One worker's counts, on its own cache line.
struct alignas(64) SockperfStats {
  std::uint64_t messages = 0;      // client messages counted (warm-up excluded), as sockperf's server counts them
  std::uint64_t replies = 0;       // of those, pong requests answered (queued for sending)
  std::uint64_t no_reply = 0;      // of those, messages without a pong request (not answered)
  std::uint64_t warmup = 0;        // warm-up messages (ignored)
  std::uint64_t not_client = 0;    // messages without the client flag (ignored)
  std::uint64_t invalid = 0;       // not one well-formed sockperf message (ignored)
  std::uint64_t low_port = 0;      // from a source port below 1024 (ignored)
  std::uint64_t reply_failed = 0;  // pong requests whose reply the send queue refused (counted there too)

  SockperfStats& operator+=(const SockperfStats& o) noexcept;
};

nlohmann::json sockperf_stats_json(const SockperfStats& s);

class SockperfEchoProtocol final : public Protocol {
 public:
  SockperfEchoProtocol(SockperfStats& stats, std::size_t max_datagram, bool answer_low_ports = false);
  void on_datagrams(std::span<const Datagram> batch, Transport& transport) override;

 private:
  SockperfStats& stats_;
  std::vector<std::byte> reply_;
  bool answer_low_ports_;
};

}  // namespace salvo::cli
