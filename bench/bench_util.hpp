// Small helpers shared by the benchmark programs: CPU pinning, medians, the machine's description
// and JSON string escaping. Header-only; nothing here is on a measured path.
#pragma once

#include <sched.h>
#include <sys/utsname.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace salvo::bench {

// The calling thread onto `cpu`; false (errno set) when the kernel refused.
inline bool pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// "Linux 6.18.44, 2 CPUs, AMD EPYC ...": what a reader needs to judge the absolute figures.
inline std::string machine() {
  utsname u{};
  uname(&u);
  std::string cpu = "unknown CPU";
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  return std::string("Linux ") + u.release + ", " + std::to_string(std::thread::hardware_concurrency()) + " CPUs, " + cpu;
}

// Quotes and escapes `s` for a JSON string (the names and the machine text are plain ASCII, but
// a CPU model could hold a quote or a backslash).
inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"";
}

}  // namespace salvo::bench
