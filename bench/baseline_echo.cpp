// Baseline echo servers for the load curve (bench/load_curve.py): what a service without salvo
// runs, measured beside salvo at the same offered rates.
//   salvo_baseline_echo blocking PORT   a blocking recvfrom/sendto loop, one datagram per wake-up
//   salvo_baseline_echo libuv PORT      libuv's uv_udp_recv_start/uv_udp_try_send (when built with it)
//   salvo_baseline_echo periodic PORT US  wakes every US microseconds on a timer and answers all that
//                                       came with one recvmmsg and one sendmmsg: the cheapest way
//                                       to batch under a latency bound of US (one wake-up and three
//                                       calls per period, never a wake-up per datagram), so the
//                                       floor for what a latency budget can save on this machine
//   salvo_baseline_echo epoll PORT [MS]  epoll_wait, recvmmsg, sendmmsg: the least a readiness loop
//                                       does per wake-up (what salvo's epoll round is built on);
//                                       MS bounds each wait as a loop with timers would (default:
//                                       no bound)
//   salvo_baseline_echo uring PORT      io_uring: a receive, then its reply linked ahead of the next
//                                       receive, one io_uring_enter per datagram (what salvo's
//                                       io_uring round does for a ping-pong)
// Each binds 127.0.0.1:PORT, prints "ready" on stdout, serves until SIGTERM or SIGINT, and prints
// "echoed N" on stdout at exit.
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#if SALVO_BENCH_HAVE_LIBUV
#include <uv.h>
#endif
#if SALVO_BENCH_HAVE_URING
#include <liburing.h>
#endif

namespace {

volatile sig_atomic_t stop_requested = 0;
unsigned long long echoed = 0;

void on_signal(int) { stop_requested = 1; }

int bind_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::fprintf(stderr, "bind 127.0.0.1:%d: %s\n", port, std::strerror(errno));
    std::exit(1);
  }
  return fd;
}

int run_blocking(int port) {
  const int fd = bind_loopback(port);
  // The signal interrupts recvfrom (no SA_RESTART), so the loop notices the stop at once.
  std::printf("ready\n");
  std::fflush(stdout);
  char buffer[2048];
  while (!stop_requested) {
    sockaddr_in6 peer{};
    socklen_t length = sizeof peer;
    const ssize_t n = ::recvfrom(fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&peer), &length);
    if (n < 0) continue;
    if (::sendto(fd, buffer, static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&peer), length) == n) ++echoed;
  }
  ::close(fd);
  return 0;
}

// One recvmmsg and one sendmmsg of up to 64 datagrams: what the periodic and epoll loops do per
// wake-up.
struct EchoBatch {
  static constexpr unsigned size = 64;
  char buffers[size][2048];
  sockaddr_in6 peers[size];
  iovec iov[size];
  mmsghdr msgs[size];

  // Reads what is queued, without waiting: the count, or 0 or less for none.
  int receive(int fd) {
    for (unsigned i = 0; i < size; ++i) {
      iov[i] = {buffers[i], sizeof buffers[i]};
      msgs[i].msg_hdr = {};
      msgs[i].msg_hdr.msg_name = &peers[i];
      msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    return ::recvmmsg(fd, msgs, size, MSG_DONTWAIT, nullptr);
  }
  // Sends the n datagrams just received back to their senders.
  void echo_back(int fd, int n) {
    for (int i = 0; i < n; ++i) iov[i].iov_len = msgs[i].msg_len;
    const int sent = ::sendmmsg(fd, msgs, static_cast<unsigned>(n), 0);
    if (sent > 0) echoed += static_cast<unsigned long long>(sent);
  }
};
EchoBatch echo_batch;

int run_periodic(int port, long period_us) {
  const int fd = bind_loopback(port);
  ::prctl(PR_SET_TIMERSLACK, 1UL);  // the default 50 us slack would stretch every period
  std::printf("ready\n");
  std::fflush(stdout);
  timespec next{};
  ::clock_gettime(CLOCK_MONOTONIC, &next);
  while (!stop_requested) {
    next.tv_nsec += period_us * 1000;
    if (next.tv_nsec >= 1000000000L) {
      next.tv_sec += next.tv_nsec / 1000000000L;
      next.tv_nsec %= 1000000000L;
    }
    ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
    const int n = echo_batch.receive(fd);
    if (n <= 0) {
      // Late by a period or more (descheduled): start the schedule again from now.
      timespec now{};
      ::clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec > next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec > next.tv_nsec)) next = now;
      continue;
    }
    echo_batch.echo_back(fd, n);
  }
  ::close(fd);
  return 0;
}

int run_epoll(int port, int timeout_ms) {
  const int fd = bind_loopback(port);
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event interest{};
  interest.events = EPOLLIN;
  if (ep < 0 || ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &interest) != 0) {
    std::perror("epoll");
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  while (!stop_requested) {
    epoll_event ready{};
    if (::epoll_wait(ep, &ready, 1, timeout_ms) <= 0) continue;
    const int n = echo_batch.receive(fd);
    if (n > 0) echo_batch.echo_back(fd, n);
  }
  ::close(ep);
  ::close(fd);
  return 0;
}

