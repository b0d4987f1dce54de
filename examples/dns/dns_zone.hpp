// Zones in memory, loaded from RFC 1035 master files, and the authoritative lookup over them.
//
// The lookup answers as NSD 4 does for the same zone file and question (checked record for record
// in tests/examples): authoritative answers with CNAME chains followed inside the zone, the apex NS
// set in the authority section and in-zone addresses of NS, MX and SRV targets in the additional
// section; NXDOMAIN and NODATA with the SOA (its TTL the lesser of the SOA's TTL and MINIMUM) in the
// authority section; referrals (no AA) below a delegation, with glue; REFUSED outside every zone.
//
// Threading: a ZoneSet is built once, before the engine starts, and is read-only afterwards, so
// every worker may read it at once.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dns_name.hpp"
#include "dns_types.hpp"

namespace dns {

class Zone;

// The outcome of loading a zone file: the zone, or an error naming the file, the line and what is
// wrong ("zones/example.zone:12: unknown record type WKS").
struct ZoneLoad {
  std::unique_ptr<Zone> zone;
  std::string error;
};

class ZoneSet {
 public:
  ZoneSet();
  ~ZoneSet();
  ZoneSet(ZoneSet&&) noexcept;
  ZoneSet& operator=(ZoneSet&&) noexcept;

  // Loads a master file. `origin` is the zone's name when the file does not start with $ORIGIN
  // (empty: the file must set it, or its first owner name is taken). Fails on a syntax error, an
  // unsupported type or class, a record outside the zone, a zone without exactly one SOA at its
  // apex, a CNAME beside other data, or a zone this set already holds.
  std::string add_file(const std::string& path, std::string_view origin = {});
  // The same from text, for tests (`source_name` names it in errors).
  std::string add_text(std::string_view text, std::string_view source_name, std::string_view origin = {});

  std::size_t zone_count() const noexcept;
  std::size_t record_count() const noexcept;

  // Fills `out` (clearing it first) with the answer to (qname_lower, qtype). qname must be
  // lowercased. Never allocates once out's vectors have grown to the largest answer.
  void lookup(const Name& qname_lower, std::uint16_t qtype, Answer& out) const;

 private:
  // Hashes a Name::key() given as a std::string or a std::string_view, so that a query's name is
  // looked up without building a std::string.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const noexcept { return std::hash<std::string_view>{}(key); }
  };

  std::string add_zone(std::unique_ptr<Zone> zone, std::string_view source_name);
  // The zone with the longest apex that `name_lower` is at or below, or null.
  const Zone* find_zone(const Name& name_lower) const noexcept;
  // Answers inside `zone`, following CNAMEs into any zone of this set as NSD does.
  void answer_in_zone(const Zone& zone, const Name& qname, std::uint16_t qtype, bool following_cname,
                      Answer& out) const;

  std::vector<std::unique_ptr<Zone>> zones_;
  // Zones by their lowercased apex, for the longest-match search up the query's labels.
  std::unordered_map<std::string, const Zone*, KeyHash, std::equal_to<>> by_apex_;
};

}  // namespace dns
