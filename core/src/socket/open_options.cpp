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

Result<OpenedSocket> open_socket(const Address& local, const OpenOptions& how, const EngineOptions& engine) {
  auto bound = open_udp_socket(local, udp_socket_options(how.socket, engine));
  if (!bound) return bound.error();
  OpenedSocket opened{*bound, Address{}};
  if (how.connect_to.family() == Address::Family::none) return opened;
  auto target = connect_target(bound->local.is_v6(), how.connect_to);
  if (target && ::connect(bound->fd, static_cast<const sockaddr*>(target->sockaddr_data()), target->sockaddr_size()) != 0) {
    target = Error::from_errno(errno, "connect to " + target->to_string());
  }
  if (!target) {
    ::close(bound->fd);
    return target.error();
  }
  opened.peer = *target;
  return opened;
}

}  // namespace salvo::detail
