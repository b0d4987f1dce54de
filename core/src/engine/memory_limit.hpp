// How much memory this process may use: the machine's physical memory, or less when the process
// sits in a memory cgroup with a limit (cgroup v2 memory.max, v1 memory.limit_in_bytes) or has an
// address-space limit (RLIMIT_AS, where a mapping beyond it fails with ENOMEM). The engine
// checks its receive buffers against it at create(), since they are touched at once and a request
// beyond it would end in the OOM killer instead of an error.
#pragma once

#include <cstdint>
#include <string>

namespace salvo::detail {

struct MemoryLimit {
  std::uint64_t bytes = 0;  // 0: unknown
  std::string source;       // "physical memory", "memory cgroup <path>" or "RLIMIT_AS"
};

MemoryLimit usable_memory() noexcept;

// The cgroup limit in the text of a memory.max or memory.limit_in_bytes file: its bytes, or 0 for
// "max", a value no machine has (v1 writes 2^63 rounded to a page), or anything unreadable.
std::uint64_t parse_cgroup_limit(const std::string& text) noexcept;

}  // namespace salvo::detail
