// ForwarderProtocol: a forwarding DNS server, one instance per worker. Each query goes upstream
// from a socket of its own, opened at runtime on a port the kernel picks at random and connected to
// the upstream, with a new random ID (RFC 5452) and an EDNS size no larger than the forwarder's
// own limit (ResponseLimits::max_udp_payload). A reply is accepted only from that socket's peer,
// with that ID and the same question; anything else is dropped and counted (upstream_mismatched),
// and the query keeps waiting. The query is sent again when `timeout` passes without an answer,
// up to `retries` more times, and then answered SERVFAIL. The socket closes as soon as the query is
// answered or given up.
//
// The in-flight table has max_in_flight entries, allocated when the protocol is made: a query that
// finds it full is answered SERVFAIL at once (in_flight_full). What is paid per forwarded query: a
// socket (socket, IP_RECVERR, connect, which binds it to a random port, and close; plus its
// registration with the backend) and its protocol object. That is the price of the fresh source
// port, which a shared socket cannot give.
//
// Ownership and threads: every hook and callback here runs on the one worker that owns the
// listening socket; the upstream sockets are opened on that same worker, so nothing is shared
// between threads. The counters belong to the program and outlive the engine.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "dns_counters.hpp"
#include "dns_name.hpp"
#include "dns_query.hpp"
#include "dns_random_ids.hpp"
#include "dns_response.hpp"
#include "salvo/address.hpp"
#include "salvo/protocol.hpp"
#include "salvo/timer.hpp"

namespace dns {

class UpstreamProtocol;

struct ForwarderOptions {
  salvo::Address upstream;
  std::chrono::milliseconds timeout{1000};  // per try
  unsigned retries = 2;                     // tries after the first
  std::uint32_t max_in_flight = 1024;       // per worker
};

// The largest query the forwarder takes (longer ones get FORMERR): the EDNS payload size the DNS
// flag day settled on, far above any real query.
inline constexpr std::size_t max_forwarded_query = 1232;

class ForwarderProtocol final : public salvo::Protocol {
 public:
  ForwarderProtocol(const ForwarderOptions& options, const ResponseLimits& limits, DnsCounters& counters);
  ~ForwarderProtocol() override;

  void on_start(salvo::Transport& transport) override;
  void on_datagrams(std::span<const salvo::Datagram> batch, salvo::Transport& transport) override;
  // Reads no more queries and closes the listening socket once every query in flight is answered
  // or given up (or the grace period ends: the engine then stops everything).
  void on_draining(std::chrono::nanoseconds left, salvo::Transport& transport) override;
  void on_stop() override;

  std::uint32_t in_flight() const noexcept {
    return static_cast<std::uint32_t>(table_.size() - free_slots_.size());
  }

  // --- for the upstream sockets' protocol (UpstreamProtocol), on this worker ---
  void upstream_datagrams(std::uint32_t slot, std::span<const salvo::Datagram> batch);
  void upstream_refused(std::uint32_t slot);
  void upstream_closed(std::uint32_t slot);

 private:
  struct Pending {
    bool busy = false;
    salvo::Address client;
    std::uint16_t client_id = 0;
    std::uint16_t upstream_id = 0;
    Name qname_lower;
    std::uint16_t qtype = 0;
    std::uint16_t qclass = 0;
    unsigned tries_left = 0;
    // Changes whenever the entry is taken or freed, so that a timer of an earlier query that fires
    // late cannot act on the query that took its place.
    std::uint32_t generation = 0;
    salvo::Transport* upstream = nullptr;    // the query's own socket while it is open
    UpstreamProtocol* protocol = nullptr;    // that socket's protocol (owned by the engine)
    std::uint16_t size = 0;
    std::array<std::uint8_t, max_forwarded_query> query{};  // as sent upstream (the new ID in it)
  };

  void forward(const salvo::Datagram& datagram, salvo::Transport& transport);
  void answer_error(const ParsedQuery& parsed, Rcode rcode, const salvo::Address& to);
  // One try: sends the query and arms the timer that retries or gives up.
  void send_upstream(Pending& pending, std::uint32_t slot);
  void on_timeout(std::uint32_t slot, std::uint32_t generation);
  // Answers the client SERVFAIL and ends the query.
  void give_up(std::uint32_t slot);
  // The end of a drain: every query still in flight is given up.
  void give_up_in_flight();
  // Ends a query: closes its socket and frees its entry.
  void finish(std::uint32_t slot);
  bool is_the_answer(const Pending& pending, const salvo::Datagram& datagram) const noexcept;
  void send_to_client(std::span<const std::uint8_t> bytes, const salvo::Address& to, Rcode rcode, bool truncated);
  void maybe_finish_draining();

  ForwarderOptions options_;
  ResponseLimits limits_;
  DnsCounters& counters_;
  salvo::Transport* listening_ = nullptr;
  bool draining_ = false;
  std::vector<Pending> table_;
  std::vector<std::uint32_t> free_slots_;
  RandomIds ids_;
  std::vector<std::uint8_t> out_;  // one answer to a client
};

}  // namespace dns
