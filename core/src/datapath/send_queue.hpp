// SendQueue: a socket's bounded queue of datagrams waiting to be sent.
//
// Transport::send copies the payload into a byte ring and appends an entry (destination, offset,
// length) to an entry ring; the backend flushes from the front in batches and pops what the kernel
// accepted. Both rings are fixed at start-up: a full queue refuses, it never grows.
// Owned and used by one worker thread: no synchronisation.
#pragma once

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

#include "salvo/address.hpp"
#include "salvo/error.hpp"

namespace salvo::detail {

// How one queued datagram goes out beyond its destination (Transport's SendOptions, normalised
// to the socket's family): what the backends turn into per-message control messages.
struct SendMeta {
  enum class Source : std::uint8_t { none, v4, v6 };  // v6 also for a v4-mapped source on a v6 socket
  Source source_family = Source::none;
  std::int16_t traffic_class = -1;  // -1: the socket's
  std::uint32_t interface_index = 0;
  in6_addr source{};  // for Source::v4, the in_addr in the first four bytes

  bool empty() const noexcept { return source_family == Source::none && traffic_class < 0 && interface_index == 0; }
  friend bool operator==(const SendMeta& a, const SendMeta& b) noexcept {
    return a.source_family == b.source_family && a.traffic_class == b.traffic_class &&
           a.interface_index == b.interface_index && std::memcmp(&a.source, &b.source, sizeof a.source) == 0;
  }
};

class SendQueue {
 public:
  struct Entry {
    Address to;
    std::uint32_t offset = 0;  // into the byte ring
    std::uint32_t length = 0;
    SendMeta meta;
  };

  // entries must be a power of two; bytes is the payload capacity.
  Result<void> init(std::uint32_t entries, std::uint32_t bytes);

  // Copies payload in; false when either ring lacks room (the caller counts the refusal).
  bool push(std::span<const std::byte> payload, const Address& to, const SendMeta& meta = {}) noexcept;

  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  std::size_t room() const noexcept { return capacity_ - count_; }
  // How many more payloads of `size` bytes push() would accept right now.
  std::size_t room_for(std::size_t size) const noexcept;
  std::size_t capacity() const noexcept { return capacity_; }

  // i-th entry from the front (0 = oldest), and its payload.
  const Entry& at(std::size_t i) const noexcept { return entries_[(head_ + i) & mask_]; }
  std::byte* payload(const Entry& e) const noexcept { return bytes_.get() + e.offset; }

  // How many entries from the front are contiguous in the entry ring (for array-based sends).
  std::size_t contiguous() const noexcept {
    std::size_t to_end = capacity_ - head_;
    return count_ < to_end ? count_ : to_end;
  }
  const Entry* front_ptr() const noexcept { return &entries_[head_]; }

  // Stable slot numbers, for backends that keep per-entry state beside the queue (io_uring's
  // msghdrs): slot_index(i) is the slot of the i-th entry; offset_of_slot inverts it.
  std::size_t slot_index(std::size_t i) const noexcept { return (head_ + i) & mask_; }
  std::size_t offset_of_slot(std::size_t slot) const noexcept { return (slot - head_) & mask_; }

  // A number that names the i-th entry for as long as it is queued: entries popped so far, plus i.
  std::uint64_t sequence(std::size_t i) const noexcept { return popped_ + i; }

  // Releases the n oldest entries and their bytes.
  void pop(std::size_t n) noexcept;

 private:
  bool reserve_bytes(std::uint32_t length, std::uint32_t& offset) noexcept;

  std::unique_ptr<Entry[]> entries_;
  std::unique_ptr<std::byte[]> bytes_;
  std::size_t capacity_ = 0;
  std::size_t mask_ = 0;
  std::size_t head_ = 0;   // oldest entry
  std::size_t count_ = 0;
  std::uint64_t popped_ = 0;
  std::uint32_t byte_capacity_ = 0;
  std::uint32_t byte_head_ = 0;  // start of the oldest payload
  std::uint32_t byte_tail_ = 0;  // where the next payload goes
};

}  // namespace salvo::detail
