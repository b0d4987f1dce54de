// Faults, for every backend, on loopback. Each test prints a "[ figure ]" line with the numbers
// docs/reliability.md records.
//
//   - Buffer exhaustion for 5 s: a protocol that stalls 2 ms in every batch, with a batch as large
//     as the whole buffer pool, holds every receive buffer almost all the time while a flood keeps
//     the socket's queue full. Accounting stays exact (every datagram accepted by the sender's
//     kernel is read or is a kernel drop; everything read is delivered once, intact), the worker
//     thread's own CPU time (getrusage(RUSAGE_THREAD), read on the worker through Engine::post)
//     stays under 5% of the wall time, and no receive is re-armed without a batch between (no spin).
//   - ICMP port-unreachable storm: tens of thousands of forged ICMP errors naming the server's
//     socket (a raw ICMP socket; root only, else skipped) while a client's 5000 echoes go through:
//     every echo arrives, intact and once, and every report that reached the socket is on_refused.
//   - Stop and close from inside every hook: stop_listening() and Engine::stop() called from
//     on_start, on_datagrams, on_writable, on_refused, on_unreachable and on_error (the last three
//     from forged ICMP): the engine finishes, on_stop runs once and last, the reply queued in the
//     same hook still goes out, and no hook runs again.
//   - A flood from 65,536 distinct source ports (raw IP_HDRINCL datagrams from 127.0.0.2, every
//     port 0..65535): the process's resident memory grows by less than 1 MiB, without a guard and
//     with a FloodGuard, whose table stays at its size.
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/udp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

// --- measurements ---

// The worker's own CPU time (user + system), read on the worker's thread.
std::chrono::microseconds worker_cpu(Engine& engine, unsigned worker = 0) {
  auto done = std::make_shared<std::promise<std::chrono::microseconds>>();
  auto result = done->get_future();
  auto posted = engine.post(worker, [done] {
    rusage u{};
    ::getrusage(RUSAGE_THREAD, &u);
    done->set_value(std::chrono::seconds(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
                    std::chrono::microseconds(u.ru_utime.tv_usec + u.ru_stime.tv_usec));
  });
  if (!posted) throw std::runtime_error("post: " + posted.error().message);
  if (result.wait_for(10s) != std::future_status::ready) throw std::runtime_error("the worker did not run a post within 10 s");
  return result.get();
}

// This process's resident set, in KiB (VmRSS).
long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  throw std::runtime_error("no VmRSS in /proc/self/status");
}

// --- raw packets: forged ICMP errors and datagrams from any source ---

