// Applying a SocketOptions to a socket salvo has just opened and not yet bound. Called by
// open_udp_socket only (the controlling thread, inside Engine::listen).
#pragma once

#include "salvo/address.hpp"
#include "salvo/error.hpp"
#include "salvo/socket_options.hpp"

namespace salvo::detail {

// Checks the values the kernel would refuse, or silently change, for a socket bound to `address`:
// negative buffer sizes, a traffic class outside 0..255, ipv6_only on an IPv4 address, a device
// name too long for SO_BINDTODEVICE. Errc::bad_option, naming the option, value and address.
Result<void> check_socket_options(const Address& address, const SocketOptions& options);

// Sets every option `options` asks for on `fd`, an unbound socket of `address`'s family, in an
// order that works before bind. Stops at the first refusal (the caller closes the socket); the
// error names the option, the value and the address.
Result<void> apply_socket_options(int fd, const Address& address, const SocketOptions& options);

}  // namespace salvo::detail
