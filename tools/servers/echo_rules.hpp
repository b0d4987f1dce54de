// EchoRules: what `salvo echo` answers, and why.
//
// An echo server answers anything with the same bytes. Two of them (or an echo and any server
// that answers everything), introduced to each other by one datagram with a forged source, bounce
// it back and forth forever: the Loop DoS class (CVE-2024-2169). Per-source rate limits do not
// stop it (--flood-guard: each datagram earns the budget of its own reply). Two rules keep echo
// out of such loops; a datagram either rule turns away is counted under its reason, not answered.
//
//   1. Well-known ports. A datagram whose source port is below 1024 is not answered (low_port).
//      Clients send from ephemeral ports; services (echo 7, chargen 19, DNS 53, TFTP 69, NTP
//      123, ...) send from their well-known ones, and the loops found in the wild are between
//      services. --answer-low-ports turns this rule off.
//
//   2. Loops. Per peer (address and port), echo remembers the first reply it sends when it has
//      nothing remembered for that peer, for one window (1 s, --loop-window). When the peer sends
//      those very bytes back a second time within the window, echo answers neither that datagram
//      (loop) nor anything else from the peer for one window from then (held); after that the
//      peer is new again. The first time is answered: a request duplicated by the network (or by
//      salvo impair --dup), or retransmitted once, looks exactly like one return.
//      Why it ends every loop between two echo servers: whatever echo sends such a peer comes
//      back one round trip later, the remembered reply included, and again the round trip after;
//      so however many datagrams an attacker puts in flight, the remembered one comes back twice
//      within the window (for a round trip under half of it), and the hold turns away the rest.
//      With one forged datagram, each server answers exactly twice, whether or not the other
//      server has this rule.
//
// What it costs a legitimate client: nothing, unless it sends echo the very bytes of the reply
// echo remembered for it twice more within the window. salvo ping and sockperf number every
// datagram, so no two of theirs are alike. A client that repeats a datagram on purpose (or
// retransmits one whose answer it lost) gets the first two copies answered; a third, if it is the
// remembered one and comes within the window, is not, and neither is anything else the client
// sends for one window after. --loop-window 0 turns the rule off.
//
// Its limits, stated plainly: a loop whose round trip is longer than half the window goes on at
// one datagram per round trip; a loop with a server that changes the bytes (one that answers with an
// error message, say) is not recognised (such servers are services on well-known ports: rule 1);
// and a peer is forgotten early when more peers than a set holds (4) are answered within one
// window in its set of the table, so a loop under a flood of other peers may run one more round.
//
// The table: `table_entries` entries of 64 bytes (256 KiB by default), allocated by the
// constructor and never grown, 4-way set-associative. A peer's set comes from a hash of its
// address keyed with a random per-table seed, so that a sender cannot aim at another peer's set.
// An entry is live for one window after its reply or its hold began; a new peer takes an entry
// that is not live, or else the set's oldest (evicted, counted).
//
// Cost per datagram: no allocation, lock or system call; a keyed hash of the address, a scan of
// one set, and for a peer with a remembered reply a compare of the length and the first 24 bytes
// (the rest is hashed only when those are equal: see common/payload_fingerprint.hpp). The caller
// reads the clock once per batch.
//
// Threading: one per worker; the hooks run on the worker. `stats` is written there and must be
// read only after the engine has stopped.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "common/payload_fingerprint.hpp"
#include "salvo/salvo.hpp"

namespace salvo::cli {

struct EchoRulesOptions {
  bool answer_low_ports = false;
  std::chrono::nanoseconds loop_window = std::chrono::seconds(1);  // 0: loops are not looked for
  std::uint32_t table_entries = 4096;  // rounded up to a power of two, at least one set
};

// One worker's counts, on its own cache line. Every datagram the rules see is answered, not sent
// or ignored for exactly one reason.
struct alignas(64) EchoStats {
  std::uint64_t answered = 0;  // replies queued for sending
  std::uint64_t not_sent = 0;  // replies refused (the send queue; with --flood-guard, the reply budget)
  std::uint64_t low_port = 0;  // ignored: source port below 1024
  std::uint64_t loop = 0;      // ignored: the peer sent back the reply echo remembered for it, again
  std::uint64_t held = 0;      // ignored: from a peer within one window of its loop
  std::uint64_t evicted = 0;   // peers forgotten before their window was over (the set was full)

  EchoStats& operator+=(const EchoStats& o) noexcept;
};

nlohmann::json echo_stats_json(const EchoStats& s);
// "  echo: N answered, ...; ignored: ..." for the summary on stderr.
std::string echo_stats_line(const EchoStats& s);

class EchoRules {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  static constexpr std::uint32_t ways = 4;
  static constexpr std::uint16_t lowest_client_port = 1024;

  // Allocates the table (unless loop_window is 0), the only allocation.
  EchoRules(const EchoRulesOptions& options, EchoStats& stats);
  ~EchoRules();
  EchoRules(const EchoRules&) = delete;
  EchoRules& operator=(const EchoRules&) = delete;

  // Answers `d` by calling `send()` (true when the reply was queued) unless a rule turns it
  // away; counts the outcome. `now`: when the datagram's batch arrived.
  template <class Send>
  void echo(const Datagram& d, time_point now, Send&& send) noexcept {
    if (!admit(d.peer, d.payload, now)) return;
    if (!send()) {
      ++stats_.not_sent;  // nothing remembered: the peer may well send it again
      return;
    }
    ++stats_.answered;
    if (table_) remember(d.payload, now);
  }

  const EchoRulesOptions& options() const noexcept { return options_; }

 private:
  struct Entry;

  // Whether `payload` from `peer` is to be answered; counts it when not. Leaves the peer's key,
  // set, live entry (if any) and whether this is the remembered reply's first return for
  // remember().
  bool admit(const Address& peer, std::span<const std::byte> payload, time_point now) noexcept;
  // The reply to what admit() last let through was queued: it becomes the peer's remembered
  // reply, unless the peer already has one (then a first return is noted).
  void remember(std::span<const std::byte> payload, time_point now) noexcept;
  std::uint64_t key_of(const Address& peer) const noexcept;
  bool live(const Entry& e, std::int64_t now_ns) const noexcept;

  EchoRulesOptions options_;
  EchoStats& stats_;
  std::int64_t window_ns_ = 0;
  std::unique_ptr<Entry[]> table_;  // null when loops are not looked for
  std::uint64_t set_mask_ = 0;
  std::uint64_t seed_ = 0;
  // Left by admit() for remember().
  std::uint64_t key_ = 0;
  Entry* set_ = nullptr;
  Entry* entry_ = nullptr;  // the peer's live entry
  bool returning_ = false;  // the datagram is the peer's remembered reply, back for the first time
};

}  // namespace salvo::cli
