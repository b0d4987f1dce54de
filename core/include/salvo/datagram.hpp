// Datagram: one received datagram, as a view into a buffer the worker owns, with what the kernel
// said about it.
//
// Ownership: the payload bytes belong to the worker's buffer pool and are valid only until the
// Protocol::on_datagrams call that received them returns. Copy what must outlive the call.
//
// Metadata: the fields after `truncated` are filled only when EngineOptions asks for them (each
// costs a control message per datagram); otherwise they keep the "not known" values below.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>

#include "salvo/address.hpp"

namespace salvo {

// The two ECN bits of the TOS / traffic class byte (RFC 3168).
enum class Ecn : std::uint8_t { not_ect = 0, ect1 = 1, ect0 = 2, ce = 3 };

struct Datagram {
  std::span<const std::byte> payload;
  Address peer;            // the sender
  bool truncated = false;  // the datagram was larger than the buffer; payload holds its first bytes
                           // (only delivered when EngineOptions::deliver_truncated is set)

  // EngineOptions::gro: the kernel coalesced several datagrams of one sender into this one payload,
  // each `segment_size` bytes except the last, which may be shorter. 0: one datagram. Walk them
  // with salvo::segments(datagram), which works for both.
  std::uint16_t segment_size = 0;

  // EngineOptions::receive_destination (IP_PKTINFO / IPV6_RECVPKTINFO): the address the datagram
  // was sent to (its IP header's destination, with the socket's port; a multicast group for
  // multicast) and the index of the interface it arrived on. Family::none and 0 otherwise.
  // Replying with SendOptions::reply_to(datagram) sends from that address.
  Address destination;
  std::uint32_t interface_index = 0;

  // EngineOptions::receive_traffic_class (IP_RECVTOS / IPV6_RECVTCLASS): the IPv4 TOS or IPv6
  // traffic class byte, ECN in its low two bits. -1 when not asked for.
  std::int16_t traffic_class = -1;
  Ecn ecn() const noexcept { return static_cast<Ecn>(traffic_class < 0 ? 0 : traffic_class & 3); }

  // EngineOptions::timestamps: when the kernel received the datagram, in nanoseconds since the
  // Unix epoch (CLOCK_REALTIME), from software (SO_TIMESTAMPNS, or SO_TIMESTAMPING's software
  // stamp) and, where the network device stamps packets and has RX timestamping turned on, from
  // the device (SO_TIMESTAMPING raw hardware). 0 when not known.
  std::int64_t timestamp_ns = 0;
  std::int64_t hardware_timestamp_ns = 0;
};

// The datagrams inside one Datagram's payload: one, or its GRO segments. A forward range of
// spans into the payload, valid as long as the payload is. Allocation-free.
class SegmentRange {
 public:
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::span<const std::byte>;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = value_type;

    iterator() = default;
    iterator(std::span<const std::byte> rest, std::size_t stride, std::size_t left) noexcept
        : rest_(rest), stride_(stride), left_(left) {}
    value_type operator*() const noexcept { return rest_.first(piece()); }
    iterator& operator++() noexcept {
      rest_ = rest_.subspan(piece());
      --left_;
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator before = *this;
      ++*this;
      return before;
    }
    // Iterators of one range compare by how many datagrams are left.
    friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.left_ == b.left_; }

   private:
    std::size_t piece() const noexcept { return rest_.size() < stride_ ? rest_.size() : stride_; }
    std::span<const std::byte> rest_;
    std::size_t stride_ = 0;
    std::size_t left_ = 0;
  };

  SegmentRange(std::span<const std::byte> payload, std::size_t segment_size) noexcept
      : payload_(payload), stride_(segment_size == 0 || segment_size > payload.size() ? payload.size() : segment_size) {}

  iterator begin() const noexcept { return iterator(payload_, stride_, size()); }
  iterator end() const noexcept { return iterator(payload_.subspan(payload_.size()), stride_, 0); }
  // How many datagrams: 1 for a plain datagram (an empty one too), ceil(size / segment) for GRO.
  std::size_t size() const noexcept { return payload_.empty() ? 1 : (payload_.size() + stride_ - 1) / stride_; }

 private:
  std::span<const std::byte> payload_;
  std::size_t stride_;
};

inline SegmentRange segments(const Datagram& d) noexcept { return SegmentRange(d.payload, d.segment_size); }

}  // namespace salvo
