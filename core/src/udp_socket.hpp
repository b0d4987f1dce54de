// Opening, binding and closing the kernel UDP sockets a worker serves.
#pragma once

#include <cstdint>

#include "salvo/address.hpp"
#include "salvo/error.hpp"

namespace salvo::detail {

struct UdpSocketOptions {
  bool reuse_port = false;     // join an SO_REUSEPORT group (one socket per worker)
  int receive_buffer = 0;      // SO_RCVBUF, 0 = kernel default
  int send_buffer = 0;         // SO_SNDBUF, 0 = kernel default
};

struct BoundSocket {
  int fd = -1;
  Address local;  // as the kernel reports it (real port when bound to 0)
};

// A non-blocking, close-on-exec UDP socket bound to `address`, with SO_RXQ_OVFL on so that kernel
// drops are reported. Errors name the address and the call that failed.
Result<BoundSocket> open_udp_socket(const Address& address, const UdpSocketOptions& options);

// Checks that `address` is free for a new SO_REUSEPORT group, and picks the port when it is 0.
// Sockets with SO_REUSEPORT (of the same user) may join an existing group; binding a plain socket
// first makes "port in use" an error for a multi-worker engine as it is for a single socket.
Result<Address> check_port_free(const Address& address);

// The socket's cumulative kernel drop count (SO_MEMINFO), or -1 when the kernel does not say.
std::int64_t read_kernel_drops(int fd) noexcept;

}  // namespace salvo::detail
