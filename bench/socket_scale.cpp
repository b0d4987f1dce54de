// salvo_socket_scale: what idle sockets cost one worker, through the public API only.
//
// For each N of --sockets and each backend (alternating within each N), one engine with one
// worker pinned to CPU 0 serves one busy echo socket and N-1 idle sockets, all on 127.0.0.1:0:
//   rss_per_idle_socket  resident memory after the N-1 idle sockets opened, minus that with the
//                        echo socket alone (same process, same engine), over N-1. User space only:
//                        the kernel's memory for the sockets is not in RSS.
//   idle_cpu_percent     the worker thread's CPU time over --idle-seconds in which no datagram
//                        arrives, as a percentage of one CPU.
//   ping p50/p99         round trips of a 64-byte datagram to the echo socket from a blocking
//                        client thread pinned to CPU 1 (--pings, at most --ping-seconds).
//   open/close seconds   from the first Engine::open to every socket attached by the worker, and
//                        from Engine::stop to the worker finished.
// RLIMIT_NOFILE is raised first to the largest N plus 1000; where it cannot be, an N that does
// not fit under the limit is refused with the reason and the others run. While opening, resident
// memory is watched: an N whose projected memory passes --max-rss-gib, or 90% of what the machine
// has available, is stopped with a message instead of running into the OOM killer.
//
// Usage: salvo_socket_scale [--backend io_uring|epoll|both] [--sockets 1,1000,10000,100000]
//                           [--idle-seconds 3] [--pings 20000] [--ping-seconds 30]
//                           [--max-rss-gib 16] [--json PATH]
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "blocking_ping.hpp"
#include "process_probes.hpp"
#include "salvo/salvo.hpp"

namespace {

using namespace salvo::bench;

constexpr int worker_cpu = 0;
constexpr int client_cpu = 1;
constexpr std::uint64_t descriptor_headroom = 1000;  // the engine's own, the client's, stdio
constexpr std::uint64_t warmup_pings = 200;
constexpr std::uint64_t check_every = 256;           // opens between memory checks
constexpr std::int64_t open_budget_ns = 600'000'000'000;
constexpr std::int64_t close_budget_ms = 300'000;
constexpr double gib = 1024.0 * 1024.0 * 1024.0;
constexpr const char* usage =
    "usage: salvo_socket_scale [--backend io_uring|epoll|both] [--sockets N,N,...] [--idle-seconds S] "
    "[--pings N] [--ping-seconds S] [--max-rss-gib G] [--json PATH]";

struct Options {
  std::vector<salvo::BackendKind> backends{salvo::BackendKind::io_uring, salvo::BackendKind::epoll};
  std::vector<std::uint64_t> sockets{1, 1000, 10000, 100000};
  double idle_seconds = 3;
  std::uint64_t pings = 20000;
  double ping_seconds = 30;
  double max_rss_gib = 16;
  std::string json;
};

[[noreturn]] void bad_flag(const std::string& why) {
  std::fprintf(stderr, "salvo_socket_scale: %s; %s\n", why.c_str(), usage);
  std::exit(2);
}

template <typename T>
T number(std::string_view flag, std::string_view text) {
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) {
    bad_flag(std::string(flag) + " " + std::string(text) + ": not a number");
  }
  return value;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) bad_flag(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--backend") {
      const std::string_view v = value();
      if (v == "both") {
        o.backends = {salvo::BackendKind::io_uring, salvo::BackendKind::epoll};
      } else if (v == "io_uring" || v == "epoll") {
        o.backends = {*salvo::parse_backend_kind(v)};
      } else {
        bad_flag("--backend " + std::string(v) + ": io_uring, epoll or both");
      }
    } else if (flag == "--sockets") {
      o.sockets.clear();
      std::string_view list = value();
      while (!list.empty()) {
        const auto comma = list.find(',');
        const auto n = number<std::uint64_t>("--sockets", list.substr(0, comma));
        if (n < 1 || n > 1'000'000) bad_flag("--sockets: each N must be 1 to 1000000");
        o.sockets.push_back(n);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      }
      if (o.sockets.empty()) bad_flag("--sockets needs at least one N");
    } else if (flag == "--idle-seconds") {
      o.idle_seconds = number<double>(flag, value());
      if (o.idle_seconds <= 0 || o.idle_seconds > 600) bad_flag("--idle-seconds must be above 0 and at most 600");
    } else if (flag == "--pings") {
      o.pings = number<std::uint64_t>(flag, value());
      if (o.pings < 1 || o.pings > 10'000'000) bad_flag("--pings must be 1 to 10000000");
    } else if (flag == "--ping-seconds") {
      o.ping_seconds = number<double>(flag, value());
      if (o.ping_seconds <= 0 || o.ping_seconds > 600) bad_flag("--ping-seconds must be above 0 and at most 600");
    } else if (flag == "--max-rss-gib") {
      o.max_rss_gib = number<double>(flag, value());
      if (o.max_rss_gib <= 0) bad_flag("--max-rss-gib must be above 0");
    } else if (flag == "--json") {
      o.json = value();
    } else {
      bad_flag("unknown flag " + flag);
    }
  }
  return o;
}

