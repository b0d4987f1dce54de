#include "dns_zone.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "dns_rdata.hpp"
#include "dns_zone_file.hpp"

namespace dns {

namespace {

struct Hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view key) const noexcept { return std::hash<std::string_view>{}(key); }
};

// DS is answered by the parent side of a zone cut (RFC 4035 3.1.4.1), the one type that is not
// referred at the cut itself.
constexpr std::uint16_t type_ds = 43;

}  // namespace

// The records of one owner and type, contiguous in the zone's storage, with the in-zone address
// records of its targets worked out at load so that a lookup only appends pointers.
struct RRset {
  std::uint16_t type = 0;
  const Record* first = nullptr;
  std::uint32_t count = 0;
  // The A and the AAAA RRsets of the NS, MX or SRV targets, in record order. NSD puts every A
  // before every AAAA in the additional section, so the two are kept apart.
  std::vector<const RRset*> additional_a;
  std::vector<const RRset*> additional_aaaa;
  std::vector<Record> staged;  // the records while the zone is read
};

struct Node {
  std::vector<RRset> rrsets;  // in the order the file first gives each type, as NSD keeps them
  // The NS set of the highest zone cut at or above this name (not the apex): a query here is
  // referred.
  const RRset* cut = nullptr;
  Name cname_target;  // lowercased, when the node holds a CNAME

  const RRset* find(std::uint16_t type) const noexcept {
    for (const RRset& set : rrsets) {
      if (set.type == type) return &set;
    }
    return nullptr;
  }
  RRset* find(std::uint16_t type) noexcept { return const_cast<RRset*>(std::as_const(*this).find(type)); }
};

class Zone {
 public:
  Name apex;  // lowercased
  std::vector<Record> records;  // never grows after load: answers point into it
  // The SOA as negative answers carry it: its TTL the lesser of the SOA's own and its MINIMUM
  // field (RFC 2308 3), as NSD sends it.
  Record negative_soa;
  const RRset* apex_ns = nullptr;
  // Every owner name, and every empty non-terminal between an owner and the apex, by the
  // lowercased name's key.
  std::unordered_map<std::string, Node, Hash, std::equal_to<>> nodes;

  const Node* find(std::string_view key) const noexcept {
    const auto it = nodes.find(key);
    return it == nodes.end() ? nullptr : &it->second;
  }
};