std::uint16_t internet_checksum(const void* data, std::size_t length) {
  std::uint32_t sum = 0;
  const auto* p = static_cast<const std::uint8_t*>(data);
  for (std::size_t i = 0; i + 1 < length; i += 2) sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
  if (length % 2 != 0) sum += static_cast<std::uint32_t>(p[length - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<std::uint16_t>(~sum));
}

in_addr_t ip_of(const Address& a) {
  sockaddr_in sin;
  std::memcpy(&sin, a.sockaddr_data(), sizeof sin);
  return sin.sin_addr.s_addr;
}

// Sends ICMP "destination unreachable" messages that claim to be about a datagram `server` sent
// to `peer`, as a router (or an attacker) would: the kernel matches the quoted UDP header to the
// server's socket and, the socket having IP_RECVERR, queues the error there.
class IcmpForger {
 public:
  IcmpForger() : fd_(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP)) {
    if (fd_ >= 0) {
      const int small = 4096;  // the socket also receives a copy of every ICMP message: keep little
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
  }
  ~IcmpForger() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  std::string why() const { return "raw ICMP socket: " + std::string(std::strerror(errno)) + " (needs root or CAP_NET_RAW)"; }

  // code: ICMP_PORT_UNREACH (on_refused), ICMP_HOST_UNREACH (on_unreachable), ICMP_PROT_UNREACH
  // (ENOPROTOOPT: on_error). True when the kernel took it.
  bool unreachable(const Address& server, const Address& peer, std::uint8_t code) {
    struct {
      icmphdr icmp;
      iphdr ip;
      udphdr udp;
    } __attribute__((packed)) m{};
    m.icmp.type = ICMP_DEST_UNREACH;
    m.icmp.code = code;
    m.ip.version = 4;
    m.ip.ihl = 5;
    m.ip.ttl = 64;
    m.ip.protocol = IPPROTO_UDP;
    m.ip.tot_len = htons(sizeof(iphdr) + sizeof(udphdr) + 32);
    m.ip.saddr = ip_of(server);
    m.ip.daddr = ip_of(peer);
    m.udp.source = htons(server.port());
    m.udp.dest = htons(peer.port());
    m.udp.len = htons(sizeof(udphdr) + 32);
    m.icmp.checksum = internet_checksum(&m, sizeof m);
    const Address to = server.with_port(0);
    return ::sendto(fd_, &m, sizeof m, 0, static_cast<const sockaddr*>(to.sockaddr_data()), to.sockaddr_size()) ==
           static_cast<ssize_t>(sizeof m);
  }

 private:
  int fd_;
};

// Sends UDP datagrams with any IPv4 source address and port (IP_HDRINCL), so that one test can be
// 65,536 senders without 65,536 sockets.
class UdpForger {
 public:
  UdpForger() : fd_(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW)) {}
  ~UdpForger() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  std::string why() const { return "raw IP socket: " + std::string(std::strerror(errno)) + " (needs root or CAP_NET_RAW)"; }

  bool send(in_addr_t source, std::uint16_t source_port, const Address& to, std::span<const std::byte> payload) {
    std::array<std::byte, 256> packet{};
    if (payload.size() > packet.size() - sizeof(iphdr) - sizeof(udphdr)) return false;
    iphdr ip{};
    ip.version = 4;
    ip.ihl = 5;
    ip.ttl = 64;
    ip.protocol = IPPROTO_UDP;
    ip.saddr = source;
    ip.daddr = ip_of(to);  // tot_len, id and the checksum are the kernel's (IP_HDRINCL rules)
    udphdr udp{};
    udp.source = htons(source_port);
    udp.dest = htons(to.port());
    udp.len = htons(static_cast<std::uint16_t>(sizeof udp + payload.size()));
    udp.check = 0;  // no checksum: allowed for UDP over IPv4
    std::memcpy(packet.data(), &ip, sizeof ip);
    std::memcpy(packet.data() + sizeof ip, &udp, sizeof udp);
    std::memcpy(packet.data() + sizeof ip + sizeof udp, payload.data(), payload.size());
    const std::size_t n = sizeof ip + sizeof udp + payload.size();
    const Address dest = to.with_port(0);
    return ::sendto(fd_, packet.data(), n, 0, static_cast<const sockaddr*>(dest.sockaddr_data()), dest.sockaddr_size()) ==
           static_cast<ssize_t>(n);
  }

 private:
  int fd_;
};

// --- a protocol whose every hook is observable ---

enum class Hook { start, datagrams, writable, refused, unreachable, error, stop };
const char* hook_name(Hook h) {
  switch (h) {
    case Hook::start: return "on_start";
    case Hook::datagrams: return "on_datagrams";
    case Hook::writable: return "on_writable";
    case Hook::refused: return "on_refused";
    case Hook::unreachable: return "on_unreachable";
    case Hook::error: return "on_error";
    case Hook::stop: return "on_stop";
  }
  return "?";
}

