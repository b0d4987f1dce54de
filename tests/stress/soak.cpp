// salvo_soak: the compressed soak of issue 21, run by hand (ctest label `soak`, which
// tools/run-tests.sh leaves out; docs/reliability.md has the command and the figures).
//
// Rounds of --seconds each (default 2 x 300 s). In each round, on loopback:
//   - a flood into a sink socket, as fast as the machine goes (--rate to cap it);
//   - churn, scaled from the counts for a 300 s round: runtime sockets opened from a
//     timer on a second engine (1,000,000), each bound to its own 127.x.y.z address (so also
//     1,000,000 distinct sources), sending one datagram to the sink and closing; one-shot timers
//     set and some cancelled on that engine (10,000,000); engines made, started, pinged once,
//     stopped and destroyed (1,000); clients of a `salvo impair` child that each send once and
//     expire (100,000, less those left out because their time passed while the client thread was
//     held up; only with --salvo PATH). Neither the churn nor the clients make up for a stall in
//     one burst: the most sockets or clients at once, which the engine's memory follows, would
//     then follow the longest stall of the round.
//   - a side ping-pong at 1000/s against an echo socket of the sink's engine, from a thread at
//     real-time priority (SCHED_FIFO 1, when allowed).
// --pin puts the sink's worker and the pinger on CPU 0 and the rest of the load on CPU 1;
// --realtime-server runs the sink's worker at SCHED_FIFO 1 (with --rate: see docs/reliability.md).
// Checked at the end of each round (exit 1 on any failure, each check printed PASS or FAIL):
//   - resident memory flat after the warm-up (--warmup, 60 s; a third of the round if shorter):
//     the least-squares slope of one-second samples of /proc/self/statm under 1 KiB/min (and the
//     impair child's likewise);
//   - descriptors back to their count before the round;
//   - books exact: every datagram a kernel accepted for the sink was received, dropped by the
//     kernel (counted) or discarded at close; every timer set fired, was cancelled or was pending;
//     every restart answered its ping; impair forwarded everything its clients sent;
//   - the ping-pong's p99 in its last minute within 1.1x of its first (minutes are a fifth of the
//     round if it is shorter than five minutes).
// Each minute's CPU time of the sink's worker (per flood datagram), the churn's worker and the
// flood thread is printed beside the p99s: a trend there is the engine slowing within the round.
// The memory slope and the p99 ratio are judged only on rounds of 180 s or more with the full
// 60 s warm-up; shorter rounds print them with SKIP.
// Figures go to stdout on [ figure ] lines.
// For finding where memory goes: --only runs some of the load's parts, --trace S prints every S
// seconds where each process's resident memory lies and which mappings changed.
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

struct Options {
  double seconds = 300;
  unsigned rounds = 2;
  double warmup = 60;
  std::uint64_t rate = 0;  // flood datagrams per second; 0: as fast as it goes
  std::string salvo;       // the salvo command, for the impair churn
  BackendKind backend = BackendKind::automatic;
  double trace = 0;  // seconds between memory breakdowns on stdout; 0: none
  // Seconds between stalls of the impair child (SIGSTOP for 0.3 s, then SIGCONT); 0: none. A stall
  // makes the clients that waited arrive together, the most impair has served at once.
  unsigned stall_impair = 0;
  // The sink's worker at real-time priority (SCHED_FIFO 1), as a latency-sensitive service runs:
  // the ping-pong then times the engine's answer rather than the scheduler's choice among the
  // load's threads. Meant with --rate: an unlimited flood would keep it busy on its CPU.
  bool realtime_server = false;
  // The sink's worker and the pinger on CPU 0, everything else (the flood, the churn, restarts,
  // impair and its clients) on CPU 1, as a benchmark pins receiver and sender: the load then
  // competes with the engine for nothing but the kernel's own work.
  bool pin = false;
  // The load's parts, each on unless left out of --only.
  bool flood = true, sockets = true, timers = true, restarts = true, impair = true, ping = true;
};

// Counts for a 300 s round (issue 21), scaled to the round's length.
struct Targets {
  double sockets, timers, restarts, impair_clients;
  explicit Targets(double seconds)
      : sockets(1'000'000 * seconds / 300),
        timers(10'000'000 * seconds / 300),
        restarts(1000 * seconds / 300),
        impair_clients(100'000 * seconds / 300) {}
};

std::string name_of(BackendKind k) { return std::string(salvo::to_string(k)); }

// Runs fn on the engine's worker 0 and waits for it (10 s at most).
void on_worker(Engine& engine, std::function<void(Reactor&)> fn) {
  auto done = std::make_shared<std::promise<void>>();
  auto ran = done->get_future();
  if (!engine.post(0, [fn = std::move(fn), done](Reactor& r) {
        fn(r);
        done->set_value();
      })) {
    throw std::runtime_error("post refused");
  }
  if (ran.wait_for(10s) != std::future_status::ready)
    throw std::runtime_error("the worker did not run a post within 10 s");
}

bool failed_any = false;
void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "PASS" : "FAIL", what.c_str());
  std::fflush(stdout);
  if (!ok) failed_any = true;
}

