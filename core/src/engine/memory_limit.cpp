#include "engine/memory_limit.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace salvo::detail {

namespace {

std::string first_line(const std::string& path) {
  std::ifstream file(path);
  std::string line;
  std::getline(file, line);
  return line;
}

// The cgroup of this process in the hierarchy `controller` names ("" for v2's unified one), from
// /proc/self/cgroup: "0::/path" (v2) or "4:memory:/path" (v1).
std::string own_cgroup(const std::string& controller) {
  std::ifstream file("/proc/self/cgroup");
  for (std::string line; std::getline(file, line);) {
    const std::size_t first = line.find(':');
    const std::size_t second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    if (line.substr(first + 1, second - first - 1) == controller) return line.substr(second + 1);
  }
  return {};
}

}  // namespace

std::uint64_t parse_cgroup_limit(const std::string& text) noexcept {
  if (text.empty() || text == "max") return 0;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (end == text.c_str() || (*end != '\0' && *end != '\n')) return 0;
  // cgroup v1 says "no limit" with PAGE_COUNTER_MAX pages: about 2^63.
  if (value >= (std::uint64_t{1} << 62)) return 0;
  return value;
}

MemoryLimit usable_memory() noexcept {
  MemoryLimit limit;
  try {
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page = ::sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) {
      limit.bytes = static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
      limit.source = "physical memory";
    }
    // A hybrid system lists a v2 cgroup ("0::/") whose hierarchy has no memory controller (no
    // memory.max), beside the v1 memory one that holds the limit: the first that reads wins.
    const std::string v2 = own_cgroup("");
    const std::string v1 = own_cgroup("memory");
    std::string text = v2.empty() ? "" : first_line("/sys/fs/cgroup" + v2 + "/memory.max");
    std::string group = v2;
    if (text.empty() && !v1.empty()) {
      text = first_line("/sys/fs/cgroup/memory" + v1 + "/memory.limit_in_bytes");
      group = v1;
    }
    const std::uint64_t cgroup = parse_cgroup_limit(text);
    if (cgroup != 0 && (limit.bytes == 0 || cgroup < limit.bytes)) {
      limit.bytes = cgroup;
      limit.source = "memory cgroup " + group;
    }
    rlimit space{};
    if (::getrlimit(RLIMIT_AS, &space) == 0 && space.rlim_cur != RLIM_INFINITY &&
        (limit.bytes == 0 || space.rlim_cur < limit.bytes)) {
      limit.bytes = space.rlim_cur;
      limit.source = "RLIMIT_AS";
    }
  } catch (...) {
    // Reading /proc and /sys allocates; without memory for that, the physical figure stands.
  }
  return limit;
}

}  // namespace salvo::detail
