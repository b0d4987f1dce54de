// PingProtocol: the open-loop latency prober behind `salvo ping`.
//
// It sends `count` datagrams to one echo server on a fixed schedule (datagram i is due at
// start + i/rate), each carrying its sequence number and its scheduled send time (ping_payload.hpp),
// and matches the echoes that come back. Latency is measured from the scheduled time, not from
// when the datagram actually left: a server (or a sender) that stalls delays every datagram
// scheduled during the stall, and each of them reports the delay it would have suffered, instead
// of the stall being one slow sample among unsent ones ("coordinated omission").
//
// Start: on_start enlists in the LoadStart and the schedule begins when it opens (at once, or at
// --start-at), at the epoch it hands over.
//
// Pacing: on_writable sends every datagram whose time has come (at most max_burst per call, and
// never more than the send queue takes), then Transport::defer_writable()s itself to the time of
// the next one, so the worker sleeps between slots. After the last send it lingers for
// stragglers, then stops its socket; it stops at once when every datagram has been answered.
//
// The sender's own lateness (a wake-up after its slot, a burst catching up) is part of what is
// measured, as it must be for an open-loop schedule; on_start sets the worker thread's timer slack
// to 1 ns so that deferred wake-ups are punctual.
//
// Clock: CLOCK_MONOTONIC nanoseconds (what std::chrono::steady_clock reads on Linux, so the
// deferral times and the payload's timestamps are on one clock). on_writable reads the clock once
// per call; on_datagrams once per batch, and gives every reply of the batch that receive time.
// The error this allows is the time a reply waited in the batch before the worker looked at it,
// which is part of the latency a real client of this socket would see anyway; with the engine's
// receive batching off for ping (completion_batch 1) it is the batch's own processing time, a few
// microseconds at most, and it saves a clock read per datagram.
//
// Accounting (all in PingCounts):
//   sent        datagrams queued for sending (send refusals are send_failed, and not sent)
//   received    first replies to sequence numbers that were sent: the histogram's sample count
//   lost        sent - received: no reply before the socket stopped (the linger after the last
//               send), including replies that came too late to be tracked (late)
//   duplicates  further replies to a sequence number already answered
//   reordered   first replies that arrived after a reply to a later sequence number
//   invalid     datagrams that are not replies to this run: truncated, another size, another magic,
//               version or run token, a sequence number never sent, or a timestamp that does not
//               match the schedule. Counted and ignored.
//   late        replies to sequence numbers so old that they left the tracking window (the last
//               2^24 sequence numbers, or all of them for smaller runs); they stay counted as lost.
//
// Memory: the payload, the histogram and a bitmap of answered sequence numbers (one bit per
// sequence number in the window, at most 2 MiB) are allocated by the constructor, on the
// controlling thread. The hooks allocate nothing, take no lock and make no system call of their
// own per datagram.
//
// Threading: the hooks run on the worker; `result` is written there and must be read only after
// the engine has stopped (Engine::wait joins the worker).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/latency_histogram.hpp"
#include "common/load_start.hpp"
#include "salvo/salvo.hpp"

namespace salvo::cli {

struct PingCounts {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t reordered = 0;
  std::uint64_t invalid = 0;
  std::uint64_t late = 0;
  std::uint64_t send_failed = 0;
  std::uint64_t refused = 0;  // ICMP port unreachable reports: nothing listens at --to

  std::uint64_t lost() const noexcept { return sent >= received ? sent - received : 0; }
  PingCounts& operator+=(const PingCounts& o) noexcept;
  friend bool operator==(const PingCounts&, const PingCounts&) = default;
};

struct PingPlan {
  Address to;
  std::size_t size = 64;        // payload bytes, >= ping_header_size
  double rate = 1000;           // datagrams per second, > 0
  std::uint64_t count = 0;      // datagrams to send, >= 1
  std::optional<std::chrono::nanoseconds> linger;  // nullopt: automatic (see PingProtocol)
  std::uint64_t token = 0;      // the run token written into every payload
};

struct PingResult {
  PingCounts counts;
  LatencyHistogram latency;     // nanoseconds from the scheduled send time to the reply
  bool all_sent = false;        // the schedule ran to its end (false when stopped early)
  std::chrono::nanoseconds linger{0};  // the linger that was applied after the last send
};

class PingProtocol final : public Protocol, public LoadStart::Sender {
 public:
  static constexpr std::size_t max_burst = 256;            // datagrams per on_writable call
  static constexpr std::uint64_t max_window = 1u << 24;    // sequence numbers tracked at once
  // Automatic linger: a few times the largest latency seen, at least 1 s, at most 10 s.
  static constexpr std::chrono::nanoseconds min_auto_linger = std::chrono::seconds(1);
  static constexpr std::chrono::nanoseconds max_auto_linger = std::chrono::seconds(10);
  static constexpr unsigned auto_linger_factor = 3;

  // `start` (one worker) holds the schedule back until the load starts.
  PingProtocol(const PingPlan& plan, PingResult& result, LoadStart& start);

  void on_start(Transport& transport) override;
  void begin(Transport& transport, std::chrono::steady_clock::time_point epoch) override;
  void on_stop() override;
  void on_writable(Transport& transport) override;
  void on_datagrams(std::span<const Datagram> batch, Transport& transport) override;
  void on_refused(const Address& peer, Transport& transport) override;

  // The scheduled send time of `sequence`, in CLOCK_MONOTONIC nanoseconds (after on_start).
  std::uint64_t intended_ns(std::uint64_t sequence) const noexcept {
    return start_ns_ + static_cast<std::uint64_t>(static_cast<double>(sequence) * period_ns_);
  }

 private:
  void finish(Transport& transport) noexcept;

  PingPlan plan_;
  PingResult& result_;
  LoadStart& start_;
  double period_ns_;
  std::vector<std::byte> payload_;
  std::vector<std::uint64_t> answered_;  // bitmap over the window, indexed by sequence % window
  std::uint64_t window_mask_;
  std::uint64_t start_ns_ = 0;
  std::uint64_t next_ = 0;               // next sequence number to send
  std::uint64_t next_expected_ = 0;      // 1 + the highest sequence number answered so far
  bool lingering_ = false;
  std::uint64_t linger_end_ns_ = 0;
  bool stopped_ = false;
};

// CLOCK_MONOTONIC in nanoseconds.
std::uint64_t monotonic_ns() noexcept;

}  // namespace salvo::cli
