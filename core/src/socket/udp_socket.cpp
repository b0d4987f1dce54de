#include "socket/udp_socket.hpp"

#include <linux/filter.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "socket/socket_setup.hpp"

namespace salvo::detail {
namespace {

Error socket_error(int err, const char* what, const Address& address) {
  return Error::from_errno(err, std::string(what) + " " + address.to_string());
}

// socket(2) with what every salvo socket gets and the options asked for, not yet bound.
// `connected`: it will be connected at once, and take only its peer's datagrams.
Result<int> new_udp_socket(const Address& address, const UdpSocketOptions& options, bool connected, RecvErr recverr) {
  if (address.family() == Address::Family::none) {
    return Error::make(Errc::bad_address, "cannot open a socket for an empty address");
  }
  if (auto r = check_socket_options(address, options); !r) return r.error();
  const int domain = address.is_v4() ? AF_INET : AF_INET6;
  int fd = ::socket(domain, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return socket_error(errno, "socket for", address);

  auto fail = [&](const char* what) -> Result<int> {
    const int err = errno;
    ::close(fd);
    return socket_error(err, what, address);
  };
  // Receive multicast only for groups this socket joined. Linux's default (IP_MULTICAST_ALL on)
  // hands a wildcard-bound socket every group any socket on the host joined, so leaving a group
  // would not stop its datagrams. IPV6_MULTICAST_ALL needs Linux 4.20: older kernels keep theirs.
  // A connected socket is spared the call: the kernel hands it multicast only from its peer's
  // address and port, which a group another socket joined does not turn into a leak.
  const int zero = 0;
  if (!connected) {
    if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero) != 0) return fail("IP_MULTICAST_ALL off on");
#ifdef IPV6_MULTICAST_ALL
    if (domain == AF_INET6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof zero) != 0 &&
        errno != ENOPROTOOPT) {
      return fail("IPV6_MULTICAST_ALL off on");
    }
#endif
  }
  // ICMP errors about what this socket sends go to its error queue, with the destination they are
  // about, for unconnected sockets too (Worker::drain_errors turns them into protocol hooks).
  if (recverr == RecvErr::now) {
    if (const char* refused = turn_on_recverr(fd, domain == AF_INET6)) return fail(refused);
  }
  if (auto r = apply_socket_options(fd, address, options); !r) {
    ::close(fd);
    return r.error();
  }
  return fd;
}

// Binds `fd` to `address` and reads back what the kernel chose; closes it on failure.
Result<BoundSocket> bind_udp_socket(int fd, const Address& address) {
  if (::bind(fd, static_cast<const sockaddr*>(address.sockaddr_data()), address.sockaddr_size()) != 0) {
    const int err = errno;
    ::close(fd);
    return socket_error(err, "bind", address);
  }
  const Address local = local_address_of(fd);
  if (local.family() == Address::Family::none) {
    const int err = errno;
    ::close(fd);
    return socket_error(err, "getsockname", address);
  }
  return BoundSocket{fd, true, local};
}

}  // namespace

Result<BoundSocket> open_udp_socket(const Address& address, const UdpSocketOptions& options, RecvErr recverr) {
  auto fd = new_udp_socket(address, options, false, recverr);
  if (!fd) return fd.error();
  return bind_udp_socket(*fd, address);
}

Result<BoundSocket> open_connected_udp_socket(const Address& local, const Address& peer, const UdpSocketOptions& options,
                                              RecvErr recverr) {
  auto fd = new_udp_socket(local, options, true, recverr);
  if (!fd) return fd.error();
  BoundSocket socket{*fd, true, local};
  if (!local.is_unspecified() || local.port() != 0) {
    auto bound = bind_udp_socket(*fd, local);
    if (!bound) return bound.error();
    socket = *bound;
  }
  if (::connect(socket.fd, static_cast<const sockaddr*>(peer.sockaddr_data()), peer.sockaddr_size()) != 0) {
    const int err = errno;
    ::close(socket.fd);
    return Error::from_errno(err, "connect to " + peer.to_string());
  }
  return socket;
}

const char* turn_on_recverr(int fd, bool ipv6) noexcept {
  const int one = 1;
  if (::setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one) != 0) return "IP_RECVERR on";
  if (ipv6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof one) != 0) return "IPV6_RECVERR on";
  return nullptr;
}

Address local_address_of(int fd) noexcept {
  sockaddr_in6 bound{};
  socklen_t length = sizeof bound;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) return Address{};
  return Address::from_sockaddr(&bound, length);
}

