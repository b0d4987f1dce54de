// Reading a query off the wire. This faces the internet: every byte is checked against the
// datagram's end before it is read, compression pointers may only point backwards (so they cannot
// loop), and a name may not pass 255 bytes however it is assembled. The result is either a question
// to answer, or a named reason, with what the server should do about it (drop, or answer with an
// error code).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "dns_name.hpp"
#include "dns_types.hpp"

namespace dns {

// Why a datagram is not a question to answer. The first group is dropped without a reply (there is
// no header to answer, or answering would feed a loop: replies are never answered); the rest are
// answered with the Rcode that query_error_rcode() names.
enum class QueryError : std::uint8_t {
  none = 0,
  // dropped
  shorter_than_header,  // under 12 bytes
  is_response,          // QR set
  // FORMERR
  not_one_question,       // QDCOUNT != 1
  truncated_question,     // the question runs past the datagram
  bad_label,              // a label type other than 0b00 / 0b11 (RFC 6891 retired 0b01, 0b10 unused)
  name_too_long,          // over 255 bytes
  bad_pointer,            // a compression pointer that does not point backwards, or points into the header
  answer_or_authority,    // ANCOUNT or NSCOUNT != 0 in a query
  bad_additional,         // a record of the additional section that runs past the datagram
  bad_opt,                // more than one OPT, or an OPT whose owner is not the root
  trailing_bytes,         // bytes after the last counted record
  // NOTIMP
  not_a_query,  // OPCODE other than QUERY
  // BADVERS
  bad_edns_version,  // EDNS version above 0
};

// Dropped without a reply?
bool query_error_is_dropped(QueryError e) noexcept;
// The response code a query with this error gets (meaningless for dropped ones).
Rcode query_error_rcode(QueryError e) noexcept;
// A short name for counters and logs: "shorter_than_header", ...
std::string_view query_error_name(QueryError e) noexcept;

struct Edns {
  bool present = false;
  std::uint16_t udp_payload_size = 0;  // as the client sent it (values below 512 mean 512)
  // Where that size is in the datagram (the OPT record's CLASS field), for a forwarder that
  // passes the query on with a size of its own; 0 without EDNS.
  std::size_t size_offset = 0;
  std::uint8_t version = 0;
  bool dnssec_ok = false;
};

struct Query {
  std::uint16_t id = 0;
  std::uint8_t opcode = 0;
  bool recursion_desired = false;
  bool checking_disabled = false;
  Name qname;        // as received: its case is echoed in the answer's question
  Name qname_lower;  // for lookups
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  // The question exactly as it came (name, type, class), for echoing into the response.
  std::span<const std::uint8_t> question_wire;
  Edns edns;
};

struct ParsedQuery {
  QueryError error = QueryError::none;
  // Filled as far as parsing got: the id, opcode and flags whenever the header was there, the
  // question (question_wire not empty) whenever it was read, which it was for error none and for
  // every error found after it (in the additional section, trailing bytes, EDNS errors). The EDNS
  // fields are set when one OPT was read, and cleared again for bad_opt.
  Query query;
};

// Parses a query. Never allocates, never reads outside `datagram`.
ParsedQuery parse_query(std::span<const std::uint8_t> datagram) noexcept;

// Reads a possibly compressed name starting at `offset` in `message`. On success sets `name` and
// `end` (the offset just past the name where it started, not where a pointer led) and returns
// QueryError::none. A pointer must lead strictly below the start of the labels it ends (so chains
// cannot loop) and not into the 12-byte header; a name that runs past `message` is
// truncated_question. Also used by the forwarder to read replies' questions.
QueryError read_name(std::span<const std::uint8_t> message, std::size_t offset, Name& name, std::size_t& end) noexcept;

}  // namespace dns
