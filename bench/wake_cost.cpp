// salvo_wake_cost: what one wake-up costs the thread that is woken, by what wakes it. The latency
// budget (EngineOptions::latency_budget) trades a wake-up per datagram for one per held batch, and
// a held wait ends by a timer; whether that pays depends on what a timer's wake-up costs against
// the wake-up another CPU's datagram causes. Without salvo and without a datagram, one thread
// pinned to --cpu sleeps --count times, woken
//   timer        by its own timer: clock_nanosleep(--period), timer slack 1 ns;
//   ring-timer   by an io_uring wait's timeout (--period, nothing to complete): how a held wait ends;
//   other-cpu    by another thread, pinned to --waker-cpu, writing an eventfd every --period while
//                this one blocks reading it (an inter-processor interrupt): how a datagram from
//                a peer on the other CPU wakes a sleeping worker.
// For each: the woken thread's CPU time per wake-up (getrusage RUSAGE_THREAD) and the wall time
// per wake-up (the period plus how late the wake-up came). Kinds alternate in --rounds rounds; the
// median per kind is printed.
//
// Usage: salvo_wake_cost [--count 20000] [--period-us 50] [--rounds 5] [--cpu 0] [--waker-cpu 1]
#include <liburing.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"

namespace {

using salvo::bench::median;
using salvo::bench::pin;

using Clock = std::chrono::steady_clock;

enum class Kind { timer, ring_timer, other_cpu };
constexpr std::array<Kind, 3> kinds{Kind::timer, Kind::ring_timer, Kind::other_cpu};

const char* name(Kind k) {
  switch (k) {
    case Kind::timer: return "timer";
    case Kind::ring_timer: return "ring-timer";
    case Kind::other_cpu: return "other-cpu";
  }
  return "?";
}

struct Options {
  unsigned count = 20'000;
  unsigned period_us = 50;
  unsigned rounds = 5;
  int cpu = 0;
  int waker_cpu = 1;
};

struct Sample {
  double cpu_us = 0;   // the woken thread's CPU per wake-up
  double wall_us = 0;  // wall time per wake-up
};

double thread_cpu_us() {
  rusage r{};
  ::getrusage(RUSAGE_THREAD, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

// Sleeps `count` times the way `kind` says; false (with a message) when the kind cannot run here.
bool sleep_by(Kind kind, const Options& o, Sample& out) {
  const long period_ns = static_cast<long>(o.period_us) * 1000;
  double cpu = 0;
  const auto start = Clock::now();
  if (kind == Kind::timer) {
    const timespec ts{0, period_ns};
    const double before = thread_cpu_us();
    for (unsigned i = 0; i < o.count; ++i) ::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
    cpu = thread_cpu_us() - before;
  } else if (kind == Kind::ring_timer) {
    io_uring ring;
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (int ret = io_uring_queue_init_params(8, &ring, &params); ret < 0) {
      std::fprintf(stderr, "ring-timer: io_uring_setup: %s\n", std::strerror(-ret));
      return false;
    }
    __kernel_timespec ts{0, period_ns};
    const double before = thread_cpu_us();
    for (unsigned i = 0; i < o.count; ++i) {
      io_uring_cqe* cqe = nullptr;
      io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
    }
    cpu = thread_cpu_us() - before;
    io_uring_queue_exit(&ring);
  } else {
    const int efd = ::eventfd(0, EFD_CLOEXEC);
    if (efd < 0) {
      std::perror("other-cpu: eventfd");
      return false;
    }
    // The waker spins to each due time rather than sleeping: its own wake-ups would otherwise
    // delay the writes, and its CPU is not what is measured.
    std::thread waker([&] {
      pin(o.waker_cpu);
      auto due = Clock::now();
      for (unsigned i = 0; i < o.count; ++i) {
        due += std::chrono::nanoseconds(period_ns);
        while (Clock::now() < due) {
        }
        const std::uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(efd, &one, sizeof one);
      }
    });
    const double before = thread_cpu_us();
    std::uint64_t woken = 0;
    while (woken < o.count) {
      std::uint64_t value = 0;
      if (::read(efd, &value, sizeof value) == sizeof value) woken += value;
    }
    cpu = thread_cpu_us() - before;
    waker.join();
    ::close(efd);
  }
  out.cpu_us = cpu / o.count;
  out.wall_us = std::chrono::duration<double, std::micro>(Clock::now() - start).count() / o.count;
  return true;
}

unsigned parse_unsigned(const char* flag, const char* text) {
  char* end = nullptr;
  const unsigned long value = std::strtoul(text, &end, 10);
  if (end == text || *end != '\0' || value == 0 || value > 100'000'000) {
    std::fprintf(stderr, "%s: expected a positive whole number, got '%s'\n", flag, text);
    std::exit(2);
  }
  return static_cast<unsigned>(value);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "usage: %s [--count N] [--period-us US] [--rounds N] [--cpu N] [--waker-cpu N]\n", argv[0]);
      return 2;
    }
    const char* value = argv[++i];
    if (flag == "--count") {
      o.count = parse_unsigned("--count", value);
    } else if (flag == "--period-us") {
      o.period_us = std::min(parse_unsigned("--period-us", value), 999'999u);
    } else if (flag == "--rounds") {
      o.rounds = parse_unsigned("--rounds", value);
    } else if (flag == "--cpu") {
      o.cpu = std::atoi(value);
    } else if (flag == "--waker-cpu") {
      o.waker_cpu = std::atoi(value);
    } else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  if (!pin(o.cpu)) {
    std::fprintf(stderr, "cannot pin to CPU %d: %s\n", o.cpu, std::strerror(errno));
    return 1;
  }
  // Timer slack (50 us by default) would stretch each sleep, not its cost: asked away.
  ::prctl(PR_SET_TIMERSLACK, 1UL);
  std::array<std::vector<double>, kinds.size()> cpu, wall;
  for (unsigned round = 0; round < o.rounds; ++round) {
    for (std::size_t k = 0; k < kinds.size(); ++k) {
      const std::size_t at = (k + round) % kinds.size();  // a different kind goes first each round
      Sample s;
      if (!sleep_by(kinds[at], o, s)) return 1;
      cpu[at].push_back(s.cpu_us);
      wall[at].push_back(s.wall_us);
    }
  }
  std::printf("%u wake-ups per kind, period %u us, %u rounds, woken thread on CPU %d (median):\n", o.count, o.period_us,
              o.rounds, o.cpu);
  std::printf("%-12s %14s %16s %12s\n", "woken by", "CPU us/wake", "wall us/wake", "x other-cpu");
  const double reference = median(cpu[2]);
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    const double c = median(cpu[k]);
    std::printf("%-12s %14.2f %16.1f %11.2fx\n", name(kinds[k]), c, median(wall[k]), reference > 0 ? c / reference : 0.0);
  }
  return 0;
}
