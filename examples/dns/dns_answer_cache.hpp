// AnswerCache: the answers a worker has written, kept by question (lowercased name and type), so
// that a question asked again is answered by copying bytes: no lookup, no name compression. The
// zones never change while the server runs, so an entry never goes stale.
//
// A fixed table of `slots` entries of 512 bytes, allocated when the cache is made and never grown.
// A slot holds one question's name and its response body (ResponseBody), together at most
// max_stored_size bytes; larger answers are not kept. Slots go in pairs: a question may sit in
// either slot of the pair its hash names, and a new one replaces the one of the pair used less
// recently. A flood of distinct names therefore only turns hits into misses, which are answered
// the ordinary way. One cache per worker, used only by its thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "dns_name.hpp"
#include "dns_response.hpp"

namespace dns {

class AnswerCache {
 public:
  static constexpr std::size_t slot_size = 512;
  static constexpr std::size_t header_size = 14;  // the fields of Slot before its bytes
  static constexpr std::size_t max_stored_size = slot_size - header_size;  // name + body

  // `slots` is rounded down to a power of two (at least 2); 0 makes a cache that keeps nothing.
  explicit AnswerCache(std::size_t slots);

  // The body kept for (qname_lower, qtype): true and `body` set (a view valid until the next
  // store), or false.
  bool find(const Name& qname_lower, std::uint16_t qtype, ResponseBody& body) noexcept;
  // Keeps `body` (copied) for the question; false when name and body together are too large.
  bool store(const Name& qname_lower, std::uint16_t qtype, const ResponseBody& body) noexcept;

  std::size_t slots() const noexcept { return pairs_ * 2; }

 private:
  struct Slot {
    std::uint16_t qtype = 0;
    std::uint8_t name_size = 0;  // 0: empty (a name is at least the root's one byte)
    bool authoritative = false;
    Rcode rcode = Rcode::noerror;
    std::uint16_t ancount = 0, nscount = 0, arcount = 0;
    std::uint16_t body_size = 0;
    std::array<std::uint8_t, max_stored_size> bytes;  // the name, then the body
  };
  static_assert(sizeof(Slot) == slot_size);

  Slot* pair_of(const Name& qname_lower, std::uint16_t qtype) noexcept;

  std::unique_ptr<Slot[]> table_;
  std::unique_ptr<std::uint8_t[]> recent_;  // per pair: which slot (0 or 1) was used last
  std::size_t pairs_ = 0;
};

}  // namespace dns
