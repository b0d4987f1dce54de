// The socket error queue (IP_RECVERR / IPV6_RECVERR): ICMP errors about datagrams this socket sent,
// each with the destination it was sent to, so that unconnected sockets learn which peer refused,
// was unreachable, or needs a smaller path MTU. Read only after the kernel signals an error (a
// receive fails or epoll says EPOLLERR), never on the data path.
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <optional>

#include "salvo/address.hpp"

namespace salvo::detail {

struct IcmpReport {
  enum class Kind : std::uint8_t { refused, unreachable, path_mtu, other };
  Kind kind = Kind::other;
  Address peer;      // the destination of the datagram the error is about
  int error = 0;     // the errno the kernel attached (ECONNREFUSED, EHOSTUNREACH, EMSGSIZE, ...)
  std::uint32_t mtu = 0;  // path_mtu: the MTU the kernel reported
  // Where the report came from (sock_extended_err::ee_origin): the network (an ICMP / ICMPv6
  // message, SO_EE_ORIGIN_ICMP / SO_EE_ORIGIN_ICMP6, which the kernel also leaves as the socket's
  // pending error) or the local stack (SO_EE_ORIGIN_LOCAL: a send refused by this host, e.g. a
  // datagram too big for the route with path MTU discovery on, queued by that send itself).
  enum class Origin : std::uint8_t { other, local, network };
  Origin origin = Origin::other;
};

// Errors an ICMP message can leave on a socket (sk_err), which the kernel hands to the next send
// or receive whatever datagram that is about. A send failing with one of these may have failed
// for an earlier datagram's sake, without being sent: the backends send it again (a bounded
// number of times, send_again_after_icmp_error, so that a destination that is itself unreachable
// still ends in a drop).
// EACCES: ICMPv6 administratively prohibited / policy failure / reject route.
// EMSGSIZE is not among them: a router's path MTU report leaves it pending too, but so does a
// datagram too big for the route itself; Worker::emsgsize_from_network tells the two apart by the
// origin of what the error queue holds.
constexpr bool is_icmp_error(int err) noexcept {
  return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH || err == EHOSTDOWN || err == ENETDOWN ||
         err == EPROTO || err == EACCES;
}

// Whether a send that failed with `err` (one of those, or a network EMSGSIZE) is sent again, after
// `retries` earlier tries, when emptying the error queue on this failure read `reports` messages.
// The kernel clears the pending error as it hands it to a send, and again when the error queue is
// read empty, so a retry fails again only when another ICMP error arrived in between: under an
// ICMP storm (forged, or the replies to a batch of sends to a closed port) retries are paced by
// the storm, not a spin, and a valid datagram is sent again up to storm_send_retries times.
// ECONNREFUSED is never the datagram's own failure (only an ICMP port unreachable leaves it);
// the others may be (a local route refusing the destination), so without a report in the queue
// to show that an ICMP error came in they get quiet_send_retries.
inline constexpr unsigned quiet_send_retries = 2;
inline constexpr unsigned storm_send_retries = 1024;
constexpr bool send_again_after_icmp_error(int err, unsigned retries, unsigned reports) noexcept {
  return retries < (err == ECONNREFUSED || reports > 0 ? storm_send_retries : quiet_send_retries);
}

// Parses one message read with MSG_ERRQUEUE: `name` is its msg_name (the original destination),
// `control` its control data. Untrusted-length input: a truncated or foreign control area yields
// nullopt, never a read out of bounds.
std::optional<IcmpReport> parse_error_message(const void* name, std::size_t name_length, const void* control,
                                              std::size_t control_length) noexcept;

// Reads up to `limit` messages from fd's error queue, calling report(IcmpReport) for each that
// parses. Returns how many messages were read (parsed or not).
template <class Report>
unsigned drain_error_queue(int fd, unsigned limit, Report&& report) noexcept {
  unsigned read = 0;
  while (read < limit) {
    alignas(cmsghdr) unsigned char control[256];
    sockaddr_storage name{};
    char payload[1];
    iovec iov{payload, sizeof payload};
    msghdr msg{};
    msg.msg_name = &name;
    msg.msg_namelen = sizeof name;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (::recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) break;  // EAGAIN: the queue is empty
    ++read;
    if (auto r = parse_error_message(&name, msg.msg_namelen, control, msg.msg_controllen)) report(*r);
  }
  return read;
}

}  // namespace salvo::detail
