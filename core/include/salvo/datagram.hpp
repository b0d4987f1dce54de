// Datagram: one received datagram, as a view into a buffer the worker owns.
//
// Ownership: the payload bytes belong to the worker's buffer pool and are valid only until the
// Protocol::on_datagrams call that received them returns. Copy what must outlive the call.
#pragma once

#include <cstddef>
#include <span>

#include "salvo/address.hpp"

namespace salvo {

struct Datagram {
  std::span<const std::byte> payload;
  Address peer;            // the sender
  bool truncated = false;  // the datagram was larger than the buffer; payload holds its first bytes
                           // (only delivered when EngineOptions::deliver_truncated is set)
};

}  // namespace salvo
