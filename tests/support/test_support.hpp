// Test support shared by salvo's unit, integration and CLI tests: deadlines, plain POSIX UDP
// sockets for the other end of a conversation, a thread-safe recorder of what protocols saw, a
// protocol whose hooks are lambdas, the list of backends this machine can run, and printers so
// that gtest failure messages show addresses and counters as text.
//
// Every wait here is bounded by a deadline; nothing sleeps to make a result come true.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "salvo/salvo.hpp"

// gtest printers (found by ADL).
namespace salvo {
inline void PrintTo(const Address& a, std::ostream* os) {
  *os << (a.family() == Address::Family::none ? std::string("<no address>") : a.to_string());
}
void PrintTo(const Counters& c, std::ostream* os);
inline void PrintTo(SendResult r, std::ostream* os) { *os << to_string(r); }
inline void PrintTo(BackendKind k, std::ostream* os) { *os << to_string(k); }
}  // namespace salvo

namespace salvo::test {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

class Deadline {
 public:
  explicit Deadline(milliseconds budget) : end_(Clock::now() + budget) {}
  bool expired() const { return Clock::now() >= end_; }
  // Milliseconds left, for poll(); never negative, capped at `cap`.
  int poll_ms(milliseconds cap = milliseconds(1000)) const;

 private:
  Clock::time_point end_;
};

// Re-evaluates `done` (every millisecond at most) until it is true or `timeout` passes; returns
// its last value. For conditions that something else makes true; never a substitute for one.
bool wait_until(const std::function<bool()>& done, milliseconds timeout);

// Text of a Counters value, one "name=value" per counter.
std::string describe(const Counters& c);

// Parses or throws (for addresses the test itself writes).
Address addr(std::string_view text);

// Test payloads: the first 8 bytes carry `seq` (when size >= 8), the rest a pattern derived from
// seq and the position, so that any misplaced byte is caught.
std::vector<std::byte> make_payload(std::uint64_t seq, std::size_t size);
// The sequence number make_payload wrote (0 when the payload is shorter than 8 bytes).
std::uint64_t payload_seq(std::span<const std::byte> payload);

// A plain blocking POSIX UDP socket, the other end of a test conversation. Throws
// std::runtime_error when the system refuses a call that a test needs to succeed.
class UdpSocket {
 public:
  // Buffer sizes in bytes (0: the kernel's default), set beyond the system's maximum where the
  // process may (root), as SO_RCVBUFFORCE / SO_SNDBUFFORCE do.
  explicit UdpSocket(const Address& bind, int receive_buffer = 0, int send_buffer = 0);
  ~UdpSocket();
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  int fd() const noexcept { return fd_; }
  const Address& local() const noexcept { return local_; }

  // True when the kernel accepted the whole datagram; false on ENOBUFS/EAGAIN; throws otherwise.
  bool send_to(std::span<const std::byte> payload, const Address& to);
  // One UDP GSO message (a UDP_SEGMENT control message): the kernel cuts `bytes` into datagrams
  // of `segment_size` (the last may be shorter). Returns the bytes sent, or -1 with errno.
  long send_gso(std::span<const std::byte> bytes, std::uint16_t segment_size, const Address& to);

  struct Message {
    std::vector<std::byte> payload;
    Address from;
    bool truncated = false;
  };
  // Waits at most `timeout` for one datagram.
  std::optional<Message> receive(milliseconds timeout, std::size_t capacity = 65536);
  // Reads one datagram if one is queued, without waiting: its size, or -1 when none is.
  long try_receive(std::span<std::byte> buffer, Address& from);
  // Waits at most `timeout` for the socket to become readable.
  bool wait_readable(milliseconds timeout);

 private:
  int fd_ = -1;
  Address local_;
};

// An address on `host` (a loopback address; its port is ignored) whose port no UDP socket holds,
// for datagrams that must draw an ICMP port unreachable. The port lies outside the kernel's
// ephemeral range (net.ipv4.ip_local_port_range), so no socket bound to port 0 later in the test
// can be handed it: "bind to port 0, note, close" could give a later client that very port, and
// the test's datagrams to the closed port would then reach the client. Throws if none is free.
Address closed_port_address(const Address& host);

// A copy of one received datagram, made inside the hook (views die when it returns).
struct Received {
  std::vector<std::byte> payload;
  Address peer;
  bool truncated = false;
  unsigned worker = 0;
};

// What the protocols of one test saw, safe to read from the test thread while workers run.
class Recorder {
 public:
  unsigned new_protocol_id();  // called by factories, on the controlling thread
  void started(unsigned protocol_id, unsigned worker, const Address& local);
  void stopped(unsigned protocol_id);
  void record(std::span<const Datagram> batch, unsigned worker);
  // Echo servers: remember only the distinct peers and a count, not every payload.
  void note_peers(std::span<const Datagram> batch);
  void note(const std::string& event);

  std::size_t datagram_count() const;
  bool wait_for_datagrams(std::size_t n, milliseconds timeout) const;
  std::vector<Received> datagrams() const;
  std::vector<Address> peers() const;
  std::uint64_t peer_datagrams() const;

