// LoopWatch: which of salvo impair's clients are in a loop, so that --dup does not feed it.
//
// A loop through the proxy: the "client" is itself an echo (or any server that answers
// everything), brought in by one datagram with its address forged as the source. Every datagram
// the proxy delivers to it comes back, goes to the server, whose answer the proxy delivers to it
// again, and so on. Without loss nothing ends that (the endpoints must: salvo echo does, see
// servers/echo_rules.hpp), but duplication must not make it grow: a duplicate made in a loop is
// one more datagram going round it for good, and every pass could duplicate it again, so at
// --dup p the loop's datagrams multiply by up to (1 + p)^2 per round trip.
//
// The rule: per client, the proxy remembers the first datagram it delivers to that client when it
// has none remembered, for one window; a client that sends those very bytes back within the window
// is looping, and from then until one window after the last such catch, no duplicate is made of
// its traffic in either direction (the decision is drawn as always and withheld, and counted:
// dup_withheld). A catch forgets the remembered datagram, so the next one delivered is remembered
// and the next round of a running loop catches again: the loop stays caught while it runs. One
// return is enough here, where salvo echo answers one (servers/echo_rules.hpp): a withheld
// duplicate takes nothing from a client that it asked for, a request's answer would.
//
// So a loop gains duplicates only before its first catch: at most the datagrams of one round
// trip, each duplicated once per direction. With one datagram injected and --dup 1, that is
// exactly one duplicate from the client side and two from the server side, then none, ever.
// Ordinary traffic is untouched: a client that does not send back what it was sent is never
// caught (salvo ping's and the tests' datagrams are all different), and the server's replies to a
// client (an echo server's are the very bytes the client sent) are not what is watched.
//
// The window is one second plus twice the longest a datagram can wait in the proxy (--delay,
// --jitter and a reorder hold, each way): the proxy's own delay must not outlast the memory.
//
// Its limits: a client whose round trip (through the server and back through the proxy) is longer
// than the window is not caught; nor one that changes the bytes before sending them back.
//
// Memory: one entry per client slot (the ClientTable's capacity), allocated by the constructor.
// No allocation, lock or system call per datagram; per datagram from a client with a remembered
// datagram, a compare of the length and the first 24 bytes, and a hash only when those match
// (common/payload_fingerprint.hpp). One thread (impair's single worker).
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "common/payload_fingerprint.hpp"

namespace salvo::cli {

class LoopWatch {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  LoopWatch(std::uint32_t clients, std::chrono::nanoseconds window);

  // A new client in `client`'s slot: nothing remembered, not looping.
  void reset(std::uint32_t client) noexcept;
  // A datagram is being delivered to the client: remembered if none is.
  void delivering(std::uint32_t client, std::span<const std::byte> payload, time_point now) noexcept;
  // A datagram came from the client: true when it is the remembered one (a catch).
  bool received(std::uint32_t client, std::span<const std::byte> payload, time_point now) noexcept;
  // Whether the client was caught looping within the last window.
  bool looping(std::uint32_t client, time_point now) const noexcept;

  std::chrono::nanoseconds window() const noexcept { return window_; }

 private:
  struct Entry {
    PayloadFingerprint delivered;  // valid while remembered_until > now
    time_point remembered_until{};
    time_point looping_until{};
  };

  std::chrono::nanoseconds window_;
  std::vector<Entry> entries_;
};

}  // namespace salvo::cli
