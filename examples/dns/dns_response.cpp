#include "dns_response.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace dns {

namespace {

constexpr std::size_t header_size = 12;
constexpr std::size_t opt_size = 11;  // root owner, type, class, ttl, rdlength 0
constexpr std::size_t classic_udp_size = 512;
constexpr std::size_t max_pointer_target = 0x3fff;
constexpr std::size_t soa_numbers_size = 20;  // serial, refresh, retry, expire, minimum

constexpr std::uint16_t flag_qr = 0x8000;
constexpr std::uint16_t flag_aa = 0x0400;
constexpr std::uint16_t flag_tc = 0x0200;
constexpr std::uint16_t flag_rd = 0x0100;
constexpr std::uint32_t edns_do = 0x8000;

// The size of the uncompressed wire-form name at the start of `bytes`, or 0 when they do not start
// with one. Zone rdata is meant to hold well-formed names; one that does not is copied verbatim.
std::size_t name_size_at(std::span<const std::uint8_t> bytes) noexcept {
  for (std::size_t at = 0; at < bytes.size() && at < Name::max_wire_size; at += 1 + bytes[at]) {
    if (bytes[at] == 0) return at + 1;
    if (bytes[at] > Name::max_label_size) return 0;
  }
  return 0;
}

// A response under construction in the caller's buffer: bounded writes that fail instead of
// passing `limit`, and the names written so far for compression. Every write is all or nothing
// at the level of a record: a caller takes a mark before and rolls back to it on failure, which
// also forgets the names remembered inside the bytes given back.
class Packet {
 public:
  struct Mark {
    std::size_t size;
    std::size_t names;
  };

  Packet(std::span<std::uint8_t> out, std::size_t limit) noexcept : out_(out), limit_(limit) {}

  std::size_t size() const noexcept { return size_; }
  void set_limit(std::size_t limit) noexcept { limit_ = limit; }
  Mark mark() const noexcept { return {size_, name_count_}; }
  void rollback(Mark m) noexcept {
    size_ = m.size;
    name_count_ = m.names;
  }

