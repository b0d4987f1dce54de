// Timer lateness on a sleeping worker: how long after its due time a timer's callback starts.
// Two workloads per backend, one worker pinned to --cpu with nothing else to do:
//   one-shot   --timers one-shot timers, due uniformly between 1 ms and 100 ms from when they
//              were set (a fixed seed), all set at once from a posted function;
//   periodic   one call_every at --hz for --seconds (the game tick, the pacer).
// Lateness = steady_clock::now() at the start of the callback - Reactor::firing_due(). Reports
// p50, p99, max (microseconds) and, for the periodic timer, runs against the periods that passed.
// The same workloads run first on a plain thread pinned to the same CPU that sleeps with
// clock_nanosleep(TIMER_ABSTIME) until each due time: the machine's own floor, measured in the
// same run, against which the engine's figures are read. Output: a table, or JSON with --json.
//
// Usage: salvo_timer_lateness [--backend auto|io_uring|epoll] [--cpu N] [--timers N] [--hz N]
//                             [--seconds S] [--json]
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "salvo/salvo.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<salvo::BackendKind> backends;
  int cpu = 0;
  unsigned timers = 10'000;
  unsigned hz = 1000;
  double seconds = 10;
  bool json = false;
};

struct Summary {
  std::size_t samples = 0;
  double p50_us = 0;
  double p99_us = 0;
  double max_us = 0;
};

Summary summarize(std::vector<std::int64_t> ns) {
  Summary s;
  s.samples = ns.size();
  if (ns.empty()) return s;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) { return static_cast<double>(ns[std::min(ns.size() - 1, static_cast<std::size_t>(q * static_cast<double>(ns.size())))]) / 1000.0; };
  s.p50_us = at(0.50);
  s.p99_us = at(0.99);
  s.max_us = static_cast<double>(ns.back()) / 1000.0;
  return s;
}

std::unique_ptr<salvo::Engine> make_engine(salvo::BackendKind backend, const Options& o) {
  salvo::EngineOptions options;
  options.backend = backend;
  options.cpus = {o.cpu};
  options.timers_per_worker = std::max(o.timers + 16, 4096u);
  auto engine = salvo::Engine::create(options);
  if (!engine) {
    std::fprintf(stderr, "salvo_timer_lateness: %s\n", engine.error().message.c_str());
    std::exit(1);
  }
  if (auto r = (*engine)->start(); !r) {
    std::fprintf(stderr, "salvo_timer_lateness: %s\n", r.error().message.c_str());
    std::exit(1);
  }
  return std::move(*engine);
}

// Every sample slot is allocated before the first timer is set: the callbacks only store.
struct Samples {
  std::vector<std::int64_t> lateness_ns;
  std::size_t count = 0;
  std::promise<void> done;
  std::size_t expected = 0;
};

Summary one_shot(salvo::BackendKind backend, const Options& o) {
  auto engine = make_engine(backend, o);
  Samples samples;
  samples.lateness_ns.resize(o.timers);
  samples.expected = o.timers;
  auto finished = samples.done.get_future();
  auto posted = engine->post(0, [&samples, &o](salvo::Reactor& reactor) {
    std::mt19937_64 random(42);
    std::uniform_int_distribution<std::int64_t> delay_us(1'000, 100'000);
    for (unsigned i = 0; i < o.timers; ++i) {
      auto id = reactor.call_later(std::chrono::microseconds(delay_us(random)), [s = &samples, r = &reactor] {
        s->lateness_ns[s->count++] = (Clock::now() - r->firing_due()).count();
        if (s->count == s->expected) s->done.set_value();
      });
      if (!id) {
        std::fprintf(stderr, "salvo_timer_lateness: %s\n", id.error().message.c_str());
        std::exit(1);
      }
    }
  });
  if (!posted || finished.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    std::fprintf(stderr, "salvo_timer_lateness: the one-shot timers did not all fire\n");
    std::exit(1);
  }
  engine->stop();
  engine->wait();
  return summarize(samples.lateness_ns);
}

struct PeriodicResult {
  Summary lateness;
  std::uint64_t periods = 0;  // that passed while it ran
  std::uint64_t runs = 0;
};

PeriodicResult periodic(salvo::BackendKind backend, const Options& o) {
  auto engine = make_engine(backend, o);
  const auto period = std::chrono::nanoseconds(1'000'000'000 / o.hz);
  const auto periods = static_cast<std::size_t>(o.seconds * o.hz);
  Samples samples;
  samples.lateness_ns.resize(periods);
  samples.expected = periods;
  auto finished = samples.done.get_future();
  salvo::TimerId id;
  Clock::time_point first_due;
  auto posted = engine->post(0, [&](salvo::Reactor& reactor) {
    first_due = reactor.now() + period;
    auto t = reactor.call_every(period, [s = &samples, r = &reactor] {
      if (s->count == s->expected) return;
      s->lateness_ns[s->count++] = (Clock::now() - r->firing_due()).count();
      if (s->count == s->expected) s->done.set_value();
    });
    if (t) id = *t;
  });
  if (!posted || finished.wait_for(std::chrono::duration<double>(o.seconds * 3 + 10)) != std::future_status::ready) {
    std::fprintf(stderr, "salvo_timer_lateness: the periodic timer did not run its periods\n");
    std::exit(1);
  }
  const auto ended = Clock::now();
  engine->stop();
  engine->wait();
  PeriodicResult result;
  result.runs = samples.count;
  result.periods = static_cast<std::uint64_t>((ended - first_due) / period) + 1;
  result.lateness = summarize(samples.lateness_ns);
  return result;
}

// The floor: one pinned thread, no engine, sleeping until each due time in turn.
void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

void sleep_until(Clock::time_point t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  const timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) != 0) {
  }
}