namespace {

std::string at_line(std::string_view source, std::size_t line, const std::string& message) {
  return std::string(source) + ":" + std::to_string(line) + ": " + message;
}

bool is_wildcard(const Name& name) noexcept {
  const auto wire = name.wire();
  return wire[0] == 1 && wire[1] == '*';
}

// Puts the records read from a file into a zone, checking what needs the whole zone.
std::string build_zone(ZoneFileContents& contents, std::string_view source, Zone& zone) {
  zone.apex = contents.apex.lowercased();
  const std::string apex_text = zone.apex.to_text();
  bool have_soa = false;
  std::size_t total = 0;
  for (ZoneFileRecord& parsed : contents.records) {
    Record& rr = parsed.record;
    const std::string owner_text = rr.owner.to_text();
    if (is_wildcard(rr.owner)) {
      return at_line(source, parsed.line, "wildcard owner names are not supported (" + owner_text + ")");
    }
    // NSD keeps every name in lowercase; the answers carry them so.
    rr.owner = rr.owner.lowercased();
    lowercase_rdata_names(rr.type, rr.rdata);
    if (!rr.owner.is_at_or_below(zone.apex)) {
      return at_line(source, parsed.line, owner_text + " is outside the zone " + apex_text);
    }
    if (rr.type == type::SOA) {
      if (!(rr.owner == zone.apex)) {
        return at_line(source, parsed.line, "SOA record at " + owner_text + " is not at the zone apex " + apex_text);
      }
      if (have_soa) return at_line(source, parsed.line, "a second SOA record for " + apex_text);
      have_soa = true;
    }
    Node& node = zone.nodes[std::string(rr.owner.key())];
    const bool has_cname = node.find(type::CNAME) != nullptr;
    const bool has_other = std::any_of(node.rrsets.begin(), node.rrsets.end(),
                                       [](const RRset& set) { return set.type != type::CNAME; });
    if ((rr.type == type::CNAME && has_other) || (rr.type != type::CNAME && has_cname)) {
      return at_line(source, parsed.line, owner_text + " has a CNAME and other data");
    }
    RRset* set = node.find(rr.type);
    if (set == nullptr) {
      set = &node.rrsets.emplace_back();
      set->type = rr.type;
    }
    // A record given twice is one record (NSD drops the second); the first one's TTL stays.
    const bool duplicate = std::any_of(set->staged.begin(), set->staged.end(),
                                       [&](const Record& other) { return other.rdata == rr.rdata; });
    if (duplicate) continue;
    if (rr.type == type::CNAME && !set->staged.empty()) {
      return at_line(source, parsed.line, owner_text + " has more than one CNAME");
    }
    if (rr.type == type::CNAME) node.cname_target = name_from_wire(rr.rdata, 0);
    // The names between the owner and the apex exist too, as empty non-terminals.
    for (Name up = rr.owner.parent(); up.is_at_or_below(zone.apex) && !up.is_root(); up = up.parent()) {
      zone.nodes.try_emplace(std::string(up.key()));
      if (up == zone.apex) break;
    }
    set->staged.push_back(std::move(rr));
    ++total;
  }
  if (!have_soa) return std::string(source) + ": no SOA record at the zone apex " + apex_text;

  // Lay the records out RRset by RRset. reserve() first: answers hold pointers into the vector.
  zone.records.reserve(total);
  for (auto& [key, node] : zone.nodes) {
    for (RRset& set : node.rrsets) {
      set.first = zone.records.data() + zone.records.size();
      set.count = static_cast<std::uint32_t>(set.staged.size());
      for (Record& rr : set.staged) zone.records.push_back(std::move(rr));
      std::vector<Record>().swap(set.staged);
    }
  }

  const Node* apex_node = zone.find(zone.apex.key());
  const RRset* soa = apex_node->find(type::SOA);
  zone.apex_ns = apex_node->find(type::NS);
  zone.negative_soa = *soa->first;
  const auto& soa_rdata = soa->first->rdata;
  const std::size_t n = soa_rdata.size();
  const std::uint32_t minimum = (std::uint32_t{soa_rdata[n - 4]} << 24) | (std::uint32_t{soa_rdata[n - 3]} << 16) |
                                (std::uint32_t{soa_rdata[n - 2]} << 8) | std::uint32_t{soa_rdata[n - 1]};
  zone.negative_soa.ttl = std::min(zone.negative_soa.ttl, minimum);

  // Zone cuts: every name below the highest NS set under the apex is referred to it.
  for (auto& [key, node] : zone.nodes) {
    const Name name = name_from_wire({reinterpret_cast<const std::uint8_t*>(key.data()), key.size()}, 0);
    for (Name up = name; !(up == zone.apex); up = up.parent()) {
      const Node* above = zone.find(up.key());
      if (const RRset* ns = above ? above->find(type::NS) : nullptr) node.cut = ns;
    }
  }

  // Additional records: the A and AAAA sets of in-zone targets. NS targets may be glue below a
  // cut; MX and SRV targets below a cut are not used, as in NSD.
  for (auto& [key, node] : zone.nodes) {
    for (RRset& set : node.rrsets) {
      const auto offset = rdata_name_offset(set.type);
      if (!offset || set.type == type::CNAME || set.type == type::PTR) continue;
      for (std::uint32_t i = 0; i < set.count; ++i) {
        const Name target = name_from_wire(set.first[i].rdata, *offset);
        if (!target.is_at_or_below(zone.apex)) continue;
        const Node* target_node = zone.find(target.key());
        if (target_node == nullptr || (set.type != type::NS && target_node->cut != nullptr)) continue;
        if (const RRset* a = target_node->find(type::A)) set.additional_a.push_back(a);
        if (const RRset* aaaa = target_node->find(type::AAAA)) set.additional_aaaa.push_back(aaaa);
      }
    }
  }
  return {};
}

bool holds(const std::vector<const Record*>& section, const RRset& set) noexcept {
  return std::find(section.begin(), section.end(), set.first) != section.end();
}

void append(std::vector<const Record*>& section, const RRset& set) {
  for (std::uint32_t i = 0; i < set.count; ++i) section.push_back(set.first + i);
}

// The RRsets (at most an answer's and the authority's NS) whose targets' addresses go in the
// additional section.
struct AdditionalSources {
  const RRset* sets[2] = {nullptr, nullptr};
  std::size_t count = 0;
  void add(const RRset* set) noexcept {
    if (count < 2) sets[count++] = set;
  }
};

// Every A set first, then every AAAA set, each once and none already in the answer: the order of
// NSD's additional section.
void add_additional(const AdditionalSources& sources, Answer& out) {
  for (const bool want_a : {true, false}) {
    for (std::size_t s = 0; s < sources.count; ++s) {
      const auto& targets = want_a ? sources.sets[s]->additional_a : sources.sets[s]->additional_aaaa;
      for (const RRset* target : targets) {
        if (!holds(out.answer, *target) && !holds(out.additional, *target)) append(out.additional, *target);
      }
    }
  }
}

// NSD answers ANY with one RRset (RFC 8482 4.1): the first of A, AAAA, SOA, MX or PTR in the
// file's order, else the last of the others.
const RRset* rrset_for_any(const Node& node) noexcept {
  const RRset* other = nullptr;
  for (const RRset& set : node.rrsets) {
    switch (set.type) {
      case type::A:
      case type::AAAA:
      case type::SOA:
      case type::MX:
      case type::PTR: return &set;
      default: other = &set;
    }
  }
  return other;
}

}  // namespace

