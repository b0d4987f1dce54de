// EngineOptions: what Engine::create sets up (backend, workers and their CPUs, buffers, queues,
// batching, offloads, per-datagram metadata), and the parsers for the option values programs take
// as text (backend names, io_uring receive kinds, CPU lists).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "salvo/error.hpp"

namespace salvo {

enum class BackendKind : std::uint8_t { automatic, io_uring, epoll };

std::string_view to_string(BackendKind kind) noexcept;         // "auto", "io_uring", "epoll"
Result<BackendKind> parse_backend_kind(std::string_view text);  // the same names

struct EngineOptions {
  // Which backend to run. The environment variable SALVO_BACKEND (auto|io_uring|epoll), when set,
  // overrides this field, so that any program can be switched without a rebuild.
  BackendKind backend = BackendKind::automatic;

  unsigned workers = 1;   // worker threads; each has its own socket per listen() (SO_REUSEPORT)
  std::vector<int> cpus;  // worker i is pinned to cpus[i % cpus.size()]; empty = not pinned

  // Receive buffers per worker. 0 (the default) picks default_buffer_count, or with gro
  // gro_default_buffer_count: every GRO buffer is 64 KiB, and the kernel writes each receive into
  // the next buffer in turn, so 1024 of them (64 MiB) would stream every payload through cold
  // memory; 64 (4 MiB, room for up to 4096 coalesced datagrams) stay in the cache. Engine::options()
  // shows the count chosen.
  std::uint32_t buffer_count = 0;
  static constexpr std::uint32_t default_buffer_count = 1024;
  static constexpr std::uint32_t gro_default_buffer_count = 64;
  std::uint32_t buffer_size = 2048;   // bytes per receive buffer: larger datagrams are truncated
  std::uint32_t batch_size = 64;      // datagrams per receive call and per on_datagrams at most
  std::uint32_t reads_per_wakeup = 8; // receive calls per socket per wakeup, so one busy socket
                                      // cannot starve the others on its worker

  std::uint32_t send_queue_entries = 1024;          // queued datagrams per socket
  std::uint32_t send_queue_bytes = 4u << 20;        // queued payload bytes per socket
  // Every socket of a worker queues its sends in one pool of this many bytes (address space
  // reserved at start), in segments: a socket with anything queued holds at least one, and an
  // empty queue holds none. Memory follows what is queued: at start the pages a segment's first
  // datagram uses are made resident in 32 segments (a few hundred KiB per worker), so that
  // ordinary traffic needs no more; more is touched only as more is queued, and what a burst
  // touched beyond those goes back to the kernel once it has sat unused for one to two seconds.
  // A full pool refuses sends as a full queue does (queue_full). At least one segment (about
  // 80 KiB: 64 datagrams, 64 KiB of payload).
  std::uint64_t send_pool_bytes = std::uint64_t{1} << 30;
  // A worker keeps a slot (about 1 KiB: the socket's state, the backend's, and a closed socket's
  // protocol object) for each of the most sockets it has had open at once. The slots beyond 64
  // that no socket has needed for this long are given back, their memory returned to the kernel:
  // a burst of sockets does not keep its memory for the life of the engine, and a load that comes
  // back within this time keeps its slots rather than remaking them. Zero keeps every slot until
  // the engine goes. Whole seconds, at most an hour.
  std::chrono::seconds socket_slot_keep{60};

  int socket_receive_buffer = 0;  // SO_RCVBUF in bytes; 0 keeps the kernel default
  int socket_send_buffer = 0;     // SO_SNDBUF in bytes; 0 keeps the kernel default

  bool deliver_truncated = false;  // deliver oversized datagrams flagged instead of dropping them

  // io_uring completion batching. Under heavy traffic (the previous round already brought at least
  // `completion_batch` completions) a worker sleeps until `completion_batch` completions are
  // ready or `completion_wait` has passed, whichever comes first: each wake-up is then amortised
  // over a batch instead of paid per datagram. Under light traffic it waits for one completion,
  // with no timeout (a timed wait costs a kernel timer per datagram), so that a lone datagram (a
  // ping) is handled at once rather than after completion_wait.
  // completion_batch = 1 turns batching off. (The epoll backend reads whatever is queued at each
  // wakeup; these do not apply.)
  std::uint32_t completion_batch = 32;
  std::chrono::microseconds completion_wait{50};

