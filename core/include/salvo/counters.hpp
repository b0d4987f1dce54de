// Counters: what a socket, a worker or the whole engine has done, as plain numbers.
//
// Accounting rules that tests and tools rely on:
//   received == delivered + dropped_truncated                 (every datagram read is accounted once)
//   reached the socket == received + kernel_drops + discarded_at_close
//   send_requests == sent + dropped_send_queue_full + dropped_send_error + send_rejected
//                    + (still queued)
//   gso_segments <= sent, and gso_segments >= 2 x gso_sends    (GSO messages carry 2+ datagrams)
//   gro_segments <= received, and gro_segments >= 2 x gro_receives  (likewise for GRO)
// With GRO, received and delivered count datagrams (segments), not receive calls or buffers; but
// kernel_drops is the kernel's count of what it dropped, and a coalesced run it drops counts once.
// wakeups, batch_waits, batch_wait_us and submission_refusals are the worker's: a worker's and the
// engine's counters have them, a socket's are zero. received / wakeups is the
// datagrams a wake-up served.
// kernel_drops is the socket's own drop count (SO_MEMINFO, sampled every 100 ms while busy, when
// idle and at close): datagrams the kernel discarded because the receive queue was full, which
// salvo never read.
//
// A Counters value is a snapshot: reading one from any thread is safe; it may lag the worker by
// the batch in progress.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
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
  X(discarded_at_close, "datagrams still queued in the socket when it closed at stop: read and counted, not delivered") \
  X(send_requests, "datagrams the protocol asked to send")                                       \
  X(sent, "datagrams the kernel accepted")                                                       \
  X(sent_bytes, "payload bytes the kernel accepted")                                             \
  X(gso_sends, "messages sent with UDP GSO (UDP_SEGMENT), each carrying several of the datagrams in sent") \
  X(gso_segments, "datagrams that went out inside GSO messages (a part of sent)")                \
  X(gso_fallbacks, "sockets that turned GSO off for good: the kernel refused a GSO send, then took it plain") \
  X(zerocopy_sends, "messages sent with io_uring SENDMSG_ZC (EngineOptions::zerocopy_send)")     \
  X(zerocopy_copied, "zero-copy sends the kernel copied after all (loopback always does)")      \
  X(gro_receives, "receives that brought several datagrams coalesced by UDP GRO (each counted by its segments in received)") \
  X(gro_segments, "datagrams that arrived inside GRO receives (a part of received)")            \
  X(dropped_send_queue_full, "sends refused because the send queue was full")                    \
  X(dropped_send_error, "queued datagrams the kernel refused (error other than EAGAIN)")         \
  X(send_rejected, "sends refused at the call: too large, wrong address family, socket closed")   \
  X(rx_batches, "batches handed to the protocol")                                                \
  X(rx_syscalls, "receive system calls (recvmmsg, or io_uring_enter on the receive side)")       \
  X(tx_syscalls, "send system calls (sendmmsg, or io_uring_enter for sends)")                    \
  X(eagain, "send attempts that found the socket buffer full and waited for writability")       \
  X(no_buffer, "times reception paused because every receive buffer was in use")                 \
  X(recv_terminations, "io_uring: receives that ended (no buffers, cancel, error)")               \
  X(recv_rearms, "io_uring: receives armed again after ending")                                   \
  X(recv_single_shots, "io_uring: datagrams received by single-shot requests (io_uring_receive)") \
  X(refused, "ICMP port-unreachable reports (ECONNREFUSED) seen on the socket")                  \
  X(unreachable, "ICMP host/network unreachable reports for datagrams the socket sent")          \
  X(path_mtu_reports, "path MTU reports (ICMP fragmentation needed / packet too big)")           \
  X(socket_errors, "other asynchronous socket errors seen on the socket")                        \
  X(wakeups, "worker: waits that slept and woke (zero in a socket's counters)")                   \
  X(batch_waits, "worker: waits held open for more datagrams within the latency budget")          \
  X(batch_wait_us, "worker: microseconds of holding those waits asked for (the chosen waits, summed)") \
  X(submission_refusals, "worker, io_uring: submissions the kernel refused for want of memory (EAGAIN, ENOMEM, EBUSY); what they carried stayed queued for a later round")

// The sizes of the batches handed to on_datagrams, as a histogram with power-of-two buckets:
// bucket k counts batches of 2^k .. 2^(k+1)-1 datagrams; the last bucket also takes everything
// larger. Its sum over buckets equals rx_batches.
inline constexpr std::size_t batch_size_buckets = 11;  // 1, 2-3, 4-7, ..., 512-1023, 1024+

// The bucket of a batch of `n` datagrams (n >= 1).
constexpr std::size_t batch_size_bucket(std::uint64_t n) noexcept {
  const std::size_t k = static_cast<std::size_t>(std::bit_width(n)) - 1;
  return k < batch_size_buckets ? k : batch_size_buckets - 1;
}
// The smallest batch size bucket k holds (1, 2, 4, ...).
constexpr std::uint64_t batch_size_bucket_floor(std::size_t k) noexcept { return std::uint64_t{1} << k; }

struct Counters {
#define SALVO_COUNTER_FIELD(name, help) std::uint64_t name = 0;
  SALVO_COUNTERS(SALVO_COUNTER_FIELD)
#undef SALVO_COUNTER_FIELD
  std::array<std::uint64_t, batch_size_buckets> rx_batch_sizes{};  // see batch_size_bucket()

  // Datagrams read but not delivered (the receive side's drops by reason, summed).
  std::uint64_t receive_drops() const noexcept { return dropped_truncated; }

  Counters& operator+=(const Counters& other) noexcept {
#define SALVO_COUNTER_ADD(name, help) name += other.name;
    SALVO_COUNTERS(SALVO_COUNTER_ADD)
#undef SALVO_COUNTER_ADD
    for (std::size_t k = 0; k < batch_size_buckets; ++k) rx_batch_sizes[k] += other.rx_batch_sizes[k];
    return *this;
  }
};

}  // namespace salvo
