#include "dns_forwarder.hpp"

#include <cstring>
#include <memory>

#include "dns_query.hpp"
#include "salvo/reactor.hpp"
#include "salvo/transport.hpp"

namespace dns {

namespace {

void put_id(std::uint8_t* message, std::uint16_t id) noexcept {
  message[0] = static_cast<std::uint8_t>(id >> 8);
  message[1] = static_cast<std::uint8_t>(id);
}

std::uint16_t get_u16(const std::uint8_t* at) noexcept { return static_cast<std::uint16_t>(at[0] << 8 | at[1]); }

}  // namespace

// The protocol of one query's upstream socket: hands what arrives to the forwarder that opened it.
// The forwarder detaches it (owner = nullptr) before closing the socket, so that nothing it does
// afterwards reaches a table entry that may already serve another query.
class UpstreamProtocol final : public salvo::Protocol {
 public:
  UpstreamProtocol(ForwarderProtocol& owner, std::uint32_t slot) : owner_(&owner), slot_(slot) {}
  void detach() noexcept { owner_ = nullptr; }

  void on_datagrams(std::span<const salvo::Datagram> batch, salvo::Transport& /*transport*/) override {
    if (owner_ != nullptr) owner_->upstream_datagrams(slot_, batch);
  }
  void on_refused(const salvo::Address& /*peer*/, salvo::Transport& /*transport*/) override {
    if (owner_ != nullptr) owner_->upstream_refused(slot_);
  }
  // A query in flight keeps its socket through a drain: its answer (or its SERVFAIL) is still owed.
  void on_draining(std::chrono::nanoseconds /*left*/, salvo::Transport& /*transport*/) override {}
  void on_stop() override {
    if (owner_ != nullptr) owner_->upstream_closed(slot_);
  }

