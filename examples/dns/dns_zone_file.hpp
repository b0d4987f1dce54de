// Reading an RFC 1035 master file (section 5) into records: lines and parentheses, ; comments,
// quoted strings, $ORIGIN and $TTL, "@", relative names, a blank owner for the previous one, TTL
// and class in either order. Only class IN and the types in dns_rdata.hpp; $INCLUDE is refused
// (a zone is one file). Checks that need the whole zone (SOA, CNAME, apex) are the zone's.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "dns_name.hpp"
#include "dns_types.hpp"

namespace dns {

struct ZoneFileRecord {
  Record record;      // names as the file spells them; rdata names absolute and uncompressed
  std::size_t line = 0;  // where the record starts, for the zone's own error messages
};

struct ZoneFileContents {
  std::vector<ZoneFileRecord> records;
  // The origin in effect at the first record (from `origin` or a $ORIGIN before it), else the
  // first record's owner, which is then the origin for the rest of the file: the zone's apex.
  Name apex;
  // "source:line: message", empty when the file was read.
  std::string error;
};

// Parses master-file text. `origin` (presentation form, the trailing dot optional) is the origin
// until a $ORIGIN changes it; empty means the file must give absolute names until it does. With no
// $TTL, records without a TTL get 3600 as NSD gives them.
ZoneFileContents parse_zone_file(std::string_view text, std::string_view source_name, std::string_view origin);

}  // namespace dns
