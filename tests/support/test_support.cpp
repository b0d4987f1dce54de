#include "support/test_support.hpp"

#include <dirent.h>

#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

namespace salvo {

void PrintTo(const Counters& c, std::ostream* os) { *os << test::describe(c); }

}  // namespace salvo

namespace salvo::test {
namespace {

[[noreturn]] void fail_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

}  // namespace

int Deadline::poll_ms(milliseconds cap) const {
  const auto left = std::chrono::duration_cast<milliseconds>(end_ - Clock::now());
  if (left <= milliseconds(0)) return 0;
  return static_cast<int>(std::min(left, cap).count());
}

bool wait_until(const std::function<bool()>& done, milliseconds timeout) {
  const Deadline deadline(timeout);
  while (!done()) {
    if (deadline.expired()) return done();
    std::this_thread::sleep_for(1ms);  // polling interval only; the condition decides
  }
  return true;
}

std::string describe(const Counters& c) {
  std::ostringstream os;
  os << "{";
  const char* sep = "";
#define SALVO_TEST_DESCRIBE(name, help) \
  os << sep << #name << "=" << c.name;  \
  sep = " ";
  SALVO_COUNTERS(SALVO_TEST_DESCRIBE)
#undef SALVO_TEST_DESCRIBE
  os << "}";
  return os.str();
}

Address addr(std::string_view text) {
  auto a = Address::parse(text);
  if (!a) throw std::runtime_error("test address: " + a.error().message);
  return *a;
}

std::vector<std::byte> make_payload(std::uint64_t seq, std::size_t size) {
  std::vector<std::byte> p(size);
  std::size_t i = 0;
  if (size >= sizeof seq) {
    std::memcpy(p.data(), &seq, sizeof seq);
    i = sizeof seq;
  }
  for (; i < size; ++i) p[i] = static_cast<std::byte>((seq * 131 + i * 7 + (i >> 8)) & 0xff);
  return p;
}

std::uint64_t payload_seq(std::span<const std::byte> payload) {
  std::uint64_t seq = 0;
  if (payload.size() >= sizeof seq) std::memcpy(&seq, payload.data(), sizeof seq);
  return seq;
}

// --- UdpSocket ---

UdpSocket::UdpSocket(const Address& bind, int receive_buffer, int send_buffer) {
  fd_ = ::socket(bind.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail_errno("socket");
  // The size asked for, beyond net.core.rmem_max / wmem_max where the process may (root); else capped.
  if (receive_buffer > 0 && ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer, sizeof(int)) != 0 &&
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(int)) != 0) {
    fail_errno("SO_RCVBUF");
  }
  if (send_buffer > 0 && ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &send_buffer, sizeof(int)) != 0 &&
      ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &send_buffer, sizeof(int)) != 0) {
    fail_errno("SO_SNDBUF");
  }
  if (::bind(fd_, static_cast<const sockaddr*>(bind.sockaddr_data()), bind.sockaddr_size()) != 0) {
    const int err = errno;
    ::close(fd_);
    errno = err;
    fail_errno("bind " + bind.to_string());
  }
  sockaddr_in6 name{};
  socklen_t length = sizeof name;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&name), &length) != 0) fail_errno("getsockname");
  local_ = Address::from_sockaddr(&name, length);
}

namespace {

// The kernel's ephemeral port range, [low, high]; Linux's default if it cannot be read.
std::pair<unsigned, unsigned> ephemeral_port_range() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned low = 0;
  unsigned high = 0;
  if (in >> low >> high && low <= high) return {low, high};
  return {32768, 60999};
}

bool udp_port_free(const Address& address) {
  const int fd = ::socket(address.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail_errno("socket");
  const bool bound = ::bind(fd, static_cast<const sockaddr*>(address.sockaddr_data()), address.sockaddr_size()) == 0;
  ::close(fd);
  return bound;
}

}  // namespace

Address closed_port_address(const Address& host) {
  const auto [low, high] = ephemeral_port_range();
  // Candidates: the unprivileged ports below the range, then any above it. A random start keeps
  // tests that run at once (ctest -j) from probing the same port at the same moment.
  std::vector<unsigned> candidates;
  for (unsigned port = 1024; port < low; ++port) candidates.push_back(port);
  for (unsigned port = high + 1; port <= 65535; ++port) candidates.push_back(port);
  if (candidates.empty()) throw std::runtime_error("closed_port_address: the ephemeral range covers every port");
  std::random_device random;
  const std::size_t start = random() % candidates.size();
  for (std::size_t k = 0; k < candidates.size() && k < 4096; ++k) {
    const Address candidate = host.with_port(static_cast<std::uint16_t>(candidates[(start + k) % candidates.size()]));
    if (udp_port_free(candidate)) return candidate;
  }
  throw std::runtime_error("closed_port_address: no free UDP port outside the ephemeral range on " + host.to_string());
}

UdpSocket::~UdpSocket() {
  if (fd_ >= 0) ::close(fd_);
}