 private:
  ForwarderProtocol* owner_;
  std::uint32_t slot_;
};

ForwarderProtocol::ForwarderProtocol(const ForwarderOptions& options, const ResponseLimits& limits,
                                     DnsCounters& counters)
    : options_(options), limits_(limits), counters_(counters), table_(options.max_in_flight), out_(65535) {
  free_slots_.reserve(table_.size());
  for (std::uint32_t slot = static_cast<std::uint32_t>(table_.size()); slot > 0; --slot) free_slots_.push_back(slot - 1);
}

ForwarderProtocol::~ForwarderProtocol() {
  for (Pending& pending : table_) {
    if (pending.busy && pending.protocol != nullptr) pending.protocol->detach();
  }
}

void ForwarderProtocol::on_start(salvo::Transport& transport) { listening_ = &transport; }

void ForwarderProtocol::on_datagrams(std::span<const salvo::Datagram> batch, salvo::Transport& transport) {
  DnsCounters::add(counters_.queries, batch.size());
  for (const salvo::Datagram& datagram : batch) forward(datagram, transport);
}

void ForwarderProtocol::forward(const salvo::Datagram& datagram, salvo::Transport& transport) {
  const std::span<const std::uint8_t> bytes = bytes_of(datagram.payload);
  const ParsedQuery parsed = parse_query(bytes);
  if (parsed.error != QueryError::none) {
    if (query_error_is_dropped(parsed.error)) {
      DnsCounters::add(parsed.error == QueryError::is_response ? counters_.dropped_response : counters_.dropped_short);
    } else {
      answer_error(parsed, query_error_rcode(parsed.error), datagram.peer);
    }
    return;
  }
  if (bytes.size() > max_forwarded_query) return answer_error(parsed, Rcode::formerr, datagram.peer);
  if (free_slots_.empty()) {
    DnsCounters::add(counters_.in_flight_full);
    return answer_error(parsed, Rcode::servfail, datagram.peer);
  }
  const std::uint32_t slot = free_slots_.back();
  Pending& pending = table_[slot];
  pending.client = datagram.peer;
  pending.client_id = parsed.query.id;
  pending.upstream_id = ids_.next();
  pending.qname_lower = parsed.query.qname_lower;
  pending.qtype = parsed.query.qtype;
  pending.qclass = parsed.query.qclass;
  pending.tries_left = options_.retries + 1;
  pending.size = static_cast<std::uint16_t>(bytes.size());
  std::memcpy(pending.query.data(), bytes.data(), bytes.size());
  put_id(pending.query.data(), pending.upstream_id);
  // Upstream, the forwarder is the client: it asks for no larger answer than it relays
  // (--max-udp-payload), so that what comes back fits its receive buffers whole.
  if (parsed.query.edns.present && parsed.query.edns.udp_payload_size > limits_.max_udp_payload) {
    pending.query[parsed.query.edns.size_offset] = static_cast<std::uint8_t>(limits_.max_udp_payload >> 8);
    pending.query[parsed.query.edns.size_offset + 1] = static_cast<std::uint8_t>(limits_.max_udp_payload);
  }

  auto protocol = std::make_unique<UpstreamProtocol>(*this, slot);
  UpstreamProtocol* protocol_view = protocol.get();
  salvo::OpenOptions how;
  how.connect_to = options_.upstream;
  const salvo::Address local =
      options_.upstream.is_v6() ? salvo::Address::ipv6_any(0) : salvo::Address::ipv4_any(0);
  auto opened = transport.reactor().open(local, std::move(protocol), how);
  if (!opened) {
    DnsCounters::add(counters_.upstream_open_failed);
    return answer_error(parsed, Rcode::servfail, datagram.peer);
  }
  free_slots_.pop_back();
  pending.busy = true;
  ++pending.generation;
  pending.upstream = *opened;
  pending.protocol = protocol_view;
  DnsCounters::add(counters_.forwarded);
  send_upstream(pending, slot);
}

void ForwarderProtocol::send_upstream(Pending& pending, std::uint32_t slot) {
  --pending.tries_left;
  // A send the queue refuses is not retried at once: the timer below tries again, as for a loss.
  pending.upstream->send(payload_of({pending.query.data(), pending.size}));
  const std::uint32_t generation = pending.generation;
  auto timer = pending.upstream->call_later(options_.timeout, [this, slot, generation] { on_timeout(slot, generation); });
  if (!timer) {
    // No timer slot left: without one the query could wait forever, so it is given up now.
    DnsCounters::add(counters_.upstream_timeouts);
    give_up(slot);
  }
}

void ForwarderProtocol::on_timeout(std::uint32_t slot, std::uint32_t generation) {
  Pending& pending = table_[slot];
  if (!pending.busy || pending.generation != generation) return;
  if (pending.tries_left > 0) {
    DnsCounters::add(counters_.retransmits);
    send_upstream(pending, slot);
    return;
  }
  DnsCounters::add(counters_.upstream_timeouts);
  give_up(slot);
}

void ForwarderProtocol::give_up(std::uint32_t slot) {
  Pending& pending = table_[slot];
  // The query as the client sent it: its own ID back, then SERVFAIL with its question and EDNS.
  put_id(pending.query.data(), pending.client_id);
  const ParsedQuery parsed = parse_query({pending.query.data(), pending.size});
  // Answered before finish(), which may close the listening socket at the end of a drain.
  answer_error(parsed, Rcode::servfail, pending.client);
  finish(slot);
}

void ForwarderProtocol::upstream_datagrams(std::uint32_t slot, std::span<const salvo::Datagram> batch) {
  Pending& pending = table_[slot];
  if (!pending.busy) return;
  for (const salvo::Datagram& datagram : batch) {
    if (!is_the_answer(pending, datagram)) {
      DnsCounters::add(counters_.upstream_mismatched);
      continue;
    }
    const std::span<const std::uint8_t> reply = bytes_of(datagram.payload);
    std::memcpy(out_.data(), reply.data(), reply.size());
    put_id(out_.data(), pending.client_id);
    const auto rcode = static_cast<Rcode>(out_[3] & 0x0f);
    const bool truncated = (out_[2] & 0x02) != 0;
    send_to_client({out_.data(), reply.size()}, pending.client, rcode, truncated);
    finish(slot);
    return;
  }
}

bool ForwarderProtocol::is_the_answer(const Pending& pending, const salvo::Datagram& datagram) const noexcept {
  const std::span<const std::uint8_t> reply = bytes_of(datagram.payload);
  if (datagram.peer != options_.upstream || reply.size() < 12 || datagram.truncated) return false;
  if ((reply[2] & 0x80) == 0 || get_u16(&reply[0]) != pending.upstream_id || get_u16(&reply[4]) != 1) return false;
  Name name;
  std::size_t end = 0;
  if (read_name(reply, 12, name, end) != QueryError::none || end + 4 > reply.size()) return false;
  return name.equals_ignoring_case(pending.qname_lower) && get_u16(&reply[end]) == pending.qtype &&
         get_u16(&reply[end + 2]) == pending.qclass;
}

void ForwarderProtocol::upstream_refused(std::uint32_t slot) {
  // The upstream's port is closed right now. The timer's next try may find it open again, so this
  // only counts; the query ends by an answer or by its tries.
  if (table_[slot].busy) DnsCounters::add(counters_.upstream_refused);
}

void ForwarderProtocol::upstream_closed(std::uint32_t slot) {
  // The engine closed a query's socket that this protocol did not (the engine is stopping): the
  // query cannot be answered from it any more.
  Pending& pending = table_[slot];
  if (!pending.busy) return;
  pending.protocol = nullptr;
  pending.upstream = nullptr;
  DnsCounters::add(counters_.upstream_timeouts);
  give_up(slot);
}

void ForwarderProtocol::finish(std::uint32_t slot) {
  Pending& pending = table_[slot];
  pending.busy = false;
  ++pending.generation;
  if (pending.protocol != nullptr) pending.protocol->detach();
  if (pending.upstream != nullptr) pending.upstream->stop_listening();
  pending.protocol = nullptr;
  pending.upstream = nullptr;
  free_slots_.push_back(slot);
  maybe_finish_draining();
}

void ForwarderProtocol::answer_error(const ParsedQuery& parsed, Rcode rcode, const salvo::Address& to) {
  const std::size_t size = write_error_response(parsed, rcode, limits_, out_);
  send_to_client({out_.data(), size}, to, rcode, false);
}

void ForwarderProtocol::send_to_client(std::span<const std::uint8_t> bytes, const salvo::Address& to, Rcode rcode,
                                       bool truncated) {
  if (listening_ == nullptr || listening_->send(payload_of(bytes), to) != salvo::SendResult::queued) {
    DnsCounters::add(counters_.dropped_send);
    return;
  }
  counters_.count_answer(rcode, truncated);
}

void ForwarderProtocol::on_draining(std::chrono::nanoseconds left, salvo::Transport& transport) {
  draining_ = true;
  // Queries still waiting for their upstream when nine tenths of the grace period have passed are
  // answered SERVFAIL then, while the listening socket can still send it: a client that hears
  // nothing would wait out its own timeout.
  // Without a timer slot for that, they are answered now.
  if (in_flight() > 0 && !transport.call_later(left * 9 / 10, [this] { give_up_in_flight(); })) give_up_in_flight();
  maybe_finish_draining();
}

void ForwarderProtocol::give_up_in_flight() {
  for (std::uint32_t slot = 0; slot < table_.size(); ++slot) {
    if (!table_[slot].busy) continue;
    DnsCounters::add(counters_.given_up_at_drain);
    give_up(slot);
  }
}

void ForwarderProtocol::maybe_finish_draining() {
  if (draining_ && in_flight() == 0 && listening_ != nullptr) listening_->stop_listening();
}

void ForwarderProtocol::on_stop() {
  listening_ = nullptr;
  for (std::uint32_t slot = 0; slot < table_.size(); ++slot) {
    if (!table_[slot].busy) continue;
    DnsCounters::add(counters_.unanswered_at_stop);
    finish(slot);
  }
}

}  // namespace dns
