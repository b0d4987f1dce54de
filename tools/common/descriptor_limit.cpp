#include "common/descriptor_limit.hpp"

#include <dirent.h>
#include <sys/resource.h>

#include <cstdio>

namespace salvo::cli {

void raise_descriptor_limit() noexcept {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  (void)::setrlimit(RLIMIT_NOFILE, &limit);
}

std::optional<std::uint64_t> descriptor_limit() noexcept {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
  return static_cast<std::uint64_t>(limit.rlim_cur);
}

std::optional<std::uint64_t> open_descriptor_count() noexcept {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  std::uint64_t count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count == 0 ? 0 : count - 1;  // not the descriptor that read the directory
}

bool out_of_descriptors(const Error& e) noexcept {
  return e.code == std::errc::too_many_files_open || e.code == std::errc::too_many_files_open_in_system;
}

int start_failed(const Error& e) {
  std::fprintf(stderr, "salvo: %s\n", e.message.c_str());
  return out_of_descriptors(e) ? 2 : 1;
}

}  // namespace salvo::cli