long page_kib() { return ::sysconf(_SC_PAGESIZE) / 1024; }

// Resident KiB of a process (statm's second field), or -1.
long resident_kib(pid_t pid) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/statm") : "/proc/" + std::to_string(pid) + "/statm");
  long size = 0, resident = -1;
  in >> size >> resident;
  return resident < 0 ? -1 : resident * page_kib();
}

// Nanoseconds a thread of this process has run (schedstat's first field), or 0. Read without
// allocating: it is sampled while the round measures memory.
std::uint64_t thread_cpu_ns(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", static_cast<int>(tid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[96] = {};
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  return n > 0 ? std::strtoull(text, nullptr, 10) : 0;
}

// Least-squares slope of (seconds, KiB) samples, in KiB per minute.
double slope_per_minute(const std::vector<std::pair<double, double>>& samples) {
  const double n = static_cast<double>(samples.size());
  if (n < 2) return 0;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (auto [x, y] : samples) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const double d = n * sxx - sx * sx;
  return d == 0 ? 0 : (n * sxy - sx * sy) / d * 60;
}

// --trace: where a process's resident memory lies (/proc/PID/smaps: the heap, anonymous mappings,
// which hold malloc's other arenas, its large blocks and the engine's pools, thread stacks, io_uring
// rings, files), which mappings changed since the previous breakdown of that process, and for this
// process what malloc holds (mallinfo2, all arenas). It allocates: a tool for finding where memory
// goes, not for judging the slope.
std::string memory_breakdown(pid_t pid) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/smaps") : "/proc/" + std::to_string(pid) + "/smaps");
  static std::map<pid_t, std::map<std::string, long>> previous;  // Rss by mapping
  std::map<std::string, long> now;
  std::map<std::string, long> by_kind;
  std::string line, mapping, kind;
  while (std::getline(in, line)) {
    const std::string first = line.substr(0, line.find(' '));
    if (first.empty()) continue;
    if (first.back() != ':') {  // a mapping's header: range perms offset dev inode [path]
      std::istringstream header(line);
      std::string field, path;
      for (int i = 0; i < 5; ++i) header >> field;
      std::getline(header >> std::ws, path);
      mapping = first + " " + path;
      kind = path.empty()                                 ? "anon"
             : path == "[heap]" || path == "[stack]"      ? path
             : path.find("io_uring") != std::string::npos ? "io_uring"
             : path[0] == '/'                             ? "files"
                                                          : "other";
    } else if (first == "Rss:") {
      const long kib = std::strtol(line.c_str() + 4, nullptr, 10);
      now[mapping] = kib;
      by_kind[kind] += kib;
    }
  }
  std::string text = "rss KiB:";
  for (const auto& [k, kib] : by_kind) text += " " + k + " " + std::to_string(kib);
  if (pid == 0) {
    const struct mallinfo2 m = ::mallinfo2();
    text += "; malloc KiB: arenas " + std::to_string(m.arena >> 10) + " (in use " + std::to_string(m.uordblks >> 10) +
            ", free " + std::to_string(m.fordblks >> 10) + "), mmapped blocks " + std::to_string(m.hblkhd >> 10);
  }
  auto& before = previous[pid];
  for (const auto& [name, kib] : now) {
    if (before.empty()) break;  // the first breakdown: nothing to compare with
    const auto was = before.find(name);
    const long old = was == before.end() ? 0 : was->second;
    if (kib != old) text += "; [" + name + "] " + std::to_string(old) + " -> " + std::to_string(kib);
  }
  before = std::move(now);
  return text;
}

// Round-trip times of one minute, in a fixed table (the harness must not grow while it measures
// the growth of others): exact below 128 us, then 64 steps per power of two (1.6%).
class MinuteHistogram {
 public:
  void add(double us) {
    ++counts_[index_of(us < 0 ? 0 : static_cast<std::uint64_t>(us))];
    ++total_;
  }
  std::uint64_t total() const { return total_; }
  // The smallest value at or above which lies the top (1 - p) of the samples (its bucket's low end).
  double percentile(double p) const {
    const auto rank = static_cast<std::uint64_t>(std::ceil(p * static_cast<double>(total_)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank && seen != 0) return static_cast<double>(low_end(i));
    }
    return 0;
  }

 private:
  static constexpr std::size_t buckets = 128 + 40 * 64;
  static std::size_t index_of(std::uint64_t v) {
    if (v < 128) return v;
    const unsigned e = static_cast<unsigned>(63 - __builtin_clzll(v)) - 6;  // v >> e is 64..127
    return std::min(buckets - 1, 128 + (e - 1) * 64 + static_cast<std::size_t>((v >> e) - 64));
  }
  static std::uint64_t low_end(std::size_t i) {
    if (i < 128) return i;
    const std::size_t e = (i - 128) / 64 + 1;
    return (64 + (i - 128) % 64) << e;
  }
  std::array<std::uint32_t, buckets> counts_{};
  std::uint64_t total_ = 0;
};

// Counts what reaches it; echoes nothing.
class Sink final : public Protocol {
 public:
  void on_start(Transport& t) override { transport_ = &t; }
  void on_datagrams(std::span<const Datagram>, Transport&) override {}
  void on_stop() override { final = transport_->counters(); }
  Counters final;