class Echo final : public salvo::Protocol {
 public:
  void on_datagrams(std::span<const salvo::Datagram> batch, salvo::Transport& t) override {
    for (const salvo::Datagram& d : batch) t.send(d.payload, d.peer);
  }
};

class Idle final : public salvo::Protocol {
 public:
  void on_datagrams(std::span<const salvo::Datagram>, salvo::Transport&) override {}
};

struct Run {
  std::string backend;
  std::uint64_t sockets = 0;
  std::string status = "ok";  // ok, refused (memory guard), failed, skipped (backend unavailable)
  std::string message;
  std::uint64_t opened = 0;  // sockets attached, the echo socket included
  std::uint64_t rss_one_bytes = 0;
  std::uint64_t rss_all_bytes = 0;
  double open_s = 0;
  double idle_s = 0;
  double idle_cpu_percent = 0;
  PingSummary ping;
  double close_s = 0;

  double rss_per_idle_socket() const {
    return opened > 1 ? static_cast<double>(rss_all_bytes - std::min(rss_all_bytes, rss_one_bytes)) /
                            static_cast<double>(opened - 1)
                      : 0;
  }
};

// Runs `fn` on the worker and waits for it: posts run in order, after every socket attach posted
// before them, so this is also the way to know that the opens so far have all been attached.
// The promise is shared: a function that runs after the wait gave up must not touch a dead one.
bool on_worker(salvo::Engine& engine, std::function<void()> fn) {
  auto ran = std::make_shared<std::promise<void>>();
  auto done = ran->get_future();
  if (!engine.post(0, [ran, fn = std::move(fn)] {
        fn();
        ran->set_value();
      })) {
    return false;
  }
  return done.wait_for(std::chrono::seconds(120)) == std::future_status::ready;
}

void stop(salvo::Engine& engine, Run& r) {
  const std::int64_t start = monotonic_ns();
  engine.stop();
  if (!engine.wait_for(std::chrono::milliseconds(close_budget_ms))) {
    std::fprintf(stderr, "salvo_socket_scale: the engine did not finish within %lld s of stop()\n",
                 static_cast<long long>(close_budget_ms / 1000));
    std::exit(1);
  }
  r.close_s = static_cast<double>(monotonic_ns() - start) / 1e9;
}