struct Observed {
  std::mutex mutex;
  std::vector<Hook> calls;  // in order
  std::atomic<std::uint64_t> datagrams{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> echo_not_queued{0};
  std::vector<std::uint32_t> times;  // how often each sequence number was delivered intact
  std::atomic<std::uint64_t> damaged{0};
  std::atomic<std::int64_t> in_hook_ns{0};  // time spent inside on_datagrams

  void note(Hook h) {
    std::lock_guard lock(mutex);
    calls.push_back(h);
  }
  std::vector<Hook> call_list() {
    std::lock_guard lock(mutex);
    return calls;
  }
  std::size_t count(Hook h) {
    std::lock_guard lock(mutex);
    return static_cast<std::size_t>(std::count(calls.begin(), calls.end(), h));
  }
};

struct Behaviour {
  bool echo = false;
  bool ledger = false;  // count sequence numbers in Observed::times (sized by the test)
  bool note_every_call = true;
  std::chrono::milliseconds stall{0};  // sleep in every on_datagrams: a stalled protocol
  bool want_writable = false;
  std::optional<Hook> act_in;  // the hook that sends a "bye" to bye_to and then ends the engine
  bool act_by_engine_stop = false;  // Engine::stop() instead of Transport::stop_listening()
  Address bye_to;
  std::atomic<Engine*>* engine = nullptr;
};

class Watched final : public Protocol {
 public:
  Watched(Observed& o, const Behaviour& b) : o_(o), b_(b) {}

  void on_start(Transport& t) override {
    seen(Hook::start, t);
    if (b_.want_writable) t.request_writable(true);
  }
  void on_datagrams(std::span<const Datagram> batch, Transport& t) override {
    const auto from = Clock::now();
    o_.datagrams.fetch_add(batch.size(), std::memory_order_relaxed);
    if (b_.ledger) {
      for (const Datagram& d : batch) {
        const std::uint64_t seq = payload_seq(d.payload);
        if (d.payload.size() < 8 || seq >= o_.times.size() || d.payload.size() != make_payload_size(seq) ||
            !intact(d.payload)) {
          o_.damaged.fetch_add(1);
          continue;
        }
        ++o_.times[seq];  // one worker writes; the test reads after the engine stopped
      }
    }
    if (b_.echo) {
      for (const Datagram& d : batch) {
        if (t.send(d.payload, d.peer) != SendResult::queued) o_.echo_not_queued.fetch_add(1);
      }
    }
    if (b_.stall.count() > 0) std::this_thread::sleep_for(b_.stall);
    o_.in_hook_ns.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - from).count());
    seen(Hook::datagrams, t);
  }
  void on_writable(Transport& t) override {
    if (b_.act_in == Hook::writable) {
      seen(Hook::writable, t);
    } else {
      t.request_writable(false);
    }
  }
  void on_refused(const Address&, Transport& t) override {
    o_.refused.fetch_add(1, std::memory_order_relaxed);
    seen(Hook::refused, t);
  }
  void on_unreachable(const Address&, std::error_code, Transport& t) override { seen(Hook::unreachable, t); }
  void on_error(std::error_code, Transport& t) override { seen(Hook::error, t); }
  void on_stop() override { o_.note(Hook::stop); }

  static std::size_t make_payload_size(std::uint64_t seq) { return 16 + seq % 49; }
  static bool intact(std::span<const std::byte> p) {
    const auto expected = make_payload(payload_seq(p), p.size());
    return std::memcmp(expected.data(), p.data(), p.size()) == 0;
  }

 private:
  void seen(Hook h, Transport& t) {
    if (b_.note_every_call || b_.act_in == h) o_.note(h);
    if (b_.act_in != h || acted_) return;
    acted_ = true;
    const std::string bye = std::string("bye from ") + hook_name(h);
    t.send(std::as_bytes(std::span(bye.data(), bye.size())), b_.bye_to);
    if (b_.act_by_engine_stop) {
      b_.engine->load()->stop();
    } else {
      t.stop_listening();
    }
  }
  Observed& o_;
  const Behaviour& b_;
  bool acted_ = false;
};

ProtocolFactory watched(Observed& o, const Behaviour& b) {
  return [&o, &b](unsigned) { return std::make_unique<Watched>(o, b); };
}