  bool put(std::span<const std::uint8_t> bytes) noexcept {
    if (limit_ - size_ < bytes.size()) return false;
    if (!bytes.empty()) std::memcpy(out_.data() + size_, bytes.data(), bytes.size());
    size_ += bytes.size();
    return true;
  }
  bool put16(std::uint16_t v) noexcept {
    const std::uint8_t bytes[2] = {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    return put(bytes);
  }
  bool put32(std::uint32_t v) noexcept {
    return put16(static_cast<std::uint16_t>(v >> 16)) && put16(static_cast<std::uint16_t>(v));
  }
  void put16_at(std::size_t at, std::uint16_t v) noexcept {
    out_[at] = static_cast<std::uint8_t>(v >> 8);
    out_[at + 1] = static_cast<std::uint8_t>(v);
  }

  // Remembers the suffixes of the uncompressed name `wire` that start in its first `labels_size`
  // bytes, as written from `at` on.
  void remember(std::size_t at, std::span<const std::uint8_t> wire, std::size_t labels_size) noexcept {
    for (std::size_t s = 0; s < labels_size; s += 1 + wire[s]) {
      if (at + s > max_pointer_target || name_count_ == names_.size()) return;
      names_[name_count_++] = {static_cast<std::uint16_t>(at + s), static_cast<std::uint8_t>(wire.size() - s)};
    }
  }

  // Writes the uncompressed name `wire`, its longest suffix already in the packet replaced by a
  // pointer there (RFC 1035 4.1.4).
  bool put_name(std::span<const std::uint8_t> wire) noexcept {
    const std::size_t start = size_;
    for (std::size_t s = 0; wire[s] != 0; s += 1 + wire[s]) {
      const std::size_t target = find(wire.subspan(s));
      if (target == 0) continue;
      if (!put(wire.first(s)) || !put16(static_cast<std::uint16_t>(0xc000 | target))) return false;
      remember(start, wire, s);
      return true;
    }
    if (!put(wire)) return false;
    remember(start, wire, wire.size() - 1);
    return true;
  }

 private:
  struct Remembered {
    std::uint16_t offset;
    std::uint8_t size;  // of the name there, uncompressed
  };

  // The offset of a remembered name equal to `suffix` ignoring ASCII case, or 0 (no name is at 0).
  std::size_t find(std::span<const std::uint8_t> suffix) const noexcept {
    for (std::size_t i = 0; i < name_count_; ++i) {
      if (names_[i].size == suffix.size() && equal_at(names_[i].offset, suffix)) return names_[i].offset;
    }
    return 0;
  }

  // Compares the name written at `at` (following the packet's own pointers, which all lead
  // backwards) with `suffix`.
  bool equal_at(std::size_t at, std::span<const std::uint8_t> suffix) const noexcept {
    std::size_t i = 0;
    while (at < size_) {
      const std::uint8_t length = out_[at];
      if ((length & 0xc0) == 0xc0) {
        if (at + 1 >= size_) return false;
        const std::size_t target = ((length & 0x3fu) << 8) | out_[at + 1];
        if (target >= at) return false;
        at = target;
        continue;
      }
      if (i >= suffix.size() || length != suffix[i] || size_ - at <= length) return false;
      if (length == 0) return true;
      for (std::size_t k = 1; k <= length; ++k) {
        if (lower_ascii(out_[at + k]) != lower_ascii(suffix[i + k])) return false;
      }
      at += 1 + length;
      i += 1 + length;
    }
    return false;
  }

  std::span<std::uint8_t> out_;
  std::size_t limit_;
  std::size_t size_ = 0;
  // Enough for the question's suffixes and the few names of a typical answer; names written once
  // it is full are still compressed against it, only not remembered themselves.
  std::array<Remembered, 64> names_{};
  std::size_t name_count_ = 0;
};

// The rdata of `record`, with the names of the RFC 1035 types compressed; anything else verbatim
// (RFC 3597 4: no compression in types a reader may not know, SRV included by RFC 2782).
bool put_rdata(Packet& packet, const Record& record) noexcept {
  const std::span<const std::uint8_t> rdata(record.rdata);
  switch (record.type) {
    case type::NS:
    case type::CNAME:
    case type::PTR:
      if (name_size_at(rdata) == rdata.size()) return packet.put_name(rdata);
      break;
    case type::MX:
      if (rdata.size() > 2 && name_size_at(rdata.subspan(2)) == rdata.size() - 2) {
        return packet.put(rdata.first(2)) && packet.put_name(rdata.subspan(2));
      }
      break;
    case type::SOA: {
      const std::size_t mname = name_size_at(rdata);
      const std::size_t rname = mname == 0 ? 0 : name_size_at(rdata.subspan(mname));
      if (rname != 0 && mname + rname + soa_numbers_size == rdata.size()) {
        return packet.put_name(rdata.first(mname)) && packet.put_name(rdata.subspan(mname, rname)) &&
               packet.put(rdata.subspan(mname + rname));
      }
      break;
    }
    default:
      break;
  }
  return packet.put(rdata);
}

// One whole record, or nothing (false) when it does not fit.
bool put_record(Packet& packet, const Record& record) noexcept {
  const Packet::Mark mark = packet.mark();
  bool ok = packet.put_name(record.owner.wire()) && packet.put16(record.type) && packet.put16(record.rclass) &&
            packet.put32(record.ttl);
  const std::size_t rdlength_at = packet.size();
  ok = ok && packet.put16(0) && put_rdata(packet, record);
  if (ok) {
    const std::size_t rdlength = packet.size() - rdlength_at - 2;
    ok = rdlength <= 0xffff;
    if (ok) packet.put16_at(rdlength_at, static_cast<std::uint16_t>(rdlength));
  }
  if (!ok) packet.rollback(mark);
  return ok;
}

bool same_rrset(const Record& a, const Record& b) noexcept {
  return a.type == b.type && a.rclass == b.rclass && a.owner.equals_ignoring_case(b.owner);
}

// Writes `records` RRset by RRset (runs of records with the same owner, type and class). An RRset
// that does not fit is left out whole (RFC 2181 9). If `needed`, that truncates the response
// (*truncated, and nothing more is written); otherwise the next RRsets are still tried. Returns
// the number of records written.
std::uint16_t put_rrsets(Packet& packet, const std::vector<const Record*>& records, bool needed,
                         bool& truncated) noexcept {
  std::uint16_t count = 0;
  for (std::size_t first = 0; first < records.size();) {
    std::size_t end = first + 1;
    while (end < records.size() && same_rrset(*records[first], *records[end])) ++end;
    const Packet::Mark mark = packet.mark();
    bool fits = true;
    for (std::size_t i = first; i < end && fits; ++i) fits = put_record(packet, *records[i]);
    if (fits) {
      count = static_cast<std::uint16_t>(count + (end - first));
    } else {
      packet.rollback(mark);
      if (needed) {
        truncated = true;
        return count;
      }
    }
    first = end;
  }
  return count;
}

void put_header(std::span<std::uint8_t> out, std::uint16_t id, std::uint16_t flags, std::uint16_t qdcount,
                std::uint16_t ancount, std::uint16_t nscount, std::uint16_t arcount) noexcept {
  const std::uint16_t fields[6] = {id, flags, qdcount, ancount, nscount, arcount};
  for (std::size_t i = 0; i < 6; ++i) {
    out[2 * i] = static_cast<std::uint8_t>(fields[i] >> 8);
    out[2 * i + 1] = static_cast<std::uint8_t>(fields[i]);
  }
}

// The flags every response carries: QR, the query's opcode and RD. RA stays clear (no recursion
// here), and so do AD and CD, as NSD leaves them.
std::uint16_t response_flags(const Query& query, Rcode rcode) noexcept {
  std::uint16_t flags = flag_qr;
  flags = static_cast<std::uint16_t>(flags | ((query.opcode & 0xfu) << 11));
  if (query.recursion_desired) flags |= flag_rd;
  return static_cast<std::uint16_t>(flags | (static_cast<std::uint16_t>(rcode) & 0xfu));
}

// The OPT record (RFC 6891 6.1.3): the size this server takes, the rcode's upper eight bits,
// version 0, and the DO bit when asked to echo it.
bool put_opt(Packet& packet, const ResponseLimits& limits, Rcode rcode, bool dnssec_ok) noexcept {
  const std::uint32_t extended = (static_cast<std::uint32_t>(rcode) >> 4) & 0xffu;
  return packet.put(std::array<std::uint8_t, 1>{0}) && packet.put16(type::OPT) &&
         packet.put16(limits.advertised_udp_payload) && packet.put32((extended << 24) | (dnssec_ok ? edns_do : 0)) &&
         packet.put16(0);
}

// The question's name as the first remembered name, so that answers owned by it point at offset
// 12 and show the question's case. Only when question_wire holds that very name, uncompressed.
void remember_question(Packet& packet, const Query& query) noexcept {
  const std::span<const std::uint8_t> qname = query.qname.wire();
  if (query.question_wire.size() == qname.size() + 4 &&
      std::equal(qname.begin(), qname.end(), query.question_wire.begin())) {
    packet.remember(header_size, qname, qname.size() - 1);
  }
}

}  // namespace

std::size_t response_size_limit(const Query& query, const ResponseLimits& limits) noexcept {
  if (!query.edns.present) return classic_udp_size;
  const std::size_t cap = std::max<std::size_t>(classic_udp_size, limits.max_udp_payload);
  return std::min(std::max<std::size_t>(classic_udp_size, query.edns.udp_payload_size), cap);
}

WrittenResponse write_response(const Query& query, const Answer& answer, const ResponseLimits& limits,
                               std::span<std::uint8_t> out) noexcept {
  WrittenResponse written;
  const std::size_t limit = std::min(response_size_limit(query, limits), out.size());
  const std::size_t reserved = query.edns.present ? opt_size : 0;
  if (limit < header_size + query.question_wire.size() + reserved) return written;

  // The records may use everything but the OPT's room; the OPT goes in last.
  Packet packet(out, limit - reserved);
  packet.put(std::array<std::uint8_t, header_size>{});
  packet.put(query.question_wire);
  remember_question(packet, query);

  bool truncated = false;
  std::uint16_t ancount = 0;
  for (const Record* record : answer.answer) {
    if (!put_record(packet, *record)) {
      truncated = true;  // the whole records that fit stay, RFC 2181 9
      break;
    }
    ++ancount;
  }
  // With no answer records, the authority section is the answer: the SOA of a negative answer, the
  // NS of a referral. Without it the response means nothing, so it truncates as answers do; beside
  // an answer it is extra, and left out quietly like the additional section (NSD does both).
  std::uint16_t nscount = 0;
  std::uint16_t arcount = 0;
  if (!truncated) nscount = put_rrsets(packet, answer.authority, answer.answer.empty(), truncated);
  if (!truncated) arcount = put_rrsets(packet, answer.additional, false, truncated);

  if (query.edns.present) {
    packet.set_limit(limit);
    put_opt(packet, limits, answer.rcode, query.edns.dnssec_ok);
    ++arcount;
  }
  std::uint16_t flags = response_flags(query, answer.rcode);
  if (answer.authoritative) flags |= flag_aa;
  if (truncated) flags |= flag_tc;
  put_header(out, query.id, flags, query.question_wire.empty() ? 0 : 1, ancount, nscount, arcount);
  written.size = packet.size();
  written.truncated = truncated;
  return written;
}

ResponseBody body_of(std::span<const std::uint8_t> response, const Query& query) noexcept {
  ResponseBody body;
  const auto field = [&](std::size_t at) { return static_cast<std::uint16_t>(response[at] << 8 | response[at + 1]); };
  const std::uint16_t flags = field(2);
  body.rcode = static_cast<Rcode>(flags & 0xfu);
  body.authoritative = (flags & flag_aa) != 0;
  body.ancount = field(6);
  body.nscount = field(8);
  body.arcount = field(10);
  const std::size_t start = header_size + query.question_wire.size();
  const std::size_t opt = query.edns.present ? opt_size : 0;  // the OPT is always written last
  if (opt != 0) --body.arcount;
  body.bytes = response.subspan(start, response.size() - start - opt);
  return body;
}

std::size_t write_response_from_body(const Query& query, const ResponseBody& body, const ResponseLimits& limits,
                                     std::span<std::uint8_t> out) noexcept {
  const std::size_t limit = std::min(response_size_limit(query, limits), out.size());
  const std::size_t reserved = query.edns.present ? opt_size : 0;
  if (limit < header_size + query.question_wire.size() + body.bytes.size() + reserved) return 0;
  Packet packet(out, limit);
  packet.put(std::array<std::uint8_t, header_size>{});
  packet.put(query.question_wire);
  packet.put(body.bytes);
  if (query.edns.present) put_opt(packet, limits, body.rcode, query.edns.dnssec_ok);
  std::uint16_t flags = response_flags(query, body.rcode);
  if (body.authoritative) flags |= flag_aa;
  put_header(out, query.id, flags, 1, body.ancount, body.nscount,
             static_cast<std::uint16_t>(body.arcount + (query.edns.present ? 1 : 0)));
  return packet.size();
}

std::size_t write_error_response(const ParsedQuery& parsed, Rcode rcode, const ResponseLimits& limits,
                                 std::span<std::uint8_t> out) noexcept {
  const Query& query = parsed.query;
  const std::size_t limit = std::min(response_size_limit(query, limits), out.size());
  const std::size_t reserved = query.edns.present ? opt_size : 0;
  if (limit < header_size + query.question_wire.size() + reserved) return 0;

  Packet packet(out, limit);
  packet.put(std::array<std::uint8_t, header_size>{});
  packet.put(query.question_wire);
  // NSD clears DO in its BADVERS answer: there is nothing signed in an error.
  if (query.edns.present) put_opt(packet, limits, rcode, false);
  put_header(out, query.id, response_flags(query, rcode), query.question_wire.empty() ? 0 : 1, 0, 0,
             query.edns.present ? 1 : 0);
  return packet.size();
}

}  // namespace dns