long UdpSocket::send_gso(std::span<const std::byte> bytes, std::uint16_t segment_size, const Address& to) {
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(std::uint16_t))]{};
  msghdr m{};
  m.msg_name = const_cast<void*>(to.sockaddr_data());
  m.msg_namelen = to.sockaddr_size();
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof segment_size);
  std::memcpy(CMSG_DATA(c), &segment_size, sizeof segment_size);
  return ::sendmsg(fd_, &m, 0);
}

bool UdpSocket::send_to(std::span<const std::byte> payload, const Address& to) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const ssize_t n = ::sendto(fd_, payload.data(), payload.size(), 0,
                               static_cast<const sockaddr*>(to.sockaddr_data()), to.sockaddr_size());
    if (n >= 0) {
      if (static_cast<std::size_t>(n) != payload.size()) throw std::runtime_error("short UDP send");
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == ENOBUFS || errno == EAGAIN) return false;
    fail_errno("sendto " + to.to_string());
  }
  return false;
}

bool UdpSocket::wait_readable(milliseconds timeout) {
  const Deadline deadline(timeout);
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, deadline.poll_ms());
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) fail_errno("poll");
    if (deadline.expired()) return false;
  }
}

long UdpSocket::try_receive(std::span<std::byte> buffer, Address& from) {
  sockaddr_in6 name{};
  socklen_t length = sizeof name;
  for (;;) {
    const ssize_t n = ::recvfrom(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&name), &length);
    if (n >= 0) {
      from = Address::from_sockaddr(&name, length);
      return static_cast<long>(n);
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
    fail_errno("recvfrom");
  }
}

std::optional<UdpSocket::Message> UdpSocket::receive(milliseconds timeout, std::size_t capacity) {
  const Deadline deadline(timeout);
  Message m;
  m.payload.resize(capacity);
  for (;;) {
    iovec iov{m.payload.data(), m.payload.size()};
    sockaddr_in6 name{};
    msghdr h{};
    h.msg_name = &name;
    h.msg_namelen = sizeof name;
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    const ssize_t n = ::recvmsg(fd_, &h, MSG_DONTWAIT);
    if (n >= 0) {
      m.payload.resize(static_cast<std::size_t>(n));
      m.from = Address::from_sockaddr(&name, h.msg_namelen);
      m.truncated = (h.msg_flags & MSG_TRUNC) != 0;
      return m;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) fail_errno("recvmsg");
    if (deadline.expired() || !wait_readable(milliseconds(deadline.poll_ms(timeout)))) return std::nullopt;
  }
}

// --- Recorder ---

unsigned Recorder::new_protocol_id() {
  std::lock_guard lock(mutex_);
  lifecycles_.emplace_back();
  return static_cast<unsigned>(lifecycles_.size() - 1);
}

void Recorder::started(unsigned id, unsigned worker, const Address& local) {
  std::lock_guard lock(mutex_);
  Lifecycle& l = lifecycles_.at(id);
  ++l.starts;
  l.worker = worker;
  l.local = local;
  changed_.notify_all();
}

void Recorder::stopped(unsigned id) {
  std::lock_guard lock(mutex_);
  Lifecycle& l = lifecycles_.at(id);
  if (l.starts == 0) l.stopped_before_started = true;
  ++l.stops;
  changed_.notify_all();
}

void Recorder::record(std::span<const Datagram> batch, unsigned worker) {
  std::lock_guard lock(mutex_);
  for (const Datagram& d : batch) {
    datagrams_.push_back(Received{std::vector<std::byte>(d.payload.begin(), d.payload.end()), d.peer,
                                  d.truncated, worker});
  }
  changed_.notify_all();
}

void Recorder::note_peers(std::span<const Datagram> batch) {
  std::lock_guard lock(mutex_);
  for (const Datagram& d : batch) {
    if (std::find(peers_.begin(), peers_.end(), d.peer) == peers_.end()) peers_.push_back(d.peer);
  }
  peer_datagrams_ += batch.size();
}

void Recorder::note(const std::string& event) {
  std::lock_guard lock(mutex_);
  events_.push_back(event);
}

std::size_t Recorder::datagram_count() const {
  std::lock_guard lock(mutex_);
  return datagrams_.size();
}

bool Recorder::wait_for_datagrams(std::size_t n, milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return datagrams_.size() >= n; });
}

std::vector<Received> Recorder::datagrams() const {
  std::lock_guard lock(mutex_);
  return datagrams_;
}

std::vector<Address> Recorder::peers() const {
  std::lock_guard lock(mutex_);
  return peers_;
}

std::uint64_t Recorder::peer_datagrams() const {
  std::lock_guard lock(mutex_);
  return peer_datagrams_;
}

std::vector<Recorder::Lifecycle> Recorder::lifecycles() const {
  std::lock_guard lock(mutex_);
  return lifecycles_;
}

std::vector<std::string> Recorder::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

// --- TestProtocol ---

void TestProtocol::on_start(Transport& t) {
  worker_ = t.worker_index();
  recorder_.started(id_, worker_, t.local_address());
  if (hooks_.on_start) hooks_.on_start(t);
}

