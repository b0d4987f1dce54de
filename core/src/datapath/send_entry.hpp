// SendEntry: one datagram waiting in a socket's send queue, and SendMeta, how it goes out beyond
// its destination. Shared by the queue (send_queue.hpp), the worker's pool that stores the entries
// (send_pool.hpp) and the backends that turn them into messages.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <cstring>

#include "salvo/address.hpp"

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

struct SendEntry {
  Address to;
  std::uint32_t length = 0;  // payload bytes (the payload itself: SendQueue::payload)
  SendMeta meta;
  std::uint32_t segment = 0;  // the SendPool segment it lies in, and its place there: finding
  std::uint16_t index = 0;    // either costs a load, not a division
  // Names the entry for as long as it is queued: how many entries the socket queued before it.
  std::uint64_t sequence = 0;
};

}  // namespace salvo::detail
