#include "udp_socket.hpp"

#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace salvo::detail {
namespace {

Error socket_error(int err, const char* what, const Address& address) {
  return Error::from_errno(err, std::string(what) + " " + address.to_string());
}

}  // namespace

Result<BoundSocket> open_udp_socket(const Address& address, const UdpSocketOptions& options) {
  if (address.family() == Address::Family::none) {
    return Error::make(Errc::bad_address, "cannot open a socket for an empty address");
  }
  const int domain = address.is_v4() ? AF_INET : AF_INET6;
  int fd = ::socket(domain, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return socket_error(errno, "socket for", address);

  auto fail = [&](const char* what) -> Result<BoundSocket> {
    const int err = errno;
    ::close(fd);
    return socket_error(err, what, address);
  };
  const int one = 1;
  if (options.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return fail("SO_REUSEPORT on");
  }
  if (options.receive_buffer > 0 &&
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &options.receive_buffer, sizeof(int)) != 0) {
    return fail("SO_RCVBUF on");
  }
  if (options.send_buffer > 0 &&
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &options.send_buffer, sizeof(int)) != 0) {
    return fail("SO_SNDBUF on");
  }
  if (::bind(fd, static_cast<const sockaddr*>(address.sockaddr_data()), address.sockaddr_size()) != 0) {
    return fail("bind");
  }
  sockaddr_in6 bound{};
  socklen_t length = sizeof bound;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) return fail("getsockname");
  return BoundSocket{fd, Address::from_sockaddr(&bound, length)};
}

Result<Address> check_port_free(const Address& address) {
  auto probe = open_udp_socket(address, UdpSocketOptions{});
  if (!probe) return probe.error();
  ::close(probe->fd);
  return address.with_port(probe->local.port());
}

std::int64_t read_kernel_drops(int fd) noexcept {
  std::uint32_t info[SK_MEMINFO_VARS] = {};
  socklen_t length = sizeof info;
  if (::getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &length) != 0) return -1;
  if (length < (SK_MEMINFO_DROPS + 1) * sizeof(std::uint32_t)) return -1;
  return info[SK_MEMINFO_DROPS];
}

}  // namespace salvo::detail