class Fault : public testing::TestWithParam<BackendKind> {
 protected:
  bool uring() const { return GetParam() == BackendKind::io_uring; }
};

// --- 1. Buffer exhaustion ---

TEST_P(Fault, FiveSecondsWithoutBuffersAccountingExactAndNoSpin) {
  EngineOptions o;
  o.backend = GetParam();
  o.buffer_count = 8;
  o.batch_size = 8;   // one batch holds the whole pool
  o.buffer_size = 256;
  o.socket_receive_buffer = 64 << 10;
  constexpr auto flood_for = 5s;
  Observed seen;
  seen.times.assign(400'000, 0);
  Behaviour b;
  b.ledger = true;
  b.note_every_call = false;
  b.stall = 2ms;
  auto engine = make_engine(o);
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), watched(seen, b));
  must_start(*engine);

  const auto cpu_before = worker_cpu(*engine);
  const auto wall_from = Clock::now();
  const std::int64_t hook_before = seen.in_hook_ns.load();
  std::uint64_t accepted = 0;
  std::uint64_t seq = 0;
  {
    // ~30,000 datagrams a second in bursts of 32, against a protocol that takes ~4,000: the
    // socket's queue stays full, and so does the buffer pool.
    UdpSocket sender(addr("127.0.0.1:0"));
    std::vector<std::byte> payload;
    const Deadline end(std::chrono::duration_cast<milliseconds>(flood_for));
    while (!end.expired() && seq + 32 <= seen.times.size()) {
      for (int i = 0; i < 32; ++i, ++seq) {
        payload = make_payload(seq, Watched::make_payload_size(seq));
        if (sender.send_to(payload, bound)) ++accepted;
      }
      std::this_thread::sleep_for(1ms);
    }
  }
  const auto wall = Clock::now() - wall_from;
  const auto cpu = worker_cpu(*engine) - cpu_before;
  const double hook_share = static_cast<double>(seen.in_hook_ns.load() - hook_before) /
                            static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(wall).count());
  const Counters during = engine->counters();

  Counters c;
  const bool settled = wait_until(
      [&] {
        c = engine->counters();
        return c.received + c.kernel_drops == accepted && c.recv_rearms == c.recv_terminations;
      },
      30s);
  stop_and_wait(*engine);
  const Counters f = engine->counters();
  const double cpu_share = static_cast<double>(cpu.count()) /
                           static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(wall).count());
  std::cout << "[ figure ] buffer exhaustion (" << to_string(GetParam()) << "): "
            << std::chrono::duration_cast<milliseconds>(wall).count() << " ms flood, " << accepted
            << " datagrams accepted by the sender's kernel, received " << f.received << " + kernel_drops " << f.kernel_drops
            << " = " << f.received + f.kernel_drops << ", delivered " << f.delivered << "; pool held by the protocol "
            << static_cast<int>(hook_share * 1000) / 10.0 << "% of the time; worker CPU " << cpu.count() / 1000 << " ms ("
            << static_cast<int>(cpu_share * 10000) / 100.0 << "%); rx_batches " << f.rx_batches << ", rx_syscalls "
            << f.rx_syscalls << ", no_buffer " << f.no_buffer << ", recv_terminations " << f.recv_terminations
            << ", recv_rearms " << f.recv_rearms << "\n";
  RecordProperty("worker_cpu_percent", std::to_string(cpu_share * 100));

  ASSERT_TRUE(settled) << describe(c) << " accepted=" << accepted;
  EXPECT_GT(f.kernel_drops, accepted / 2) << "the flood did not overwhelm the protocol; the test proves nothing";
  EXPECT_GT(hook_share, 0.9) << "the protocol held the pool only part of the time; the test proves nothing";
  // 5% for an optimised build. Instrumented builds (CI runs this suite under ASan+UBSan in Debug)
  // spend several times more per batch; a spinning worker would still show close to 100%.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || !defined(NDEBUG)
  constexpr double cpu_limit = 0.25;
#else
  constexpr double cpu_limit = 0.05;
