// salvo_instructions: a fixed workload for valgrind's callgrind, which counts the instructions the
// user-space path executes per datagram (deterministic, unlike time on a shared machine).
//
// Before any receiving starts, this program queues exactly N 64-byte datagrams in the receiving
// socket's buffer (from a plain socket in the same process), then lets the receiver take exactly N:
// every run sees the same full batches, whatever the machine does meanwhile. Modes:
//   salvo       salvo's engine (run it with SALVO_BACKEND=epoll: valgrind 3.19 knows no io_uring),
//               a protocol that counts; the worker thread is Worker::thread_main
//   salvo-echo  the same, the protocol echoing every datagram to a second socket (Transport::send,
//               the send queue and the flush)
//   recvmmsg    a plain recvmmsg loop, 64 per call, in drain_recvmmsg
//   mmsg-echo   a plain recvmmsg + sendmmsg loop, 64 per call, in drain_recvmmsg
//   salvo-pingpong  salvo's engine echoing each datagram to its sender, driven by a client in the
//               same process that sends the next datagram only when the echo is back: one
//               datagram per round of the worker, as a sockperf ping-pong gives it
//   pingpong    the plain ping-pong server: blocking recvfrom + sendto, in serve_pingpong
// bench/instructions.py runs each mode under callgrind for N and 2N datagrams with
// --toggle-collect on the receiving function and takes the difference over N, which cancels
// set-up and tear-down: what is left is the cost per datagram of the steady state.
//
// The ping-pong modes take N round trips instead of N queued datagrams: their cost per datagram is
// a whole round's, batches of one.
//
// Usage: salvo_instructions salvo|salvo-echo|recvmmsg|mmsg-echo|salvo-pingpong|pingpong N   (N <= 4096)
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "salvo/salvo.hpp"

namespace {

constexpr int socket_buffer = 4 << 20;  // room for 4096 small datagrams (the kernel doubles it)
constexpr unsigned batch = 64;
constexpr unsigned payload_size = 64;

int udp_socket_on_loopback(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &socket_buffer, sizeof socket_buffer);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

sockaddr_in loopback_to(std::uint16_t port) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return to;
}

// The ping-pong modes' receives give up after 10 s (a lost datagram), generous for valgrind,
// which runs the server some 50 times slower than native.
void with_receive_timeout(int fd) {
  const timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

// Queues n datagrams for 127.0.0.1:port; false if the kernel refused any.
bool queue_datagrams(std::uint16_t port, unsigned n) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  const sockaddr_in to = loopback_to(port);
  std::array<char, payload_size> payload{};
  unsigned sent = 0;
  for (unsigned i = 0; i < n; ++i) {
    if (::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) == payload_size) ++sent;
  }
  ::close(fd);
  return sent == n;
}


// The plain loop, kept out of line so that callgrind can toggle collection on it by name.
[[gnu::noinline]] unsigned drain_recvmmsg(int fd, unsigned n, int echo_fd, const sockaddr_in* echo_to) {
  static char buffers[batch][2048];
  mmsghdr msgs[batch];
  iovec iov[batch];
  unsigned got = 0;
  while (got < n) {
    for (unsigned i = 0; i < batch; ++i) {
      iov[i] = {buffers[i], sizeof buffers[i]};
      msgs[i].msg_hdr = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int k = ::recvmmsg(fd, msgs, batch, MSG_DONTWAIT, nullptr);
    if (k <= 0) break;  // everything was queued before: an empty socket means done (or lost)
    if (echo_fd >= 0) {
      for (int i = 0; i < k; ++i) {
        iov[i].iov_len = msgs[i].msg_len;
        msgs[i].msg_hdr.msg_name = const_cast<sockaddr_in*>(echo_to);
        msgs[i].msg_hdr.msg_namelen = sizeof *echo_to;
      }
      ::sendmmsg(echo_fd, msgs, static_cast<unsigned>(k), 0);
    }
    got += static_cast<unsigned>(k);
  }
  return got;
}

// The plain ping-pong server, out of line for --toggle-collect: n round trips of a blocking
// recvfrom and a sendto back to the sender.
[[gnu::noinline]] unsigned serve_pingpong(int fd, unsigned n) {
  static char buffer[2048];
  unsigned served = 0;
  while (served < n) {
    sockaddr_in from{};
    socklen_t from_length = sizeof from;
    const ssize_t got = ::recvfrom(fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &from_length);
    if (got < 0) break;  // the receive timeout: the client is gone
    ::sendto(fd, buffer, static_cast<std::size_t>(got), 0, reinterpret_cast<sockaddr*>(&from), from_length);
    ++served;
  }
  return served;
}

// The ping-pong client: n datagrams to 127.0.0.1:port, each sent once the previous one's echo is
// back. Returns the echoes received; a lost one (nothing within the timeout) ends the run early.
unsigned drive_pingpong(std::uint16_t port, unsigned n) {
  std::uint16_t own_port = 0;
  const int fd = udp_socket_on_loopback(own_port);
  with_receive_timeout(fd);
  const sockaddr_in to = loopback_to(port);
  std::array<char, payload_size> payload{};
  std::array<char, 2048> echo{};
  unsigned echoed = 0;
  for (unsigned i = 0; i < n; ++i) {
    std::memcpy(payload.data(), &i, sizeof i);
    if (::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) != payload_size) break;
    if (::recv(fd, echo.data(), echo.size(), 0) != payload_size || std::memcmp(echo.data(), &i, sizeof i) != 0) break;
    ++echoed;
  }
  ::close(fd);
  return echoed;
}

class Count final : public salvo::Protocol {
 public:
  void on_datagrams(std::span<const salvo::Datagram>, salvo::Transport&) override {}
};