Summary floor_one_shot(const Options& o) {
  std::vector<std::int64_t> lateness(o.timers);
  std::thread t([&] {
    pin(o.cpu);
    std::mt19937_64 random(42);
    std::uniform_int_distribution<std::int64_t> delay_us(1'000, 100'000);
    const auto start = Clock::now();
    std::vector<Clock::time_point> due(o.timers);
    for (auto& d : due) d = start + std::chrono::microseconds(delay_us(random));
    std::sort(due.begin(), due.end());
    for (std::size_t i = 0; i < due.size(); ++i) {
      if (Clock::now() < due[i]) sleep_until(due[i]);
      lateness[i] = (Clock::now() - due[i]).count();
    }
  });
  t.join();
  return summarize(lateness);
}

PeriodicResult floor_periodic(const Options& o) {
  const auto period = std::chrono::nanoseconds(1'000'000'000 / o.hz);
  const auto periods = static_cast<std::size_t>(o.seconds * o.hz);
  std::vector<std::int64_t> lateness;
  lateness.reserve(periods);
  PeriodicResult result;
  std::thread t([&] {
    pin(o.cpu);
    const auto first = Clock::now() + period;
    auto due = first;
    while (lateness.size() < periods) {
      sleep_until(due);
      const auto now = Clock::now();
      lateness.push_back((now - due).count());
      // As LoopingCall: a late run skips the periods it missed.
      do due += period; while (due <= now);
    }
    result.periods = static_cast<std::uint64_t>((Clock::now() - first) / period) + 1;
  });
  t.join();
  result.runs = lateness.size();
  result.lateness = summarize(std::move(lateness));
  return result;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "salvo_timer_lateness: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--backend") {
      auto k = salvo::parse_backend_kind(value());
      if (!k) {
        std::fprintf(stderr, "salvo_timer_lateness: %s\n", k.error().message.c_str());
        std::exit(2);
      }
      o.backends.push_back(*k);
    } else if (a == "--cpu") {
      o.cpu = std::atoi(value().c_str());
    } else if (a == "--timers") {
      o.timers = static_cast<unsigned>(std::strtoul(value().c_str(), nullptr, 10));
    } else if (a == "--hz") {
      o.hz = static_cast<unsigned>(std::strtoul(value().c_str(), nullptr, 10));
    } else if (a == "--seconds") {
      o.seconds = std::strtod(value().c_str(), nullptr);
    } else if (a == "--json") {
      o.json = true;
    } else {
      std::fprintf(stderr, "usage: salvo_timer_lateness [--backend K]... [--cpu N] [--timers N] [--hz N] [--seconds S] [--json]\n");
      std::exit(2);
    }
  }
  if (o.timers == 0 || o.hz == 0 || o.hz > 1'000'000 || o.seconds <= 0 || o.seconds > 3600) {
    std::fprintf(stderr, "salvo_timer_lateness: --timers, --hz and --seconds must be positive (hz at most 1e6, seconds at most 3600)\n");
    std::exit(2);
  }
  if (o.backends.empty()) o.backends = {salvo::BackendKind::io_uring, salvo::BackendKind::epoll};
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.json) std::printf("{\"runs\": [\n");
  bool first = true;
  std::vector<std::string> names{"nanosleep"};
  for (const auto backend : o.backends) names.emplace_back(salvo::to_string(backend));
  for (std::size_t k = 0; k < names.size(); ++k) {
    const bool floor = k == 0;
    const Summary shot = floor ? floor_one_shot(o) : one_shot(o.backends[k - 1], o);
    const PeriodicResult tick = floor ? floor_periodic(o) : periodic(o.backends[k - 1], o);
    const std::string& name = names[k];
    if (o.json) {
      std::printf("%s  {\"backend\": \"%s\", \"one_shot\": {\"timers\": %zu, \"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f},"
                  " \"periodic\": {\"hz\": %u, \"runs\": %llu, \"periods\": %llu, \"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f}}",
                  first ? "" : ",\n", name.c_str(), shot.samples, shot.p50_us, shot.p99_us, shot.max_us, o.hz,
                  static_cast<unsigned long long>(tick.runs), static_cast<unsigned long long>(tick.periods),
                  tick.lateness.p50_us, tick.lateness.p99_us, tick.lateness.max_us);
    } else {
      std::printf("%-9s one-shot x%-6zu lateness p50 %7.1f us  p99 %7.1f us  max %8.1f us\n", name.c_str(), shot.samples,
                  shot.p50_us, shot.p99_us, shot.max_us);
      std::printf("%-9s %u Hz x%-9llu lateness p50 %7.1f us  p99 %7.1f us  max %8.1f us  (%llu periods passed)\n",
                  name.c_str(), o.hz, static_cast<unsigned long long>(tick.runs), tick.lateness.p50_us,
                  tick.lateness.p99_us, tick.lateness.max_us, static_cast<unsigned long long>(tick.periods));
    }
    first = false;
  }
  if (o.json) std::printf("\n]}\n");
  return 0;
}
