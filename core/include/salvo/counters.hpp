// Counters: what a socket, a worker or the whole engine has done, as plain numbers.
//
// Accounting rules that tests and tools rely on:
//   received == delivered + dropped_truncated                 (every datagram read is accounted once)
//   send_requests == sent + dropped_send_queue_full + dropped_send_error + send_rejected
//                    + (still queued)
// kernel_drops is the socket's own drop count (SO_RXQ_OVFL / SO_MEMINFO): datagrams the kernel
// discarded because the receive queue was full, which salvo never read.
//
// A Counters value is a snapshot: reading one from any thread is safe; it may lag the worker by
// the batch in progress.
#pragma once

#include <cstdint>

namespace salvo {

// X(name, help): the single list of counters. Export code (JSON, Prometheus) iterates it, so a
// counter added here shows up everywhere.
#define SALVO_COUNTERS(X)                                                                        \
  X(received, "datagrams read from the socket")                                                  \
  X(received_bytes, "payload bytes read from the socket")                                        \
  X(delivered, "datagrams handed to the protocol")                                               \
  X(delivered_bytes, "payload bytes handed to the protocol")                                     \
  X(dropped_truncated, "datagrams larger than a buffer, dropped (or delivered flagged, see truncated)") \
  X(truncated, "datagrams that arrived larger than their buffer")                                \
  X(kernel_drops, "datagrams the kernel dropped because the socket's receive queue was full")    \
  X(send_requests, "datagrams the protocol asked to send")                                       \
  X(sent, "datagrams the kernel accepted")                                                       \
  X(sent_bytes, "payload bytes the kernel accepted")                                             \
  X(dropped_send_queue_full, "sends refused because the send queue was full")                    \
  X(dropped_send_error, "queued datagrams the kernel refused (error other than EAGAIN)")         \
  X(send_rejected, "sends refused at the call: too large, wrong address family, socket closed")   \
  X(rx_batches, "batches handed to the protocol")                                                \
  X(rx_syscalls, "receive system calls (recvmmsg, or io_uring_enter on the receive side)")       \
  X(tx_syscalls, "send system calls (sendmmsg, or io_uring_enter for sends)")                    \
  X(eagain, "send attempts that found the socket buffer full and waited for writability")       \
  X(no_buffer, "times reception paused because every receive buffer was in use")                 \
  X(recv_terminations, "io_uring: multishot receives that ended (no buffers, cancel, error)")    \
  X(recv_rearms, "io_uring: multishot receives armed again after ending")                         \
  X(refused, "ICMP port-unreachable reports (ECONNREFUSED) seen on the socket")                  \
  X(socket_errors, "other asynchronous socket errors seen on the socket")

struct Counters {
#define SALVO_COUNTER_FIELD(name, help) std::uint64_t name = 0;
  SALVO_COUNTERS(SALVO_COUNTER_FIELD)
#undef SALVO_COUNTER_FIELD

  // Datagrams read but not delivered (the receive side's drops by reason, summed).
  std::uint64_t receive_drops() const noexcept { return dropped_truncated; }

  Counters& operator+=(const Counters& other) noexcept {
#define SALVO_COUNTER_ADD(name, help) name += other.name;
    SALVO_COUNTERS(SALVO_COUNTER_ADD)
#undef SALVO_COUNTER_ADD
    return *this;
  }
};

}  // namespace salvo
