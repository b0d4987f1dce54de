#include "socket/open_options.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace salvo::detail {

UdpSocketOptions udp_socket_options(const SocketOptions& socket, const EngineOptions& engine) {
  UdpSocketOptions o = socket;
  if (o.receive_buffer == 0) o.receive_buffer = engine.socket_receive_buffer;
  if (o.send_buffer == 0) o.send_buffer = engine.socket_send_buffer;
  return o;
}

Result<Address> connect_target(bool ipv6, const Address& peer) {
  Address target;
  if (peer.is_v4()) {
    target = ipv6 ? peer.v4_mapped() : peer;
  } else if (peer.is_v6()) {
    if (!ipv6 && !peer.is_v4_mapped()) {
      return Error::make(Errc::bad_address, "cannot connect an IPv4 socket to " + peer.to_string());
    }
    target = ipv6 ? peer : peer.unmapped();
  } else {
    return Error::make(Errc::bad_address, "connect needs an address");
  }
  if (target.port() == 0) return Error::make(Errc::bad_address, "cannot connect to port 0");
  return target;
}

Result<OpenedSocket> open_socket(const Address& local, const OpenOptions& how, const EngineOptions& engine,
                                 LocalAddress local_address, RecvErr recverr) {
  const UdpSocketOptions options = udp_socket_options(how.socket, engine);
  if (how.connect_to.family() == Address::Family::none) {
    auto bound = open_udp_socket(local, options, recverr);
    if (!bound) return bound.error();
    return OpenedSocket{*bound, Address{}};
  }
  if (local.family() == Address::Family::none) {
    return Error::make(Errc::bad_address, "cannot open a socket for an empty address");
  }
  auto target = connect_target(local.is_v6(), how.connect_to);
  if (!target) return target.error();
  auto connected = open_connected_udp_socket(local, *target, options, recverr);
  if (!connected) return connected.error();
  if (connected->local.port() == 0 && local_address == LocalAddress::now) {
    connected->local = local_address_of(connected->fd);
    if (connected->local.family() == Address::Family::none) {
      const int err = errno;
      ::close(connected->fd);
      return Error::from_errno(err, "getsockname of a socket connected to " + target->to_string());
    }
  }
  return OpenedSocket{*connected, *target};
}

}  // namespace salvo::detail
