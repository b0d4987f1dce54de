// From what a user asks of a socket (SocketOptions, OpenOptions) to what opening it takes: the
// options for open_udp_socket, with the engine's defaults where the user left a field alone, and
// the connect of OpenOptions::connect_to. Any thread.
#pragma once

#include "salvo/address.hpp"
#include "salvo/engine_options.hpp"
#include "salvo/error.hpp"
#include "salvo/socket_options.hpp"
#include "socket/udp_socket.hpp"

namespace salvo::detail {

UdpSocketOptions udp_socket_options(const SocketOptions& socket, const EngineOptions& engine);

// Connects a bound socket to `peer` in the socket's family (an IPv4 peer of an IPv6 socket is
// mapped, as Transport::connect does) and returns the peer as the socket now knows it.
Result<Address> connect_bound(int fd, bool ipv6, const Address& peer);

}  // namespace salvo::detail
