#include "datapath/send_outcome.hpp"

#include <cerrno>

#include "datapath/error_reports.hpp"
#include "datapath/error_queue.hpp"
#include "datapath/gso.hpp"

namespace salvo::detail {

SendOutcome::SendOutcome() noexcept : test_error_(gso_test_error()) {}

void SendOutcome::judge_suspect(SocketState& s, std::uint64_t from, std::size_t entries) noexcept {
  if (s.gso_suspect_sequence < from || s.gso_suspect_sequence >= from + entries) return;
  s.gso_suspect = false;
  if (s.gso) {
    s.gso = false;
    s.counters.gso_fallbacks.add(1);
  }
}

SendAction SendOutcome::failed(SocketState& s, const SendEntry& first, std::size_t run, int err, unsigned retries) noexcept {
  const Address& to = first.to;
  // The kernel reports an ICMP error about an earlier datagram on the next send, which then fails
  // without being sent: the error queue says what happened and to whom; send again.
  if (is_icmp_error(err) && send_again_after_icmp_error(err, retries, drain_errors_before_resend(s))) {
    return SendAction::resend;
  }
  // EMSGSIZE likewise, when the error queue says it came from the network (a router's path MTU
  // report), not from this datagram being too big for the route.
  if (err == EMSGSIZE && run == 1 && send_again_after_icmp_error(err, retries, 1) && emsgsize_from_network(s, to)) {
    return SendAction::resend;
  }
  if (err == EAGAIN || err == EWOULDBLOCK) {
    s.counters.eagain.add(1);
    return SendAction::blocked;
  }
  // A cancelled GSO message (the stop deadline passed) is dropped like plain ones, not split.
  if (run > 1 && err != ECANCELED) {
    // A pending ICMP error (EMSGSIZE from a router included) is read off the error queue before
    // the plain sends, so that its report reaches the protocol once.
    if (err == EMSGSIZE) {
      emsgsize_from_network(s, to);  // this send took it
    } else if (is_icmp_error(err)) {
      drain_errors(s, 0);
    }
    if (test_error_ != 0 && err == EINVAL) err = test_error_;  // the seam: see gso_test_error
    if (is_gso_refusal(err)) {
      s.gso_suspect = true;
      s.gso_suspect_sequence = first.sequence;
    }
    return SendAction::split;
  }
  // It fails plain too: whatever refused it, it was not GSO.
  if (s.gso_suspect && s.gso_suspect_sequence == first.sequence) s.gso_suspect = false;
  return SendAction::drop;
}

void SendOutcome::dropped(SocketState& s, Address to, int err) noexcept {
  s.counters.dropped_send_error.add(1);
  note_send_error(s, err, to);
}

}  // namespace salvo::detail