  // The latency budget: how long a datagram may wait in the kernel for others to join its batch.
  // Below saturation a sleeping worker wakes for nearly every datagram, and the wake-up (about
  // 17 us of CPU on a virtual machine) is then most of the cost. With a budget, a worker that has
  // just served traffic holds its next wait open for up to the budget, less the time the round
  // took, so that one wake-up serves the datagrams that came meanwhile (io_uring: the kernel's
  // minimum wait, IORING_FEAT_MIN_TIMEOUT; epoll: a timed sleep before looking). No datagram waits
  // longer than the budget for this; a datagram that comes after a quiet spell of at least the
  // budget finds the worker in an ordinary wait and is handled at once, and a round that already
  // brought a whole batch does not hold. Cross-thread posts and stop requests may wait up to
  // the budget as well.
  //   limit 0          off: every wait returns at the first datagram (the default)
  //   limit, fixed     hold for the rest of the limit while traffic came within the last `limit`
  //                    and the observed arrival rate makes another datagram likely within it
  //   limit, adaptive  the same, but hold only about four arrival gaps (up to the limit), and
  //                    only while holding has been producing batches (a ping-pong's next request
  //                    comes only after the reply, so holding there gains nothing: it is tried
  //                    again after 1, 2, 4 ... up to 1024 rounds that brought datagrams)
  // The counters say what it did: wakeups, batch_waits, batch_wait_us.
  struct LatencyBudget {
    std::chrono::microseconds limit{0};  // at most 10 ms
    bool adaptive = false;
  };
  LatencyBudget latency_budget;

  // io_uring receive requests. A multishot recvmsg stays armed and delivers every datagram of a
  // burst without a submission each, but after each datagram it tries the socket once more
  // before the completion reaches the worker (UDP does not tell io_uring whether more is queued),
  // which a ping-pong pays on every round trip (bench/README.md has the figures). A
  // single-shot recvmsg, submitted again with each round's replies, has no such retry but costs a
  // submission per datagram. `adaptive` uses multishot while datagrams come in bursts and switches
  // a socket to single-shot after a few rounds that each brought it one datagram; every 1024
  // single-shot datagrams it goes back to multishot to look for a burst. The two fixed choices are
  // for measurements and tests. The epoll backend ignores this.
  enum class IoUringReceive : std::uint8_t { adaptive, multishot, single_shot };
  IoUringReceive io_uring_receive = IoUringReceive::adaptive;

  // CPU steering for SO_REUSEPORT groups (workers > 1, pinned with `cpus`): a datagram the kernel
  // handles on CPU c goes to the socket of the worker pinned to c (a classic-BPF program attached
  // with SO_ATTACH_REUSEPORT_CBPF), so it is served on the CPU whose caches already hold it. With
  // RSS/RPS spreading flows over CPUs, this keeps each flow on one worker. Datagrams handled on a
  // CPU no worker is pinned to are spread by the kernel's usual hash.
  bool steer_by_cpu = false;

  // Busy polling, for latency. A sleeping worker pays a wake-up on every datagram that finds it
  // idle: the scheduler's, and on a virtual machine the hypervisor's, tens of microseconds of a
  // round trip. With busy_poll the worker never sleeps while traffic flows: it asks the kernel for
  // completions without waiting (io_uring) or polls readiness with a zero timeout (epoll) in a
  // loop. The cost is a whole CPU per worker, busy even when only one datagram a second arrives.
  // After busy_poll_idle without any completion the worker sleeps as usual until traffic comes
  // back (then spins again); zero means it spins until stopped.
  bool busy_poll = false;
  std::chrono::milliseconds busy_poll_idle{1000};

  // UDP GSO on send, transparently: a run of queued datagrams to one destination, all of one size
  // (the last may be shorter), goes to the kernel as one message with a UDP_SEGMENT control
  // message, and the kernel cuts it into the same datagrams at the end of its stack, so that the
  // per-datagram cost of the send path is paid once per run (up to 64 datagrams). Receivers see
  // exactly the datagrams that were queued; `sent` still counts datagrams, gso_sends and
  // gso_segments say how many went out this way. A GSO message that fails is sent again one
  // datagram per message: nothing is lost or sent twice. A socket whose kernel refuses GSO
  // (EIO, EINVAL, EOPNOTSUPP, while the same datagrams go out plain) turns it off for good
  // (gso_fallbacks). One difference shows on loopback only: a closed port answers a GSO message
  // with one ICMP error, not one per datagram. false sends every datagram as its own message.
  bool gso = true;