ZoneSet::ZoneSet() = default;
ZoneSet::~ZoneSet() = default;
ZoneSet::ZoneSet(ZoneSet&&) noexcept = default;
ZoneSet& ZoneSet::operator=(ZoneSet&&) noexcept = default;

std::string ZoneSet::add_file(const std::string& path, std::string_view origin) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return path + ": cannot open the zone file";
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return path + ": cannot read the zone file";
  return add_text(text.str(), path, origin);
}

std::string ZoneSet::add_text(std::string_view text, std::string_view source_name, std::string_view origin) {
  ZoneFileContents contents = parse_zone_file(text, source_name, origin);
  if (!contents.error.empty()) return contents.error;
  auto zone = std::make_unique<Zone>();
  std::string error = build_zone(contents, source_name, *zone);
  if (!error.empty()) return error;
  return add_zone(std::move(zone), source_name);
}

std::string ZoneSet::add_zone(std::unique_ptr<Zone> zone, std::string_view source_name) {
  std::string key(zone->apex.key());
  if (by_apex_.contains(key)) {
    return std::string(source_name) + ": zone " + zone->apex.to_text() + " is already loaded";
  }
  by_apex_.emplace(std::move(key), zone.get());
  zones_.push_back(std::move(zone));
  return {};
}

std::size_t ZoneSet::zone_count() const noexcept { return zones_.size(); }

std::size_t ZoneSet::record_count() const noexcept {
  std::size_t count = 0;
  for (const auto& zone : zones_) count += zone->records.size();
  return count;
}

const Zone* ZoneSet::find_zone(const Name& name_lower) const noexcept {
  std::string_view key = name_lower.key();
  for (;;) {
    if (const auto it = by_apex_.find(key); it != by_apex_.end()) return it->second;
    if (key.size() <= 1) return nullptr;
    key.remove_prefix(1 + static_cast<std::uint8_t>(key[0]));
  }
}

void ZoneSet::lookup(const Name& qname_lower, std::uint16_t qtype, Answer& out) const {
  out.clear();
  const Zone* zone = find_zone(qname_lower);
  if (zone == nullptr) {
    out.rcode = Rcode::refused;
    return;
  }
  answer_in_zone(*zone, qname_lower, qtype, false, out);
}

void ZoneSet::answer_in_zone(const Zone& first_zone, const Name& first_name, std::uint16_t qtype,
                             bool following_cname, Answer& out) const {
  const Zone* zone = &first_zone;
  const Name* name = &first_name;
  // Each turn answers `name` in `zone`; a CNAME moves both to its target, in whatever loaded zone
  // that is (NSD follows into other zones too), and ends when a CNAME repeats.
  for (;;) {
    // The closest encloser: the name itself, or the nearest existing name above it. The apex
    // always exists, so the walk stops there at the latest.
    std::string_view key = name->key();
    const Node* node = zone->find(key);
    const bool exact = node != nullptr;
    while (node == nullptr && key.size() > 1) {
      key.remove_prefix(1 + static_cast<std::uint8_t>(key[0]));
      node = zone->find(key);
    }
    if (node == nullptr) return;

    AdditionalSources sources;
    const bool ds_at_cut = exact && qtype == type_ds && node->find(type::NS) == node->cut;
    if (node->cut != nullptr && !ds_at_cut) {
      // A referral; not authoritative unless a CNAME of ours led here.
      out.authoritative = following_cname;
      append(out.authority, *node->cut);
      sources.add(node->cut);
      add_additional(sources, out);
      return;
    }
    out.authoritative = true;
    if (!exact) {
      out.rcode = Rcode::nxdomain;
      out.authority.push_back(&zone->negative_soa);
      return;
    }
    if (qtype == type::ANY) {
      // One RRset, no authority section, as NSD 4.6 answers.
      const RRset* set = rrset_for_any(*node);
      if (set == nullptr) {
        out.authority.push_back(&zone->negative_soa);
        return;
      }
      append(out.answer, *set);
      sources.add(set);
      add_additional(sources, out);
      return;
    }
    if (const RRset* set = node->find(qtype)) {
      if (!holds(out.answer, *set)) append(out.answer, *set);
      sources.add(set);
      // The apex NS set goes in the authority section unless the answer holds it already.
      if (zone->apex_ns != nullptr && !holds(out.answer, *zone->apex_ns)) {
        append(out.authority, *zone->apex_ns);
        sources.add(zone->apex_ns);
      }
      add_additional(sources, out);
      return;
    }
    if (const RRset* cname = node->find(type::CNAME)) {
      if (holds(out.answer, *cname)) return;  // a loop: NSD stops with the chain so far
      append(out.answer, *cname);
      const Zone* next = find_zone(node->cname_target);
      if (next == nullptr) return;  // the chain leaves every loaded zone
      zone = next;
      name = &node->cname_target;
      following_cname = true;
      continue;
    }
    out.authority.push_back(&zone->negative_soa);
    return;
  }
}

}  // namespace dns