#endif
  EXPECT_LT(cpu_share, cpu_limit) << "the worker burnt CPU while it had no buffers";
  EXPECT_EQ(f.received + f.kernel_drops, accepted) << describe(f);
  EXPECT_EQ(f.delivered, f.received) << describe(f);
  EXPECT_EQ(f.received_bytes, f.delivered_bytes);
  EXPECT_EQ(f.dropped_truncated, 0u);
  EXPECT_EQ(f.socket_errors, 0u);
  EXPECT_EQ(seen.damaged.load(), 0u);
  std::uint64_t once = 0, more = 0;
  for (std::uint64_t s = 0; s < seq; ++s) {
    once += seen.times[s] == 1;
    more += seen.times[s] > 1;
  }
  EXPECT_EQ(once, f.delivered) << "every delivered datagram is a distinct one that was sent";
  EXPECT_EQ(more, 0u);
  // No spinning in the counters either: the pool is full in every batch, so each receive call
  // brings a batch; a backend that re-armed or polled without progress would show more calls
  // (or re-arms) than batches.
  EXPECT_EQ(f.recv_rearms, f.recv_terminations) << describe(f);
  EXPECT_LE(f.recv_rearms, f.rx_batches) << describe(f);
  if (uring()) {
    EXPECT_GT(during.no_buffer, 0u) << describe(during);
    EXPECT_EQ(f.recv_terminations, f.no_buffer) << describe(f);
  } else {
    EXPECT_EQ(f.no_buffer, 0u) << describe(f);
  }
}

// --- 2. ICMP storm ---

