// What a benchmark reads about its own process: resident memory, the memory the machine still has,
// another thread's CPU time and the descriptor limit. Header-only; none of it is on a measured
// path, each call is a system call or a small /proc read.
#pragma once

#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace salvo::bench {

// Resident set size of this process in bytes (/proc/self/statm's second field): every page of
// user space that is in memory. The kernel's own memory for sockets is not in it.
inline std::uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0;
  unsigned long long resident = 0;
  const int read = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (read != 2) return 0;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

// MemAvailable from /proc/meminfo in bytes: what the kernel estimates can still be allocated
// without swapping. 0 when it cannot be read.
inline std::uint64_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    unsigned long long kib = 0;
    if (std::sscanf(line.c_str(), "MemAvailable: %llu kB", &kib) == 1) return kib * 1024;
  }
  return 0;
}

// CPU time (user + system) another thread of this process has used, in nanoseconds, through the
// clock pthread_getcpuclockid gives for it. -1 when the thread's clock cannot be read.
inline std::int64_t thread_cpu_ns(pthread_t thread) {
  clockid_t clock{};
  if (::pthread_getcpuclockid(thread, &clock) != 0) return -1;
  timespec ts{};
  if (::clock_gettime(clock, &ts) != 0) return -1;
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

inline std::int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// The soft RLIMIT_NOFILE: how many descriptors this process may have open.
inline std::uint64_t descriptor_limit() {
  rlimit now{};
  if (::getrlimit(RLIMIT_NOFILE, &now) != 0) return 0;
  return now.rlim_cur == RLIM_INFINITY ? ~std::uint64_t{0} : now.rlim_cur;
}

// Raises RLIMIT_NOFILE so that `descriptors` files can be open: the soft limit to at least that,
// and the hard limit too when it is lower, which needs CAP_SYS_RESOURCE (root in a container may
// lack it) and fs.nr_open at least as high. When that fails the soft limit still goes up to the
// hard one, so that whatever fits can run. Returns an empty string on success, otherwise why it
// failed, for people.
inline std::string raise_descriptor_limit(std::uint64_t descriptors) {
  rlimit now{};
  if (::getrlimit(RLIMIT_NOFILE, &now) != 0) return std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno);
  if (now.rlim_cur == RLIM_INFINITY || now.rlim_cur >= descriptors) return {};
  rlimit want = now;
  want.rlim_cur = descriptors;
  if (now.rlim_max != RLIM_INFINITY && now.rlim_max < descriptors) want.rlim_max = descriptors;
  if (::setrlimit(RLIMIT_NOFILE, &want) == 0) return {};
  const int error = errno;
  rlimit fallback = now;
  fallback.rlim_cur = now.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &fallback);
  return "cannot raise RLIMIT_NOFILE to " + std::to_string(descriptors) + " (soft " + std::to_string(now.rlim_cur) +
         ", hard " + std::to_string(now.rlim_max) + "): " + std::strerror(error) +
         "; raising the hard limit needs CAP_SYS_RESOURCE and fs.nr_open at least as high";
}

}  // namespace salvo::bench