  struct Lifecycle {
    unsigned starts = 0;
    unsigned stops = 0;
    unsigned worker = 0;
    Address local;
    bool stopped_before_started = false;
  };
  std::vector<Lifecycle> lifecycles() const;  // indexed by protocol id
  std::vector<std::string> events() const;

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<Received> datagrams_;
  std::vector<Address> peers_;
  std::uint64_t peer_datagrams_ = 0;
  std::vector<Lifecycle> lifecycles_;
  std::vector<std::string> events_;
};

// Hooks a TestProtocol runs besides recording; any may be empty.
struct Hooks {
  std::function<void(Transport&)> on_start;
  std::function<void(std::span<const Datagram>, Transport&)> on_datagrams;
  std::function<void(Transport&)> on_writable;
  std::function<void(std::error_code, Transport&)> on_error;
  std::function<void()> on_stop;
};

enum class Record { datagrams, peers_only, nothing };

// A protocol that records its lifecycle (and by default every datagram) in a Recorder, then runs
// its hooks.
class TestProtocol final : public Protocol {
 public:
  TestProtocol(Recorder& recorder, unsigned id, Hooks hooks, Record record)
      : recorder_(recorder), id_(id), hooks_(std::move(hooks)), record_(record) {}
  void on_start(Transport& t) override;
  void on_datagrams(std::span<const Datagram> batch, Transport& t) override;
  void on_writable(Transport& t) override;
  void on_error(std::error_code e, Transport& t) override;
  void on_stop() override;

 private:
  Recorder& recorder_;
  unsigned id_;
  Hooks hooks_;
  Record record_;
  unsigned worker_ = 0;
};

// A factory whose protocols share `recorder` and `hooks`; protocol ids count up from 0 across
// every factory that shares the recorder, in creation order.
ProtocolFactory recording_factory(Recorder& recorder, Hooks hooks = {}, Record record = Record::datagrams);
// Sends every datagram back to its sender; records peers only.
ProtocolFactory echo_factory(Recorder& recorder);

// Engine::create or throw. SALVO_TEST_IO_URING_RECEIVE=adaptive|multishot|single-shot, when set,
// overrides options.io_uring_receive: ctest runs the receive-path suites once more with it set to
// single-shot (tests/CMakeLists.txt, integration.single_shot_receive).
std::unique_ptr<Engine> make_engine(EngineOptions options);
// listen() or throw.
Address must_listen(Engine& engine, const Address& address, const ProtocolFactory& factory);
// start() or throw.
void must_start(Engine& engine);
// stop() and join within `timeout`, or throw (a hung engine must fail the test, not the run).
void stop_and_wait(Engine& engine, milliseconds timeout = 10s);
// Waits up to `timeout` for every socket of the engine to have closed by itself (its protocol
// stopped listening); then stops the engine (which runs until stop()) and joins it. False when
// some socket was still open at the deadline.
bool all_sockets_ended(Engine& engine, milliseconds timeout);

// Entries in /proc/self/fd (the directory's own descriptor and "." and ".." included, the same
// on every call): compare two counts to find a leak.
std::size_t open_descriptors();

// Whether a test may run a program (or itself) with no descriptor left. Not in the sanitizer
// build: UBSan's vptr check opens a pipe the first time it meets a type, and reports a false error
// when it cannot.
constexpr bool descriptor_exhaustion_testable() {
#ifdef __SANITIZE_ADDRESS__
  return false;
#else
  return true;
#endif
}
#define SALVO_SKIP_UNLESS_DESCRIPTOR_EXHAUSTION_TESTABLE()                                   \
  if (!::salvo::test::descriptor_exhaustion_testable())                                      \
  GTEST_SKIP() << "the sanitizer build's UBSan type checks need descriptors of their own"

// Runs fn on worker `worker` with its Reactor (Engine::post) and waits up to 10 s for it to have
// run; a worker that never gets to it fails the test.
void run_on_worker(Engine& engine, std::function<void(Reactor&)> fn, unsigned worker = 0);

// Every backend Engine::create accepts on this machine and build, computed once.
const std::vector<BackendKind>& available_backends();
bool backend_available(BackendKind kind);
std::string backend_test_name(const testing::TestParamInfo<BackendKind>& info);

// The fixture of suites run once per backend (instantiated with
// testing::ValuesIn(available_backends()), backend_test_name) whose engines need only that backend
// and a small receive pool: options() is EngineOptions for GetParam() with 64 receive buffers.
class SmallPoolPerBackend : public testing::TestWithParam<BackendKind> {
 protected:
  EngineOptions options() const {
    EngineOptions o;
    o.backend = GetParam();
    o.buffer_count = 64;
    return o;
  }
};

// Whether this machine can bind a UDP socket to [::1] (containers sometimes run without IPv6).
bool ipv6_loopback_available();
#define SALVO_REQUIRE_IPV6()                                   \
  do {                                                         \
    if (!::salvo::test::ipv6_loopback_available()) {           \
      GTEST_SKIP() << "this machine has no IPv6 loopback (::1)"; \
    }                                                          \
  } while (false)

// A CPU this process may run on (the first of its affinity mask).
int allowed_cpu();

// Sets or unsets an environment variable for one scope, restoring it afterwards.
class EnvGuard {
 public:
  EnvGuard(const char* name, const char* value);  // value nullptr = unset
  ~EnvGuard();
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace salvo::test