 private:
  Transport* transport_ = nullptr;
};

class Echo final : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram> batch, Transport& t) override {
    for (const Datagram& d : batch) t.send(d.payload, d.peer);
  }
};

// The churn engine's state, touched only on its worker thread (read after it finished).
struct Churn {
  Address sink;
  double sockets_per_ms = 0, timers_per_ms = 0;
  double socket_credit = 0, timer_credit = 0;
  Clock::time_point last_tick{};
  std::uint64_t next_source = 0;
  std::uint64_t opened = 0, open_failed = 0;
  std::uint64_t timers_set = 0, timers_fired = 0, timers_cancelled = 0, timers_refused = 0;
  std::uint64_t pending_at_check = 0;
  bool checked = false;
  std::vector<TimerId> recent;  // a ring of recent timers, some cancelled
  std::size_t recent_next = 0;
  // Sends from the churned sockets, added as each closes.
  std::uint64_t sent = 0, send_failed = 0;
  // Churned sockets open at once (opened, not yet stopped), and the most opened by one tick: the
  // peaks are atomics only so that --trace may read them while the round runs.
  std::uint64_t open_now = 0;
  std::atomic<std::uint64_t> open_peak{0}, tick_peak{0};
};

// Opened on a churn tick: sends one datagram to the sink from its own source and closes.
class OneShot final : public Protocol {
 public:
  explicit OneShot(Churn& churn) : churn_(churn) {}
  void on_start(Transport& t) override {
    transport_ = &t;
    static const std::vector<std::byte> bytes = make_payload(3, 64);
    t.send(bytes, churn_.sink);
    t.stop_listening();
  }
  void on_datagrams(std::span<const Datagram>, Transport&) override {}
  void on_stop() override {
    --churn_.open_now;
    const Counters c = transport_->counters();
    churn_.sent += c.sent;
    churn_.send_failed += c.dropped_send_error + c.dropped_send_queue_full + c.send_rejected;
  }

 private:
  Churn& churn_;
  Transport* transport_ = nullptr;
};

void churn_tick(Churn& c, Reactor& r) {
  // Credit by the time passed, so that a late tick (a busy machine) catches up, at most three
  // ticks' worth of sockets per tick: a stall's deficit is made up over the next ticks, not at once.
  // The sockets of one tick are open together, each with a socket slot and a send segment until its
  // datagram is out; catching up all at once (up to the 100 of credit) made the most sockets open
  // at once, and the slots the worker keeps for them, follow the longest stall of the round rather
  // than the rate.
  const auto now = r.now();
  const double ms =
      c.last_tick == Clock::time_point{} ? 1.0 : std::chrono::duration<double, std::milli>(now - c.last_tick).count();
  c.last_tick = now;
  c.socket_credit = std::min(c.socket_credit + c.sockets_per_ms * ms, 100.0);
  c.timer_credit = std::min(c.timer_credit + c.timers_per_ms * ms, 1000.0);
  const double most_sockets = std::max(1.0, std::ceil(3 * c.sockets_per_ms));
  std::uint64_t this_tick = 0;
  for (; c.socket_credit >= 1 && static_cast<double>(this_tick) < most_sockets; c.socket_credit -= 1) {
    // 127.1.0.0 and up: every address of 127/8 is this host's, so each socket is a new source.
    const std::uint64_t i = c.next_source++ % (std::uint64_t{1} << 22);
    const std::string source = "127." + std::to_string(1 + i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
                               std::to_string(i % 256) + ":0";
    auto opened = r.open(addr(source), std::make_unique<OneShot>(c));
    (opened ? c.opened : c.open_failed)++;
    if (opened) {
      ++this_tick;
      if (++c.open_now > c.open_peak.load(std::memory_order_relaxed)) c.open_peak.store(c.open_now, std::memory_order_relaxed);
    }
  }
  if (this_tick > c.tick_peak.load(std::memory_order_relaxed)) c.tick_peak.store(this_tick, std::memory_order_relaxed);
  for (; c.timer_credit >= 1; c.timer_credit -= 1) {
    const auto delay = std::chrono::microseconds(c.timers_set % 20000);
    Churn* self = &c;
    auto id = r.call_later(delay, [self] { ++self->timers_fired; });
    if (!id) {
      ++c.timers_refused;
      continue;
    }
    ++c.timers_set;
    // One in four cancels a timer set 64 timers earlier (it may have fired: then cancel says so).
    TimerId& slot = c.recent[c.recent_next++ % c.recent.size()];
    if (c.timers_set % 4 == 0 && r.cancel(slot)) ++c.timers_cancelled;
    slot = *id;
  }
}

// The calling thread (and the threads it starts after this) on `cpu` only.
bool pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::sched_setaffinity(0, sizeof set, &set) == 0;
}

