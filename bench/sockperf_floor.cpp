// salvo_sockperf_floor: the least a server can do to answer sockperf's ping-pong client, in three
// ways of waiting. They are reference points for `salvo echo --sockperf` (bench/tool_comparison.py
// --floor): what the kernel's receive path costs when no engine sits on top of it.
//
// Not salvo: one socket, one thread, no batching, no error handling beyond counting. Each answers
// exactly what salvo's SockperfEchoProtocol answers (a client message asking for a pong, not a
// warm-up) with the same bytes and the client flag cleared (tools/servers/sockperf_header.hpp).
//
//   blocking  recvfrom + sendto on a blocking socket: what sockperf's own server does when it has
//             one socket ("using recvfrom() to block on socket(s)").
//   io_uring  the event-driven floor: a single-shot RECVMSG into one fixed buffer, submitted with
//             the reply's SENDMSG in the io_uring_enter that waits for the next request (ring with
//             SINGLE_ISSUER | DEFER_TASKRUN, as salvo's). The wait is io_uring's: a poll wake-up,
//             task work, a completion.
//   hybrid    a blocking recvmsg, the reply as an io_uring SENDMSG submitted without waiting: the
//             blocking receive with io_uring's send, to tell the two halves apart.
//
// Usage: salvo_sockperf_floor MODE HOST:PORT SECONDS
// Ends by itself after SECONDS (SIGALRM interrupts the wait), or on SIGINT / SIGTERM, and prints
// "answered N of M datagrams" on stderr. Exit 2 on bad arguments, 1 when the socket or ring fails.
#include <liburing.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "salvo/address.hpp"
#include "servers/sockperf_header.hpp"

namespace {

volatile sig_atomic_t done = 0;
void end_run(int) { done = 1; }

// The handler is installed without SA_RESTART, so that a blocked recvfrom or io_uring_enter
// returns EINTR and the loop sees `done`.
void install_end_signals(unsigned seconds) {
  struct sigaction sa {};
  sa.sa_handler = end_run;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGALRM, SIGINT, SIGTERM}) sigaction(sig, &sa, nullptr);
  alarm(seconds);
}

struct Counts {
  unsigned long datagrams = 0;
  unsigned long answered = 0;
};

// Turns `message` into its reply in place when salvo's sockperf echo would answer it.
bool make_reply(std::span<std::byte> message) {
  const auto header = salvo::cli::parse_sockperf_header(message);
  if (!header || !header->is_client() || header->is_warmup() || !header->wants_pong()) return false;
  salvo::cli::make_sockperf_reply(message);
  return true;
}

constexpr std::size_t buffer_size = 65536;
alignas(64) std::array<std::byte, buffer_size> buffer;

void run_blocking(int fd, Counts& counts) {
  sockaddr_storage from{};
  while (!done) {
    socklen_t from_length = sizeof from;
    const ssize_t n = ::recvfrom(fd, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_length);
    if (n < 0) continue;  // EINTR at the end; anything else is retried
    ++counts.datagrams;
    if (!make_reply({buffer.data(), static_cast<std::size_t>(n)})) continue;
    if (::sendto(fd, buffer.data(), static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), from_length) == n) {
      ++counts.answered;
    }
  }
}

// The receive's and the reply's headers, shared by the two io_uring modes. The reply is a copy in
// a buffer of its own, so that a receive submitted behind its send can never overwrite it, even
// should the send wait for room. It is rewritten only when the next request has come, and a
// ping-pong client sends that only once it has this reply: one send in flight at a time.
alignas(64) std::array<std::byte, buffer_size> reply;

struct Headers {
  sockaddr_storage from{};
  sockaddr_storage to{};
  iovec receive_iov{};
  iovec send_iov{};
  msghdr receive{};
  msghdr send{};

  void reset_receive() {
    receive_iov = {buffer.data(), buffer.size()};
    receive = {};
    receive.msg_name = &from;
    receive.msg_namelen = sizeof from;
    receive.msg_iov = &receive_iov;
    receive.msg_iovlen = 1;
  }
  void set_reply(std::size_t length) {
    std::memcpy(reply.data(), buffer.data(), length);
    to = from;
    send_iov = {reply.data(), length};
    send = {};
    send.msg_name = &to;
    send.msg_namelen = receive.msg_namelen;
    send.msg_iov = &send_iov;
    send.msg_iovlen = 1;
  }
};

