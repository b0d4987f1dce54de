// Writing a response into a caller's buffer: header, the question echoed as it came, the answer's
// sections with name compression (RFC 1035 4.1.4), and an OPT record when the query had one. When
// the sections do not fit in the size the client can take, the answer section keeps as many whole
// records as fit and the TC bit is set (RFC 2181 9). Authority and additional records go in RRset
// by RRset, and an RRset that does not fit is left out whole without TC, as NSD does; except an
// authority section beside an empty answer section (the SOA of a negative answer, the NS of a
// referral), which is the answer and truncates as answers do (NSD too). Never allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dns_query.hpp"
#include "dns_types.hpp"

namespace dns {

struct ResponseLimits {
  // Largest response to an EDNS query, whatever the client offers (the DNS flag day 2020 value).
  std::uint16_t max_udp_payload = 1232;
  // The UDP payload size this server advertises in its OPT record.
  std::uint16_t advertised_udp_payload = 1232;
};

// The size a response to `query` may have: 512 without EDNS, else the client's size (at least 512)
// capped at limits.max_udp_payload.
std::size_t response_size_limit(const Query& query, const ResponseLimits& limits) noexcept;

struct WrittenResponse {
  std::size_t size = 0;  // bytes written at the front of `out`
  bool truncated = false;
};

// Writes the response to `query` described by `answer` into `out` (which should hold
// response_size_limit() bytes; at most that many are written, and nothing, size 0, when `out`
// cannot take the header, the question and the OPT). The OPT echoes the query's DO bit (RFC 3225
// 3, and NSD does) and carries answer.rcode's upper bits; without EDNS only its low four go out.
WrittenResponse write_response(const Query& query, const Answer& answer, const ResponseLimits& limits,
                               std::span<std::uint8_t> out) noexcept;

// The sections of a response after its question (answer, authority, additional) as write_response
// wrote them, kept to answer the same question again without a lookup and without compressing
// names again (AnswerCache). Its compression pointers lead into the question at offset 12 or into
// the body itself, so it is valid after any question with the same name, whatever its case.
struct ResponseBody {
  Rcode rcode = Rcode::noerror;
  bool authoritative = false;
  std::uint16_t ancount = 0, nscount = 0, arcount = 0;
  std::span<const std::uint8_t> bytes;
};

// The body of `response`, a whole response that write_response wrote to `query` with nothing
// truncated or left out; its OPT record (when the query had EDNS) is not part of the body. The
// bytes are a view into `response`.
ResponseBody body_of(std::span<const std::uint8_t> response, const Query& query) noexcept;

// The response to `query` from a body kept from an earlier one to the same name and type: header
// and question from `query`, the body copied, an OPT when the query had EDNS. Returns 0 when it
// does not fit the size the client takes: write_response then decides what to truncate.
std::size_t write_response_from_body(const Query& query, const ResponseBody& body, const ResponseLimits& limits,
                                     std::span<std::uint8_t> out) noexcept;

// Writes a header-only error response (FORMERR, NOTIMP, BADVERS ...) to a query that parsed only
// as far as `parsed` got: the id, opcode and RD bit, the question when it was read (question_wire
// not empty), an OPT record when EDNS was seen (BADVERS needs it; DO clear, as NSD sends it).
// Returns the size written (0 when `out` cannot take it).
std::size_t write_error_response(const ParsedQuery& parsed, Rcode rcode, const ResponseLimits& limits,
                                 std::span<std::uint8_t> out) noexcept;

}  // namespace dns