class EchoTo final : public salvo::Protocol {
 public:
  explicit EchoTo(salvo::Address to) : to_(to) {}
  void on_datagrams(std::span<const salvo::Datagram> batch_in, salvo::Transport& t) override {
    for (const salvo::Datagram& d : batch_in) t.send(d.payload, to_);
  }

 private:
  salvo::Address to_;
};

class EchoToSender final : public salvo::Protocol {
 public:
  void on_datagrams(std::span<const salvo::Datagram> batch_in, salvo::Transport& t) override {
    for (const salvo::Datagram& d : batch_in) t.send(d.payload, d.peer);
  }
};

int run_salvo_pingpong(unsigned n) {
  salvo::EngineOptions options;
  options.gso = false;
  auto engine = salvo::Engine::create(options);
  if (!engine) return std::fprintf(stderr, "%s\n", engine.error().message.c_str()), 1;
  auto bound = (*engine)->listen(salvo::Address::ipv4_loopback(0),
                                 [](unsigned) -> std::unique_ptr<salvo::Protocol> { return std::make_unique<EchoToSender>(); });
  if (!bound) return std::fprintf(stderr, "%s\n", bound.error().message.c_str()), 1;
  if (!(*engine)->start()) return 1;
  const unsigned echoed = drive_pingpong(bound->port(), n);
  (*engine)->stop();
  (*engine)->wait();
  const salvo::Counters c = (*engine)->counters();
  std::printf("backend %s round trips %u received %llu sent %llu rx_batches %llu\n",
              std::string(salvo::to_string((*engine)->backend().kind)).c_str(), echoed,
              static_cast<unsigned long long>(c.received), static_cast<unsigned long long>(c.sent),
              static_cast<unsigned long long>(c.rx_batches));
  return echoed == n && c.received == n && c.sent == n ? 0 : 1;
}

int run_plain_pingpong(unsigned n) {
  std::uint16_t port = 0;
  const int fd = udp_socket_on_loopback(port);
  with_receive_timeout(fd);
  unsigned served = 0;
  std::thread server([&] { served = serve_pingpong(fd, n); });
  const unsigned echoed = drive_pingpong(port, n);
  server.join();
  ::close(fd);
  std::printf("plain round trips %u served %u\n", echoed, served);
  return echoed == n && served == n ? 0 : 1;
}

int run_salvo(unsigned n, bool echo) {
  std::uint16_t sink_port = 0;
  const int sink = udp_socket_on_loopback(sink_port);  // never read: the echoes' destination
  salvo::EngineOptions options;
  options.socket_receive_buffer = socket_buffer;
  options.gso = false;  // one sendmmsg entry per datagram, like the plain loop
  auto engine = salvo::Engine::create(options);
  if (!engine) return std::fprintf(stderr, "%s\n", engine.error().message.c_str()), 1;
  const salvo::Address to = salvo::Address::ipv4_loopback(sink_port);
  auto bound = (*engine)->listen(salvo::Address::ipv4_loopback(0), [&](unsigned) -> std::unique_ptr<salvo::Protocol> {
    if (echo) return std::make_unique<EchoTo>(to);
    return std::make_unique<Count>();
  });
  if (!bound) return std::fprintf(stderr, "%s\n", bound.error().message.c_str()), 1;
  if (!queue_datagrams(bound->port(), n)) return std::fprintf(stderr, "could not queue %u datagrams\n", n), 1;
  if (!(*engine)->start()) return 1;
  // Bounded: valgrind runs the worker some 50 times slower than native, still well under this.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while ((*engine)->counters().received < n && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  (*engine)->stop();
  (*engine)->wait();
  const salvo::Counters c = (*engine)->counters();
  ::close(sink);
  std::printf("backend %s received %llu sent %llu\n", std::string(salvo::to_string((*engine)->backend().kind)).c_str(),
              static_cast<unsigned long long>(c.received), static_cast<unsigned long long>(c.sent));
  return c.received == n && (!echo || c.sent == n) ? 0 : 1;
}

int run_plain(unsigned n, bool echo) {
  std::uint16_t port = 0;
  std::uint16_t sink_port = 0;
  const int fd = udp_socket_on_loopback(port);
  const int sink = udp_socket_on_loopback(sink_port);
  const int out = echo ? ::socket(AF_INET, SOCK_DGRAM, 0) : -1;
  const sockaddr_in to = loopback_to(sink_port);
  if (!queue_datagrams(port, n)) return std::fprintf(stderr, "could not queue %u datagrams\n", n), 1;
  const unsigned got = drain_recvmmsg(fd, n, out, &to);
  std::printf("plain received %u\n", got);
  for (int f : {fd, sink, out}) {
    if (f >= 0) ::close(f);
  }
  return got == n ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc == 3 ? argv[1] : "";
  const long n = argc == 3 ? std::atol(argv[2]) : 0;
  if (n < 1 || n > 4096 ||
      (mode != "salvo" && mode != "salvo-echo" && mode != "recvmmsg" && mode != "mmsg-echo" && mode != "salvo-pingpong" &&
       mode != "pingpong")) {
    std::fprintf(stderr,
                 "usage: salvo_instructions salvo|salvo-echo|recvmmsg|mmsg-echo|salvo-pingpong|pingpong N   (1 <= N <= 4096)\n");
    return 2;
  }
  const auto count = static_cast<unsigned>(n);
  if (mode == "salvo-pingpong") return run_salvo_pingpong(count);
  if (mode == "pingpong") return run_plain_pingpong(count);
  if (mode == "salvo" || mode == "salvo-echo") return run_salvo(count, mode == "salvo-echo");
  return run_plain(count, mode == "mmsg-echo");
}