constexpr std::uint64_t receive_tag = 1;
constexpr std::uint64_t send_tag = 2;

void queue_send(io_uring& ring, Headers& h) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  io_uring_prep_sendmsg(sqe, 0, &h.send, 0);
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, send_tag);
}

void queue_receive(io_uring& ring, Headers& h) {
  h.reset_receive();
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  io_uring_prep_recvmsg(sqe, 0, &h.receive, 0);
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, receive_tag);
}

// Counts the sends' completions; returns the receive's result, if its completion came.
std::optional<int> reap(io_uring& ring, Counts& counts) {
  std::optional<int> received;
  unsigned head;
  unsigned seen = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring, head, cqe) {
    ++seen;
    if (cqe->user_data == send_tag && cqe->res > 0) ++counts.answered;
    if (cqe->user_data == receive_tag) received = cqe->res;
  }
  io_uring_cq_advance(&ring, seen);
  return received;
}

void run_uring(io_uring& ring, Counts& counts) {
  Headers h;
  queue_receive(ring, h);
  unsigned sends = 0;  // submitted with this wait: their completions come at once
  while (!done) {
    if (io_uring_submit_and_wait(&ring, 1 + sends) < 0) continue;  // EINTR at the end
    sends = 0;
    const std::optional<int> n = reap(ring, counts);
    if (!n) continue;  // only send completions: the receive is still waiting
    if (*n >= 0) {
      ++counts.datagrams;
      if (make_reply({buffer.data(), static_cast<std::size_t>(*n)})) {
        h.set_reply(static_cast<std::size_t>(*n));
        queue_send(ring, h);
        sends = 1;
      }
    }
    queue_receive(ring, h);
  }
}

void run_hybrid(int fd, io_uring& ring, Counts& counts) {
  Headers h;
  while (!done) {
    h.reset_receive();
    const ssize_t n = ::recvmsg(fd, &h.receive, 0);
    if (n < 0) continue;
    ++counts.datagrams;
    if (!make_reply({buffer.data(), static_cast<std::size_t>(n)})) continue;
    h.set_reply(static_cast<std::size_t>(n));
    queue_send(ring, h);
    // A UDP send completes inline, within this io_uring_enter, so its completion is reaped here.
    io_uring_submit_and_get_events(&ring);
    (void)reap(ring, counts);
  }
}

int usage(const char* message) {
  std::fprintf(stderr, "salvo_sockperf_floor: %s\nusage: salvo_sockperf_floor blocking|io_uring|hybrid HOST:PORT SECONDS\n", message);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) return usage("three arguments expected");
  const std::string_view mode = argv[1];
  if (mode != "blocking" && mode != "io_uring" && mode != "hybrid") return usage("unknown mode");
  const auto address = salvo::Address::parse(argv[2]);
  if (!address) return usage(address.error().message.c_str());
  char* end = nullptr;
  const unsigned long seconds = std::strtoul(argv[3], &end, 10);
  if (end == argv[3] || *end != '\0' || seconds == 0 || seconds > 3600) return usage("SECONDS must be 1-3600");

  const auto* where = static_cast<const sockaddr*>(address->sockaddr_data());
  const int fd = ::socket(where->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::bind(fd, where, address->sockaddr_size()) != 0) {
    std::fprintf(stderr, "salvo_sockperf_floor: socket/bind %s: %s\n", argv[2], std::strerror(errno));
    return 1;
  }
  io_uring ring{};
  if (mode != "blocking") {
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (int ret = io_uring_queue_init_params(8, &ring, &params); ret < 0) {
      std::fprintf(stderr, "salvo_sockperf_floor: io_uring_setup: %s\n", std::strerror(-ret));
      return 1;
    }
    if (int ret = io_uring_register_files(&ring, &fd, 1); ret < 0) {
      std::fprintf(stderr, "salvo_sockperf_floor: io_uring_register_files: %s\n", std::strerror(-ret));
      return 1;
    }
  }

  install_end_signals(static_cast<unsigned>(seconds));
  Counts counts;
  if (mode == "blocking") run_blocking(fd, counts);
  if (mode == "io_uring") run_uring(ring, counts);
  if (mode == "hybrid") run_hybrid(fd, ring, counts);
  std::fprintf(stderr, "salvo_sockperf_floor %s: answered %lu of %lu datagrams\n", argv[1], counts.answered, counts.datagrams);
  return 0;
}
