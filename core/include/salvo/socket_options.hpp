// SocketOptions: how one socket salvo opens is set up, beyond its address. Given to
// Engine::listen (Engine::ListenOptions::socket) and applied when the socket is opened, before it
// is bound, so that listen() reports a refused option as it reports "port in use". With several
// workers every worker's socket gets the same options.
//
// Every field's default leaves that option to the engine and the kernel, as a socket without
// SocketOptions has it. Each failure comes back from listen() as an error naming the option, the
// value and the address ("SO_MARK 7 on 127.0.0.1:9000: Operation not permitted"); a value out of
// range is Errc::bad_option, a refusal by the kernel keeps its errno.
//
// A plain value type; build it on any thread. Every field has an initializer, so that
// SocketOptions{.mark = 7} and ListenOptions{.listen_multiple = true} leave the rest at their
// defaults without -Wmissing-field-initializers warnings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace salvo {

struct SocketOptions {
  // SO_RCVBUF / SO_SNDBUF in bytes; 0: EngineOptions::socket_receive_buffer / socket_send_buffer,
  // and when those are 0 too, the kernel default. The kernel doubles the value (for its own
  // bookkeeping; getsockopt reports the doubled size) after capping it at net.core.rmem_max /
  // net.core.wmem_max: raise those sysctls for larger buffers. salvo does not use the
  // SO_RCVBUFFORCE / SO_SNDBUFFORCE variants that root may use to pass the cap, so the same value
  // means the same buffer whoever runs the program.
  int receive_buffer = 0;
  int send_buffer = 0;

  // Path MTU discovery (IP_MTU_DISCOVER; IPV6_MTU_DISCOVER on IPv6 sockets, which also get the
  // IPv4 setting for the v4-mapped peers of a dual-stack socket).
  enum class PathMtuDiscovery : std::uint8_t {
    kernel_default,   // leave it (Linux: DF set on what fits the path MTU, larger datagrams fragmented)
    dont_fragment,    // IP_PMTUDISC_DO: DF set; a send beyond the known path MTU fails locally with
                      // EMSGSIZE (on_path_mtu reports the MTU). What QUIC and DPLPMTUD need.
    probe,            // IP_PMTUDISC_PROBE: DF set, the path MTU ignored: sends up to the interface's
                      // MTU go out, to probe a larger path MTU
    allow_fragments,  // IP_PMTUDISC_DONT: DF clear; routers may fragment
  };
  PathMtuDiscovery path_mtu_discovery = PathMtuDiscovery::kernel_default;

  // IPV6_V6ONLY, set before bind: true accepts IPv6 peers only, false IPv4 (v4-mapped) peers too.
  // Unset: net.ipv6.bindv6only decides (0, dual stack, on most systems). Only for IPv6
  // addresses: set on an IPv4 address it is an error.
  std::optional<bool> ipv6_only{};

  // The TOS byte (IP_TOS) of IPv4 datagrams, or the traffic class (IPV6_TCLASS) of IPv6 ones, for
  // every datagram this socket sends (an IPv6 socket sets both, for its v4-mapped peers); its low
  // two bits are ECN. 0..255; -1: the kernel's (0). SendOptions::traffic_class overrides it per
  // datagram.
  std::int16_t traffic_class = -1;

  // SO_MARK, the firewall and routing mark of every datagram sent (policy routing, nftables
  // "meta mark"). 0: none. Needs CAP_NET_ADMIN (or CAP_NET_RAW on newer kernels).
  std::uint32_t mark = 0;

  // SO_BINDTODEVICE: send and receive only through this interface ("eth0"), whatever the routing
  // table says. Empty: any. At most 15 characters (IFNAMSIZ - 1).
  std::string bind_to_device{};

  // IP_FREEBIND / IPV6_FREEBIND: bind to an address that is not (yet) on this host, such as one a
  // failover daemon will add, or one on an interface that is not up yet.
  bool freebind = false;

  // SO_REUSEADDR and SO_REUSEPORT. A multi-worker engine sets SO_REUSEPORT itself and
  // ListenOptions::listen_multiple sets both; setting them here adds them in any case.
  // reuse_port also lets this engine's sockets join an SO_REUSEPORT group that other sockets (of
  // the same user) already hold, instead of failing with "port in use".
  bool reuse_address = false;
  bool reuse_port = false;
};

}  // namespace salvo
