// Host names to addresses, as Twisted's reactor.resolve: Address::parse stays numeric, and these
// turn "localhost:9000" into an Address through the system resolver (getaddrinfo: /etc/hosts,
// then DNS as nsswitch.conf says). Numeric hosts never reach the resolver.
// Every function here may be called from any thread. resolve() and resolve_endpoint() block for as
// long as the system resolver takes (its own time-outs bound that): never call them from a
// protocol's hooks on a worker.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "salvo/address.hpp"
#include "salvo/error.hpp"

namespace salvo {

// The addresses of `host` ("localhost", "example.org", or a numeric IP as Address::from_ip takes
// it), each with `port`, without duplicates and in the resolver's order (its preference, from
// gai.conf). `family` keeps only IPv4 or IPv6 answers; Family::none takes both.
// Errors: Errc::name_not_resolved naming the host and the resolver's reason ("cannot resolve
// 'no-such-host.invalid': Name or service not known"); Errc::bad_address for text that is neither
// an IP address nor a host name; Errc::family_mismatch for a numeric host of the other family.
Result<std::vector<Address>> resolve(std::string_view host, std::uint16_t port,
                                     Address::Family family = Address::Family::none);

// Everything Address::parse takes ("1.2.3.4:53", "[::1]:53", "[fe80::1%eth0]:53"), returned as
// written without a lookup, plus "NAME:PORT", which is the first address resolve() gives for the
// name (the resolver's most preferred). Bad syntax gives Address::parse's Errc::bad_address.
Result<Address> resolve_endpoint(std::string_view host_port, Address::Family family = Address::Family::none);

// The syntax check of resolve_endpoint() alone, without a lookup: for validating input early (a
// command-line flag) and resolving it once, later.
Result<void> check_endpoint(std::string_view host_port);

}  // namespace salvo