TEST_P(Fault, IcmpStormWhileServingEveryValidDatagramIsDelivered) {
  IcmpForger forger;
  if (!forger.ok()) GTEST_SKIP() << forger.why();
  EngineOptions o;
  o.backend = GetParam();
  o.socket_receive_buffer = 1 << 20;
  constexpr std::uint64_t storm_size = 50000;  // forged errors to meet while serving, at least
  constexpr std::uint64_t max_valid = 300000;
  constexpr std::uint64_t min_valid = 5000;
  Observed seen;
  seen.times.assign(max_valid, 0);
  Behaviour b;
  b.echo = true;
  b.ledger = true;
  b.note_every_call = false;
  auto engine = make_engine(o);
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), watched(seen, b));
  must_start(*engine);

  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> forged{0};
  std::thread storm([&] {
    const Deadline limit(30s);
    for (std::uint64_t i = 0; i < 1'000'000 && !done && !limit.expired(); ++i) {
      const Address peer = addr("127.0.0.9:" + std::to_string(10000 + i % 50000));
      if (forger.unreachable(server, peer, ICMP_PORT_UNREACH)) forged.fetch_add(1);
      if (i % 64 == 63) std::this_thread::sleep_for(200us);  // a storm, not a CPU burnt flat out
    }
  });
  struct Join {
    std::atomic<bool>& d;
    std::thread& t;
    ~Join() {
      d = true;
      if (t.joinable()) t.join();
    }
  } join{done, storm};
  ASSERT_TRUE(wait_until([&] { return seen.refused.load() > 100; }, 10s)) << "the forged errors do not reach the socket";

  UdpSocket client(addr("127.0.0.1:0"), 1 << 20);
  // Echoes, 16 outstanding at a time, until the storm has forged storm_size errors meanwhile
  // (and at least min_valid echoes went through); then the last outstanding ones are collected.
  std::vector<bool> echoed(max_valid, false);
  std::uint64_t replies = 0, sent = 0;
  std::vector<std::byte> buffer(2048);
  const Deadline overall(60s);
  const std::uint64_t forged_at_start = forged.load();
  auto keep_sending = [&] {
    return sent < max_valid && (sent < min_valid || forged.load() - forged_at_start < storm_size) && !overall.expired();
  };
  while ((keep_sending() || replies < sent) && !overall.expired()) {
    while (keep_sending() && sent - replies < 16) {
      ASSERT_TRUE(client.send_to(make_payload(sent, Watched::make_payload_size(sent)), server));
      ++sent;
    }
    ASSERT_TRUE(client.wait_readable(5s)) << "no echo for 5 s: sent " << sent << ", echoed " << replies << ": "
                                          << describe(engine->counters());
    Address from;
    long n;
    while ((n = client.try_receive(buffer, from)) >= 0) {
      const std::span<const std::byte> reply(buffer.data(), static_cast<std::size_t>(n));
      ASSERT_EQ(from, server);
      const std::uint64_t s = payload_seq(reply);
      ASSERT_LT(s, sent);
      ASSERT_EQ(reply.size(), Watched::make_payload_size(s));
      ASSERT_TRUE(Watched::intact(reply)) << "echo " << s << " damaged";
      ASSERT_FALSE(echoed[s]) << "echo " << s << " twice";
      echoed[s] = true;
      ++replies;
    }
  }
  const std::uint64_t forged_while_serving = forged.load() - forged_at_start;
  const std::uint64_t valid = sent;
  done = true;
  storm.join();
  // The reports still queued are read before the counts are final.
  ASSERT_TRUE(wait_until([&] { return engine->counters().refused == seen.refused.load(); }, 5s));
  stop_and_wait(*engine);
  const Counters c = engine->counters();
  std::cout << "[ figure ] ICMP storm (" << to_string(GetParam()) << "): " << forged.load() << " forged port unreachables ("
            << forged_while_serving << " while serving), " << c.refused << " reported as on_refused; valid echoes "
            << replies << "/" << valid << "; send errors " << c.dropped_send_error << ", recv_terminations "
            << c.recv_terminations << ", recv_rearms " << c.recv_rearms << "\n";
  EXPECT_EQ(replies, valid);
  EXPECT_GE(forged_while_serving, storm_size) << "the storm was smaller than planned (time limit): the test proves less";
  EXPECT_EQ(c.received, valid) << describe(c);
  EXPECT_EQ(c.delivered, valid);
  EXPECT_EQ(c.sent, valid) << "every echo accepted by the kernel, none lost to a pending ICMP error: " << describe(c);
  EXPECT_EQ(c.dropped_send_error, 0u) << describe(c);
  EXPECT_EQ(seen.echo_not_queued.load(), 0u);
  EXPECT_EQ(seen.damaged.load(), 0u);
  for (std::uint64_t s = 0; s < valid; ++s) ASSERT_EQ(seen.times[s], 1u) << "datagram " << s;
  EXPECT_GT(c.refused, forged.load() / 10) << "most of the storm never reached the socket; the test proves little";
  EXPECT_LE(c.refused, forged.load()) << "more reports than forged errors";
  EXPECT_EQ(c.refused, seen.refused.load());
  EXPECT_EQ(c.socket_errors, 0u) << describe(c);
  EXPECT_EQ(c.recv_rearms, c.recv_terminations) << describe(c);
}

// --- 3. Stop and close from inside every hook ---

