#include "socket/open_options.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace salvo::detail {

UdpSocketOptions udp_socket_options(const SocketOptions& socket, const EngineOptions& engine) {
  UdpSocketOptions o = socket;
  if (o.receive_buffer == 0) o.receive_buffer = engine.socket_receive_buffer;
  if (o.send_buffer == 0) o.send_buffer = engine.socket_send_buffer;
  return o;
}

Result<Address> connect_bound(int fd, bool ipv6, const Address& peer) {
  Address target = peer;
  if (peer.is_v4() && ipv6) target = peer.v4_mapped();
  if (peer.is_v6() && !ipv6) {
    if (!peer.is_v4_mapped()) return Error::make(Errc::bad_address, "cannot connect an IPv4 socket to " + peer.to_string());
    target = peer.unmapped();
  }
  if (target.port() == 0) return Error::make(Errc::bad_address, "cannot connect to port 0");
  if (::connect(fd, static_cast<const sockaddr*>(target.sockaddr_data()), target.sockaddr_size()) != 0) {
    return Error::from_errno(errno, "connect to " + target.to_string());
  }
  return target;
}

}  // namespace salvo::detail