// Opens the N-1 idle sockets, checking resident memory every `check_every` opens. False (with
// r.status and r.message set) when the memory guard, a failed open or the time budget ended it.
bool open_idle_sockets(salvo::Engine& engine, Run& r, const Options& o) {
  const std::uint64_t available = available_memory_bytes();
  std::uint64_t limit = static_cast<std::uint64_t>(o.max_rss_gib * gib);
  if (available != 0) limit = std::min(limit, r.rss_one_bytes + available / 10 * 9);
  const std::int64_t start = monotonic_ns();
  for (std::uint64_t i = 1; i < r.sockets; ++i) {
    if (i % check_every == 0) {
      if (!on_worker(engine, [] {})) {
        r.status = "failed";
        r.message = "the worker did not attach the sockets within 120 s";
        return false;
      }
      const std::uint64_t rss = resident_bytes();
      const std::uint64_t attached = engine.open_sockets();
      const double per_socket = static_cast<double>(rss - std::min(rss, r.rss_one_bytes)) /
                                static_cast<double>(std::max<std::uint64_t>(attached, 2) - 1);
      const double projected = static_cast<double>(r.rss_one_bytes) + per_socket * static_cast<double>(r.sockets - 1);
      if (rss > limit || projected > static_cast<double>(limit)) {
        char text[320];
        std::snprintf(text, sizeof text,
                      "%llu sockets would need about %.1f GiB resident (%.0f KiB per socket with %llu open), "
                      "over the limit of %.1f GiB (--max-rss-gib %.1f, or 90%% of the %.1f GiB available)",
                      static_cast<unsigned long long>(r.sockets), projected / gib, per_socket / 1024,
                      static_cast<unsigned long long>(attached), static_cast<double>(limit) / gib, o.max_rss_gib,
                      static_cast<double>(available) / gib);
        r.status = "refused";
        r.message = text;
        r.opened = attached;
        r.rss_all_bytes = rss;
        return false;
      }
      if (monotonic_ns() - start > open_budget_ns) {
        r.status = "failed";
        r.message = "opening took longer than " + std::to_string(open_budget_ns / 1'000'000'000) + " s";
        r.opened = attached;
        return false;
      }
    }
    auto opened = engine.open(0, salvo::Address::ipv4_loopback(0), std::make_unique<Idle>());
    if (!opened) {
      r.status = "failed";
      r.message = "open " + std::to_string(i + 1) + " of " + std::to_string(r.sockets) + ": " + opened.error().message;
      on_worker(engine, [] {});
      r.opened = engine.open_sockets();
      return false;
    }
  }
  if (!on_worker(engine, [] {})) {
    r.status = "failed";
    r.message = "the worker did not attach the sockets within 120 s";
    return false;
  }
  r.open_s = static_cast<double>(monotonic_ns() - start) / 1e9;
  r.opened = engine.open_sockets();
  return true;
}

Run run_case(salvo::BackendKind backend, std::uint64_t n, const Options& o) {
  Run r;
  r.backend = std::string(salvo::to_string(backend));
  r.sockets = n;
  // What the previous case freed must not be reused by this one unseen: give it back first, so
  // that the memory of this case's sockets shows as new resident pages.
  ::malloc_trim(0);
  pthread_t worker{};  // before the engine, which may still run a late post while it is destroyed
  salvo::EngineOptions options;
  options.backend = backend;
  options.cpus = {worker_cpu};
  auto created = salvo::Engine::create(options);
  if (!created) {
    r.status = "failed";
    r.message = created.error().message;
    return r;
  }
  auto engine = std::move(*created);
  if (engine->backend().kind != backend) {
    r.status = "skipped";
    r.message = engine->backend().reason;
    return r;
  }
  auto echo = engine->listen(salvo::Address::ipv4_loopback(0), [](unsigned) { return std::make_unique<Echo>(); });
  if (!echo || !engine->start()) {
    r.status = "failed";
    r.message = echo ? "start() failed" : echo.error().message;
    return r;
  }
  if (!on_worker(*engine, [&worker] { worker = ::pthread_self(); })) {
    r.status = "failed";
    r.message = "the worker did not run a posted function";
    return r;
  }
  r.rss_one_bytes = resident_bytes();
  if (!open_idle_sockets(*engine, r, o)) {
    std::fprintf(stderr, "salvo_socket_scale: %s, N=%llu: %s\n", r.backend.c_str(), static_cast<unsigned long long>(n),
                 r.message.c_str());
    stop(*engine, r);
    return r;
  }
  r.rss_all_bytes = resident_bytes();

  // The round that armed the last sockets may still be finishing: let it, so that the idle window
  // holds only what the worker does for sockets that are merely open.
  on_worker(*engine, [] {});
  const std::int64_t cpu_before = thread_cpu_ns(worker);
  const std::int64_t wall_before = monotonic_ns();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.idle_seconds));
  const std::int64_t cpu_after = thread_cpu_ns(worker);
  const std::int64_t wall_after = monotonic_ns();
  r.idle_s = static_cast<double>(wall_after - wall_before) / 1e9;
  r.idle_cpu_percent = 100.0 * static_cast<double>(cpu_after - cpu_before) / static_cast<double>(wall_after - wall_before);

  std::thread client([&] {
    pin(client_cpu);
    r.ping = blocking_ping(*echo, warmup_pings, o.pings, static_cast<std::int64_t>(o.ping_seconds * 1e9));
  });
  client.join();
  if (r.ping.failed) {
    r.status = "failed";
    r.message = "the ping client's socket could not be set up";
  }
  stop(*engine, r);
  return r;
}

Run too_few_descriptors(salvo::BackendKind backend, std::uint64_t n, const std::string& why) {
  Run r;
  r.backend = std::string(salvo::to_string(backend));
  r.sockets = n;
  r.status = "refused";
  r.message = std::to_string(n) + " sockets need " + std::to_string(n + descriptor_headroom) +
              " descriptors; RLIMIT_NOFILE is " + std::to_string(descriptor_limit()) + " (" + why + ")";
  return r;
}