void stop_inside(BackendKind kind, Hook hook, bool by_engine_stop) {
  SCOPED_TRACE(std::string(hook_name(hook)) + (by_engine_stop ? " + Engine::stop" : " + stop_listening"));
  IcmpForger forger;
  const bool needs_icmp = hook == Hook::refused || hook == Hook::unreachable || hook == Hook::error;
  if (needs_icmp && !forger.ok()) GTEST_SKIP() << forger.why();
  EngineOptions o;
  o.backend = kind;
  Observed seen;
  Behaviour b;
  std::atomic<Engine*> engine_ptr{nullptr};
  UdpSocket observer(addr("127.0.0.1:0"));
  b.act_in = hook;
  b.act_by_engine_stop = by_engine_stop;
  b.bye_to = observer.local();
  b.want_writable = hook == Hook::writable;
  b.engine = &engine_ptr;
  auto engine = make_engine(o);
  engine_ptr = engine.get();
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), watched(seen, b));
  must_start(*engine);

  // The stimulus, repeated (at most 20 times, 50 ms apart) until the engine finishes, so that a
  // hook that ran again would show.
  UdpSocket client(addr("127.0.0.1:0"));
  const Address peer = addr("127.0.0.9:4000");
  bool finished = false;
  for (int i = 0; i < 20 && !finished; ++i) {
    switch (hook) {
      case Hook::datagrams: client.send_to(make_payload(i, 16), server); break;
      case Hook::refused: forger.unreachable(server, peer, ICMP_PORT_UNREACH); break;
      case Hook::unreachable: forger.unreachable(server, peer, ICMP_HOST_UNREACH); break;
      case Hook::error: forger.unreachable(server, peer, ICMP_PROT_UNREACH); break;
      default: break;
    }
    finished = wait_until([&] { return engine->open_sockets() == 0; }, 50ms);
  }
  // Stimuli after the stop go nowhere; give a late hook the chance to show anyway.
  if (hook == Hook::datagrams) client.send_to(make_payload(99, 16), server);
  ASSERT_TRUE(all_sockets_ended(*engine, 5s) || finished) << "the socket did not close after the hook ended it";
  engine->wait();

  const auto calls = seen.call_list();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.front(), Hook::start);
  EXPECT_EQ(calls.back(), Hook::stop) << "on_stop is the last hook";
  EXPECT_EQ(seen.count(Hook::stop), 1u);
  const std::size_t calls_of_hook = seen.count(hook);
  if (by_engine_stop) {
    // Engine::stop() is a request the worker acts on at its next check, so hooks already due in
    // the same round may still run (a writer's on_writable is called up to four times a round).
    // What must hold is that none runs after on_stop (checked above).
    EXPECT_GE(calls_of_hook, 1u);
  } else {
    EXPECT_EQ(calls_of_hook, 1u) << hook_name(hook) << " ran again after stop_listening()";
  }
  auto bye = observer.receive(5s);
  ASSERT_TRUE(bye.has_value()) << "the reply queued in the hook before stopping was not flushed";
  const std::string text(reinterpret_cast<const char*>(bye->payload.data()), bye->payload.size());
  EXPECT_EQ(text, std::string("bye from ") + hook_name(hook));
  EXPECT_EQ(bye->from, server);
  EXPECT_FALSE(observer.receive(100ms).has_value()) << "a second bye";
  const Counters c = engine->counters();
  EXPECT_EQ(c.sent, 1u) << describe(c);
  EXPECT_EQ(c.dropped_send_error, 0u);
  std::cout << "[ figure ] " << (by_engine_stop ? "Engine::stop()" : "stop_listening()") << " inside " << hook_name(hook)
            << " (" << to_string(kind) << "): engine finished, on_stop x" << seen.count(Hook::stop) << ", "
            << hook_name(hook) << " x" << calls_of_hook << ", bye flushed x1, sent " << c.sent << "\n";
}

TEST_P(Fault, StopListeningFromInsideEveryHook) {
  for (Hook h : {Hook::start, Hook::datagrams, Hook::writable, Hook::refused, Hook::unreachable, Hook::error}) {
    stop_inside(GetParam(), h, false);
  }
}

TEST_P(Fault, EngineStopFromInsideEveryHook) {
  for (Hook h : {Hook::start, Hook::datagrams, Hook::writable, Hook::refused, Hook::unreachable, Hook::error}) {
    stop_inside(GetParam(), h, true);
  }
}

// --- 4. 65,536 sources ---

// A sink that touches nothing per source.
class Sink final : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram>, Transport&) override {}
};