void TestProtocol::on_datagrams(std::span<const Datagram> batch, Transport& t) {
  if (record_ == Record::datagrams) recorder_.record(batch, worker_);
  if (record_ == Record::peers_only) recorder_.note_peers(batch);
  if (hooks_.on_datagrams) hooks_.on_datagrams(batch, t);
}

void TestProtocol::on_writable(Transport& t) {
  if (hooks_.on_writable) hooks_.on_writable(t);
}

void TestProtocol::on_error(std::error_code e, Transport& t) {
  recorder_.note("error:" + e.message());
  if (hooks_.on_error) hooks_.on_error(e, t);
}

void TestProtocol::on_stop() {
  recorder_.stopped(id_);
  if (hooks_.on_stop) hooks_.on_stop();
}

ProtocolFactory recording_factory(Recorder& recorder, Hooks hooks, Record record) {
  return [&recorder, hooks = std::move(hooks), record](unsigned) -> std::unique_ptr<Protocol> {
    return std::make_unique<TestProtocol>(recorder, recorder.new_protocol_id(), hooks, record);
  };
}

ProtocolFactory echo_factory(Recorder& recorder) {
  Hooks hooks;
  hooks.on_datagrams = [](std::span<const Datagram> batch, Transport& t) {
    for (const Datagram& d : batch) t.send(d.payload, d.peer);
  };
  return recording_factory(recorder, std::move(hooks), Record::peers_only);
}

// --- Engine helpers ---

std::unique_ptr<Engine> make_engine(EngineOptions options) {
  if (const char* env = std::getenv("SALVO_TEST_IO_URING_RECEIVE"); env != nullptr && *env != '\0') {
    auto kind = parse_io_uring_receive(env);
    if (!kind) throw std::runtime_error("SALVO_TEST_IO_URING_RECEIVE: " + kind.error().message);
    options.io_uring_receive = *kind;
  }
  auto e = Engine::create(std::move(options));
  if (!e) throw std::runtime_error("Engine::create: " + e.error().message);
  return std::move(*e);
}

Address must_listen(Engine& engine, const Address& address, const ProtocolFactory& factory) {
  auto bound = engine.listen(address, factory);
  if (!bound) throw std::runtime_error("listen: " + bound.error().message);
  return *bound;
}

void must_start(Engine& engine) {
  if (auto r = engine.start(); !r) throw std::runtime_error("start: " + r.error().message);
}

void run_on_worker(Engine& engine, std::function<void(Reactor&)> fn, unsigned worker) {
  std::promise<void> ran;
  auto done = ran.get_future();
  ASSERT_TRUE(engine.post(worker, [&](Reactor& r) {
    fn(r);
    ran.set_value();
  }));
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready) << "worker " << worker << " did not run a post";
}

bool all_sockets_ended(Engine& engine, milliseconds timeout) {
  const bool ended = wait_until([&] { return engine.open_sockets() == 0; }, timeout);
  engine.stop();
  return engine.wait_for(timeout) && ended;
}

void stop_and_wait(Engine& engine, milliseconds timeout) {
  engine.stop();
  if (!engine.wait_for(timeout)) throw std::runtime_error("engine did not finish after stop()");
  engine.wait();
}

const std::vector<BackendKind>& available_backends() {
  static const std::vector<BackendKind> kinds = [] {
    std::vector<BackendKind> out;
    for (BackendKind kind : {BackendKind::epoll, BackendKind::io_uring}) {
      EngineOptions o;
      o.backend = kind;
      o.buffer_count = 4;
      auto e = Engine::create(o);
      if (e && (*e)->backend().kind == kind) out.push_back(kind);
    }
    return out;
  }();
  return kinds;
}

bool backend_available(BackendKind kind) {
  const auto& k = available_backends();
  return std::find(k.begin(), k.end(), kind) != k.end();
}

std::string backend_test_name(const testing::TestParamInfo<BackendKind>& info) {
  return std::string(to_string(info.param));
}

bool ipv6_loopback_available() {
  static const bool available = [] {
    const int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const Address any = Address::ipv6_loopback(0);
    const bool ok = ::bind(fd, static_cast<const sockaddr*>(any.sockaddr_data()), any.sockaddr_size()) == 0;
    ::close(fd);
    return ok;
  }();
  return available;
}

int allowed_cpu() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &set)) return cpu;
    }
  }
  return 0;
}

// --- EnvGuard ---

EnvGuard::EnvGuard(const char* name, const char* value) : name_(name) {
  if (const char* old = std::getenv(name)) old_ = old;
  if (value != nullptr) {
    ::setenv(name, value, 1);
  } else {
    ::unsetenv(name);
  }
}

EnvGuard::~EnvGuard() {
  if (old_) {
    ::setenv(name_.c_str(), old_->c_str(), 1);
  } else {
    ::unsetenv(name_.c_str());
  }
}

std::size_t open_descriptors() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

}  // namespace salvo::test
