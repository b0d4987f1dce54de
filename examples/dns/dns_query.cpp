#include "dns_query.hpp"

namespace dns {

namespace {

constexpr std::size_t header_size = 12;
constexpr std::size_t fixed_rr_size = 10;  // type, class, ttl, rdlength after a record's owner

std::uint16_t read_u16(std::span<const std::uint8_t> bytes, std::size_t at) noexcept {
  return static_cast<std::uint16_t>((bytes[at] << 8) | bytes[at + 1]);
}

std::uint32_t read_u32(std::span<const std::uint8_t> bytes, std::size_t at) noexcept {
  return (static_cast<std::uint32_t>(read_u16(bytes, at)) << 16) | read_u16(bytes, at + 2);
}

// Skips one record of the additional section at `at`, reading what the query needs from an OPT.
// A record that runs past the datagram is bad_additional; a bad name keeps its own reason.
QueryError read_additional_record(std::span<const std::uint8_t> datagram, std::size_t& at, Query& query,
                                  bool& saw_opt) noexcept {
  Name owner;
  std::size_t end = 0;
  const QueryError name_error = read_name(datagram, at, owner, end);
  if (name_error == QueryError::truncated_question) return QueryError::bad_additional;
  if (name_error != QueryError::none) return name_error;
  if (datagram.size() - end < fixed_rr_size) return QueryError::bad_additional;
  const std::uint16_t rtype = read_u16(datagram, end);
  const std::uint16_t rclass = read_u16(datagram, end + 2);
  const std::uint32_t ttl = read_u32(datagram, end + 4);
  const std::uint16_t rdlength = read_u16(datagram, end + 8);
  if (datagram.size() - end - fixed_rr_size < rdlength) return QueryError::bad_additional;
  at = end + fixed_rr_size + rdlength;
  if (rtype != type::OPT) return QueryError::none;  // TSIG and the like: not ours to check

  // RFC 6891 6.1.1: one OPT at most, owned by the root. A second one makes the first doubtful
  // too, so the FORMERR goes out without an OPT.
  if (saw_opt || !owner.is_root()) {
    query.edns = Edns{};
    return QueryError::bad_opt;
  }
  saw_opt = true;
  query.edns.present = true;
  query.edns.udp_payload_size = rclass;
  query.edns.size_offset = end + 2;
  query.edns.version = static_cast<std::uint8_t>(ttl >> 16);
  query.edns.dnssec_ok = (ttl & 0x8000) != 0;
  return QueryError::none;
}

}  // namespace

bool query_error_is_dropped(QueryError e) noexcept {
  return e == QueryError::shorter_than_header || e == QueryError::is_response;
}

Rcode query_error_rcode(QueryError e) noexcept {
  switch (e) {
    case QueryError::none:
    case QueryError::shorter_than_header:
    case QueryError::is_response:
      return Rcode::noerror;
    case QueryError::not_a_query:
      return Rcode::notimp;
    case QueryError::bad_edns_version:
      return Rcode::badvers;
    case QueryError::not_one_question:
    case QueryError::truncated_question:
    case QueryError::bad_label:
    case QueryError::name_too_long:
    case QueryError::bad_pointer:
    case QueryError::answer_or_authority:
    case QueryError::bad_additional:
    case QueryError::bad_opt:
    case QueryError::trailing_bytes:
      break;
  }
  return Rcode::formerr;
}

std::string_view query_error_name(QueryError e) noexcept {
  switch (e) {
    case QueryError::none: return "none";
    case QueryError::shorter_than_header: return "shorter_than_header";
    case QueryError::is_response: return "is_response";
    case QueryError::not_one_question: return "not_one_question";
    case QueryError::truncated_question: return "truncated_question";
    case QueryError::bad_label: return "bad_label";
    case QueryError::name_too_long: return "name_too_long";
    case QueryError::bad_pointer: return "bad_pointer";
    case QueryError::answer_or_authority: return "answer_or_authority";
    case QueryError::bad_additional: return "bad_additional";
    case QueryError::bad_opt: return "bad_opt";
    case QueryError::trailing_bytes: return "trailing_bytes";
    case QueryError::not_a_query: return "not_a_query";
    case QueryError::bad_edns_version: return "bad_edns_version";
  }
  return "unknown";
}

QueryError read_name(std::span<const std::uint8_t> message, std::size_t offset, Name& name,
                     std::size_t& end) noexcept {
  Name read;
  std::size_t at = offset;
  // Where the labels being read started: a pointer must lead below it, so every jump goes
  // strictly backwards and no chain of pointers can loop.
  std::size_t segment_start = offset;
  bool jumped = false;
  std::size_t after_first_pointer = 0;
  for (;;) {
    if (at >= message.size()) return QueryError::truncated_question;
    const std::uint8_t length = message[at];
    const std::uint8_t kind = length & 0xc0;
    if (kind == 0xc0) {
      if (message.size() - at < 2) return QueryError::truncated_question;
      const std::size_t target = read_u16(message, at) & 0x3fff;
      // The header holds no names, so a pointer into it is as wrong as one forwards.
      if (target >= segment_start || target < header_size) return QueryError::bad_pointer;
      if (!jumped) after_first_pointer = at + 2;
      jumped = true;
      at = target;
      segment_start = target;
      continue;
    }
    if (kind != 0) return QueryError::bad_label;
    if (length == 0) break;
    if (message.size() - at - 1 < length) return QueryError::truncated_question;
    if (!read.append_label(message.subspan(at + 1, length))) return QueryError::name_too_long;
    at += 1 + length;
  }
  name = read;
  end = jumped ? after_first_pointer : at + 1;
  return QueryError::none;
}

ParsedQuery parse_query(std::span<const std::uint8_t> datagram) noexcept {
  ParsedQuery parsed;
  Query& query = parsed.query;
  if (datagram.size() < header_size) {
    parsed.error = QueryError::shorter_than_header;
    return parsed;
  }
  query.id = read_u16(datagram, 0);
  const std::uint16_t flags = read_u16(datagram, 2);
  query.opcode = static_cast<std::uint8_t>((flags >> 11) & 0xf);
  query.recursion_desired = (flags & 0x0100) != 0;
  query.checking_disabled = (flags & 0x0010) != 0;
  // The header is judged alone first: a reply is never answered, and an opcode we do not serve
  // gets NOTIMP whatever follows it.
  if ((flags & 0x8000) != 0) {
    parsed.error = QueryError::is_response;
    return parsed;
  }
  if (query.opcode != 0) {
    parsed.error = QueryError::not_a_query;
    return parsed;
  }
  if (read_u16(datagram, 4) != 1) {
    parsed.error = QueryError::not_one_question;
    return parsed;
  }
  if (read_u16(datagram, 6) != 0 || read_u16(datagram, 8) != 0) {
    parsed.error = QueryError::answer_or_authority;
    return parsed;
  }
  const std::uint16_t arcount = read_u16(datagram, 10);

  // The question. read_name refuses pointers into the header, the only place the first name
  // could point to, so the question is uncompressed and its bytes can be echoed as they are.
  Name qname;
  std::size_t at = 0;
  const QueryError name_error = read_name(datagram, header_size, qname, at);
  if (name_error != QueryError::none) {
    parsed.error = name_error;
    return parsed;
  }
  if (datagram.size() - at < 4) {
    parsed.error = QueryError::truncated_question;
    return parsed;
  }
  query.qname = qname;
  query.qname_lower = qname.lowercased();
  query.qtype = read_u16(datagram, at);
  query.qclass = read_u16(datagram, at + 2);
  at += 4;
  query.question_wire = datagram.subspan(header_size, at - header_size);

  bool saw_opt = false;
  for (unsigned i = 0; i < arcount; ++i) {
    const QueryError record_error = read_additional_record(datagram, at, query, saw_opt);
    if (record_error != QueryError::none) {
      parsed.error = record_error;
      return parsed;
    }
  }
  if (at != datagram.size()) {
    parsed.error = QueryError::trailing_bytes;
    return parsed;
  }
  // BADVERS only for an otherwise well-formed query: a malformed one is a FORMERR first.
  if (query.edns.present && query.edns.version > 0) parsed.error = QueryError::bad_edns_version;
  return parsed;
}

}  // namespace dns