std::string json_run(const Run& r) {
  char text[1024];
  std::snprintf(text, sizeof text,
                "{\"backend\": \"%s\", \"sockets\": %llu, \"status\": \"%s\", \"message\": %s, \"opened\": %llu, "
                "\"rss_one_socket_bytes\": %llu, \"rss_bytes\": %llu, \"rss_per_idle_socket_bytes\": %.0f, "
                "\"open_seconds\": %.3f, \"idle_seconds\": %.3f, \"idle_worker_cpu_percent\": %.3f, "
                "\"ping\": {\"sent\": %llu, \"answered\": %llu, \"lost\": %llu, \"p50_us\": %.1f, \"p99_us\": %.1f, "
                "\"max_us\": %.1f}, \"close_seconds\": %.3f}",
                r.backend.c_str(), static_cast<unsigned long long>(r.sockets), r.status.c_str(),
                json_string(r.message).c_str(), static_cast<unsigned long long>(r.opened),
                static_cast<unsigned long long>(r.rss_one_bytes), static_cast<unsigned long long>(r.rss_all_bytes),
                r.rss_per_idle_socket(), r.open_s, r.idle_s, r.idle_cpu_percent,
                static_cast<unsigned long long>(r.ping.sent), static_cast<unsigned long long>(r.ping.answered),
                static_cast<unsigned long long>(r.ping.lost), r.ping.p50_us, r.ping.p99_us, r.ping.max_us, r.close_s);
  return text;
}

// Rewritten after every case, so that a run stopped part-way keeps what it measured.
void write_json(const Options& o, const std::vector<Run>& runs) {
  if (o.json.empty()) return;
  std::string out = "{\"program\": \"salvo_socket_scale\", \"machine\": " + json_string(machine()) +
                    ", \"worker_cpu\": " + std::to_string(worker_cpu) + ", \"client_cpu\": " +
                    std::to_string(client_cpu) + ", \"idle_seconds\": " + std::to_string(o.idle_seconds) +
                    ", \"pings\": " + std::to_string(o.pings) + ", \"max_rss_gib\": " + std::to_string(o.max_rss_gib) +
                    ", \"runs\": [\n";
  for (std::size_t i = 0; i < runs.size(); ++i) out += "  " + json_run(runs[i]) + (i + 1 < runs.size() ? ",\n" : "\n");
  out += "]}\n";
  std::ofstream(o.json) << out;
}

void print_row(const Run& r) {
  if (r.status != "ok") {
    std::printf("%-9s %8llu  %-8s %s\n", r.backend.c_str(), static_cast<unsigned long long>(r.sockets), r.status.c_str(),
                r.message.c_str());
  } else {
    std::printf("%-9s %8llu  %-8s %9.3f %12.1f %9.2f %9.1f %9.1f %6llu %9.3f\n", r.backend.c_str(),
                static_cast<unsigned long long>(r.sockets), r.status.c_str(), r.open_s, r.rss_per_idle_socket() / 1024,
                r.idle_cpu_percent, r.ping.p50_us, r.ping.p99_us, static_cast<unsigned long long>(r.ping.lost), r.close_s);
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const std::uint64_t largest = *std::max_element(o.sockets.begin(), o.sockets.end());
  // A limit that cannot be raised far enough refuses the N it is too low for, not the whole run.
  const std::string limit_error = raise_descriptor_limit(largest + descriptor_headroom);
  if (!limit_error.empty()) std::fprintf(stderr, "salvo_socket_scale: %s\n", limit_error.c_str());
  pin(client_cpu);  // the opening thread stays off the worker's CPU
  std::printf("%s\n", machine().c_str());
  std::printf("%-9s %8s  %-8s %9s %12s %9s %9s %9s %6s %9s\n", "backend", "sockets", "status", "open s", "RSS/idle KiB",
              "idle CPU%", "p50 us", "p99 us", "lost", "close s");
  std::vector<Run> runs;
  for (std::size_t k = 0; k < o.sockets.size(); ++k) {
    // With both backends, which goes first alternates from one N to the next.
    std::vector<salvo::BackendKind> order = o.backends;
    if (k % 2 == 1) std::reverse(order.begin(), order.end());
    for (const salvo::BackendKind backend : order) {
      if (o.sockets[k] + descriptor_headroom > descriptor_limit()) {
        runs.push_back(too_few_descriptors(backend, o.sockets[k], limit_error));
      } else {
        runs.push_back(run_case(backend, o.sockets[k], o));
      }
      print_row(runs.back());
      write_json(o, runs);
    }
  }
  return 0;
}
