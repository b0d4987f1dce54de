// Errors a socket reports asynchronously (ICMP errors left pending or queued on its error queue,
// EMSGSIZE from a router or from the route itself), counted and turned into the protocol's hooks:
// on_refused, on_unreachable, on_path_mtu, on_error. Used by the worker's round and the shared
// send outcome policy; run on the socket's worker thread only.
#pragma once

#include "salvo/address.hpp"
#include "socket/socket_state.hpp"

namespace salvo::detail {

// An error the socket reported asynchronously (ECONNREFUSED from ICMP, ...): counted, then the
// protocol's on_refused / on_error hook.
void note_async_error(SocketState& s, int err, const Address& peer) noexcept;

// A receive failed with `err` (0: epoll only said EPOLLERR): reads the socket's error queue and
// calls on_refused / on_unreachable / on_path_mtu per report; when the queue held nothing, the
// error itself goes to note_async_error. Bounded per call, so an ICMP storm cannot hold the
// worker: the rest waits for the next round. Returns how many error-queue messages it read.
unsigned drain_errors(SocketState& s, int err) noexcept;

// A send failed with an ICMP error (is_icmp_error) that may be an earlier datagram's: reads the
// error queue until it is empty (reporting as drain_errors does), at most max_send_error_drain
// messages. Emptying it matters: while the queue holds an ICMP report, the kernel leaves that
// report's error pending again after every read (sock_dequeue_err_skb), so the next send would
// fail too. Returns how many messages it read.
unsigned drain_errors_before_resend(SocketState& s) noexcept;
inline constexpr unsigned max_send_error_drain = 4096;

// A queued datagram the kernel refused to send (already counted as dropped_send_error): the
// protocol hears of it through on_refused for ECONNREFUSED, on_error otherwise. An EMSGSIZE about
// a datagram too big for the route is reported as on_path_mtu (once, however often the error
// queue was read in between), not on_error.
void note_send_error(SocketState& s, int err, const Address& to) noexcept;

// A send of one datagram to `to` failed with EMSGSIZE: was that the socket's pending error (a
// router's ICMP fragmentation needed / ICMPv6 packet too big about an earlier datagram, which the
// kernel hands to the next send, whatever its destination, without sending it)? Then the datagram
// should be sent again. Reads the error queue (only here, after a failure), reporting what it
// holds as drain_errors does. True only for a report from the network (SO_EE_ORIGIN_ICMP / _ICMP6)
// not yet put down to another failed send; false when the datagram itself is too big (a local
// error about `to`, SO_EE_ORIGIN_LOCAL), when nothing says, or without IP_RECVERR: the datagram is
// then dropped and note_send_error reports it once.
bool emsgsize_from_network(SocketState& s, const Address& to) noexcept;

}  // namespace salvo::detail
