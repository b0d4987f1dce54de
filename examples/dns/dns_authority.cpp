#include "dns_authority.hpp"

#include "dns_query.hpp"
#include "salvo/transport.hpp"

namespace dns {

AuthorityProtocol::AuthorityProtocol(const ZoneSet& zones, const ResponseLimits& limits, DnsCounters& counters,
                                     salvo::FloodGuard* guard, std::size_t cache_slots)
    : zones_(zones), limits_(limits), counters_(counters), guard_(guard), cache_(cache_slots), cache_fill_(65535),
      out_(65535) {
  // Grown once here so that the first queries do not allocate either.
  scratch_.answer.reserve(64);
  scratch_.authority.reserve(16);
  scratch_.additional.reserve(32);
}

void AuthorityProtocol::on_datagrams(std::span<const salvo::Datagram> batch, salvo::Transport& transport) {
  DnsCounters::add(counters_.queries, batch.size());
  for (const salvo::Datagram& query : batch) answer(query, transport);
}

void AuthorityProtocol::answer(const salvo::Datagram& datagram, salvo::Transport& transport) {
  const ParsedQuery parsed = parse_query(bytes_of(datagram.payload));
  if (parsed.error != QueryError::none) {
    if (query_error_is_dropped(parsed.error)) {
      DnsCounters::add(parsed.error == QueryError::is_response ? counters_.dropped_response : counters_.dropped_short);
      return;
    }
    const Rcode rcode = query_error_rcode(parsed.error);
    const std::size_t size = write_error_response(parsed, rcode, limits_, out_);
    if (send(size, datagram.peer, transport)) counters_.count_answer(rcode, false);
    return;
  }
  const Query& query = parsed.query;
  if (query.qclass != class_in) {
    scratch_.clear();
    scratch_.rcode = Rcode::refused;
    const WrittenResponse written = write_response(query, scratch_, limits_, out_);
    if (send(written.size, datagram.peer, transport)) counters_.count_answer(Rcode::refused, written.truncated);
    return;
  }
  const WrittenResponse written = answer_in(query);
  const auto rcode = static_cast<Rcode>(out_[3] & 0x0fu);
  if (send(written.size, datagram.peer, transport)) counters_.count_answer(rcode, written.truncated);
}

WrittenResponse AuthorityProtocol::answer_in(const Query& query) {
  ResponseBody body;
  if (cache_.find(query.qname_lower, query.qtype, body)) {
    if (const std::size_t size = write_response_from_body(query, body, limits_, out_); size != 0) return {size, false};
  }
  zones_.lookup(query.qname_lower, query.qtype, scratch_);
  if (!cache_.slots()) return write_response(query, scratch_, limits_, out_);
  // The cache keeps the whole answer, so it is written once more with room for all of it (as to an
  // EDNS client taking 65535 bytes, whose OPT body_of leaves out); this client's response is then
  // made from it when it fits, as a hit would be.
  Query plain = query;
  plain.edns = Edns{};
  plain.edns.present = true;
  plain.edns.udp_payload_size = 65535;
  ResponseLimits unlimited;
  unlimited.max_udp_payload = 65535;
  const WrittenResponse whole = write_response(plain, scratch_, unlimited, cache_fill_);
  if (whole.size != 0 && !whole.truncated) {
    body = body_of({cache_fill_.data(), whole.size}, plain);
    cache_.store(query.qname_lower, query.qtype, body);
    if (const std::size_t size = write_response_from_body(query, body, limits_, out_); size != 0) return {size, false};
  }
  return write_response(query, scratch_, limits_, out_);
}

bool AuthorityProtocol::send(std::size_t size, const salvo::Address& to, salvo::Transport& transport) {
  const std::span<const std::byte> payload = payload_of({out_.data(), size});
  if (guard_ != nullptr) {
    // An answer over the reply budget is the guard's to count (over_budget); a refusal by the queue
    // is ours.
    const salvo::GuardedSend sent = guard_->send(payload, to, transport);
    if (sent == salvo::GuardedSend::not_queued) DnsCounters::add(counters_.dropped_send);
    return sent == salvo::GuardedSend::queued;
  }
  if (transport.send(payload, to) == salvo::SendResult::queued) return true;
  DnsCounters::add(counters_.dropped_send);
  return false;
}

}  // namespace dns
