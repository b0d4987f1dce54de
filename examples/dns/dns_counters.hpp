// What the DNS server did, counted per worker: answers by response code, datagrams dropped by
// reason, and the forwarder's upstream traffic. Each worker writes only its own DnsCounters (no
// locked instruction per query: a relaxed load and store of a counter only that thread writes);
// any thread may read them at any time (--metrics reads them every second, --json at exit).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "dns_query.hpp"
#include "dns_types.hpp"

namespace dns {

// X(name, help): every counter, in the order --json and --metrics list them.
#define SALVO_DNS_COUNTERS(X)                                                                      \
  X(queries, "datagrams received on the listening socket")                                         \
  X(noerror, "answers sent with NOERROR (positive answers, NODATA, referrals)")                    \
  X(nxdomain, "answers sent with NXDOMAIN")                                                        \
  X(servfail, "answers sent with SERVFAIL (forwarder: upstream gave up or the in-flight table was full)") \
  X(formerr, "answers sent with FORMERR (malformed queries)")                                      \
  X(notimp, "answers sent with NOTIMP (opcodes other than QUERY)")                                 \
  X(refused, "answers sent with REFUSED (names outside every zone, classes other than IN)")        \
  X(badvers, "answers sent with BADVERS (EDNS versions above 0)")                                  \
  X(other_rcode, "forwarded answers with any other response code")                                 \
  X(truncated, "answers sent with the TC bit (they did not fit the client's size)")                \
  X(dropped_short, "datagrams dropped: shorter than a DNS header")                                 \
  X(dropped_response, "datagrams dropped: responses (QR set) sent to the server")                  \
  X(dropped_send, "answers the send queue refused")                                               \
  X(forwarded, "queries sent upstream (first tries)")                                              \
  X(retransmits, "queries sent upstream again after the timeout")                                  \
  X(upstream_timeouts, "queries that used every try without an answer (answered SERVFAIL)")       \
  X(upstream_mismatched, "upstream datagrams dropped: wrong ID, question or source (spoofing resistance)") \
  X(upstream_refused, "ICMP port unreachable from upstream")                                       \
  X(in_flight_full, "queries refused because the in-flight table was full (answered SERVFAIL)")    \
  X(upstream_open_failed, "upstream sockets that could not be opened (answered SERVFAIL)")          \
  X(given_up_at_drain, "forwarder: queries still in flight near a drain's end (answered SERVFAIL)") \
  X(unanswered_at_stop, "forwarder: queries in flight when the server stopped at once (no answer)")

struct DnsStats {
#define SALVO_DNS_FIELD(name, help) std::uint64_t name = 0;
  SALVO_DNS_COUNTERS(SALVO_DNS_FIELD)
#undef SALVO_DNS_FIELD
  DnsStats& operator+=(const DnsStats& other) noexcept;
};

class DnsCounters {
 public:
#define SALVO_DNS_CELL(name, help) std::atomic<std::uint64_t> name{0};
  SALVO_DNS_COUNTERS(SALVO_DNS_CELL)
#undef SALVO_DNS_CELL

  // Only the owning worker calls these.
  static void add(std::atomic<std::uint64_t>& cell, std::uint64_t n = 1) noexcept {
    cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void count_answer(Rcode rcode, bool truncated) noexcept;

  DnsStats snapshot() const noexcept;
};

// The counters as Prometheus text: each counter dns_<name>_total with its HELP, one sample per
// worker (worker="N").
std::string dns_prometheus_text(const std::vector<DnsStats>& per_worker);

}  // namespace dns
