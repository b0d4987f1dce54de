// The protocol of examples/ticker.cpp, a fixed-tick game-state server, in a header of its own so
// that tests drive it with a FakeTransport (ticks and expiries on a test clock).
//
// A datagram from a new source joins it; one from a joined client refreshes it. Every tick (a
// periodic timer the socket owns) each joined client gets one snapshot. A client quiet for the
// timeout is dropped by its own timer, as chat_relay drops its peers. Nothing allocates once
// running: the client table, the snapshot and the lateness histogram are all made up front.
//
// Snapshot format (12 bytes): the tick number as a little-endian uint64 (the first tick is 1; it
// counts ticks run, so a period the timer skipped after a stall has no number), then the number of
// joined clients as a little-endian uint32.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>

#include "example_support.hpp"
#include "lateness_histogram.hpp"
#include "peer_table.hpp"

namespace ticker {

using Clock = std::chrono::steady_clock;

struct Snapshot {
  std::uint64_t tick = 0;
  std::uint32_t clients = 0;
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

inline constexpr std::size_t snapshot_size = 12;

inline std::array<std::byte, snapshot_size> encode(const Snapshot& s) noexcept {
  std::array<std::byte, snapshot_size> out{};
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<std::byte>(s.tick >> (8 * i));
  for (std::size_t i = 0; i < 4; ++i) out[8 + i] = static_cast<std::byte>(s.clients >> (8 * i));
  return out;
}

// Nothing unless the payload is exactly one snapshot.
inline std::optional<Snapshot> decode(std::span<const std::byte> payload) noexcept {
  if (payload.size() != snapshot_size) return std::nullopt;
  Snapshot s;
  for (std::size_t i = 0; i < 8; ++i) s.tick |= static_cast<std::uint64_t>(payload[i]) << (8 * i);
  for (std::size_t i = 0; i < 4; ++i) s.clients |= static_cast<std::uint32_t>(payload[8 + i]) << (8 * i);
  return s;
}

struct Settings {
  Clock::duration period = std::chrono::microseconds(16667);  // 60 Hz
  Clock::duration timeout = std::chrono::seconds(10);
  std::uint32_t max_clients = 4096;
  bool quiet = false;  // no line per join and expiry
};

// Written by the worker, read by main after the engine has stopped (Engine::wait orders the two).
struct Stats {
  std::uint64_t ticks = 0;
  std::uint64_t snapshots_queued = 0;
  std::uint64_t snapshots_not_queued = 0;  // the send queue was full
  std::uint64_t clients_joined = 0;
  std::uint64_t clients_expired = 0;
  std::uint64_t clients_turned_away = 0;  // datagrams from new sources while the table was full
  std::uint32_t clients_at_exit = 0;
  bool tick_timer_refused = false;
  examples::LatenessHistogram lateness;  // steady_clock::now() - firing_due() at each tick's start
};

class Ticker : public salvo::Protocol {
 public:
  // `stop`, when given, is asked to end the program if the ticks cannot run.
  Ticker(const Settings& settings, Stats& stats, examples::StopSignal* stop = nullptr)
      : settings_(settings), table_(settings.max_clients), stats_(stats), stop_(stop) {}

  void on_start(salvo::Transport& transport) override {
    // The socket owns the tick timer: it cannot outlive this protocol. Captures two pointers.
    if (!transport.call_every(settings_.period, [this, t = &transport] { tick(*t); })) {
      stats_.tick_timer_refused = true;
      std::fprintf(stderr, "ticker: no timer for the ticks\n");
      transport.stop_listening();
      if (stop_ != nullptr) stop_->request_stop();
    }
  }

  void on_datagrams(std::span<const salvo::Datagram> batch, salvo::Transport& transport) override {
    bool printed = false;
    for (const salvo::Datagram& d : batch) {
      std::uint32_t slot = table_.find(d.peer);
      if (slot == examples::PeerTable::npos) {
        slot = table_.add(d.peer);
        if (slot == examples::PeerTable::npos) {
          ++stats_.clients_turned_away;
          continue;
        }
        ++stats_.clients_joined;
        if (!settings_.quiet) printed = print_client("joined", d.peer);
      }
      // Heard from now: the client stays for another timeout. The slot keeps its number while the
      // client is in the table, so the timer may capture it.
      if (!table_.expire_after(slot, transport, settings_.timeout, [this, slot] { expire(slot); })) {
        table_.remove(slot);  // cannot happen with main's timer table; never keep a client forever
        ++stats_.clients_turned_away;
      }
    }
    if (printed) std::fflush(stdout);
  }

  void on_stop() override { stats_.clients_at_exit = table_.size(); }

  std::uint32_t clients() const noexcept { return table_.size(); }

 private:
  void tick(salvo::Transport& transport) {
    stats_.lateness.record(Clock::now() - transport.reactor().firing_due());
    ++stats_.ticks;
    // The game's state would advance here; the snapshot says which tick it is and who is in.
    const auto snapshot = encode(Snapshot{stats_.ticks, table_.size()});
    // All of them queued now, leaving together when the timer returns (one submission).
    for (const std::uint32_t slot : table_.active()) {
      if (transport.send(snapshot, table_.address(slot)) == salvo::SendResult::queued) {
        ++stats_.snapshots_queued;
      } else {
        ++stats_.snapshots_not_queued;
      }
    }
  }

  // The client sent nothing for the timeout.
  void expire(std::uint32_t slot) {
    const salvo::Address client = table_.address(slot);
    table_.remove(slot);
    ++stats_.clients_expired;
    if (!settings_.quiet) print_client("expired", client);
    // Rare and worth knowing even when quiet: the server has nobody to send to.
    if (table_.size() == 0) std::puts("no clients left");
    std::fflush(stdout);
  }

  bool print_client(const char* what, const salvo::Address& client) const {
    char text[salvo::Address::max_text];
    client.format(text, sizeof text);
    std::printf("%s %s (%u clients)\n", what, text, table_.size());
    return true;
  }

  Settings settings_;
  examples::PeerTable table_;
  Stats& stats_;
  examples::StopSignal* stop_;
};

}  // namespace ticker
