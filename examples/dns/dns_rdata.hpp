// Presentation text to wire form for the parts of a master-file record (RFC 1035 5.1): names
// (relative ones completed with the origin), TTLs with BIND's units, type names, and the rdata of
// the types the zone supports (A, AAAA, NS, CNAME, PTR, MX, SOA, TXT, SRV). Errors come back as a
// message without file and line; the zone-file reader adds those.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns_name.hpp"

namespace dns {

// One field as the master-file reader split it: the text between the quotes for a quoted string,
// escapes (\X, \DDD) still in it either way.
struct TextField {
  std::string_view text;
  bool quoted = false;
};

// Reads a name; a relative one (no trailing unescaped dot) gets `origin` appended, and is an error
// when origin is null. "@" is the origin. Returns an error message, empty on success.
std::string name_from_text(std::string_view text, const Name* origin, Name& out);

// Reads a TTL or an SOA timer: plain seconds or BIND's units ("1h30m", "2w"), at most `max`.
std::string seconds_from_text(std::string_view text, std::uint32_t max, std::string_view what, std::uint32_t& out);

inline constexpr std::uint32_t max_ttl = 0x7fffffff;  // RFC 2181 8

// The type for a mnemonic ("MX", any case); nullopt for types this zone does not support.
std::optional<std::uint16_t> type_from_text(std::string_view text);
const char* type_to_text(std::uint16_t type) noexcept;

// Wire-form rdata for `type` from its fields, names uncompressed and absolute.
std::string rdata_from_text(std::uint16_t type, std::span<const TextField> fields, const Name* origin,
                            std::vector<std::uint8_t>& out);

// Where the domain name in the rdata starts for the types whose name leads to additional records
// or a CNAME target (NS, CNAME, PTR: 0; MX: 2; SRV: 6); nullopt for other types.
std::optional<std::size_t> rdata_name_offset(std::uint16_t type) noexcept;

// Reads the uncompressed wire name at `offset` of a well-formed rdata.
Name name_from_wire(std::span<const std::uint8_t> rdata, std::size_t offset) noexcept;

// Lowercases every domain name in a well-formed rdata of `type` (NSD keeps names in lowercase, so
// the answers carry them that way).
void lowercase_rdata_names(std::uint16_t type, std::vector<std::uint8_t>& rdata) noexcept;

}  // namespace dns
