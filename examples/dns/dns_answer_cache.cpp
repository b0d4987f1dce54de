#include "dns_answer_cache.hpp"

#include <bit>
#include <cstring>

namespace dns {

AnswerCache::AnswerCache(std::size_t slots) {
  if (slots == 0) return;
  const std::size_t size = std::bit_floor(slots);
  table_ = std::make_unique<Slot[]>(size);
  size_ = size;
  mask_ = size - 1;
}

std::size_t AnswerCache::index_of(const Name& qname_lower, std::uint16_t qtype) const noexcept {
  // FNV-1a: short keys, one pass. It is not keyed: a sender who aims questions at one slot only
  // makes them miss, which costs it the ordinary answer path and nothing more.
  std::uint64_t h = 0xcbf29ce484222325ull ^ qtype;
  for (const std::uint8_t b : qname_lower.wire()) h = (h ^ b) * 0x100000001b3ull;
  return static_cast<std::size_t>(h ^ (h >> 32)) & mask_;
}

bool AnswerCache::find(const Name& qname_lower, std::uint16_t qtype, ResponseBody& body) const noexcept {
  if (!table_) return false;
  const Slot& slot = table_[index_of(qname_lower, qtype)];
  const std::span<const std::uint8_t> name = qname_lower.wire();
  if (slot.name_size != name.size() || slot.qtype != qtype ||
      std::memcmp(slot.name.data(), name.data(), name.size()) != 0) {
    return false;
  }
  body.rcode = slot.rcode;
  body.authoritative = slot.authoritative;
  body.ancount = slot.ancount;
  body.nscount = slot.nscount;
  body.arcount = slot.arcount;
  body.bytes = {slot.body.data(), slot.body_size};
  return true;
}

bool AnswerCache::store(const Name& qname_lower, std::uint16_t qtype, const ResponseBody& body) noexcept {
  if (!table_ || body.bytes.size() > max_body_size) return false;
  Slot& slot = table_[index_of(qname_lower, qtype)];
  const std::span<const std::uint8_t> name = qname_lower.wire();
  slot.name_size = static_cast<std::uint8_t>(name.size());
  std::memcpy(slot.name.data(), name.data(), name.size());
  slot.qtype = qtype;
  slot.rcode = body.rcode;
  slot.authoritative = body.authoritative;
  slot.ancount = body.ancount;
  slot.nscount = body.nscount;
  slot.arcount = body.arcount;
  slot.body_size = static_cast<std::uint16_t>(body.bytes.size());
  std::memcpy(slot.body.data(), body.bytes.data(), body.bytes.size());
  return true;
}

}  // namespace dns
