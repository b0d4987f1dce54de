// AnswerCache: the answers a worker has written, kept by question (lowercased name and type), so
// that a question asked again is answered by copying bytes: no lookup, no name compression. The
// zones never change while the server runs, so an entry never goes stale.
//
// A fixed table of `slots` entries (a power of two), allocated when the cache is made and never
// grown: each slot holds one question and its response body (ResponseBody) of at most
// max_body_size bytes; larger answers are not kept. A question takes the slot its hash names,
// replacing whatever was there. A flood of distinct names therefore only turns hits into misses,
// which are answered the ordinary way. One cache per worker, used only by its thread.
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
  static constexpr std::size_t max_body_size = 736;  // with the key, a slot is 1 KiB

  // `slots` is rounded down to a power of two; 0 makes a cache that keeps nothing.
  explicit AnswerCache(std::size_t slots);

  // The body kept for (qname_lower, qtype), valid until the next store(); empty bytes and
  // found = false when there is none.
  bool find(const Name& qname_lower, std::uint16_t qtype, ResponseBody& body) const noexcept;
  // Keeps `body` (copied) for the question; false when it is too large to keep.
  bool store(const Name& qname_lower, std::uint16_t qtype, const ResponseBody& body) noexcept;

  std::size_t slots() const noexcept { return size_; }

 private:
  struct Slot {
    std::uint8_t name_size = 0;  // 0: empty (a name is at least the root's one byte)
    bool authoritative = false;
    std::uint16_t qtype = 0;
    Rcode rcode = Rcode::noerror;
    std::uint16_t ancount = 0, nscount = 0, arcount = 0;
    std::uint16_t body_size = 0;
    std::array<std::uint8_t, Name::max_wire_size> name{};
    std::array<std::uint8_t, max_body_size> body{};
  };

  std::size_t index_of(const Name& qname_lower, std::uint16_t qtype) const noexcept;

  std::unique_ptr<Slot[]> table_;
  std::size_t size_ = 0;
  std::size_t mask_ = 0;
};

}  // namespace dns