// A flood of 64-byte datagrams to `to`, 32 per sendmmsg, at `rate` per second (0: unlimited).
void flood(const Address& to, std::uint64_t rate, const std::atomic<bool>& stop, std::atomic<std::uint64_t>& accepted) {
  UdpSocket socket(addr("127.0.0.1:0"));
  const auto payload = make_payload(5, 64);
  mmsghdr msgs[32];
  iovec iov{const_cast<std::byte*>(payload.data()), payload.size()};
  for (auto& m : msgs) {
    m = {};
    m.msg_hdr.msg_name = const_cast<void*>(to.sockaddr_data());
    m.msg_hdr.msg_namelen = to.sockaddr_size();
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
  }
  // With a rate, one batch goes out every 32/rate seconds. Up to four late batches are made up;
  // after a longer hold-up the schedule starts again from now, since sending a stall's worth at
  // once would overflow the sink's receive buffer: drops of the flood's burstiness, not of what
  // the sink sustains.
  const auto batch_period = rate == 0 ? Clock::duration::zero()
                                      : std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(32.0 / static_cast<double>(rate)));
  auto next = Clock::now();
  while (!stop.load(std::memory_order_relaxed)) {
    if (rate != 0) {
      std::this_thread::sleep_until(next);
      next += batch_period;
      if (const auto now = Clock::now(); next < now - 4 * batch_period) next = now;
    }
    const int n = ::sendmmsg(socket.fd(), msgs, 32, 0);
    if (n > 0) {
      accepted.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
    }
  }
}

// Round trips against `echo` at 1000/s; each sample lands in the bucket of its minute. The pinger
// asks for real-time priority (SCHED_FIFO 1), as a latency probe such as cyclictest does: it sleeps
// between pings, so it takes almost nothing from the load, and its samples then time the engine's
// answer under that load rather than how soon the scheduler gets round to a client thread among the
// flood's. Without the privilege it runs as before, and says so.
void ping_pong(const Address& echo, const std::atomic<bool>& stop, double minute_s,
               std::vector<MinuteHistogram>& minutes, std::uint64_t& lost) {
  const sched_param realtime{.sched_priority = 1};
  if (int e = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &realtime); e != 0) {
    std::printf("ping-pong: no real-time priority (%s): its latency includes the client's scheduling\n", std::strerror(e));
  }
  UdpSocket socket(addr("127.0.0.1:0"));
  const auto start = Clock::now();
  auto next = start;
  std::uint64_t seq = 0;
  while (!stop.load()) {
    std::this_thread::sleep_until(next);
    next += 1ms;
    const auto payload = make_payload(++seq, 32);
    const auto sent_at = Clock::now();
    if (!socket.send_to(payload, echo)) continue;
    // Wait for this reply (an older, late one is skipped).
    bool got = false;
    while (!got && Clock::now() - sent_at < 200ms) {
      auto m = socket.receive(200ms);
      if (!m) break;
      got = payload_seq(m->payload) == seq;
    }
    if (!got) {
      ++lost;
      continue;
    }
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - sent_at).count();
    const auto bucket = static_cast<std::size_t>(std::chrono::duration<double>(sent_at - start).count() / minute_s);
    minutes[std::min(bucket, minutes.size() - 1)].add(us);
  }
}

