// The DNS vocabulary the server, the zone and the codec share: record types, classes, response
// codes, a record as the zone holds it, and the answer a lookup produces (RFC 1035, 2308, 6891).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "dns_name.hpp"

namespace dns {

// The codec reads and writes octets; salvo's datagrams are std::byte. Views, no copies.
inline std::span<const std::uint8_t> bytes_of(std::span<const std::byte> payload) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()};
}
inline std::span<const std::byte> payload_of(std::span<const std::uint8_t> bytes) noexcept {
  return {reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()};
}

namespace type {
inline constexpr std::uint16_t A = 1;
inline constexpr std::uint16_t NS = 2;
inline constexpr std::uint16_t CNAME = 5;
inline constexpr std::uint16_t SOA = 6;
inline constexpr std::uint16_t PTR = 12;
inline constexpr std::uint16_t MX = 15;
inline constexpr std::uint16_t TXT = 16;
inline constexpr std::uint16_t AAAA = 28;
inline constexpr std::uint16_t SRV = 33;
inline constexpr std::uint16_t OPT = 41;
inline constexpr std::uint16_t ANY = 255;
}  // namespace type

inline constexpr std::uint16_t class_in = 1;

// The header's RCODE values this server sends (BADVERS is EDNS's extended code 16: its upper
// eight bits travel in the OPT record).
enum class Rcode : std::uint16_t {
  noerror = 0,
  formerr = 1,
  servfail = 2,
  nxdomain = 3,
  notimp = 4,
  refused = 5,
  badvers = 16,
};

// One resource record as a zone holds it. Names are lowercased when the zone is loaded, as NSD
// does; an answer's names still take the question's case wherever the writer compresses them
// against it. rdata is in wire form with any names in it uncompressed, so the response writer can
// compress them (NS, CNAME, PTR, MX, SOA) or copy them (SRV, RFC 2782) by the record's type.
struct Record {
  Name owner;
  std::uint16_t type = 0;
  std::uint16_t rclass = class_in;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> rdata;
};

// What a lookup decided: the response code, the AA bit, and the records of each section, in the
// order they go on the wire. The records belong to the zone, which outlives every answer. A
// server keeps one Answer per worker and passes it to every lookup, which clears it: the vectors
// keep their capacity, so answering does not allocate once they have grown.
struct Answer {
  Rcode rcode = Rcode::noerror;
  bool authoritative = false;
  std::vector<const Record*> answer;
  std::vector<const Record*> authority;
  std::vector<const Record*> additional;

  void clear() noexcept {
    rcode = Rcode::noerror;
    authoritative = false;
    answer.clear();
    authority.clear();
    additional.clear();
  }
};

}  // namespace dns
