// Transparent UDP GSO on send, shared by both backends.
//
// A socket's send queue often holds runs of datagrams to one destination, all of one size (a
// load generator, a QUIC sender, a media stream). Such a run goes to the kernel as ONE message
// with a per-message UDP_SEGMENT control message (never the socket-wide option, so that every
// other message stays a plain datagram): the kernel walks its UDP/IP stack once for the whole run
// and cuts it into datagrams only at the end (in the driver, or on loopback when it delivers).
// The receiver sees exactly the datagrams that were queued. The payloads need not be contiguous:
// one iovec per queued datagram.
//
// A run is: consecutive entries with the same destination, the same SendMeta (source, interface,
// traffic class: one message has one of each) and the same length, except the last,
// which may be shorter (the kernel cuts the message every gso_size bytes, so only the last piece
// may be short). It is bounded by the kernel's limits: at most gso_max_segments datagrams, a total
// no larger than one UDP datagram of the family may be, and a segment size that fits the path.
// Runs of one stay plain messages: GSO pays only from two datagrams up.
//
// A GSO message that fails is never dropped as a whole: the kernel sent none of it, and the backend
// sends its datagrams again one by one, so that each meets its own fate (error accounting stays
// per datagram, nothing is lost or sent twice). A kernel or device that cannot do GSO says so on
// the send (EIO: no checksum offload, EINVAL, EOPNOTSUPP, ENOPROTOOPT); so does a destination
// that no send can reach (port 0 is EINVAL). Which one it was, the first of those plain sends
// says: if the kernel takes it, GSO was at fault, and the backend turns GSO off for that socket
// for good and counts it (gso_fallbacks). Other errors (EMSGSIZE, EPERM...) leave GSO on.
//
// On loopback the kernel delivers a GSO message whole, and cuts it only at the receiving socket;
// a closed port answers it with one ICMP error, not one per datagram.
#pragma once

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "datapath/send_queue.hpp"
#include "salvo/address.hpp"

namespace salvo::detail {

// UDP_MAX_SEGMENTS: 64 up to Linux 6.8, 128 since. The smaller one works everywhere.
inline constexpr std::size_t gso_max_segments = 64;

namespace gso_detail {

inline bool is_loopback(const Address& a) noexcept {
  if (a.is_v4()) {
    const auto* in = static_cast<const sockaddr_in*>(a.sockaddr_data());
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (!a.is_v6()) return false;
  const auto* in6 = static_cast<const sockaddr_in6*>(a.sockaddr_data());
  if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
  return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
}

}  // namespace gso_detail

// The largest total payload of one message to `to` (one UDP datagram: 65535 minus the IPv4 and
// UDP headers, or minus the UDP header for IPv6, whose length field excludes its own header).
inline std::size_t gso_max_total(const Address& to) noexcept {
  return to.is_v4() || to.is_v4_mapped() ? 65507 : 65527;
}

// The largest segment the kernel accepts: each segment plus its headers must fit the route's MTU
// (the kernel refuses the send otherwise). The MTU of an unconnected socket's route is unknown
// here, so beyond loopback (MTU 65536) segments are held to what a 1500-byte Ethernet MTU takes;
// larger datagrams go out as plain sends, which the kernel fragments as it always has.
inline std::size_t gso_max_segment(const Address& to) noexcept {
  const bool v4 = to.is_v4() || to.is_v4_mapped();
  if (gso_detail::is_loopback(to)) return v4 ? 65536 - 28 : 65536 - 48;
  return v4 ? 1500 - 28 : 1500 - 48;
}

// How many entries from `e` (at most `available`, all contiguous) go out as one message: 1 for a
// plain send, 2..gso_max_segments for a GSO run. Called once per message, not per datagram's
// syscall; it only compares entries already in cache.
inline std::size_t gso_run(const SendQueue::Entry* e, std::size_t available) noexcept {
  if (available < 2) return available;
  const std::uint32_t segment = e[0].length;
  // gso_size 0 means "no GSO" to the kernel, and a run of empty datagrams would arrive as none.
  if (segment == 0 || segment > gso_max_segment(e[0].to)) return 1;
  const std::size_t max_total = gso_max_total(e[0].to);
  const std::size_t limit = available < gso_max_segments ? available : gso_max_segments;
  std::size_t total = segment;
  std::size_t n = 1;
  while (n < limit) {
    const SendQueue::Entry& next = e[n];
    if (next.length == 0 || next.length > segment || total + next.length > max_total || !(next.to == e[0].to) ||
        !(next.meta == e[0].meta)) {
      break;
    }
    total += next.length;
    ++n;
    if (next.length < segment) break;  // a shorter datagram can only end a run
  }
  return n;
}

// Errors by which a kernel or device says it cannot do GSO (at all, or for this socket).
constexpr bool is_gso_refusal(int err) noexcept {
  return err == EIO || err == EINVAL || err == EOPNOTSUPP || err == ENOPROTOOPT;
}

// Test seam, read once per backend at setup: SALVO_TEST_GSO_ERROR=EIO (or EINVAL, EOPNOTSUPP,
// ENOPROTOOPT, EMSGSIZE, or a number) makes every GSO send fail as if the kernel had answered with
// that error. The control message is sent malformed, so the kernel really refuses the message
// (with EINVAL) before sending any of it, and the backend reports the refusal as the named error:
// nothing is sent that the fallback path then sends again. For tests only; 0 = off.
inline int gso_test_error() noexcept {
  const char* v = std::getenv("SALVO_TEST_GSO_ERROR");
  if (v == nullptr || *v == '\0') return 0;
  const std::string_view s(v);
  if (s == "EIO") return EIO;
  if (s == "EINVAL") return EINVAL;
  if (s == "EOPNOTSUPP") return EOPNOTSUPP;
  if (s == "ENOPROTOOPT") return ENOPROTOOPT;
  if (s == "EMSGSIZE") return EMSGSIZE;
  const int n = std::atoi(v);
  return n > 0 ? n : EIO;
}

}  // namespace salvo::detail
