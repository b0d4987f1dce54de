// SendOutcome: what becomes of a message the kernel was handed, decided once for both backends.
//
// A backend hands the kernel messages built from a socket's send queue (a plain datagram, or a GSO
// run of several, see gso.hpp) and reports each result here; this code counts and decides, the
// backend only carries the decision out with its own kernel interface:
//   - sent: counted (sent, sent_bytes, gso_sends, gso_segments); the entries may be released.
//   - resend: an ICMP error about an earlier datagram (the socket's pending error, EMSGSIZE from a
//     router included) failed this send without sending it; the error queue was read and reported,
//     and the same message goes again (bounded, send_again_after_icmp_error).
//   - split: a GSO message failed and the kernel sent none of it; its datagrams go again one
//     message each, so that each meets its own fate. When the error may be GSO's own (EIO,
//     EINVAL...), the first of them is the suspect: if the kernel takes it plain, GSO was at fault
//     and goes off for the socket for good (gso_fallbacks), as quinn-udp's single downgrade does.
//   - blocked: EAGAIN; the entries stay queued until the socket is writable.
//   - drop: the datagram cannot be sent (unreachable, refused, too big for the path...): the
//     backend releases it and calls dropped(), which counts it and tells the protocol.
// Worker thread only.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "socket/socket_state.hpp"

namespace salvo::detail {

enum class SendAction : std::uint8_t { resend, split, blocked, drop };

class SendOutcome {
 public:
  // Reads the GSO test seam (gso_test_error) once.
  SendOutcome() noexcept;

  // Whether the next message of `s` may carry a GSO run.
  static bool gso(const SocketState& s) noexcept { return s.gso; }
  // The test seam is on: GSO control messages go out malformed so that the kernel refuses them.
  bool malformed_gso() const noexcept { return test_error_ != 0; }

  // The kernel took `entries` queue entries from `first` on, in `gso_messages` GSO messages
  // carrying `gso_segments` of them (the rest plain). Counts them before the caller pops them.
  void sent(SocketState& s, const SendEntry& first, std::size_t entries, std::uint64_t gso_messages = 0,
            std::uint64_t gso_segments = 0) noexcept {
    std::uint64_t bytes = 0;
    const SendEntry* e = &first;
    for (std::size_t left = entries; left != 0 && e != nullptr;) {
      // Entries are consecutive within a segment: a run at a time.
      const std::size_t run = std::min(left, s.queue.run_from(*e));
      for (std::size_t i = 0; i < run; ++i) bytes += e[i].length;
      left -= run;
      e = left != 0 ? s.queue.after(*e, run) : nullptr;
    }
    s.counters.sent.add(entries);
    s.counters.sent_bytes.add(bytes);
    if (gso_messages != 0) {
      s.counters.gso_sends.add(gso_messages);
      s.counters.gso_segments.add(gso_segments);
    }
    if (s.gso_suspect) judge_suspect(s, first.sequence, entries);
  }

  // The message of `run` entries from `first`, already tried `retries` times after ICMP errors,
  // failed with `err`. Reads and reports the error queue where the error calls for it.
  SendAction failed(SocketState& s, const SendEntry& first, std::size_t run, int err, unsigned retries) noexcept;

  // A datagram to `to` was dropped after failing with `err` (a drop from failed(), or a send
  // cancelled at the stop deadline): counted, and reported to the protocol, whose hook may queue
  // more sends.
  void dropped(SocketState& s, Address to, int err) noexcept;

 private:
  // A refused GSO message's first datagram was among those sent plain: GSO was at fault.
  static void judge_suspect(SocketState& s, std::uint64_t first_sequence, std::size_t entries) noexcept;

  int test_error_ = 0;  // gso_test_error(): the error every GSO send is reported as; 0 = off
};

}  // namespace salvo::detail