Result<Address> check_port_free(const Address& address, const UdpSocketOptions& options) {
  UdpSocketOptions plain = options;
  plain.reuse_address = false;
  plain.reuse_port = false;
  auto probe = open_udp_socket(address, plain);
  if (!probe) return probe.error();
  ::close(probe->fd);
  return address.with_port(probe->local.port());
}

Result<BoundSocket> adopt_udp_socket(int fd) {
  auto bad = [fd](const std::string& why) {
    return Error::make(Errc::bad_address, "cannot adopt fd " + std::to_string(fd) + ": " + why);
  };
  int type = 0;
  int domain = 0;
  socklen_t length = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0) {
    return Error::from_errno(errno, "cannot adopt fd " + std::to_string(fd) + ": not a socket");
  }
  length = sizeof domain;
  if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) != 0) return Error::from_errno(errno, "SO_DOMAIN");
  if (type != SOCK_DGRAM) return bad("not a datagram socket");
  if (domain != AF_INET && domain != AF_INET6) return bad("not an IPv4 or IPv6 socket");
  sockaddr_in6 bound{};
  length = sizeof bound;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) return Error::from_errno(errno, "getsockname");
  const Address local = Address::from_sockaddr(&bound, length);
  if (local.port() == 0) return bad("not bound to a port");
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 || ::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    return Error::from_errno(errno, "cannot adopt fd " + std::to_string(fd) + ": fcntl");
  }
  // ICMP reports per peer need IP_RECVERR; an adopted socket that refuses it still works without.
  const int one = 1;
  const bool recverr = ::setsockopt(fd, domain == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
                                    domain == AF_INET6 ? IPV6_RECVERR : IP_RECVERR, &one, sizeof one) == 0;
  if (domain == AF_INET6) ::setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one);
  BoundSocket bound_socket{fd, recverr, local};
  return bound_socket;
}

Result<void> steer_group_by_cpu(int fd, std::span<const int> worker_cpus) {
  // Classic BPF: A = the CPU this packet is handled on; compare it with each worker's CPU in turn
  // and return that worker's group index; an index past the group's end (all ones) makes the
  // kernel fall back to its hash.
  std::vector<sock_filter> program;
  program.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<__u32>(SKF_AD_OFF + SKF_AD_CPU)));
  std::vector<int> seen;
  for (std::size_t i = 0; i < worker_cpus.size(); ++i) {
    const int cpu = worker_cpus[i];
    if (std::find(seen.begin(), seen.end(), cpu) != seen.end()) continue;  // first worker on a CPU wins
    seen.push_back(cpu);
    program.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<__u32>(cpu), 0, 1));
    program.push_back(BPF_STMT(BPF_RET | BPF_K, static_cast<__u32>(i)));
  }
  program.push_back(BPF_STMT(BPF_RET | BPF_K, 0xffffffffu));
  sock_fprog fprog{};
  fprog.len = static_cast<unsigned short>(program.size());
  fprog.filter = program.data();
  if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fprog, sizeof fprog) != 0) {
    return Error::from_errno(errno, "SO_ATTACH_REUSEPORT_CBPF (CPU steering)");
  }
  return {};
}

std::uint64_t discard_queued(int fd, std::uint64_t max_datagrams) noexcept {
  constexpr unsigned batch = 64;
  mmsghdr messages[batch] = {};  // no iovecs: the kernel dequeues each datagram and copies nothing
  std::uint64_t discarded = 0;
  int errors = 0;
  while (discarded < max_datagrams) {
    const int n = ::recvmmsg(fd, messages, batch, MSG_DONTWAIT | MSG_TRUNC, nullptr);
    if (n > 0) {
      discarded += static_cast<std::uint64_t>(n);
      continue;
    }
    // A pending socket error (ECONNREFUSED from ICMP...) is reported once and cleared: try again,
    // a few times at most. EAGAIN: empty.
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && ++errors < 8) continue;
    break;
  }
  return discarded;
}

std::int64_t read_kernel_drops(int fd) noexcept { return read_socket_memory(fd).drops; }

SocketMemory read_socket_memory(int fd) noexcept {
  SocketMemory memory;
  std::uint32_t info[SK_MEMINFO_VARS] = {};
  socklen_t length = sizeof info;
  if (::getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &length) != 0) return memory;
  // Receive-side memory is charged for every datagram queued to be read (and every error-queue
  // report) until it is read, so 0 means there is nothing to read.
  if (length >= (SK_MEMINFO_RMEM_ALLOC + 1) * sizeof(std::uint32_t)) memory.queued_bytes = info[SK_MEMINFO_RMEM_ALLOC];
  if (length >= (SK_MEMINFO_DROPS + 1) * sizeof(std::uint32_t)) memory.drops = info[SK_MEMINFO_DROPS];
  return memory;
}

}  // namespace salvo::detail