void flood_from_every_port(BackendKind kind, bool guarded) {
  UdpForger forger;
  if (!forger.ok()) GTEST_SKIP() << forger.why();
  EngineOptions o;
  o.backend = kind;
  o.buffer_count = 256;
  o.socket_receive_buffer = 4 << 20;
  auto monitor = std::make_shared<FloodGuardMonitor>();
  FloodGuardOptions g;  // the defaults: 4096 slots
  // One source per address and port, so that every port is a source (by default a host's ports,
  // its whole /24 even, are one).
  g.ipv4_prefix = 32;
  g.ipv6_prefix = 128;
  g.key_by_port = true;
  ProtocolFactory factory = [](unsigned) { return std::make_unique<Sink>(); };
  if (guarded) {
    auto f = flood_guarded(g, [](unsigned, FloodGuard&) { return std::make_unique<Sink>(); }, monitor);
    ASSERT_TRUE(f.ok()) << f.error().message;
    factory = *f;
  }
  auto engine = make_engine(o);
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), factory);
  must_start(*engine);
  const in_addr_t source = ip_of(addr("127.0.0.2:0"));
  std::array<std::byte, 32> payload{};

  // Sends from ports [from, to) of 127.0.0.2, 512 at a time, each chunk waited for.
  auto flood = [&](std::uint32_t from, std::uint32_t to) {
    for (std::uint32_t port = from; port < to;) {
      const std::uint64_t base = engine->counters().received;
      const std::uint32_t end = std::min(to, port + 512);
      const std::uint32_t chunk = end - port;
      for (; port < end; ++port) ASSERT_TRUE(forger.send(source, static_cast<std::uint16_t>(port % 65536), server, payload));
      ASSERT_TRUE(wait_until([&] { return engine->counters().received - base == chunk; }, 10s)) << describe(engine->counters());
    }
  };
  // Warm-up: every receive buffer and page the engine will use is touched once (the pool is
  // cycled many times over), and the guard's table already holds 4096 sources.
  flood(0, 8192);
  if (testing::Test::HasFatalFailure()) return;
  const long rss_before = rss_kib();
  flood(0, 65536);
  if (testing::Test::HasFatalFailure()) return;
  const long rss_after = rss_kib();
  stop_and_wait(*engine);
  const Counters c = engine->counters();
  const FloodGuardStats s = monitor->stats();
  std::cout << "[ figure ] 65,536 source ports (" << to_string(kind) << (guarded ? ", flood guard" : ", no guard")
            << "): RSS " << rss_before << " KiB -> " << rss_after << " KiB (" << rss_after - rss_before
            << " KiB); received " << c.received << ", kernel_drops " << c.kernel_drops;
  if (guarded) std::cout << "; guard tracked " << s.tracked << "/" << s.capacity << ", new_sources " << s.new_sources
                         << ", evictions " << s.evictions;
  std::cout << "\n";
  EXPECT_LT(rss_after - rss_before, 1024) << "resident memory grew with the number of sources";
  EXPECT_EQ(c.received, 8192u + 65536u) << describe(c);
  EXPECT_EQ(c.delivered, c.received);
  EXPECT_EQ(c.kernel_drops, 0u);
  if (guarded) {
    EXPECT_EQ(s.datagrams, c.delivered);
    EXPECT_EQ(s.capacity, g.table_entries);
    EXPECT_EQ(s.tracked, g.table_entries) << "the table is full, not larger";
    // The warm-up's 8192 sources come back in the flood (ports 0..8191 again); each was evicted
    // by then unless it is among the last ones still in the table. So at least 65536 new entries.
    EXPECT_GE(s.new_sources, 65536u);
    EXPECT_EQ(s.new_sources - s.evictions, s.tracked);
    EXPECT_EQ(s.rate_limited, 0u) << "one datagram per source, or two: within every burst";
  }
}

TEST_P(Fault, FloodFrom65536SourcePortsKeepsMemoryFlat) { flood_from_every_port(GetParam(), false); }
TEST_P(Fault, FloodFrom65536SourcePortsKeepsMemoryFlatBehindAFloodGuard) { flood_from_every_port(GetParam(), true); }

INSTANTIATE_TEST_SUITE_P(Backends, Fault, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