  // UDP GRO on receive (UDP_GRO): the kernel may hand several datagrams of one sender, all of one
  // size but the last, to salvo as one coalesced payload (Datagram::segment_size says how to cut
  // it; salvo::segments() walks it). On loopback this is what a GSO sender's messages become when
  // the receiving socket takes GRO: they are never cut into datagrams at all. Counters still count
  // datagrams (received, delivered: segments); gro_receives and gro_segments say how many came
  // coalesced. With gro on, every receive buffer of the worker holds a full 64 KiB datagram
  // (buffer_size is raised to gro_buffer_size): buffer_count x 64 KiB of memory per worker, 4 MiB
  // with the default count.
  bool gro = false;
  static constexpr std::uint32_t gro_buffer_size = 65535;

  // Per-datagram metadata (see Datagram). Each turns on a control message per datagram, so each
  // costs a little on the receive path; all are off by default.
  bool receive_destination = false;    // IP_PKTINFO / IPV6_RECVPKTINFO: destination address, interface
  bool receive_traffic_class = false;  // IP_RECVTOS / IPV6_RECVTCLASS: TOS / traffic class, ECN
  enum class Timestamps : std::uint8_t {
    off,
    software,  // SO_TIMESTAMPNS: the kernel's receive time
    hardware,  // SO_TIMESTAMPING: software and raw hardware stamps (hardware where the device has
               // RX timestamping on, e.g. set with SIOCSHWTSTAMP; loopback has none)
  };
  Timestamps timestamps = Timestamps::off;

  // Zero-copy send (io_uring's SENDMSG_ZC) for messages of at least zerocopy_min_bytes (a GSO run
  // counts as one message): the kernel sends from the send queue's memory instead of copying it,
  // and says when it is done with it; the queue slots are released only then. It pays for large
  // messages to a device that can send from user memory (scatter-gather DMA); it never pays on
  // loopback, where the kernel copies anyway when it delivers (counted as zerocopy_copied), nor
  // for small datagrams, where the notification costs more than the copy. The epoll backend
  // always copies (zerocopy_sends stays 0). Off by default.
  bool zerocopy_send = false;
  std::uint32_t zerocopy_min_bytes = 16384;

  // An engine runs until stop() (or a drain's end), with or without open sockets, as Twisted's
  // reactor does. A program whose work ends with its sockets (a load generator, a one-shot client)
  // sets this: a worker that had sockets and has closed them all then stops by itself, and the
  // engine finishes once every worker has.
  bool stop_when_sockets_closed = false;

  // Timers a worker's users may have pending at once (Reactor::call_later and the rest, and the
  // timers sockets own). The table is allocated once, at create(); a full one refuses a new timer
  // with Errc::full instead of growing. About 150 bytes each; at most 1048576.
  std::uint32_t timers_per_worker = 4096;

  // How long a stopping socket waits for a full socket send buffer to drain before the datagrams
  // still queued are counted as dropped_send_error.
  std::chrono::milliseconds stop_flush_timeout{1000};
};

// EngineOptions::IoUringReceive by name, as the CLI's --uring-receive writes it: "adaptive",
// "multishot", "single-shot".
std::string_view to_string(EngineOptions::IoUringReceive kind) noexcept;
Result<EngineOptions::IoUringReceive> parse_io_uring_receive(std::string_view text);

// EngineOptions::LatencyBudget as the CLI's --latency-budget writes it: "0" (off), "50" (50 us,
// fixed), "adaptive" (adaptive up to 50 us) or "adaptive:100" (adaptive up to 100 us).
std::string to_string(const EngineOptions::LatencyBudget& budget);
Result<EngineOptions::LatencyBudget> parse_latency_budget(std::string_view text);

// Parses a CPU list as taskset and cgroups write it: "0", "0,2", "0-3,6".
Result<std::vector<int>> parse_cpu_list(std::string_view text);

}  // namespace salvo
