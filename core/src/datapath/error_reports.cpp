#include "datapath/error_reports.hpp"

#include <cerrno>
#include <system_error>

#include "datapath/error_queue.hpp"

namespace salvo::detail {

void note_async_error(SocketState& s, int err, const Address& peer) noexcept {
  if (err == ECONNREFUSED) {
    s.counters.refused.add(1);
    // A connected socket can only have been refused by its peer.
    s.protocol->on_refused(peer.family() == Address::Family::none ? s.peer : peer, s.transport);
  } else {
    s.counters.socket_errors.add(1);
    s.protocol->on_error(std::error_code(err, std::system_category()), s.transport);
  }
}

namespace {

// Bounds on the EMSGSIZE bookkeeping of one socket (see SocketState): an ICMP storm cannot grow it.
constexpr std::uint8_t max_network_emsgsize = 16;
constexpr std::size_t max_local_emsgsize = 16;

// Whether an error-queue entry naming `peer` is about a datagram sent to `to`: IPv4 local errors
// name no port on an unconnected socket (ip_local_error gives the connected port, here 0).
bool same_destination(const Address& peer, const Address& to) noexcept {
  return peer == to || (peer.port() == 0 && peer.with_port(to.port()) == to);
}

// One error-queue report, counted, to its hook.
void report_icmp(SocketState& s, const IcmpReport& r, const Address& peer) noexcept {
  switch (r.kind) {
    case IcmpReport::Kind::refused:
      s.counters.refused.add(1);
      s.protocol->on_refused(peer, s.transport);
      break;
    case IcmpReport::Kind::unreachable:
      s.counters.unreachable.add(1);
      s.protocol->on_unreachable(peer, std::error_code(r.error, std::system_category()), s.transport);
      break;
    case IcmpReport::Kind::path_mtu:
      s.counters.path_mtu_reports.add(1);
      s.protocol->on_path_mtu(peer, r.mtu, s.transport);
      break;
    case IcmpReport::Kind::other:
      s.counters.socket_errors.add(1);
      s.protocol->on_error(std::error_code(r.error, std::system_category()), s.transport);
      break;
  }
}

// Reads the error queue and reports every entry, noting path MTU reports for the EMSGSIZE
// bookkeeping: from the network, one send may fail for its sake; a local one is a send of its own.
// `to`: the destination of the datagram whose EMSGSIZE is being looked into (Family::none if
// none), which names a local entry about it that has no port.
// Messages read from the error queue per call, so that an ICMP storm cannot hold the worker.
constexpr unsigned read_reports_limit = 64;

unsigned read_reports(SocketState& s, const Address& to) noexcept {
  return drain_error_queue(s.fd, read_reports_limit, [&](const IcmpReport& r) {
    Address peer = r.peer.family() == Address::Family::none ? s.peer : r.peer;
    if (r.kind == IcmpReport::Kind::path_mtu) {
      if (r.origin == IcmpReport::Origin::network) {
        if (s.network_emsgsize < max_network_emsgsize) ++s.network_emsgsize;
      } else if (r.origin == IcmpReport::Origin::local) {
        if (to.family() != Address::Family::none && same_destination(peer, to)) peer = to;
        if (s.local_emsgsize.size() == max_local_emsgsize) s.local_emsgsize.erase(s.local_emsgsize.begin());
        s.local_emsgsize.push_back(peer);
      }
    }
    report_icmp(s, r, peer);
  });
}

}  // namespace

unsigned drain_errors(SocketState& s, int err) noexcept {
  const unsigned read = read_reports(s, Address{});
  // A socket with IP_RECVERR on (every socket salvo opens, unless the kernel refused it) has an
  // ICMP error both queued and left as its pending error: when the queue is already empty,
  // whoever drained it reported this one. Other errors (and sockets without IP_RECVERR) are
  // reported here.
  if (read == 0 && err != 0 && (!is_icmp_error(err) || !s.recverr)) note_async_error(s, err, Address{});
  return read;
}

unsigned drain_errors_before_resend(SocketState& s) noexcept {
  unsigned total = 0;
  while (total < max_send_error_drain) {
    const unsigned read = read_reports(s, Address{});
    total += read;
    if (read < read_reports_limit) break;  // empty
  }
  return total;
}

bool emsgsize_from_network(SocketState& s, const Address& to) noexcept {
  if (!s.recverr) return false;  // no error queue to tell: the datagram's own failure
  read_reports(s, to);
  for (const Address& a : s.local_emsgsize) {
    if (same_destination(a, to)) return false;  // this datagram is too big for the route itself
  }
  if (s.network_emsgsize == 0) return false;
  --s.network_emsgsize;
  return true;
}

void note_send_error(SocketState& s, int err, const Address& to) noexcept {
  if (err == ECONNREFUSED) {
    s.counters.refused.add(1);
    s.protocol->on_refused(to, s.transport);
    return;
  }
  if (err == EMSGSIZE && s.recverr) {
    // Larger than the route's MTU with path MTU discovery on (IP_PMTUDISC_DO): the kernel queued a
    // local error with that MTU (ip_local_error). That is a path MTU report about `to` (the IPv4
    // entry names no port), not an on_error; the rest of the queue is reported as drain_errors does.
    // The entry may have been read already (emsgsize_from_network), and reported then: once.
    read_reports(s, to);
    for (auto it = s.local_emsgsize.begin(); it != s.local_emsgsize.end(); ++it) {
      if (same_destination(*it, to)) {
        s.local_emsgsize.erase(it);
        return;
      }
    }
  }
  s.protocol->on_error(std::error_code(err, std::system_category()), s.transport);
}

}  // namespace salvo::detail
