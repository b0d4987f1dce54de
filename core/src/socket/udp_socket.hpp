// Opening, binding and closing the kernel UDP sockets a worker serves.
#pragma once

#include <cstdint>
#include <span>

#include "salvo/address.hpp"
#include "salvo/error.hpp"
#include "salvo/socket_options.hpp"

namespace salvo::detail {

// What open_udp_socket sets up: the caller's SocketOptions, completed by the engine with what it
// decides itself (SO_REUSEPORT for several workers, the engine-wide buffer sizes).
using UdpSocketOptions = SocketOptions;

struct BoundSocket {
  int fd = -1;
  bool recverr = true;  // IP_RECVERR is on (or left to the backend: RecvErr::left_to_backend)
  // As the kernel reports it (real port when bound to 0). Port 0 only for a socket the kernel
  // binds at connect (open_connected_udp_socket): ask local_address_of(fd) when it is needed.
  Address local;
};

// Who turns IP_RECVERR (ICMP reports on the error queue) on: the opener at once, or the backend
// that will serve the socket, with its round's other requests before anything is sent
// (Backend::sets_recverr: io_uring's socket commands spare a system call per socket opened).
enum class RecvErr : bool { now, left_to_backend };

// A non-blocking, close-on-exec UDP socket bound to `address`, with `options` applied before the
// bind (socket/socket_setup.hpp). Errors name the address and the call or option that failed.
Result<BoundSocket> open_udp_socket(const Address& address, const UdpSocketOptions& options,
                                    RecvErr recverr = RecvErr::now);

// A non-blocking, close-on-exec UDP socket of `local`'s family connected to `peer` (already in
// that family's form: connect_target). With `local` the wildcard address and port 0, the kernel
// binds it at connect, to a random port of its ephemeral range as a bind to port 0 would, and
// `local` comes back as given (port 0): no bind and no getsockname for a socket whose address
// nobody may ask for. Any other `local` is bound first, as open_udp_socket does. The socket takes
// only its peer's datagrams, so IP_MULTICAST_ALL is left alone (see udp_socket.cpp).
Result<BoundSocket> open_connected_udp_socket(const Address& local, const Address& peer, const UdpSocketOptions& options,
                                              RecvErr recverr = RecvErr::now);

// IP_RECVERR on (and IPV6_RECVERR for an IPv6 socket) with system calls: null, or the option
// the kernel refused ("IP_RECVERR on"), errno saying why.
const char* turn_on_recverr(int fd, bool ipv6) noexcept;

// The address `fd` is bound to (getsockname), or an empty Address when the kernel does not say.
Address local_address_of(int fd) noexcept;

// Checks that `address` is free for a new SO_REUSEPORT group, and picks the port when it is 0.
// Sockets with SO_REUSEPORT (of the same user) may join an existing group; binding a plain socket
// first makes "port in use" an error for a multi-worker engine as it is for a single socket. The
// probe socket gets `options` without the reuse flags, so that what decides the bind
// (ipv6_only, freebind, bind_to_device) decides it here too.
Result<Address> check_port_free(const Address& address, const UdpSocketOptions& options);

// Steers the SO_REUSEPORT group that `fd` belongs to by CPU: a datagram the kernel handles on CPU
// c goes to the group's socket number i, where i is the first worker pinned to c
// (worker_cpus[i] == c); on any other CPU the kernel's usual hash picks. Group socket i must be
// worker i's: sockets join a group in bind order, which Engine::listen keeps.
Result<void> steer_group_by_cpu(int fd, std::span<const int> worker_cpus);

// Checks that `fd` is a bound AF_INET/AF_INET6 datagram socket, makes it non-blocking and
// close-on-exec, and returns its address (Engine::adopt). Does not close it on failure.
Result<BoundSocket> adopt_udp_socket(int fd);

// Reads and discards whatever is queued on the socket (payloads are not copied), returning how many
// datagrams that was. Bounded: gives up after max_datagrams, which only a sender faster than the
// discarding loop itself can reach.
std::uint64_t discard_queued(int fd, std::uint64_t max_datagrams = 1u << 20) noexcept;

// The socket's cumulative kernel drop count (SO_MEMINFO), or -1 when the kernel does not say.
std::int64_t read_kernel_drops(int fd) noexcept;

// What SO_MEMINFO says of a socket in one call: its cumulative kernel drops and the bytes its
// receive and error queues hold (0: nothing waiting to be read); -1 each when the kernel does not say.
struct SocketMemory {
  std::int64_t drops = -1;
  std::int64_t queued_bytes = -1;
};
SocketMemory read_socket_memory(int fd) noexcept;

}  // namespace salvo::detail