// A salvo impair child between clients and the sink's impair socket, expiring idle clients fast.
// --max-clients is far above the clients active at once and within any usual descriptor limit:
// impair refuses at start a --max-clients that cannot have a descriptor each.
struct ImpairChild {
  pid_t pid = -1;
  int out = -1;
  Address listen;
  bool start(const std::string& salvo, const Address& to, unsigned port) {
    listen = addr("127.0.0.1:" + std::to_string(port));
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return false;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    const std::vector<std::string> args = {salvo,           "impair",       "--listen",       listen.to_string(),
                                           "--to",          to.to_string(), "--idle-timeout", "0.2",
                                           "--max-clients", "1000",         "--json"};
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int r = ::posix_spawn(&pid, salvo.c_str(), &actions, nullptr, argv.data(), ::environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[1]);
    out = pipe_fds[0];
    return r == 0 && wait_listening();
  }
  // Until impair has bound its port (a bind there fails with EADDRINUSE), 10 s at most: datagrams
  // sent before would be lost uncounted.
  bool wait_listening() const {
    return wait_until(
        [&] {
          const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
          const bool taken =
              ::bind(fd, static_cast<const sockaddr*>(listen.sockaddr_data()), listen.sockaddr_size()) != 0 &&
              errno == EADDRINUSE;
          ::close(fd);
          return taken;
        },
        10s);
  }
  // SIGTERM twice (drain, then stop), and its JSON report.
  std::string finish() {
    ::kill(pid, SIGTERM);
    std::this_thread::sleep_for(100ms);
    ::kill(pid, SIGTERM);
    std::string text;
    char buffer[4096];
    for (ssize_t n; (n = ::read(out, buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(out);
    return text;
  }
};

// The number after "key": in a JSON text (the first occurrence after `after`).
std::uint64_t json_number(const std::string& text, const std::string& after, const std::string& key) {
  std::size_t at = text.find("\"" + after + "\"");
  if (at == std::string::npos) return 0;
  at = text.find("\"" + key + "\":", at);
  if (at == std::string::npos) return 0;
  return std::strtoull(text.c_str() + at + key.size() + 3, nullptr, 10);
}

void round(const Options& o, unsigned index) {
  const Targets target(o.seconds);
  const double warmup = std::min(o.warmup, o.seconds / 3);
  const double minute_s = std::min(60.0, o.seconds / 5);
  std::printf("round %u: %.0f s (warm-up %.0f s, ping minutes of %.0f s)\n", index, o.seconds, warmup, minute_s);
  std::fflush(stdout);
  const std::size_t descriptors_before = open_descriptors();

  EngineOptions eo;
  eo.backend = o.backend;
  if (o.pin) eo.cpus = {0};
  auto server = make_engine(eo);
  auto* sink = new Sink;
  auto* impair_sink = new Sink;
  const Address sink_address = *server->open(0, addr("127.0.0.1:0"), std::unique_ptr<Protocol>(sink));
  const Address impair_sink_address = *server->open(0, addr("127.0.0.1:0"), std::unique_ptr<Protocol>(impair_sink));
  const Address echo_address = *server->open(0, addr("127.0.0.1:0"), std::make_unique<Echo>());
  must_start(*server);
  if (o.realtime_server) {
    on_worker(*server, [](Reactor&) {
      const sched_param realtime{.sched_priority = 1};
      if (int e = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &realtime); e != 0)
        std::printf("the sink's worker: no real-time priority (%s)\n", std::strerror(e));
    });
  }

  Churn churn;
  churn.sink = sink_address;
  churn.sockets_per_ms = o.sockets ? target.sockets / o.seconds / 1000 : 0;
  churn.timers_per_ms = o.timers ? target.timers / o.seconds / 1000 : 0;
  churn.recent.resize(64);
  EngineOptions co;
  co.backend = o.backend;
  co.timers_per_worker = 1 << 16;
  auto churner = make_engine(co);
  must_start(*churner);
  bool ticking = false;
  on_worker(*churner, [&churn, &ticking](Reactor& r) {
    Churn* c = &churn;
    Reactor* reactor = &r;
    ticking = r.call_every(1ms, [c, reactor] { churn_tick(*c, *reactor); }).ok();
  });
  if (!ticking) throw std::runtime_error("cannot set the churn timer");
  // Whose CPU time each minute shows whether anything slows within the round.
  pid_t sink_tid = 0, churn_tid = 0;
  on_worker(*server, [&sink_tid](Reactor&) { sink_tid = ::gettid(); });
  on_worker(*churner, [&churn_tid](Reactor&) { churn_tid = ::gettid(); });

  ImpairChild impair;
  const bool with_impair = !o.salvo.empty() && o.impair;
  if (with_impair) {
    const Address free_port = closed_port_address(addr("127.0.0.1:0"));
    if (!impair.start(o.salvo, impair_sink_address, free_port.port()))
      throw std::runtime_error("cannot start salvo impair");
  }

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> flood_accepted{0};
  std::atomic<pid_t> flood_tid{0};
  std::thread flooder([&] {
    flood_tid.store(::gettid());
    if (o.flood) flood(sink_address, o.rate, stop, flood_accepted);
  });
  // Allocated and touched now, so that measuring does not grow the process; the last one also
  // takes samples after the round's end.
  std::vector<MinuteHistogram> minutes(static_cast<std::size_t>(std::ceil(o.seconds / minute_s)) + 1);
  std::uint64_t pings_lost = 0;
  std::thread pinger([&] {
    if (o.pin) pin_to_cpu(0);
    if (o.ping) ping_pong(echo_address, stop, minute_s, minutes, pings_lost);
  });
  std::uint64_t restarts = 0, restart_failures = 0;
  // Held while a restarted engine lives, and by the memory sampler: a sample taken while one
  // lives would see its buffers and thread, which come and go, as noise on the slope.
  std::mutex restart_mutex;
  std::thread restarter([&] {
    if (!o.restarts) return;
    const auto period = std::chrono::duration<double>(o.seconds / target.restarts);
    auto next = Clock::now();
    while (!stop.load()) {
      std::this_thread::sleep_until(next);
      next += std::chrono::duration_cast<Clock::duration>(period);
      std::lock_guard lock(restart_mutex);
      EngineOptions ro;
      ro.backend = o.backend;
      ro.buffer_count = 64;
      auto e = make_engine(ro);
      const Address a = *e->open(0, addr("127.0.0.1:0"), std::make_unique<Echo>());
      must_start(*e);
      UdpSocket client(addr("127.0.0.1:0"));
      const auto payload = make_payload(restarts, 16);
      const bool answered = client.send_to(payload, a) && client.receive(2s).has_value();
      stop_and_wait(*e);
      ++restarts;
      if (!answered) ++restart_failures;
    }
  });
  std::uint64_t impair_clients = 0, impair_accepted = 0;
  std::atomic<std::uint64_t> impair_left_out{0};
  std::thread impair_clienter([&] {
    if (!with_impair) return;
    const auto period = std::chrono::duration<double>(o.seconds / target.impair_clients);
    auto next = Clock::now();
    const auto payload = make_payload(9, 32);
    while (!stop.load()) {
      std::this_thread::sleep_until(next);
      // Clients whose time passed while this thread was held up are left out, not sent late: sent
      // together, they would all be inside impair's idle timeout with the ones after them, and
      // impair would serve them all at once, its most clients at once (and the socket slots it keeps
      // for them) following the longest stall of this thread rather than the rate.
      const auto now = Clock::now();
      const auto step = std::chrono::duration_cast<Clock::duration>(period);
      for (next += step; next <= now; next += step) impair_left_out.fetch_add(1, std::memory_order_relaxed);
      const std::uint64_t i = impair_clients++ % 65536;
      UdpSocket client(addr("127.3." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":0"));
      impair_accepted += client.send_to(payload, impair.listen);
    }
  });

  // Samples, once a second.
  std::vector<std::pair<double, double>> rss, impair_rss;
  rss.reserve(static_cast<std::size_t>(o.seconds) + 2);
  impair_rss.reserve(static_cast<std::size_t>(o.seconds) + 2);
  std::size_t fd_min = SIZE_MAX, fd_max = 0;
  unsigned impair_stalls = 0;
  // Cumulative CPU of the sink's worker, the churn's worker and the flood thread, and the flood's
  // datagrams, at the start of each ping minute.
  struct CpuMark {
    std::uint64_t sink_ns, churn_ns, flood_ns, flooded;
  };
  std::vector<CpuMark> cpu_marks;
  cpu_marks.reserve(minutes.size() + 1);
  auto mark_cpu = [&] {
    cpu_marks.push_back({thread_cpu_ns(sink_tid), thread_cpu_ns(churn_tid), thread_cpu_ns(flood_tid.load()),
                         flood_accepted.load()});
  };
  mark_cpu();
  const auto start = Clock::now();
  for (auto next = start + 1s; Clock::now() < start + std::chrono::duration<double>(o.seconds); next += 1s) {
    std::this_thread::sleep_until(next);
    const double t = std::chrono::duration<double>(Clock::now() - start).count();
    const std::size_t fds = open_descriptors();
    fd_min = std::min(fd_min, fds);
    fd_max = std::max(fd_max, fds);
    if (t >= minute_s * static_cast<double>(cpu_marks.size())) mark_cpu();
    std::lock_guard lock(restart_mutex);
    if (o.trace > 0 && static_cast<long>(t) % static_cast<long>(o.trace) == 0) {
      std::printf("[ trace ] %.0f s: resident %ld KiB; churned sockets open at once at most %" PRIu64
                  ", opened by one tick at most %" PRIu64 "; %s\n",
                  t, resident_kib(0), churn.open_peak.load(), churn.tick_peak.load(), memory_breakdown(0).c_str());
      if (with_impair) {
        std::printf("[ trace ] %.0f s: impair resident %ld KiB, %" PRIu64 " clients left out; %s\n", t,
                    resident_kib(impair.pid), impair_left_out.load(), memory_breakdown(impair.pid).c_str());
      }
      std::fflush(stdout);
    }
    if (with_impair && o.stall_impair > 0 && std::lround(t) % o.stall_impair == 0) {
      ::kill(impair.pid, SIGSTOP);
      std::this_thread::sleep_for(300ms);
      ::kill(impair.pid, SIGCONT);
      ++impair_stalls;
    }
    if (t < warmup) continue;
    rss.emplace_back(t, static_cast<double>(resident_kib(0)));
    if (with_impair) impair_rss.emplace_back(t, static_cast<double>(resident_kib(impair.pid)));
  }
  if (static_cast<double>(cpu_marks.size()) <= o.seconds / minute_s) mark_cpu();  // the last minute's end
  stop.store(true);
  flooder.join();
  pinger.join();
  restarter.join();
  impair_clienter.join();
  // Timers are checked on the churn worker, then both engines stop.
  std::uint64_t set = 0, fired = 0, cancelled = 0;
  on_worker(*churner, [&](Reactor& r) {
    churn.checked = true;
    churn.pending_at_check = r.pending_timers() - 1;  // the churn tick itself
    churn.sockets_per_ms = churn.timers_per_ms = 0;
    set = churn.timers_set;
    fired = churn.timers_fired;
    cancelled = churn.timers_cancelled;
  });
  stop_and_wait(*churner);
  std::string impair_report;
  if (with_impair) impair_report = impair.finish();
  stop_and_wait(*server);
  const Counters s = sink->final;
  const Counters is = impair_sink->final;
  server.reset();
  churner.reset();

  const std::uint64_t into_sink = flood_accepted.load() + churn.sent;
  const std::uint64_t counted = s.received + s.kernel_drops + s.discarded_at_close;
  std::printf("[ figure ] soak round %u (%s, %.0f s): flood %" PRIu64 " datagrams (%.0f/s), sink received %" PRIu64
              " + kernel drops %" PRIu64 " + discarded %" PRIu64 "\n",
              index, name_of(o.backend).c_str(), o.seconds, flood_accepted.load(),
              static_cast<double>(flood_accepted.load()) / o.seconds, s.received, s.kernel_drops, s.discarded_at_close);
  std::printf("[ figure ] soak round %u churn: %" PRIu64 " runtime sockets from distinct sources (target %.0f, %" PRIu64
              " refused), %" PRIu64 " timers (target %.0f, %" PRIu64 " refused), %" PRIu64
              " restarts (target %.0f), %" PRIu64 " impair clients (target %.0f, %" PRIu64 " left out, %" PRIu64 " expired); churned sockets open at once at most %" PRIu64 ", opened by one tick at most %" PRIu64 "\n",
              index, churn.opened, target.sockets, churn.open_failed, set, target.timers, churn.timers_refused,
              restarts, target.restarts, impair_clients, with_impair ? target.impair_clients : 0.0,
              impair_left_out.load(), json_number(impair_report, "clients", "expired"), churn.open_peak.load(), churn.tick_peak.load());
  const double slope = slope_per_minute(rss);
  const double impair_slope = slope_per_minute(impair_rss);
  double impair_highest = 0;
  for (const auto& sample : impair_rss) impair_highest = std::max(impair_highest, sample.second);
  std::printf(
      "[ figure ] soak round %u memory: resident %.0f -> %.0f KiB after the warm-up, slope %.2f KiB/min (impair: "
      "%.0f -> %.0f KiB, %.2f KiB/min, highest %.0f KiB, %" PRIu64 " clients at once at most, %u stalls); descriptors "
      "%zu before, %zu..%zu during\n",
      index, rss.empty() ? 0.0 : rss.front().second, rss.empty() ? 0.0 : rss.back().second, slope,
      impair_rss.empty() ? 0.0 : impair_rss.front().second, impair_rss.empty() ? 0.0 : impair_rss.back().second,
      impair_slope, impair_highest, json_number(impair_report, "clients", "peak"), impair_stalls, descriptors_before,
      fd_min, fd_max);
  // Full minutes only: the last bucket holds the samples after the round's end.
  std::string p99s;
  std::vector<double> p99;
  for (std::size_t i = 0; i + 1 < minutes.size(); ++i) {
    if (minutes[i].total() == 0) continue;
    p99.push_back(minutes[i].percentile(0.99));
    p99s += " " + std::to_string(static_cast<long>(p99.back()));
  }
  const double first_p99 = p99.empty() ? 0 : p99.front();
  const double last_p99 = p99.empty() ? 0 : p99.back();
  std::printf("[ figure ] soak round %u ping-pong p99 per minute (us):%s; lost %" PRIu64 "\n", index, p99s.c_str(),
              pings_lost);
  std::string cpu_text;
  for (std::size_t i = 0; i + 1 < cpu_marks.size(); ++i) {
    const CpuMark& a = cpu_marks[i];
    const CpuMark& b = cpu_marks[i + 1];
    const double flooded = static_cast<double>(b.flooded - a.flooded);
    char one[160];
    std::snprintf(one, sizeof one, " [%.0f ns/datagram, churn %.0f ms, flood %.0f ms]",
                  flooded == 0 ? 0.0 : static_cast<double>(b.sink_ns - a.sink_ns) / flooded,
                  static_cast<double>(b.churn_ns - a.churn_ns) / 1e6, static_cast<double>(b.flood_ns - a.flood_ns) / 1e6);
    cpu_text += one;
  }
  std::printf("[ figure ] soak round %u CPU per minute (the sink's worker per flood datagram; the churn's worker; "
              "the flood thread):%s\n",
              index, cpu_text.c_str());

  // The slope and the p99 ratio are judged on rounds long enough for them to mean something: a
  // full warm-up and at least two minutes of samples after it. Shorter rounds (the ctest run) show
  // that the harness works and print them.
  const bool judged = o.seconds >= 180 && warmup >= 60;
  auto judge = [&](bool ok, const std::string& what) {
    if (judged) {
      check(ok, what);
    } else {
      std::printf("SKIP %s (judged only on rounds of 180 s or more with a 60 s warm-up)\n", what.c_str());
    }
  };
  judge(slope < 1.0,
        "round " + std::to_string(index) + ": resident memory slope " + std::to_string(slope) + " KiB/min < 1");
  if (with_impair)
    judge(impair_slope < 1.0, "round " + std::to_string(index) + ": impair's resident memory slope " +
                                  std::to_string(impair_slope) + " KiB/min < 1");
  check(open_descriptors() == descriptors_before, "round " + std::to_string(index) + ": descriptors back to " +
                                                      std::to_string(descriptors_before) + " (now " +
                                                      std::to_string(open_descriptors()) + ")");
  check(counted == into_sink, "round " + std::to_string(index) + ": sink books " + std::to_string(counted) +
                                  " == " + std::to_string(into_sink) + " accepted");
  check(churn.send_failed == 0, "round " + std::to_string(index) + ": churned sockets' sends all went out");
  check(churn.checked && set == fired + cancelled + churn.pending_at_check,
        "round " + std::to_string(index) + ": timers set " + std::to_string(set) + " == fired " +
            std::to_string(fired) + " + cancelled " + std::to_string(cancelled) + " + pending " +
            std::to_string(churn.pending_at_check));
  check(restart_failures == 0, "round " + std::to_string(index) + ": every restart answered (" +
                                   std::to_string(restart_failures) + " did not)");
  if (with_impair) {
    // What impair's kernel dropped for it (a busy machine) is in its engine's counters.
    const std::uint64_t in = json_number(impair_report, "client_to_server", "in");
    const std::uint64_t impair_drops = json_number(impair_report, "counters", "kernel_drops") +
                                       json_number(impair_report, "counters", "discarded_at_close");
    const std::uint64_t forwarded = json_number(impair_report, "client_to_server", "forwarded");
    const std::uint64_t at_sink = is.received + is.kernel_drops + is.discarded_at_close;
    check(in + impair_drops == impair_accepted && forwarded == in && at_sink == forwarded,
          "round " + std::to_string(index) + ": impair books: clients sent " + std::to_string(impair_accepted) +
              " == impair got " + std::to_string(in) + " + its kernel drops " + std::to_string(impair_drops) +
              "; forwarded " + std::to_string(forwarded) + " == its sink's " + std::to_string(at_sink));
  }
  // The flood thread's CPU per datagram is a plain loop's cost: last minute against first, it is how
  // much the machine itself slowed, which the p99 follows (docs/reliability.md §12).
  std::string machine;
  if (cpu_marks.size() >= 3) {
    const auto per_datagram = [&](std::size_t i) {
      const auto sent = static_cast<double>(cpu_marks[i + 1].flooded - cpu_marks[i].flooded);
      return sent == 0 ? 0.0 : static_cast<double>(cpu_marks[i + 1].flood_ns - cpu_marks[i].flood_ns) / sent;
    };
    if (const double first = per_datagram(0); first > 0) {
      char text[96];
      std::snprintf(text, sizeof text, " (the flood thread's CPU per datagram, last minute against first: %.2fx)",
                    per_datagram(cpu_marks.size() - 2) / first);
      machine = text;
    }
  }
  judge(last_p99 <= 1.1 * first_p99, "round " + std::to_string(index) + ": ping-pong p99 of the last full minute " +
                                         std::to_string(last_p99) + " us within 1.1x of the first " +
                                         std::to_string(first_p99) + " us" + machine);
}

int run(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "salvo_soak: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--seconds") {
      o.seconds = std::stod(value());
    } else if (a == "--rounds") {
      o.rounds = static_cast<unsigned>(std::stoul(value()));
    } else if (a == "--warmup") {
      o.warmup = std::stod(value());
    } else if (a == "--rate") {
      o.rate = std::stoull(value());
    } else if (a == "--salvo") {
      o.salvo = value();
    } else if (a == "--trace") {
      o.trace = std::stod(value());
    } else if (a == "--stall-impair") {
      o.stall_impair = static_cast<unsigned>(std::stoul(value()));
    } else if (a == "--pin") {
      o.pin = true;
    } else if (a == "--realtime-server") {
      o.realtime_server = true;
    } else if (a == "--only") {
      const std::string parts = "," + value() + ",";
      auto has = [&](const char* part) { return parts.find("," + std::string(part) + ",") != std::string::npos; };
      o.flood = has("flood");
      o.sockets = has("sockets");
      o.timers = has("timers");
      o.restarts = has("restarts");
      o.impair = has("impair");
      o.ping = has("ping");
    } else if (a == "--backend") {
      const std::string b = value();
      o.backend = b == "epoll" ? BackendKind::epoll : b == "io_uring" ? BackendKind::io_uring : BackendKind::automatic;
    } else {
      std::fprintf(
          stderr,
          "usage: salvo_soak [--seconds S (per round, 300)] [--rounds N (2)] [--warmup S (60)] [--rate PPS (0: max)]\n"
          "                  [--backend auto|io_uring|epoll] [--salvo PATH (the salvo command, for impair churn)]\n"
          "                  [--only flood,sockets,timers,restarts,impair,ping (the load's parts; all)]\n"
          "                  [--trace S (a memory breakdown every S seconds)]\n"
          "                  [--stall-impair S (stop the impair child for 0.3 s every S seconds)]\n"
          "                  [--realtime-server (the sink's worker at SCHED_FIFO 1; meant with --rate)]\n"
          "                  [--pin (the sink's worker and the pinger on CPU 0, the rest on CPU 1)]\n");
      return 2;
    }
  }
  if (o.seconds < 5 || o.rounds == 0) {
    std::fprintf(stderr, "salvo_soak: --seconds must be at least 5 and --rounds at least 1\n");
    return 2;
  }
  std::printf("salvo_soak: %u round(s) of %.0f s, backend %s, flood %s\n", o.rounds, o.seconds,
              name_of(o.backend).c_str(), o.rate == 0 ? "unlimited" : std::to_string(o.rate).c_str());
  // Threads inherit their creator's CPUs, so everything started from here on runs on CPU 1 unless
  // pinned elsewhere (the impair child too).
  if (o.pin && !pin_to_cpu(1)) {
    std::fprintf(stderr, "salvo_soak: --pin needs CPUs 0 and 1\n");
    return 2;
  }
  for (unsigned r = 1; r <= o.rounds; ++r) round(o, r);
  std::printf("salvo_soak: %s\n", failed_any ? "FAILED" : "passed");
  return failed_any ? 1 : 0;
}

}  // namespace
}  // namespace salvo::test

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  try {
    return salvo::test::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "salvo_soak: %s\n", e.what());
    return 1;
  }
}