#if SALVO_BENCH_HAVE_URING
// One receive at a time into one buffer; its reply goes out linked ahead of the next receive, so
// the buffer is free again when that receive starts. The reply's completion is skipped, so each
// datagram costs one io_uring_enter: submit the reply and the receive, wait for the next datagram.
int run_uring(int port) {
  const int fd = bind_loopback(port);
  io_uring ring;
  if (const int err = io_uring_queue_init(8, &ring, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN); err < 0) {
    std::fprintf(stderr, "io_uring_queue_init: %s\n", std::strerror(-err));
    return 1;
  }
  static char buffer[2048];
  sockaddr_in6 peer{};
  iovec iov{buffer, sizeof buffer};
  iovec tx_iov{};
  msghdr rx{};
  msghdr tx{};
  auto arm_receive = [&] {
    rx = {};
    rx.msg_name = &peer;
    rx.msg_namelen = sizeof peer;
    iov.iov_len = sizeof buffer;
    rx.msg_iov = &iov;
    rx.msg_iovlen = 1;
    io_uring_prep_recvmsg(io_uring_get_sqe(&ring), fd, &rx, 0);
  };
  arm_receive();
  std::printf("ready\n");
  std::fflush(stdout);
  while (!stop_requested) {
    io_uring_cqe* cqe = nullptr;
    if (io_uring_submit_and_wait(&ring, 1) < 0 || io_uring_peek_cqe(&ring, &cqe) != 0) continue;
    const int n = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
    if (n > 0) {
      tx = rx;
      tx_iov = {buffer, static_cast<std::size_t>(n)};
      tx.msg_iov = &tx_iov;
      io_uring_sqe* reply = io_uring_get_sqe(&ring);
      io_uring_prep_sendmsg(reply, fd, &tx, 0);
      reply->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
      ++echoed;
    }
    arm_receive();
  }
  io_uring_queue_exit(&ring);
  ::close(fd);
  return 0;
}
#endif

#if SALVO_BENCH_HAVE_LIBUV
char uv_buffer[65536];

void on_alloc(uv_handle_t*, std::size_t, uv_buf_t* buf) { *buf = uv_buf_init(uv_buffer, sizeof uv_buffer); }

void on_read(uv_udp_t* handle, ssize_t n, const uv_buf_t* buf, const sockaddr* from, unsigned) {
  if (n <= 0 || from == nullptr) return;
  // What a libuv echo written for speed does: try_send answers at once, without a request object.
  uv_buf_t reply = uv_buf_init(buf->base, static_cast<unsigned>(n));
  if (uv_udp_try_send(handle, &reply, 1, from) == n) ++echoed;
}

void on_check(uv_signal_t* signal, int) { uv_stop(signal->loop); }

int run_libuv(int port) {
  uv_loop_t* loop = uv_default_loop();
  uv_udp_t udp;
  uv_udp_init(loop, &udp);
  sockaddr_in a{};
  uv_ip4_addr("127.0.0.1", port, &a);
  if (int err = uv_udp_bind(&udp, reinterpret_cast<const sockaddr*>(&a), 0); err != 0) {
    std::fprintf(stderr, "bind 127.0.0.1:%d: %s\n", port, uv_strerror(err));
    return 1;
  }
  uv_udp_recv_start(&udp, on_alloc, on_read);
  uv_signal_t term, interrupt;
  uv_signal_init(loop, &term);
  uv_signal_start(&term, on_check, SIGTERM);
  uv_signal_init(loop, &interrupt);
  uv_signal_start(&interrupt, on_check, SIGINT);
  std::printf("ready\n");
  std::fflush(stdout);
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s blocking|libuv|uring PORT | periodic PORT US | epoll PORT [MS]\n", argv[0]);
    return 2;
  }
  const std::string kind = argv[1];
  const int port = std::atoi(argv[2]);
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  int rc = 2;
  if (kind == "blocking") {
    rc = run_blocking(port);
  } else if (kind == "periodic" && argc == 4 && std::atol(argv[3]) > 0) {
    rc = run_periodic(port, std::atol(argv[3]));
  } else if (kind == "epoll") {
    rc = run_epoll(port, argc == 4 ? std::atoi(argv[3]) : -1);
#if SALVO_BENCH_HAVE_URING
  } else if (kind == "uring") {
    rc = run_uring(port);
#endif
#if SALVO_BENCH_HAVE_LIBUV
  } else if (kind == "libuv") {
    rc = run_libuv(port);
#endif
  } else {
    std::fprintf(stderr, "%s: unknown or not built: %s\n", argv[0], kind.c_str());
    return 2;
  }
  std::printf("echoed %llu\n", echoed);
  return rc;
}
