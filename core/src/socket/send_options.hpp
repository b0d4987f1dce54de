// From the public SendOptions to the SendMeta a queue entry carries: the source normalised to what
// the socket's family and the destination need, once, at send time.
#pragma once

#include "datapath/send_queue.hpp"
#include "salvo/transport.hpp"

namespace salvo::detail {

// `dest` is already normalised (v4 on an IPv4 socket; v6 or v4-mapped on an IPv6 one). False when
// the source cannot be used for it: an IPv6 source to an IPv4 destination, or the reverse.
bool make_send_meta(const SendOptions& how, bool ipv6_socket, const Address& dest, SendMeta& meta) noexcept;

// The other way, for FakeTransport's record of what was sent.
SendOptions send_options_of(const SendMeta& meta, bool ipv6_socket) noexcept;

}  // namespace salvo::detail
