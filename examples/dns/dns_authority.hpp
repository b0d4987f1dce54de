// AuthorityProtocol: the authoritative server, one instance per worker. Each query in a batch is
// parsed, looked up in the zones and answered into one buffer; the answers leave together when the
// batch ends. Each answer is also kept in the worker's AnswerCache, so that a question asked again
// is answered by a copy. Malformed queries get FORMERR, other opcodes NOTIMP, other classes REFUSED; replies
// and runts are dropped and counted (DnsCounters).
//
// Ownership: the zones and the counters belong to the program and outlive the engine; the
// protocol only reads the zones (every worker reads the same ZoneSet) and writes its own worker's
// counters. With --rrl it sits behind a FloodGuard and sends through it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dns_answer_cache.hpp"
#include "dns_counters.hpp"
#include "dns_response.hpp"
#include "dns_types.hpp"
#include "dns_zone.hpp"
#include "salvo/flood_guard.hpp"
#include "salvo/protocol.hpp"

namespace dns {

class AuthorityProtocol final : public salvo::Protocol {
 public:
  // `guard`: the FloodGuard in front of this protocol (--rrl), or nullptr.
  // `cache_slots`: the size of this worker's AnswerCache (0: none).
  AuthorityProtocol(const ZoneSet& zones, const ResponseLimits& limits, DnsCounters& counters,
                    salvo::FloodGuard* guard, std::size_t cache_slots);

  void on_datagrams(std::span<const salvo::Datagram> batch, salvo::Transport& transport) override;

 private:
  void answer(const salvo::Datagram& query, salvo::Transport& transport);
  // Answers a question of class IN: from the cache, else by lookup (keeping the answer).
  WrittenResponse answer_in(const Query& query);
  // Sends the first `size` bytes of out_; false when the answer did not go out.
  bool send(std::size_t size, const salvo::Address& to, salvo::Transport& transport);

  const ZoneSet& zones_;
  ResponseLimits limits_;
  DnsCounters& counters_;
  salvo::FloodGuard* guard_;
  Answer scratch_;                   // reused by every lookup (keeps its capacity)
  AnswerCache cache_;
  std::vector<std::uint8_t> cache_fill_;  // a whole answer, written without EDNS or size limit
  std::vector<std::uint8_t> out_;    // one response, sized for the largest allowed
};

}  // namespace dns
