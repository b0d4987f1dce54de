// From what a user asks of a socket (SocketOptions, OpenOptions) to what opening it takes: the
// options for open_udp_socket, with the engine's defaults where the user left a field alone, and
// the connect of OpenOptions::connect_to. Any thread.
#pragma once

#include "salvo/address.hpp"
#include "salvo/engine_options.hpp"
#include "salvo/error.hpp"
#include "salvo/reactor.hpp"
#include "salvo/socket_options.hpp"
#include "socket/udp_socket.hpp"

namespace salvo::detail {

UdpSocketOptions udp_socket_options(const SocketOptions& socket, const EngineOptions& engine);

// `peer` as a socket of that family connects to it: an IPv4 peer of an IPv6 socket mapped, a
// mapped peer of an IPv4 socket unmapped. Errors for no address, port 0 and the wrong family.
// Transport::connect and OpenOptions::connect_to both go through it.
Result<Address> connect_target(bool ipv6, const Address& peer);

// A socket bound to `local` with how.socket (the engine's buffer sizes where it left them), and
// connected to how.connect_to when that is set. On failure nothing stays open. `recverr`: who
// turns IP_RECVERR on (udp_socket.hpp).
// A connected socket on the wildcard address and port 0 is bound by the kernel at connect
// (open_connected_udp_socket); LocalAddress::when_asked leaves its bound.local at port 0 then,
// for the owner to learn when someone asks (SocketState::local_address), sparing a getsockname
// per socket; LocalAddress::now reads it here.
enum class LocalAddress : bool { now, when_asked };
struct OpenedSocket {
  BoundSocket bound;
  Address peer;  // the connected peer, or Family::none
};
Result<OpenedSocket> open_socket(const Address& local, const OpenOptions& how, const EngineOptions& engine,
                                 LocalAddress local_address = LocalAddress::now, RecvErr recverr = RecvErr::now);

}  // namespace salvo::detail
