#include "dns_answer_cache.hpp"

#include <bit>
#include <cstring>

namespace dns {

AnswerCache::AnswerCache(std::size_t slots) {
  if (slots == 0) return;
  pairs_ = std::bit_floor(std::max<std::size_t>(slots, 2)) / 2;
  table_ = std::make_unique<Slot[]>(pairs_ * 2);
  recent_ = std::make_unique<std::uint8_t[]>(pairs_);
}

AnswerCache::Slot* AnswerCache::pair_of(const Name& qname_lower, std::uint16_t qtype) noexcept {
  // FNV-1a: short keys, one pass. It is not keyed: a sender who aims questions at one pair only
  // makes them miss, which costs it the ordinary answer path and nothing more.
  std::uint64_t h = 0xcbf29ce484222325ull ^ qtype;
  for (const std::uint8_t b : qname_lower.wire()) h = (h ^ b) * 0x100000001b3ull;
  return &table_[2 * (static_cast<std::size_t>(h ^ (h >> 32)) & (pairs_ - 1))];
}

bool AnswerCache::find(const Name& qname_lower, std::uint16_t qtype, ResponseBody& body) noexcept {
  if (!table_) return false;
  Slot* pair = pair_of(qname_lower, qtype);
  const std::span<const std::uint8_t> name = qname_lower.wire();
  for (int way = 0; way < 2; ++way) {
    const Slot& slot = pair[way];
    if (slot.name_size != name.size() || slot.qtype != qtype ||
        std::memcmp(slot.bytes.data(), name.data(), name.size()) != 0) {
      continue;
    }
    recent_[static_cast<std::size_t>(pair - table_.get()) / 2] = static_cast<std::uint8_t>(way);
    body.rcode = slot.rcode;
    body.authoritative = slot.authoritative;
    body.ancount = slot.ancount;
    body.nscount = slot.nscount;
    body.arcount = slot.arcount;
    body.bytes = {slot.bytes.data() + slot.name_size, slot.body_size};
    return true;
  }
  return false;
}

bool AnswerCache::store(const Name& qname_lower, std::uint16_t qtype, const ResponseBody& body) noexcept {
  const std::span<const std::uint8_t> name = qname_lower.wire();
  if (!table_ || name.size() + body.bytes.size() > max_stored_size) return false;
  Slot* pair = pair_of(qname_lower, qtype);
  const std::size_t pair_index = static_cast<std::size_t>(pair - table_.get()) / 2;
  const std::uint8_t way = recent_[pair_index] ^ 1u;  // the slot used less recently
  Slot& slot = pair[way];
  recent_[pair_index] = way;
  slot.qtype = qtype;
  slot.name_size = static_cast<std::uint8_t>(name.size());
  slot.authoritative = body.authoritative;
  slot.rcode = body.rcode;
  slot.ancount = body.ancount;
  slot.nscount = body.nscount;
  slot.arcount = body.arcount;
  slot.body_size = static_cast<std::uint16_t>(body.bytes.size());
  std::memcpy(slot.bytes.data(), name.data(), name.size());
  std::memcpy(slot.bytes.data() + name.size(), body.bytes.data(), body.bytes.size());
  return true;
}

}  // namespace dns
